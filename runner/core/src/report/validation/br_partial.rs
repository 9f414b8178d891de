//! The checks of each `inference-perf.partial.stage_N.yaml` (Benchmark Report v0.2.1): the
//! schema of the parts a partial report holds, the version, no nulls (a composer's merge
//! would take them over real data), distributions, a run time that agrees with itself, and an
//! aggregate that agrees with the stage's lifecycle report.

use serde_json::{Map, Value};

use super::distributions::distribution_findings;
use super::findings::{Finding, Severity, Validation};
use super::numbers::{approx_eq, float_repr, get, number, python_repr, python_str, walk};
use super::report_set::ReportSet;
use crate::report::BENCHMARK_REPORT_VERSION;

/// Keys allowed at each level of the report (the schema forbids others), and which of them
/// this check reads into.
const ROOT: &[&str] = &["version", "run", "scenario", "results"];
const RUN: &[&str] = &[
    "uid",
    "eid",
    "cid",
    "pid",
    "time",
    "user",
    "description",
    "keywords",
];
const RUN_TIME: &[&str] = &["start", "end", "duration"];
const RESULTS: &[&str] = &[
    "request_performance",
    "session_performance",
    "observability",
    "profiling",
    "component_health",
];
const REQUEST_PERFORMANCE: &[&str] = &["aggregate", "time_series"];
const AGGREGATE: &[&str] = &["requests", "latency", "throughput"];
const REQUESTS: &[&str] = &[
    "total",
    "failures",
    "incomplete",
    "input_length",
    "output_length",
    "request_size",
    "multimodal",
];

