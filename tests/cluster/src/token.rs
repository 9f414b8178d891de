//! Service-account tokens issued through the TokenRequest API, exactly as the real kubelet gets
//! them, so a process authenticates as its Pod's service account and RBAC applies.

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::PostParams;
use kube::{Api, Client};

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// What a token is bound to; the apiserver invalidates it when that object is deleted.
pub(crate) struct BoundPod<'a> {
    pub name: &'a str,
    pub uid: &'a str,
}

/// Issues a token for `namespace/service_account` with the apiserver's default audience.
pub(crate) async fn request(
    client: &Client,
    namespace: &str,
    service_account: &str,
    expiration_seconds: i64,
    pod: Option<BoundPod<'_>>,
) -> Result<String> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    // Built as JSON: the typed TokenRequest changes shape between k8s-openapi releases.
    let mut spec = json!({
        // No audiences = the apiserver's own (--api-audiences, defaulting to the issuer).
        "audiences": [],
        "expirationSeconds": expiration_seconds,
    });
    if let Some(p) = pod {
        spec["boundObjectRef"] =
            json!({ "apiVersion": "v1", "kind": "Pod", "name": p.name, "uid": p.uid });
    }
    let request =
        json!({ "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec });
    let issued: Value = api
        .create_subresource("token", service_account, &PostParams::default(), &request)
        .await?;
    match issued.pointer("/status/token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() => Ok(token.to_string()),
        _ => Err(Error::Serde(format!(
            "TokenRequest for {namespace}/{service_account} returned no token"
        ))),
    }
}
