//! The Node object the process kubelet stands for.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use super::ctx::NODE_IP;
use super::status::now;
use crate::error::Result;

/// Advertised capacity: large, so that nothing is ever unschedulable for resource reasons (the
/// kubelet enforces no limits anyway).
const CAPACITY: [(&str, &str); 4] = [
    ("cpu", "64"),
    ("memory", "256Gi"),
    ("pods", "1000"),
    ("ephemeral-storage", "1Ti"),
];

/// Kubernetes names architectures the Go way.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub(crate) fn capacity(resource: &str) -> Option<&'static str> {
    CAPACITY
        .iter()
        .find(|(name, _)| *name == resource)
        .map(|(_, v)| *v)
}

/// Creates (or adopts) the Node and reports it Ready. Without the node-lifecycle controller
/// nobody expects heartbeats, so one status write is enough.
pub(crate) async fn register(client: &Client, name: &str, kubelet_port: u16) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": go_arch(),
                "ibench.dev/process-kubelet": "true",
            },
        },
    }))?;
    match api.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let capacity: serde_json::Map<String, serde_json::Value> = CAPACITY
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let t = now();
    let condition = |kind: &str, status: &str, reason: &str| json!({ "type": kind, "status": status, "reason": reason, "lastHeartbeatTime": t, "lastTransitionTime": t });
    let status = json!({ "status": {
        "capacity": capacity,
        "allocatable": capacity,
        // Where the apiserver fetches container logs (pods/log).
        "daemonEndpoints": { "kubeletEndpoint": { "Port": kubelet_port } },
        "addresses": [{ "type": "InternalIP", "address": NODE_IP }, { "type": "Hostname", "address": name }],
        "conditions": [
            condition("Ready", "True", "KubeletReady"),
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID"),
        ],
        "nodeInfo": {
            "machineID": "", "systemUUID": "", "bootID": "",
            "kernelVersion": "", "osImage": "ibench-testcluster process kubelet",
            "containerRuntimeVersion": "ibench-testcluster://0", "kubeletVersion": "v1.37.2",
            "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": go_arch(),
        },
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    Ok(())
}
