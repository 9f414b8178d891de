//! The PromQL text of each figure, character for character as inference-perf 0.7.0 writes it,
//! so that a dashboard or a recorded query log compares one to one.

use super::catalog::{MetricKind, MetricSpec};

/// The queries of one metric over a window of `duration` seconds, in the order
/// [`MetricValue::from_results`](super::MetricValue::from_results) reads their results.
/// `filters` are label matchers, joined with commas inside the selector's braces.
pub fn queries(spec: &MetricSpec, duration: f64, filters: &[String]) -> Vec<String> {
    let f = filters.join(",");
    // Python's `f"{duration:.0f}"`: both round the exact binary value half to even.
    let d = format!("{duration:.0}s");
    let m = spec.name;
    match spec.kind {
        MetricKind::Counter => {
            let spanning = |function: &str| counter_selector(function, m, &f, &d);
            vec![
                format!("sum({})", spanning("increase")),
                format!("avg_over_time(({})[{d}:{d}])", spanning("rate")),
                format!("sum({})", spanning("rate")),
            ]
        }
        MetricKind::Gauge => vec![
            format!("avg_over_time({m}{{{f}}}[{d}])"),
            format!("quantile_over_time(0.5, {m}{{{f}}}[{d}])"),
            format!("quantile_over_time(0.9, {m}{{{f}}}[{d}])"),
            format!("quantile_over_time(0.99, {m}{{{f}}}[{d}])"),
        ],
        MetricKind::Histogram => {
            let quantile = |q: &str| {
                format!("histogram_quantile({q}, sum(rate({m}_bucket{{{f}}}[{d}])) by (le))")
            };
            vec![
                format!("sum(rate({m}_sum{{{f}}}[{d}])) / (sum(rate({m}_count{{{f}}}[{d}])) > 0)"),
                quantile("0.5"),
                quantile("0.9"),
                quantile("0.99"),
                format!("sum(rate({m}_count{{{f}}}[{d}]))"),
            ]
        }
    }
}

/// A counter is stored as `name_total` by current exporters and as `name` by older ones: both
/// exact names are queried, joined with `or`, since Google Managed Prometheus refuses regular
/// expressions on `__name__`. A histogram's `_count`/`_sum`/`_bucket` never takes `_total`.
fn counter_selector(function: &str, name: &str, filters: &str, duration: &str) -> String {
    let base = name.strip_suffix("_total").unwrap_or(name);
    if ["_count", "_sum", "_bucket"]
        .iter()
        .any(|suffix| base.ends_with(suffix))
    {
        return format!("{function}({base}{{{filters}}}[{duration}])");
    }
    format!(
        "{function}({base}_total{{{filters}}}[{duration}]) or {function}({base}{{{filters}}}[{duration}])"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerType;
    use crate::server_metrics::catalog::catalog;

    fn spec(field: &str) -> MetricSpec {
        *catalog(ServerType::Vllm)
            .iter()
            .find(|s| s.field == field)
            .unwrap()
    }

    #[test]
    fn a_window_is_rounded_half_to_even_like_python() {
        let q = |d: f64| queries(&spec("queue_length"), d, &[])[0].clone();
        assert_eq!(q(2.5), "avg_over_time(vllm:num_requests_waiting{}[2s])");
        assert_eq!(q(3.5), "avg_over_time(vllm:num_requests_waiting{}[4s])");
        assert_eq!(q(17.49), "avg_over_time(vllm:num_requests_waiting{}[17s])");
    }

    #[test]
    fn a_counter_over_a_histogram_count_keeps_one_name() {
        let sglang = catalog(ServerType::Sglang)
            .iter()
            .find(|s| s.field == "requests")
            .unwrap();
        assert_eq!(
            queries(sglang, 10.0, &["a='b'".into()])[0],
            "sum(increase(sglang:e2e_request_latency_seconds_count{a='b'}[10s]))"
        );
        let tokens = catalog(ServerType::Sglang)
            .iter()
            .find(|s| s.field == "prompt_tokens")
            .unwrap();
        assert_eq!(
            queries(tokens, 10.0, &[])[2],
            "sum(rate(sglang:prompt_tokens_total{}[10s]) or rate(sglang:prompt_tokens{}[10s]))"
        );
    }
}
