//! The checks `ibench run` makes before its first request, which are exactly what `ibench
//! validate` checks: one path, so that a config `validate` accepts does not fail `run` before it
//! sends (the report location, buckets, input files read and parsed, headers, limits, file
//! descriptors), and `validate` needs no server.

use ibench_core::config::{ConfigError, ResolvedConfig};
use ibench_core::plan::Shard;
use ibench_core::report::{self, LocationError, OverwritesConfig};
use ibench_engine::benchmark::{BenchmarkError, Planned, report_prefix};
use ibench_storage::{FetchedInput, InputError, ReportBuckets, UploadError, fetch_inputs};

use crate::args::ConfigArgs;

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("{path}: {source}")]
    Config { path: String, source: ConfigError },
    #[error(transparent)]
    ConfigCopy(#[from] OverwritesConfig),
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(transparent)]
    Buckets(#[from] UploadError),
    #[error("creating a directory for fetched input files: {0}")]
    InputsDir(#[source] std::io::Error),
    #[error(transparent)]
    Inputs(#[from] InputError),
    #[error(transparent)]
    Benchmark(#[from] BenchmarkError),
}

/// A config that passed every check, ready to start.
pub struct Checked {
    pub buckets: ReportBuckets,
    /// The fetched copies of input URLs, removed when dropped (after the run).
    pub inputs_dir: tempfile::TempDir,
    pub inputs: Vec<FetchedInput>,
    pub planned: Planned,
}

/// The config file with its `--set` overrides, checked and resolved.
pub fn resolve(args: &ConfigArgs) -> Result<ResolvedConfig, PreflightError> {
    let config =
        ibench_core::config::load_file(&args.config, &args.overrides).map_err(|source| {
            PreflightError::Config {
                path: args.config.display().to_string(),
                source,
            }
        })?;
    Ok(ResolvedConfig::resolve(config, chrono::Local::now()))
}

/// Everything short of talking to the model server; creates nothing but the fetched copies.
pub async fn check(
    args: &ConfigArgs,
    resolved: &ResolvedConfig,
) -> Result<Checked, PreflightError> {
    let report_dir = &resolved.report_dir;
    report::check_config_copy(report_dir, &report_prefix(resolved), &args.config)?;
    report::check_location(report_dir)?;
    // Buckets and input files are checked before any request: a wrong credential or a missing
    // trace found after an hour of load would waste the hour.
    let buckets = ReportBuckets::new(&resolved.config.storage)?;
    buckets.check().await?;
    let inputs_dir = tempfile::Builder::new()
        .prefix("ibench-inputs-")
        .tempdir()
        .map_err(PreflightError::InputsDir)?;
    let mut run_config = resolved.clone();
    let inputs = fetch_inputs(&mut run_config.config, inputs_dir.path()).await?;
    let planned = Planned::new(run_config, Shard::WHOLE).await?;
    Ok(Checked {
        buckets,
        inputs_dir,
        inputs,
        planned,
    })
}
