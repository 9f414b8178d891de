//! `spec.report.slo` under the operator: the same objectives pass against a fast simulator and
//! fail against a slow one, judged on the histograms merged from two runner pods, and
//! `kubectl wait --for=condition=SLOMet` gates on the verdict as a pipeline would.

mod common;

use std::time::Duration;

use common::*;
use ibench_operator::crd::{self, InferenceBenchmark};
use ibench_sim::{LatencyConfig, SimConfig, SimServer};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::json;

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

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
        c.message.starts_with("2 of 4 SLO checks failed: stage_0: time_to_first_token p99 = 0.2")
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
    assert!((0.25..0.3).contains(&ttft), "TTFT p99 {ttft} s from a 250 ms server");
    assert_eq!(fast.stats().requests_received, 30);
    assert_eq!(slow.stats().requests_received, 30);
}
