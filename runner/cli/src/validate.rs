//! `ibench validate`: every problem of a config, without running anything.

use std::process::ExitCode;

use ibench_core::config::ResolvedConfig;
use ibench_core::report;
use ibench_engine::benchmark::report_prefix;

use crate::args::ConfigArgs;

pub fn validate(args: &ConfigArgs) -> ExitCode {
    let config = match ibench_core::config::load_file(&args.config, &args.overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{}: {e}", args.config.display());
            return ExitCode::FAILURE;
        }
    };
    let resolved = ResolvedConfig::resolve(config, chrono::Local::now());
    let prefix = report_prefix(&resolved);
    if let Err(e) = report::check_config_copy(&resolved.report_dir, &prefix, &args.config) {
        eprintln!("{}: {e}", args.config.display());
        return ExitCode::FAILURE;
    }
    println!("{}: valid", args.config.display());
    ExitCode::SUCCESS
}
