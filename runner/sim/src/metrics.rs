//! Exact counters and histograms of served requests, exposed as Prometheus text with vLLM's
//! metric names so that tools scraping vLLM scrape the simulator unchanged.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// vLLM's bucket bounds (seconds).
const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];
const E2E_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FinishReason {
    /// Stopped at `max_tokens`.
    Length,
    /// Stopped early ("end of sequence").
    Stop,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Length => "length",
            FinishReason::Stop => "stop",
        }
    }
}

/// vLLM's bounds for time per output token and inter-token latency (seconds).
const TPOT_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];
/// vLLM's 1-2-5 bounds for token counts, up to a million.
const TOKEN_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5,
    5e5, 1e6,
];

/// Whose metric names `/metrics` uses.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum MetricsDialect {
    #[default]
    Vllm,
    Sglang,
    Tgi,
}

#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last one is +Inf.
    counts: Box<[AtomicU64]>,
    /// Sum in millionths, exact for token counts and microsecond durations.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// `times` observations of `value` (vLLM observes each inter-token gap; the simulator's
    /// gaps within a request are equal).
    fn observe_n(&self, value: f64, times: u64) {
        if times == 0 {
            return;
        }
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket].fetch_add(times, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((value * 1e6).round() as u64 * times, Ordering::Relaxed);
    }

    fn observe(&self, value: f64) {
        self.observe_n(value, 1);
    }

    fn render(&self, out: &mut String, name: &str, help: &str, labels: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            match self.bounds.get(i) {
                Some(bound) => {
                    _ = writeln!(
                        out,
                        "{name}_bucket{{le=\"{bound:?}\"{sep}{labels}}} {cumulative}.0"
                    )
                }
                None => {
                    _ = writeln!(
                        out,
                        "{name}_bucket{{le=\"+Inf\"{sep}{labels}}} {cumulative}.0"
                    )
                }
            }
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "{name}_count{{{labels}}} {cumulative}.0\n{name}_sum{{{labels}}} {sum:?}"
        );
    }
}

/// Totals over requests served to completion without a fault.
#[derive(Debug)]
pub(crate) struct Metrics {
    dialect: MetricsDialect,
    prompt_tokens: AtomicU64,
    generation_tokens: AtomicU64,
    finished_length: AtomicU64,
    finished_stop: AtomicU64,
    ttft: Histogram,
    e2e: Histogram,
    tpot: Histogram,
    itl: Histogram,
    queue_time: Histogram,
    inference_time: Histogram,
    prefill_time: Histogram,
    decode_time: Histogram,
    prompt_tokens_per_request: Histogram,
    generation_tokens_per_request: Histogram,
    max_tokens_param: Histogram,
    n_param: Histogram,
}

/// One completed request, as recorded.
pub(crate) struct Completed {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub max_tokens: usize,
    pub finish: FinishReason,
    /// Arrival to its slot (waiting in the queue).
    pub queued: Duration,
    pub ttft: Duration,
    /// Slot to first token.
    pub prefill: Duration,
    /// First token to last.
    pub decode: Duration,
    pub e2e: Duration,
}

/// Gauges read from the scheduler when rendering.
pub(crate) struct Gauges {
    pub running: usize,
    pub waiting: usize,
    /// Share of the KV cache the running requests hold, 0..=1.
    pub kv_usage: f64,
}

impl Metrics {
    pub fn new(dialect: MetricsDialect) -> Metrics {
        Metrics {
            dialect,
            prompt_tokens: AtomicU64::new(0),
            generation_tokens: AtomicU64::new(0),
            finished_length: AtomicU64::new(0),
            finished_stop: AtomicU64::new(0),
            ttft: Histogram::new(TTFT_BUCKETS),
            e2e: Histogram::new(E2E_BUCKETS),
            tpot: Histogram::new(TPOT_BUCKETS),
            itl: Histogram::new(TPOT_BUCKETS),
            queue_time: Histogram::new(E2E_BUCKETS),
            inference_time: Histogram::new(E2E_BUCKETS),
            prefill_time: Histogram::new(E2E_BUCKETS),
            decode_time: Histogram::new(E2E_BUCKETS),
            prompt_tokens_per_request: Histogram::new(TOKEN_BUCKETS),
            generation_tokens_per_request: Histogram::new(TOKEN_BUCKETS),
            max_tokens_param: Histogram::new(TOKEN_BUCKETS),
            n_param: Histogram::new(TOKEN_BUCKETS),
        }
    }

