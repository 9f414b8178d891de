//! Every state of a run, as seen by the planner.

use std::sync::Arc;

use ibench_core::metrics::RunMetrics;
use ibench_core::protocol::{self, encode_metrics};
use k8s_openapi::ByteString;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{
    ConfigMap, ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    Pod, PodStatus,
};
use serde_json::json;

use super::*;
use crate::crd::{Phase, RunRef};
use crate::desired::Child;
use crate::naming::LABEL_GENERATION;
use crate::test_support::{benchmark, runner_metrics, settings, valid_spec};

const NOW: i64 = 1_764_300_000;

fn now() -> Timestamp {
    Timestamp::from_second(NOW).unwrap()
}

fn at(seconds: i64) -> Time {
    Time(Timestamp::from_second(seconds).unwrap())
}

fn names(generation: i64) -> RunNames {
    RunNames::new("bench", generation)
}

fn meta_of(
    name: String,
    generation: i64,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    let owner = crate::test_support::owner();
    let mut meta = owner.child_meta(name, Some(generation), naming::Component::RunnerResults);
    meta.resource_version = Some("7".into());
    meta
}

fn job(generation: i64, condition: Option<(&str, &str)>) -> Arc<Job> {
    let conditions = condition.map(|(type_, reason)| {
        vec![JobCondition {
            type_: type_.into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some(format!("{reason} happened")),
            last_transition_time: Some(at(NOW - 5)),
            ..Default::default()
        }]
    });
    Arc::new(Job {
        metadata: meta_of(names(generation).job().to_string(), generation),
        spec: None,
        status: Some(JobStatus {
            active: Some(if condition.is_some() { 0 } else { 2 }),
            succeeded: Some(if matches!(condition, Some(("Complete", _))) {
                2
            } else {
                0
            }),
            conditions,
            completion_time: matches!(condition, Some(("Complete", _))).then(|| at(NOW - 4)),
            ..Default::default()
        }),
    })
}

fn config(generation: i64, signal: Option<&str>) -> Arc<ConfigMap> {
    let mut data = [(protocol::CONFIG_KEY.to_string(), "server: {}".to_string())]
        .into_iter()
        .collect::<std::collections::BTreeMap<_, _>>();
    if let Some(signal) = signal {
        data.insert(protocol::START_AT_KEY.into(), signal.into());
    }
    Arc::new(ConfigMap {
        metadata: meta_of(names(generation).config_map(), generation),
        data: Some(data),
        ..Default::default()
    })
}

fn results(
    generation: i64,
    index: u32,
    state: &str,
    metrics: Option<&RunMetrics>,
) -> Arc<ConfigMap> {
    let mut data = std::collections::BTreeMap::from([
        (protocol::STATE_KEY.to_string(), state.to_string()),
        (
            protocol::POD_KEY.to_string(),
            format!("bench-g{generation}-{index}-abcde"),
        ),
    ]);
    if state == "failed" {
        data.insert(
            protocol::MESSAGE_KEY.into(),
            "cannot determine the model: connection refused".into(),
        );
    }
    if state == "running" {
        let progress = protocol::RunnerProgress {
            stage: 0,
            planned: 200,
            sent: 50,
            succeeded: 49,
            failed: 1,
            ..Default::default()
        };
        data.insert(
            protocol::PROGRESS_KEY.into(),
            serde_json::to_string(&progress).unwrap(),
        );
    }
    Arc::new(ConfigMap {
        metadata: meta_of(names(generation).result_map(index), generation),
        data: Some(data),
        binary_data: metrics.map(|m| {
            [(
                protocol::METRICS_KEY.to_string(),
                ByteString(encode_metrics(m)),
            )]
            .into()
        }),
        ..Default::default()
    })
}

