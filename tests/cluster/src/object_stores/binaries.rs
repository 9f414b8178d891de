//! Where the object-storage server binaries come from.
//!
//! `tests/run.sh` builds them once and exports [`OBJECT_STORE_BIN_ENV`]; a plain `cargo test`
//! without it runs `build-object-stores.sh` itself (a warm cache answers at once). A missing
//! binary is an error, never a reason to skip a test.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::binaries::{is_executable, run_build_script};
use crate::error::{Error, Result};

/// Environment variable naming a directory with `weed` (SeaweedFS) and `fake-gcs-server`.
pub const OBJECT_STORE_BIN_ENV: &str = "IBENCH_OBJECT_STORE_BIN";

/// Located at compile time so the harness works from any working directory.
const BUILD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/build-object-stores.sh");

const WEED: &str = "weed";
const FAKE_GCS_SERVER: &str = "fake-gcs-server";
const PROMETHEUS: &str = "prometheus";

/// A directory holding the object-storage server binaries.
#[derive(Debug, Clone)]
pub struct ObjectStoreBinaries {
    dir: PathBuf,
}

impl ObjectStoreBinaries {
    /// The binaries named by [`OBJECT_STORE_BIN_ENV`], else those `build-object-stores.sh`
    /// builds or finds in its cache. The answer is computed once per process.
    pub fn locate() -> Result<ObjectStoreBinaries> {
        static LOCATED: OnceLock<std::result::Result<ObjectStoreBinaries, String>> =
            OnceLock::new();
        LOCATED
            .get_or_init(|| Self::locate_uncached().map_err(|e| e.to_string()))
            .clone()
            .map_err(Error::ServerBinaries)
    }

    fn locate_uncached() -> Result<ObjectStoreBinaries> {
        let dir = match std::env::var_os(OBJECT_STORE_BIN_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => run_build_script(
                BUILD_SCRIPT,
                OBJECT_STORE_BIN_ENV,
                "a cold build takes about 7 minutes",
            )
            .map_err(Error::ServerBinaries)?,
        };
        Self::from_dir(dir)
    }

    /// Uses `dir` as is, after checking that both binaries are there.
    pub fn from_dir(dir: impl Into<PathBuf>) -> Result<ObjectStoreBinaries> {
        let dir = dir.into();
        for name in [WEED, FAKE_GCS_SERVER, PROMETHEUS] {
            let path = dir.join(name);
            if !is_executable(&path) {
                return Err(Error::ServerBinaries(format!(
                    "{} is missing or not executable (build with {BUILD_SCRIPT})",
                    path.display(),
                )));
            }
        }
        Ok(ObjectStoreBinaries { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// SeaweedFS, whose `weed mini` serves S3.
    pub fn weed(&self) -> PathBuf {
        self.dir.join(WEED)
    }
    pub fn fake_gcs_server(&self) -> PathBuf {
        self.dir.join(FAKE_GCS_SERVER)
    }
    /// A Prometheus server (not object storage, but built and located the same way).
    pub fn prometheus(&self) -> PathBuf {
        self.dir.join(PROMETHEUS)
    }
}
