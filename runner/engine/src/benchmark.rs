//! One benchmark run end to end, minus presentation: resolve the target, build the plan, run the
//! engine, produce the reports. Used by `ibench run` and by runner pods under the operator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use ibench_core::breakers::{BreakerError, Breakers};
use ibench_core::config::{LoadConfig, ResolvedConfig, slo_header_objectives};
use ibench_core::metrics::{RecordOptions, RunMetrics};
use ibench_core::plan::{Plan, PlanError, Shard, StageLoad};
use ibench_core::report::{
    LocationError, PER_REQUEST_FILE, PerRequestWriter, RecordShape, RecordSink, ReportFile,
    create_location, lifecycle_reports,
};

use crate::body::BodyTemplate;
use crate::breaker::BreakerWatch;
use crate::coordinator::{Engine, EngineError};
use crate::discover::{DiscoverError, list_models};
use crate::fds::{FdError, FdNeed};
use crate::http::{
    ProxyRefused, RetryPolicy, TargetError, TargetSettings, TlsError, TlsOptions, check_proxy,
    client_config,
};
use crate::image_urls::{self, ImageUrlError};
use crate::interrupt::Interrupt;
use crate::progress::Progress;
use crate::settings::{EngineSettings, PerRequestOutput, SessionHeaders};
use crate::slo_search::{SLO_MAX_RATE_FILE, SloSearch, find_max_rate};
use crate::sweep::{Saturation, SweepError, find_saturation};