fn failed_pod(generation: i64, index: u32, exit_code: i32) -> Arc<Pod> {
    runner_pod(
        generation,
        index,
        "Failed",
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code,
                reason: Some("Error".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
}

fn runner_pod(generation: i64, index: u32, phase: &str, state: ContainerState) -> Arc<Pod> {
    let job = names(generation).job().to_string();
    let mut meta = meta_of(format!("{job}-{index}-abcde"), generation);
    meta.labels
        .as_mut()
        .unwrap()
        .insert("batch.kubernetes.io/job-name".into(), job);
    meta.annotations.as_mut().unwrap().insert(
        "batch.kubernetes.io/job-completion-index".into(),
        index.to_string(),
    );
    Arc::new(Pod {
        metadata: meta,
        spec: None,
        status: Some(PodStatus {
            phase: Some(phase.into()),
            container_statuses: Some(vec![ContainerStatus {
                name: "runner".into(),
                state: Some(state),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    })
}

fn bench() -> InferenceBenchmark {
    benchmark("bench", valid_spec(2))
}

fn with_status(mut ib: InferenceBenchmark, status: InferenceBenchmarkStatus) -> InferenceBenchmark {
    ib.status = Some(status);
    ib
}

fn observed(
    jobs: Vec<Arc<Job>>,
    config_maps: Vec<Arc<ConfigMap>>,
    pods: Vec<Arc<Pod>>,
) -> Observed {
    Observed {
        jobs,
        config_maps,
        pods,
    }
}

fn condition<'a>(status: &'a InferenceBenchmarkStatus, type_: &str) -> (&'a str, &'a str) {
    let c = conditions::find(&status.conditions, type_)
        .unwrap_or_else(|| panic!("no {type_} in {status:?}"));
    (c.status.as_str(), c.reason.as_str())
}

fn metrics_of(start: f64) -> RunMetrics {
    runner_metrics(0, 40.0, &[("a", 0.010, 100), ("b", 0.020, 100)], start)
}

/// Both runners of generation 1 delivered their metrics and the Job completed.
fn completed(runner0: &RunMetrics, runner1: &RunMetrics) -> Observed {
    let start = format!("{}.000", NOW - 20);
    observed(
        vec![job(1, Some(("Complete", "CompletionsReached")))],
        vec![
            config(1, Some(&start)),
            results(1, 0, "done", Some(runner0)),
            results(1, 1, "done", Some(runner1)),
        ],
        vec![],
    )
}

/// Plans a reconcile, then checks that planning again from the resulting status changes
/// nothing (no status churn, no second event).
fn plan_twice(ib: &InferenceBenchmark, observed: &Observed) -> Plan {
    let first = plan(ib, observed, &settings(), now());
    let again = plan(
        &with_status(ib.clone(), first.status.clone()),
        observed,
        &settings(),
        now(),
    );
    assert_eq!(again.status, first.status, "status must be a fixed point");
    first
}

#[test]
fn a_new_benchmark_gets_its_whole_run_created() {
    let plan = plan_twice(&bench(), &Observed::default());
    let kinds: Vec<&str> = plan.apply.iter().map(Child::kind).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "ConfigMap",
            "ConfigMap",
            "Job"
        ]
    );
    let status = &plan.status;
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.phase, Some(Phase::Pending));
    assert_eq!(condition(status, CONDITION_ACCEPTED), ("True", "Validated"));
    assert_eq!(condition(status, CONDITION_RUNNING), ("False", "Creating"));
    assert_eq!(
        condition(status, CONDITION_SUCCEEDED),
        ("Unknown", "InProgress")
    );
    assert!(
        status
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(1) && c.last_transition_time == at(NOW))
    );
    assert_eq!(
        status.run,
        Some(RunRef {
            generation: 1,
            name: "bench-g1".into(),
            run_id: None
        })
    );
    assert!(plan.delete.is_empty() && plan.events.is_empty());
    assert_eq!(plan.requeue, Some(ACTIVE_REQUEUE));
}

#[test]
fn many_runners_report_progress_less_often() {
    let progress_env = |runners: u32| {
        let plan = plan(
            &benchmark("bench", valid_spec(runners)),
            &Observed::default(),
            &settings(),
            now(),
        );
        let Some(Child::Job(job)) = plan.apply.last() else {
            panic!("{:?}", plan.apply)
        };
        let container = &job
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0];
        container
            .env
            .iter()
            .flatten()
            .find(|e| e.name == protocol::ENV_PROGRESS_SECONDS)
            .and_then(|e| e.value.clone())
    };
    assert_eq!(progress_env(2).as_deref(), Some("5"));
    assert_eq!(
        progress_env(100).as_deref(),
        Some("20"),
        "5 writes/s in all"
    );
}

#[test]
fn an_existing_job_is_never_created_again() {
    let observed = observed(
        vec![job(1, None)],
        vec![config(1, None), results(1, 0, "ready", None)],
        vec![],
    );
    let plan = plan_twice(&bench(), &observed);
    assert!(plan.apply.is_empty(), "{:?}", plan.apply);
    assert_eq!(
        condition(&plan.status, CONDITION_RUNNING),
        ("False", "RunnersStarting")
    );
    assert_eq!(
        conditions::find(&plan.status.conditions, CONDITION_RUNNING)
            .unwrap()
            .message,
        "1/2 runners ready"
    );
    assert_eq!(plan.status.runners.as_ref().unwrap().ready, 1);
}

#[test]
fn one_start_time_is_published_once_every_runner_is_ready() {
    let observed = observed(
        vec![job(1, None)],
        vec![
            config(1, None),
            results(1, 0, "ready", None),
            results(1, 1, "ready", None),
        ],
        vec![],
    );
    let plan = plan(&bench(), &observed, &settings(), now());
    let [Child::ConfigMap(cm)] = plan.apply.as_slice() else {
        panic!("{:?}", plan.apply)
    };
    // 2 s lead plus 5 ms per runner.
    assert_eq!(
        cm.data.as_ref().unwrap()[protocol::START_AT_KEY],
        format!("{}.010", NOW + 2)
    );
    assert_eq!(
        cm.metadata.resource_version.as_deref(),
        Some("7"),
        "applied only over the version observed"
    );
    assert_eq!(plan.status.phase, Some(Phase::Running));
    assert_eq!(plan.status.start_time, Some(at(NOW + 2)));
    assert_eq!(
        plan.events.iter().map(|e| e.reason).collect::<Vec<_>>(),
        ["Started"]
    );
}

#[test]
fn a_running_run_shows_live_progress() {
    let start = format!("{}.000", NOW - 3);
    let observed = observed(
        vec![job(1, None)],
        vec![
            config(1, Some(&start)),
            results(1, 0, "running", None),
            results(1, 1, "running", None),
        ],
        vec![],
    );
    let plan = plan_twice(&bench(), &observed);
    assert!(plan.apply.is_empty());
    let progress = plan.status.progress.as_ref().unwrap();
    assert_eq!(
        (
            progress.planned,
            progress.sent,
            progress.succeeded,
            progress.failed
        ),
        (400, 100, 98, 2)
    );
    assert_eq!(plan.status.start_time, Some(at(NOW - 3)));
    assert_eq!(
        condition(&plan.status, CONDITION_RUNNING),
        ("True", "Running")
    );
    assert!(plan.events.is_empty());
}

#[test]
fn a_completed_job_merges_every_runner_into_status_and_report() {
    let observed = completed(&metrics_of(1000.0), &metrics_of(1000.004));
    let plan = plan_twice(&bench(), &observed);
    let [Child::ConfigMap(report)] = plan.apply.as_slice() else {
        panic!("{:?}", plan.apply)
    };
    assert_eq!(report.metadata.name.as_deref(), Some("bench-report"));
    let summary: serde_json::Value =
        serde_json::from_str(&report.data.as_ref().unwrap()["summary_lifecycle_metrics.json"])
            .unwrap();
    assert_eq!(summary["load_summary"]["count"], 400);
    let status = &plan.status;
    assert_eq!(status.phase, Some(Phase::Succeeded));
    assert_eq!(
        condition(status, CONDITION_SUCCEEDED),
        ("True", "Completed")
    );
    assert_eq!(condition(status, CONDITION_RUNNING), ("False", "Completed"));
    assert_eq!(status.completion_time, Some(at(NOW - 4)));
    let summary = status.summary.as_ref().unwrap();
    assert_eq!(
        (summary.requests, summary.failures, summary.requested_rate),
        (400, 0, Some(40.0))
    );
    assert_eq!(
        status
            .adapters
            .iter()
            .map(|a| (a.name.as_str(), a.requests))
            .collect::<Vec<_>>(),
        [("a", 200), ("b", 200)]
    );
    let runners = status.runners.as_ref().unwrap();
    assert_eq!(runners.start_skew_ms, Some(4.0));
    assert_eq!(
        (runners.start_skew_error_ms, runners.clock_spread_ms),
        (None, None),
        "no clock offsets: the runners' own clocks"
    );
    assert_eq!(
        status.report,
        Some(ReportRef {
            config_map: "bench-report".into(),
            generation: 1,
            runners: "2/2".into(),
            ..Default::default()
        })
    );
    assert_eq!(
        plan.events.iter().map(|e| e.reason).collect::<Vec<_>>(),
        ["Succeeded"]
    );
    assert_eq!(plan.requeue, None);
}

#[test]
fn the_start_skew_is_corrected_by_the_runners_clock_offsets() {
    // Both runners started at 1000.000 on their own clocks, runner 1's being 25 ms behind.
    let mut observed = completed(&metrics_of(1000.0), &metrics_of(1000.0));
    for (index, offset) in [
        (0, r#"{"offset":0.010,"uncertainty":0.001}"#),
        (1, r#"{"offset":0.035,"uncertainty":0.0005}"#),
    ] {
        let name = names(1).result_map(index);
        let cm = observed
            .config_maps
            .iter_mut()
            .find(|cm| cm.metadata.name.as_deref() == Some(name.as_str()))
            .unwrap();
        Arc::make_mut(cm)
            .data
            .get_or_insert_default()
            .insert(protocol::CLOCK_KEY.into(), offset.into());
    }
    let plan = plan_twice(&bench(), &observed);
    let runners = plan.status.runners.unwrap();
    assert_eq!(
        (
            runners.start_skew_ms,
            runners.start_skew_error_ms,
            runners.clock_spread_ms
        ),
        (Some(25.0), Some(2.0), Some(25.0))
    );
}

#[test]
fn results_lagging_behind_a_completed_job_are_awaited_then_missed() {
    let start = format!("{}.000", NOW - 20);
    let m0 = metrics_of(1000.0);
    let observed = observed(
        vec![job(1, Some(("Complete", "CompletionsReached")))],
        vec![
            config(1, Some(&start)),
            results(1, 0, "done", Some(&m0)),
            results(1, 1, "running", None),
        ],
        vec![],
    );
    let waiting = plan(&bench(), &observed, &settings(), now());
    assert_eq!(waiting.requeue, Some(RESULTS_REQUEUE));
    assert_eq!(waiting.status.phase, Some(Phase::Running));
    let late = plan(
        &bench(),
        &observed,
        &settings(),
        Timestamp::from_second(NOW + 120).unwrap(),
    );
    assert_eq!(
        condition(&late.status, CONDITION_SUCCEEDED),
        ("False", "ResultsMissing")
    );
    assert_eq!(late.status.report.as_ref().unwrap().runners, "1/2");
}

#[test]
fn a_runner_failing_before_the_start_aborts_the_run_and_is_named() {
    let observed = observed(
        vec![job(1, None)],
        vec![
            config(1, None),
            results(1, 0, "ready", None),
            results(1, 1, "failed", None),
        ],
        vec![failed_pod(1, 1, 1)],
    );
    let plan = plan(&bench(), &observed, &settings(), now());
    let [Child::ConfigMap(cm)] = plan.apply.as_slice() else {
        panic!("{:?}", plan.apply)
    };
    let abort = &cm.data.as_ref().unwrap()[protocol::ABORT_KEY];
    assert!(
        abort.contains(
            "runner 1 (pod bench-g1-1-abcde) exited with code 1 (Error): cannot determine the model"
        ),
        "{abort}"
    );
    assert_eq!(plan.status.phase, Some(Phase::Failed));
    let succeeded = conditions::find(&plan.status.conditions, CONDITION_SUCCEEDED).unwrap();
    assert_eq!(
        (succeeded.status.as_str(), succeeded.reason.as_str()),
        ("False", "RunnerFailed")
    );
    assert!(succeeded.message.contains("bench-g1-1-abcde") && succeeded.message.contains("code 1"));
    assert!(
        plan.status.report.is_none(),
        "nothing was sent, nothing to report"
    );
    assert_eq!(
        plan.events
            .iter()
            .map(|e| (e.warning, e.reason))
            .collect::<Vec<_>>(),
        [(true, "Failed")]
    );
}

#[test]
fn a_runner_failing_mid_run_fails_the_run_but_the_others_are_reported() {
    let start = format!("{}.000", NOW - 20);
    let m0 = metrics_of(1000.0);
    let running = observed(
        vec![job(1, None)],
        vec![
            config(1, Some(&start)),
            results(1, 0, "running", None),
            results(1, 1, "failed", None),
        ],
        vec![failed_pod(1, 1, 137)],
    );
    let waiting = plan(&bench(), &running, &settings(), now());
    assert_eq!(
        condition(&waiting.status, CONDITION_RUNNING),
        ("True", "RunnerFailed")
    );
    assert_eq!(waiting.status.phase, Some(Phase::Running));

    let finished = observed(
        vec![job(1, Some(("Failed", "FailedIndexes")))],
        vec![
            config(1, Some(&start)),
            results(1, 0, "done", Some(&m0)),
            results(1, 1, "failed", None),
        ],
        vec![failed_pod(1, 1, 137)],
    );
    let plan = plan_twice(&bench(), &finished);
    assert_eq!(
        condition(&plan.status, CONDITION_SUCCEEDED),
        ("False", "RunnerFailed")
    );
    let message = &conditions::find(&plan.status.conditions, CONDITION_SUCCEEDED)
        .unwrap()
        .message;
    assert!(
        message.contains("runner 1 (pod bench-g1-1-abcde) exited with code 137"),
        "{message}"
    );
    assert_eq!(plan.status.summary.as_ref().unwrap().requests, 200);
    assert_eq!(plan.status.report.as_ref().unwrap().runners, "1/2");
    assert_eq!(plan.status.completion_time, Some(at(NOW - 5)));
}

#[test]
fn the_deadline_ends_the_run_as_failed() {
    let mut ib = bench();
    ib.spec.active_deadline_seconds = Some(30);
    let observed = observed(
        vec![job(1, Some(("Failed", "DeadlineExceeded")))],
        vec![config(1, None)],
        vec![],
    );
    let plan = plan_twice(&ib, &observed);
    assert_eq!(
        condition(&plan.status, CONDITION_SUCCEEDED),
        ("False", "DeadlineExceeded")
    );
    assert_eq!(plan.status.phase, Some(Phase::Failed));
}

#[test]
fn a_spec_change_supersedes_the_active_run() {
    let mut ib = bench();
    ib.metadata.generation = Some(2);
    let running = plan(
        &bench(),
        &observed(vec![job(1, None)], vec![config(1, Some("1.000"))], vec![]),
        &settings(),
        now(),
    );
    let ib = with_status(ib, running.status);
    let observed = observed(
        vec![job(1, None)],
        vec![config(1, Some("1.000")), results(1, 0, "running", None)],
        vec![],
    );
    let plan = plan(&ib, &observed, &settings(), now());
    assert_eq!(
        plan.delete,
        [
            Deletion::Job("bench-g1".into()),
            Deletion::Rbac("bench-g1-runner".into()),
            Deletion::RunConfigMaps { generation: 1 }
        ]
    );
    assert_eq!(plan.status.previous_runs.len(), 1);
    assert_eq!(
        (
            plan.status.previous_runs[0].generation,
            plan.status.previous_runs[0].outcome.as_str()
        ),
        (1, "Superseded")
    );
    assert_eq!(
        plan.events.iter().map(|e| e.reason).collect::<Vec<_>>(),
        ["Superseded"]
    );
    assert!(
        plan.apply
            .iter()
            .any(|c| matches!(c, Child::Job(j) if j.metadata.name.as_deref() == Some("bench-g2")))
    );
    assert_eq!(plan.status.run.as_ref().unwrap().generation, 2);
    assert_eq!(plan.status.observed_generation, Some(2));
}

#[test]
fn a_finished_run_keeps_its_report_while_the_next_one_runs() {
    let m0 = metrics_of(1000.0);
    let done = completed(&m0, &m0);
    let first = plan(&bench(), &done, &settings(), now());
    let mut ib = with_status(bench(), first.status.clone());
    ib.metadata.generation = Some(2);
    ib.spec.run_id = Some("again".into());
    let next = plan(
        &ib,
        &Observed {
            jobs: done.jobs.clone(),
            ..Default::default()
        },
        &settings(),
        now(),
    );
    assert_eq!(
        next.status.report, first.status.report,
        "report of generation 1 stays until generation 2 finishes"
    );
    assert_eq!(next.status.previous_runs[0].outcome, "Succeeded");
    assert!(next.events.is_empty());
    assert_eq!(
        next.status.run.as_ref().unwrap().run_id.as_deref(),
        Some("again")
    );
}

#[test]
fn a_finished_run_is_stable_and_tidied_up() {
    let m0 = metrics_of(1000.0);
    let done = completed(&m0, &m0);
    let finished = plan(&bench(), &done, &settings(), now());
    let ib = with_status(bench(), finished.status.clone());
    let later = plan(
        &ib,
        &done,
        &settings(),
        Timestamp::from_second(NOW + 3600).unwrap(),
    );
    assert_eq!(
        later.status, finished.status,
        "a finished run's status never changes"
    );
    assert!(later.apply.is_empty() && later.events.is_empty());
    assert_eq!(
        later.delete,
        [
            Deletion::Rbac("bench-g1-runner".into()),
            Deletion::RunConfigMaps { generation: 1 }
        ]
    );
    let tidy = plan(
        &ib,
        &Observed {
            jobs: done.jobs.clone(),
            ..Default::default()
        },
        &settings(),
        now(),
    );
    assert!(tidy.delete.is_empty());
}

#[test]
fn an_invalid_spec_is_reported_once_and_runs_nothing() {
    let mut spec = valid_spec(2);
    spec["load"]["stages"][0]["rate"] = json!(0.0);
    let ib = benchmark("bench", spec);
    let plan1 = plan_twice(&ib, &Observed::default());
    assert!(plan1.apply.is_empty());
    assert_eq!(plan1.status.phase, Some(Phase::Failed));
    let accepted = conditions::find(&plan1.status.conditions, CONDITION_ACCEPTED).unwrap();
    assert_eq!(
        (accepted.status.as_str(), accepted.reason.as_str()),
        ("False", "InvalidSpec")
    );
    assert!(
        accepted
            .message
            .contains("spec.load.stages[0].rate: must be > 0"),
        "{}",
        accepted.message
    );
    assert_eq!(plan1.events.len(), 1);
    let plan2 = plan(
        &with_status(ib, plan1.status.clone()),
        &Observed::default(),
        &settings(),
        now(),
    );
    assert!(plan2.events.is_empty(), "reported once");
}

#[test]
fn stale_generations_are_removed_even_without_history() {
    let observed = observed(vec![job(1, None)], vec![config(1, None)], vec![]);
    let mut ib = bench();
    ib.metadata.generation = Some(3);
    let plan = plan(&ib, &observed, &settings(), now());
    assert!(plan.delete.contains(&Deletion::Job("bench-g1".into())));
    assert!(plan.apply.iter().all(|c| match c {
        Child::ConfigMap(cm) => cm.metadata.labels.as_ref().unwrap()[LABEL_GENERATION] == "3",
        _ => true,
    }));
}

/// At the maximum parallelism no object reaches the apiserver's 1 MiB limit: each runner's
/// results have a ConfigMap of their own, and the merged report holds aggregates only.
#[test]
fn a_thousand_runners_stay_under_the_object_size_limit() {
    const LIMIT: usize = 1024 * 1024;
    fn size<T: serde::Serialize>(object: &T) -> usize {
        serde_json::to_vec(object).expect("objects serialise").len()
    }
    let runners = crate::crd::MAX_PARALLELISM as u32;
    let ib = benchmark("bench", valid_spec(runners));
    // A runner of a larger benchmark than the test spec: 2 stages, 8 adapters.
    let adapters: Vec<(String, f64, u64)> = (0..8)
        .map(|i| (format!("adapter-{i}"), 0.01 * f64::from(i + 1), 25))
        .collect();
    let adapters: Vec<(&str, f64, u64)> = adapters
        .iter()
        .map(|(n, l, c)| (n.as_str(), *l, *c))
        .collect();
    let mut runner = RunMetrics::default();
    for stage in 0..2 {
        runner_metrics(stage, 40.0, &adapters, 1000.0 + 10.0 * stage as f64)
            .stages
            .into_iter()
            .for_each(|s| runner.push(s));
    }

    let created = plan(&ib, &Observed::default(), &settings(), now());
    assert_eq!(created.apply.len(), 4 + runners as usize + 1);
    for child in &created.apply {
        let bytes = match child {
            Child::ServiceAccount(o) => size(o),
            Child::Role(o) => size(o),
            Child::RoleBinding(o) => size(o),
            Child::ConfigMap(o) => size(o),
            Child::Job(o) => size(o),
        };
        assert!(
            bytes < LIMIT / 4,
            "{} {}: {bytes} bytes",
            child.kind(),
            child.name()
        );
    }

    let start = format!("{}.000", NOW - 60);
    let mut config_maps = vec![config(1, Some(&start))];
    let one = results(1, 0, "done", Some(&runner));
    config_maps.extend((0..runners).map(|k| {
        let mut cm = (*one).clone();
        cm.metadata.name = Some(names(1).result_map(k));
        Arc::new(cm)
    }));
    let largest_result = config_maps
        .iter()
        .map(|cm| size(cm.as_ref()))
        .max()
        .unwrap();
    assert!(
        largest_result < 64 * 1024,
        "one runner's results: {largest_result} bytes"
    );

    let done = plan(
        &ib,
        &observed(
            vec![job(1, Some(("Complete", "CompletionsReached")))],
            config_maps,
            vec![],
        ),
        &settings(),
        now(),
    );
    assert_eq!(
        condition(&done.status, CONDITION_SUCCEEDED),
        ("True", "Completed")
    );
    let [Child::ConfigMap(report)] = done.apply.as_slice() else {
        panic!(
            "{:?}",
            done.apply.iter().map(Child::name).collect::<Vec<_>>()
        )
    };
    assert!(size(report) < LIMIT, "report: {} bytes", size(report));
    let summary: serde_json::Value =
        serde_json::from_str(&report.data.as_ref().unwrap()["summary_lifecycle_metrics.json"])
            .unwrap();
    assert_eq!(summary["load_summary"]["count"], 1000 * 2 * 8 * 25);
    assert!(
        size(&done.status) < 64 * 1024,
        "status: {} bytes",
        size(&done.status)
    );
    assert_eq!(done.status.adapters.len(), 8);
}

/// A ready runner's result ConfigMap that read `sha256` for `load.trace.file`.
fn ready_with_input(index: u32, sha256: &str) -> Arc<ConfigMap> {
    let mut cm = (*results(1, index, "ready", None)).clone();
    let inputs = vec![protocol::InputDigest {
        field: "load.trace.file".into(),
        source: "/inputs/trace.csv".into(),
        sha256: sha256.into(),
        bytes: 1000,
    }];
    cm.data.as_mut().unwrap().insert(
        protocol::INPUTS_KEY.into(),
        serde_json::to_string(&inputs).unwrap(),
    );
    Arc::new(cm)
}

#[test]
fn runners_that_read_different_inputs_never_start() {
    let same = observed(
        vec![job(1, None)],
        vec![
            config(1, None),
            ready_with_input(0, "aa"),
            ready_with_input(1, "aa"),
        ],
        vec![],
    );
    let plan_same = plan(&bench(), &same, &settings(), now());
    assert_eq!(plan_same.status.phase, Some(Phase::Running));

    let differ = observed(
        vec![job(1, None)],
        vec![
            config(1, None),
            ready_with_input(0, "aa"),
            ready_with_input(1, "bb"),
        ],
        vec![],
    );
    let plan = plan(&bench(), &differ, &settings(), now());
    let [Child::ConfigMap(cm)] = plan.apply.as_slice() else {
        panic!("{:?}", plan.apply)
    };
    assert!(cm.data.as_ref().unwrap().contains_key(protocol::ABORT_KEY));
    assert_eq!(
        condition(&plan.status, CONDITION_SUCCEEDED),
        ("False", "InputMismatch")
    );
    let message = &conditions::find(&plan.status.conditions, CONDITION_SUCCEEDED)
        .unwrap()
        .message;
    assert!(
        message.starts_with("spec.load.trace.file: /inputs/trace.csv differs between runners")
            && message.contains("runner 1 1000 bytes with SHA-256 bb"),
        "{message}"
    );
}

#[test]
fn a_finished_run_with_a_bucket_uploads_once_then_names_the_objects() {
    let mut spec = valid_spec(2);
    spec["storage"] = json!({"simpleStorageService": {"bucketName": "reports", "path": "team"}});
    spec["storageSecretRef"] = json!({"name": "keys"});
    let ib = benchmark("bench", spec);
    let mut observed = completed(&metrics_of(0.0), &metrics_of(0.004));
    for (k, entries) in [(1usize, 100u64), (2, 101)] {
        let mut cm = (*observed.config_maps[k]).clone();
        let part = protocol::PerRequestPart {
            entries,
            objects: vec![format!("s3://reports/team/bench-g1/part-{k}")],
        };
        cm.data.as_mut().unwrap().insert(
            protocol::PER_REQUEST_KEY.into(),
            serde_json::to_string(&part).unwrap(),
        );
        observed.config_maps[k] = Arc::new(cm);
    }
    let first = plan(&ib, &observed, &settings(), now());
    let upload = first
        .upload
        .as_ref()
        .expect("the report goes to the bucket");
    assert_eq!(upload.secret.as_deref(), Some("keys"));
    let names: Vec<&str> = upload.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "config.yaml",
            "validation.json",
            "summary_lifecycle_metrics.json",
            "stage_0_lifecycle_metrics.json",
            "adapter_a_lifecycle_metrics.json",
            "adapter_b_lifecycle_metrics.json",
            "inference-perf.partial.stage_0.yaml",
            PER_REQUEST_MANIFEST,
        ]
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&upload.files.last().unwrap().1).unwrap();
    assert_eq!(manifest["entries"], 201);
    assert_eq!(
        manifest["parts"][1]["objects"][0],
        "s3://reports/team/bench-g1/part-2"
    );
    let report = first.status.report.clone().unwrap();
    assert_eq!(report.objects, ["s3://reports/team/bench-g1/"]);
    assert_eq!(report.per_request_entries, Some(201));
    assert_eq!(
        condition(&first.status, CONDITION_SUCCEEDED),
        ("True", "Completed")
    );

    // Once the status names the objects, later reconciles do not upload again.
    let again = plan(
        &with_status(ib.clone(), first.status.clone()),
        &observed,
        &settings(),
        now(),
    );
    assert!(again.upload.is_none());
    assert_eq!(again.status, first.status);

    // A failed upload fails the run, names the cause, and is tried again.
    let mut failed = first.clone();
    upload_failed(
        &mut failed,
        "s3://reports/team/bench-g1/config.yaml: access denied (403)".into(),
        now(),
    );
    assert_eq!(
        condition(&failed.status, CONDITION_SUCCEEDED),
        ("False", "ReportUploadFailed")
    );
    assert!(failed.status.report.as_ref().unwrap().objects.is_empty());
    assert_eq!(failed.requeue, Some(ACTIVE_REQUEUE));
    let retry = plan(
        &with_status(ib, failed.status.clone()),
        &observed,
        &settings(),
        now(),
    );
    assert!(retry.upload.is_some(), "retried on the next reconcile");
}

#[test]
fn failures_and_empty_runs_decide_the_verdict() {
    let verdict_of = |requests, failures, max| {
        let summary = Summary {
            requests,
            failures,
            ..Default::default()
        };
        match verdict(Some(&summary), max) {
            Outcome::Succeeded => ("Succeeded", String::new()),
            Outcome::Failed { reason, message } => (reason, message),
        }
    };
    assert_eq!(verdict_of(100, 99, None).0, "Succeeded");
    assert_eq!(
        verdict_of(100, 100, None),
        (
            "AllRequestsFailed",
            "100 of 100 requests failed (100.0 %); the report has their errors".into()
        )
    );
    assert_eq!(verdict_of(100, 100, Some(1.0)).0, "Succeeded");
    assert_eq!(
        verdict_of(100, 6, Some(0.05)),
        (
            "TooManyFailures",
            "6 of 100 requests failed (6.0 %, more than spec.maxFailureRatio (0.05)); the report has their errors".into()
        )
    );
    assert_eq!(verdict_of(100, 5, Some(0.05)).0, "Succeeded");
    assert_eq!(verdict_of(100, 1, Some(0.0)).0, "TooManyFailures");
    assert_eq!(verdict_of(100, 0, Some(0.0)).0, "Succeeded");
    assert_eq!(verdict_of(0, 0, Some(1.0)).0, "NothingSent");
    assert!(matches!(
        verdict(None, None),
        Outcome::Failed {
            reason: "NothingSent",
            ..
        }
    ));
}

#[test]
fn a_completed_run_that_sent_nothing_fails() {
    let empty = runner_metrics(0, 40.0, &[("a", 0.010, 0)], 1000.0);
    let plan = plan_twice(&bench(), &completed(&empty, &empty));
    assert_eq!(plan.status.phase, Some(Phase::Failed));
    assert_eq!(
        condition(&plan.status, CONDITION_SUCCEEDED),
        ("False", "NothingSent")
    );
    assert_eq!(
        plan.events
            .iter()
            .map(|e| (e.warning, e.reason))
            .collect::<Vec<_>>(),
        [(true, "Failed")]
    );
}

#[test]
fn a_max_failure_ratio_out_of_range_is_invalid() {
    let mut ib = bench();
    ib.spec.max_failure_ratio = Some(1.5);
    let plan = plan(&ib, &Observed::default(), &settings(), now());
    let accepted = conditions::find(&plan.status.conditions, CONDITION_ACCEPTED).unwrap();
    assert_eq!(accepted.reason, "InvalidSpec");
    assert!(
        accepted.message.contains("spec.maxFailureRatio"),
        "{}",
        accepted.message
    );
}

#[test]
fn runner_counts_follow_the_job_after_the_run_ends() {
    let m0 = metrics_of(1000.0);
    let done = completed(&m0, &m0);
    let finished = plan(&bench(), &done, &settings(), now());
    assert_eq!(finished.status.runners.as_ref().unwrap().succeeded, 2);
    // Later the Job is gone (its TTL): no pod is left.
    let later = plan(
        &with_status(bench(), finished.status.clone()),
        &Observed {
            config_maps: done.config_maps.clone(),
            ..Default::default()
        },
        &settings(),
        now(),
    );
    let runners = later.status.runners.as_ref().unwrap();
    assert_eq!(
        (
            runners.desired,
            runners.active,
            runners.succeeded,
            runners.failed
        ),
        (2, 0, 0, 0)
    );
    assert_eq!(runners.start_skew_ms, Some(0.0));
    assert_eq!(later.status.phase, Some(Phase::Succeeded));
}

#[test]
fn a_runner_whose_secret_is_missing_fails_the_run_naming_it() {
    let waiting = ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some("CreateContainerConfigError".into()),
            message: Some("secret \"api-keys\" not found".into()),
        }),
        ..Default::default()
    };
    let observed = observed(
        vec![job(1, None)],
        vec![config(1, None), results(1, 0, "ready", None)],
        vec![runner_pod(1, 1, "Pending", waiting)],
    );
    let plan = plan(&bench(), &observed, &settings(), now());
    assert_eq!(plan.status.phase, Some(Phase::Failed));
    let succeeded = conditions::find(&plan.status.conditions, CONDITION_SUCCEEDED).unwrap();
    assert_eq!(succeeded.reason, "RunnerFailed");
    assert!(
        succeeded.message.contains(
            "runner 1 (pod bench-g1-1-abcde) cannot start: CreateContainerConfigError: secret \"api-keys\" not found"
        ),
        "{}",
        succeeded.message
    );
    assert!(
        matches!(plan.apply.as_slice(), [Child::ConfigMap(cm)] if cm.data.as_ref().unwrap().contains_key(protocol::ABORT_KEY)),
        "the other runner is told to stop: {:?}",
        plan.apply
    );
}

