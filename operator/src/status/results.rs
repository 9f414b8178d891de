//! The runners' results, merged exactly: histograms are added bucket by bucket
//! ([`RunMetrics::merge`]), so every percentile is that of all requests, never an average of
//! per-runner percentiles.

use ibench_core::metrics::{Bucket, Dist, RunMetrics};
use ibench_core::protocol::{ClockOffset, RunnerProgress, RunnerReport, decode_metrics};
use ibench_core::report::{Scope, lifecycle};

use crate::crd::{
    AdapterStats, MAX_STATUS_ADAPTERS, MAX_STATUS_STAGES, Progress, StageStats, Summary,
};

/// What the runners that delivered metrics did, together.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub metrics: RunMetrics,
    /// Indexes of the runners whose metrics are included.
    pub delivered: Vec<u32>,
    pub start_skew: Option<StartSkew>,
    /// Runners whose metrics could not be read, with why.
    pub unreadable: Vec<(u32, String)>,
}

/// How far apart the runners' actual starts of stage 0 were, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartSkew {
    /// Latest minus earliest start: on the API server's clock when every runner measured its
    /// offset to it, else on the runners' own clocks (which hides their clocks' differences).
    pub skew: f64,
    /// With the offsets: how far `skew` may be off (their uncertainties), and how far apart
    /// the runners' clocks were.
    pub error: Option<f64>,
    pub clock_spread: Option<f64>,
}

pub fn collect<'a>(reports: impl IntoIterator<Item = (u32, &'a RunnerReport)>) -> Collected {
    let mut collected = Collected::default();
    let mut starts = Vec::new();
    for (index, report) in reports {
        let Some(bytes) = &report.metrics else {
            continue;
        };
        match decode_metrics(bytes) {
            Ok(metrics) => {
                if let Some(stage) = metrics.stages.iter().find(|s| s.info.id == 0) {
                    starts.push((stage.info.start, report.clock));
                }
                collected.metrics.merge(&metrics);
                collected.delivered.push(index);
            }
            Err(e) => collected.unreadable.push((index, e.to_string())),
        }
    }
    collected.start_skew = start_skew(&starts);
    collected
}

/// The skew of stage 0 starts, each on its runner's clock with that clock's offset to the API
/// server if measured.
pub fn start_skew(starts: &[(f64, Option<ClockOffset>)]) -> Option<StartSkew> {
    let spread = |values: &mut dyn Iterator<Item = f64>| {
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| {
            (lo.min(t), hi.max(t))
        });
        (lo <= hi).then_some(hi - lo)
    };
    let offsets: Option<Vec<ClockOffset>> = starts.iter().map(|(_, c)| *c).collect();
    match offsets {
        Some(offsets) if !offsets.is_empty() => Some(StartSkew {
            skew: spread(&mut starts.iter().zip(&offsets).map(|((t, _), c)| t + c.offset))?,
            // Two runners' corrections are each off by at most their uncertainty.
            error: Some(2.0 * offsets.iter().map(|c| c.uncertainty).fold(0.0, f64::max)),
            clock_spread: spread(&mut offsets.iter().map(|c| c.offset)),
        }),
        _ => Some(StartSkew {
            skew: spread(&mut starts.iter().map(|(t, _)| *t))?,
            error: None,
            clock_spread: None,
        }),
    }
}

/// The run's statistics as shown in `status`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub summary: Summary,
    pub stages: Vec<StageStats>,
    pub adapters: Vec<AdapterStats>,
    pub adapters_omitted: Option<i32>,
}

