//! `slo_verdict.json`: `report.slo`'s thresholds checked on every stage and on the whole run,
//! from the merged histograms themselves (any percentile, not only the reported ones), so the
//! verdict of many runner pods is that of all their requests.

use serde_json::{Value, json};

use super::lifecycle::{achieved_rate, benchmark_time};
use crate::config::{SloConfig, SloMetric, SloScope, SloStat, SloThreshold};
use crate::metrics::{Bucket, Dist, RunMetrics};

/// The verdict's report file (`.json` added when written).
pub const SLO_VERDICT_FILE: &str = "slo_verdict";

/// Every check, and `passed` when all hold. A threshold with nothing to measure (no successful
/// request for a latency) fails: an objective nobody could meet is not met.
pub fn slo_verdict(run: &RunMetrics, slo: &SloConfig) -> Value {
    let mut checks = Vec::new();
    if slo.scope != SloScope::Run {
        for stage in &run.stages {
            let bucket = stage.total();
            let requested = (stage.info.concurrency.is_none() && stage.info.requested_rate > 0.0)
                .then_some(stage.info.requested_rate);
            let scope = format!("stage_{}", stage.info.id);
            for threshold in &slo.thresholds {
                checks.push(check(&scope, threshold, &bucket, requested));
            }
        }
    }
    if slo.scope != SloScope::Stages {
        let total = run.total();
        for threshold in &slo.thresholds {
            // A run's rate is not asked for as one number: stages ask for theirs.
            if threshold.metric != SloMetric::AchievedRateRatio {
                checks.push(check("run", threshold, &total, None));
            }
        }
    }
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c["passed"] == false)
        .map(describe)
        .collect();
    json!({
        "passed": failed.is_empty(),
        "failed": failed,
        "checks": checks,
    })
}

/// Whether a verdict file says every objective was met.
pub fn slo_met(verdict: &Value) -> bool {
    verdict["passed"] == true
}

fn check(scope: &str, threshold: &SloThreshold, bucket: &Bucket, requested: Option<f64>) -> Value {
    let measured = measure(threshold, bucket, requested);
    let passed = measured.is_ok_and(|value| {
        threshold.max.is_none_or(|max| value <= max) && threshold.min.is_none_or(|min| value >= min)
    });
    let mut check = json!({
        "scope": scope,
        "metric": threshold.metric,
        "passed": passed,
    });
    if let Some(stat) = &threshold.stat {
        check["stat"] = json!(stat);
    }
    for (key, bound) in [("max", threshold.max), ("min", threshold.min)] {
        if let Some(bound) = bound {
            check[key] = json!(bound);
        }
    }
    match measured {
        Ok(value) => check["value"] = json!(value),
        Err(why) => {
            check["value"] = Value::Null;
            check["reason"] = json!(why);
        }
    }
    check
}

fn measure(
    threshold: &SloThreshold,
    bucket: &Bucket,
    requested: Option<f64>,
) -> Result<f64, &'static str> {
    let s = &bucket.successes;
    let ratio = |part: u64, whole: u64, none: &'static str| {
        if whole > 0 {
            Ok(part as f64 / whole as f64)
        } else {
            Err(none)
        }
    };
    let per_second = |amount: f64| {
        let seconds = benchmark_time(bucket);
        if seconds > 0.0 {
            Ok(amount / seconds)
        } else {
            Err("no request completed")
        }
    };
    match threshold.metric {
        SloMetric::RequestLatency => stat(&s.request_latency, threshold),
        SloMetric::TimeToFirstToken => stat(&s.time_to_first_token, threshold),
        SloMetric::TimePerOutputToken => stat(&s.time_per_output_token, threshold),
        SloMetric::NormalizedTimePerOutputToken => {
            stat(&s.normalized_time_per_output_token, threshold)
        }
        SloMetric::InterTokenLatency => stat(&s.inter_token_latency, threshold),
        SloMetric::ScheduleDelay => stat(&bucket.schedule_delay, threshold),
        SloMetric::FailureRatio => ratio(bucket.failures.count, bucket.sent, "no request was sent"),
        SloMetric::GoodputRatio => ratio(s.goodput.good_requests, s.count, "no request succeeded"),
        SloMetric::AchievedRateRatio => match requested {
            Some(rate) if bucket.sent > 1 => Ok(achieved_rate(bucket) / rate),
            Some(_) => Err("fewer than two requests were sent"),
            None => Err("the stage asks for a concurrency, not a rate"),
        },
        SloMetric::RequestsPerSec => per_second(s.count as f64),
        SloMetric::OutputTokensPerSec => per_second(s.effective_output_tokens as f64),
    }
}

fn stat(dist: &Dist, threshold: &SloThreshold) -> Result<f64, &'static str> {
    let value = match threshold.stat.as_deref().and_then(SloStat::parse) {
        Some(SloStat::Mean) => dist.mean(),
        Some(SloStat::Percentile(p)) => dist.percentile(p),
        // Config validation requires a stat for every distribution.
        None => return Err("no stat named"),
    };
    value.ok_or("no request measured it")
}