/// `bench()` with an objective on the request latency's p99 (the two adapters' requests take
/// 10 and 20 ms).
fn bench_with_latency_objective(max_seconds: f64) -> InferenceBenchmark {
    let mut spec = valid_spec(2);
    spec["report"] = json!({"slo": {"thresholds": [
        {"metric": "request_latency", "stat": "p99", "max": max_seconds},
        {"metric": "failure_ratio", "max": 0.0},
    ]}});
    benchmark("bench", spec)
}

#[test]
fn objectives_met_or_missed_set_slo_met_and_leave_succeeded_alone() {
    let observed = completed(&metrics_of(1000.0), &metrics_of(1000.004));

    let met = plan_twice(&bench_with_latency_objective(0.5), &observed).status;
    assert_eq!(
        condition(&met, CONDITION_SLO_MET),
        ("True", "ObjectivesMet")
    );
    assert_eq!(condition(&met, CONDITION_SUCCEEDED), ("True", "Completed"));
    let slo = met.slo.as_ref().expect("status.slo");
    // Two thresholds on one stage and on the run.
    assert_eq!((slo.met, slo.checks, slo.failed_checks), (Some(true), 4, 0));

    let missed = plan_twice(&bench_with_latency_objective(0.015), &observed).status;
    let c = conditions::find(&missed.conditions, CONDITION_SLO_MET).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "ObjectivesMissed")
    );
    assert!(
        c.message
            .starts_with("2 of 4 SLO checks failed: stage_0: request_latency p99 = 0.0")
            && c.message.contains("> max 0.015; run: request_latency p99"),
        "{}",
        c.message
    );
    assert_eq!(
        missed.phase,
        Some(Phase::Succeeded),
        "the run itself succeeded"
    );
    let slo = missed.slo.as_ref().unwrap();
    assert_eq!((slo.met, slo.failed_checks), (Some(false), 2));
    assert!(
        slo.failed[1].starts_with("run: request_latency p99"),
        "{:?}",
        slo.failed
    );
}

