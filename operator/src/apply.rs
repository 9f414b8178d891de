//! Executes a plan against the API: server-side apply with one field manager (forced: the
//! operator owns what it declares), status through the status subresource, deletions that
//! never orphan pods.

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::crd::{API_VERSION, InferenceBenchmark, InferenceBenchmarkStatus, KIND};
use crate::desired::Child;
use crate::naming::{self, Component};
use crate::plan::Deletion;

pub const FIELD_MANAGER: &str = "ibench-operator";

/// Objects applied at once (a run with 1000 runners has 1000 result ConfigMaps).
const APPLY_CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("applying {kind} {name}: {source}")]
    Apply {
        kind: &'static str,
        name: String,
        source: kube::Error,
    },
    #[error("deleting {what}: {source}")]
    Delete { what: String, source: kube::Error },
    #[error("writing the status: {0}")]
    Status(#[source] kube::Error),
}

impl ApplyError {
    /// A precondition (resource version) failed: the caches are behind; look again soon.
    pub fn is_conflict(&self) -> bool {
        match self {
            ApplyError::Apply {
                source: kube::Error::Api(status),
                ..
            }
            | ApplyError::Status(kube::Error::Api(status)) => status.code == 409,
            _ => false,
        }
    }
}

fn params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Applies `children` step by step ([`Child::apply_step`]), each step's objects at once.
pub async fn apply_all(
    client: &Client,
    namespace: &str,
    children: &[Child],
) -> Result<(), ApplyError> {
    let mut steps: Vec<&Child> = children.iter().collect();
    steps.sort_by_key(|c| c.apply_step());
    for step in steps.chunk_by(|a, b| a.apply_step() == b.apply_step()) {
        let mut pending = FuturesUnordered::new();
        for child in step {
            pending.push(apply_one(client, namespace, child));
            if pending.len() >= APPLY_CONCURRENCY {
                pending.next().await.expect("futures are pending")?;
            }
        }
        while let Some(result) = pending.next().await {
            result?;
        }
    }
    Ok(())
}

async fn apply_one(client: &Client, namespace: &str, child: &Child) -> Result<(), ApplyError> {
    let result = match child {
        Child::ServiceAccount(o) => patch::<ServiceAccount>(client, namespace, o).await,
        Child::Role(o) => patch::<Role>(client, namespace, o).await,
        Child::RoleBinding(o) => patch::<RoleBinding>(client, namespace, o).await,
        Child::ConfigMap(o) => patch::<ConfigMap>(client, namespace, o).await,
        Child::Job(o) => patch::<Job>(client, namespace, o).await,
    };
    result.map_err(|source| ApplyError::Apply {
        kind: child.kind(),
        name: child.name().to_string(),
        source,
    })
}

async fn patch<K>(client: &Client, namespace: &str, object: &K) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    Api::<K>::namespaced(client.clone(), namespace)
        .patch(&name, &params(), &Patch::Apply(object))
        .await
        .map(drop)
}

/// Replaces the status with `status` (fields the operator no longer sets are removed).
pub async fn write_status(
    client: &Client,
    namespace: &str,
    name: &str,
    status: &InferenceBenchmarkStatus,
) -> Result<(), ApplyError> {
    let body = json!({"apiVersion": API_VERSION, "kind": KIND, "status": status});
    Api::<InferenceBenchmark>::namespaced(client.clone(), namespace)
        .patch_status(name, &params(), &Patch::Apply(&body))
        .await
        .map(drop)
        .map_err(ApplyError::Status)
}

/// Deletes what `deletions` name; already gone is fine.
pub async fn delete_all(
    client: &Client,
    namespace: &str,
    uid: &str,
    deletions: &[Deletion],
) -> Result<(), ApplyError> {
    for deletion in deletions {
        match deletion {
            Deletion::Job(name) => delete::<Job>(client, namespace, name).await?,
            Deletion::Rbac(name) => {
                delete::<RoleBinding>(client, namespace, name).await?;
                delete::<Role>(client, namespace, name).await?;
                delete::<ServiceAccount>(client, namespace, name).await?;
            }
            Deletion::RunConfigMaps { generation } => {
                let selector = format!(
                    "{}={uid},{}={generation},{} in ({},{})",
                    naming::LABEL_BENCHMARK_UID,
                    naming::LABEL_GENERATION,
                    naming::LABEL_COMPONENT,
                    Component::RunConfig.as_str(),
                    Component::RunnerResults.as_str(),
                );
                Api::<ConfigMap>::namespaced(client.clone(), namespace)
                    .delete_collection(
                        &DeleteParams::background(),
                        &ListParams::default().labels(&selector),
                    )
                    .await
                    .map_err(|source| ApplyError::Delete {
                        what: format!("ConfigMaps {selector}"),
                        source,
                    })?;
            }
        }
    }
    Ok(())
}

async fn delete<K>(client: &Client, namespace: &str, name: &str) -> Result<(), ApplyError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    match Api::<K>::namespaced(client.clone(), namespace)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(ApplyError::Delete {
            what: format!("{} {name}", K::kind(&())),
            source,
        }),
    }
}
