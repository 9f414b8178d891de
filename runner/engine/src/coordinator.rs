//! Executes a plan: worker threads send requests at their planned times and return statistics
//! stage by stage; the coordinator (this module) starts stages together, enforces deadlines and
//! interrupts, and merges the workers' statistics.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use ibench_core::metrics::{Clock, RunMetrics, StageInfo, StageRecorder, StageStatus};
use ibench_core::plan::{Plan, Routing, StageKind, StageLoad, StagePlan, even_split};

use crate::http::Prewarmed;
use crate::interrupt::Interrupt;
use crate::progress::Progress;
use crate::sessions::SessionStage;
use crate::settings::EngineSettings;
use crate::worker;

/// Time between publishing a stage's start and the start itself, so every worker is waiting
/// for it when it comes.
pub const LEAD_IN: Duration = Duration::from_millis(20);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot start worker threads: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("{0}")]
    Worker(String),
    #[error(
        "server.base_url: none of the {attempted} connections to {url} opened before the first \
         stage could be established: {cause}; nothing was sent. Check the address and that the \
         server is up (https:// only for a TLS server), or set load.fail_fast: false for a \
         server that starts later"
    )]
    Unreachable {
        url: String,
        attempted: usize,
        cause: String,
    },
}

struct WorkerHandle {
    orders: mpsc::UnboundedSender<worker::StageOrder>,
    thread: std::thread::JoinHandle<()>,
}

pub struct Engine {
    plan: Arc<Plan>,
    settings: Arc<EngineSettings>,
    progress: Arc<Progress>,
    clock: Clock,
    workers: Vec<WorkerHandle>,
}

