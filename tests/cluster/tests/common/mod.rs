//! Helpers shared by this crate's integration tests.
#![allow(dead_code)]

use std::time::Duration;

use ibench_testcluster::ControlPlane;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, PostParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Image name the tests map to the `index-writer` binary of this crate.
pub const INDEX_WRITER_IMAGE: &str = "ghcr.io/inference-bench/index-writer";
/// Image whose Pods run host commands (sh, sleep).
pub const HOST_IMAGE: &str = "ibench.test/host";

pub async fn cluster() -> &'static ControlPlane {
    ibench_testcluster::init_test_logging();
    let cp = ibench_testcluster::shared().await;
    cp.map_image(INDEX_WRITER_IMAGE, env!("CARGO_BIN_EXE_index-writer"));
    cp.map_host_image(HOST_IMAGE);
    cp
}

/// Creates a namespaced object from JSON.
pub async fn create<K>(cp: &ControlPlane, ns: &str, object: Value) -> K
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let object: K = serde_json::from_value(object).expect("a valid object");
    let api: Api<K> = Api::namespaced(cp.client(), ns);
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("creating {}: {e}", K::kind(&Default::default())))
}

pub fn job_condition(job: &Job, kind: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
}

pub async fn job_pods(cp: &ControlPlane, ns: &str, job: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(cp.client(), ns);
    api.list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .expect("listing job pods")
        .items
}

pub fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Unwraps a wait result, printing the harness diagnostics on failure.
pub fn ok<T>(result: ibench_testcluster::Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

pub const JOB_TIMEOUT: Duration = Duration::from_secs(90);
