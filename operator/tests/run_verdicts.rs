//! Runs that decide, under the operator. `spec.report.slo`: the same objectives pass against a
//! fast simulator and fail against a slow one, judged on the histograms merged from two runner
//! pods, and `kubectl wait --for=condition=SLOMet` gates on the verdict as a pipeline would.
//! (Circuit breakers across runners: operator/tests/circuit_breakers.rs.)

mod common;

use std::time::Duration;

use common::*;
use ibench_operator::crd::{self, InferenceBenchmark};
use ibench_sim::{LatencyConfig, SimConfig, SimServer};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::json;

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The tests of this file run one at a time: the search's real-time workers at up to 200 req/s
/// would starve the control plane and the operator of a 2-core machine while another test
/// times how fast a stop travels through them.
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

async fn sim_with_ttft(ttft_ms: f64) -> SimServer {
    SimServer::start(SimConfig {
        model: "m".into(),
        latency: LatencyConfig {
            ttft_ms,
            itl_ms: 1.0,
            ..Default::default()
        },
        threads: 1,
        ..Default::default()
    })
    .await
    .expect("the simulator starts")
}

/// Two runners, 10 req/s for 3 s; time to first token under 100 ms at p99 and no failure.
fn slo_spec(base_url: &str) -> serde_json::Value {
    let mut spec = spec(base_url, "m", 10.0, 3, 2);
    spec["report"] = json!({"slo": {"thresholds": [
        {"metric": "time_to_first_token", "stat": "p99", "max": 0.1},
        {"metric": "failure_ratio", "max": 0.0},
    ]}});
    spec
}

