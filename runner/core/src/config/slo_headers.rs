//! inference-perf's per-request SLO headers: `api.headers` may carry each streamed request's
//! time-to-first-token and time-per-output-token objectives (`x-slo-ttft-ms: 200`, for an
//! SLO-aware router and for goodput). They override `report.goodput.constraints` for the
//! streamed requests, as in inference-perf's goodput; every request here carries the same
//! headers, so they become the run's goodput constraints, and the goodput report, the SLO
//! verdict's `goodput_ratio` and the operator all follow. Without streaming they are only
//! sent (inference-perf's goodput ignores them then too).

use super::error::Issue;
use super::types::{ApiConfig, Config, GoodputConfig};

/// Folds the SLO headers into `report.goodput.constraints`; issues for a unit or a value that
/// cannot be read (inference-perf would silently take an unknown unit as seconds and skip an
/// unreadable value).
pub fn apply_slo_headers(config: &mut Config) -> Vec<Issue> {
    let (ttft, tpot, issues) = objectives(&config.api);
    if config.api.streaming && (ttft.is_some() || tpot.is_some()) {
        let constraints = &mut config
            .report
            .goodput
            .get_or_insert_with(GoodputConfig::default)
            .constraints;
        constraints.ttft = ttft.or(constraints.ttft);
        constraints.tpot = tpot.or(constraints.tpot);
    }
    issues
}

/// The time-to-first-token and time-per-output-token objectives the headers carry, in
/// seconds (a config that passed validation reads without issues).
pub fn slo_header_objectives(api: &ApiConfig) -> (Option<f64>, Option<f64>) {
    let (ttft, tpot, _) = objectives(api);
    (ttft, tpot)
}

fn objectives(api: &ApiConfig) -> (Option<f64>, Option<f64>, Vec<Issue>) {
    let mut issues = Vec::new();
    let unit = api.slo_unit.as_deref().unwrap_or("ms");
    let Some(seconds_per_unit) = seconds_per(unit) else {
        issues.push(Issue::new(
            "api.slo_unit",
            format!("{unit:?} is not a unit of the SLO headers: s, ms or us"),
        ));
        return (None, None, issues);
    };
    let named = |configured: &Option<String>, metric: &str| {
        configured
            .clone()
            .unwrap_or_else(|| format!("x-slo-{metric}-{}", unit.to_lowercase()))
    };
    let headers = api.headers.clone().unwrap_or_default();
    let mut objective = |header: String| -> Option<f64> {
        let (name, value) = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&header))?;
        if value == "default" {
            return None;
        }
        match value.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Some(v * seconds_per_unit),
            _ => {
                issues.push(Issue::new(
                    format!("api.headers.{name}"),
                    format!("{value:?} is not an objective in {unit} (a number >= 0, or default)"),
                ));
                None
            }
        }
    };
    let ttft = objective(named(&api.slo_ttft_header, "ttft"));
    let tpot = objective(named(&api.slo_tpot_header, "tpot"));
    (ttft, tpot, issues)
}

fn seconds_per(unit: &str) -> Option<f64> {
    match unit.to_lowercase().as_str() {
        "s" => Some(1.0),
        "ms" => Some(1e-3),
        "us" => Some(1e-6),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::config::{Config, from_document};

    fn config(api: serde_json::Value, report: serde_json::Value) -> Result<Config, Vec<String>> {
        from_document(json!({
            "server": {"base_url": "http://127.0.0.1:8000"},
            "load": {"stages": [{"rate": 2, "duration": 1}]},
            "api": api,
            "report": report,
        }))
        .map_err(|e| e.issues().iter().map(ToString::to_string).collect())
    }

    #[test]
    fn header_objectives_override_the_goodput_constraints_of_streamed_requests() {
        let c = config(
            json!({"streaming": true, "headers": {"X-SLO-TTFT-MS": "200", "x-slo-tpot-ms": "default"}}),
            json!({"goodput": {"constraints": {"ttft": 1.0, "tpot": 0.05, "request_latency": 9}}}),
        )
        .unwrap();
        let constraints = c.report.goodput.unwrap().constraints;
        assert_eq!(constraints.ttft, Some(0.2), "the header, in ms");
        assert_eq!(constraints.tpot, Some(0.05), "default keeps the constraint");
        assert_eq!(constraints.request_latency, Some(9.0));

        // Named headers and units; goodput without report.goodput.
        let c = config(
            json!({"streaming": true, "slo_unit": "us", "slo_tpot_header": "x-tpot",
                   "headers": {"x-tpot": "30000"}}),
            json!({}),
        )
        .unwrap();
        let constraints = c.report.goodput.unwrap().constraints;
        assert_eq!((constraints.ttft, constraints.tpot), (None, Some(0.03)));

        // Not streamed: the headers are only sent.
        let c = config(json!({"headers": {"x-slo-ttft-ms": "200"}}), json!({})).unwrap();
        assert!(c.report.goodput.is_none());
        assert_eq!(c.api.headers.unwrap()["x-slo-ttft-ms"], "200");
    }

    #[test]
    fn an_unknown_unit_or_an_unreadable_value_names_its_field() {
        let unit = config(json!({"streaming": true, "slo_unit": "sec"}), json!({})).unwrap_err();
        assert_eq!(
            unit,
            ["api.slo_unit: \"sec\" is not a unit of the SLO headers: s, ms or us"]
        );
        let value = config(
            json!({"streaming": true, "headers": {"x-slo-ttft-ms": "fast"}}),
            json!({}),
        )
        .unwrap_err();
        assert_eq!(
            value,
            [
                "api.headers.x-slo-ttft-ms: \"fast\" is not an objective in ms (a number >= 0, or default)"
            ]
        );
    }

    #[test]
    fn a_goodput_ratio_objective_can_rest_on_the_headers_alone() {
        let c = config(
            json!({"streaming": true, "headers": {"x-slo-ttft-ms": "200"}}),
            json!({"slo": {"thresholds": [{"metric": "goodput_ratio", "min": 0.9}]}}),
        );
        assert!(c.is_ok(), "{c:?}");
    }
}