const QUANTITY: &[&str] = &["count", "pixels"];
const TIME: &[&str] = &["ms", "s"];
const PER_TOKEN: &[&str] = &["ms/token", "s/token"];
const TOKEN_RATE: &[&str] = &["tokens/s"];
const MEDIA_RATE: &[&str] = &["images/s", "videos/s", "audios/s"];
const MEMORY: &[&str] = &["bytes", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"];

/// Statistics blocks of the aggregate, each with the units it may be in.
const LATENCY: &[(&str, &[&str])] = &[
    ("time_to_first_token", TIME),
    ("normalized_time_per_output_token", PER_TOKEN),
    ("time_per_output_token", PER_TOKEN),
    ("inter_token_latency", PER_TOKEN),
    ("request_latency", TIME),
];
const THROUGHPUT: &[(&str, &[&str])] = &[
    ("input_token_rate", TOKEN_RATE),
    ("output_token_rate", TOKEN_RATE),
    ("total_token_rate", TOKEN_RATE),
    ("request_rate", &["queries/s"]),
    ("image_rate", MEDIA_RATE),
    ("video_rate", MEDIA_RATE),
    ("audio_rate", MEDIA_RATE),
];
const REQUEST_STATISTICS: &[(&str, &[&str])] = &[
    ("input_length", QUANTITY),
    ("output_length", QUANTITY),
    ("request_size", MEMORY),
];

/// Each BR path compared with its stage lifecycle path.
const AGREEMENT: &[(&[&str], &[&str])] = &[
    (&["requests", "total"], &["load_summary", "count"]),
    (&["requests", "failures"], &["failures", "count"]),
    (
        &["latency", "request_latency", "mean"],
        &["successes", "latency", "request_latency", "mean"],
    ),
    (
        &["latency", "request_latency", "min"],
        &["successes", "latency", "request_latency", "min"],
    ),
    (
        &["latency", "request_latency", "max"],
        &["successes", "latency", "request_latency", "max"],
    ),
    (
        &["latency", "request_latency", "p50"],
        &["successes", "latency", "request_latency", "median"],
    ),
    (
        &["latency", "time_to_first_token", "mean"],
        &["successes", "latency", "time_to_first_token", "mean"],
    ),
    (
        &["latency", "inter_token_latency", "mean"],
        &["successes", "latency", "inter_token_latency", "mean"],
    ),
    (
        &["latency", "normalized_time_per_output_token", "mean"],
        &[
            "successes",
            "latency",
            "normalized_time_per_output_token",
            "mean",
        ],
    ),
    (
        &["throughput", "request_rate", "mean"],
        &["successes", "throughput", "requests_per_sec"],
    ),
    (
        &["throughput", "input_token_rate", "mean"],
        &["successes", "throughput", "input_tokens_per_sec"],
    ),
    (
        &["throughput", "output_token_rate", "mean"],
        &["successes", "throughput", "output_tokens_per_sec"],
    ),
    (
        &["throughput", "total_token_rate", "mean"],
        &["successes", "throughput", "total_tokens_per_sec"],
    ),
];

/// A run time's start and end may differ from its duration by this much (seconds).
const DURATION_TOLERANCE: f64 = 1e-3;

/// Schema problems of one report, by path.
#[derive(Default)]
struct Schema(Vec<String>);

impl Schema {
    fn object<'a>(
        &mut self,
        path: &str,
        value: &'a Value,
        allowed: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        let Value::Object(map) = value else {
            self.0.push(format!("{path}: expected an object"));
            return None;
        };
        for key in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.0
                .push(format!("{path}.{key}: extra field not permitted"));
        }
        Some(map)
    }

    /// An optional object: absent and null are allowed.
    fn optional<'a>(
        &mut self,
        path: &str,
        map: &'a Map<String, Value>,
        key: &str,
        allowed: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => self.object(&format!("{path}.{key}"), value, allowed),
        }
    }

    fn statistics(&mut self, path: &str, map: &Map<String, Value>, fields: &[(&str, &[&str])]) {
        for (key, units) in fields {
            let Some(block) = map.get(*key).filter(|v| !v.is_null()) else {
                continue;
            };
            let path = format!("{path}.{key}");
            let Value::Object(block) = block else {
                self.0.push(format!("{path}: expected an object"));
                continue;
            };
            match block.get("units").and_then(Value::as_str) {
                Some(unit) if units.contains(&unit) => {}
                Some(unit) => self.0.push(format!(
                    "{path}.units: invalid units \"{unit}\", must be one of: {}",
                    units.join(" ")
                )),
                None => self.0.push(format!("{path}.units: field required")),
            }
            if number(block.get("mean")).is_none() {
                self.0.push(format!("{path}.mean: a number is required"));
            }
            if number(block.get("stddev")).is_some_and(|s| s < 0.0) {
                self.0
                    .push(format!("{path}.stddev: must be greater than or equal to 0"));
            }
        }
    }

    fn count(&mut self, path: &str, map: &Map<String, Value>, key: &str, required: bool) {
        match map.get(key) {
            None | Some(Value::Null) if !required => {}
            None => self.0.push(format!("{path}.{key}: field required")),
            // pydantic takes 16.0 for 16.
            Some(v) if v.as_f64().is_some_and(|n| n >= 0.0 && n.fract() == 0.0) => {}
            Some(_) => self
                .0
                .push(format!("{path}.{key}: a whole number >= 0 is required")),
        }
    }

    fn time(&mut self, path: &str, map: &Map<String, Value>, key: &str) {
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if parse_timestamp(s).is_some() => {}
            Some(_) => self.0.push(format!(
                "{path}.{key}: an ISO 8601 date and time is required"
            )),
        }
    }

    fn check(report: &Value) -> Vec<String> {
        let mut schema = Schema::default();
        let Some(root) = schema.object("report", report, ROOT) else {
            return schema.0;
        };
        if root.get("version").is_some_and(|v| !v.is_string()) {
            schema.0.push("report.version: a string is required".into());
        }
        match root.get("run") {
            None => schema.0.push("report.run: field required".into()),
            Some(run) => {
                if let Some(run) = schema.object("report.run", run, RUN) {
                    if !run.get("uid").is_some_and(Value::is_string) {
                        schema.0.push("report.run.uid: a string is required".into());
                    }
                    if let Some(time) = schema.optional("report.run", run, "time", RUN_TIME) {
                        schema.time("report.run.time", time, "start");
                        schema.time("report.run.time", time, "end");
                    }
                }
            }
        }
        let Some(results) = root.get("results") else {
            schema.0.push("report.results: field required".into());
            return schema.0;
        };
        let Some(results) = schema.object("report.results", results, RESULTS) else {
            return schema.0;
        };
        let path = "report.results.request_performance";
        let Some(performance) = schema.optional(
            "report.results",
            results,
            "request_performance",
            REQUEST_PERFORMANCE,
        ) else {
            return schema.0;
        };
        let Some(aggregate) = schema.optional(path, performance, "aggregate", AGGREGATE) else {
            return schema.0;
        };
        let path = format!("{path}.aggregate");
        if let Some(requests) = schema.optional(&path, aggregate, "requests", REQUESTS) {
            let path = format!("{path}.requests");
            schema.count(&path, requests, "total", true);
            schema.count(&path, requests, "failures", false);
            schema.count(&path, requests, "incomplete", false);
            schema.statistics(&path, requests, REQUEST_STATISTICS);
        }
        let latency_keys: Vec<&str> = LATENCY.iter().map(|(k, _)| *k).collect();
        if let Some(latency) = schema.optional(&path, aggregate, "latency", &latency_keys) {
            schema.statistics(&format!("{path}.latency"), latency, LATENCY);
        }
        let throughput_keys: Vec<&str> = THROUGHPUT.iter().map(|(k, _)| *k).collect();
        if let Some(throughput) = schema.optional(&path, aggregate, "throughput", &throughput_keys)
        {
            schema.statistics(&format!("{path}.throughput"), throughput, THROUGHPUT);
        }
        schema.0
    }
}

