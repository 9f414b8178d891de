//! The report files of finished runs to their buckets: the one place the operator talks to
//! object storage, and reads a Secret (the buckets' credentials, used here and never copied).

use bytes::Bytes;
use ibench_storage::{Credentials, ReportBuckets, UploadError};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use crate::plan::ReportUpload;

#[derive(Debug, thiserror::Error)]
pub enum ReportUploadError {
    #[error("spec.storageSecretRef: cannot read Secret {name}: {source}")]
    Secret {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("{0}")]
    Upload(#[from] UploadError),
}

pub async fn upload(
    client: &Client,
    namespace: &str,
    upload: &ReportUpload,
) -> Result<(), ReportUploadError> {
    let credentials = match &upload.secret {
        Some(name) => Some(secret_variables(client, namespace, name).await?),
        None => None,
    };
    let buckets = ReportBuckets::with_credentials(&upload.storage, credentials.as_ref())?;
    for (name, contents) in &upload.files {
        buckets
            .upload_bytes(name, Bytes::from(contents.clone()))
            .await?;
    }
    tracing::info!(files = upload.files.len(), to = ?buckets.urls(""), "report uploaded");
    Ok(())
}

/// A Secret's keys as environment variables, as `envFrom` gives them to the runners.
async fn secret_variables(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Credentials, ReportUploadError> {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .map_err(|source| ReportUploadError::Secret {
            name: name.to_string(),
            source,
        })?;
    let mut variables: Credentials = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    variables.extend(secret.string_data.unwrap_or_default());
    Ok(variables)
}
