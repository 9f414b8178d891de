//! `ibench report DIR... [--plot OUT]`: the stage tables of finished runs, and charts comparing
//! them.

use std::path::PathBuf;
use std::process::ExitCode;

mod plot;
mod server_plot;
mod table;
mod validate;

pub use table::summary_tables;

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Report directories of earlier runs (each holding stage_<n>_lifecycle_metrics.json).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Write latency and throughput against achieved rate as OUT.svg and OUT.png.
    #[arg(long, value_name = "OUT")]
    pub plot: Option<PathBuf>,
    /// Instead of the tables: check each directory's report files against each other (the
    /// checks of validation.json, also those of an inference-perf run), print the findings as
    /// validation.json holds them, and exit 1 if any is an error.
    #[arg(long, conflicts_with = "plot")]
    pub validate: bool,
}

pub fn report(args: &ReportArgs) -> ExitCode {
    if args.validate {
        return validate_dirs(&args.dirs);
    }
    let mut series = Vec::with_capacity(args.dirs.len());
    for dir in &args.dirs {
        match plot::read_series(dir) {
            Ok(s) => series.push(s),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    for s in &series {
        crate::out::say!("{}\n{}", s.name, summary_tables(&s.stages));
    }
    if let Some(out) = &args.plot {
        match plot::plot(&series, out) {
            Ok(files) => {
                for file in files {
                    crate::out::say!("Plot written to {}", file.display());
                }
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn validate_dirs(dirs: &[PathBuf]) -> ExitCode {
    let mut errors = 0;
    for dir in dirs {
        match validate::validate_dir(dir) {
            Ok(validation) => {
                errors += validation.count(ibench_core::report::Severity::Error);
                let json = serde_json::to_string_pretty(&validation.to_json())
                    .expect("JSON values serialise");
                crate::out::print(&format!("{json}\n"));
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