    pub fn record(&self, done: &Completed) {
        self.prompt_tokens
            .fetch_add(done.prompt_tokens as u64, Ordering::Relaxed);
        self.generation_tokens
            .fetch_add(done.completion_tokens as u64, Ordering::Relaxed);
        match done.finish {
            FinishReason::Length => &self.finished_length,
            FinishReason::Stop => &self.finished_stop,
        }
        .fetch_add(1, Ordering::Relaxed);
        self.ttft.observe(done.ttft.as_secs_f64());
        self.e2e.observe(done.e2e.as_secs_f64());
        let gaps = done.completion_tokens.saturating_sub(1) as u64;
        if gaps > 0 {
            let per_token = done.decode.as_secs_f64() / gaps as f64;
            self.tpot.observe(per_token);
            self.itl.observe_n(per_token, gaps);
        }
        self.queue_time.observe(done.queued.as_secs_f64());
        self.inference_time
            .observe((done.prefill + done.decode).as_secs_f64());
        self.prefill_time.observe(done.prefill.as_secs_f64());
        self.decode_time.observe(done.decode.as_secs_f64());
        self.prompt_tokens_per_request
            .observe(done.prompt_tokens as f64);
        self.generation_tokens_per_request
            .observe(done.completion_tokens as f64);
        self.max_tokens_param.observe(done.max_tokens as f64);
        self.n_param.observe(1.0);
    }

    pub fn completed(&self) -> u64 {
        self.finished_length.load(Ordering::Relaxed) + self.finished_stop.load(Ordering::Relaxed)
    }

    pub fn prompt_tokens(&self) -> u64 {
        self.prompt_tokens.load(Ordering::Relaxed)
    }

