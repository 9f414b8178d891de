//! End to end on the real control plane: an InferenceBenchmark becomes an Indexed Job whose
//! pods run the real `ibench` runner binary against the simulator on loopback, and the merged
//! result lands in the status and the report ConfigMap.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ibench_operator::crd::{self, InferenceBenchmark};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_with_two_adapters_achieve_the_rate_and_lose_nothing() {
    let cp = cluster().await;
    let ns = cp.namespace("e2e-lora").await.expect("namespace");
    let client = cp.client();
    let sim = simulator("base-model", &["lora-a", "lora-b"]).await;
    let operator = Operator::start(cp, &ns);
    operator.wait_ready().await;

    let spec = lora_e2e_spec(&sim.base_url());
    create_benchmark(&client, &ns, "lora", spec)
        .await
        .expect("the benchmark is accepted");

    // One Indexed Job with two pods running the runner binary.
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let job = cp
        .wait_for(&jobs, "lora-g1", Duration::from_secs(30), |_| true)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", operator.log_tail(40)));
    let job_spec = job.spec.as_ref().unwrap();
    assert_eq!(job_spec.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(
        (
            job_spec.completions,
            job_spec.parallelism,
            job_spec.backoff_limit_per_index
        ),
        (Some(2), Some(2), Some(0))
    );
    let container = &job_spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        container.command.as_deref(),
        Some(&["ibench".to_string(), "agent".to_string()][..])
    );

    match kubectl_wait(cp.kubeconfig_path(), &ns, "lora", "Succeeded", RUN_TIMEOUT) {
        Some(Ok(out)) => assert!(out.contains("condition met"), "{out}"),
        Some(Err(out)) => panic!(
            "kubectl wait failed: {out}\n{}\n--- operator ---\n{}",
            cp.diagnostics(&ns).await,
            operator.log_tail(60)
        ),
        None => {
            eprintln!("kubectl not found; waiting for the same condition through the API");
            wait_benchmark(cp, &operator, &ns, "lora", RUN_TIMEOUT, |ib| {
                ib.status
                    .as_ref()
                    .is_some_and(|s| s.observed_generation == ib.metadata.generation)
                    && condition(ib, crd::CONDITION_SUCCEEDED).is_some_and(|c| c.status == "True")
            })
            .await;
        }
    }
    let ib: InferenceBenchmark = Api::namespaced(client.clone(), &ns)
        .get("lora")
        .await
        .unwrap();
    let report = check_lora_e2e(&client, &ns, "lora", &ib, &sim).await;
    let status = ib.status.clone().unwrap();
    let skew = status
        .runners
        .as_ref()
        .and_then(|r| r.start_skew_ms)
        .expect("start skew reported");
    assert!(skew < 250.0, "runners started {skew} ms apart");
    // Both runners measured their clock against the API server's: the skew is on that clock.
    // They share this machine's clock, so their offsets may differ only by the uncertainty.
    let runners = status.runners.as_ref().unwrap();
    let error = runners
        .start_skew_error_ms
        .expect("both runners' clock offsets");
    assert!(
        runners.clock_spread_ms.is_some_and(|c| c <= error + 0.001) && error < 100.0,
        "{runners:?}"
    );
    assert!(status.start_time.is_some() && status.completion_time.is_some());

    let stage = report_json(&report, "stage_0_lifecycle_metrics.json");
    assert_eq!(stage["load_summary"]["requested_rate"].as_f64(), Some(40.0));
    assert!(report.data.as_ref().unwrap()["config.yaml"].contains("lora_traffic_split"));
    // The stage's Benchmark Report, from the two runners' merged histograms, agrees with the
    // merged stage report and with what the simulator received.
    let data = report.data.as_ref().unwrap();
    let benchmark: Value = serde_yaml::from_str(&data["inference-perf.partial.stage_0.yaml"])
        .expect("the Benchmark Report is YAML");
    let aggregate = &benchmark["results"]["request_performance"]["aggregate"];
    assert_eq!(benchmark["version"], "0.2.1");
    assert_eq!(
        aggregate["requests"]["total"].as_u64(),
        Some(sim.stats().requests_received)
    );
    assert_eq!(
        aggregate["requests"]["total"],
        stage["load_summary"]["count"]
    );
    let latency = &aggregate["latency"]["request_latency"];
    assert!(
        latency["p0p1"].as_f64() <= latency["p50"].as_f64()
            && latency["p50"].as_f64() <= latency["p99p9"].as_f64()
            && latency["stddev"].as_f64().is_some_and(|s| s > 0.0),
        "{latency}"
    );
    // The merged report set checks out against itself (inference-perf's validation).
    let validation: Value = serde_json::from_str(&data["validation.json"]).unwrap();
    let validated: Vec<&String> = validation["reports"].as_object().unwrap().keys().collect();
    assert_eq!(
        validated,
        [
            "summary_lifecycle_metrics.json",
            "stage_0_lifecycle_metrics.json",
            "inference-perf.partial.stage_0.yaml"
        ]
    );
    let errors = ibench_testkit::validation_errors(&validation);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        status
            .report
            .as_ref()
            .map(|r| (r.generation, r.runners.as_str())),
        Some((1, "2/2"))
    );

    // Both pods ran the runner.
    let pods: Vec<Pod> = Api::namespaced(client.clone(), &ns)
        .list(&ListParams::default().labels("job-name=lora-g1"))
        .await
        .unwrap()
        .items;
    assert_eq!(pods.len(), 2);
    for pod in &pods {
        let log = cp
            .container_log(&ns, pod.metadata.name.as_deref().unwrap(), "runner")
            .unwrap_or_default();
        assert!(log.contains("start time received"), "{log}");
    }

    // Events for the start and the completion.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = Api::<Event>::namespaced(client.clone(), &ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let reasons: Vec<&str> = events.iter().filter_map(|e| e.reason.as_deref()).collect();
        if reasons.contains(&"Started") && reasons.contains(&"Succeeded") {
            break;
        }
        assert!(Instant::now() < deadline, "events: {reasons:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The operator's own endpoints.
    let (code, metrics) = operator.http_get("/metrics").await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains("ibench_operator_reconciles_total{result=\"ok\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ibench_operator_reconcile_duration_seconds_count"),
        "{metrics}"
    );
    assert_eq!(operator.http_get("/healthz").await.0, 200);
    let (code, body) = operator.http_get("/readyz").await;
    assert_eq!(code, 200, "{body}\n{}", operator.log_tail(30));
    // JSON logs, one object per line.
    let log = operator.log();
    assert!(
        log.lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{}",
        operator.log_tail(5)
    );
    sim.shutdown().await;
}
