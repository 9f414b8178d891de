//! `ibench validate`: every problem of a config, without running anything.

use std::process::ExitCode;

use crate::args::ConfigArgs;

pub fn validate(args: &ConfigArgs) -> ExitCode {
    match ibench_core::config::load_file(&args.config, &args.overrides) {
        Ok(_) => {
            println!("{}: valid", args.config.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", args.config.display());
            ExitCode::FAILURE
        }
    }
}
