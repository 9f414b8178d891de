//! `validation.json`: the report set's check of itself, as inference-perf 0.7.0 writes it —
//! counts that add up across files, distributions in order, per-request records that agree
//! with the summary, Benchmark Reports that agree with the stage reports — with the same
//! checks, severities, messages and layout, so that tools reading inference-perf's read ours.
//! Errors mean the report math is inconsistent (a bug here), never that the server was slow
//! or failing; they do not change the run's outcome.

mod br_partial;
mod cross_report;
mod distributions;
mod findings;
mod lifecycle;
mod numbers;
mod per_request;
mod report_set;

pub use findings::{Finding, Severity, Validation};
pub use per_request::PerRequestChecks;
pub use report_set::ReportSet;

/// The file name, as inference-perf names it (`.json` added when written).
pub const VALIDATION_FILE: &str = "validation";

/// Every check over `set`, in inference-perf's order: the summary, the stage reports, the
/// per-request records, the checks across files, the Benchmark Report partials.
pub fn validate(set: &ReportSet<'_>) -> Validation {
    let mut validation = Validation::default();
    let summary = lifecycle::SUMMARY_FILE;
    lifecycle::validate_summary(summary, set.file(summary), &mut validation);
    lifecycle::validate_stages(&set.stage_reports(), &mut validation);
    if let Some(records) = set.per_request {
        records.validate(&mut validation);
    }
    cross_report::validate(set, &mut validation);
    br_partial::validate(set, &mut validation);
    validation
}
