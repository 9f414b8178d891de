//! `spec.metrics` under the operator: runner 0 of a two-runner benchmark scrapes every pod of a
//! simulator Deployment (found through its Service before each scrape, each pod on its own
//! loopback address as on a pod network), and the operator puts each stage's server figures in
//! `status.stages[*].server` and the server-metrics files in the report ConfigMap.

mod common;

use std::time::{Duration, Instant};

use common::{Operator, RUNNER_IMAGE, cluster, create_benchmark, report_json, wait_benchmark};
use ibench_operator::crd;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

const SIM_PORT: u16 = 8000;
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// Two `ibench sim` pods that run 8 requests at once each: a request takes 20 ms + 19 × 10 ms,
/// so one pod serves about 38 requests per second and queues beyond.
fn sim_deployment() -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "sim"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "sim"}},
            "template": {
                "metadata": {"labels": {"app": "sim"}},
                "spec": {"containers": [{
                    "name": "sim",
                    "image": RUNNER_IMAGE,
                    "args": ["sim", "--host", "$(POD_IP)", "--port", SIM_PORT.to_string(),
                             "--model", "m", "--max-num-seqs", "8", "--ttft-ms", "20", "--itl-ms", "10"],
                    "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                }]},
            },
        },
    }))
    .expect("a well-formed Deployment")
}

fn sim_service() -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "sim"},
        "spec": {"selector": {"app": "sim"}, "ports": [{"port": SIM_PORT}]},
    }))
    .expect("a well-formed Service")
}

/// The IPs of the Deployment's pods once both run and answer.
async fn serving_sim_pods(client: &Client, ns: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listed = pods
            .list(&ListParams::default().labels("app=sim"))
            .await
            .expect("listing pods");
        let ips: Vec<String> = listed
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
            .collect();
        let mut answering = 0;
        for ip in &ips {
            let url = format!("http://{ip}:{SIM_PORT}/v1/models");
            if http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                answering += 1;
            }
        }
        if ips.len() == 2 && answering == 2 {
            return ips;
        }
        assert!(
            Instant::now() < deadline,
            "the simulator pods do not serve: {ips:?} running, {answering} answering\n{listed:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Stage 0 below one pod's capacity, stage 1 above it, 4 s apart so that no stage's window
/// (which ends one scrape interval after it) reaches into the next one.
fn benchmark_spec(base_url: &str) -> Value {
    json!({
        "server": {"type": "vllm", "baseUrl": base_url, "modelName": "m"},
        "data": {"type": "random",
                 "inputDistribution": {"min": 50, "max": 50, "mean": 50, "stdDev": 0},
                 "outputDistribution": {"min": 20, "max": 20, "mean": 20, "stdDev": 0}},
        "load": {"type": "constant", "interval": 4, "baseSeed": 7,
                 "stages": [{"rate": 5, "duration": 4}, {"rate": 60, "duration": 4}]},
        "metrics": {"type": "scrape",
                    "scrape": {"interval": 1, "pods": {"service": "sim", "port": SIM_PORT}}},
        "report": {"prometheus": {"summary": true, "perStage": true}},
        "runners": {"parallelism": 2},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_scrapes_every_pod_of_the_server_and_the_status_shows_each_stage() {
    let cp = cluster().await;
    let ns = cp.namespace("server-metrics").await.expect("namespace");
    let client = cp.client();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(&PostParams::default(), &sim_deployment())
        .await
        .expect("the Deployment is created");
    Api::<Service>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &sim_service())
        .await
        .expect("the Service is created");
    let ips = serving_sim_pods(&client, &ns).await;
    assert_ne!(ips[0], ips[1], "each pod has its own address");

    let operator = Operator::start(cp, &ns);
    // The load goes to one pod (no kube-proxy here); the scrapes go to both.
    let base_url = format!("http://{}:{SIM_PORT}", ips[0]);
    create_benchmark(&client, &ns, "scraped", benchmark_spec(&base_url))
        .await
        .expect("the benchmark is accepted");
    let ib = wait_benchmark(
        cp,
        &operator,
        &ns,
        "scraped",
        RUN_TIMEOUT,
        common::is_finished,
    )
    .await;
    let status = ib.status.clone().expect("status");
    let context = format!(
        "status: {status:#?}\n--- operator log ---\n{}",
        operator.log_tail(40)
    );
    assert_eq!(status.phase, Some(crd::Phase::Succeeded), "{context}");
    assert_eq!(status.stages.len(), 2, "{context}");

    // What the client counted and what the servers counted agree per stage: a stage's window
    // runs from its start to one scrape after its last response, so the counts are exact
    // unless a runner's last responses trail runner 0's stage end by more than a scrape
    // interval; allowed: one interval's worth of the stage's rate.
    for (stage, rate) in status.stages.iter().zip([5.0, 60.0]) {
        let server = stage
            .server
            .as_ref()
            .unwrap_or_else(|| panic!("stage {} has no server figures\n{context}", stage.id));
        let client_successes = (stage.requests - stage.failures) as f64;
        assert!(
            (server.requests - client_successes).abs() <= rate,
            "stage {}: server counted {}, clients {client_successes}\n{context}",
            stage.id,
            server.requests
        );
        assert!(server.error.is_none(), "{context}");
    }
    for stage in &status.stages {
        eprintln!(
            "stage {}: clients {} sent, {} failed; servers {:?}",
            stage.id, stage.requests, stage.failures, stage.server
        );
    }
    let (below, above) = (
        status.stages[0].server.as_ref().unwrap(),
        status.stages[1].server.as_ref().unwrap(),
    );
    assert!(below.queue_length_mean < 0.5, "{context}");
    assert!(
        above.queue_length_mean > 1.0
            && above.queue_length_max.unwrap_or(0.0) > above.queue_length_mean,
        "past capacity the queue grows\n{context}"
    );
    assert!(above.running_mean > below.running_mean, "{context}");
    assert!(above.kv_cache_usage_max.unwrap_or(0.0) > 0.0, "{context}");
    assert!(above.queue_time_p99_ms > 0.0, "{context}");

    let report: ConfigMap = Api::namespaced(client.clone(), &ns)
        .get("scraped-report")
        .await
        .expect("the report ConfigMap");
    let summary = report_json(&report, "summary_prometheus_metrics.json");
    let total = (status.summary.as_ref().unwrap().requests
        - status.summary.as_ref().unwrap().failures) as f64;
    assert_eq!(
        summary["successes"]["count"].as_f64(),
        Some(total),
        "the run's window holds every request\n{summary:#}"
    );
    for stage in 0..2 {
        let file = report_json(&report, &format!("stage_{stage}_prometheus_metrics.json"));
        assert!(
            file["successes"]["request_latency"]["mean"]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }
    let series = report_json(&report, "server_metrics_timeseries.json");
    let mut targets: Vec<String> = serde_json::from_value(series["targets"].clone()).unwrap();
    targets.sort();
    let mut expected: Vec<String> = ips.iter().map(|ip| format!("{ip}:{SIM_PORT}")).collect();
    expected.sort();
    assert_eq!(targets, expected, "both pods were scraped");
    assert_eq!(series["stages"].as_array().unwrap().len(), 2);

    deployments
        .delete("sim", &DeleteParams::background())
        .await
        .expect("the Deployment is deleted");
}
