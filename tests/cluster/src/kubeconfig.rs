//! Kubeconfig files: the admin one handed to tests and components, and per-Pod ones holding a
//! service-account token.

use std::path::Path;

use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

use crate::error::{Error, Result};

/// How a kubeconfig user authenticates.
pub(crate) enum Credentials<'a> {
    ClientCert { cert_pem: &'a str, key_pem: &'a str },
    Token(&'a str),
}

/// Writes a single-context kubeconfig with mode 0600 (it holds a credential).
pub(crate) fn write(
    path: &Path,
    server: &str,
    ca_pem: &str,
    user_name: &str,
    credentials: Credentials<'_>,
    namespace: Option<&str>,
) -> Result<()> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let user = match credentials {
        Credentials::ClientCert { cert_pem, key_pem } => json!({
            "client-certificate-data": b64(cert_pem),
            "client-key-data": b64(key_pem),
        }),
        Credentials::Token(token) => json!({ "token": token }),
    };
    let mut context = json!({ "cluster": "ibench-testcluster", "user": user_name });
    if let Some(ns) = namespace {
        context["namespace"] = json!(ns);
    }
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "ibench-testcluster", "cluster": {
            "server": server,
            "certificate-authority-data": b64(ca_pem),
        }}],
        "users": [{ "name": user_name, "user": user }],
        "contexts": [{ "name": "ibench-testcluster", "context": context }],
        "current-context": "ibench-testcluster",
    });
    let yaml = serde_yaml::to_string(&doc)?;
    write_private(path, &yaml)
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(Error::io(format!("writing {}", tmp.display())))?;
    file.write_all(contents.as_bytes())
        .map_err(Error::io(format!("writing {}", tmp.display())))?;
    // Readers (a Pod process, a test) never see a half-written file.
    std::fs::rename(&tmp, path).map_err(Error::io(format!("renaming {}", tmp.display())))
}

/// Loads a kubeconfig written by [`write`] into a client configuration.
pub(crate) async fn load(path: &Path) -> Result<kube::Config> {
    let kubeconfig = Kubeconfig::read_from(path)?;
    Ok(kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?)
}
