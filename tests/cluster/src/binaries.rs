//! Where the control-plane binaries come from.
//!
//! `tests/run.sh` builds them once and exports `IBENCH_CONTROL_PLANE_BIN`; a plain `cargo test`
//! without it runs `build.sh` itself (a warm cache answers in well under a second). A missing
//! control plane is an error, never a reason to skip a test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Environment variable naming a directory with `etcd`, `kube-apiserver`,
/// `kube-controller-manager` (and `helm`).
pub const BIN_DIR_ENV: &str = "IBENCH_CONTROL_PLANE_BIN";

/// Located at compile time so the harness works from any working directory.
const BUILD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/build.sh");

const REQUIRED: [&str; 3] = ["etcd", "kube-apiserver", "kube-controller-manager"];

/// A directory holding the control-plane binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// The binaries named by [`BIN_DIR_ENV`], else those `build.sh` builds or finds in its cache.
    /// The answer is computed once per process.
    pub fn locate() -> Result<Binaries> {
        static LOCATED: OnceLock<std::result::Result<Binaries, String>> = OnceLock::new();
        LOCATED
            .get_or_init(|| Self::locate_uncached().map_err(|e| e.to_string()))
            .clone()
            .map_err(Error::Binaries)
    }

    fn locate_uncached() -> Result<Binaries> {
        let dir = match std::env::var_os(BIN_DIR_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => run_build_script(BUILD_SCRIPT, BIN_DIR_ENV, "a cold build takes 20+ minutes")
                .map_err(Error::Binaries)?,
        };
        Self::from_dir(dir)
    }

    /// Uses `dir` as is, after checking that the required binaries are there.
    pub fn from_dir(dir: impl Into<PathBuf>) -> Result<Binaries> {
        let dir = dir.into();
        for name in REQUIRED {
            let path = dir.join(name);
            if !is_executable(&path) {
                return Err(Error::Binaries(format!(
                    "{} is missing or not executable (from {}; build with {BUILD_SCRIPT})",
                    path.display(),
                    if std::env::var_os(BIN_DIR_ENV).is_some() {
                        BIN_DIR_ENV
                    } else {
                        "build.sh"
                    },
                )));
            }
        }
        Ok(Binaries { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn etcd(&self) -> PathBuf {
        self.dir.join("etcd")
    }
    pub fn kube_apiserver(&self) -> PathBuf {
        self.dir.join("kube-apiserver")
    }
    pub fn kube_controller_manager(&self) -> PathBuf {
        self.dir.join("kube-controller-manager")
    }
    /// The helm CLI built next to the control plane, if present.
    pub fn helm(&self) -> Option<PathBuf> {
        Some(self.dir.join("helm")).filter(|p| is_executable(p))
    }
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A virtualenv built by `script` (which prints its directory) unless `env` names one; its
/// `bin/python` must exist. For the harness's Python programs from PyPI.
pub(crate) fn locate_venv(
    env: &str,
    script: &str,
    duration_hint: &str,
) -> std::result::Result<PathBuf, String> {
    let venv = match std::env::var_os(env) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => run_build_script(script, env, duration_hint)?,
    };
    let python = venv.join("bin/python");
    if !is_executable(&python) {
        return Err(format!(
            "{} is missing (install with {script})",
            python.display()
        ));
    }
    Ok(venv)
}

/// Runs a build script that prints the directory of what it built on its last line; used when
/// `env` (the variable `tests/run.sh` would have set) is unset.
pub(crate) fn run_build_script(
    script: &str,
    env: &str,
    duration_hint: &str,
) -> std::result::Result<PathBuf, String> {
    tracing::info!(
        script,
        "{env} not set; running the build script ({duration_hint})"
    );
    // stderr is inherited so a cold build shows its progress instead of looking hung.
    let output = Command::new("bash")
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{script} failed ({})", output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .ok_or_else(|| format!("{script} printed no directory"))?;
    Ok(PathBuf::from(dir))
}
