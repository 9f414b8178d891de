//! `ibench report DIR... [--plot OUT]`: the stage tables of finished runs, and charts comparing
//! them.

use std::path::PathBuf;
use std::process::ExitCode;

mod plot;
mod server_plot;
mod table;

pub use table::summary_tables;

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Report directories of earlier runs (each holding stage_<n>_lifecycle_metrics.json).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Write latency and throughput against achieved rate as OUT.svg and OUT.png.
    #[arg(long, value_name = "OUT")]
    pub plot: Option<PathBuf>,
}

pub fn report(args: &ReportArgs) -> ExitCode {
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
