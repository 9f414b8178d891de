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

#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last one is +Inf.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn observe(&self, value: Duration) {
        let secs = value.as_secs_f64();
        let bucket = self.bounds.partition_point(|bound| *bound < secs);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(value.as_nanos() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str, labels: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            match self.bounds.get(i) {
                Some(bound) => {
                    _ = writeln!(
                        out,
                        "{name}_bucket{{le=\"{bound:?}\",{labels}}} {cumulative}.0"
                    )
                }
                None => _ = writeln!(out, "{name}_bucket{{le=\"+Inf\",{labels}}} {cumulative}.0"),
            }
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "{name}_count{{{labels}}} {cumulative}.0\n{name}_sum{{{labels}}} {sum:?}"
        );
    }
}

/// Totals over requests served to completion without a fault.
#[derive(Debug)]
pub(crate) struct Metrics {
    prompt_tokens: AtomicU64,
    generation_tokens: AtomicU64,
    finished_length: AtomicU64,
    finished_stop: AtomicU64,
    ttft: Histogram,
    e2e: Histogram,
}

/// One completed request, as recorded.
pub(crate) struct Completed {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub finish: FinishReason,
    pub ttft: Duration,
    pub e2e: Duration,
}

/// Gauges read from the scheduler when rendering.
pub(crate) struct Gauges {
    pub running: usize,
    pub waiting: usize,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            prompt_tokens: AtomicU64::new(0),
            generation_tokens: AtomicU64::new(0),
            finished_length: AtomicU64::new(0),
            finished_stop: AtomicU64::new(0),
            ttft: Histogram::new(TTFT_BUCKETS),
            e2e: Histogram::new(E2E_BUCKETS),
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
        self.ttft.observe(done.ttft);
        self.e2e.observe(done.e2e);
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

    /// Prometheus text exposition (format 0.0.4).
    pub fn render(&self, model: &str, gauges: Gauges) -> String {
        let labels = format!("model_name=\"{}\"", escape_label(model));
        let mut out = String::with_capacity(8 * 1024);
        let mut single = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{labels}}} {value}.0"
            );
        };
        single(
            "vllm:num_requests_running",
            "gauge",
            "Number of requests in model execution batches.",
            gauges.running as u64,
        );
        single(
            "vllm:num_requests_waiting",
            "gauge",
            "Number of requests waiting to be processed.",
            gauges.waiting as u64,
        );
        single(
            "vllm:prompt_tokens_total",
            "counter",
            "Number of prefill tokens processed.",
            self.prompt_tokens(),
        );
        single(
            "vllm:generation_tokens_total",
            "counter",
            "Number of generation tokens processed.",
            self.generation_tokens(),
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
        self.ttft.render(
            &mut out,
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            &labels,
        );
        self.e2e.render(
            &mut out,
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            &labels,
        );
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
        let m = Metrics::new();
        for (ms, finish) in [
            (3, FinishReason::Length),
            (30, FinishReason::Stop),
            (3000, FinishReason::Length),
        ] {
            let d = Duration::from_millis(ms);
            m.record(&Completed {
                prompt_tokens: 10,
                completion_tokens: 4,
                finish,
                ttft: d,
                e2e: d,
            });
        }
        let text = m.render(
            "m\"x",
            Gauges {
                running: 2,
                waiting: 1,
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
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert_eq!(m.completed(), 3);
    }
}
