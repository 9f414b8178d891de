//! The reconcile decision: from a benchmark, its observed children and the current time to the
//! objects to apply, the objects to delete, the status and the events. Pure, so that every
//! state of a run is a unit test; the controller only executes the plan.

use std::time::Duration;

use ibench_core::metrics::BreakerTrip;
use ibench_core::protocol::{self, RunnerReport, RunnerState, StartSignal};
use ibench_core::report::{ReportFile, slo_met, slo_verdict};
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::Settings;
use ibench_core::config::StorageConfig;

use crate::crd::{
    CONDITION_ACCEPTED, CONDITION_RUNNING, CONDITION_SLO_MET, CONDITION_SUCCEEDED,
    InferenceBenchmark, InferenceBenchmarkStatus, MAX_PREVIOUS_RUNS, MAX_STATUS_SLO_FAILURES,
    Phase, PreviousRun, ReportRef, RunRef, RunnersStatus, SloStatus, Summary, camel_path,
};
use crate::desired::{self, Child, Owner, RunReport};
use crate::naming::{self, RunNames};
use crate::observe::Observed;
use crate::status::conditions::{self, Desired, Truth};
use crate::status::{results, server};
use crate::validate::{self, RunSpec};

/// What one reconcile does, in this order: apply, write the status, delete, publish events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub apply: Vec<Child>,
    pub status: InferenceBenchmarkStatus,
    pub delete: Vec<Deletion>,
    pub events: Vec<Event>,
    /// Look again after this long even if nothing changes (`None`: only on changes).
    pub requeue: Option<Duration>,
    /// Report files for the buckets, before the status (which names them) is written.
    pub upload: Option<ReportUpload>,
}