    pub fn generation_tokens(&self) -> u64 {
        self.generation_tokens.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition (format 0.0.4), with the names of the dialect's server.
    pub fn render(&self, model: &str, gauges: Gauges) -> String {
        match self.dialect {
            MetricsDialect::Vllm => self.render_vllm(model, gauges),
            MetricsDialect::Sglang => self.render_sglang(model, gauges),
            MetricsDialect::Tgi => self.render_tgi(gauges),
        }
    }

    fn render_vllm(&self, model: &str, gauges: Gauges) -> String {
        let labels = format!("model_name=\"{}\"", escape_label(model));
        let mut out = String::with_capacity(32 * 1024);
        let mut single = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{labels}}} {value}"
            );
        };
        single(
            "vllm:num_requests_running",
            "gauge",
            "Number of requests in model execution batches.",
            format!("{}.0", gauges.running),
        );
        single(
            "vllm:num_requests_waiting",
            "gauge",
            "Number of requests waiting to be processed.",
            format!("{}.0", gauges.waiting),
        );
        single(
            "vllm:kv_cache_usage_perc",
            "gauge",
            "KV-cache usage. 1 means 100 percent usage.",
            format!("{:?}", gauges.kv_usage),
        );
        single(
            "vllm:prompt_tokens_total",
            "counter",
            "Number of prefill tokens processed.",
            format!("{}.0", self.prompt_tokens()),
        );
        single(
            "vllm:generation_tokens_total",
            "counter",
            "Number of generation tokens processed.",
            format!("{}.0", self.generation_tokens()),
        );
        single(
            "vllm:num_preemptions_total",
            "counter",
            "Cumulative number of preemption from the engine.",
            "0.0".into(),
        );
        single(
            "vllm:prefix_cache_queries_total",
            "counter",
            "Prefix cache queries, in terms of number of queried tokens.",
            format!("{}.0", self.prompt_tokens()),
        );
        single(
            "vllm:prefix_cache_hits_total",
            "counter",
            "Prefix cache hits, in terms of number of cached tokens.",
            "0.0".into(),
        );
        let name = "vllm:request_success_total";
        let _ = writeln!(
            out,
            "# HELP {name} Count of successfully processed requests.\n# TYPE {name} counter"
        );
        for (reason, counter) in [
            (FinishReason::Length, &self.finished_length),
            (FinishReason::Stop, &self.finished_stop),
        ] {
            let _ = writeln!(
                out,
                "{name}{{finished_reason=\"{}\",{labels}}} {}.0",
                reason.as_str(),
                counter.load(Ordering::Relaxed)
            );
        }
        for (histogram, name, help) in [
            (
                &self.ttft,
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
            ),
            (
                &self.e2e,
                "vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.",
            ),
            (
                &self.tpot,
                "vllm:request_time_per_output_token_seconds",
                "Histogram of time_per_output_token_seconds per request.",
            ),
            (
                &self.itl,
                "vllm:inter_token_latency_seconds",
                "Histogram of inter-token latency in seconds.",
            ),
            (
                &self.queue_time,
                "vllm:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.",
            ),
            (
                &self.inference_time,
                "vllm:request_inference_time_seconds",
                "Histogram of time spent in RUNNING phase for request.",
            ),
            (
                &self.prefill_time,
                "vllm:request_prefill_time_seconds",
                "Histogram of time spent in PREFILL phase for request.",
            ),
            (
                &self.decode_time,
                "vllm:request_decode_time_seconds",
                "Histogram of time spent in DECODE phase for request.",
            ),
            (
                &self.prompt_tokens_per_request,
                "vllm:request_prompt_tokens",
                "Number of prefill tokens processed.",
            ),
            (
                &self.generation_tokens_per_request,
                "vllm:request_generation_tokens",
                "Number of generation tokens processed.",
            ),
            (
                &self.generation_tokens_per_request,
                "vllm:request_max_num_generation_tokens",
                "Histogram of maximum number of requested generation tokens.",
            ),
            (
                &self.n_param,
                "vllm:request_params_n",
                "Histogram of the n request parameter.",
            ),
            (
                &self.max_tokens_param,
                "vllm:request_params_max_tokens",
                "Histogram of the max_tokens request parameter.",
            ),
        ] {
            histogram.render(&mut out, name, help, &labels);
        }
        out
    }

    fn render_sglang(&self, model: &str, gauges: Gauges) -> String {
        let labels = format!("model_name=\"{}\"", escape_label(model));
        let mut out = String::with_capacity(16 * 1024);
        let mut single = |name: &str, kind: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {name}\n# TYPE {name} {kind}\n{name}{{{labels}}} {value}"
            );
        };
        single(
            "sglang:num_running_reqs",
            "gauge",
            format!("{}.0", gauges.running),
        );
        single(
            "sglang:num_queue_reqs",
            "gauge",
            format!("{}.0", gauges.waiting),
        );
        single(
            "sglang:token_usage",
            "gauge",
            format!("{:?}", gauges.kv_usage),
        );
        single(
            "sglang:prompt_tokens_total",
            "counter",
            format!("{}.0", self.prompt_tokens()),
        );
        single(
            "sglang:generation_tokens_total",
            "counter",
            format!("{}.0", self.generation_tokens()),
        );
        for (histogram, name) in [
            (&self.e2e, "sglang:e2e_request_latency_seconds"),
            (&self.ttft, "sglang:time_to_first_token_seconds"),
            (&self.tpot, "sglang:time_per_output_token_seconds"),
            (&self.itl, "sglang:inter_token_latency_seconds"),
        ] {
            histogram.render(&mut out, name, name, &labels);
        }
        out
    }

    fn render_tgi(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let _ = writeln!(
            out,
            "# TYPE tgi_queue_size gauge\ntgi_queue_size {}.0",
            gauges.waiting
        );
        let _ = writeln!(
            out,
            "# TYPE tgi_batch_current_size gauge\ntgi_batch_current_size {}.0",
            gauges.running
        );
        let _ = writeln!(
            out,
            "# TYPE tgi_request_success counter\ntgi_request_success {}.0",
            self.completed()
        );
        for (histogram, name) in [
            (&self.prompt_tokens_per_request, "tgi_request_input_length"),
            (
                &self.generation_tokens_per_request,
                "tgi_request_generated_tokens",
            ),
            (&self.e2e, "tgi_request_duration"),
            (&self.tpot, "tgi_request_mean_time_per_token_duration"),
        ] {
            histogram.render(&mut out, name, name, "");
        }
        out
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_exact_counts_and_cumulative_buckets() {
        let m = Metrics::new(MetricsDialect::Vllm);
        for (ms, finish) in [
            (3, FinishReason::Length),
            (30, FinishReason::Stop),
            (3000, FinishReason::Length),
        ] {
            let d = Duration::from_millis(ms);
            m.record(&Completed {
                prompt_tokens: 10,
                completion_tokens: 4,
                max_tokens: 4,
                finish,
                queued: Duration::ZERO,
                ttft: d,
                prefill: d,
                decode: Duration::from_millis(30),
                e2e: d,
            });
        }
        let text = m.render(
            "m\"x",
            Gauges {
                running: 2,
                waiting: 1,
                kv_usage: 0.25,
            },
        );
        let labels = "model_name=\"m\\\"x\"";
        for line in [
            format!("vllm:num_requests_running{{{labels}}} 2.0"),
            format!("vllm:num_requests_waiting{{{labels}}} 1.0"),
            format!("vllm:prompt_tokens_total{{{labels}}} 30.0"),
            format!("vllm:generation_tokens_total{{{labels}}} 12.0"),
            format!("vllm:request_success_total{{finished_reason=\"length\",{labels}}} 2.0"),
            format!("vllm:time_to_first_token_seconds_bucket{{le=\"0.001\",{labels}}} 0.0"),
            format!("vllm:time_to_first_token_seconds_bucket{{le=\"0.005\",{labels}}} 1.0"),
            format!("vllm:time_to_first_token_seconds_bucket{{le=\"0.04\",{labels}}} 2.0"),
            format!("vllm:time_to_first_token_seconds_bucket{{le=\"+Inf\",{labels}}} 3.0"),
            format!("vllm:time_to_first_token_seconds_count{{{labels}}} 3.0"),
            format!("vllm:e2e_request_latency_seconds_sum{{{labels}}} 3.033"),
            format!("vllm:kv_cache_usage_perc{{{labels}}} 0.25"),
            // 3 gaps of 10 ms per request.
            format!("vllm:inter_token_latency_seconds_count{{{labels}}} 9.0"),
            format!("vllm:request_time_per_output_token_seconds_sum{{{labels}}} 0.03"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert_eq!(m.completed(), 3);
    }
}
