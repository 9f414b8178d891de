//! `ibench report --validate DIR`: the checks of `validation.json` over a report directory
//! already written (by this tool or by inference-perf), printed as `validation.json` reads.

use std::path::Path;

use ibench_core::report::{
    CONFIG_FILE, PER_REQUEST_FILE, PerRequestChecks, ReportSet, VALIDATION_FILE, Validation,
    validate,
};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid {format}: {reason}")]
    Parse {
        path: String,
        format: &'static str,
        reason: String,
    },
}

/// Every `.json` and `.yaml` file of `dir` under its name, but an earlier `validation.json`.
fn read_reports(dir: &Path) -> Result<Vec<(String, Value)>, ValidateError> {
    let read_error = |path: &Path| {
        let path = path.display().to_string();
        move |source| ValidateError::Read { path, source }
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
        let path = entry.map_err(read_error(dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let yaml = name.ends_with(".yaml");
        if !(yaml || name.ends_with(".json")) || name == format!("{VALIDATION_FILE}.json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(read_error(&path))?;
        let parsed = if yaml {
            serde_yaml::from_str(&text).map_err(|e| ("YAML", e.to_string()))
        } else {
            serde_json::from_str(&text).map_err(|e| ("JSON", e.to_string()))
        };
        let contents = parsed.map_err(|(format, reason)| ValidateError::Parse {
            path: path.display().to_string(),
            format,
            reason,
        })?;
        files.push((name, contents));
    }
    Ok(files)
}

pub fn validate_dir(dir: &Path) -> Result<Validation, ValidateError> {
    let files = read_reports(dir)?;
    let per_request = files
        .iter()
        .find(|(name, _)| name == PER_REQUEST_FILE)
        .map(|(_, contents)| PerRequestChecks::of_file(contents));
    let mut set = ReportSet::default();
    for (name, contents) in &files {
        match name.as_str() {
            CONFIG_FILE => set.config = Some(contents),
            PER_REQUEST_FILE => {}
            _ => set.insert(name.clone(), contents),
        }
    }
    set.per_request = per_request.as_ref();
    Ok(validate(&set))
}
