//! A worker: one OS thread with its own single-threaded event loop, HTTP connection pool and
//! precise timer. It executes its share of each stage — open loop (planned send times) or closed
//! loop (a fixed number of requests in flight) — and returns the stage's statistics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::metrics::{Clock, Outcome, RequestRecord, StageRecorder};
use crate::plan::{Plan, StageLoad};
use crate::report::{PerRequestEntry, PerRequestError, PerRequestInfo};
use crate::tokenize::count_tokens;

use super::EngineSettings;
use super::http::{Exchange, Target};
use super::progress::Progress;
use super::timer::PreciseTimer;

/// What a worker is asked to do for one stage.
pub(super) struct StageOrder {
    pub stage: usize,
    /// The stage's time zero.
    pub start: Instant,
    /// Open loop: after this, nothing more is sent and in-flight requests are cancelled.
    pub deadline: Instant,
    /// Cancelled on interrupt (for the run) or at the deadline (for this stage).
    pub cancel: CancellationToken,
    /// Closed loop: this worker's number of lanes and the runner-wide cursor into the stage's
    /// requests, shared so that the level holds until the very last request.
    pub closed_loop: Option<(u64, Arc<AtomicU64>)>,
    pub reply: oneshot::Sender<StageRecorder>,
}

/// Everything a request task needs; shared by the worker's tasks.
struct Shared {
    plan: Arc<Plan>,
    settings: Arc<EngineSettings>,
    progress: Arc<Progress>,
    target: Target,
    clock: Clock,
}

/// A request ready to go: body rendered before its send time, so that rendering never delays
/// the send.
struct Prepared {
    index: u64,
    adapter: Option<usize>,
    body: Vec<u8>,
    prompt_tokens: u64,
}

pub(super) fn spawn(
    id: usize,
    plan: Arc<Plan>,
    settings: Arc<EngineSettings>,
    progress: Arc<Progress>,
    clock: Clock,
) -> std::io::Result<(
    mpsc::UnboundedSender<StageOrder>,
    std::thread::JoinHandle<()>,
    std::sync::mpsc::Receiver<Result<(), String>>,
)> {
    let (orders, mut inbox) = mpsc::unbounded_channel::<StageOrder>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("ibench-worker-{id}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!(
                        "worker {id}: cannot start its event loop: {e}"
                    )));
                    return;
                }
            };
            // The worker runs as a spawned task, not as `block_on`'s own future: waking that
            // one goes through the driver's eventfd (two syscalls per request), waking a task
            // is a local queue push.
            let worker = async move {
                let setup = super::priority::apply_to_current_thread(settings.realtime)
                    .map_err(|e| e.to_string())
                    .and_then(|()| Target::new(&settings.target).map_err(|e| e.to_string()))
                    .and_then(|target| {
                        PreciseTimer::new()
                            .map(|timer| (target, timer))
                            .map_err(|e| format!("timer: {e}"))
                    });
                let (target, timer) = match setup {
                    Ok(parts) => parts,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("worker {id}: {e}")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let shared = Arc::new(Shared {
                    plan,
                    settings,
                    progress,
                    target,
                    clock,
                });
                while let Some(order) = inbox.recv().await {
                    let recorder = run_stage(id, &shared, &timer, &order).await;
                    let _ = order.reply.send(recorder);
                }
            };
            let _ = runtime.block_on(async move { tokio::spawn(worker).await });
        })?;
    Ok((orders, thread, ready_rx))
}

async fn run_stage(
    id: usize,
    shared: &Arc<Shared>,
    timer: &PreciseTimer,
    order: &StageOrder,
) -> StageRecorder {
    let adapters = shared.plan.lora.as_ref().map_or(0, |t| t.names().len());
    let recorder = Arc::new(Mutex::new(StageRecorder::new(
        adapters,
        shared.clock,
        shared.settings.record,
    )));
    let stage = &shared.plan.stages[order.stage];
    match (&stage.load, &order.closed_loop) {
        (StageLoad::Rate { arrivals, .. }, _) => {
            let shard = shared
                .settings
                .shard
                .split(shared.settings.num_workers as u64, id as u64);
            open_loop(shared, timer, order, &recorder, arrivals.iter(shard)).await;
        }
        (StageLoad::Concurrent { num_requests, .. }, Some((lanes, cursor))) => {
            closed_loop(shared, order, &recorder, *num_requests, *lanes, cursor).await;
        }
        (StageLoad::Concurrent { .. }, None) => {
            unreachable!("closed-loop orders carry their lanes")
        }
    }
    Arc::try_unwrap(recorder)
        .map(|m| m.into_inner().expect("recorder lock"))
        .unwrap_or_else(|shared| shared.lock().expect("recorder lock").clone())
}