#[test]
fn slo_met_is_unknown_while_running_and_absent_without_objectives() {
    let running = observed(
        vec![job(1, None)],
        vec![config(1, Some(&format!("{}.000", NOW - 5)))],
        vec![],
    );
    let status = plan_twice(&bench_with_latency_objective(0.5), &running).status;
    assert_eq!(
        condition(&status, CONDITION_SLO_MET),
        ("Unknown", "InProgress")
    );
    assert_eq!(status.slo.as_ref().and_then(|s| s.met), None);

    let plain = plan_twice(
        &bench(),
        &completed(&metrics_of(1000.0), &metrics_of(1000.0)),
    )
    .status;
    assert!(conditions::find(&plain.conditions, CONDITION_SLO_MET).is_none());
    assert_eq!(plain.slo, None);

    // A run that ended without results cannot be judged.
    let deleted = observed(
        vec![],
        vec![config(1, Some(&format!("{}.000", NOW - 5)))],
        vec![],
    );
    let status = plan_twice(&bench_with_latency_objective(0.5), &deleted).status;
    assert_eq!(status.phase, Some(Phase::Failed));
    assert_eq!(
        condition(&status, CONDITION_SLO_MET),
        ("Unknown", "NoResults")
    );
}

#[test]
fn more_failed_checks_than_the_status_lists_are_counted_in_the_message() {
    let slo = SloStatus {
        met: Some(false),
        checks: 40,
        failed_checks: 20,
        failed: (0..MAX_STATUS_SLO_FAILURES)
            .map(|i| format!("stage_{i}: x"))
            .collect(),
        max_rate: None,
    };
    let c = slo_condition(&slo, Phase::Succeeded);
    assert!(
        c.message.ends_with("; and 4 more (slo_verdict.json)"),
        "{}",
        c.message
    );
}

