//! `summary_prometheus_metrics.json` / `stage_{i}_prometheus_metrics.json`: inference-perf's
//! `summarize_prometheus_metrics`, key for key.

use serde_json::{Value, json};

use super::ServerMetrics;

/// The report of one window. `errors` (ours) is present only when something could not be
/// measured, so that a zero is never mistaken for a measurement.
pub fn summarize(m: &ServerMetrics) -> Value {
    let four = |field: &str| {
        let v = m.get(field);
        json!({"mean": v.avg, "median": v.median, "p90": v.p90, "p99": v.p99})
    };
    let total = |field: &str| m.get(field).total;
    let percent = |hits: &str, queries: &str| {
        let (hits, queries) = (total(hits), total(queries));
        json!({"mean": if queries > 0.0 { hits / queries * 100.0 } else { 0.0 }})
    };
    let successes = json!({
        "count": total("requests"),
        "rate": m.get("requests").per_second,
        "prompt_len": {"mean": m.get("prompt_tokens").avg, "rate": m.get("prompt_tokens").per_second},
        "output_len": {"mean": m.get("output_tokens").avg, "rate": m.get("output_tokens").per_second},
        "queue_len": {"mean": m.get("queue_length").avg},
        "request_latency": four("request_latency"),
        "time_to_first_token": four("time_to_first_token"),
        "time_per_output_token": four("time_per_output_token"),
        "kv_cache_usage_percentage": four("kv_cache_usage"),
        "num_requests_swapped": {"mean": total("num_requests_swapped")},
        "num_preemptions_total": {"mean": total("num_preemptions_total")},
        "prefix_cache_hit_percent": percent("prefix_cache_hits", "prefix_cache_queries"),
        "inter_token_latency": four("inter_token_latency"),
        "num_requests_running": {"mean": m.get("num_requests_running").avg},
        "request_queue_time": four("request_queue_time"),
        "request_inference_time": four("request_inference_time"),
        "request_prefill_time": four("request_prefill_time"),
        "request_decode_time": four("request_decode_time"),
        "request_prompt_tokens": four("request_prompt_tokens"),
        "request_generation_tokens": four("request_generation_tokens"),
        "request_max_num_generation_tokens": four("request_max_num_generation_tokens"),
        "request_params_n": four("request_params_n"),
        "request_params_max_tokens": four("request_params_max_tokens"),
        "request_success_count": total("request_success_count"),
        "iteration_tokens": four("iteration_tokens"),
        "prompt_tokens_cached": total("prompt_tokens_cached"),
        "external_prefix_cache_hit_percent":
            percent("external_prefix_cache_hits", "external_prefix_cache_queries"),
        "mm_cache_hit_percent": percent("mm_cache_hits", "mm_cache_queries"),
        "corrupted_requests": total("corrupted_requests"),
        "request_prefill_kv_computed_tokens": four("request_prefill_kv_computed_tokens"),
        "kv_block_idle_before_evict": four("kv_block_idle_before_evict"),
        "kv_block_lifetime": four("kv_block_lifetime"),
        "kv_block_reuse_gap": four("kv_block_reuse_gap"),
    });
    let mut report = json!({
        "benchmark_time_seconds": 0.0,
        "load_summary": {},
        "successes": successes,
        "failures": {},
    });
    if !m.errors.is_empty() {
        report["errors"] = json!(m.errors);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_metrics::MetricValue;

    #[test]
    fn figures_land_under_inference_perfs_keys() {
        let mut m = ServerMetrics::default();
        m.values.insert(
            "requests",
            MetricValue {
                total: 40.0,
                per_second: 2.0,
                ..Default::default()
            },
        );
        m.values.insert(
            "prefix_cache_hits",
            MetricValue {
                total: 1.0,
                ..Default::default()
            },
        );
        m.values.insert(
            "prefix_cache_queries",
            MetricValue {
                total: 4.0,
                ..Default::default()
            },
        );
        m.values.insert(
            "kv_cache_usage",
            MetricValue {
                avg: 0.5,
                p99: 0.9,
                ..Default::default()
            },
        );
        let report = summarize(&m);
        assert_eq!(report["successes"]["count"], 40.0);
        assert_eq!(report["successes"]["rate"], 2.0);
        assert_eq!(
            report["successes"]["prefix_cache_hit_percent"]["mean"],
            25.0
        );
        assert_eq!(report["successes"]["mm_cache_hit_percent"]["mean"], 0.0);
        assert_eq!(report["successes"]["kv_cache_usage_percentage"]["p99"], 0.9);
        let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "benchmark_time_seconds",
                "load_summary",
                "successes",
                "failures"
            ]
        );
        m.errors.push("vllm:x: connection refused".into());
        assert_eq!(summarize(&m)["errors"][0], "vllm:x: connection refused");
    }
}
