//! One control plane per test binary, started on first use.

use tokio::sync::OnceCell;

use crate::control_plane::ControlPlane;
use crate::error::{Error, Result};

static SHARED: OnceCell<std::result::Result<ControlPlane, String>> = OnceCell::const_new();

/// The test binary's shared control plane, started by the first caller. Panics (failing the
/// test loudly) if it cannot start; every later caller fails with the same message.
///
/// Give each test its own namespace ([`ControlPlane::namespace`]) so tests can run in parallel.
pub async fn shared() -> &'static ControlPlane {
    match try_shared().await {
        Ok(cp) => cp,
        Err(e) => panic!("{e}"),
    }
}

/// Like [`shared`], returning the start-up error instead of panicking.
pub async fn try_shared() -> Result<&'static ControlPlane> {
    let started = SHARED
        .get_or_init(|| async {
            let result = ControlPlane::start().await.map_err(|e| e.to_string());
            if result.is_ok() {
                // Statics are never dropped: clean up at exit. (Processes would die anyway
                // through PDEATHSIG; this also removes the directory.)
                // SAFETY: registering a plain extern "C" function has no preconditions.
                unsafe {
                    libc::atexit(stop_shared_at_exit);
                }
            }
            result
        })
        .await;
    started
        .as_ref()
        .map_err(|e| Error::SharedStartFailed(e.clone()))
}

extern "C" fn stop_shared_at_exit() {
    if let Some(Ok(cp)) = SHARED.get() {
        cp.stop_and_clean_blocking();
    }
}
