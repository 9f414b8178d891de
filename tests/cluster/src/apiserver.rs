//! kube-apiserver flags: loopback only, RBAC, real service-account tokens, default admission.

use std::path::Path;
use std::process::Command;

use crate::binaries::Binaries;
use crate::pki::Pki;

pub(crate) fn command(
    binaries: &Binaries,
    pki: &Pki,
    cert_dir: &Path,
    port: u16,
    etcd_url: &str,
) -> Command {
    let mut c = Command::new(binaries.kube_apiserver());
    c.arg(format!("--etcd-servers={etcd_url}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--advertise-address=127.0.0.1")
        .arg(format!("--secure-port={port}"))
        .arg(format!("--cert-dir={}", cert_dir.display()))
        .arg(format!("--tls-cert-file={}", pki.serving_cert.display()))
        .arg(format!(
            "--tls-private-key-file={}",
            pki.serving_key.display()
        ))
        .arg(format!("--client-ca-file={}", pki.ca_cert.display()))
        .arg("--authorization-mode=RBAC")
        .arg(format!("--service-account-issuer=https://127.0.0.1:{port}"))
        .arg(format!(
            "--service-account-key-file={}",
            pki.sa_public_key.display()
        ))
        .arg(format!(
            "--service-account-signing-key-file={}",
            pki.sa_signing_key.display()
        ))
        // Only an allocator range for Service objects; nothing routes to it and nothing here
        // ever connects to it.
        .arg("--service-cluster-ip-range=10.0.0.0/24")
        .arg("--allow-privileged=true")
        // Would taint the process kubelet's Node NotReady, and only the node-lifecycle
        // controller (which needs heartbeats) removes that taint.
        .arg("--disable-admission-plugins=TaintNodesByCondition")
        // No kubernetes Service endpoints pointing at 127.0.0.1 in the default namespace.
        .arg("--endpoint-reconciler-type=none")
        // The process kubelet serves container logs on 127.0.0.1; its Node's Hostname address
        // does not resolve.
        .arg("--kubelet-preferred-address-types=InternalIP")
        .arg(format!(
            "--kubelet-certificate-authority={}",
            pki.ca_cert.display()
        ))
        .arg("--profiling=false")
        .arg("--event-ttl=10m");
    c
}
