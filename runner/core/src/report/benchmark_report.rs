//! The llm-d Benchmark Report v0.2.1 of each stage (`inference-perf.partial.stage_{i}.yaml`),
//! the format the llm-d benchmarking stack consumes, as inference-perf 0.7.0 writes it: the
//! stage's request counts, latency distributions (with the sample standard deviation and a
//! fixed percentile set) and throughputs. Built from the same statistics as the stage's
//! lifecycle report, so the two agree exactly, and from merged histograms under the operator.

use serde_json::{Map, Value, json};

use super::lifecycle::{Scope, lifecycle};
use crate::metrics::{Dist, RunMetrics, StageMetrics};

pub const BENCHMARK_REPORT_VERSION: &str = "0.2.1";

/// The percentiles every Benchmark Report carries, whatever the config's.
const PERCENTILES: [(f64, &str); 11] = [
    (0.1, "p0p1"),
    (1.0, "p1"),
    (5.0, "p5"),
    (10.0, "p10"),
    (25.0, "p25"),
    (50.0, "p50"),
    (75.0, "p75"),
    (90.0, "p90"),
    (95.0, "p95"),
    (99.0, "p99"),
    (99.9, "p99p9"),
];

/// The report file name of stage `id`, as inference-perf names it.
pub fn partial_report_name(id: usize) -> String {
    format!("inference-perf.partial.stage_{id}.yaml")
}

/// One partial report per stage that sent a request, with its file name.
/// `use_server_output_tokens` picks the output count of `output_length`, as for the lifecycle
/// reports.
pub fn partial_stage_reports(
    run: &RunMetrics,
    use_server_output_tokens: bool,
) -> Vec<(String, Value)> {
    let experiment = format!("ibench-experiment-{}", run_id(run));
    run.stages
        .iter()
        .filter_map(|stage| {
            let report = partial_stage_report(stage, &experiment, use_server_output_tokens)?;
            Some((partial_report_name(stage.info.id), report))
        })
        .collect()
}

fn partial_stage_report(
    stage: &StageMetrics,
    experiment: &str,
    use_server_output_tokens: bool,
) -> Option<Value> {
    let bucket = stage.total();
    // The lifecycle report's own counts and throughputs, so that both files agree.
    let native = lifecycle(&bucket, Scope::Stage(&stage.info), &[], None);
    let total = native["load_summary"]["count"].as_u64().unwrap_or(0);
    if total == 0 {
        return None;
    }
    let successes = &bucket.successes;
    let mut requests = Map::new();
    requests.insert("total".into(), json!(total));
    requests.insert("failures".into(), native["failures"]["count"].clone());
    let output = if use_server_output_tokens {
        &successes.output_tokens
    } else {
        &successes.output_len
    };
    insert_statistics(
        &mut requests,
        "input_length",
        &successes.prompt_tokens,
        "count",
    );
    insert_statistics(&mut requests, "output_length", output, "count");

    let mut latency = Map::new();
    for (key, dist, units) in [
        ("time_to_first_token", &successes.time_to_first_token, "s"),
        (
            "normalized_time_per_output_token",
            &successes.normalized_time_per_output_token,
            "s/token",
        ),
        (
            "time_per_output_token",
            &successes.time_per_output_token,
            "s/token",
        ),
        (
            "inter_token_latency",
            &successes.inter_token_latency,
            "s/token",
        ),
        ("request_latency", &successes.request_latency, "s"),
    ] {
        insert_statistics(&mut latency, key, dist, units);
    }

    let mut aggregate = Map::new();
    aggregate.insert("requests".into(), Value::Object(requests));
    aggregate.insert("latency".into(), Value::Object(latency));
    let rates = &native["successes"]["throughput"];
    if successes.count > 0 && native["benchmark_time_seconds"].as_f64() > Some(0.0) {
        let rate = |key: &str, units: &str| json!({"units": units, "mean": rates[key]});
        aggregate.insert(
            "throughput".into(),
            json!({
                "input_token_rate": rate("input_tokens_per_sec", "tokens/s"),
                "output_token_rate": rate("output_tokens_per_sec", "tokens/s"),
                "total_token_rate": rate("total_tokens_per_sec", "tokens/s"),
                "request_rate": rate("requests_per_sec", "queries/s"),
            }),
        );
    }
    let info = &stage.info;
    Some(json!({
        "version": BENCHMARK_REPORT_VERSION,
        "run": {
            "uid": format!("ibench-stage-{}-{}", info.id, run_id_of(&[info.start, info.end])),
            "eid": experiment,
            "time": {
                "start": iso_time(info.start),
                "end": iso_time(info.end),
                "duration": format!("PT{:.3}S", (info.end - info.start).max(0.0)),
            },
        },
        "results": {"request_performance": {"aggregate": aggregate}},
    }))
}

