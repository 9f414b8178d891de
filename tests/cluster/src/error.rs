use std::time::Duration;

/// Everything that can go wrong while starting, using or stopping a test control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("control-plane binaries unavailable: {0}")]
    Binaries(String),

    #[error("I/O error while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("certificate generation failed: {0}")]
    Pki(#[from] rcgen::Error),

    #[error(
        "{component} exited before the control plane was ready ({status}); last log lines:\n{log_tail}"
    )]
    ComponentExited {
        component: String,
        status: String,
        log_tail: String,
    },

    #[error("timed out after {after:?} waiting for {what}{details}")]
    Timeout {
        what: String,
        after: Duration,
        /// Already formatted diagnostics, starting with a newline when present.
        details: String,
    },

    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),

    #[error("kubeconfig error: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),

    #[error("process kubelet: {0}")]
    Kubelet(String),

    #[error("serialisation error: {0}")]
    Serde(String),

    #[error("the shared control plane failed to start earlier in this test binary: {0}")]
    SharedStartFailed(String),

    #[error("object-storage server binaries unavailable: {0}")]
    ServerBinaries(String),

    #[error("object_store client for a test server: {0}")]
    StoreClient(String),

    #[error("{server} exited before it was ready ({status}); last log lines:\n{log_tail}")]
    ServerExited {
        server: String,
        status: String,
        log_tail: String,
    },

    #[error("{server} request failed: {what}: {detail}")]
    ServerRequest {
        server: String,
        what: String,
        detail: String,
    },

    #[error("the shared {server} server failed to start earlier in this test binary: {message}")]
    SharedServerStartFailed { server: String, message: String },
}

impl Error {
    /// An object_store client that cannot be built (a config key it does not know, say).
    pub(crate) fn store_client(error: impl std::fmt::Display) -> Error {
        Error::StoreClient(error.to_string())
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl From<serde_yaml::Error> for Error {
    fn from(e: serde_yaml::Error) -> Self {
        Error::Serde(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Serde(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
