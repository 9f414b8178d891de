//! One S3 and one GCS server per test binary, each started on first use.

use std::future::Future;

use tokio::sync::OnceCell;

use super::gcs::GcsServer;
use super::s3::S3Server;
use crate::error::{Error, Result};

type Started<T> = OnceCell<std::result::Result<T, String>>;

static S3: Started<S3Server> = OnceCell::const_new();
static GCS: Started<GcsServer> = OnceCell::const_new();

/// The test binary's shared S3 server, started by the first caller. Panics (failing the test
/// loudly) if it cannot start; every later caller fails with the same message.
///
/// Give each test its own bucket ([`S3Server::bucket`]) so tests can run in parallel.
pub async fn shared_s3() -> &'static S3Server {
    try_shared_s3().await.unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`shared_s3`], returning the start-up error instead of panicking.
pub async fn try_shared_s3() -> Result<&'static S3Server> {
    shared(&S3, "S3", S3Server::start, stop_s3_at_exit).await
}

/// The test binary's shared GCS server; see [`shared_s3`].
pub async fn shared_gcs() -> &'static GcsServer {
    try_shared_gcs().await.unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`shared_gcs`], returning the start-up error instead of panicking.
pub async fn try_shared_gcs() -> Result<&'static GcsServer> {
    shared(&GCS, "GCS", GcsServer::start, stop_gcs_at_exit).await
}

async fn shared<T, F>(
    cell: &'static Started<T>,
    server: &str,
    start: impl FnOnce() -> F,
    at_exit: extern "C" fn(),
) -> Result<&'static T>
where
    F: Future<Output = Result<T>>,
{
    let started = cell
        .get_or_init(|| async {
            let result = start().await.map_err(|e| e.to_string());
            if result.is_ok() {
                // Statics are never dropped: clean up at exit. (The process would die anyway
                // through PDEATHSIG; this also removes the directory.)
                // SAFETY: registering a plain extern "C" function has no preconditions.
                unsafe {
                    libc::atexit(at_exit);
                }
            }
            result
        })
        .await;
    started
        .as_ref()
        .map_err(|message| Error::SharedServerStartFailed {
            server: server.to_string(),
            message: message.clone(),
        })
}

extern "C" fn stop_s3_at_exit() {
    if let Some(Ok(server)) = S3.get() {
        server.stop_and_clean_blocking();
    }
}

extern "C" fn stop_gcs_at_exit() {
    if let Some(Ok(server)) = GCS.get() {
        server.stop_and_clean_blocking();
    }
}