/// Sends each arrival at its planned time. Saturation (no free permit) shows up as schedule
/// delay, as in inference-perf; what the deadline or an interrupt cuts off is recorded as
/// cancelled, never dropped.
async fn open_loop(
    shared: &Arc<Shared>,
    timer: &PreciseTimer,
    order: &StageOrder,
    recorder: &Arc<Mutex<StageRecorder>>,
    arrivals: Box<dyn Iterator<Item = crate::plan::Arrival> + Send>,
) {
    let capacity = shared.settings.worker_max_concurrency;
    let permits = Arc::new(Semaphore::new(capacity));
    let deadline = tokio::time::Instant::from_std(order.deadline);
    let mut stopped = order.cancel.is_cancelled();
    for arrival in arrivals {
        let scheduled = order.start + Duration::from_secs_f64(arrival.offset);
        if !stopped && scheduled > order.deadline {
            stopped = true;
        }
        if stopped {
            record_not_sent(shared, recorder, order.stage, arrival.index, scheduled);
            continue;
        }
        let prepared = prepare(shared, order.stage, arrival.index);
        let permit = tokio::select! {
            biased;
            _ = order.cancel.cancelled() => None,
            _ = async {
                let _ = timer.sleep_until(scheduled).await;
            } => match permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                // Saturated: wait for a permit, bounded by the deadline. (The fast path above
                // avoids arming a timer per request, which costs the driver a wake-up.)
                Err(_) => tokio::select! {
                    biased;
                    _ = order.cancel.cancelled() => None,
                    _ = tokio::time::sleep_until(deadline) => None,
                    permit = permits.clone().acquire_owned() => permit.ok(),
                },
            },
        };
        match permit {
            Some(permit) => spawn_request(shared, recorder, order, prepared, scheduled, permit),
            None => {
                stopped = true;
                record_not_sent(shared, recorder, order.stage, arrival.index, scheduled);
            }
        }
    }
    let all = capacity as u32;
    tokio::select! {
        _ = permits.acquire_many(all) => return,
        _ = tokio::time::sleep_until(deadline) => order.cancel.cancel(),
        _ = order.cancel.cancelled() => {}
    }
    // Cancelled requests finish promptly, recording themselves as cancelled.
    let _ = permits.acquire_many(all).await;
}

