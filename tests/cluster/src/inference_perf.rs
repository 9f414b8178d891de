//! inference-perf 0.7.0 itself, the peer this project is compared with: a virtualenv from PyPI
//! built by `build-inference-perf.sh` and cached outside the clone.
//!
//! `tests/run.sh` builds it once and exports [`INFERENCE_PERF_VENV_ENV`]; a plain `cargo test`
//! without it runs the script itself (a warm cache answers at once).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::binaries::locate_venv;
use crate::error::{Error, Result};

/// Environment variable naming the virtualenv.
pub const INFERENCE_PERF_VENV_ENV: &str = "IBENCH_INFERENCE_PERF_VENV";

const BUILD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/build-inference-perf.sh");

#[derive(Debug, Clone)]
pub struct InferencePerf {
    venv: PathBuf,
}

impl InferencePerf {
    /// The virtualenv named by [`INFERENCE_PERF_VENV_ENV`], else the one the script builds or
    /// finds in its cache; computed once per process.
    pub fn locate() -> Result<InferencePerf> {
        static LOCATED: OnceLock<std::result::Result<InferencePerf, String>> = OnceLock::new();
        LOCATED
            .get_or_init(|| {
                let venv = locate_venv(
                    INFERENCE_PERF_VENV_ENV,
                    BUILD_SCRIPT,
                    "a cold install from PyPI takes about a minute",
                )?;
                Ok(InferencePerf { venv })
            })
            .clone()
            .map_err(Error::ServerBinaries)
    }

    /// The virtualenv's Python, with inference-perf importable.
    pub fn python(&self) -> Command {
        let mut command = Command::new(self.venv.join("bin/python"));
        // Quiets transformers' notice that PyTorch is absent (only its tokenizers are used).
        command.env("TRANSFORMERS_VERBOSITY", "error");
        command
    }

    /// The `inference-perf` command itself, offline: the Hugging Face hub is unreachable here,
    /// so tokenizers must come from local paths.
    pub fn cli(&self) -> Command {
        let mut command = Command::new(self.venv.join("bin/inference-perf"));
        command
            .env("TRANSFORMERS_VERBOSITY", "error")
            .env("HF_HUB_OFFLINE", "1");
        command
    }
}
