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

/// The node's address: the API server's, the kubelet's and host-network Pods'.
pub(crate) const NODE_IP: &str = "127.0.0.1";

/// A Pod's own address, on loopback like everything here: derived from its UID, in
/// 127.64.0.0/10 (clear of 127.0.0.0/16, where the node and the tests' servers live), so that
/// several Pods can listen on the same port as they would on a real network (`--host
/// $(POD_IP)`). Host-network Pods share the node's.
pub(crate) fn pod_ip(pod: &Pod) -> String {
    if pod.spec.as_ref().and_then(|s| s.host_network) == Some(true) {
        return NODE_IP.to_string();
    }
    // FNV-1a: stable across processes and Rust versions, unlike the std hasher.
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    let hash = uid.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let [a, b, c, ..] = hash.to_le_bytes();
    // Never .0 nor .255 in the last byte: some tools read those as network or broadcast.
    format!("127.{}.{b}.{}", 64 + a % 192, 1 + c % 254)
}

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