/// The merged report files of a finished run, for `spec.storage`'s buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportUpload {
    pub storage: StorageConfig,
    /// Secret holding the buckets' credentials; `None`: the operator's own identity.
    pub secret: Option<String>,
    /// `(file name, contents)`.
    pub files: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Deletion {
    /// A runner Job, and its pods with it (background propagation: never orphaned).
    Job(String),
    /// The config and result ConfigMaps of a run.
    RunConfigMaps { generation: i64 },
    /// The run's ServiceAccount, Role and RoleBinding (they share the name).
    Rbac(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

/// Safety net while a run is active: watches drive it, this bounds a missed event (a started
/// run is requeued sooner, to read progress: see `triggers`).
const ACTIVE_REQUEUE: Duration = Duration::from_secs(30);
/// While a finished Job's results are expected in the cache.
const RESULTS_REQUEUE: Duration = Duration::from_secs(2);

/// Condition reason of a finished run whose report files did not reach a bucket.
const REPORT_UPLOAD_FAILED: &str = "ReportUploadFailed";

/// Condition reason of a run that a runner failed (its pod, its Job, or its start).
const RUNNER_FAILED: &str = "RunnerFailed";

/// Condition and event reason of a run that a circuit breaker stopped.
const CIRCUIT_BREAKER_TRIPPED: &str = "CircuitBreakerTripped";

pub fn plan(
    ib: &InferenceBenchmark,
    observed: &Observed,
    settings: &Settings,
    now: Timestamp,
) -> Plan {
    let mut plan = Plan::default();
    let Some(owner) = Owner::of(ib) else {
        return plan;
    };
    let generation = ib.metadata.generation.unwrap_or(1);
    let previous = ib.status.clone().unwrap_or_default();
    let now_time = whole_seconds(now);

    // A newer generation ends the previous run: its outcome goes to the history, its objects
    // go away (runner pods with their Job).
    let previous_runs = history(&previous, generation, &now_time, &mut plan.events);
    for other in observed.other_generations(generation) {
        let names = RunNames::new(&owner.name, other);
        plan.delete.push(Deletion::Job(names.job().to_string()));
        plan.delete.extend(transient(&names, other));
    }
    let base = InferenceBenchmarkStatus {
        observed_generation: Some(generation),
        report: previous.report.clone(),
        previous_runs,
        ..Default::default()
    };

    let run = match validate::run_spec(ib, settings) {
        Ok(run) => run,
        Err(issues) => {
            let message = validate::describe(&issues);
            let already = conditions::find(&previous.conditions, CONDITION_ACCEPTED)
                .is_some_and(|c| c.status == "False" && c.observed_generation == Some(generation));
            if !already {
                plan.events.push(Event {
                    warning: true,
                    reason: "InvalidSpec",
                    note: message.clone(),
                });
            }
            plan.status = with_conditions(
                base,
                &previous,
                generation,
                &now_time,
                [
                    Desired::new(CONDITION_ACCEPTED, Truth::False, "InvalidSpec", message),
                    Desired::new(
                        CONDITION_RUNNING,
                        Truth::False,
                        "InvalidSpec",
                        "no run: the spec is invalid",
                    ),
                    Desired::new(
                        CONDITION_SUCCEEDED,
                        Truth::False,
                        "InvalidSpec",
                        "no run: the spec is invalid",
                    ),
                ],
            );
            return plan;
        }
    };

    let same_run = previous
        .run
        .as_ref()
        .is_some_and(|r| r.generation == generation);
    // A run whose report did not reach its bucket is finished but for the upload, which each
    // reconcile tries again.
    let upload_pending = conditions::find(&previous.conditions, CONDITION_SUCCEEDED)
        .is_some_and(|c| c.reason == REPORT_UPLOAD_FAILED);
    if same_run && previous.phase.is_some_and(Phase::is_terminal) && !upload_pending {
        // Finished: the outcome is recorded; tidy up what only the running runners needed
        // once they are gone.
        let job_done = observed.job(run.names.job()).is_none_or(|j| {
            job_condition(j, "Complete").is_some() || job_condition(j, "Failed").is_some()
        });
        if job_done && observed.has_config_maps_of(generation) {
            plan.delete.extend(transient(&run.names, generation));
        }
        // The Job's pods may still be ending (or be deleted): the counts keep following it.
        let runners = previous.runners.clone().map(|mut runners| {
            follow_job(&mut runners, observed.job(run.names.job()));
            runners
        });
        plan.status = InferenceBenchmarkStatus {
            observed_generation: Some(generation),
            previous_runs: base.previous_runs,
            runners,
            ..previous
        };
        return plan;
    }

    let mut status = InferenceBenchmarkStatus {
        run: Some(RunRef {
            generation,
            name: run.names.run().to_string(),
            run_id: run.run_id.clone(),
        }),
        ..base
    };
    let config_map = observed.config_map(&run.names.config_map());
    let signal = config_map.and_then(|cm| protocol::start_signal(cm.data.as_ref()).ok().flatten());
    let reports: Vec<RunnerReport> = (0..run.parallelism)
        .map(|k| {
            observed
                .config_map(&run.names.result_map(k))
                .map(runner_report)
                .unwrap_or_default()
        })
        .collect();
    let ready = reports
        .iter()
        .filter(|r| r.state.is_some_and(|s| s != RunnerState::Failed))
        .count();
    let job = observed.job(run.names.job());
    let pods = observed.pods_of(run.names.job());
    let mut runners = RunnersStatus {
        desired: run.parallelism as i32,
        ready: ready as i32,
        ..Default::default()
    };
    follow_job(&mut runners, job);
    status.runners = Some(runners);
    if let Some(StartSignal::StartAt(at)) = &signal {
        status.start_time = Some(time_at(*at));
    }
    let ctx = RunContext {
        owner: &owner,
        run: &run,
        previous: &previous,
        generation,
        now: &now_time,
    };

    let Some(job) = job else {
        if matches!(signal, Some(StartSignal::StartAt(_))) {
            // The Job was removed behind our back (or by its TTL while we were away).
            let done = reports.iter().all(|r| r.metrics.is_some());
            let outcome = if done {
                Outcome::Succeeded
            } else {
                Outcome::Failed {
                    reason: "JobDeleted",
                    message: format!(
                        "runner Job {} was deleted before every runner reported",
                        run.names.job()
                    ),
                }
            };
            finish(&mut plan, status, &ctx, &reports, outcome, now_time.clone());
            return plan;
        }
        plan.apply =
            desired::run_objects(&owner, &run, settings.progress_interval(run.parallelism));
        plan.status = active(
            status,
            &ctx,
            Truth::False,
            "Creating",
            format!("creating the runner Job {}", run.names.job()),
        );
        plan.requeue = Some(ACTIVE_REQUEUE);
        return plan;
    };

    let failures = runner_failures(&reports, &pods);
    if let Some(failed) = job_condition(job, "Failed") {
        let outcome = if failed.reason.as_deref() == Some("DeadlineExceeded") {
            Outcome::Failed {
                reason: "DeadlineExceeded",
                message: format!(
                    "the run exceeded activeDeadlineSeconds ({} s)",
                    run.active_deadline_seconds.unwrap_or_default()
                ),
            }
        } else if failures.is_empty() {
            Outcome::runner_failed(
                failed
                    .message
                    .clone()
                    .unwrap_or_else(|| "the runner Job failed".into()),
            )
        } else {
            Outcome::runner_failed(failures.join("; "))
        };
        let at = failed
            .last_transition_time
            .clone()
            .unwrap_or_else(|| now_time.clone());
        finish(&mut plan, status, &ctx, &reports, outcome, at);
        return plan;
    }
    if let Some(complete) = job_condition(job, "Complete") {
        let at = job
            .status
            .as_ref()
            .and_then(|s| s.completion_time.clone())
            .or_else(|| complete.last_transition_time.clone())
            .unwrap_or_else(|| now_time.clone());
        let missing: Vec<u32> = (0..run.parallelism)
            .filter(|k| reports[*k as usize].metrics.is_none())
            .collect();
        if missing.is_empty() {
            finish(&mut plan, status, &ctx, &reports, Outcome::Succeeded, at);
        } else if now.as_second() - at.0.as_second() > settings.results_grace.as_secs() as i64 {
            let message =
                format!("runner(s) {missing:?} exited successfully without delivering results");
            finish(
                &mut plan,
                status,
                &ctx,
                &reports,
                Outcome::Failed {
                    reason: "ResultsMissing",
                    message,
                },
                at,
            );
        } else {
            // Pods finish after their last write; the cache may not have caught up yet.
            plan.status = active(
                status,
                &ctx,
                Truth::True,
                "CollectingResults",
                "runners finished; collecting their results".into(),
            );
            plan.requeue = Some(RESULTS_REQUEUE);
        }
        return plan;
    }

    plan.requeue = Some(ACTIVE_REQUEUE);
    match signal {
        Some(StartSignal::StartAt(at)) => {
            // Progress writes trigger no reconcile (see `triggers`): they are read here.
            plan.requeue = Some(settings.status_interval.min(ACTIVE_REQUEUE));
            status.progress = results::progress(&reports);
            let trip = first_trip(&reports);
            if let Some(trip) = &trip
                && protocol::stop_signal(config_map.and_then(|cm| cm.data.as_ref())).is_none()
            {
                plan.apply.push(Child::ConfigMap(signal_map(
                    &owner,
                    &run,
                    config_map,
                    &StartSignal::StartAt(at),
                    Some(trip),
                )));
                plan.events.push(Event {
                    warning: true,
                    reason: CIRCUIT_BREAKER_TRIPPED,
                    note: format!("{}; stopping every runner", describe_trip(trip)),
                });
            }
            let message = match &status.progress {
                _ if !failures.is_empty() => {
                    format!("{}; waiting for the other runners", failures.join("; "))
                }
                _ if let Some(trip) = &trip => {
                    format!("{}; every runner stops", describe_trip(trip))
                }
                Some(p) => format!(
                    "{} {}: {}/{} requests sent, {} succeeded, {} failed",
                    if p.sweep_probe {
                        "sweep probe"
                    } else {
                        "stage"
                    },
                    p.stage,
                    p.sent,
                    p.planned,
                    p.succeeded,
                    p.failed
                ),
                None => "runners started".into(),
            };
            let reason = if failures.is_empty() {
                "Running"
            } else {
                RUNNER_FAILED
            };
            plan.status = active(status, &ctx, Truth::True, reason, message);
        }
        Some(StartSignal::Abort(reason)) => {
            finish(
                &mut plan,
                status,
                &ctx,
                &reports,
                Outcome::runner_failed(reason),
                now_time.clone(),
            );
        }
        None if !failures.is_empty() => {
            // Nobody has sent anything yet: stop the others rather than run a partial load.
            let message = failures.join("; ");
            let abort = StartSignal::Abort(message.clone());
            plan.apply.push(Child::ConfigMap(signal_map(
                &owner, &run, config_map, &abort, None,
            )));
            finish(
                &mut plan,
                status,
                &ctx,
                &reports,
                Outcome::runner_failed(message),
                now_time.clone(),
            );
        }
        None if ready == run.parallelism as usize
            && config_map.is_some()
            && let Some(mismatch) = input_mismatch(&reports) =>
        {
            let abort = StartSignal::Abort(mismatch.clone());
            plan.apply.push(Child::ConfigMap(signal_map(
                &owner, &run, config_map, &abort, None,
            )));
            let outcome = Outcome::Failed {
                reason: "InputMismatch",
                message: mismatch,
            };
            finish(&mut plan, status, &ctx, &reports, outcome, now_time.clone());
        }
        None if ready == run.parallelism as usize && config_map.is_some() => {
            let lead = settings.start_lead + Duration::from_millis(5 * u64::from(run.parallelism));
            let at = ((now.as_millisecond() + lead.as_millis() as i64) as f64) / 1000.0;
            plan.apply.push(Child::ConfigMap(signal_map(
                &owner,
                &run,
                config_map,
                &StartSignal::StartAt(at),
                None,
            )));
            status.start_time = Some(time_at(at));
            plan.events.push(Event {
                warning: false,
                reason: "Started",
                note: format!(
                    "{} runner(s) of run {} start stage 0 at {}",
                    run.parallelism,
                    run.names.run(),
                    protocol::format_start_at(at)
                ),
            });
            plan.status = active(
                status,
                &ctx,
                Truth::True,
                "Running",
                "start time published to every runner".into(),
            );
        }
        None => {
            let message = format!("{ready}/{} runners ready", run.parallelism);
            plan.status = active(status, &ctx, Truth::False, "RunnersStarting", message);
        }
    }
    plan
}

/// The config ConfigMap with a start signal, applied only if it is still the version observed:
/// a second reconcile working from a cache that has not seen the first signal yet must fail
/// (conflict) rather than publish a different start time.
fn signal_map(
    owner: &Owner,
    run: &RunSpec,
    observed: Option<&ConfigMap>,
    signal: &StartSignal,
    stop: Option<&BreakerTrip>,
) -> ConfigMap {
    let mut config_map = desired::config_map(owner, run, Some(signal), stop);
    config_map.metadata.resource_version =
        observed.and_then(|cm| cm.metadata.resource_version.clone());
    config_map
}

struct RunContext<'a> {
    owner: &'a Owner,
    run: &'a RunSpec,
    previous: &'a InferenceBenchmarkStatus,
    generation: i64,
    now: &'a Time,
}

enum Outcome {
    Succeeded,
    Failed {
        reason: &'static str,
        message: String,
    },
}

impl Outcome {
    fn runner_failed(message: String) -> Self {
        Outcome::Failed {
            reason: RUNNER_FAILED,
            message,
        }
    }
}

/// Status of a run in progress.
fn active(
    mut status: InferenceBenchmarkStatus,
    ctx: &RunContext,
    running: Truth,
    reason: &'static str,
    message: String,
) -> InferenceBenchmarkStatus {
    status.slo = (ctx.run.report.slo.is_some() || ctx.run.slo_search).then(SloStatus::default);
    with_conditions(
        status,
        ctx.previous,
        ctx.generation,
        ctx.now,
        [
            accepted(),
            Desired::new(CONDITION_RUNNING, running, reason, message),
            Desired::new(
                CONDITION_SUCCEEDED,
                Truth::Unknown,
                "InProgress",
                format!("run {} in progress", ctx.run.names.run()),
            ),
        ],
    )
}

/// A finished run: merge what the runners delivered into the report and the status.
fn finish(
    plan: &mut Plan,
    mut status: InferenceBenchmarkStatus,
    ctx: &RunContext,
    reports: &[RunnerReport],
    outcome: Outcome,
    completion: Time,
) {
    let collected = results::collect(reports.iter().enumerate().map(|(k, r)| (k as u32, r)));
    let outcome = match outcome {
        Outcome::Succeeded if !collected.unreadable.is_empty() => Outcome::Failed {
            reason: "ResultsUnreadable",
            message: collected
                .unreadable
                .iter()
                .map(|(k, e)| format!("runner {k}: {e}"))
                .collect::<Vec<_>>()
                .join("; "),
        },
        Outcome::Succeeded if let Some(trip) = &collected.metrics.circuit_breaker => {
            Outcome::Failed {
                reason: CIRCUIT_BREAKER_TRIPPED,
                message: format!(
                    "{}; every runner stopped there, the rest is counted as not sent ({}.json in the report)",
                    describe_trip(trip),
                    ibench_core::report::CIRCUIT_BREAKER_FILE
                ),
            }
        }
        other => other,
    };
    if !collected.delivered.is_empty() {
        let runners = format!("{}/{}", collected.delivered.len(), ctx.run.parallelism);
        let server = server_files(reports);
        let run_report = RunReport {
            metrics: &collected.metrics,
            options: &ctx.run.report,
            config_yaml: &ctx.run.config_yaml,
            // A sweep runs in a single runner.
            sweep: reports.iter().find_map(|r| r.sweep.as_deref()),
            slo_search: reports.iter().find_map(|r| r.slo_search.as_deref()),
            server: &server,
        };
        plan.apply.push(Child::ConfigMap(desired::report_map(
            ctx.owner,
            ctx.generation,
            &run_report,
            &runners,
        )));
        let storage = &ctx.run.storage;
        let mut report = ReportRef {
            config_map: naming::report_map(&ctx.owner.name),
            generation: ctx.generation,
            runners,
            ..Default::default()
        };
        if storage.has_object_storage() {
            let per_request = per_request_manifest(reports, ctx.run.parallelism);
            report.per_request_entries = per_request.as_ref().map(|(entries, _)| *entries as i64);
            report.objects = bucket_prefixes(storage);
            let uploaded = ctx
                .previous
                .report
                .as_ref()
                .is_some_and(|r| r.generation == ctx.generation && r.objects == report.objects);
            if !uploaded {
                let mut files = desired::report_files(&run_report);
                if let Some((_, manifest)) = per_request {
                    files.push((PER_REQUEST_MANIFEST.to_string(), manifest));
                }
                plan.upload = Some(ReportUpload {
                    storage: storage.clone(),
                    secret: ctx.run.storage_secret.clone(),
                    files,
                });
            }
        }
        status.report = Some(report);
        let stats = results::stats(&collected.metrics);
        status.summary = Some(stats.summary);
        status.stages = stats.stages;
        let servers = server::server_stages(&server);
        for stage in &mut status.stages {
            stage.server = servers.get(&stage.id).cloned();
        }
        status.adapters = stats.adapters;
        status.adapters_omitted = stats.adapters_omitted;
        status.slo = match run_report.slo_search {
            Some(search) => Some(slo_search_status(search)),
            None => ctx
                .run
                .report
                .slo
                .as_ref()
                .map(|slo| slo_status(&slo_verdict(&collected.metrics, slo))),
        };
        if let Some(runners) = status.runners.as_mut() {
            let ms = |seconds: f64| (seconds * 1e6).round() / 1e3;
            let skew = collected.start_skew;
            runners.start_skew_ms = skew.map(|s| ms(s.skew));
            runners.start_skew_error_ms = skew.and_then(|s| s.error).map(ms);
            runners.clock_spread_ms = skew.and_then(|s| s.clock_spread).map(ms);
        }
    }
    if status.slo.is_none() && (ctx.run.report.slo.is_some() || ctx.run.slo_search) {
        status.slo = Some(SloStatus::default());
    }
    status.completion_time = Some(completion);
    let outcome = match outcome {
        Outcome::Succeeded => verdict(status.summary.as_ref(), ctx.run.max_failure_ratio),
        failed => failed,
    };
    let (succeeded, reason, message) = match outcome {
        Outcome::Succeeded => {
            let summary = status.summary.clone().unwrap_or_default();
            let note = format!(
                "{} requests ({} failed) from {} runner(s); achieved {} req/s",
                summary.requests,
                summary.failures,
                ctx.run.parallelism,
                summary
                    .achieved_rate
                    .map_or("-".to_string(), |r| r.to_string())
            );
            plan.events.push(Event {
                warning: false,
                reason: "Succeeded",
                note: note.clone(),
            });
            (Truth::True, "Completed", note)
        }
        Outcome::Failed { reason, message } => {
            plan.events.push(Event {
                warning: true,
                reason: "Failed",
                note: format!("{reason}: {message}"),
            });
            (Truth::False, reason, message)
        }
    };
    plan.status = with_conditions(
        status,
        ctx.previous,
        ctx.generation,
        ctx.now,
        [
            accepted(),
            Desired::new(
                CONDITION_RUNNING,
                Truth::False,
                reason,
                "the run has finished",
            ),
            Desired::new(CONDITION_SUCCEEDED, succeeded, reason, message),
        ],
    );
    plan.requeue = None;
}

/// A run whose runners all delivered still fails when it measured nothing (no request sent)
/// or mostly failures: a pipeline gating on `Succeeded` must not pass a benchmark of a dead
/// server.
fn verdict(summary: Option<&Summary>, max_failure_ratio: Option<f64>) -> Outcome {
    let (requests, failures) = summary.map_or((0, 0), |s| (s.requests, s.failures));
    if requests == 0 {
        return Outcome::Failed {
            reason: "NothingSent",
            message:
                "the run sent no request: its plan had none (check spec.load.stages and spec.data)"
                    .into(),
        };
    }
    let ratio = failures as f64 / requests as f64;
    let too_many = match max_failure_ratio {
        Some(max) => ratio > max,
        None => failures == requests,
    };
    if !too_many {
        return Outcome::Succeeded;
    }
    let limit = max_failure_ratio.map_or(String::new(), |max| {
        format!(", more than spec.maxFailureRatio ({max})")
    });
    Outcome::Failed {
        reason: if failures == requests {
            "AllRequestsFailed"
        } else {
            "TooManyFailures"
        },
        message: format!(
            "{failures} of {requests} requests failed ({:.1} %{limit}); the report has their errors",
            ratio * 100.0
        ),
    }
}

/// The manifest of the per-request records beside the report files.
pub const PER_REQUEST_MANIFEST: &str = "per_request_lifecycle_metrics.manifest.json";

/// With object storage, a finished run's report files reach the buckets before the status says
/// so: an upload that failed turns the outcome into a failure naming the object and the cause
/// (the next reconcile tries again).
pub fn upload_failed(plan: &mut Plan, message: String, now: Timestamp) {
    if let Some(report) = plan.status.report.as_mut() {
        report.objects.clear();
    }
    let generation = plan.status.observed_generation.unwrap_or_default();
    let status = std::mem::take(&mut plan.status);
    plan.status = with_conditions(
        status.clone(),
        &status,
        generation,
        &whole_seconds(now),
        [
            accepted(),
            Desired::new(
                CONDITION_RUNNING,
                Truth::False,
                REPORT_UPLOAD_FAILED,
                "the run has finished",
            ),
            Desired::new(
                CONDITION_SUCCEEDED,
                Truth::False,
                REPORT_UPLOAD_FAILED,
                message.clone(),
            ),
        ],
    );
    plan.events.push(Event {
        warning: true,
        reason: REPORT_UPLOAD_FAILED,
        note: message,
    });
    plan.upload = None;
    plan.requeue = Some(ACTIVE_REQUEUE);
}

/// The bucket "folders" of a run: `s3://bucket/path/` per configured bucket.
fn bucket_prefixes(storage: &StorageConfig) -> Vec<String> {
    let mut prefixes = Vec::new();
    if let Some(gcs) = &storage.google_cloud_storage {
        prefixes.push(format!(
            "gs://{}/{}/",
            gcs.bucket_name,
            gcs.path.as_deref().unwrap_or_default()
        ));
    }
    if let Some(s3) = &storage.simple_storage_service {
        prefixes.push(format!(
            "s3://{}/{}/",
            s3.bucket_name,
            s3.path.as_deref().unwrap_or_default()
        ));
    }
    prefixes
}

/// How to read the runners' parts of the per-request records as one: total entries and the
/// manifest (JSON), or `None` when no runner streamed any.
fn per_request_manifest(reports: &[RunnerReport], runners: u32) -> Option<(u64, String)> {
    if reports.iter().all(|r| r.per_request.is_none()) {
        return None;
    }
    let entries: u64 = reports
        .iter()
        .filter_map(|r| r.per_request.as_ref())
        .map(|p| p.entries)
        .sum();
    let parts: Vec<serde_json::Value> = reports
        .iter()
        .enumerate()
        .map(|(k, r)| match &r.per_request {
            Some(part) => serde_json::json!({
                "runner": k,
                "entries": part.entries,
                "objects": part.objects,
            }),
            None => serde_json::json!({"runner": k, "entries": null, "missing": true}),
        })
        .collect();
    let manifest = serde_json::json!({
        "description": "per_request_lifecycle_metrics.json of the whole run, split by runner: each part is a JSON list of the records of the requests i with i mod runners = runner",
        "runners": runners,
        "entries": entries,
        "parts": parts,
    });
    Some((
        entries,
        serde_json::to_string_pretty(&manifest).expect("JSON values serialise"),
    ))
}

/// Every runner must plan from the same bytes: the first input file whose digest differs
/// between runners, described; `None` when all agree (or no runner reported inputs).
fn input_mismatch(reports: &[RunnerReport]) -> Option<String> {
    let first = reports.first()?.inputs.as_ref()?;
    for (k, report) in reports.iter().enumerate().skip(1) {
        let Some(inputs) = &report.inputs else {
            continue;
        };
        for (mine, theirs) in first.iter().zip(inputs) {
            if mine.sha256 != theirs.sha256 || mine.field != theirs.field {
                return Some(format!(
                    "spec.{}: {} differs between runners (runner 0 read {} bytes with SHA-256 {}, runner {k} {} bytes with SHA-256 {}); every runner must plan from the same bytes: use one shared volume or object, and pin it with spec.inputs.sha256",
                    camel_path(&mine.field),
                    mine.source,
                    mine.bytes,
                    mine.sha256,
                    theirs.bytes,
                    theirs.sha256
                ));
            }
        }
    }
    None
}

/// The first circuit breaker trip a runner reported.
fn first_trip(reports: &[RunnerReport]) -> Option<BreakerTrip> {
    reports
        .iter()
        .filter_map(|r| r.breaker.clone())
        .min_by(|a, b| a.time.total_cmp(&b.time))
}

/// `circuit breaker "timeouts" tripped in stage 0 on runner 2`.
fn describe_trip(trip: &BreakerTrip) -> String {
    let runner = trip
        .runner
        .map_or(String::new(), |k| format!(" on runner {k}"));
    format!(
        "circuit breaker {:?} tripped in stage {}{runner}",
        trip.name, trip.stage_id
    )
}

/// `Accepted=True`, for every valid spec.
fn accepted() -> Desired {
    Desired::new(
        CONDITION_ACCEPTED,
        Truth::True,
        "Validated",
        "the spec is valid",
    )
}

/// The conditions of `status`: `Accepted`, `Running`, `Succeeded` as given, and `SLOMet` from
/// `status.slo`.
fn with_conditions(
    mut status: InferenceBenchmarkStatus,
    previous: &InferenceBenchmarkStatus,
    generation: i64,
    now: &Time,
    desired: [Desired; 3],
) -> InferenceBenchmarkStatus {
    let phase = conditions::phase(desired[0].status, desired[1].status, desired[2].status);
    status.phase = Some(phase);
    let mut desired = Vec::from(desired);
    desired.extend(status.slo.as_ref().map(|slo| slo_condition(slo, phase)));
    status.conditions = conditions::merge(&previous.conditions, &desired, generation, now);
    status
}

/// `status.slo` from the merged run's `slo_verdict.json`.
fn slo_status(verdict: &serde_json::Value) -> SloStatus {
    let count = |key: &str| verdict[key].as_array().map_or(0, Vec::len);
    let failed: Vec<String> = verdict["failed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str())
        .take(MAX_STATUS_SLO_FAILURES)
        .map(str::to_string)
        .collect();
    SloStatus {
        met: Some(slo_met(verdict)),
        checks: count("checks") as i32,
        failed_checks: count("failed") as i32,
        failed,
        max_rate: None,
    }
}

/// `status.slo` of a `load.slo_search` run from its `slo_max_rate.json`: met when a rate met
/// every objective, each probe a check.
fn slo_search_status(search: &str) -> SloStatus {
    let search: serde_json::Value = serde_json::from_str(search).unwrap_or_default();
    let probes = search["probes"].as_array().cloned().unwrap_or_default();
    let failed: Vec<String> = probes
        .iter()
        .filter(|p| p["passed"] == false)
        .map(|p| {
            let why = p["failed"][0].as_str().unwrap_or("missed");
            format!("{} req/s: {why}", p["rate"])
        })
        .collect();
    let max_rate = search["max_rate"].as_f64();
    SloStatus {
        met: Some(max_rate.is_some()),
        checks: probes.len() as i32,
        failed_checks: failed.len() as i32,
        failed: failed.into_iter().take(MAX_STATUS_SLO_FAILURES).collect(),
        max_rate,
    }
}

/// `SLOMet`: unknown until the merged results are judged, then whether every check passed.
fn slo_condition(slo: &SloStatus, phase: Phase) -> Desired {
    match slo.met {
        Some(true) if let Some(rate) = slo.max_rate => Desired::new(
            CONDITION_SLO_MET,
            Truth::True,
            "MaxRateFound",
            format!(
                "{rate} req/s is the highest rate probed that met every objective ({} probes)",
                slo.checks
            ),
        ),
        Some(true) => Desired::new(
            CONDITION_SLO_MET,
            Truth::True,
            "ObjectivesMet",
            format!("all {} SLO checks passed", slo.checks),
        ),
        Some(false) => {
            let more = slo.failed_checks as usize - slo.failed.len();
            let mut message = format!(
                "{} of {} SLO checks failed: {}",
                slo.failed_checks,
                slo.checks,
                slo.failed.join("; ")
            );
            if more > 0 {
                message.push_str(&format!("; and {more} more (slo_verdict.json)"));
            }
            Desired::new(CONDITION_SLO_MET, Truth::False, "ObjectivesMissed", message)
        }
        None if phase.is_terminal() => Desired::new(
            CONDITION_SLO_MET,
            Truth::Unknown,
            "NoResults",
            "the run delivered no results to judge",
        ),
        None => Desired::new(
            CONDITION_SLO_MET,
            Truth::Unknown,
            "InProgress",
            "judged when the run's results are merged",
        ),
    }
}

/// `previous_runs`, with the run that `previous` describes added once the spec moved on.
fn history(
    previous: &InferenceBenchmarkStatus,
    generation: i64,
    now: &Time,
    events: &mut Vec<Event>,
) -> Vec<PreviousRun> {
    let mut runs = previous.previous_runs.clone();
    let Some(run) = previous.run.as_ref().filter(|r| r.generation != generation) else {
        return runs;
    };
    let (outcome, completion_time) = match previous.phase {
        Some(Phase::Succeeded) => ("Succeeded", previous.completion_time.clone()),
        Some(Phase::Failed) => ("Failed", previous.completion_time.clone()),
        _ => {
            events.push(Event {
                warning: false,
                reason: "Superseded",
                note: format!(
                    "run {} (generation {}) stopped: the spec changed to generation {generation}",
                    run.name, run.generation
                ),
            });
            ("Superseded", Some(now.clone()))
        }
    };
    runs.insert(
        0,
        PreviousRun {
            generation: run.generation,
            run_id: run.run_id.clone(),
            outcome: outcome.into(),
            completion_time,
        },
    );
    runs.truncate(MAX_PREVIOUS_RUNS);
    runs
}

/// What a run needs only while its runners run.
fn transient(names: &RunNames, generation: i64) -> [Deletion; 2] {
    [
        Deletion::Rbac(names.rbac()),
        Deletion::RunConfigMaps { generation },
    ]
}

/// Why runners failed, from their pods (exit code) and their own reports (message), by index.
fn runner_failures(reports: &[RunnerReport], pods: &[&Pod]) -> Vec<String> {
    let index_of = |pod: &Pod| -> Option<usize> {
        pod.metadata
            .annotations
            .as_ref()?
            .get("batch.kubernetes.io/job-completion-index")?
            .parse()
            .ok()
    };
    let mut failures: Vec<(usize, String)> = Vec::new();
    for pod in pods {
        let status = pod.status.as_ref();
        let Some(index) = index_of(pod) else { continue };
        let runner = status
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.iter().find(|c| c.name == desired::CONTAINER));
        // The kubelet retries a container whose Secret or ConfigMap is missing for as long as
        // the pod lives; the run cannot start meanwhile, so that is a failure to name now.
        let config_error = runner
            .and_then(|c| c.state.as_ref()?.waiting.as_ref())
            .filter(|w| w.reason.as_deref() == Some("CreateContainerConfigError"));
        if let Some(waiting) = config_error {
            failures.push((
                index,
                format!(
                    "runner {index} (pod {}) cannot start: CreateContainerConfigError: {}",
                    pod.metadata.name.as_deref().unwrap_or("?"),
                    waiting.message.as_deref().unwrap_or("no message")
                ),
            ));
            continue;
        }
        if status.and_then(|s| s.phase.as_deref()) != Some("Failed") {
            continue;
        }
        let terminated = runner.and_then(|c| c.state.as_ref()?.terminated.as_ref());
        let exit = match terminated {
            Some(t) => format!(
                "exited with code {} ({})",
                t.exit_code,
                t.reason.as_deref().unwrap_or("Error")
            ),
            None => format!(
                "failed ({}: {})",
                status.and_then(|s| s.reason.as_deref()).unwrap_or("Failed"),
                status
                    .and_then(|s| s.message.as_deref())
                    .unwrap_or("no message")
            ),
        };
        let detail = reports
            .get(index)
            .and_then(|r| r.message.as_deref())
            .map(|m| format!(": {}", crate::crd::resource_terms(m)))
            .unwrap_or_default();
        failures.push((
            index,
            format!(
                "runner {index} (pod {}) {exit}{detail}",
                pod.metadata.name.as_deref().unwrap_or("?")
            ),
        ));
    }
    for (index, report) in reports.iter().enumerate() {
        if report.state == Some(RunnerState::Failed) && !failures.iter().any(|(i, _)| *i == index) {
            let pod = report.pod.as_deref().unwrap_or("?");
            let message =
                crate::crd::resource_terms(report.message.as_deref().unwrap_or("no message"));
            failures.push((
                index,
                format!("runner {index} (pod {pod}) failed: {message}"),
            ));
        }
    }
    failures.sort();
    failures.dedup_by_key(|(i, _)| *i);
    let total = failures.len();
    let mut lines: Vec<String> = failures.into_iter().take(3).map(|(_, line)| line).collect();
    if total > 3 {
        lines.push(format!("and {} more", total - 3));
    }
    lines
}

/// The Job's active, succeeded and failed pods (none once it is gone).
fn follow_job(runners: &mut RunnersStatus, job: Option<&Job>) {
    let status = job.and_then(|j| j.status.as_ref());
    runners.active = status.and_then(|s| s.active).unwrap_or(0);
    runners.succeeded = status.and_then(|s| s.succeeded).unwrap_or(0);
    runners.failed = status.and_then(|s| s.failed).unwrap_or(0);
}

fn job_condition<'a>(
    job: &'a Job,
    type_: &str,
) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// Status times have whole seconds: the apiserver drops fractions, and a status that differs
/// from its stored form would be written again and again.
fn whole_seconds(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).expect("a valid timestamp"))
}

