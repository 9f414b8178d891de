//! `spec.circuitBreakers` under the operator: a breaker that trips on one runner stops all of
//! them.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use ibench_operator::crd;
use ibench_sim::{FaultRates, LatencyConfig, SimConfig, SimServer};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_tripped_on_one_runner_stops_all_three() {
    let cp = cluster().await;
    let ns = cp.namespace("breaker").await.expect("namespace");
    let client = cp.client();
    // After 5 s one replica of three breaks: every 3rd request in arrival order fails, which
    // at 30 req/s in plan order is every request of runner 0 (request i goes to runner i mod 3).
    let sim = SimServer::start(SimConfig {
        model: "m".into(),
        latency: LatencyConfig {
            ttft_ms: 5.0,
            itl_ms: 1.0,
            ..Default::default()
        },
        faults: FaultRates {
            error_500: 1.0,
            after_ms: 5_000,
            every: 3,
            ..Default::default()
        },
        record_requests: Some(10_000),
        threads: 1,
        ..Default::default()
    })
    .await
    .expect("the simulator starts");
    let operator = Operator::start(cp, &ns);
    operator.wait_ready().await;

    let mut spec = spec(&sim.base_url(), "m", 30.0, 10, 3);
    spec["load"]["stages"] = json!([{"rate": 30.0, "duration": 10}, {"rate": 30.0, "duration": 5}]);
    spec["load"]["interval"] = json!(0);
    spec["load"]["workerRealtimePriority"] = json!(true);
    spec["load"]["circuitBreakers"] = json!(["bad-replica"]);
    // Every record is watched, so a success ends a run of failures: only runner 0 sees five
    // failures in a row.
    spec["circuitBreakers"] = json!([{
        "name": "bad-replica",
        "metrics": {"matches": ["`true`"], "rules": ["error"]},
        "triggers": [{"type": "consecutive", "threshold": 5}],
    }]);
    create_benchmark(&client, &ns, "breaker", spec)
        .await
        .expect("accepted");

    let ib = wait_benchmark(cp, &operator, &ns, "breaker", RUN_TIMEOUT, is_finished).await;
    let c = condition(&ib, crd::CONDITION_SUCCEEDED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "CircuitBreakerTripped"),
        "{}",
        c.message
    );
    assert!(
        c.message
            .starts_with("circuit breaker \"bad-replica\" tripped in stage 0 on runner 0"),
        "{}",
        c.message
    );

    let report = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("breaker-report")
        .await
        .expect("report ConfigMap");
    let trip = report_json(&report, "circuit_breaker.json");
    assert_eq!(
        (trip["runner"].as_u64(), trip["stage_id"].as_u64()),
        (Some(0), Some(0))
    );
    let trip_time = trip["time"].as_f64().unwrap();

    // Nothing reached the server later than 2 s after the trip, from any runner.
    let last_arrival = sim
        .requests()
        .iter()
        .map(|r| {
            let at = SystemTime::now() - r.arrived.elapsed();
            at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
        })
        .fold(f64::MIN, f64::max);
    assert!(
        last_arrival <= trip_time + 2.0,
        "a request arrived {:.3} s after the trip",
        last_arrival - trip_time
    );
    // The second stage was sent by no runner; the first was cut short.
    let stage1 = report_json(&report, "stage_1_lifecycle_metrics.json");
    assert_eq!(stage1["load_summary"]["count"].as_u64(), Some(0));
    assert_eq!(stage1["cancelled"]["not_sent"].as_u64(), Some(150));
    let stage0 = report_json(&report, "stage_0_lifecycle_metrics.json");
    let sent = stage0["load_summary"]["count"].as_u64().unwrap();
    assert!((150..300).contains(&sent), "{sent} of stage 0's 300 sent");
    assert_eq!(stage0["cancelled"]["not_sent"].as_u64(), Some(300 - sent));
    assert_eq!(sim.stats().requests_received, sent);

    // Runner 0 tripped; the operator stopped the other two.
    let pods: Vec<Pod> = Api::namespaced(client.clone(), &ns)
        .list(&ListParams::default().labels("job-name=breaker-g1"))
        .await
        .unwrap()
        .items;
    let logs: Vec<String> = pods
        .iter()
        .map(|p| {
            cp.container_log(&ns, p.metadata.name.as_deref().unwrap(), "runner")
                .unwrap_or_default()
        })
        .collect();
    let count = |text: &str| logs.iter().filter(|l| l.contains(text)).count();
    assert_eq!(
        (
            count("circuit breaker tripped; stopping every runner"),
            count("circuit breaker tripped on another runner; stopping")
        ),
        (1, 2),
        "{logs:#?}"
    );
}
