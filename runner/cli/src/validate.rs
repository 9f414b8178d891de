//! `ibench validate`: every problem of a config, and every check a run makes before its first
//! request, without sending anything.

use std::process::ExitCode;

use crate::args::ConfigArgs;

pub async fn validate(args: &ConfigArgs) -> ExitCode {
    let checked = match crate::preflight::resolve(args) {
        Ok(resolved) => crate::preflight::check(args, &resolved).await,
        Err(e) => Err(e),
    };
    match checked {
        Ok(checked) => {
            for note in checked.planned.notes() {
                eprintln!("note: {note}");
            }
            crate::out::say!("{}: valid", args.config.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