fn with_data(config_map: Arc<ConfigMap>, key: &str, value: String) -> Arc<ConfigMap> {
    let mut config_map = (*config_map).clone();
    config_map
        .data
        .get_or_insert_default()
        .insert(key.to_string(), value);
    Arc::new(config_map)
}

#[test]
fn a_breaker_tripped_on_one_runner_stops_every_runner_then_fails_the_run() {
    let start = format!("{}.000", NOW - 3);
    let trip = BreakerTrip {
        name: "timeouts".into(),
        stage_id: 0,
        time: (NOW - 1) as f64,
        runner: Some(1),
    };
    let trip_json = serde_json::to_string(&trip).unwrap();
    let tripped = with_data(
        results(1, 1, "running", None),
        protocol::BREAKER_KEY,
        trip_json.clone(),
    );
    let running = |config: Arc<ConfigMap>| {
        observed(
            vec![job(1, None)],
            vec![config, results(1, 0, "running", None), tripped.clone()],
            vec![],
        )
    };

    let relay = plan(
        &bench(),
        &running(config(1, Some(&start))),
        &settings(),
        now(),
    );
    let [Child::ConfigMap(config_map)] = relay.apply.as_slice() else {
        panic!("{:?}", relay.apply)
    };
    let data = config_map.data.as_ref();
    assert_eq!(protocol::stop_signal(data), Some(trip.clone()));
    assert_eq!(
        protocol::start_signal(data).unwrap(),
        Some(StartSignal::StartAt((NOW - 3) as f64)),
        "the start time stays"
    );
    assert_eq!(
        relay
            .events
            .iter()
            .map(|e| (e.warning, e.reason))
            .collect::<Vec<_>>(),
        [(true, "CircuitBreakerTripped")]
    );
    let running_condition = conditions::find(&relay.status.conditions, CONDITION_RUNNING).unwrap();
    assert_eq!(
        running_condition.message,
        "circuit breaker \"timeouts\" tripped in stage 0 on runner 1; every runner stops"
    );

    // Relayed once: nothing more to apply or announce.
    let relayed = with_data(config(1, Some(&start)), protocol::STOP_KEY, trip_json);
    let after = plan_twice(&bench(), &running(relayed));
    assert!(
        after.apply.is_empty() && after.events.is_empty(),
        "{after:?}"
    );

    // Every runner delivered a run stopped by the same trip: the run failed, naming it.
    let mut stopped = metrics_of(1000.0);
    stopped.circuit_breaker = Some(trip.clone());
    let finished = plan_twice(&bench(), &completed(&stopped, &stopped));
    let succeeded = conditions::find(&finished.status.conditions, CONDITION_SUCCEEDED).unwrap();
    assert_eq!(
        (succeeded.status.as_str(), succeeded.reason.as_str()),
        ("False", "CircuitBreakerTripped")
    );
    assert!(
        succeeded.message.starts_with(
            "circuit breaker \"timeouts\" tripped in stage 0 on runner 1; every runner stopped there"
        ),
        "{}",
        succeeded.message
    );
    let Some(Child::ConfigMap(report)) = finished.apply.first() else {
        panic!("{:?}", finished.apply)
    };
    let file: serde_json::Value =
        serde_json::from_str(&report.data.as_ref().unwrap()["circuit_breaker.json"]).unwrap();
    assert_eq!(
        (file["name"].as_str(), file["runner"].as_u64()),
        (Some("timeouts"), Some(1))
    );
}

