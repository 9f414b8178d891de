//! Which metric each model server exports for each figure of the server-side report: the same
//! tables as inference-perf 0.7.0's model-server clients, in the same order.

use crate::config::ServerType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// How a gauge exported by several series (one per server pod) becomes one value per scrape
/// when scraped directly. A Prometheus query takes its first series instead (inference-perf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fleet {
    /// Requests waiting or running: the fleet's total.
    Sum,
    /// A fraction per server (KV-cache usage): the servers' mean.
    Mean,
}

/// One figure of the report and the metric it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSpec {
    /// inference-perf's `ModelServerMetrics` field.
    pub field: &'static str,
    pub kind: MetricKind,
    /// The exported name (a counter may be exported with or without `_total`).
    pub name: &'static str,
    pub fleet: Fleet,
}

impl MetricSpec {
    /// The sample names this metric is read from: a counter under its name with and without
    /// `_total` (as [`promql`](super::promql) queries it; a counter named like a histogram's
    /// part has no `_total` form), a histogram from its buckets, sum and count.
    pub fn sample_names(&self) -> Vec<String> {
        match self.kind {
            MetricKind::Gauge => vec![self.name.to_string()],
            MetricKind::Counter => {
                let base = self.name.strip_suffix("_total").unwrap_or(self.name);
                if ["_count", "_sum", "_bucket"]
                    .iter()
                    .any(|s| base.ends_with(s))
                {
                    vec![base.to_string()]
                } else {
                    vec![format!("{base}_total"), base.to_string()]
                }
            }
            MetricKind::Histogram => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|suffix| format!("{}{suffix}", self.name))
                .collect(),
        }
    }

    /// The sample names of the one number per scrape a time series shows: the gauge's value,
    /// the counter's running total, the histogram's count of observations.
    pub fn value_names(&self) -> Vec<String> {
        match self.kind {
            MetricKind::Histogram => vec![format!("{}_count", self.name)],
            _ => self.sample_names(),
        }
    }
}

const fn counter(field: &'static str, name: &'static str) -> MetricSpec {
    MetricSpec {
        field,
        kind: MetricKind::Counter,
        name,
        fleet: Fleet::Sum,
    }
}
const fn gauge(field: &'static str, name: &'static str, fleet: Fleet) -> MetricSpec {
    MetricSpec {
        field,
        kind: MetricKind::Gauge,
        name,
        fleet,
    }
}
const fn histogram(field: &'static str, name: &'static str) -> MetricSpec {
    MetricSpec {
        field,
        kind: MetricKind::Histogram,
        name,
        fleet: Fleet::Sum,
    }
}

const VLLM: &[MetricSpec] = &[
    counter("prompt_tokens", "vllm:prompt_tokens"),
    counter("output_tokens", "vllm:generation_tokens"),
    counter("requests", "vllm:request_success"),
    histogram("request_latency", "vllm:e2e_request_latency_seconds"),
    gauge("queue_length", "vllm:num_requests_waiting", Fleet::Sum),
    histogram(
        "time_per_output_token",
        "vllm:request_time_per_output_token_seconds",
    ),
    gauge(
        "num_requests_running",
        "vllm:num_requests_running",
        Fleet::Sum,
    ),
    histogram("time_to_first_token", "vllm:time_to_first_token_seconds"),
    histogram("inter_token_latency", "vllm:inter_token_latency_seconds"),
    counter("request_success_count", "vllm:request_success"),
    gauge("kv_cache_usage", "vllm:kv_cache_usage_perc", Fleet::Mean),
    counter("num_preemptions_total", "vllm:num_preemptions"),
    counter("prefix_cache_hits", "vllm:prefix_cache_hits"),
    counter("prefix_cache_queries", "vllm:prefix_cache_queries"),
    histogram("request_queue_time", "vllm:request_queue_time_seconds"),
    histogram(
        "request_inference_time",
        "vllm:request_inference_time_seconds",
    ),
    histogram("request_prefill_time", "vllm:request_prefill_time_seconds"),
    histogram("request_decode_time", "vllm:request_decode_time_seconds"),
    histogram("request_prompt_tokens", "vllm:request_prompt_tokens"),
    histogram(
        "request_generation_tokens",
        "vllm:request_generation_tokens",
    ),
    histogram(
        "request_max_num_generation_tokens",
        "vllm:request_max_num_generation_tokens",
    ),
    histogram("request_params_n", "vllm:request_params_n"),
    histogram(
        "request_params_max_tokens",
        "vllm:request_params_max_tokens",
    ),
    histogram("iteration_tokens", "vllm:iteration_tokens_total"),
    counter("prompt_tokens_cached", "vllm:prompt_tokens_cached"),
    counter(
        "external_prefix_cache_hits",
        "vllm:external_prefix_cache_hits",
    ),
    counter(
        "external_prefix_cache_queries",
        "vllm:external_prefix_cache_queries",
    ),
    counter("mm_cache_hits", "vllm:mm_cache_hits"),
    counter("mm_cache_queries", "vllm:mm_cache_queries"),
    counter("corrupted_requests", "vllm:corrupted_requests"),
    histogram(
        "request_prefill_kv_computed_tokens",
        "vllm:request_prefill_kv_computed_tokens",
    ),
    histogram(
        "kv_block_idle_before_evict",
        "vllm:kv_block_idle_before_evict_seconds",
    ),
    histogram("kv_block_lifetime", "vllm:kv_block_lifetime_seconds"),
    histogram("kv_block_reuse_gap", "vllm:kv_block_reuse_gap_seconds"),
];

