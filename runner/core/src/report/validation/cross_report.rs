//! Checks across files (global findings): stage counts that sum to the run's, as many
//! per-request records as requests, a report for every configured stage, rising stage rates.

use std::collections::BTreeSet;

use serde_json::Value;

use super::findings::{Finding, Severity, Validation};
use super::lifecycle::{SUMMARY_FILE, structure_problem};
use super::numbers::{general, get, int_list, number_at};
use super::report_set::ReportSet;
use crate::report::PER_REQUEST_FILE;

const CHECK: &str = "cross_report";

fn global(check: &str, severity: Severity, message: String) -> Finding {
    Finding::new(&format!("{CHECK}.{check}"), severity, message, None)
}

pub fn validate(set: &ReportSet<'_>, into: &mut Validation) {
    let stages = set.stage_reports();
    let summary = set.file(SUMMARY_FILE).filter(|s| s.is_object());
    stage_totals(&stages, summary, into);
    per_request_count(set, summary, into);
    let ids: Vec<u64> = stages.iter().map(|(id, _, _)| *id).collect();
    stage_indices(&ids, into);
    configured_stages(set, &ids, into);
    stage_rates(&stages, into);
}

fn stage_totals(stages: &[(u64, String, &Value)], summary: Option<&Value>, into: &mut Validation) {
    let well_formed: Vec<(u64, &Value)> = stages
        .iter()
        .filter(|(_, _, contents)| structure_problem(contents).is_none())
        .map(|(id, _, contents)| (*id, *contents))
        .collect();
    let Some(summary) = summary.filter(|_| !well_formed.is_empty()) else {
        return;
    };
    for path in [
        ["load_summary", "count"],
        ["successes", "count"],
        ["failures", "count"],
    ] {
        let Some(run_value) = number_at(summary, &path) else {
            continue;
        };
        let values: Option<Vec<f64>> = well_formed
            .iter()
            .map(|(_, contents)| number_at(contents, &path))
            .collect();
        let Some(values) = values else {
            continue;
        };
        let sum: f64 = values.iter().sum();
        if sum != run_value {
            let ids: Vec<u64> = well_formed.iter().map(|(id, _)| *id).collect();
            let message = format!(
                "per-stage {} values sum to {} but the run summary reports {} — requests dropped or double-counted across stages (stages: {})",
                path.join("."),
                general(sum),
                general(run_value),
                int_list(&ids)
            );
            into.add(global("stage_totals", Severity::Error, message));
        }
    }
}

fn per_request_count(set: &ReportSet<'_>, summary: Option<&Value>, into: &mut Validation) {
    let (Some(records), Some(count)) = (
        set.per_request.filter(|r| r.is_list()),
        summary.and_then(|s| number_at(s, &["load_summary", "count"])),
    ) else {
        return;
    };
    if records.records() as f64 != count {
        let message = format!(
            "{} has {} record(s) but the run summary reports {} request(s)",
            PER_REQUEST_FILE,
            records.records(),
            general(count)
        );
        into.add(global("per_request_count", Severity::Error, message));
    }
}

fn stage_indices(ids: &[u64], into: &mut Validation) {
    let Some(&last) = ids.last() else {
        return;
    };
    let present: BTreeSet<u64> = ids.iter().copied().collect();
    let missing: Vec<u64> = (0..=last).filter(|id| !present.contains(id)).collect();
    if !missing.is_empty() {
        let message = format!(
            "no per-stage lifecycle report for stage(s) {} — those stages recorded no requests",
            int_list(&missing)
        );
        into.add(global("stage_indices", Severity::Warning, message));
    }
}

fn configured_stages(set: &ReportSet<'_>, ids: &[u64], into: &mut Validation) {
    let Some(Value::Array(stages)) = set
        .config
        .and_then(|config| get(config, &["load", "stages"]))
    else {
        return;
    };
    if ids.is_empty() {
        return;
    }
    let declared = stages.len() as u64;
    let extra: Vec<u64> = ids.iter().copied().filter(|id| *id >= declared).collect();
    if !extra.is_empty() {
        let message = format!(
            "per-stage report(s) for stage(s) {} but the config declares only {declared} stage(s)",
            int_list(&extra)
        );
        into.add(global("configured_stages", Severity::Error, message));
    }
    let present: BTreeSet<u64> = ids.iter().copied().collect();
    let absent: Vec<u64> = (0..declared).filter(|id| !present.contains(id)).collect();
    if !absent.is_empty() {
        let message = format!(
            "config declares {declared} stage(s) but stage(s) {} emitted no lifecycle report",
            int_list(&absent)
        );
        into.add(global("configured_stages", Severity::Warning, message));
    }
}

fn stage_rates(stages: &[(u64, String, &Value)], into: &mut Validation) {
    let rates: Option<Vec<(u64, f64)>> = stages
        .iter()
        .map(|(id, _, contents)| {
            Some((
                *id,
                number_at(contents, &["load_summary", "requested_rate"])?,
            ))
        })
        .collect();
    for pair in rates.unwrap_or_default().windows(2) {
        let ((previous_id, previous), (id, rate)) = (pair[0], pair[1]);
        if rate < previous {
            let message = format!(
                "stage requested rates are not monotonically increasing: stage {id} requested_rate {} < stage {previous_id} requested_rate {}",
                general(rate),
                general(previous)
            );
            into.add(global("stage_rates", Severity::Warning, message));
        }
    }
}
