//! A benchmark's life on the real control plane: operator restarts, spec changes, failures,
//! deadlines and deletion.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ibench_operator::crd::{self, InferenceBenchmark, Phase};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn phase(ib: &InferenceBenchmark) -> Option<Phase> {
    ib.status
        .as_ref()
        .filter(|s| s.observed_generation == ib.metadata.generation)?
        .phase
}

fn succeeded_condition(ib: &InferenceBenchmark) -> (String, String, String) {
    let c = condition(ib, crd::CONDITION_SUCCEEDED).expect("a Succeeded condition");
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// The message of a run that failed with `reason`.
fn failure_message(ib: &InferenceBenchmark, reason: &str) -> String {
    let (status, actual, message) = succeeded_condition(ib);
    assert_eq!(
        (status.as_str(), actual.as_str()),
        ("False", reason),
        "{message}"
    );
    message
}

fn report_count(cm: &ConfigMap) -> u64 {
    let text = &cm.data.as_ref().expect("report data")["summary_lifecycle_metrics.json"];
    serde_json::from_str::<Value>(text).unwrap()["load_summary"]["count"]
        .as_u64()
        .unwrap()
}

/// The pid of a running runner process, found by its environment.
fn runner_pid(run: &str, index: u32) -> Option<i32> {
    let wanted = [
        format!("IBENCH_RUN={run}"),
        format!("JOB_COMPLETION_INDEX={index}"),
    ];
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            let vars: Vec<String> = environ
                .split(|b| *b == 0)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect();
            wanted.iter().all(|w| vars.contains(w)).then_some(pid)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_operator_finishes_the_run_without_a_second_job() {
    let (cp, ns, client, sim, mut operator) = setup("restart").await;
    create_benchmark(
        &client,
        &ns,
        "restart",
        spec(&sim.base_url(), "m", 20.0, 8, 2),
    )
    .await
    .expect("created");

    wait_benchmark(cp, &operator, &ns, "restart", RUN_TIMEOUT, |ib| {
        phase(ib) == Some(Phase::Running)
    })
    .await;
    let job_uid = Api::<Job>::namespaced(client.clone(), &ns)
        .get("restart-g1")
        .await
        .expect("the Job")
        .metadata
        .uid;
    tokio::time::sleep(Duration::from_secs(2)).await;
    operator.kill();
    let sent_while_down = sim.stats().requests_received;
    tokio::time::sleep(Duration::from_secs(2)).await;
    operator.restart();

    let ib = wait_benchmark(cp, &operator, &ns, "restart", RUN_TIMEOUT, is_finished).await;
    assert_eq!(succeeded_condition(&ib).0, "True", "{:#?}", ib.status);
    let jobs = jobs(&client, &ns).await;
    assert_eq!(
        jobs.len(),
        1,
        "exactly one Job: {:?}",
        jobs.iter().map(|j| &j.metadata.name).collect::<Vec<_>>()
    );
    assert_eq!(jobs[0].metadata.uid, job_uid, "the Job was never recreated");
    let pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(pods.len(), 2, "no runner ran twice");
    let report: ConfigMap = Api::namespaced(client.clone(), &ns)
        .get("restart-report")
        .await
        .expect("report");
    assert!(sent_while_down > 0, "the operator was killed mid-run");
    assert_eq!(report_count(&report), sim.stats().requests_received);
    assert_eq!(sim.stats().requests_received, 160);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_change_supersedes_the_running_run_and_the_last_report_stays() {
    let (cp, ns, client, sim, operator) = setup("supersede").await;
    let api: Api<InferenceBenchmark> = Api::namespaced(client.clone(), &ns);
    create_benchmark(&client, &ns, "sup", spec(&sim.base_url(), "m", 10.0, 2, 1))
        .await
        .expect("created");
    let first = wait_benchmark(cp, &operator, &ns, "sup", RUN_TIMEOUT, is_finished).await;
    assert_eq!(succeeded_condition(&first).0, "True");
    let first_count = report_count(
        &Api::<ConfigMap>::namespaced(client.clone(), &ns)
            .get("sup-report")
            .await
            .unwrap(),
    );

    // Generation 2: a long run, replaced by generation 3 while it runs.
    let long =
        json!({"spec": {"runId": "long", "load": {"stages": [{"rate": 5.0, "duration": 300}]}}});
    api.patch("sup", &PatchParams::default(), &Patch::Merge(&long))
        .await
        .unwrap();
    wait_benchmark(cp, &operator, &ns, "sup", RUN_TIMEOUT, |ib| {
        ib.metadata.generation == Some(2) && phase(ib) == Some(Phase::Running)
    })
    .await;
    let report = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("sup-report")
        .await
        .unwrap();
    assert_eq!(
        report.metadata.annotations.as_ref().unwrap()["inferencebench.dev/generation"],
        "1",
        "the finished run's report stays"
    );

    let short =
        json!({"spec": {"runId": "short", "load": {"stages": [{"rate": 10.0, "duration": 2}]}}});
    api.patch("sup", &PatchParams::default(), &Patch::Merge(&short))
        .await
        .unwrap();
    let third = wait_benchmark(cp, &operator, &ns, "sup", RUN_TIMEOUT, |ib| {
        ib.metadata.generation == Some(3) && is_finished(ib)
    })
    .await;
    let status = third.status.clone().unwrap();
    assert_eq!(succeeded_condition(&third).0, "True", "{status:#?}");
    let history: Vec<(i64, &str)> = status
        .previous_runs
        .iter()
        .map(|r| (r.generation, r.outcome.as_str()))
        .collect();
    assert_eq!(history, [(2, "Superseded"), (1, "Succeeded")]);
    assert_eq!(
        status.run.as_ref().unwrap().run_id.as_deref(),
        Some("short")
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while Api::<Job>::namespaced(client.clone(), &ns)
        .get_opt("sup-g2")
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "the superseded Job is still there"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let report = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("sup-report")
        .await
        .unwrap();
    assert_eq!(
        report.metadata.annotations.as_ref().unwrap()["inferencebench.dev/generation"],
        "3"
    );
    assert_eq!(first_count, 20);
    assert_eq!(report_count(&report), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_runner_fails_the_run_naming_its_pod_and_is_not_retried() {
    let cp = cluster().await;
    let ns = cp.namespace("runner-fails").await.expect("namespace");
    let client = cp.client();
    let operator = Operator::start(cp, &ns);
    // Nothing listens there and no model is named: every runner fails to discover the model.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut spec = spec(&closed, "m", 5.0, 5, 2);
    spec["server"].as_object_mut().unwrap().remove("modelName");
    create_benchmark(&client, &ns, "bad", spec)
        .await
        .expect("created");
    let ib = wait_benchmark(cp, &operator, &ns, "bad", RUN_TIMEOUT, is_finished).await;
    let message = failure_message(&ib, "RunnerFailed");
    assert!(
        message.contains("(pod bad-g1-")
            && message.contains("exited with code 1")
            && message.contains("cannot determine the model"),
        "{message}"
    );
    assert_eq!(phase(&ib), Some(Phase::Failed));
    // Give a retry the time to show up; there must be none.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(pods.len(), 2, "one pod per runner, none retried");
}

/// Runs `dies` (two runners, 10 req/s for 6 s) and sends runner 1 `signal` 2 s in; returns the
/// finished benchmark, which must have failed naming runner 1, with `runners` reported.
async fn run_with_runner_1_signalled(
    prefix: &str,
    signal: nix::sys::signal::Signal,
    runners: &str,
) -> InferenceBenchmark {
    let (cp, ns, client, sim, operator) = setup(prefix).await;
    create_benchmark(&client, &ns, "dies", spec(&sim.base_url(), "m", 10.0, 6, 2))
        .await
        .expect("created");
    wait_benchmark(cp, &operator, &ns, "dies", RUN_TIMEOUT, |ib| {
        phase(ib) == Some(Phase::Running)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = runner_pid("dies-g1", 1).expect("runner 1 is running");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).expect("signalling runner 1");

    let ib = wait_benchmark(cp, &operator, &ns, "dies", RUN_TIMEOUT, is_finished).await;
    let message = failure_message(&ib, "RunnerFailed");
    assert!(
        message.contains("runner 1 (pod dies-g1-1-") && message.contains("exited with code"),
        "{message}"
    );
    let report = ib
        .status
        .as_ref()
        .unwrap()
        .report
        .clone()
        .expect("the runners' results are reported");
    assert_eq!(report.runners, runners);
    ib
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_dying_mid_run_fails_the_run_and_the_other_runner_is_reported() {
    let ib =
        run_with_runner_1_signalled("runner-dies", nix::sys::signal::Signal::SIGKILL, "1/2").await;
    let summary = ib.status.as_ref().unwrap().summary.clone().unwrap();
    assert_eq!(summary.requests, 30, "runner 0's half of 60 requests");
}

/// SIGTERM (a deleted or evicted pod): the runner stops sending, lets its requests in flight
/// finish and delivers what it sent, so the report has both runners' shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_runner_delivers_what_it_sent() {
    let ib =
        run_with_runner_1_signalled("runner-term", nix::sys::signal::Signal::SIGTERM, "2/2").await;
    let status = ib.status.as_ref().unwrap();
    let message = &condition(&ib, crd::CONDITION_SUCCEEDED).unwrap().message;
    assert!(
        message.contains("code 143") && message.contains("stopped by a signal"),
        "{message}"
    );
    let summary = status.summary.clone().unwrap();
    assert!(
        summary.requests > 30 && summary.requests < 60,
        "runner 0's 30 and runner 1's share up to the signal: {summary:?}"
    );
    assert_eq!(
        summary.failures, 0,
        "the requests in flight finished: {summary:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_ends_the_run_as_deadline_exceeded() {
    let (cp, ns, client, sim, operator) = setup("deadline").await;
    let mut spec = spec(&sim.base_url(), "m", 2.0, 600, 1);
    spec["activeDeadlineSeconds"] = json!(6);
    spec["ttlSecondsAfterFinished"] = json!(3600);
    create_benchmark(&client, &ns, "slow", spec)
        .await
        .expect("created");
    let ib = wait_benchmark(
        cp,
        &operator,
        &ns,
        "slow",
        Duration::from_secs(60),
        is_finished,
    )
    .await;
    let message = failure_message(&ib, "DeadlineExceeded");
    assert!(message.contains("activeDeadlineSeconds (6 s)"), "{message}");
    let job = Api::<Job>::namespaced(client.clone(), &ns)
        .get("slow-g1")
        .await
        .expect("the Job stays for inspection");
    assert_eq!(
        job.spec.as_ref().unwrap().ttl_seconds_after_finished,
        Some(3600)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_benchmark_removes_its_jobs_config_maps_and_rbac() {
    let (cp, ns, client, sim, operator) = setup("delete").await;
    // One finished (report ConfigMap) and one running (Job, pods, RBAC, run ConfigMaps).
    create_benchmark(&client, &ns, "done", spec(&sim.base_url(), "m", 10.0, 1, 1))
        .await
        .expect("created");
    create_benchmark(
        &client,
        &ns,
        "busy",
        spec(&sim.base_url(), "m", 2.0, 300, 2),
    )
    .await
    .expect("created");
    wait_benchmark(cp, &operator, &ns, "done", RUN_TIMEOUT, is_finished).await;
    wait_benchmark(cp, &operator, &ns, "busy", RUN_TIMEOUT, |ib| {
        phase(ib) == Some(Phase::Running)
    })
    .await;
    assert!(
        Api::<ServiceAccount>::namespaced(client.clone(), &ns)
            .get_opt("busy-g1-runner")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), &ns)
            .get_opt("done-report")
            .await
            .unwrap()
            .is_some()
    );

    // Without the operator only the garbage collector can remove the children.
    drop(operator);
    let api: Api<InferenceBenchmark> = Api::namespaced(client.clone(), &ns);
    for name in ["done", "busy"] {
        api.delete(name, &DeleteParams::default())
            .await
            .expect("deleting");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = [
            ("Jobs", managed::<Job>(&client, &ns).await),
            ("ConfigMaps", managed::<ConfigMap>(&client, &ns).await),
            (
                "ServiceAccounts",
                managed::<ServiceAccount>(&client, &ns).await,
            ),
            ("Roles", managed::<Role>(&client, &ns).await),
            ("RoleBindings", managed::<RoleBinding>(&client, &ns).await),
            ("Pods", managed::<Pod>(&client, &ns).await),
        ];
        if left.iter().all(|(_, n)| *n == 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left after deletion: {left:?}\n{}",
            cp.diagnostics(&ns).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How many objects of kind `K` in `ns` the operator made.
async fn managed<K>(client: &kube::Client, ns: &str) -> usize
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let selector = ListParams::default().labels("app.kubernetes.io/managed-by=ibench-operator");
    Api::<K>::namespaced(client.clone(), ns)
        .list(&selector)
        .await
        .expect("listing")
        .items
        .len()
}

/// A Warning event `Failed` about `name` whose note contains `needle`, within 10 s.
async fn wait_for_failed_event(client: &kube::Client, ns: &str, name: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let found = events.iter().any(|e| {
            e.reason.as_deref() == Some("Failed")
                && e.type_.as_deref() == Some("Warning")
                && e.involved_object.name.as_deref() == Some(name)
                && e.message.as_deref().is_some_and(|m| m.contains(needle))
        });
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no Warning event Failed for {name} with {needle:?}: {:?}",
            events.iter().map(|e| &e.message).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A server at a closed port (its model named, so no lookup fails) stops the runners before
/// stage 0, naming it; told to run anyway, the run fails as AllRequestsFailed, and the runner
/// counts keep following the Job after the end. A missing
/// API-key Secret fails its run within seconds, naming the Secret, in the condition and an
/// event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_and_a_missing_secret_fail_the_run_by_name() {
    let (cp, ns, client, sim, operator) = setup("verdicts").await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    // By default the runners stop before stage 0 when no connection to the server opens.
    create_benchmark(&client, &ns, "unreachable", spec(&dead, "m", 5.0, 2, 2))
        .await
        .expect("created");
    // Told to run anyway (for a server that starts late), they send everything, and fail.
    let mut late = spec(&dead, "m", 5.0, 2, 2);
    late["load"]["failFast"] = json!(false);
    create_benchmark(&client, &ns, "dead", late)
        .await
        .expect("created");
    let mut keyless = spec(&sim.base_url(), "m", 5.0, 2, 2);
    keyless["server"]["apiKeySecretRef"] = json!({"name": "api-keys", "key": "token"});
    let created = Instant::now();
    create_benchmark(&client, &ns, "keyless", keyless)
        .await
        .expect("created");

    let ib = wait_benchmark(cp, &operator, &ns, "keyless", RUN_TIMEOUT, is_finished).await;
    let message = failure_message(&ib, "RunnerFailed");
    assert!(
        message.contains("CreateContainerConfigError") && message.contains("\"api-keys\""),
        "{message}"
    );
    assert!(
        created.elapsed() < Duration::from_secs(60),
        "named after {:?}",
        created.elapsed()
    );
    wait_for_failed_event(&client, &ns, "keyless", "\"api-keys\"").await;

    let ib = wait_benchmark(cp, &operator, &ns, "unreachable", RUN_TIMEOUT, is_finished).await;
    let message = failure_message(&ib, "RunnerFailed");
    assert!(message.contains(&dead), "{message}");
    assert!(
        ib.status.as_ref().unwrap().start_time.is_none(),
        "stopped before stage 0"
    );

    let ib = wait_benchmark(cp, &operator, &ns, "dead", RUN_TIMEOUT, is_finished).await;
    let message = failure_message(&ib, "AllRequestsFailed");
    assert!(message.starts_with("10 of 10 requests failed"), "{message}");
    wait_for_failed_event(&client, &ns, "dead", "10 of 10 requests failed").await;
    let ib = wait_benchmark(cp, &operator, &ns, "dead", RUN_TIMEOUT, |ib| {
        ib.status
            .as_ref()
            .and_then(|s| s.runners.as_ref())
            .is_some_and(|r| r.active == 0 && r.succeeded == 2)
    })
    .await;
    assert_eq!(phase(&ib), Some(Phase::Failed));
}