/// An ISO 8601 date and time as Python's `datetime.fromisoformat` reads it, in microseconds
/// since the epoch (a time without a zone is UTC).
fn parse_timestamp(text: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
    .or_else(|| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)
    })?;
    Some(naive.and_utc().timestamp_micros())
}

/// `PT12.5S` in seconds.
fn parse_duration(value: Option<&Value>) -> Option<f64> {
    let seconds = value?.as_str()?.strip_prefix("PT")?.strip_suffix('S')?;
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(whole) && digits(fraction)) {
        return None;
    }
    seconds.parse().ok()
}

/// Paths of every null in `node` (`<root>` for the root itself).
fn nulls(node: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(node, String::new(), &mut |path, value| {
        if value.is_null() {
            found.push(if path.is_empty() { "<root>" } else { path }.to_string());
        }
    });
    found
}

pub fn validate(set: &ReportSet<'_>, into: &mut Validation) {
    let partials = set.partial_reports();
    if partials.is_empty() {
        return;
    }
    for (_, name, _) in &partials {
        into.cover(name);
    }
    let error = |check: &str, name: &str, message: String| {
        Finding::new(
            &format!("br_partial.{check}"),
            Severity::Error,
            message,
            Some(name),
        )
    };
    let mut valid = Vec::new();
    for (id, name, contents) in &partials {
        let problems = Schema::check(contents);
        if problems.is_empty() {
            valid.push((*id, name.as_str(), *contents));
        } else {
            let message = format!(
                "does not validate as a BR {BENCHMARK_REPORT_VERSION} document: {}",
                problems.join("; ")
            );
            into.add(error("schema", name, message));
        }
    }
    for (_, name, contents) in &partials {
        let version = contents.get("version").unwrap_or(&Value::Null);
        if version.as_str() != Some(BENCHMARK_REPORT_VERSION) {
            let message = format!(
                "declares version {}, expected '{BENCHMARK_REPORT_VERSION}'",
                python_repr(version)
            );
            into.add(error("version", name, message));
        }
    }
    for (_, name, contents) in &partials {
        let found = nulls(contents);
        if !found.is_empty() {
            let sample: Vec<&str> = found.iter().take(5).map(String::as_str).collect();
            let message = format!(
                "{} null value(s) would clobber composer data on merge: {}",
                found.len(),
                sample.join(", ")
            );
            into.add(error("nulls", name, message));
        }
    }
    for (_, name, contents) in &valid {
        into.extend(distribution_findings(
            name,
            contents,
            "br_partial.distributions",
            &[],
        ));
    }
    for (_, name, contents) in &valid {
        let Some(time) = get(contents, &["run", "time"]).filter(|t| t.is_object()) else {
            continue;
        };
        let duration = parse_duration(time.get("duration"));
        let at = |key: &str| {
            time.get(key)
                .and_then(Value::as_str)
                .and_then(parse_timestamp)
        };
        let (Some(duration), Some(start), Some(end)) = (duration, at("start"), at("end")) else {
            continue;
        };
        // As Python's timedelta counts: whole microseconds.
        let span = (end - start) as f64 / 1e6;
        if (duration - span).abs() > DURATION_TOLERANCE {
            let message = format!(
                "run.time.duration ({}s) disagrees with its own start/end window ({}s)",
                float_repr(duration),
                float_repr(span)
            );
            into.add(error("run_time", name, message));
        }
    }
    let stages = set.stage_reports();
    for (id, name, contents) in &valid {
        let Some(stage) = stages
            .iter()
            .find(|(stage_id, _, _)| stage_id == id)
            .map(|(_, _, contents)| *contents)
            .filter(|s| s.is_object())
        else {
            continue;
        };
        let Some(aggregate) = get(contents, &["results", "request_performance", "aggregate"])
            .filter(|a| a.is_object())
        else {
            continue;
        };
        for (br_path, stage_path) in AGREEMENT {
            let (Some(br), Some(native)) = (
                get(aggregate, br_path).filter(|v| v.is_number()),
                get(stage, stage_path).filter(|v| v.is_number()),
            ) else {
                continue;
            };
            if !approx_eq(
                br.as_f64().unwrap_or_default(),
                native.as_f64().unwrap_or_default(),
            ) {
                let message = format!(
                    "aggregate.{} ({}) disagrees with the stage lifecycle {} ({}) — the BR adapter and the native report math have drifted apart",
                    br_path.join("."),
                    python_str(br),
                    stage_path.join("."),
                    python_str(native)
                );
                into.add(error("lifecycle_agreement", name, message));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_and_durations_as_python_reads_them() {
        let z = parse_timestamp("2026-12-05T10:00:00.5Z").unwrap();
        assert_eq!(parse_timestamp("2026-12-05T10:00:00.500000+00:00"), Some(z));
        assert_eq!(parse_timestamp("2026-12-05T10:00:00.5"), Some(z));
        assert_eq!(parse_timestamp("2026-12-05"), Some(z - 36_000_500_000));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_duration(Some(&json!("PT12.5S"))), Some(12.5));
        assert_eq!(parse_duration(Some(&json!("PT12S"))), Some(12.0));
        for bad in ["PT.5S", "PT1.S", "P1D", "12.5"] {
            assert_eq!(parse_duration(Some(&json!(bad))), None, "{bad}");
        }
    }

    #[test]
    fn the_schema_names_each_problem_by_path() {
        let report = json!({
            "version": "0.2.1",
            "run": {"eid": "e", "colour": "red"},
            "results": {"request_performance": {"aggregate": {
                "requests": {"total": -1},
                "latency": {"request_latency": {"units": "s/token", "mean": 1.0, "stddev": -1}},
                "throughput": {"request_rate": {"units": "queries/s"}},
            }}},
        });
        assert_eq!(
            Schema::check(&report),
            vec![
                "report.run.colour: extra field not permitted",
                "report.run.uid: a string is required",
                "report.results.request_performance.aggregate.requests.total: a whole number >= 0 is required",
                "report.results.request_performance.aggregate.latency.request_latency.units: invalid units \"s/token\", must be one of: ms s",
                "report.results.request_performance.aggregate.latency.request_latency.stddev: must be greater than or equal to 0",
                "report.results.request_performance.aggregate.throughput.request_rate.mean: a number is required",
            ]
        );
    }
}
