//! kube-controller-manager with the controllers our tests rely on.

use std::path::Path;
use std::process::Command;

use crate::binaries::Binaries;

/// Controllers started by default. Deliberately absent: node-lifecycle and taint-eviction
/// (they would mark the process kubelet's Node NotReady without heartbeats), volume attach,
/// detach and expansion, services and certificates. The persistent-volume binder binds claims
/// to matching PersistentVolumes for the process kubelet's `persistentVolumeClaim` volumes; the
/// two protection controllers remove the finalizers the StorageObjectInUseProtection admission
/// plugin puts on claims and volumes, so that their deletion (and their namespace's) completes.
pub const DEFAULT_CONTROLLERS: &[&str] = &[
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "pod-garbage-collector-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "persistentvolume-binder-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
];

pub(crate) fn command(
    binaries: &Binaries,
    kubeconfig: &Path,
    ca_cert: &Path,
    controllers: &[String],
) -> Command {
    let mut c = Command::new(binaries.kube_controller_manager());
    c.arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg("--bind-address=127.0.0.1")
        .arg("--secure-port=0")
        .arg("--leader-elect=false")
        .arg(format!("--controllers={}", controllers.join(",")))
        .arg(format!("--root-ca-file={}", ca_cert.display()))
        // Tests create bursts of objects; the defaults (20 qps) would make Jobs crawl.
        .arg("--kube-api-qps=200")
        .arg("--kube-api-burst=400")
        .arg("--concurrent-job-syncs=10");
    c
}
