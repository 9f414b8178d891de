//! inference-perf-compatible report files from a run's statistics: used by `ibench run` (files
//! on disk, markers on stdout) and by the operator (keys of the report ConfigMap).

mod atomic;
mod benchmark_report;
pub mod chat_answer;
mod checkpoint;
mod lifecycle;
mod location;
pub mod messages_answer;
mod per_request;
mod per_request_entry;
mod session;
mod sink;
mod slo;
mod validation;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use benchmark_report::{BENCHMARK_REPORT_VERSION, partial_report_name, partial_stage_reports};
pub use lifecycle::{Scope, dist, lifecycle, percentile_key};
pub use location::{LocationError, check_location, create_location};
pub use per_request::{PER_REQUEST_FILE, PerRequestWriter};
pub use per_request_entry::{
    Exchanged, PerRequestEntry, PerRequestError, PerRequestInfo, RecordShape, content_events,
};
pub use sink::RecordSink;
pub use slo::{SLO_VERDICT_FILE, slo_met, slo_verdict};
pub use validation::{
    Finding, PerRequestChecks, ReportSet, Severity, VALIDATION_FILE, Validation, validate,
};

use crate::config::ReportConfig;
use crate::metrics::RunMetrics;

/// One report file: `name` without extension for JSON files, with `.yaml` for YAML ones.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFile {
    pub name: String,
    pub contents: Value,
}

impl ReportFile {
    fn is_yaml(&self) -> bool {
        self.name.ends_with(".yaml")
    }

    /// The name the file is written under.
    pub fn file_name(&self) -> String {
        if self.is_yaml() {
            self.name.clone()
        } else {
            format!("{}.json", self.name)
        }
    }

    /// The file's text: JSON with a 2-space indent, like inference-perf's, or YAML.
    pub fn text(&self) -> String {
        if self.is_yaml() {
            serde_yaml::to_string(&self.contents).expect("JSON values serialise")
        } else {
            serde_json::to_string_pretty(&self.contents).expect("JSON values serialise")
        }
    }
}

/// The lifecycle reports that `report` asks for, in inference-perf's order.
pub fn lifecycle_reports(run: &RunMetrics, report: &ReportConfig) -> Vec<ReportFile> {
    let options = &report.request_lifecycle;
    let goodput = report.goodput.as_ref().map(|g| &g.constraints);
    let lifecycle = |bucket: &crate::metrics::Bucket, scope: Scope<'_>| {
        lifecycle(bucket, scope, &options.percentiles, goodput)
    };
    let mut files = Vec::new();
    if run.stages.is_empty() {
        return files;
    }
    if options.summary {
        files.push(ReportFile {
            name: "summary_lifecycle_metrics".into(),
            contents: lifecycle(&run.total(), Scope::Overall),
        });
    }
    if options.per_stage {
        for stage in &run.stages {
            files.push(ReportFile {
                name: format!("stage_{}_lifecycle_metrics", stage.info.id),
                contents: lifecycle(&stage.total(), Scope::Stage(&stage.info)),
            });
        }
    }
    let adapters = run.adapter_names();
    if options.per_adapter {
        for name in &adapters {
            files.push(ReportFile {
                name: format!("adapter_{name}_lifecycle_metrics"),
                contents: lifecycle(&run.adapter_total(name), Scope::Overall),
            });
        }
    }
    if options.per_adapter_stage {
        for name in &adapters {
            for stage in &run.stages {
                if let Some(bucket) = stage.adapters.get(name) {
                    files.push(ReportFile {
                        name: format!("adapter_{name}_stage_{}_lifecycle_metrics", stage.info.id),
                        contents: lifecycle(bucket, Scope::AdapterStage(&stage.info)),
                    });
                }
            }
        }
    }
    files.extend(
        partial_stage_reports(run, options.use_server_output_tokens)
            .into_iter()
            .map(|(name, contents)| ReportFile { name, contents }),
    );
    files.extend(session::session_reports(
        run,
        &report.session_lifecycle,
        &options.percentiles,
        options.max_error_messages.max(0) as usize,
    ));
    if let Some(slo) = &report.slo {
        files.push(ReportFile {
            name: SLO_VERDICT_FILE.into(),
            contents: slo_verdict(run, slo),
        });
    }
    if let Some(trip) = &run.circuit_breaker {
        files.push(breaker_report(run, trip));
    }
    if let Some(warmup) = &run.warmup {
        files.push(ReportFile {
            name: WARMUP_FILE.into(),
            contents: lifecycle(&warmup.total(), Scope::Stage(&warmup.info)),
        });
    }
    files
}

/// `load.warmup`'s report file, in the shape of a stage's (`.json` added when written).
pub const WARMUP_FILE: &str = "warmup_lifecycle_metrics";

/// The report file of a tripped circuit breaker (`.json` added when written).
pub const CIRCUIT_BREAKER_FILE: &str = "circuit_breaker";

