//! `status.stages[*].server`: each stage's model-server figures, read from the server-metrics
//! report files runner 0 delivered (`stage_{i}_prometheus_metrics`, and the maxima from
//! `server_metrics_timeseries` when the runner scraped the servers itself).

use std::collections::BTreeMap;

use ibench_core::report::ReportFile;
use ibench_core::server_metrics::timeseries::TIMESERIES_FILE;
use serde_json::Value;

use crate::crd::ServerStageStats;

/// Longest `error` kept in the status; the report file has every cause.
const MAX_ERROR_CHARS: usize = 1000;

/// Per stage id, what the servers reported over it.
pub fn server_stages(files: &[ReportFile]) -> BTreeMap<i32, ServerStageStats> {
    let timeseries = files
        .iter()
        .find(|f| f.name == TIMESERIES_FILE)
        .map(|f| &f.contents);
    files
        .iter()
        .filter_map(|file| {
            let id: i32 = file
                .name
                .strip_prefix("stage_")?
                .strip_suffix("_prometheus_metrics")?
                .parse()
                .ok()?;
            Some((id, stage(id, &file.contents, timeseries)))
        })
        .collect()
}

fn stage(id: i32, report: &Value, timeseries: Option<&Value>) -> ServerStageStats {
    let successes = &report["successes"];
    let figure = |metric: &str, key: &str| successes[metric][key].as_f64().unwrap_or(0.0);
    let highest = |field: &str| timeseries.and_then(|series| stage_max(series, id, field));
    let error = report["errors"]
        .as_array()
        .filter(|e| !e.is_empty())
        .map(|errors| {
            let text = errors
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ");
            truncate(&text, MAX_ERROR_CHARS)
        });
    ServerStageStats {
        requests: successes["count"].as_f64().unwrap_or(0.0),
        queue_length_mean: figure("queue_len", "mean"),
        queue_length_max: highest("queue_length"),
        running_mean: figure("num_requests_running", "mean"),
        kv_cache_usage_p99: figure("kv_cache_usage_percentage", "p99"),
        kv_cache_usage_max: highest("kv_cache_usage"),
        preemptions: figure("num_preemptions_total", "mean"),
        queue_time_p99_ms: figure("request_queue_time", "p99") * 1000.0,
        error,
    }
}

/// The largest value of `field` among the scrapes within stage `id`.
fn stage_max(series: &Value, id: i32, field: &str) -> Option<f64> {
    let stage = series["stages"]
        .as_array()?
        .iter()
        .find(|s| s["stage_id"].as_i64() == Some(i64::from(id)))?;
    let (start, end) = (stage["start_time"].as_f64()?, stage["end_time"].as_f64()?);
    series["points"]
        .as_array()?
        .iter()
        .filter(|p| p["time"].as_f64().is_some_and(|t| t >= start && t <= end))
        .filter_map(|p| p[field].as_f64())
        .reduce(f64::max)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(name: &str, contents: Value) -> ReportFile {
        ReportFile {
            name: name.into(),
            contents,
        }
    }

    fn stage_report(count: f64, queue: f64, errors: Option<Vec<&str>>) -> Value {
        let mut report = json!({"successes": {
            "count": count,
            "queue_len": {"mean": queue},
            "num_requests_running": {"mean": 7.5},
            "kv_cache_usage_percentage": {"mean": 0.2, "p99": 0.61},
            "num_preemptions_total": {"mean": 3.0},
            "request_queue_time": {"p99": 0.25},
        }});
        if let Some(errors) = errors {
            report["errors"] = json!(errors);
        }
        report
    }

    #[test]
    fn each_stage_file_becomes_its_stage_figures() {
        let series = json!({
            "stages": [
                {"stage_id": 0, "start_time": 100.0, "end_time": 110.0},
                {"stage_id": 1, "start_time": 110.0, "end_time": 120.0},
            ],
            "points": [
                {"time": 99.0, "queue_length": 50.0},
                {"time": 101.0, "queue_length": 0.0, "kv_cache_usage": 0.1},
                {"time": 109.0, "queue_length": 2.0, "kv_cache_usage": 0.3},
                {"time": 115.0, "queue_length": 12.0, "kv_cache_usage": 0.9},
                {"time": 121.0, "queue_length": 40.0},
            ],
        });
        let files = [
            file("summary_prometheus_metrics", stage_report(300.0, 4.0, None)),
            file("stage_0_prometheus_metrics", stage_report(20.0, 0.0, None)),
            file(
                "stage_1_prometheus_metrics",
                stage_report(280.0, 8.25, Some(vec!["a: HTTP 500", "b: timed out"])),
            ),
            file(TIMESERIES_FILE, series),
        ];
        let stages = server_stages(&files);
        assert_eq!(stages.keys().copied().collect::<Vec<_>>(), [0, 1]);
        let first = &stages[&0];
        assert_eq!(first.requests, 20.0);
        assert_eq!(
            first.queue_length_max,
            Some(2.0),
            "scrapes outside the stage do not count"
        );
        assert_eq!(first.kv_cache_usage_max, Some(0.3));
        assert_eq!(first.error, None);
        let second = &stages[&1];
        assert_eq!(
            (second.queue_length_mean, second.queue_length_max),
            (8.25, Some(12.0))
        );
        assert_eq!(
            (second.running_mean, second.kv_cache_usage_p99),
            (7.5, 0.61)
        );
        assert_eq!((second.preemptions, second.queue_time_p99_ms), (3.0, 250.0));
        assert_eq!(second.error.as_deref(), Some("a: HTTP 500; b: timed out"));
    }

    #[test]
    fn without_scrapes_there_are_no_maxima_and_long_errors_are_cut() {
        let long = "x".repeat(5000);
        let stages = server_stages(&[file(
            "stage_3_prometheus_metrics",
            stage_report(1.0, 0.5, Some(vec![&long])),
        )]);
        let stage = &stages[&3];
        assert_eq!(
            (stage.queue_length_max, stage.kv_cache_usage_max),
            (None, None)
        );
        assert_eq!(
            stage.error.as_ref().unwrap().chars().count(),
            MAX_ERROR_CHARS + 1
        );
    }
}
