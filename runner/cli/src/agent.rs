//! `ibench agent`: one runner pod of an `InferenceBenchmark` run. It reads the run's config,
//! builds its shard of the global plan, reports ready, waits for the operator's start time,
//! runs, reports progress while running and its mergeable metrics at the end (see
//! [`protocol`]).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams, WatchEvent, WatchParams};
use kube::{Api, Client};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::api_clock;
use crate::pod_targets::PodTargets;
use ibench_core::config::{ConfigError, PrometheusReport, ResolvedConfig};
use ibench_core::metrics::{BreakerTrip, Clock};
use ibench_core::plan::Shard;
use ibench_core::protocol::{
    self, InputDigest, PerRequestPart, RunnerProgress, RunnerState, StartSignal,
};
use ibench_core::report::RecordSink;
use ibench_engine::benchmark::{Benchmark, BenchmarkError};
use ibench_engine::{BreakerWatch, FindTargets, Interrupt, Snapshot};
use ibench_storage::{InputError, ReportBuckets, UploadError, fetch_inputs};

/// Where this runner belongs, from its pod's environment.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEnv {
    pub namespace: String,
    pub run: String,
    pub index: u32,
    pub runners: u32,
    pub pod: String,
    pub api_key: Option<String>,
    pub progress_interval: Duration,
    pub start_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("environment: {0}")]
    Env(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("config ConfigMap {name}: key {key} missing")]
    MissingConfig { name: String, key: &'static str },
    #[error("config ConfigMap is not YAML: {0}")]
    ConfigYaml(#[from] serde_yaml::Error),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Benchmark(#[from] BenchmarkError),
    #[error("{0}")]
    Protocol(#[from] protocol::ProtocolError),
    #[error("report storage: {0}")]
    Storage(#[from] UploadError),
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("cannot create a directory for fetched input files: {0}")]
    InputsDir(#[source] std::io::Error),
    #[error("no start time within {0:?}")]
    StartTimeout(Duration),
    #[error("aborted by the operator: {0}")]
    Aborted(String),
    #[error("config ConfigMap {0} was deleted while waiting for the start")]
    ConfigDeleted(String),
    #[error("stopped by a signal before the run finished")]
    Terminated,
}

impl AgentEnv {
    pub fn from_env() -> Result<Self, AgentError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, AgentError> {
        let required =
            |name: &str| get(name).ok_or_else(|| AgentError::Env(format!("{name} is not set")));
        let number = |name: &str, text: String| {
            text.parse::<u32>()
                .map_err(|_| AgentError::Env(format!("{name}={text:?} is not a number")))
        };
        let seconds = |name: &str, default: u64| -> Result<Duration, AgentError> {
            match get(name) {
                None => Ok(Duration::from_secs(default)),
                Some(text) => text
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0 && s.is_finite())
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        AgentError::Env(format!("{name}={text:?} is not a positive number"))
                    }),
            }
        };
        let runners = number(protocol::ENV_RUNNERS, required(protocol::ENV_RUNNERS)?)?;
        let index = number(protocol::ENV_INDEX, required(protocol::ENV_INDEX)?)?;
        if runners == 0 || index >= runners {
            return Err(AgentError::Env(format!(
                "runner index {index} is outside 0..{runners}"
            )));
        }
        Ok(AgentEnv {
            namespace: required(protocol::ENV_NAMESPACE)?,
            run: required(protocol::ENV_RUN)?,
            index,
            runners,
            pod: get(protocol::ENV_POD_NAME).unwrap_or_default(),
            api_key: get(protocol::ENV_API_KEY),
            progress_interval: seconds(
                protocol::ENV_PROGRESS_SECONDS,
                protocol::DEFAULT_PROGRESS_SECONDS,
            )?,
            start_timeout: seconds(
                protocol::ENV_START_TIMEOUT_SECONDS,
                protocol::DEFAULT_START_TIMEOUT_SECONDS,
            )?,
        })
    }
}

/// Runs this runner's share. Failures after the API is reachable are also written to the
/// result ConfigMap so that the operator can name them.
pub async fn run(env: AgentEnv, interrupt: Interrupt) -> Result<(), AgentError> {
    let client = Client::try_default().await?;
    let results = ResultWriter {
        api: Api::namespaced(client.clone(), &env.namespace),
        name: protocol::result_map_name(&env.run, env.index),
    };
    let configs: Api<ConfigMap> = Api::namespaced(client, &env.namespace);
    let outcome = run_with(&env, &configs, &results, &interrupt).await;
    if let Err(e) = &outcome
        && !matches!(e, AgentError::Terminated)
    {
        // Best effort: the pod's exit code reports the failure even if this write fails.
        let _ = results
            .patch(json!({"data": {
                protocol::STATE_KEY: RunnerState::Failed.as_str(),
                protocol::MESSAGE_KEY: e.to_string(),
            }}))
            .await;
    }
    outcome
}