/// inference-perf's (aiohttp's) total request timeout when `load.request_timeout` is unset.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    ImageUrl(#[from] ImageUrlError),
    #[error("cannot determine the model: {0}; set server.model_name")]
    Discover(#[source] DiscoverError),
    #[error("cannot reach the server: {0}")]
    Unreachable(#[source] DiscoverError),
    #[error("cannot check the LoRA adapters: {0}")]
    Adapters(#[source] DiscoverError),
    #[error(
        "load.lora_traffic_split: adapter(s) {missing:?} not served by {base_url} (it serves {served:?})"
    )]
    MissingAdapters {
        missing: Vec<String>,
        served: Vec<String>,
        base_url: String,
    },
    #[error("server.base_url: {0}")]
    BaseUrl(String),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Proxy(#[from] ProxyRefused),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot write the per-request report: {0}")]
    PerRequest(#[source] std::io::Error),
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error(transparent)]
    FileDescriptors(#[from] FdError),
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(
        "load.sweep, load.slo_search: a search runs in one runner; it cannot be split over {0} runners (run it with one)"
    )]
    SweepSharded(u64),
    #[error(transparent)]
    Breakers(#[from] BreakerError),
}

pub struct Outcome {
    pub metrics: RunMetrics,
    /// Report files; with a sweep, `sweep_saturation` first.
    pub files: Vec<ReportFile>,
    /// How a sweep found the saturation rate.
    pub saturation: Option<Saturation>,
    /// With `load.slo_search`: the highest rate meeting the SLO, and the probes.
    pub slo_search: Option<SloSearch>,
    /// What the per-request records written showed (their number among it), or why the file
    /// could not be completed (the other reports are still produced), when they were asked
    /// for.
    pub per_request: Option<std::io::Result<ibench_core::report::PerRequestChecks>>,
}

/// A benchmark checked and planned, with nothing started and nothing sent: the plan built
/// (trace, data, corpus and tokenizer files read, the dataset's image URLs answering), the target's address and headers checked and
/// the file descriptors it needs available. `ibench validate` stops here; a run goes on to
/// [`start`](Self::start).
pub struct Planned {
    resolved: ResolvedConfig,
    shard: Shard,
    plan: Arc<Plan>,
    body: BodyTemplate,
    target: TargetSettings,
    fds: FdNeed,
}

impl Planned {
    /// What the user may not expect from the config (see [`Plan::notes`]).
    pub fn notes(&self) -> &[String] {
        &self.plan.notes
    }

    pub async fn new(resolved: ResolvedConfig, shard: Shard) -> Result<Self, BenchmarkError> {
        let config = &resolved.config;
        let server = config.server.as_ref().expect("validated: server present");
        if (config.load.sweep.is_some() || config.load.slo_search.is_some()) && shard.count > 1 {
            return Err(BenchmarkError::SweepSharded(shard.count));
        }
        let plan = Arc::new(Plan::build(&resolved)?);
        image_urls::check(plan.data.remote_images()).await?;
        let body = BodyTemplate {
            api: config.api.api_type,
            ignore_eos: server.ignore_eos,
            stream: config.api.streaming,
            response_format: config
                .api
                .response_format
                .as_ref()
                .map(|f| f.to_request_field()),
            add_special_tokens: config.data.use_chat_template.then_some(false),
        };
        let url = reqwest::Url::parse(&server.base_url)
            .and_then(|base| base.join(body.path()))
            .map_err(|e| BenchmarkError::BaseUrl(e.to_string()))?;
        check_proxy(&url, |name| std::env::var(name).ok())?;
        let load = &config.load;
        let max_connections = load.worker_max_tcp_connections as usize;
        let tls_options = TlsOptions::of_server(server);
        if tls_options.insecure {
            tracing::warn!(
                "server.insecure_skip_tls_verify: the server's certificate is not verified; anyone on the path can read and change the traffic"
            );
        }
        let tls = match url.scheme() {
            "https" => Some(Arc::new(client_config(&tls_options)?)),
            _ => None,
        };
        let target = TargetSettings {
            url,
            api: config.api.api_type,
            headers: config
                .api
                .headers
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            api_key: server.api_key.clone(),
            timeout: load
                .request_timeout
                .map_or(DEFAULT_REQUEST_TIMEOUT, Duration::from_secs_f64),
            stream: config.api.streaming,
            max_connections,
            max_response_bytes: config.api.max_response_bytes(),
            retry: RetryPolicy {
                retries: u32::try_from(load.request_retries).unwrap_or(u32::MAX),
                backoff_sec: load.request_retry_backoff_sec,
            },
            tls,
            http_version: server.http_version,
        };
        target.check()?;
        let workers = resolved.num_workers as u64;
        // Open-loop connections are opened ahead of stage 0; closed-loop lanes beyond them
        // connect on demand, one connection each.
        let lanes = plan
            .stages
            .iter()
            .filter_map(|stage| match stage.load {
                StageLoad::Concurrent { level, .. } => {
                    Some(level.div_ceil(shard.count).div_ceil(workers))
                }
                // A lane per session at once (0: every session of the stage).
                StageLoad::Sessions {
                    concurrent, count, ..
                } => {
                    let level = if concurrent == 0 { count } else { concurrent };
                    Some(level.div_ceil(shard.count).div_ceil(workers))
                }
                StageLoad::Rate { .. } => None,
            })
            .max()
            .unwrap_or(0);
        let fds = FdNeed {
            workers,
            connections: lanes.max(worker_max_concurrency(load) as u64),
        };
        fds.check()?;
        Ok(Planned {
            resolved,
            shard,
            plan,
            body,
            target,
            fds,
        })
    }

    /// Resolves the model (and checks the LoRA adapters) with the server, opens the
    /// per-request file (unless `records` takes the records) and starts the workers.
    pub async fn start(
        self,
        records: Option<Box<dyn RecordSink>>,
    ) -> Result<Benchmark, BenchmarkError> {
        let Planned {
            resolved,
            shard,
            plan,
            body,
            target,
            fds,
        } = self;
        let config = &resolved.config;
        let server = config.server.as_ref().expect("validated: server present");
        let api_key = server.api_key.as_deref();
        let needs_listing = server.model_name.is_none() || plan.lora.is_some();
        let served = if needs_listing {
            let tls = TlsOptions::of_server(server);
            Some(list_models(&server.base_url, api_key, &target.headers, &tls).await)
        } else {
            None
        };
        let model = match (&server.model_name, &served) {
            (Some(name), _) => name.clone(),
            (None, Some(Ok(ids))) => ids[0].clone(),
            (None, Some(Err(e @ DiscoverError::Tls { .. }))) => {
                return Err(BenchmarkError::Unreachable(e.clone()));
            }
            (None, Some(Err(e))) => return Err(BenchmarkError::Discover(e.clone())),
            (None, None) => unreachable!("listing requested when the model name is unset"),
        };
        if let Some(table) = &plan.lora {
            let served = match served.expect("listing requested for LoRA") {
                Ok(ids) => ids,
                Err(e) => return Err(BenchmarkError::Adapters(e)),
            };
            let missing: Vec<String> = table
                .names()
                .iter()
                .filter(|n| !served.contains(n))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Err(BenchmarkError::MissingAdapters {
                    missing,
                    served,
                    base_url: server.base_url.clone(),
                });
            }
        }
        let per_request = match (config.report.request_lifecycle.per_request, records) {
            (false, _) => None,
            (true, Some(sink)) => {
                Some(PerRequestWriter::to_sink(sink).map_err(BenchmarkError::PerRequest)?)
            }
            (true, None) => {
                create_location(&resolved.report_dir)?;
                let path = resolved
                    .report_dir
                    .join(format!("{}{PER_REQUEST_FILE}", report_prefix(&resolved)));
                Some(PerRequestWriter::create(&path).map_err(BenchmarkError::PerRequest)?)
            }
        };
        fds.reserve()?;
        let breakers = Breakers::enabled(config)?.map(|b| Arc::new(BreakerWatch::new(b)));
        let load = &config.load;
        let record = RecordOptions {
            use_server_output_tokens: config.report.request_lifecycle.use_server_output_tokens,
            max_error_messages: config.report.request_lifecycle.max_error_messages as usize,
            goodput: config.report.goodput.as_ref().map(|g| g.constraints),
        };
        let (ttft_slo_sec, tpot_slo_sec) = slo_header_objectives(&config.api);
        let settings = EngineSettings {
            target,
            body,
            model: model.clone(),
            num_workers: resolved.num_workers,
            worker_max_concurrency: worker_max_concurrency(load),
            shard,
            record,
            per_request: per_request.as_ref().map(|writer| PerRequestOutput {
                sender: writer.sender(),
                shape: RecordShape {
                    api: config.api.api_type,
                    streaming: config.api.streaming,
                    fields: config.report.request_lifecycle.per_request_fields,
                    options: record,
                    ttft_slo_sec,
                    tpot_slo_sec,
                },
            }),
            realtime: load.worker_realtime_priority,
            fail_fast: load.fail_fast,
            breakers: breakers.clone(),
            sessions: SessionHeaders::of(&config.api),
        };
        let engine = Engine::start(plan.clone(), settings)?;
        Ok(Benchmark {
            resolved,
            model,
            plan,
            engine,
            per_request,
            start_at: None,
            breakers,
        })
    }
}

/// Requests in flight per worker in open-loop stages: HTTP/1.1 holds one request per
/// connection, so the connection limit caps concurrency.
fn worker_max_concurrency(load: &LoadConfig) -> usize {
    (load.worker_max_concurrency as usize).min(load.worker_max_tcp_connections as usize)
}

/// A benchmark ready to run: plan built, model resolved, workers started.
pub struct Benchmark {
    pub resolved: ResolvedConfig,
    pub model: String,
    plan: Arc<Plan>,
    engine: Engine,
    per_request: Option<PerRequestWriter>,
    /// When stage 0 starts; `None` = as soon as the run begins.
    start_at: Option<Instant>,
    breakers: Option<Arc<BreakerWatch>>,
}

impl Benchmark {
    pub async fn prepare(resolved: ResolvedConfig, shard: Shard) -> Result<Self, BenchmarkError> {
        Self::prepare_with(resolved, shard, None).await
    }

    /// As [`prepare`](Self::prepare), with the per-request records (when the config asks for
    /// them) going to `records` instead of the report directory.
    pub async fn prepare_with(
        resolved: ResolvedConfig,
        shard: Shard,
        records: Option<Box<dyn RecordSink>>,
    ) -> Result<Self, BenchmarkError> {
        Planned::new(resolved, shard).await?.start(records).await
    }

    /// Makes stage 0 start at `at` (all runners of a distributed benchmark together).
    pub fn start_at(&mut self, at: Instant) {
        self.start_at = Some(at);
    }

    pub fn progress(&self) -> Arc<Progress> {
        self.engine.progress()
    }

    pub fn clock(&self) -> ibench_core::metrics::Clock {
        self.engine.clock()
    }

    /// The run's circuit breakers (`load.circuit_breakers`): to learn of a trip as it happens,
    /// or to stop this runner for a trip on another.
    pub fn breakers(&self) -> Option<Arc<BreakerWatch>> {
        self.breakers.clone()
    }

    /// Runs to the end or until `cancel`, which cancels the requests in flight at once.
    pub async fn run(self, cancel: &CancellationToken) -> Result<Outcome, BenchmarkError> {
        self.run_interruptible(&Interrupt::immediate(cancel)).await
    }

    /// Runs to the end or until `interrupt` stops it (in-flight requests then have the
    /// teardown grace, unless it aborts).
    pub async fn run_interruptible(self, interrupt: &Interrupt) -> Result<Outcome, BenchmarkError> {
        let config = &self.resolved.config;
        let report = config.lifecycle_report();
        let (saturation, slo_search, metrics) =
            if let (Some(search), Some(slo)) = (&config.load.slo_search, &config.report.slo) {
                let (found, metrics) = find_max_rate(
                    &self.engine,
                    config.load.load_type,
                    self.resolved.seed,
                    search,
                    slo,
                    interrupt,
                )
                .await;
                (None, Some(found), metrics)
            } else {
                let (saturation, stages) = match self.sweep(interrupt).await {
                    Ok(Some((saturation, stages))) => (Some(saturation), stages),
                    Ok(None) => (None, self.plan.stages.clone()),
                    Err(e) => {
                        self.engine.shutdown();
                        return Err(e.into());
                    }
                };
                let metrics = self.engine.run(&stages, self.start_at, interrupt).await;
                (saturation, None, metrics)
            };
        self.engine.shutdown();
        let per_request = match self.per_request {
            // Off the runtime: a sink may need it to finish (a bucket's last part uploads run
            // on it), and the agent's runtime has a single thread.
            Some(writer) => Some(
                tokio::task::spawn_blocking(move || writer.finish())
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e))),
            ),
            None => None,
        };
        let mut files = Vec::new();
        if let Some(saturation) = &saturation {
            files.push(ReportFile {
                name: "sweep_saturation".into(),
                contents: serde_json::to_value(saturation).expect("saturation serialises"),
            });
        }
        if let Some(found) = &slo_search {
            files.push(ReportFile {
                name: SLO_MAX_RATE_FILE.into(),
                contents: serde_json::to_value(found).expect("the search serialises"),
            });
        }
        files.extend(lifecycle_reports(&metrics, &report));
        Ok(Outcome {
            metrics,
            files,
            saturation,
            slo_search,
            per_request,
        })
    }

    /// With `load.sweep`: the saturation rate and the stages up to it.
    async fn sweep(
        &self,
        interrupt: &Interrupt,
    ) -> Result<Option<(Saturation, Vec<Arc<ibench_core::plan::StagePlan>>)>, SweepError> {
        let load = &self.resolved.config.load;
        let Some(sweep) = &load.sweep else {
            return Ok(None);
        };
        let client_cap = (self.resolved.num_workers as u64)
            * (load
                .worker_max_concurrency
                .min(load.worker_max_tcp_connections) as u64);
        find_saturation(
            &self.engine,
            load.load_type,
            self.resolved.seed,
            sweep,
            client_cap,
            interrupt,
        )
        .await
        .map(Some)
    }
}

pub fn report_prefix(resolved: &ResolvedConfig) -> String {
    resolved
        .config
        .storage
        .local_storage
        .report_file_prefix
        .clone()
        .unwrap_or_default()
}
