//! A worker: one OS thread with its own single-threaded event loop, HTTP connection pool and
//! precise timer. It executes its share of each stage — open loop (planned send times) or closed
//! loop (a fixed number of requests in flight) — and returns the stage's statistics.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::http::header::{HeaderName, HeaderValue};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use ibench_core::breakers::peer_record;
use ibench_core::config::{ApiType, PROMPT_TOKEN_BUFFER};
use ibench_core::metrics::{
    Audio, Clock, Image, Media, Outcome, RequestRecord, StageRecorder, Video,
};
use ibench_core::plan::sessions::{Message, ToolOffer, content_text};
use ibench_core::plan::{
    MediaPart, Plan, RequestData, Round, Routing, StageLoad, StagePlan, UserSession,
};
use ibench_core::report::messages_answer::MessagesAnswer;
use ibench_core::report::{Exchanged, chat_answer};
use ibench_core::tokenize::Tokenizer;

use crate::body::PromptParts;
use crate::conversation::{Conversations, Fitted, Turn, TurnEnd, fit};
use crate::http::{Exchange, Extras, Keep, Prewarmed, Target};
use crate::progress::Progress;
use crate::rotation::Rotation;
use crate::sessions::{Outgoing, Requests, SessionStage};
use crate::settings::EngineSettings;
use crate::timer::PreciseTimer;

/// Period of the worker's standing timer (see `spawn`); shorter than any sensible request
/// timeout, long enough that its own wake-ups cost nothing.
const TIMER_HORIZON: Duration = Duration::from_millis(100);

/// What a worker is asked to do for one stage.
pub(super) struct StageOrder {
    pub stage: Arc<StagePlan>,
    /// The stage's time zero.
    pub start: Instant,
    /// Open loop: after this, nothing more is sent and in-flight requests are cancelled.
    pub deadline: Instant,
    /// Cancelled when sending must end: the run is stopped, or the deadline has come.
    pub stop: CancellationToken,
    /// Cancelled when in-flight requests must end: the run is aborted, or its teardown grace
    /// or the deadline is over. Always follows `stop`.
    pub cancel: CancellationToken,
    /// Closed loop: this worker's number of lanes and the runner-wide cursor into the stage's
    /// requests, shared so that the level holds until the very last request.
    pub closed_loop: Option<(u64, Arc<AtomicU64>)>,
    /// Multi-turn chat: the stage's conversations, shared by the runner's workers.
    pub conversations: Option<Arc<Conversations>>,
    /// Session stage: this worker's number of lanes and the runner's sessions.
    pub sessions: Option<(u64, Arc<SessionStage>)>,
    pub reply: oneshot::Sender<StageRecorder>,
}

/// Everything a request task needs; shared by the worker's tasks.
struct Shared {
    plan: Arc<Plan>,
    settings: Arc<EngineSettings>,
    progress: Arc<Progress>,
    target: Target,
    clock: Clock,
    routing: Routing,
}

/// A request ready to go: its body rendered before its send time, so that rendering never
/// delays the send — except for a conversation round, which needs the previous answer.
struct Prepared {
    index: u64,
    adapter: Option<usize>,
    body: Body,
    /// Session replay: the trace event it replays (`info.graph_event_id`).
    event_id: Option<String>,
    /// Its record's labels (`info.labels`): a traced call's span attributes.
    labels: Vec<(String, String)>,
    /// What its record says of its media.
    media: Option<Box<Media>>,
}

enum Body {
    Ready {
        bytes: Vec<u8>,
        prompt_tokens: u64,
    },
    Round(RequestData),
    /// A session call with recorded messages: rendered once the session knows what earlier
    /// calls said (see [`crate::sessions::Outgoing`]).
    Recorded(RequestData),
    Outgoing(RequestData, Outgoing),
}

/// A started worker: where to send its stage orders, its thread, and where it reports whether
/// its setup (event loop, priority) succeeded and how many connections it opened.
pub(super) type Spawned = (
    mpsc::UnboundedSender<StageOrder>,
    std::thread::JoinHandle<()>,
    std::sync::mpsc::Receiver<Result<Prewarmed, String>>,
);