/// Which breaker stopped the run, and what it left unsent: the rest of its stage and every
/// later stage, counted in each stage report's `cancelled.not_sent`.
fn breaker_report(run: &RunMetrics, trip: &crate::metrics::BreakerTrip) -> ReportFile {
    let not_sent: u64 = run
        .stages
        .iter()
        .map(|s| s.total().cancelled.not_sent)
        .sum();
    let mut contents = serde_json::json!({
        "name": trip.name,
        "stage_id": trip.stage_id,
        "time": trip.time,
        "not_sent": not_sent,
    });
    if let Some(runner) = trip.runner {
        contents["runner"] = runner.into();
    }
    ReportFile {
        name: CIRCUIT_BREAKER_FILE.into(),
        contents,
    }
}

/// The validation of the report set `files` (as they are written) with the run's config and
/// what its per-request records showed.
pub fn validate_reports(
    files: &[ReportFile],
    config_yaml: &str,
    per_request: Option<&PerRequestChecks>,
) -> Validation {
    let config: Option<Value> = serde_yaml::from_str(config_yaml).ok();
    let mut set = ReportSet::default();
    for file in files {
        set.insert(file.file_name(), &file.contents);
    }
    set.config = config.as_ref();
    set.per_request = per_request;
    validate(&set)
}

/// `validation.json`.
impl From<&Validation> for ReportFile {
    fn from(validation: &Validation) -> Self {
        ReportFile {
            name: VALIDATION_FILE.into(),
            contents: validation.to_json(),
        }
    }
}

/// The run's resolved config, written next to the reports.
pub const CONFIG_FILE: &str = "config.yaml";

/// Refusal of a report location whose config copy would replace the config being run: a
/// report written into the config's own directory (`storage.local_storage.path: .`) must not
/// destroy the user's file.
#[derive(Debug, thiserror::Error)]
#[error(
    "storage.local_storage.path: the report's {CONFIG_FILE} would overwrite the config file {0} \
     being run; choose another directory or set storage.local_storage.report_file_prefix"
)]
pub struct OverwritesConfig(pub PathBuf);

/// Refuses a report location whose config copy is the file `config` (when both exist, as
/// compared after resolving links).
pub fn check_config_copy(dir: &Path, prefix: &str, config: &Path) -> Result<(), OverwritesConfig> {
    let copy = dir.join(format!("{prefix}{CONFIG_FILE}"));
    match (std::fs::canonicalize(&copy), std::fs::canonicalize(config)) {
        (Ok(copy), Ok(config)) if copy == config => Err(OverwritesConfig(config)),
        _ => Ok(()),
    }
}

/// What [`write_files`] wrote: each file's name (without the prefix) and path, and the files
/// that could not be written with the reason.
#[derive(Debug, Default)]
pub struct Written {
    pub files: Vec<(String, PathBuf)>,
    pub failed: Vec<(PathBuf, std::io::Error)>,
}

/// Writes each report as `{dir}/{prefix}{file name}` (see [`ReportFile::text`]) and
/// the resolved config as `config.yaml` (creating `dir` if need be), each under a temporary
/// name renamed when complete.
/// A file that cannot be written (a full disk) does not stop the others.
pub fn write_files(dir: &Path, prefix: &str, files: &[ReportFile], config_yaml: &str) -> Written {
    let mut written = Written::default();
    if let Err(e) = std::fs::create_dir_all(dir) {
        written.failed.push((dir.to_path_buf(), e));
        return written;
    }
    let mut write = |name: String, text: &str| {
        let path = dir.join(format!("{prefix}{name}"));
        match atomic::write_atomically(&path, text.as_bytes()) {
            Ok(()) => written.files.push((name, path)),
            Err(e) => written.failed.push((path, e)),
        }
    };
    for file in files {
        write(file.file_name(), &file.text());
    }
    write(CONFIG_FILE.into(), config_yaml);
    written
}

/// The stage of a stage lifecycle report (`stage_{id}_lifecycle_metrics`); not of a session
/// report (`stage_{id}_session_lifecycle_metrics`).
pub fn stage_report_id(name: &str) -> Option<&str> {
    name.strip_prefix("stage_")?
        .strip_suffix("_lifecycle_metrics")
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// The stdout blocks that tools scrape: `=== START_SUMMARY ===` … and one per stage, and
/// each stage's Benchmark Report (`=== START_PARTIAL_BR_V0_2_STAGE_0 ===`), as inference-perf
/// prints them.
pub fn stdout_markers(files: &[ReportFile]) -> String {
    let mut out = String::new();
    for file in files {
        let marker = if file.name == "summary_lifecycle_metrics" {
            "SUMMARY".to_string()
        } else if let Some(id) = stage_report_id(&file.name) {
            format!("STAGE_{id}")
        } else if let Some(id) = file
            .name
            .strip_prefix("inference-perf.partial.stage_")
            .and_then(|rest| rest.strip_suffix(".yaml"))
        {
            format!("PARTIAL_BR_V0_2_STAGE_{id}")
        } else {
            continue;
        };
        let text = file.text();
        out.push_str(&format!(
            "=== START_{marker} ===\n{}\n=== END_{marker} ===\n",
            text.trim_end()
        ));
    }
    out
}
