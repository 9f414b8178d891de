//! A run's report files broken on purpose, one fault per check of `validation.json`, to hold
//! two validators to the same findings.

use std::path::Path;

use serde_json::{Value, json};

use super::key_paths::read_report;

/// The checks the faults below trip.
pub const CAUGHT: &[&str] = &[
    "summary.counts",
    "summary.distributions",
    "summary.tokens",
    "summary.throughput",
    "per_stage.structure",
    "per_stage.time",
    "per_stage.load",
    "per_request.structure",
    "per_request.timestamps",
    "per_request.response_presence",
    "per_request.token_times",
    "per_request.token_agreement",
    "cross_report.stage_totals",
    "cross_report.per_request_count",
    "cross_report.configured_stages",
    "br_partial.schema",
    "br_partial.version",
    "br_partial.nulls",
    "br_partial.distributions",
    "br_partial.run_time",
    "br_partial.lifecycle_agreement",
];

fn edit(dir: &Path, file: &str, change: impl FnOnce(&mut Value)) {
    let path = dir.join(file);
    let mut report = read_report(&path);
    change(&mut report);
    let text = if file.ends_with(".yaml") {
        serde_yaml::to_string(&report).unwrap()
    } else {
        serde_json::to_string_pretty(&report).unwrap()
    };
    std::fs::write(&path, text).unwrap();
}

fn at<'a>(value: &'a mut Value, pointer: &str) -> &'a mut Value {
    value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the report"))
}

fn add(value: &mut Value, pointer: &str, amount: f64) {
    let slot = at(value, pointer);
    *slot = json!(slot.as_f64().unwrap() + amount);
}

/// Breaks the report files of a run of two stages with per-request records.
pub fn break_reports(dir: &Path) {
    edit(dir, "summary_lifecycle_metrics.json", |summary| {
        add(summary, "/successes/count", 1.0);
        add(summary, "/successes/prompt_tokens/total", 7.0);
        add(summary, "/successes/throughput/total_tokens_per_sec", 5.0);
        let latency = at(summary, "/successes/latency/request_latency");
        latency["p90"] = json!(latency["max"].as_f64().unwrap() * 2.0);
        latency["min"] = json!(-0.25);
    });
    edit(dir, "stage_0_lifecycle_metrics.json", |stage| {
        *at(stage, "/load_summary/requested_rate") = json!(-1);
        *at(stage, "/benchmark_time_seconds") = json!(0);
    });
    edit(dir, "stage_1_lifecycle_metrics.json", |stage| {
        stage.as_object_mut().unwrap().remove("failures");
    });
    edit(dir, "per_request_lifecycle_metrics.json", |records| {
        let records = records.as_array_mut().unwrap();
        assert!(
            records.len() > 12,
            "too few records to break: {}",
            records.len()
        );
        add(&mut records[0], "/end_time", -1000.0);
        let times = at(&mut records[1], "/info/response_metrics/output_token_times");
        times.as_array_mut().unwrap().reverse();
        for record in &mut records[2..9] {
            add(
                record,
                "/info/response_metrics/output_token_times/0",
                -1000.0,
            );
        }
        records[9]["info"]["response_metrics"] = Value::Null;
        *at(
            &mut records[10],
            "/info/response_metrics/server_usage/completion_tokens",
        ) = json!(1000);
        records[11] = json!("not a record");
        records.pop();
    });
    edit(dir, "config.yaml", |config| {
        let stages = at(config, "/load/stages").as_array_mut().unwrap();
        stages.push(stages[0].clone());
    });
    edit(dir, "inference-perf.partial.stage_0.yaml", |report| {
        report["version"] = json!("0.2");
        report["run"]["description"] = Value::Null;
        report["run"]["time"]["duration"] = json!("PT99S");
        add(
            report,
            "/results/request_performance/aggregate/requests/total",
            1.0,
        );
        let ttft = at(
            report,
            "/results/request_performance/aggregate/latency/time_to_first_token",
        );
        ttft["min"] = json!(-1.5);
    });
    edit(dir, "inference-perf.partial.stage_1.yaml", |report| {
        report["run"]["bogus"] = json!(true);
    });
}

/// The validation with the schema check's explanations cut to their first words: the rest is
/// each validator's own account (pydantic's, this project's).
pub fn without_schema_text(mut validation: Value) -> Value {
    const SCHEMA: &str = "does not validate as a BR 0.2.1 document:";
    for group in validation["reports"].as_object_mut().unwrap().values_mut() {
        for finding in group["errors"].as_array_mut().unwrap() {
            if finding["check"] == "br_partial.schema" {
                let message = finding["message"].as_str().unwrap();
                assert!(message.starts_with(SCHEMA), "{message}");
                finding["message"] = json!(SCHEMA);
            }
        }
    }
    validation
}