struct ResultWriter {
    api: Api<ConfigMap>,
    name: String,
}

impl ResultWriter {
    async fn patch(&self, patch: serde_json::Value) -> Result<(), kube::Error> {
        let params = PatchParams {
            field_manager: Some(protocol::RUNNER_FIELD_MANAGER.into()),
            ..Default::default()
        };
        self.api
            .patch(&self.name, &params, &Patch::Merge(patch))
            .await
            .map(drop)
    }

    /// Retries transient failures for up to a minute: losing the final metrics would lose the
    /// runner's whole share.
    async fn patch_with_retries(&self, patch: serde_json::Value) -> Result<(), kube::Error> {
        let mut delay = Duration::from_millis(250);
        let mut attempts = 0;
        loop {
            match self.patch(patch.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) if attempts < 8 && is_transient(&e) => {
                    tracing::warn!(error = %e, "writing results failed; retrying");
                    attempts += 1;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        _ => true,
    }
}

async fn run_with(
    env: &AgentEnv,
    configs: &Api<ConfigMap>,
    results: &ResultWriter,
    interrupt: &Interrupt,
) -> Result<(), AgentError> {
    let config_name = protocol::config_map_name(&env.run);
    let config_map = configs.get(&config_name).await?;
    let text = config_map
        .data
        .as_ref()
        .and_then(|d| d.get(protocol::CONFIG_KEY))
        .ok_or(AgentError::MissingConfig {
            name: config_name.clone(),
            key: protocol::CONFIG_KEY,
        })?;
    let mut config = ibench_core::config::from_document(serde_yaml::from_str(text)?)?;
    if let (Some(server), Some(key)) = (config.server.as_mut(), &env.api_key) {
        server.api_key = Some(key.clone());
    }
    let resolved = ResolvedConfig::resolve(config, chrono::Local::now());
    tracing::info!(
        run = %env.run, index = env.index, runners = env.runners, workers = resolved.num_workers,
        "preparing runner (config:\n{})", resolved.to_yaml()
    );
    // The operator resolved the buckets' paths; a bucket this runner cannot write to fails
    // the run before stage 0 rather than losing its records after it.
    let buckets = ReportBuckets::new(&resolved.config.storage)?;
    buckets.check().await?;
    let inputs_dir = tempfile::Builder::new()
        .prefix("ibench-inputs-")
        .tempdir()
        .map_err(AgentError::InputsDir)?;
    let mut run_config = resolved;
    let inputs: Vec<InputDigest> = fetch_inputs(&mut run_config.config, inputs_dir.path())
        .await?
        .into_iter()
        .map(|input| InputDigest {
            field: input.field.to_string(),
            source: input.source,
            sha256: input.sha256,
            bytes: input.bytes,
        })
        .collect();
    let part_name = protocol::per_request_part_name(env.index);
    let records: Option<Box<dyn RecordSink>> =
        if run_config.config.report.request_lifecycle.per_request && !buckets.is_empty() {
            Some(Box::new(buckets.sink(&part_name).await?))
        } else {
            None
        };
    let shard = Shard::new(u64::from(env.runners), u64::from(env.index));
    // The clock is measured while the plan is built: it costs a few seconds of waiting for
    // the API server's second boundaries, which preparing a large plan often hides.
    let measured = Clock::now();
    let (mut benchmark, offset) = tokio::try_join!(
        async { Ok::<_, AgentError>(Benchmark::prepare_with(run_config, shard, records).await?) },
        async { Ok(api_clock::measure(&configs.clone().into_client(), measured).await) }
    )?;
    let mut ready = json!({
        protocol::STATE_KEY: RunnerState::Ready.as_str(),
        protocol::POD_KEY: env.pod,
        protocol::INPUTS_KEY: serde_json::to_string(&inputs).expect("digests serialise"),
    });
    match offset {
        Ok(offset) => {
            let offset = api_clock::rebase(offset, measured, benchmark.clock());
            tracing::info!(
                offset_ms = offset.offset * 1e3,
                uncertainty_ms = offset.uncertainty * 1e3,
                "clock offset to the API server"
            );
            ready[protocol::CLOCK_KEY] = serde_json::to_string(&offset)
                .expect("an offset serialises")
                .into();
        }
        // The start skew is then computed without this runner's correction; the run goes on.
        Err(e) => tracing::warn!(error = %e, "measuring the clock offset to the API server failed"),
    }
    results.patch_with_retries(json!({ "data": ready })).await?;
    tracing::info!(model = %benchmark.model, "ready; waiting for the start time");
    // One runner collects the model server's metrics for all: they describe the server, not a
    // runner's share. It starts now, so that the first scrapes precede stage 0.
    let collector = if env.index == 0 {
        let pods = benchmark
            .resolved
            .config
            .metrics
            .as_ref()
            .and_then(|m| m.scrape.as_ref())
            .and_then(|s| s.pods.clone())
            .map(|wanted| -> Box<dyn FindTargets> {
                Box::new(PodTargets::new(
                    configs.clone().into_client(),
                    &env.namespace,
                    wanted,
                ))
            });
        crate::server_metrics::start(&benchmark.resolved, &benchmark.model, pods)
    } else {
        None
    };

    let start = tokio::select! {
        signal = wait_for_start(configs, &config_name, env.start_timeout) => signal?,
        _ = interrupt.stopped() => return Err(AgentError::Terminated),
    };
    let start_at = match start {
        StartSignal::StartAt(t) => t,
        StartSignal::Abort(reason) => return Err(AgentError::Aborted(reason)),
    };
    let clock = benchmark.clock();
    benchmark.start_at(clock.instant_at(start_at));
    tracing::info!(start_at, "start time received");

    let progress = benchmark.progress();
    let reporting = CancellationToken::new();
    let reporter = {
        let reporting = reporting.clone();
        let interval = env.progress_interval;
        let phase = progress_phase(interval, env.index, env.runners);
        async move {
            tokio::select! {
                _ = tokio::time::sleep(phase) => {}
                _ = reporting.cancelled() => return,
            }
            loop {
                let snapshot = progress.snapshot();
                tracing::info!("{snapshot}");
                let snapshot = wire_progress(&snapshot);
                let patch = json!({"data": {
                    protocol::STATE_KEY: RunnerState::Running.as_str(),
                    protocol::PROGRESS_KEY: serde_json::to_string(&snapshot).expect("progress serialises"),
                }});
                if let Err(e) = results.patch(patch).await {
                    tracing::warn!(error = %e, "progress update failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = reporting.cancelled() => return,
                }
            }
        }
    };
    let breakers = benchmark.breakers();
    let relay = async {
        if let Some(breakers) = &breakers {
            tokio::select! {
                () = relay_breakers(breakers, configs, &config_name, results, env.index) => {}
                () = reporting.cancelled() => {}
            }
        }
    };
    let (outcome, (), ()) = tokio::join!(
        async {
            let outcome = benchmark.run_interruptible(interrupt).await;
            reporting.cancel();
            outcome
        },
        reporter,
        relay
    );
    let mut outcome = outcome?;
    // A trip here is this runner's; a relayed one names its runner already.
    if let Some(trip) = outcome.metrics.circuit_breaker.as_mut() {
        trip.runner.get_or_insert(env.index);
    }
    let server_files = match collector {
        // Every stage's file, whatever report.prometheus asks: the operator shows each stage's
        // figures in its status and leaves out of the report the files not asked for.
        Some(collector) => Some(
            crate::server_metrics::finish(
                collector,
                &PrometheusReport {
                    summary: true,
                    per_stage: true,
                },
                start_at,
                &outcome.metrics,
            )
            .await,
        ),
        None => None,
    };
    let metrics = protocol::encode_metrics(&outcome.metrics);
    let total = outcome.metrics.total();
    tracing::info!(
        sent = total.sent,
        succeeded = total.successes.count,
        failed = total.failures.count,
        bytes = metrics.len(),
        peak_memory_mib = peak_memory_mib(),
        "run finished; delivering metrics"
    );
    let mut data = json!({
        protocol::STATE_KEY: RunnerState::Done.as_str(),
        protocol::PROGRESS_KEY: serde_json::to_string(&final_progress(&outcome.metrics)).expect("progress serialises"),
    });
    // Again with the results: the write at the trip is dropped when the run ends first (its
    // requests in flight failed fast), and the others must still be stopped.
    if let Some(trip) = &outcome.metrics.circuit_breaker {
        data[protocol::BREAKER_KEY] = serde_json::to_string(trip)
            .expect("a trip serialises")
            .into();
    }
    // A deleted or evicted pod still delivers what it sent: its share up to the signal.
    let stopped = interrupt.is_stopped();
    if stopped {
        data[protocol::MESSAGE_KEY] = format!(
            "stopped by a signal (pod deleted or evicted) after sending {} requests; they are in the report",
            total.sent
        )
        .into();
    }
    let per_request_entries = outcome
        .per_request
        .transpose()
        .map_err(BenchmarkError::PerRequest)?;
    if let Some(entries) = per_request_entries
        && !buckets.is_empty()
    {
        let part = PerRequestPart {
            entries: entries.records(),
            objects: buckets.urls(&part_name),
        };
        data[protocol::PER_REQUEST_KEY] = serde_json::to_string(&part)
            .expect("the part serialises")
            .into();
    }
    if let Some(search) = &outcome.slo_search {
        data[protocol::SLO_SEARCH_KEY] = serde_json::to_string_pretty(search)
            .expect("the search serialises")
            .into();
    }
    if let Some(saturation) = &outcome.saturation {
        data[protocol::SWEEP_KEY] = serde_json::to_string_pretty(saturation)
            .expect("saturation serialises")
            .into();
    }
    let mut binary = json!({
        protocol::METRICS_KEY: base64::engine::general_purpose::STANDARD.encode(&metrics),
    });
    if let Some(files) = &server_files {
        binary[protocol::SERVER_METRICS_KEY] = base64::engine::general_purpose::STANDARD
            .encode(protocol::encode_server_files(files))
            .into();
    }
    results
        .patch_with_retries(json!({"data": data, "binaryData": binary}))
        .await?;
    if stopped {
        return Err(AgentError::Terminated);
    }
    Ok(())
}

/// This process's peak resident memory (`VmHWM`), for sizing runner pods' memory requests;
/// `None` where /proc does not say.
fn peak_memory_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib >> 10)
}

/// When runner `index` of `runners` writes its first progress, after the start: the runners'
/// writes spread evenly over each interval, so the API server sees a steady `runners /
/// interval` writes a second instead of bursts of all runners at once.
fn progress_phase(interval: Duration, index: u32, runners: u32) -> Duration {
    interval.mul_f64(f64::from(index) / f64::from(runners.max(1)))
}

/// The engine's live counters in the protocol's form.
fn wire_progress(s: &Snapshot) -> RunnerProgress {
    RunnerProgress {
        stage: s.stage,
        sweep_probe: s.sweep_probe,
        planned: s.planned,
        sent: s.sent,
        in_flight: s.in_flight,
        succeeded: s.succeeded,
        failed: s.failed,
        cancelled: s.cancelled,
    }
}

/// The last stage's counters, so that the final progress agrees with the metrics.
fn final_progress(metrics: &ibench_core::metrics::RunMetrics) -> RunnerProgress {
    let Some(stage) = metrics.stages.last() else {
        return RunnerProgress::default();
    };
    let total = stage.total();
    RunnerProgress {
        stage: stage.info.id,
        sweep_probe: false,
        planned: stage.info.planned,
        sent: total.sent,
        in_flight: 0,
        succeeded: total.successes.count,
        failed: total.failures.count,
        cancelled: total.cancelled.in_flight + total.cancelled.not_sent,
    }
}

/// Waits for the operator's start signal: a watch on the single config ConfigMap (the runner's
/// Role allows exactly that name), re-established when the server ends it.
async fn wait_for_start(
    configs: &Api<ConfigMap>,
    name: &str,
    timeout: Duration,
) -> Result<StartSignal, AgentError> {
    let wait = watch_config(configs, name, |data| Ok(protocol::start_signal(data)?));
    tokio::time::timeout(timeout, wait)
        .await
        .map_err(|_| AgentError::StartTimeout(timeout))?
}

/// Waits until `read` finds what it looks for in the data of the config ConfigMap `name`, read
/// once and then watched (re-read after any end of the watch).
async fn watch_config<T>(
    configs: &Api<ConfigMap>,
    name: &str,
    read: impl Fn(Option<&BTreeMap<String, String>>) -> Result<Option<T>, AgentError>,
) -> Result<T, AgentError> {
    loop {
        let config_map = match configs.get(name).await {
            Ok(cm) => cm,
            Err(e) if is_transient(&e) => {
                tracing::warn!(error = %e, "reading the config ConfigMap failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(found) = read(config_map.data.as_ref())? {
            return Ok(found);
        }
        let version = config_map.metadata.resource_version.unwrap_or_default();
        let params = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(240);
        let stream = match configs.watch(&params, &version).await {
            Ok(stream) => stream,
            Err(e) if is_transient(&e) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let mut stream = stream.boxed();
        // Any end of the stream (timeout, error event, dropped connection): read again.
        while let Ok(Some(event)) = stream.try_next().await {
            match event {
                WatchEvent::Added(cm) | WatchEvent::Modified(cm) => {
                    if let Some(found) = read(cm.data.as_ref())? {
                        return Ok(found);
                    }
                }
                WatchEvent::Deleted(_) => {
                    return Err(AgentError::ConfigDeleted(name.to_string()));
                }
                WatchEvent::Bookmark(_) => {}
                WatchEvent::Error(e) => {
                    tracing::debug!(error = %e, "watch ended; re-reading");
                    break;
                }
            }
        }
    }
}

/// Circuit breakers across runners: a trip here is written to this runner's results at once
/// (the operator relays it to every runner); a trip relayed by the operator stops this runner.
async fn relay_breakers(
    breakers: &BreakerWatch,
    configs: &Api<ConfigMap>,
    config_name: &str,
    results: &ResultWriter,
    index: u32,
) {
    tokio::select! {
        () = breakers.tripped() => {
            let Some(trip) = breakers.trip_info().filter(|t| t.runner.is_none()) else {
                return;
            };
            let trip = BreakerTrip { runner: Some(index), ..trip.clone() };
            tracing::warn!(breaker = %trip.name, stage = trip.stage_id, "circuit breaker tripped; stopping every runner");
            let patch = json!({"data": {
                protocol::BREAKER_KEY: serde_json::to_string(&trip).expect("a trip serialises"),
            }});
            if let Err(e) = results.patch_with_retries(patch).await {
                tracing::warn!(error = %e, "reporting the circuit breaker trip failed");
            }
        }
        stop = watch_config(configs, config_name, |data| Ok(protocol::stop_signal(data))) => match stop {
            Ok(trip) => {
                tracing::warn!(breaker = %trip.name, runner = ?trip.runner, "circuit breaker tripped on another runner; stopping");
                breakers.trip(trip);
            }
            Err(e) => tracing::warn!(error = %e, "watching for a stop from the operator failed"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<AgentEnv, AgentError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AgentEnv::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn environment_is_read_and_checked() {
        let base = [
            (protocol::ENV_NAMESPACE, "ns"),
            (protocol::ENV_RUN, "bench-g2"),
            (protocol::ENV_RUNNERS, "4"),
            (protocol::ENV_INDEX, "3"),
        ];
        let parsed = env(&base).unwrap();
        assert_eq!((parsed.index, parsed.runners), (3, 4));
        assert_eq!(parsed.run, "bench-g2");
        assert_eq!(parsed.api_key, None);
        assert_eq!(parsed.progress_interval, Duration::from_secs(5));

        let mut outside = base;
        outside[3] = (protocol::ENV_INDEX, "4");
        assert!(
            env(&outside)
                .unwrap_err()
                .to_string()
                .contains("outside 0..4")
        );
        assert!(
            env(&base[..3])
                .unwrap_err()
                .to_string()
                .contains("JOB_COMPLETION_INDEX")
        );
        let mut with = base.to_vec();
        with.push((protocol::ENV_PROGRESS_SECONDS, "0.5"));
        with.push((protocol::ENV_API_KEY, "sk"));
        let parsed = env(&with).unwrap();
        assert_eq!(parsed.progress_interval, Duration::from_millis(500));
        assert_eq!(parsed.api_key.as_deref(), Some("sk"));
        with.push((protocol::ENV_START_TIMEOUT_SECONDS, "-1"));
        assert!(env(&with).is_err());
    }

    #[test]
    fn progress_writes_spread_over_the_interval() {
        let interval = Duration::from_secs(20);
        let phases: Vec<Duration> = (0..4).map(|k| progress_phase(interval, k, 4)).collect();
        assert_eq!(
            phases,
            [0, 5, 10, 15].map(Duration::from_secs),
            "one write every 5 s from 4 runners"
        );
        assert_eq!(progress_phase(interval, 0, 1), Duration::ZERO);
    }
}
