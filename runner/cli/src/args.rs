//! Command-line arguments shared by `ibench run` and `ibench validate`.

use std::path::PathBuf;

/// Where the config comes from; shared by `run` and `validate`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// inference-perf YAML config file.
    #[arg(long, short = 'c', visible_alias = "config_file", value_name = "FILE")]
    pub config: PathBuf,
    /// Override a config value, e.g. --set load.stages[0].rate=50 (YAML value). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}
