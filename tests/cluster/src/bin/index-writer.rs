//! Test workload for Indexed Jobs: records its completion index in a ConfigMap through the API,
//! authenticating with whatever the environment provides (the process kubelet hands it a
//! kubeconfig holding its Pod's service-account token).
//!
//! Usage: index-writer <configmap> (or CONFIGMAP=<name>); needs JOB_COMPLETION_INDEX.
//! Exit codes: 0 written, 3 forbidden by RBAC (HTTP 403), 2 other API error, 4 bad usage.

use std::process::ExitCode;

use anyhow::Context;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("index-writer: error: {e:#}");
            match e.downcast_ref::<kube::Error>() {
                Some(kube::Error::Api(status)) => {
                    eprintln!(
                        "index-writer: API status: {}",
                        serde_json::to_string(status).unwrap_or_default()
                    );
                    if status.code == 403 {
                        ExitCode::from(3)
                    } else {
                        ExitCode::from(2)
                    }
                }
                Some(_) => ExitCode::from(2),
                None => ExitCode::from(4),
            }
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let name = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("CONFIGMAP").ok())
        .context("usage: index-writer <configmap> (or set CONFIGMAP)")?;
    let index: u32 = std::env::var("JOB_COMPLETION_INDEX")
        .context("JOB_COMPLETION_INDEX is not set")?
        .parse()
        .context("JOB_COMPLETION_INDEX is not a number")?;
    let client = Client::try_default()
        .await
        .map_err(anyhow::Error::from)
        .context("building a client")?;
    let namespace =
        std::env::var("POD_NAMESPACE").unwrap_or_else(|_| client.default_namespace().to_string());
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let key = format!("index-{index}");
    let pod = std::env::var("POD_NAME").unwrap_or_default();
    // One field manager per index: concurrent writers own disjoint keys, so no conflicts.
    let patch = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name },
        "data": { key.clone(): pod },
    });
    api.patch(
        &name,
        &PatchParams::apply(&format!("index-writer-{index}")),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(anyhow::Error::from)?;
    println!("index-writer: wrote {key} to configmap {namespace}/{name}");
    Ok(())
}
