//! inference-perf's `circuit_breakers` with `ibench run` against a faulty simulator: a tripped
//! breaker stops the run where it tripped, later stages go unsent (counted in `cancelled`),
//! the reports are written with `circuit_breaker.json`, and the exit code is 4.

use std::path::Path;
use std::process::Output;

use ibench_sim::{FaultRates, SimConfig, SimServer};
use ibench_testkit as common;
use serde_json::Value;

/// Two stages of 3 s at 20 req/s; per-request records to check the trip against.
fn run(dir: &Path, sim: &SimServer, breakers: &str, load_extra: &str) -> Output {
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  type: vllm\n  base_url: {}\nload:\n  stages:\n  - {{rate: 20, duration: 3}}\n  - {{rate: 20, duration: 3}}\n  interval: 0\n{load_extra}circuit_breakers:\n{breakers}report:\n  request_lifecycle:\n    per_request: true\nstorage:\n  local_storage:\n    path: {}\n",
            sim.base_url(),
            dir.join("reports").display()
        ),
    )
    .unwrap();
    common::ibench_run(env!("CARGO_BIN_EXE_ibench"), &config)
}

fn report(dir: &Path, name: &str) -> Value {
    let path = dir.join("reports").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .unwrap()
}

fn records(dir: &Path) -> Vec<Value> {
    common::per_request(&dir.join("reports"))
}

fn failing_sim(faults: FaultRates) -> SimConfig {
    SimConfig {
        faults,
        hang_timeout_ms: 30_000,
        seed: Some(7),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_breaker_trips_on_the_tenth_timeout_and_later_stages_are_not_sent() {
    // Every request hangs until the client's 0.2 s timeout.
    let sim = common::sim(failing_sim(FaultRates {
        hang: 1.0,
        ..Default::default()
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &sim,
        "- name: timeouts\n  metrics:\n    matches: [error]\n    rules: [\"error.error_type == 'TimeoutError'\"]\n  triggers:\n  - {type: consecutive, threshold: 10}\n",
        "  request_timeout: 0.2\n  circuit_breakers: [timeouts]\n",
    );
    let text = common::output_text(&output);
    assert_eq!(output.status.code(), Some(4), "{text}");
    assert!(
        text.contains("circuit breaker \"timeouts\" tripped in stage 0"),
        "{text}"
    );

    let trip = report(dir.path(), "circuit_breaker");
    assert_eq!(
        (trip["name"].as_str(), trip["stage_id"].as_u64()),
        (Some("timeouts"), Some(0))
    );
    let trip_time = trip["time"].as_f64().unwrap();

    // The breaker tripped on the 10th timeout to end, and nothing was sent after it.
    let mut ends: Vec<f64> = records(dir.path())
        .iter()
        .filter(|r| r["error"]["error_type"] == "TimeoutError")
        .map(|r| r["end_time"].as_f64().unwrap())
        .collect();
    ends.sort_by(f64::total_cmp);
    assert!(ends.len() >= 10, "{} timeouts", ends.len());
    assert!(
        (ends[9] - trip_time).abs() < 1e-3,
        "10th timeout at {}, trip at {trip_time}",
        ends[9]
    );
    let last_send = records(dir.path())
        .iter()
        .filter_map(|r| r["start_time"].as_f64())
        .fold(f64::MIN, f64::max);
    assert!(
        last_send <= trip_time,
        "a request was sent {} s after the trip",
        last_send - trip_time
    );

    // Stage 0 sent what it had before the trip; every other request is accounted as not sent.
    let stage0 = report(dir.path(), "stage_0_lifecycle_metrics");
    let stage1 = report(dir.path(), "stage_1_lifecycle_metrics");
    let sent = stage0["load_summary"]["count"].as_u64().unwrap();
    assert!(
        (10..30).contains(&sent),
        "{sent} sent before the trip at 20 req/s"
    );
    assert_eq!(stage0["failures"]["count"].as_u64(), Some(sent));
    assert_eq!(stage0["cancelled"]["not_sent"].as_u64(), Some(60 - sent));
    assert_eq!(stage1["load_summary"]["count"].as_u64(), Some(0));
    assert_eq!(stage1["cancelled"]["not_sent"].as_u64(), Some(60));
    assert_eq!(trip["not_sent"].as_u64(), Some(120 - sent));
    assert_eq!(sim.stats().requests_received, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_over_window_trips_only_once_the_window_holds_min_samples() {
    // Half the requests fail with 500; the window of 2 s holds about 40 requests at 20 req/s.
    let faults = FaultRates {
        error_500: 0.5,
        ..Default::default()
    };
    let breaker = |min_samples: u32| {
        format!(
            "- name: errors\n  metrics:\n    matches: [\"`true`\"]\n    rules: [error]\n  triggers:\n  - {{type: rate_over_window, window_sec: 2, threshold: 0.3, min_samples: {min_samples}}}\n"
        )
    };
    let sim = common::sim(failing_sim(faults.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &sim,
        &breaker(30),
        "  circuit_breakers: [errors]\n",
    );
    assert_eq!(
        output.status.code(),
        Some(4),
        "{}",
        common::output_text(&output)
    );
    let trip_time = report(dir.path(), "circuit_breaker")["time"]
        .as_f64()
        .unwrap();
    let finished_by_trip = records(dir.path())
        .iter()
        .filter(|r| r["end_time"].as_f64().is_some_and(|t| t <= trip_time))
        .count();
    assert_eq!(
        finished_by_trip, 30,
        "the 30th record tripped it (window not yet full)"
    );

    // A window of 2 s never holds 50 records at 20 req/s: the breaker cannot trip.
    let sim = common::sim(failing_sim(faults.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &sim,
        &breaker(50),
        "  circuit_breakers: [errors]\n",
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        common::output_text(&output)
    );
    assert!(!dir.path().join("reports/circuit_breaker.json").exists());
    assert_eq!(sim.stats().requests_received, 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_breaker_name_is_refused_before_anything_is_sent() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &sim,
        "- name: timeouts\n  metrics: {matches: [error]}\n  triggers: [{type: consecutive, threshold: 3}]\n",
        "  circuit_breakers: [timeout]\n",
    );
    let text = common::output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("load.circuit_breakers[0]: no breaker named \"timeout\" in circuit_breakers (defined: [\"timeouts\"])"),
        "{text}"
    );
    assert_eq!(sim.stats().requests_received, 0);
}