impl Engine {
    /// Starts the worker threads and waits until each has its connection pool and timer.
    /// With `fail_fast`, a target none of whose connections opened is an error.
    pub fn start(plan: Arc<Plan>, settings: EngineSettings) -> Result<Self, EngineError> {
        let settings = Arc::new(settings);
        let progress = Arc::new(Progress::default());
        let clock = Clock::now();
        let mut workers = Vec::with_capacity(settings.num_workers);
        let mut prewarmed = Prewarmed::default();
        for id in 0..settings.num_workers {
            let (orders, thread, ready) =
                worker::spawn(id, plan.clone(), settings.clone(), progress.clone(), clock)?;
            workers.push(WorkerHandle { orders, thread });
            let started = ready
                .recv()
                .map_err(|_| EngineError::Worker(format!("worker {id} exited during start")))
                .and_then(|r| r.map_err(EngineError::Worker));
            match started {
                Ok(worker) => {
                    prewarmed.attempted += worker.attempted;
                    prewarmed.opened += worker.opened;
                    prewarmed.failure = prewarmed.failure.or(worker.failure);
                }
                Err(e) => {
                    shut_down(workers);
                    return Err(e);
                }
            }
        }
        if settings.fail_fast && prewarmed.attempted > 0 && prewarmed.opened == 0 {
            shut_down(workers);
            return Err(EngineError::Unreachable {
                url: settings.target.url.to_string(),
                attempted: prewarmed.attempted,
                cause: prewarmed.failure.unwrap_or_default(),
            });
        }
        Ok(Engine {
            plan,
            settings,
            progress,
            clock,
            workers,
        })
    }

    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Runs `stages` in order. The first starts at `start_at` when given (so that several
    /// runners start together), else right away. Once `interrupt` stops the run, or a circuit
    /// breaker trips, the unsent requests of the current and later stages are recorded as
    /// cancelled.
    pub async fn run(
        &self,
        stages: &[Arc<StagePlan>],
        start_at: Option<Instant>,
        interrupt: &Interrupt,
    ) -> RunMetrics {
        let interrupt = &interrupt.child();
        let breaker_stop = self.settings.breakers.clone().map(|breakers| {
            let interrupt = interrupt.clone();
            tokio::spawn(async move {
                breakers.tripped().await;
                interrupt.stop();
            })
        });
        let mut run = RunMetrics::default();
        // The first stage run (the warm-up, else stage 0) starts at `start_at`.
        let mut start_at = start_at;
        let mut first_start = || match start_at.take() {
            Some(at) => at.max(Instant::now()),
            None => Instant::now() + LEAD_IN,
        };
        if let Some(warmup) = &self.plan.warmup {
            run.warmup = Some(self.run_stage(warmup, first_start(), interrupt).await);
        }
        for (position, stage) in stages.iter().enumerate() {
            if position > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(self.plan.interval) => {}
                    _ = interrupt.stopped() => {}
                }
            }
            run.push(self.run_stage(stage, first_start(), interrupt).await);
        }
        if let Some(task) = breaker_stop {
            task.abort();
        }
        run.circuit_breaker = self
            .settings
            .breakers
            .as_ref()
            .and_then(|b| b.trip_info().cloned());
        run
    }

    /// Runs one stage starting at `start` (give workers [`LEAD_IN`] to be ready).
    pub async fn run_stage(
        &self,
        stage: &Arc<StagePlan>,
        start: Instant,
        interrupt: &Interrupt,
    ) -> ibench_core::metrics::StageMetrics {
        let workers = self.workers.len() as u64;
        let routing = self.plan.data.routing();
        let shard = self.settings.shard;
        let session_stage = match &stage.load {
            StageLoad::Sessions {
                first,
                count,
                concurrent,
                rate,
                timeout,
                ..
            } => {
                let sessions = self
                    .plan
                    .data
                    .sessions()
                    .expect("session stages have sessions");
                let mine: Vec<u64> = (*first..first + count)
                    .filter(|&i| shard.contains(i))
                    .collect();
                // 0 runs all of them at once.
                let level = match concurrent {
                    0 => mine.len() as u64,
                    n => (even_split(*n, shard.count)[shard.index as usize]).min(mine.len() as u64),
                };
                let stop_at = timeout.map(|t| start + Duration::from_secs_f64(t));
                let runner_rate = rate.map(|r| r / shard.count as f64);
                Some((
                    even_split(level, workers),
                    Arc::new(SessionStage::new(
                        sessions.clone(),
                        mine,
                        start,
                        runner_rate,
                        stop_at,
                    )),
                ))
            }
            _ => None,
        };
        let planned = match &session_stage {
            Some((_, sessions)) => sessions.sessions.requests_of(&sessions.mine),
            None => routing.len_of(shard, stage.total_requests()),
        };
        let stage_stop = interrupt.stop_token().child_token();
        let stage_cancel = interrupt.abort_token().child_token();
        let deadline = match (&stage.load, stage.kind) {
            (_, StageKind::SweepProbe { time_limit }) => {
                start + Duration::from_secs_f64(time_limit)
            }
            (
                StageLoad::Rate {
                    duration, arrivals, ..
                },
                StageKind::Benchmark | StageKind::Warmup,
            ) => {
                start
                    + Duration::from_secs_f64(duration.max(arrivals.last_offset()))
                    + self.plan.teardown_grace
            }
            // A session stage cut off by its timeout gives its requests in flight the grace.
            (
                StageLoad::Sessions {
                    timeout: Some(timeout),
                    ..
                },
                StageKind::Benchmark | StageKind::Warmup,
            ) => start + Duration::from_secs_f64(*timeout) + self.plan.teardown_grace,
            // Closed loops end when their requests do; each request is bounded by its timeout.
            (
                StageLoad::Concurrent { .. } | StageLoad::Sessions { .. },
                StageKind::Benchmark | StageKind::Warmup,
            ) => start + Duration::from_secs(365 * 24 * 3600),
        };
        let stop_at = session_stage
            .as_ref()
            .and_then(|(_, sessions)| sessions.stop_at);
        let conversations =
            matches!(routing, Routing::User { .. }).then(|| Arc::new(Default::default()));
        let lanes = match &stage.load {
            StageLoad::Concurrent { level, .. } => {
                let runner_level = even_split(*level, self.settings.shard.count)
                    [self.settings.shard.index as usize];
                Some(even_split(runner_level, workers))
            }
            StageLoad::Rate { .. } | StageLoad::Sessions { .. } => None,
        };
        let cursor = Arc::new(AtomicU64::new(0));
        self.progress.start_stage(stage, planned, start);
        let mut replies = Vec::with_capacity(self.workers.len());
        for (id, worker) in self.workers.iter().enumerate() {
            let (reply, recorder) = oneshot::channel();
            let order = worker::StageOrder {
                stage: stage.clone(),
                start,
                deadline,
                stop: stage_stop.clone(),
                cancel: stage_cancel.clone(),
                closed_loop: lanes.as_ref().map(|l| (l[id], cursor.clone())),
                conversations: conversations.clone(),
                sessions: session_stage
                    .as_ref()
                    .map(|(lanes, sessions)| (lanes[id], sessions.clone())),
                reply,
            };
            if worker.orders.send(order).is_ok() {
                replies.push(recorder);
            }
        }
        // Open loops watch their deadline themselves; this also stops closed loops (probes),
        // and gives the requests in flight when the run is stopped their teardown grace.
        let watchdog = tokio::spawn({
            let (stage_stop, stage_cancel) = (stage_stop.clone(), stage_cancel.clone());
            let interrupt = interrupt.clone();
            let grace = self.plan.teardown_grace;
            async move {
                // A session stage's timeout stops the sending; the deadline after it ends the
                // grace of the requests in flight.
                if let Some(at) = stop_at {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at.into()) => stage_stop.cancel(),
                        _ = interrupt.stopped() => {}
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline.into()) => {}
                    _ = interrupt.stopped() => {
                        stage_stop.cancel();
                        let cut = deadline.min(Instant::now() + grace);
                        tokio::select! {
                            _ = tokio::time::sleep_until(cut.into()) => {}
                            _ = interrupt.aborted() => {}
                        }
                    }
                }
                stage_stop.cancel();
                stage_cancel.cancel();
            }
        });
        let adapters = self.plan.lora.as_ref().map_or(0, |t| t.names().len());
        let mut merged = StageRecorder::new(adapters, self.clock, self.settings.record);
        if stage.is_sweep_probe() {
            merged.keep_completions();
        }
        for reply in replies {
            if let Ok(recorder) = reply.await {
                merged.merge(&recorder);
            }
        }
        watchdog.abort();
        let interrupted = interrupt.is_stopped() || merged.accounted() < planned;
        let timed_out = stop_at.is_some() && stage_stop.is_cancelled() && !interrupt.is_stopped();
        let info = StageInfo {
            id: stage.id,
            requested_rate: stage.requested_rate(),
            concurrency: stage.concurrency(),
            planned,
            status: if timed_out {
                StageStatus::TimedOut
            } else if interrupted {
                StageStatus::Interrupted
            } else {
                StageStatus::Completed
            },
            start: self.clock.epoch(start),
            end: self.clock.epoch(Instant::now()),
            timeout: match stage.load {
                StageLoad::Sessions { timeout, .. } => timeout,
                _ => None,
            },
        };
        let names: Vec<String> = self
            .plan
            .lora
            .as_ref()
            .map(|t| t.names().to_vec())
            .unwrap_or_default();
        merged.into_metrics(info, &names)
    }

    /// Stops the workers and waits for their threads.
    pub fn shutdown(self) {
        shut_down(self.workers);
    }
}

fn shut_down(workers: Vec<WorkerHandle>) {
    for worker in workers {
        drop(worker.orders);
        let _ = worker.thread.join();
    }
}
