//! The checks of `per_request_lifecycle_metrics.json`, made record by record as the records
//! are written (the file is streamed, never held), and kept as one count and the first few
//! record indices per rule, as inference-perf reports them.

use serde_json::Value;

use super::findings::{Finding, Severity, Validation};
use super::numbers::{get, number, type_name};
use crate::report::PER_REQUEST_FILE;

/// Record indices named in a finding.
const SAMPLE: usize = 5;

/// A successful record whose client token count differs from the server's by more than this
/// share is suspicious (reasoning-channel tokens account for some difference).
const TOKEN_AGREEMENT: f64 = 0.25;

/// Records that broke one rule: how many, and the first indices.
#[derive(Debug, Default, Clone, PartialEq)]
struct Violations {
    count: u64,
    first: Vec<u64>,
}

impl Violations {
    fn add(&mut self, index: u64) {
        self.count += 1;
        if self.first.len() < SAMPLE {
            self.first.push(index);
        }
    }

    fn finding(&self, check: &str, severity: Severity, description: &str) -> Option<Finding> {
        if self.count == 0 {
            return None;
        }
        let indices: Vec<String> = self.first.iter().map(u64::to_string).collect();
        let more = if self.count > SAMPLE as u64 {
            ", …"
        } else {
            ""
        };
        let message = format!(
            "{} record(s) {description} (record indices: {}{more})",
            self.count,
            indices.join(", ")
        );
        Some(Finding::new(
            check,
            severity,
            message,
            Some(PER_REQUEST_FILE),
        ))
    }
}

/// What the per-request records showed, fed one record at a time.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PerRequestChecks {
    records: u64,
    /// The file's contents were not a list (read back from a directory): Python's type name.
    not_a_list: Option<&'static str>,
    not_objects: Violations,
    end_before_start: Violations,
    no_response_metrics: Violations,
    token_times_unordered: Violations,
    token_times_outside: Violations,
    token_counts_diverge: Violations,
}

impl PerRequestChecks {
    /// The checks of a whole file read back.
    pub fn of_file(contents: &Value) -> Self {
        let mut checks = Self::default();
        match contents {
            Value::Array(records) => records.iter().for_each(|r| checks.observe(r)),
            other => checks.not_a_list = Some(type_name(other)),
        }
        checks
    }

    /// Whether the records were a list (always, unless read back from a file).
    pub fn is_list(&self) -> bool {
        self.not_a_list.is_none()
    }

    /// How many records were seen.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Checks the next record.
    pub fn observe(&mut self, record: &Value) {
        let index = self.records;
        self.records += 1;
        if !record.is_object() {
            self.not_objects.add(index);
            return;
        }
        let start = number(record.get("start_time"));
        let end = number(record.get("end_time"));
        if let (Some(start), Some(end)) = (start, end)
            && end < start
        {
            self.end_before_start.add(index);
        }
        let succeeded = record.get("error").is_none_or(Value::is_null);
        let response = get(record, &["info", "response_metrics"]).filter(|r| !r.is_null());
        if succeeded && response.is_none() {
            self.no_response_metrics.add(index);
        }
        let Some(response) = response.filter(|r| r.is_object()) else {
            return;
        };
        let times: Vec<f64> = response
            .get("output_token_times")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| number(Some(t)))
            .collect();
        if let (Some(first), Some(last)) = (times.first(), times.last()) {
            if times.windows(2).any(|pair| pair[1] < pair[0]) {
                self.token_times_unordered.add(index);
            }
            if let (Some(start), Some(end)) = (start, end)
                && (*first < start || *last > end)
            {
                self.token_times_outside.add(index);
            }
        }
        let client = number(response.get("output_tokens"));
        let server = number(get(response, &["server_usage", "completion_tokens"]));
        if succeeded
            && let (Some(c), Some(s)) = (client, server)
            && c > 0.0
            && s > 0.0
            && (c - s).abs() > TOKEN_AGREEMENT * c.max(s)
        {
            self.token_counts_diverge.add(index);
        }
    }

    /// The findings (check names `per_request.*`), in inference-perf's order.
    pub(super) fn validate(&self, into: &mut Validation) {
        let report = Some(PER_REQUEST_FILE);
        into.cover(PER_REQUEST_FILE);
        if let Some(type_name) = self.not_a_list {
            let message = format!("expected a JSON array of records, got {type_name}");
            into.add(Finding::new(
                "per_request.structure",
                Severity::Error,
                message,
                report,
            ));
            return;
        }
        let error = Severity::Error;
        let findings = [
            self.not_objects
                .finding("per_request.structure", error, "are not JSON objects"),
            self.end_before_start.finding(
                "per_request.timestamps",
                error,
                "have end_time before start_time",
            ),
            self.no_response_metrics.finding(
                "per_request.response_presence",
                Severity::Warning,
                "are successful but carry no response metrics",
            ),
            self.token_times_unordered.finding(
                "per_request.token_times",
                error,
                "have out-of-order output token timestamps",
            ),
            self.token_times_outside.finding(
                "per_request.token_times",
                error,
                "have output token timestamps outside [start_time, end_time]",
            ),
            self.token_counts_diverge.finding(
                "per_request.token_agreement",
                Severity::Warning,
                "have client output_tokens diverging from server completion_tokens by more than \
                 25% (reasoning-channel tokens can account for some divergence)",
            ),
        ];
        into.extend(findings.into_iter().flatten());
    }
}