pub fn stats(metrics: &RunMetrics) -> Stats {
    let mut stages = Vec::with_capacity(metrics.stages.len());
    let (mut planned, mut planned_seconds) = (0.0, 0.0);
    let (mut sent, mut send_seconds) = (0.0, 0.0);
    for stage in &metrics.stages {
        let total = stage.total();
        let report = lifecycle(&total, Scope::Stage(&stage.info), &[], None);
        let load = &report["load_summary"];
        let achieved = load["achieved_rate"].as_f64().unwrap_or(0.0);
        let send_duration = load["send_duration"].as_f64().unwrap_or(0.0);
        if stage.info.concurrency.is_none() && stage.info.requested_rate > 0.0 {
            planned += stage.info.planned as f64;
            planned_seconds += stage.info.planned as f64 / stage.info.requested_rate;
        }
        if send_duration > 0.0 {
            sent += total.sent as f64;
            send_seconds += send_duration;
        }
        stages.push(StageStats {
            id: stage.info.id as i32,
            requested_rate: round(stage.info.requested_rate, 3),
            achieved_rate: round(achieved, 3),
            requests: total.sent as i64,
            failures: total.failures.count as i64,
            schedule_delay_p50_ms: ms(&total.schedule_delay, 50.0),
            schedule_delay_p99_ms: ms(&total.schedule_delay, 99.0),
            // From the server's own metrics, added when the runner that collected them delivered.
            server: None,
        });
    }
    stages.truncate(MAX_STATUS_STAGES);
    let total = metrics.total();
    let summary = Summary {
        requested_rate: (planned_seconds > 0.0).then(|| round(planned / planned_seconds, 3)),
        achieved_rate: (send_seconds > 0.0).then(|| round(sent / send_seconds, 3)),
        requests: total.sent as i64,
        failures: total.failures.count as i64,
        schedule_delay_p50_ms: ms(&total.schedule_delay, 50.0),
        schedule_delay_p99_ms: ms(&total.schedule_delay, 99.0),
    };
    let names = metrics.adapter_names();
    let adapters = names
        .iter()
        .take(MAX_STATUS_ADAPTERS)
        .map(|name| adapter(name, &metrics.adapter_total(name)))
        .collect();
    Stats {
        summary,
        stages,
        adapters,
        adapters_omitted: (names.len() > MAX_STATUS_ADAPTERS)
            .then(|| (names.len() - MAX_STATUS_ADAPTERS) as i32),
    }
}

fn adapter(name: &str, bucket: &Bucket) -> AdapterStats {
    let s = &bucket.successes;
    AdapterStats {
        name: name.to_string(),
        requests: bucket.sent as i64,
        failures: bucket.failures.count as i64,
        request_latency_p50_ms: ms(&s.request_latency, 50.0),
        request_latency_p99_ms: ms(&s.request_latency, 99.0),
        ttft_p50_ms: ms(&s.time_to_first_token, 50.0),
        ttft_p99_ms: ms(&s.time_to_first_token, 99.0),
    }
}

/// Live progress: the runners' counters added up, at the earliest stage any of them is in (a
/// sweep's probes come before its stages).
pub fn progress<'a>(reports: impl IntoIterator<Item = &'a RunnerReport>) -> Option<Progress> {
    let live: Vec<&RunnerProgress> = reports
        .into_iter()
        .filter_map(|r| r.progress.as_ref())
        .collect();
    let (benchmark_stage, stage) = live.iter().map(|p| (!p.sweep_probe, p.stage)).min()?;
    let sum = |f: fn(&RunnerProgress) -> u64| live.iter().map(|p| f(p)).sum::<u64>() as i64;
    Some(Progress {
        stage: stage as i32,
        sweep_probe: !benchmark_stage,
        planned: sum(|p| p.planned),
        sent: sum(|p| p.sent),
        in_flight: sum(|p| p.in_flight),
        succeeded: sum(|p| p.succeeded),
        failed: sum(|p| p.failed),
    })
}

