//! A real Kubernetes control plane for tests: etcd, kube-apiserver and kube-controller-manager
//! built from Go modules (see `build.sh`), started on free loopback ports with generated
//! certificates, plus a process kubelet that runs Pods as local processes; and real S3
//! (SeaweedFS) and Google Cloud Storage (fake-gcs-server) servers (see `build-object-stores.sh`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ibench_testcluster::Error> {
//! let cp = ibench_testcluster::shared().await;
//! let ns = cp.namespace("my-test").await?;
//! let client = cp.client();
//! # Ok(()) }
//! ```
//!
//! See README.md next to this crate for the process kubelet's limits.

mod apiserver;
mod binaries;
mod component;
mod control_plane;
mod controller_manager;
mod error;
mod etcd;
mod images;
mod inference_perf;
mod kubeconfig;
mod kubelet;
mod nginx;
mod object_stores;
pub mod oci_image;
mod pki;
mod ports;
mod process;
mod python_servers;
mod shared;
mod token;

pub use binaries::{BIN_DIR_ENV, Binaries};
pub use control_plane::{ControlPlane, KEEP_DIR_ENV, Options};
pub use controller_manager::DEFAULT_CONTROLLERS;
pub use error::{Error, Result};
pub use images::{ImageProgram, image_key};
pub use inference_perf::{INFERENCE_PERF_VENV_ENV, InferencePerf};
pub use nginx::{Access, GatewayTls, NGINX_ENV, Nginx, nginx_binary};
pub use object_stores::{
    GcsServer, OBJECT_STORE_BIN_ENV, ObjectStoreBinaries, OversizedObjectServer, PrometheusServer,
    S3Server, pseudo_random_bytes, shared_gcs, shared_s3, try_shared_gcs, try_shared_s3,
};
pub use python_servers::{
    ClientTls, ModelServer, ModelServerKind, PYTHON_SERVERS_VENV_ENV, Percentiles, PythonServers,
    ReferenceLoad, ReferenceRun, ServedCount, reference_client,
};
pub use shared::{shared, try_shared};

/// Installs a `tracing` subscriber for test output (filter from `RUST_LOG`, default `info` for
/// this crate); safe to call from every test.
pub fn init_test_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // kube's client logs every refused connection while the apiserver boots; those are
        // expected and already turned into errors where they matter.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(
                "ibench_testcluster=info,kube_client::client::builder=off,warn",
            )
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Installs rustls's ring provider as the process default, as a process that uses object_store
/// must: the workspace builds reqwest without a provider of its own (`rustls-no-provider`), and
/// building a reqwest client (every object_store `build()`) panics without one. Safe to call
/// from every test; the first call wins.
pub fn install_crypto_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}
