//! `load.warmup`: requests sent before stage 0 at its rate, absorbing a cold server's slow
//! first requests, reported only in `warmup_lifecycle_metrics.json`.

use ibench_testkit as common;

use ibench_sim::{LatencyConfig, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warmup_absorbs_a_cold_start_and_is_reported_apart() {
    // The first 20 requests take 400 ms more to their first token; the rest 5 ms.
    let sim = common::sim(SimConfig {
        latency: LatencyConfig {
            ttft_ms: 5.0,
            itl_ms: 1.0,
            cold_start_requests: 20,
            cold_start_ms: 400.0,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        "api: {streaming: true}\nload: {type: constant, stages: [{rate: 20, duration: 2}, {rate: 20, duration: 1}], warmup: {duration: 2}}\nreport: {request_lifecycle: {per_request: true}}",
    );
    let outcome = common::run(config).await;

    // 2 s at stage 0's 20 req/s: 40 requests, the 20 cold ones among them.
    let warmup = common::report(&outcome, "warmup_lifecycle_metrics");
    assert_eq!(warmup["load_summary"]["count"], 40);
    assert_eq!(warmup["load_summary"]["requested_rate"], 20.0);
    let cold = warmup["successes"]["latency"]["time_to_first_token"]["max"]
        .as_f64()
        .unwrap();
    assert!(
        cold >= 0.4,
        "the cold requests are in the warm-up (max TTFT {cold} s)"
    );

    // None of them is in any other report.
    for (name, count) in [
        ("stage_0_lifecycle_metrics", 40),
        ("stage_1_lifecycle_metrics", 20),
        ("summary_lifecycle_metrics", 60),
    ] {
        let report = common::report(&outcome, name);
        assert_eq!(report["load_summary"]["count"], count, "{name}");
        let ttft = report["successes"]["latency"]["time_to_first_token"]["max"]
            .as_f64()
            .unwrap();
        assert!(
            ttft < 0.2,
            "{name}: max TTFT {ttft} s includes a cold request"
        );
    }
    let records = common::per_request(dir.path());
    assert_eq!(
        records.len(),
        60,
        "per-request records are the stages' only"
    );
    assert!(records.iter().all(|r| r["stage_id"].as_u64() < Some(2)));
    assert_eq!(sim.stats().requests_received, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warmup_of_requests_on_a_concurrent_load_keeps_its_level() {
    let sim = common::sim_with_latency(20.0, 1.0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        "load: {type: concurrent, stages: [{num_requests: 30, concurrency_level: 3}], warmup: {requests: 12}}",
    );
    let outcome = common::run(config).await;
    let warmup = common::report(&outcome, "warmup_lifecycle_metrics");
    assert_eq!(warmup["load_summary"]["count"], 12);
    assert_eq!(warmup["load_summary"]["concurrency"], 3);
    assert_eq!(
        common::report(&outcome, "summary_lifecycle_metrics")["load_summary"]["count"],
        30
    );
    assert_eq!(sim.stats().requests_received, 42);
    assert!(sim.stats().max_in_flight <= 3);
}