/// Waits with kubectl where it is installed, else for the same condition through the API.
async fn wait_for_condition(
    cp: &ibench_testcluster::ControlPlane,
    operator: &Operator,
    ns: &str,
    name: &str,
    status: &str,
) -> InferenceBenchmark {
    let wanted = format!("{}={status}", crd::CONDITION_SLO_MET);
    match kubectl_wait(cp.kubeconfig_path(), ns, name, &wanted, RUN_TIMEOUT) {
        Some(Ok(out)) => assert!(out.contains("condition met"), "{out}"),
        Some(Err(out)) => panic!(
            "kubectl wait --for=condition={wanted} failed: {out}\n{}\n--- operator ---\n{}",
            cp.diagnostics(ns).await,
            operator.log_tail(60)
        ),
        None => eprintln!("kubectl not found; waiting for {wanted} through the API"),
    }
    wait_benchmark(cp, operator, ns, name, RUN_TIMEOUT, |ib| {
        is_finished(ib)
            && condition(ib, crd::CONDITION_SLO_MET)
                .is_some_and(|c| c.status.eq_ignore_ascii_case(status))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_objectives_pass_on_a_fast_server_and_fail_on_a_slow_one() {
    let _serial = one_at_a_time().await;
    let cp = cluster().await;
    let ns = cp.namespace("slo").await.expect("namespace");
    let client = cp.client();
    let fast = sim_with_ttft(10.0).await;
    let slow = sim_with_ttft(250.0).await;
    let operator = Operator::start(cp, &ns);
    operator.wait_ready().await;

    create_benchmark(&client, &ns, "fast", slo_spec(&fast.base_url()))
        .await
        .expect("accepted");
    create_benchmark(&client, &ns, "slow", slo_spec(&slow.base_url()))
        .await
        .expect("accepted");

    let passed = wait_for_condition(cp, &operator, &ns, "fast", "True").await;
    let status = passed.status.as_ref().unwrap();
    assert_eq!(status.phase, Some(crd::Phase::Succeeded));
    let slo = status.slo.as_ref().expect("status.slo");
    // Two thresholds on the stage and on the run.
    assert_eq!((slo.met, slo.checks, slo.failed_checks), (Some(true), 4, 0));
    assert_eq!(status.summary.as_ref().map(|s| s.requests), Some(30));

    let missed = wait_for_condition(cp, &operator, &ns, "slow", "False").await;
    let status = missed.status.as_ref().unwrap();
    // The benchmark ran as asked: only its objectives were missed.
    assert_eq!(status.phase, Some(crd::Phase::Succeeded));
    let c = condition(&missed, crd::CONDITION_SLO_MET).unwrap();
    assert_eq!(c.reason, "ObjectivesMissed");
    assert!(
        c.message
            .starts_with("2 of 4 SLO checks failed: stage_0: time_to_first_token p99 = 0.2")
            && c.message.contains("run: time_to_first_token p99"),
        "{}",
        c.message
    );
    let slo = status.slo.as_ref().unwrap();
    assert_eq!((slo.met, slo.failed_checks), (Some(false), 2));

    // The report ConfigMap carries the verdict file of the merged run.
    let report = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("slow-report")
        .await
        .expect("report ConfigMap");
    let verdict = report_json(&report, "slo_verdict.json");
    assert_eq!(verdict["passed"], false);
    assert_eq!(verdict["checks"][0]["scope"], "stage_0");
    let ttft = verdict["checks"][0]["value"].as_f64().unwrap();
    assert!(
        (0.25..0.3).contains(&ttft),
        "TTFT p99 {ttft} s from a 250 ms server"
    );
    assert_eq!(fast.stats().requests_received, 30);
    assert_eq!(slow.stats().requests_received, 30);
}

/// `load.sloSearch` under the operator: the highest rate meeting the SLO lands in
/// `status.slo.maxRate` (the model of the simulator's capacity is derived in
/// runner/cli/tests/slo.rs: about 74 req/s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slo_search_writes_the_highest_rate_into_the_status() {
    let _serial = one_at_a_time().await;
    let cp = cluster().await;
    let ns = cp.namespace("slo-search").await.expect("namespace");
    let client = cp.client();
    let sim = SimServer::start(SimConfig {
        model: "m".into(),
        latency: LatencyConfig {
            ttft_ms: 20.0,
            itl_ms: 10.0,
            ..Default::default()
        },
        max_num_seqs: Some(8),
        threads: 1,
        ..Default::default()
    })
    .await
    .expect("the simulator starts");
    let operator = Operator::start(cp, &ns);
    operator.wait_ready().await;
    let spec = json!({
        "server": {"baseUrl": sim.base_url(), "modelName": "m", "ignoreEos": true},
        "api": {"streaming": true},
        "data": {"type": "random",
                 "inputDistribution": {"min": 10, "max": 10, "mean": 10, "stdDev": 0},
                 "outputDistribution": {"min": 10, "max": 10, "mean": 10, "stdDev": 0}},
        "load": {"type": "constant", "interval": 0, "numWorkers": 2, "workerRealtimePriority": true,
                 "sloSearch": {"minRate": 50.0, "maxRate": 200.0, "stageDuration": 4.0, "maxProbes": 8, "tolerance": 0.02}},
        "report": {"slo": {"thresholds": [{"metric": "time_to_first_token", "stat": "p99", "max": 0.1}]}},
    });
    create_benchmark(&client, &ns, "search", spec)
        .await
        .expect("accepted");
    let ib = wait_for_condition(cp, &operator, &ns, "search", "True").await;
    let status = ib.status.as_ref().unwrap();
    let slo = status.slo.as_ref().expect("status.slo");
    let capacity = 8.0 / 0.11;
    let expected = capacity * (1.0 + 0.08 / (0.99 * 4.0));
    let found = slo.max_rate.expect("status.slo.maxRate");
    assert!(
        (found - expected).abs() / expected <= 0.10,
        "maxRate {found}, expected about {expected:.1}: {slo:?}"
    );
    assert!(slo.checks <= 8, "{slo:?}");
    let report = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("search-report")
        .await
        .expect("report ConfigMap");
    assert_eq!(
        report_json(&report, "slo_max_rate.json")["max_rate"].as_f64(),
        Some(found)
    );
}