fn time_at(unix_seconds: f64) -> Time {
    Time(Timestamp::from_second(unix_seconds.floor() as i64).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// A runner's result ConfigMap as the protocol reads it.
fn runner_report(config_map: &ConfigMap) -> RunnerReport {
    let binary = |key: &str| {
        config_map
            .binary_data
            .as_ref()
            .and_then(|b| b.get(key))
            .map(|b| b.0.as_slice())
    };
    RunnerReport {
        server_metrics: binary(protocol::SERVER_METRICS_KEY).map(<[u8]>::to_vec),
        ..RunnerReport::read(config_map.data.as_ref(), binary(protocol::METRICS_KEY))
    }
}

/// The server-metrics report files, from the runner that collected them; a delivery that
/// cannot be read becomes a summary saying so, never a silently missing file.
fn server_files(reports: &[RunnerReport]) -> Vec<ReportFile> {
    let Some(bytes) = reports.iter().find_map(|r| r.server_metrics.as_deref()) else {
        return Vec::new();
    };
    protocol::decode_server_files(bytes).unwrap_or_else(|e| {
        vec![ReportFile {
            name: "summary_prometheus_metrics".into(),
            contents: serde_json::json!({"errors": [format!("the server metrics runner 0 delivered cannot be read: {e}")]}),
        }]
    })
}

#[cfg(test)]
mod tests;