/// A distribution's block; none for an empty one, no `stddev` for a single value.
fn insert_statistics(into: &mut Map<String, Value>, key: &str, dist: &Dist, units: &str) {
    let (Some(mean), Some(min), Some(max)) = (dist.mean(), dist.min(), dist.max()) else {
        return;
    };
    let mut block = Map::new();
    block.insert("units".into(), json!(units));
    block.insert("mean".into(), json!(mean));
    if let Some(stddev) = dist.stddev() {
        block.insert("stddev".into(), json!(stddev));
    }
    block.insert("min".into(), json!(min));
    for (p, name) in PERCENTILES {
        block.insert(name.into(), json!(dist.percentile(p)));
    }
    block.insert("max".into(), json!(max));
    into.insert(key.into(), Value::Object(block));
}

/// ISO 8601 in UTC with microseconds, as pydantic writes a `datetime`.
fn iso_time(unix_seconds: f64) -> String {
    let micros = (unix_seconds * 1e6).round() as i64;
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default()
}

/// Eight hex digits naming the run: the same for the merged report of many runners as for each
/// (derived from the stages' times, not drawn at random).
fn run_id(run: &RunMetrics) -> String {
    let times: Vec<f64> = run
        .stages
        .iter()
        .flat_map(|s| [s.info.start, s.info.end])
        .collect();
    run_id_of(&times)
}

fn run_id_of(times: &[f64]) -> String {
    // FNV-1a over the times' bits: stable across builds and platforms.
    let hash = times
        .iter()
        .flat_map(|t| t.to_bits().to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, byte| {
            (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{:08x}", hash as u32)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::metrics::{
        Bucket, Clock, Outcome, RecordOptions, RequestRecord, Response, StageInfo, StageStatus,
        Usage,
    };

    fn stage(latencies_ms: &[u64]) -> StageMetrics {
        let base = Instant::now();
        let clock = Clock::now();
        let mut bucket = Bucket::default();
        for &ms in latencies_ms {
            let at = |t| base + Duration::from_millis(t);
            bucket.record(
                &RequestRecord {
                    index: 0,
                    adapter: None,
                    scheduled: base,
                    start: Some(base),
                    end: at(ms),
                    request_bytes: 10,
                    prompt_tokens: 4,
                    outcome: Outcome::Success(Response {
                        output_tokens: 2,
                        usage: Some(Usage {
                            prompt_tokens: Some(4),
                            completion_tokens: Some(2),
                            cached_tokens: None,
                        }),
                        chunks: vec![(at(ms / 2), 1), (at(ms), 1)],
                        first_answer: None,
                    }),
                    retried: None,
                    media: None,
                },
                &clock,
                &RecordOptions::default(),
            );
        }
        StageMetrics {
            info: StageInfo {
                id: 3,
                requested_rate: 1.0,
                concurrency: None,
                planned: latencies_ms.len() as u64,
                status: StageStatus::Completed,
                start: 1_796_500_000.25,
                end: 1_796_500_004.5,
                timeout: None,
            },
            base: bucket,
            adapters: Default::default(),
            completions: vec![],
            sessions: vec![],
        }
    }

    #[test]
    fn a_stage_report_has_the_v0_2_1_shape_and_agrees_with_the_lifecycle_report() {
        let stage = stage(&[100, 200, 300, 400]);
        let report = partial_stage_report(&stage, "ibench-experiment-0", false).unwrap();
        assert_eq!(report["version"], "0.2.1");
        let time = &report["run"]["time"];
        assert_eq!(time["start"], "2026-12-05T19:46:40.250000Z");
        assert_eq!(time["duration"], "PT4.250S");
        let aggregate = &report["results"]["request_performance"]["aggregate"];
        assert_eq!(aggregate["requests"]["total"], 4);
        assert_eq!(aggregate["requests"]["failures"], 0);
        assert_eq!(aggregate["requests"]["input_length"]["mean"], 4.0);
        let latency = &aggregate["latency"]["request_latency"];
        assert_eq!(latency["units"], "s");
        // numpy.std([0.1, 0.2, 0.3, 0.4], ddof=1)
        assert!((latency["stddev"].as_f64().unwrap() - 0.129_099_444_873_580_56).abs() < 1e-12);
        // Within the histogram's 3 significant digits.
        assert!((latency["p50"].as_f64().unwrap() - 0.25).abs() < 0.25e-3);
        assert!(latency.get("p0p1").is_some() && latency.get("p99p9").is_some());
        let native = lifecycle(&stage.total(), Scope::Stage(&stage.info), &[], None);
        assert_eq!(
            aggregate["throughput"]["request_rate"]["mean"],
            native["successes"]["throughput"]["requests_per_sec"]
        );
        assert_eq!(
            aggregate["throughput"]["request_rate"]["units"],
            "queries/s"
        );
    }

    #[test]
    fn one_value_has_no_stddev_and_an_empty_stage_has_no_report() {
        let report = partial_stage_report(&stage(&[100]), "e", false).unwrap();
        let latency = &report["results"]["request_performance"]["aggregate"]["latency"];
        assert!(latency["request_latency"].get("stddev").is_none());
        assert!(partial_stage_report(&stage(&[]), "e", false).is_none());
    }
}