/// `lanes` loops, each sending its next request as soon as the previous one is done.
async fn closed_loop(
    shared: &Arc<Shared>,
    order: &StageOrder,
    recorder: &Arc<Mutex<StageRecorder>>,
    num_requests: u64,
    lanes: u64,
    cursor: &Arc<AtomicU64>,
) {
    let shard = shared.settings.shard;
    let mine = shard.len_of(num_requests);
    let stage = order.stage;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..lanes {
        let (shared, recorder, cursor, cancel) = (
            shared.clone(),
            recorder.clone(),
            cursor.clone(),
            order.cancel.clone(),
        );
        tasks.spawn(async move {
            loop {
                let j = cursor.fetch_add(1, Ordering::Relaxed);
                if j >= mine {
                    break;
                }
                let index = shard.index + j * shard.count;
                let scheduled = Instant::now();
                if cancel.is_cancelled() {
                    record_not_sent(&shared, &recorder, stage, index, scheduled);
                    continue;
                }
                let prepared = prepare(&shared, stage, index);
                execute(&shared, &recorder, &cancel, prepared, scheduled).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

fn prepare(shared: &Shared, stage: usize, index: u64) -> Prepared {
    let plan = &shared.plan;
    let adapter = plan.lora.as_ref().map(|t| t.pick(plan.seed, stage, index));
    let model = match (adapter, &plan.lora) {
        (Some(a), Some(table)) => table.names()[a].as_str(),
        _ => shared.settings.model.as_str(),
    };
    let data = plan.data.request(plan.seed, index);
    let body = shared
        .settings
        .body
        .render(model, &data.prompt, data.max_tokens);
    Prepared {
        index,
        adapter,
        body,
        prompt_tokens: count_tokens(&data.prompt) as u64,
    }
}

fn spawn_request(
    shared: &Arc<Shared>,
    recorder: &Arc<Mutex<StageRecorder>>,
    order: &StageOrder,
    prepared: Prepared,
    scheduled: Instant,
    permit: OwnedSemaphorePermit,
) {
    let (shared, recorder, cancel) = (shared.clone(), recorder.clone(), order.cancel.clone());
    tokio::spawn(async move {
        execute(&shared, &recorder, &cancel, prepared, scheduled).await;
        // The recorder must be released before the permit: the stage ends when all permits
        // are back and then takes the recorder.
        drop(recorder);
        drop(permit);
    });
}

async fn execute(
    shared: &Shared,
    recorder: &Mutex<StageRecorder>,
    cancel: &CancellationToken,
    prepared: Prepared,
    scheduled: Instant,
) {
    let keep_raw = shared.settings.per_request.is_some();
    let request_text = keep_raw.then(|| String::from_utf8_lossy(&prepared.body).into_owned());
    let request_bytes = prepared.body.len() as u64;
    shared.progress.sent();
    let start = Instant::now();
    let exchange = tokio::select! {
        exchange = shared.target.send(prepared.body, keep_raw) => exchange,
        _ = cancel.cancelled() => Exchange { outcome: Outcome::Cancelled, raw: None },
    };
    let end = Instant::now();
    let succeeded = matches!(exchange.outcome, Outcome::Success(_));
    shared
        .progress
        .finished(succeeded, matches!(exchange.outcome, Outcome::Cancelled));
    let record = RequestRecord {
        index: prepared.index,
        adapter: prepared.adapter,
        scheduled,
        start: Some(start),
        end,
        request_bytes,
        prompt_tokens: prepared.prompt_tokens,
        outcome: exchange.outcome,
    };
    if let (Some(sender), Some(request)) = (&shared.settings.per_request, request_text) {
        let _ = sender.send(per_request_entry(
            shared,
            &record,
            request,
            exchange.raw.unwrap_or_default(),
        ));
    }
    recorder.lock().expect("recorder lock").record(&record);
}

fn record_not_sent(
    shared: &Shared,
    recorder: &Mutex<StageRecorder>,
    stage: usize,
    index: u64,
    scheduled: Instant,
) {
    let plan = &shared.plan;
    let adapter = plan.lora.as_ref().map(|t| t.pick(plan.seed, stage, index));
    shared.progress.not_sent();
    let record = RequestRecord {
        index,
        adapter,
        scheduled,
        start: None,
        end: Instant::now(),
        request_bytes: 0,
        prompt_tokens: 0,
        outcome: Outcome::Cancelled,
    };
    recorder.lock().expect("recorder lock").record(&record);
}

fn per_request_entry(
    shared: &Shared,
    record: &RequestRecord,
    request: String,
    response: String,
) -> PerRequestEntry {
    let clock = &shared.clock;
    let stage_id = shared.progress.snapshot().stage;
    let (output_tokens, usage, chunk_times, error) = match &record.outcome {
        Outcome::Success(r) => (
            r.output_tokens,
            r.usage.map(|u| serde_json::json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "cached_tokens": u.cached_tokens})),
            r.chunks.iter().map(|(t, _)| clock.epoch(*t)).collect(),
            None,
        ),
        Outcome::Failure(e) => {
            (0, None, vec![], Some(PerRequestError { error_type: format!("{:?}", e.kind), error_msg: e.message.clone() }))
        }
        Outcome::Cancelled => (0, None, vec![], None),
    };
    PerRequestEntry {
        stage_id,
        scheduled_time: clock.epoch(record.scheduled),
        start_time: record.start.map(|t| clock.epoch(t)),
        end_time: clock.epoch(record.end),
        request,
        response,
        info: PerRequestInfo {
            lora_adapter: record
                .adapter
                .and_then(|a| shared.plan.lora.as_ref().map(|t| t.names()[a].clone())),
            input_tokens: record.prompt_tokens,
            output_tokens,
            server_usage: usage,
            chunk_times,
            cancelled: matches!(record.outcome, Outcome::Cancelled),
        },
        error,
    }
}