pub(super) fn spawn(
    id: usize,
    plan: Arc<Plan>,
    settings: Arc<EngineSettings>,
    progress: Arc<Progress>,
    clock: Clock,
) -> std::io::Result<Spawned> {
    let (orders, mut inbox) = mpsc::unbounded_channel::<StageOrder>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("ibench-worker-{id}"))
        .spawn(move || {
            // Sockets and timers only: with process and signal handling enabled too, every
            // turn of the event loop also looked for exited child processes.
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
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
                let setup = crate::priority::apply_to_current_thread(settings.realtime)
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        Target::new(&settings.target, plan.data.tokenizer().clone())
                            .map_err(|e| e.to_string())
                    })
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
                // As many connections as the worker may ever have requests in flight in an
                // open-loop stage, so its connections (and their memory) are fixed from the
                // start. Closed-loop lanes beyond that connect on demand.
                let prewarmed = target.prewarm(settings.worker_max_concurrency).await;
                let _ = ready_tx.send(Ok(prewarmed));
                // Every request arms a Tokio timer for its timeout. Whenever that timer is the
                // earliest the event loop knows of, Tokio wakes its own driver through an
                // eventfd: two extra syscalls per request. A standing timer that is always
                // earlier keeps request timeouts off that path. It ends with the runtime.
                tokio::spawn(async {
                    loop {
                        tokio::time::sleep(TIMER_HORIZON).await;
                    }
                });
                let shared = Arc::new(Shared {
                    routing: plan.data.routing(),
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
    let mut recorder = StageRecorder::new(adapters, shared.clock, shared.settings.record);
    if order.stage.is_sweep_probe() {
        recorder.keep_completions();
    }
    let recorder = Arc::new(Mutex::new(recorder));
    match (&order.stage.load, &order.closed_loop) {
        (StageLoad::Rate { arrivals, .. }, _) => {
            let shard = shared
                .settings
                .shard
                .split(shared.settings.num_workers as u64, id as u64);
            let planned = shared.routing.len_of(shard, arrivals.count());
            let arrivals = arrivals.iter(shard, shared.routing);
            open_loop(shared, timer, order, &recorder, arrivals, planned).await;
        }
        (StageLoad::Concurrent { num_requests, .. }, Some((lanes, cursor))) => {
            closed_loop(shared, order, &recorder, *num_requests, *lanes, cursor).await;
        }
        (StageLoad::Concurrent { .. }, None) => {
            unreachable!("closed-loop orders carry their lanes")
        }
        (StageLoad::Sessions { .. }, _) => {
            let (lanes, stage) = order
                .sessions
                .as_ref()
                .expect("session orders carry their sessions");
            let requests = SessionRequests(Lane::new(shared, &recorder, order));
            crate::sessions::run(
                &requests,
                stage,
                *lanes,
                &order.stop,
                shared.clock,
                &recorder,
            )
            .await;
        }
    }
    Arc::try_unwrap(recorder)
        .map(|m| m.into_inner().expect("recorder lock"))
        .unwrap_or_else(|shared| shared.lock().expect("recorder lock").clone())
}

/// Sends each arrival at its planned time. Saturation (no free permit) shows up as schedule
/// delay, as in inference-perf; what the deadline or an interrupt cuts off is recorded as
/// cancelled, never dropped. `planned` is the number of `arrivals`.
async fn open_loop(
    shared: &Arc<Shared>,
    timer: &PreciseTimer,
    order: &StageOrder,
    recorder: &Arc<Mutex<StageRecorder>>,
    arrivals: Box<dyn Iterator<Item = ibench_core::plan::Arrival> + Send>,
    planned: u64,
) {
    let capacity = shared.settings.worker_max_concurrency;
    let permits = Arc::new(Semaphore::new(capacity));
    let mut lanes = Lanes::start(capacity, shared, recorder, order);
    let deadline = tokio::time::Instant::from_std(order.deadline);
    let mut sent = 0u64;
    for arrival in arrivals {
        let scheduled = order.start + Duration::from_secs_f64(arrival.offset);
        if order.stop.is_cancelled() || scheduled > order.deadline {
            break;
        }
        let prepared = prepare(shared, &order.stage, arrival.index);
        let permit = tokio::select! {
            biased;
            _ = order.stop.cancelled() => None,
            _ = async {
                let _ = timer.sleep_until(scheduled).await;
            } => match permits.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                // Saturated: wait for a permit, bounded by the deadline. (The fast path above
                // avoids arming a timer per request, which costs the driver a wake-up.)
                Err(_) => tokio::select! {
                    biased;
                    _ = order.stop.cancelled() => None,
                    _ = tokio::time::sleep_until(deadline) => None,
                    permit = permits.clone().acquire_owned() => permit.ok(),
                },
            },
        };
        match permit {
            // Each worker's runtime sees the deadline on its own clock: a permit freed by
            // another worker cancelling at the deadline can reach this one before its own
            // deadline timer fires. Such a request would be counted as sent and cut off in
            // flight without ever reaching the server: the stage is over, it is not sent.
            Some(permit) if !order.cancel.is_cancelled() && Instant::now() < order.deadline => {
                lanes.send(Job {
                    prepared,
                    scheduled,
                    permit,
                })
            }
            _ => break,
        }
        sent += 1;
    }
    record_unsent(shared, recorder, planned - sent);
    let all = capacity as u32;
    tokio::select! {
        _ = permits.acquire_many(all) => {}
        _ = tokio::time::sleep_until(deadline) => order.cancel.cancel(),
        _ = order.cancel.cancelled() => {}
    }
    // Every lane finishes its job before it ends; cancelled requests finish promptly,
    // recording themselves as cancelled.
    lanes.close().await;
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
    let routing = shared.routing;
    let mine = routing.len_of(shard, num_requests);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..lanes {
        let (lane, cursor) = (Lane::new(shared, recorder, order), cursor.clone());
        tasks.spawn(async move {
            loop {
                if lane.stop.is_cancelled() {
                    // The whole rest of the stage at once: lanes that come later find none.
                    let taken = cursor.fetch_max(mine, Ordering::Relaxed);
                    record_unsent(&lane.shared, &lane.recorder, mine.saturating_sub(taken));
                    break;
                }
                let j = cursor.fetch_add(1, Ordering::Relaxed);
                if j >= mine {
                    break;
                }
                let index = routing.nth(shard, j);
                let scheduled = Instant::now();
                if lane.stop.is_cancelled() {
                    record_not_sent(&lane.shared, &lane.recorder, &lane.stage, index, scheduled);
                    continue;
                }
                let prepared = prepare(&lane.shared, &lane.stage, index);
                lane.execute(prepared, scheduled).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

fn prepare(shared: &Shared, stage: &StagePlan, index: u64) -> Prepared {
    let plan = &shared.plan;
    let adapter = plan
        .lora
        .as_ref()
        .map(|t| t.pick(plan.seed, stage.id, index));
    let data = plan.data.request(stage.id, index);
    let media = data
        .media
        .as_deref()
        .map(measure)
        .filter(|media| !media.is_empty())
        .map(Box::new);
    let labels = data
        .recorded
        .as_ref()
        .map(|r| r.labels.clone())
        .unwrap_or_default();
    let body = if data.round.is_some() {
        Body::Round(data)
    } else if data.recorded.is_some() && shared.settings.body.api != ApiType::Completion {
        Body::Recorded(data)
    } else {
        let parts = PromptParts {
            system: data.system.as_deref(),
            history: &[],
            user: &data.prompt,
            media: data.media.as_deref(),
        };
        let (bytes, prompt_tokens) = render(shared, adapter, &parts, &data);
        Body::Ready {
            bytes,
            prompt_tokens,
        }
    };
    Prepared {
        index,
        adapter,
        body,
        event_id: None,
        labels,
        media,
    }
}

/// What a request's record says of the media it carries (inference-perf's per-instance
/// metrics).
fn measure(parts: &[MediaPart]) -> Media {
    let mut media = Media::default();
    for part in parts {
        match part {
            MediaPart::Image(p) => media
                .images
                .push(Image::new(p.width, p.height, p.bytes as u64)),
            MediaPart::Frames(p) => media.videos.push(Video {
                picture: Image::new(p.width, p.height, p.bytes as u64),
                frames: p.frames.len() as u64,
            }),
            MediaPart::Video(p) => media.videos.push(Video {
                picture: Image::new(p.width, p.height, p.bytes as u64),
                frames: p.frames.into(),
            }),
            MediaPart::Audio(p) => media.audios.push(Audio {
                bytes: p.bytes as u64,
                seconds: p.seconds,
            }),
        }
    }
    media
}

/// The request body of `data` (its prompt given as `parts`) and its prompt tokens by the
/// run's tokenizer, for the model asked: the request's LoRA adapter (which wins over any base
/// model, as in inference-perf), else the model its session call chose, else
/// `server.model_name`.
fn render(
    shared: &Shared,
    adapter: Option<usize>,
    parts: &PromptParts,
    data: &RequestData,
) -> (Vec<u8>, u64) {
    let model = model_of(shared, adapter, data);
    let tokenizer = shared.plan.data.tokenizer();
    let prompt_tokens = parts.system.map_or(0, |s| tokenizer.count(s))
        + parts
            .history
            .iter()
            .map(|t| tokenizer.count(&t.user) + tokenizer.count(&t.assistant))
            .sum::<usize>()
        + tokenizer.count(parts.user)
        + tools_tokens(tokenizer, &data.tools);
    let tools = (data.offers_tools, &data.tools);
    (
        shared
            .settings
            .body
            .render(model, parts, data.max_tokens, tools),
        prompt_tokens as u64,
    )
}

/// The offered tools' definitions among a prompt's tokens, as inference-perf counts them.
fn tools_tokens(tokenizer: &Tokenizer, tools: &ToolOffer) -> usize {
    tools
        .counted_text
        .as_deref()
        .map_or(0, |t| tokenizer.count(t))
}

/// The model a request asks: its LoRA adapter (which wins over any base model, as in
/// inference-perf), else the model its session call chose, else `server.model_name`.
fn model_of<'a>(shared: &'a Shared, adapter: Option<usize>, data: &'a RequestData) -> &'a str {
    match (adapter, &shared.plan.lora) {
        (Some(a), Some(table)) => table.names()[a].as_str(),
        _ => data
            .model
            .as_deref()
            .unwrap_or(shared.settings.model.as_str()),
    }
}

/// A stage's long-lived request task (closed-loop lane or open-loop lane): its own handles on
/// the stage.
struct Lane {
    shared: Arc<Shared>,
    recorder: Arc<Mutex<StageRecorder>>,
    stop: CancellationToken,
    cancel: CancellationToken,
    stage: Arc<StagePlan>,
    conversations: Option<Arc<Conversations>>,
}

impl Lane {
    fn new(shared: &Arc<Shared>, recorder: &Arc<Mutex<StageRecorder>>, order: &StageOrder) -> Self {
        Lane {
            shared: shared.clone(),
            recorder: recorder.clone(),
            stop: order.stop.clone(),
            cancel: order.cancel.clone(),
            stage: order.stage.clone(),
            conversations: order.conversations.clone(),
        }
    }

    async fn execute(&self, prepared: Prepared, scheduled: Instant) -> Sent {
        execute(
            &self.shared,
            &self.recorder,
            (&self.stop, &self.cancel),
            &self.stage,
            self.conversations.as_deref(),
            prepared,
            scheduled,
        )
        .await
    }
}

/// A session stage's requests go through a lane's request path.
struct SessionRequests(Lane);

impl Requests for SessionRequests {
    type Prepared = Prepared;

    fn prepare(&self, index: u64, event_id: String) -> Prepared {
        let mut prepared = prepare(&self.0.shared, &self.0.stage, index);
        prepared.event_id = Some(event_id);
        prepared
    }

    async fn send(
        &self,
        mut prepared: Prepared,
        scheduled: Instant,
        outgoing: Option<Outgoing>,
    ) -> Sent {
        if let Some(outgoing) = outgoing
            && let Body::Recorded(data) = &prepared.body
        {
            let data = data.clone();
            prepared.body = Body::Outgoing(data, outgoing);
        }
        self.0.execute(prepared, scheduled).await
    }

    fn not_sent(&self, index: u64, scheduled: Instant) {
        record_not_sent(
            &self.0.shared,
            &self.0.recorder,
            &self.0.stage,
            index,
            scheduled,
        );
    }

    fn unsent(&self, count: u64) {
        record_unsent(&self.0.shared, &self.0.recorder, count);
    }

    fn streaming(&self) -> bool {
        self.0.shared.settings.body.stream
    }
}

/// A request due now, handed to a lane with its place under the in-flight cap.
struct Job {
    prepared: Prepared,
    scheduled: Instant,
    permit: OwnedSemaphorePermit,
}

/// The open loop's request tasks: one per place under the in-flight cap, started with the
/// stage. A burst of late sends (after a stall of the machine) reuses their memory instead of
/// allocating a task per request, so a run's memory does not depend on its worst burst.
struct Lanes {
    queue: Arc<LaneQueue>,
    tasks: tokio::task::JoinSet<()>,
    rotation: Rotation,
}

#[derive(Default)]
struct LaneQueue {
    jobs: Mutex<VecDeque<Job>>,
    ready: Notify,
    closed: AtomicBool,
}

impl Lanes {
    fn start(
        count: usize,
        shared: &Arc<Shared>,
        recorder: &Arc<Mutex<StageRecorder>>,
        order: &StageOrder,
    ) -> Self {
        let queue = Arc::new(LaneQueue::default());
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..count {
            let (lane, queue) = (Lane::new(shared, recorder, order), queue.clone());
            tasks.spawn(async move {
                while let Some(Job {
                    prepared,
                    scheduled,
                    permit,
                }) = queue.next().await
                {
                    lane.execute(prepared, scheduled).await;
                    drop(permit);
                }
            });
        }
        Lanes {
            queue,
            tasks,
            rotation: Rotation::default(),
        }
    }

    /// Wakes a lane in [`Rotation`] order: mostly the one idle last, whose memory is still in
    /// the CPU's caches (at 1,000 req/s, where every request follows an idle wait, waking the
    /// lane idle longest cost more CPU per request), sometimes the one idle longest, so that
    /// every lane is used early in a stage (lanes left untouched until a burst first needed
    /// them ended a 1M-request run at 20k req/s with 0.8 MB more memory than a 100k one).
    fn send(&mut self, job: Job) {
        self.queue.jobs.lock().expect("lanes lock").push_back(job);
        if self.rotation.oldest_next() {
            self.queue.ready.notify_one();
        } else {
            self.queue.ready.notify_last();
        }
    }

    /// Ends the lanes once their jobs are done; the stage's recorder is then no longer shared.
    async fn close(mut self) {
        self.queue.closed.store(true, Ordering::Release);
        self.queue.ready.notify_waiters();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl LaneQueue {
    /// The next job, or `None` once closed and empty.
    async fn next(&self) -> Option<Job> {
        loop {
            // Interest first, then look: a job sent in between still wakes this lane.
            let ready = self.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            if let Some(job) = self.jobs.lock().expect("lanes lock").pop_front() {
                return Some(job);
            }
            if self.closed.load(Ordering::Acquire) {
                return None;
            }
            ready.await;
        }
    }
}

async fn execute(
    shared: &Shared,
    recorder: &Mutex<StageRecorder>,
    (stop, cancel): (&CancellationToken, &CancellationToken),
    stage: &StagePlan,
    conversations: Option<&Conversations>,
    prepared: Prepared,
    scheduled: Instant,
) -> Sent {
    // A conversation round waits for the previous one (that wait is schedule delay, as in
    // inference-perf) and is rendered with the conversation so far.
    let mut capture = false;
    let (bytes, prompt_tokens, round, session_headers) = match prepared.body {
        Body::Ready {
            bytes,
            prompt_tokens,
        } => (bytes, prompt_tokens, None, Vec::new()),
        Body::Recorded(_) => unreachable!("a session sends its recorded calls with their messages"),
        Body::Outgoing(data, outgoing) => {
            let (bytes, prompt_tokens, headers) =
                render_recorded(shared, prepared.adapter, &data, &outgoing);
            capture = outgoing.capture;
            (bytes, prompt_tokens, None, headers)
        }
        Body::Round(data) => {
            let round = data.round.expect("rounds carry their place");
            let conversations = conversations.expect("multi-turn stages have conversations");
            let so_far = tokio::select! {
                so_far = conversations.wait_turn(round) => so_far,
                _ = stop.cancelled() => {
                    return (record_not_sent(shared, recorder, stage, prepared.index, scheduled), None);
                }
            };
            let fitted = match data.context_limit {
                Some(limit) => {
                    let budget =
                        i64::from(limit) - i64::from(data.max_tokens) - PROMPT_TOKEN_BUFFER;
                    fit(
                        shared.plan.data.tokenizer(),
                        data.system.as_deref(),
                        &so_far.history,
                        &data.prompt,
                        budget.max(0) as usize,
                    )
                }
                None => Fitted {
                    system: data.system.as_deref().map(Into::into),
                    dropped: 0,
                    user: data.prompt.as_str().into(),
                },
            };
            let parts = PromptParts {
                system: fitted.system.as_deref(),
                history: &so_far.history[fitted.dropped..],
                user: &fitted.user,
                media: None,
            };
            let (bytes, prompt_tokens) = render(shared, prepared.adapter, &parts, &data);
            let session = data.session.expect("rounds belong to sessions");
            let headers = shared
                .settings
                .sessions
                .request_headers(&session.id, so_far.token.as_deref());
            let asked = Asked {
                round,
                conversations,
                user: fitted.user.into_owned(),
                dropped: fitted.dropped,
                session,
            };
            (bytes, prompt_tokens, Some(asked), headers)
        }
    };
    // A request that got its connection only after the stage stopped sending (a lane freed by
    // the teardown's cancellation) is not sent: counting it as sent and cut off in flight
    // would report more requests in flight than the stage ever had.
    if stop.is_cancelled() || cancel.is_cancelled() {
        return (
            record_not_sent(shared, recorder, stage, prepared.index, scheduled),
            None,
        );
    }
    let per_request = shared.settings.per_request.is_some() && stage.is_benchmark();
    // A session call whose answer a later call sends keeps the raw answer to read it from.
    let keep = Keep {
        raw: per_request || capture,
        content: round.is_some(),
    };
    let request_text = per_request.then(|| String::from_utf8_lossy(&bytes).into_owned());
    let request_bytes = bytes.len() as u64;
    shared.progress.sent();
    let start = Instant::now();
    let extras = Extras {
        headers: &session_headers,
        wanted: shared
            .settings
            .sessions
            .token
            .as_ref()
            .filter(|_| round.is_some()),
    };
    let exchange = tokio::select! {
        exchange = shared.target.send(bytes, keep, extras) => exchange,
        _ = cancel.cancelled() => Exchange { outcome: Outcome::Cancelled, raw: None, content: None, retried: None, ended: None, header: None },
    };
    let end = exchange.ended.unwrap_or_else(Instant::now);
    let succeeded = matches!(exchange.outcome, Outcome::Success(_));
    shared
        .progress
        .finished(succeeded, matches!(exchange.outcome, Outcome::Cancelled));
    let session = round.map(|asked| {
        let turn = exchange
            .content
            .clone()
            .filter(|_| succeeded)
            .map(|assistant| Turn {
                user: asked.user,
                assistant,
            });
        asked.conversations.end_turn(
            asked.round,
            TurnEnd {
                exchange: turn,
                dropped: asked.dropped,
                ended: end,
                token: exchange.header.clone(),
            },
        );
        asked.session
    });
    let answer = exchange
        .raw
        .as_deref()
        .filter(|_| capture && succeeded)
        .and_then(|raw| live_answer(shared.settings.body.api, raw, shared.settings.body.stream));
    let record = RequestRecord {
        index: prepared.index,
        adapter: prepared.adapter,
        scheduled,
        start: Some(start),
        end,
        request_bytes,
        prompt_tokens,
        outcome: exchange.outcome,
        retried: exchange.retried,
        media: prepared.media,
    };
    if let Some(breakers) = &shared.settings.breakers
        && stage.is_benchmark()
        && !matches!(record.outcome, Outcome::Cancelled)
    {
        let clock = &shared.clock;
        breakers.feed(stage.id, clock.epoch(record.end), || {
            peer_record(
                stage.id,
                &record,
                clock,
                adapter_name(shared, record.adapter),
                request_text.as_deref(),
                exchange.raw.as_deref().filter(|_| per_request),
            )
        });
    }
    if let (Some(output), Some(request)) = (&shared.settings.per_request, request_text) {
        let exchanged = Exchanged {
            stage_id: stage.id,
            record: &record,
            lora_adapter: adapter_name(shared, record.adapter),
            graph_event_id: prepared.event_id,
            labels: prepared.labels,
            session: session.as_ref().map(|s| (s.id.as_str(), s.round)),
            request,
            response: exchange.raw.unwrap_or_default(),
        };
        let _ = output
            .sender
            .send(output.shape.entry(exchanged, &shared.clock));
    }
    recorder.lock().expect("recorder lock").record(&record);
    (record, answer)
}

/// The answer in a session call's `raw` response, as a later call sends it back.
fn live_answer(api: ApiType, raw: &str, streamed: bool) -> Option<Message> {
    match api {
        ApiType::AnthropicMessages => MessagesAnswer::message(raw, streamed),
        ApiType::Chat | ApiType::Completion => chat_answer::read(raw, streamed),
    }
}

/// A request's record, and its live answer when it was asked to keep it.
type Sent = (RequestRecord, Option<Message>);

/// A recorded session call's body, prompt tokens (its messages' text and its tools, as
/// inference-perf counts them) and headers (its span's attributes).
fn render_recorded(
    shared: &Shared,
    adapter: Option<usize>,
    data: &RequestData,
    outgoing: &Outgoing,
) -> (Vec<u8>, u64, Vec<(HeaderName, HeaderValue)>) {
    let recorded = data
        .recorded
        .as_deref()
        .expect("recorded calls carry their recording");
    let tokenizer = shared.plan.data.tokenizer();
    let messages_tokens: usize = match shared.settings.body.api {
        // inference-perf counts the text parts of a Messages API call's content too.
        ApiType::AnthropicMessages => outgoing
            .messages
            .iter()
            .map(|m| tokenizer.count(&content_text(m.get("content"))))
            .sum(),
        ApiType::Chat | ApiType::Completion => outgoing
            .messages
            .iter()
            .filter_map(|m| m.get("content").and_then(serde_json::Value::as_str))
            .map(|text| tokenizer.count(text))
            .sum(),
    };
    let prompt_tokens = messages_tokens + tools_tokens(tokenizer, &recorded.offer);
    let bytes = shared.settings.body.render_recorded(
        model_of(shared, adapter, data),
        &outgoing.messages,
        recorded,
        data.max_tokens,
        data.offers_tools,
    );
    let headers = recorded
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_str(value).ok()?,
            ))
        })
        .collect();
    (bytes, prompt_tokens as u64, headers)
}

/// A conversation round as sent, for its end.
struct Asked<'a> {
    round: Round,
    conversations: &'a Conversations,
    /// The new text as sent (cut to fit, if it had to be).
    user: String,
    dropped: usize,
    session: UserSession,
}

fn record_not_sent(
    shared: &Shared,
    recorder: &Mutex<StageRecorder>,
    stage: &StagePlan,
    index: u64,
    scheduled: Instant,
) -> RequestRecord {
    let plan = &shared.plan;
    let adapter = plan
        .lora
        .as_ref()
        .map(|t| t.pick(plan.seed, stage.id, index));
    shared.progress.not_sent(1);
    let record = RequestRecord {
        index,
        adapter,
        scheduled,
        start: None,
        end: Instant::now(),
        request_bytes: 0,
        prompt_tokens: 0,
        outcome: Outcome::Cancelled,
        retried: None,
        media: None,
    };
    recorder.lock().expect("recorder lock").record(&record);
    record
}

/// Counts `count` planned requests as never sent, in constant time: the rest of a stage cut
/// short can be billions of requests (5,000 req/s for a day is 432 million). Their adapters
/// are not drawn, so they count in the stage's totals, not per adapter.
fn record_unsent(shared: &Shared, recorder: &Mutex<StageRecorder>, count: u64) {
    if count == 0 {
        return;
    }
    shared.progress.not_sent(count);
    recorder.lock().expect("recorder lock").not_sent(count);
}

fn adapter_name(shared: &Shared, adapter: Option<usize>) -> Option<&str> {
    adapter.and_then(|a| shared.plan.lora.as_ref().map(|t| t.names()[a].as_str()))
}
