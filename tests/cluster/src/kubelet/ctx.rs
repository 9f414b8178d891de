//! What every part of the kubelet shares: its node's address, its configuration, the processes
//! it runs, and how it finishes a Pod's deletion.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Preconditions};
use kube::{Api, Client, ResourceExt};

use crate::images::ImageTable;
use crate::process::Process;

/// The only address anything here uses.
pub(crate) const NODE_IP: &str = "127.0.0.1";

/// Everything the kubelet needs to know about its control plane.
#[derive(Clone)]
pub(crate) struct KubeletConfig {
    pub node_name: String,
    pub api_port: u16,
    pub server_url: String,
    pub ca_pem: String,
    pub pods_dir: PathBuf,
    pub images: Arc<ImageTable>,
    pub client_config: kube::Config,
    /// Serving certificate and key (DER) of the container-log endpoint.
    pub serving_cert_der: Vec<u8>,
    pub serving_key_der: Vec<u8>,
}

/// Processes of all running containers, reachable without an async runtime so that teardown
/// (Drop, atexit) can kill them synchronously.
#[derive(Default)]
pub(crate) struct ProcessRegistry {
    processes: Mutex<HashMap<String, Process>>,
}

impl ProcessRegistry {
    pub(super) fn insert(&self, key: String, process: Process) {
        self.processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, process);
    }
    pub(super) fn remove(&self, key: &str) {
        self.processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
    pub(crate) fn kill_all_blocking(&self) {
        let processes: Vec<Process> = self
            .processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, p)| p)
            .collect();
        for process in &processes {
            process.signal(nix::sys::signal::Signal::SIGKILL);
        }
        for process in &processes {
            process.kill_blocking(Duration::from_secs(2));
        }
    }
}

/// What every part of the kubelet works with.
pub(crate) struct Ctx {
    pub(super) cfg: KubeletConfig,
    pub(super) client: Client,
    pub(super) processes: Arc<ProcessRegistry>,
}

/// Finishes a deletion the way the kubelet does once its containers are gone.
pub(crate) async fn force_delete(client: Client, pod: Pod) {
    let (ns, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
    let api: Api<Pod> = Api::namespaced(client, &ns);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        // Never delete a newer Pod that reuses the name.
        preconditions: Some(Preconditions {
            uid: pod.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if matches!(s.code, 404 | 409) => {}
        Err(e) => tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "force delete failed"),
    }
}