/// A percentile in milliseconds, to the microsecond (status values must not churn on float noise).
fn ms(dist: &Dist, percentile: f64) -> Option<f64> {
    dist.percentile(percentile)
        .map(|seconds| round(seconds * 1000.0, 3))
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::runner_metrics;
    use ibench_core::protocol::encode_metrics;

    fn report_with(metrics: &RunMetrics) -> RunnerReport {
        RunnerReport {
            metrics: Some(encode_metrics(metrics)),
            ..Default::default()
        }
    }

    #[test]
    fn merge_is_exact_and_percentiles_come_from_all_samples() {
        // Runner 0 saw fast requests, runner 1 slow ones: the merged p50 must sit between
        // them as the median of all samples, not as the mean of the two medians.
        let fast = runner_metrics(0, 100.0, &[("a", 0.010, 60), ("b", 0.010, 40)], 1000.0);
        let slow = runner_metrics(0, 100.0, &[("a", 0.200, 20), ("b", 0.200, 80)], 1000.002);
        let reports = [report_with(&fast), report_with(&slow)];
        let collected = collect(reports.iter().enumerate().map(|(i, r)| (i as u32, r)));
        assert_eq!(collected.delivered, vec![0, 1]);
        let skew = collected.start_skew.unwrap();
        assert!((skew.skew - 0.002).abs() < 1e-9, "{skew:?}");
        assert_eq!(skew.error, None, "no clock offsets, no error bound");

        let stats = stats(&collected.metrics);
        assert_eq!(stats.summary.requests, 200);
        assert_eq!(
            stats
                .adapters
                .iter()
                .map(|a| (a.name.as_str(), a.requests))
                .collect::<Vec<_>>(),
            vec![("a", 80), ("b", 120)]
        );
        // Adapter a: 60 fast + 20 slow → its median is fast; adapter b: 40 fast + 80 slow → slow.
        let a = &stats.adapters[0];
        let b = &stats.adapters[1];
        assert!(
            (a.request_latency_p50_ms.unwrap() - 10.0).abs() < 0.1,
            "{a:?}"
        );
        assert!(
            (b.request_latency_p50_ms.unwrap() - 200.0).abs() < 0.5,
            "{b:?}"
        );
        assert!(
            (b.request_latency_p99_ms.unwrap() - 200.0).abs() < 0.5,
            "{b:?}"
        );
        assert_eq!(stats.stages.len(), 1);
        assert_eq!(stats.stages[0].requests, 200);
        assert_eq!(stats.summary.requested_rate, Some(100.0));
    }

    #[test]
    fn start_skew_is_taken_on_the_api_servers_clock() {
        let at = |offset: f64, uncertainty: f64| ClockOffset {
            offset,
            uncertainty,
        };
        // Both runners started at 1000.000 on their own clocks, but runner 1's clock is 30 ms
        // behind runner 0's: it really started 30 ms later.
        let skew = start_skew(&[
            (1000.0, Some(at(0.010, 0.001))),
            (1000.0, Some(at(0.040, 0.002))),
        ])
        .unwrap();
        assert!((skew.skew - 0.030).abs() < 1e-9, "{skew:?}");
        assert!((skew.clock_spread.unwrap() - 0.030).abs() < 1e-9);
        assert_eq!(skew.error, Some(0.004));
        // A runner started late, on the same clock.
        let skew = start_skew(&[
            (1000.0, Some(at(0.5, 0.001))),
            (1000.007, Some(at(0.5, 0.001))),
            (1000.002, Some(at(0.5, 0.0))),
        ])
        .unwrap();
        assert!((skew.skew - 0.007).abs() < 1e-9, "{skew:?}");
        assert_eq!(skew.clock_spread, Some(0.0));
        // One runner without an offset: the runners' own clocks, said so by no error bound.
        let skew = start_skew(&[(1000.0, Some(at(0.04, 0.001))), (1000.003, None)]).unwrap();
        assert!((skew.skew - 0.003).abs() < 1e-9, "{skew:?}");
        assert_eq!((skew.error, skew.clock_spread), (None, None));
        assert_eq!(start_skew(&[]), None);
        assert_eq!(start_skew(&[(5.0, None)]).unwrap().skew, 0.0);
    }

    #[test]
    fn unreadable_metrics_are_named_not_merged() {
        let good = report_with(&runner_metrics(0, 10.0, &[("a", 0.01, 5)], 1.0));
        let bad = RunnerReport {
            metrics: Some(b"garbage".to_vec()),
            ..Default::default()
        };
        let none = RunnerReport::default();
        let collected = collect([(0, &good), (1, &bad), (2, &none)]);
        assert_eq!(collected.delivered, vec![0]);
        assert_eq!(collected.unreadable.len(), 1);
        assert_eq!(collected.unreadable[0].0, 1);
        assert_eq!(collected.metrics.total().sent, 5);
    }

    #[test]
    fn progress_adds_up_runners() {
        let at = |stage, sent| RunnerReport {
            progress: Some(RunnerProgress {
                stage,
                planned: 100,
                sent,
                succeeded: sent,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(progress([&RunnerReport::default()]), None);
        let p = progress([&at(0, 10), &at(1, 20), &RunnerReport::default()]).unwrap();
        assert_eq!((p.stage, p.planned, p.sent, p.succeeded), (0, 200, 30, 30));
        assert!(!p.sweep_probe);
        let probe = RunnerReport {
            progress: Some(RunnerProgress {
                stage: 3,
                sweep_probe: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let p = progress([&at(0, 10), &probe]).unwrap();
        assert_eq!(
            (p.stage, p.sweep_probe),
            (3, true),
            "probes run before the stages"
        );
    }

    #[test]
    fn many_adapters_are_capped_in_status() {
        let names: Vec<String> = (0..40).map(|i| format!("lora-{i:02}")).collect();
        let adapters: Vec<(&str, f64, u64)> = names.iter().map(|n| (n.as_str(), 0.01, 1)).collect();
        let stats = stats(&runner_metrics(0, 40.0, &adapters, 1.0));
        assert_eq!(stats.adapters.len(), MAX_STATUS_ADAPTERS);
        assert_eq!(stats.adapters_omitted, Some(8));
    }
}