const SGLANG: &[MetricSpec] = &[
    counter("prompt_tokens", "sglang:prompt_tokens_total"),
    counter("output_tokens", "sglang:generation_tokens_total"),
    counter("requests", "sglang:e2e_request_latency_seconds_count"),
    histogram("request_latency", "sglang:e2e_request_latency_seconds"),
    gauge("queue_length", "sglang:num_queue_reqs", Fleet::Sum),
    histogram(
        "time_per_output_token",
        "sglang:time_per_output_token_seconds",
    ),
    histogram("time_to_first_token", "sglang:time_to_first_token_seconds"),
    histogram("inter_token_latency", "sglang:inter_token_latency_seconds"),
    gauge("kv_cache_usage", "sglang:token_usage", Fleet::Mean),
];

const TGI: &[MetricSpec] = &[
    histogram("prompt_tokens", "tgi_request_input_length"),
    histogram("output_tokens", "tgi_request_generated_tokens"),
    counter("requests", "tgi_request_success"),
    histogram("request_latency", "tgi_request_duration"),
    gauge("queue_length", "tgi_queue_size", Fleet::Sum),
    histogram(
        "time_per_output_token",
        "tgi_request_mean_time_per_token_duration",
    ),
];

/// The metrics a server type exports; none for `mock`, which has no metrics endpoint.
pub fn catalog(server: ServerType) -> &'static [MetricSpec] {
    match server {
        ServerType::Vllm => VLLM,
        ServerType::Sglang => SGLANG,
        ServerType::Tgi => TGI,
        ServerType::Mock => &[],
    }
}

/// The label matchers of every query: vLLM and SGLang label their metrics with the model's
/// name; TGI serves one model and has no such label.
pub fn filters(server: ServerType, model: &str, user_filters: &[String]) -> Vec<String> {
    let model_filter = match server {
        ServerType::Vllm | ServerType::Sglang => Some(format!("model_name='{model}'")),
        ServerType::Tgi | ServerType::Mock => None,
    };
    model_filter
        .into_iter()
        .chain(user_filters.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_appears_once_per_server() {
        for server in [ServerType::Vllm, ServerType::Sglang, ServerType::Tgi] {
            let specs = catalog(server);
            for (i, spec) in specs.iter().enumerate() {
                assert!(
                    specs[..i].iter().all(|other| other.field != spec.field),
                    "{server:?}: {} twice",
                    spec.field
                );
            }
            assert_eq!(specs[0].field, "prompt_tokens");
        }
        assert!(catalog(ServerType::Mock).is_empty());
    }

    #[test]
    fn sample_names_cover_every_form_a_metric_is_exported_in() {
        assert_eq!(
            counter("f", "vllm:prompt_tokens").sample_names(),
            ["vllm:prompt_tokens_total", "vllm:prompt_tokens"]
        );
        assert_eq!(
            counter("f", "tgi_request_count_total").sample_names(),
            ["tgi_request_count"]
        );
        assert_eq!(
            counter("f", "sglang:num_requests_total").sample_names(),
            ["sglang:num_requests_total", "sglang:num_requests"]
        );
        let latency = histogram("f", "vllm:e2e_request_latency_seconds");
        assert_eq!(
            latency.sample_names(),
            [
                "vllm:e2e_request_latency_seconds_bucket",
                "vllm:e2e_request_latency_seconds_sum",
                "vllm:e2e_request_latency_seconds_count"
            ]
        );
        assert_eq!(
            latency.value_names(),
            ["vllm:e2e_request_latency_seconds_count"]
        );
        let queue = gauge("f", "vllm:num_requests_waiting", Fleet::Sum);
        assert_eq!(queue.sample_names(), queue.value_names());
    }

    #[test]
    fn tgi_gets_only_the_users_filters() {
        let user = vec!["namespace=\"llm\"".to_string()];
        assert_eq!(
            filters(ServerType::Vllm, "m", &user),
            ["model_name='m'", "namespace=\"llm\""]
        );
        assert_eq!(filters(ServerType::Tgi, "m", &user), ["namespace=\"llm\""]);
    }
}