#[test]
fn a_slo_search_puts_its_max_rate_in_the_status_and_its_file_in_the_report() {
    let mut spec = valid_spec(1);
    spec["load"] = json!({"type": "constant", "sloSearch": {"minRate": 50.0, "maxRate": 200.0, "stageDuration": 4.0}});
    spec["report"] = json!({"slo": {"thresholds": [{"metric": "time_to_first_token", "stat": "p99", "max": 0.1}]}});
    let ib = benchmark("bench", spec);
    let search = json!({"max_rate": 73.4, "lowest_failing_rate": 75.8, "stopped": "max_probes ran", "probes": [
        {"stage_id": 0, "rate": 200.0, "passed": false, "failed": ["stage_0: time_to_first_token p99 = 5.1 > max 0.1"]},
        {"stage_id": 1, "rate": 50.0, "passed": true, "failed": []},
        {"stage_id": 2, "rate": 73.4, "passed": true, "failed": []},
    ]});
    let start = format!("{}.000", NOW - 20);
    let delivered = with_data(
        results(1, 0, "done", Some(&metrics_of(1000.0))),
        protocol::SLO_SEARCH_KEY,
        search.to_string(),
    );
    let observed = observed(
        vec![job(1, Some(("Complete", "CompletionsReached")))],
        vec![config(1, Some(&start)), delivered],
        vec![],
    );
    let plan = plan_twice(&ib, &observed);
    let slo = plan.status.slo.as_ref().expect("status.slo");
    assert_eq!(
        (slo.met, slo.max_rate, slo.checks, slo.failed_checks),
        (Some(true), Some(73.4), 3, 1)
    );
    assert_eq!(
        slo.failed,
        ["200.0 req/s: stage_0: time_to_first_token p99 = 5.1 > max 0.1"]
    );
    assert_eq!(
        condition(&plan.status, CONDITION_SLO_MET),
        ("True", "MaxRateFound")
    );
    let Some(Child::ConfigMap(report)) = plan.apply.first() else {
        panic!("{:?}", plan.apply)
    };
    let data = report.data.as_ref().unwrap();
    assert!(data.contains_key("slo_max_rate.json"));
    assert!(
        !data.contains_key("slo_verdict.json"),
        "the probes above the max miss by design"
    );
}