/// `stage_1: time_to_first_token p99 = 0.61 > max 0.5`.
fn describe(check: &Value) -> String {
    let metric = check["metric"].as_str().unwrap_or_default();
    let stat = check["stat"]
        .as_str()
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let scope = check["scope"].as_str().unwrap_or_default();
    let Some(value) = check["value"].as_f64() else {
        let reason = check["reason"].as_str().unwrap_or_default();
        return format!("{scope}: {metric}{stat}: {reason}");
    };
    let bound = match (check["max"].as_f64(), check["min"].as_f64()) {
        (Some(max), _) if value > max => format!("> max {max}"),
        (_, Some(min)) => format!("< min {min}"),
        _ => String::new(),
    };
    // Six decimals: microseconds of a latency, enough of a ratio.
    let shown = (value * 1e6).round() / 1e6;
    format!("{scope}: {metric}{stat} = {shown} {bound}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{StageInfo, StageMetrics, StageStatus};

    fn bucket(latencies: &[f64], failures: u64, span: f64) -> Bucket {
        let mut bucket = Bucket::default();
        for &latency in latencies {
            bucket.successes.count += 1;
            bucket.successes.request_latency.record(latency);
            bucket.successes.time_to_first_token.record(latency / 10.0);
        }
        bucket.failures.count = failures;
        bucket.sent = latencies.len() as u64 + failures;
        bucket.first_start = Some(100.0);
        bucket.last_start = Some(100.0 + span);
        bucket.last_end = Some(100.0 + span + 1.0);
        bucket
    }

    fn run(stages: Vec<(f64, Bucket)>) -> RunMetrics {
        let mut run = RunMetrics::default();
        for (id, (rate, bucket)) in stages.into_iter().enumerate() {
            run.push(StageMetrics {
                info: StageInfo {
                    id,
                    requested_rate: rate,
                    concurrency: None,
                    planned: bucket.sent,
                    status: StageStatus::Completed,
                    start: 100.0,
                    end: 110.0,
                    timeout: None,
                },
                base: bucket,
                adapters: Default::default(),
                completions: Vec::new(),
                sessions: Vec::new(),
            });
        }
        run
    }

    fn threshold(
        metric: SloMetric,
        stat: Option<&str>,
        min: Option<f64>,
        max: Option<f64>,
    ) -> SloThreshold {
        SloThreshold {
            metric,
            stat: stat.map(Into::into),
            min,
            max,
        }
    }

    #[test]
    fn each_stage_and_the_run_are_checked_on_their_own_requests() {
        // Stage 0: 100 requests of 0.1 s; stage 1: 99 of 0.1 s and one of 3 s, and 2 failures.
        let slow_tail: Vec<f64> = (0..99).map(|_| 0.1).chain([3.0]).collect();
        let run = run(vec![
            (10.0, bucket(&[0.1; 100], 0, 9.9)),
            (20.0, bucket(&slow_tail, 2, 5.0)),
        ]);
        let slo = SloConfig {
            thresholds: vec![
                threshold(SloMetric::RequestLatency, Some("p99"), None, Some(0.12)),
                threshold(SloMetric::FailureRatio, None, None, Some(0.01)),
                threshold(SloMetric::AchievedRateRatio, None, Some(0.98), None),
            ],
            scope: SloScope::StagesAndRun,
        };
        let verdict = slo_verdict(&run, &slo);
        assert!(!slo_met(&verdict));
        let checks = verdict["checks"].as_array().unwrap();
        // 3 per stage, and the run without the achieved-rate ratio.
        assert_eq!(checks.len(), 8);
        let passed = |scope: &str, metric: &str| {
            checks
                .iter()
                .find(|c| c["scope"] == scope && c["metric"] == metric)
                .map(|c| c["passed"].as_bool().unwrap())
                .unwrap()
        };
        assert!(passed("stage_0", "request_latency"));
        assert!(
            !passed("stage_1", "request_latency"),
            "p99 of 100 with one 3 s is 3 s"
        );
        assert!(passed("run", "request_latency"), "p99 of 200 with one 3 s");
        assert!(!passed("stage_1", "failure_ratio"), "2 of 102");
        assert!(passed("run", "failure_ratio"), "2 of 202 is under 1 %");
        // 100 sends over 9.9 s = 10.1 req/s of 10; 102 over 5 s = 20.4 of 20.
        assert!(
            passed("stage_0", "achieved_rate_ratio") && passed("stage_1", "achieved_rate_ratio")
        );
        let failed: Vec<&str> = verdict["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert_eq!(failed[0], "stage_1: request_latency p99 = 0.129 > max 0.12");
        assert_eq!(failed[1], "stage_1: failure_ratio = 0.019608 > max 0.01");
    }

    #[test]
    fn nothing_measured_fails_and_scopes_are_honoured() {
        let run = run(vec![(5.0, bucket(&[], 4, 1.0))]);
        let ttft = threshold(SloMetric::TimeToFirstToken, Some("mean"), None, Some(0.5));
        let stages_only = SloConfig {
            thresholds: vec![ttft.clone()],
            scope: SloScope::Stages,
        };
        let verdict = slo_verdict(&run, &stages_only);
        assert_eq!(verdict["checks"].as_array().unwrap().len(), 1);
        assert_eq!(verdict["checks"][0]["reason"], "no request measured it");
        assert_eq!(
            verdict["failed"][0],
            "stage_0: time_to_first_token mean: no request measured it"
        );
        let run_only = SloConfig {
            thresholds: vec![threshold(SloMetric::RequestsPerSec, None, Some(0.0), None)],
            scope: SloScope::Run,
        };
        let verdict = slo_verdict(&run, &run_only);
        assert_eq!(verdict["checks"][0]["scope"], "run");
        assert_eq!(verdict["checks"][0]["value"], 0.0);
        assert!(slo_met(&verdict));
    }
}
