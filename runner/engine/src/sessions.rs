//! A worker's part of a session stage (`load.type: trace_session_replay`): lanes that each run
//! one session at a time, whole, on this worker. Within a session an event is sent once every
//! event it depends on has ended and its recorded gap (tool or think time) has passed after
//! the last of them; an event whose predecessor failed is not sent (inference-perf cancels it
//! too), and neither is anything once the stage's timeout has come, nor an event still waiting
//! for its predecessors `predecessor_wait_timeout_sec` after its session started (which fails
//! the session, as in inference-perf), nor one that would send an earlier answer with
//! malformed tool calls whose recorded stand-in is malformed too
//! (`bad_tool_call_handling: use_recorded`). Every event ends up in exactly one request record
//! and its session in one session record.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use ibench_core::metrics::{
    Clock, Outcome, RequestRecord, SessionError, SessionRecord, StageRecorder,
    time_to_first_user_token,
};
use ibench_core::plan::sessions::{FallbackMalformed, Live, Message, Substitution};
use ibench_core::plan::{Session, Sessions};

use crate::timer::PreciseTimer;

/// Sleeps until `at` on a timer of its own: the worker's precise timer holds one deadline at a
/// time, and a session's waits overlap with other sessions' (and its own parallel branches').
/// Tokio's timer alone would wake up to a millisecond late at every gap.
async fn sleep_until(at: Instant) {
    if at <= Instant::now() {
        return;
    }
    match PreciseTimer::new() {
        Ok(timer) if timer.sleep_until(at).await.is_ok() => {}
        _ => tokio::time::sleep_until(at.into()).await,
    }
}

/// How a worker sends and records one request; implemented by the worker, so that sessions
/// use its request path unchanged.
pub(crate) trait Requests {
    /// A request ready to go: request `index`, replaying event `event_id`.
    type Prepared;
    /// Renders request `index` (event `event_id`), ahead of its time.
    fn prepare(&self, index: u64, event_id: String) -> Self::Prepared;
    /// Sends a prepared request, due at `scheduled` (a recorded call with its `outgoing`
    /// messages), and records it; with its live answer if `outgoing` asked to keep it.
    fn send(
        &self,
        prepared: Self::Prepared,
        scheduled: Instant,
        outgoing: Option<Outgoing>,
    ) -> impl Future<Output = (RequestRecord, Option<Message>)>;
    /// Records request `index` as never sent.
    fn not_sent(&self, index: u64, scheduled: Instant);
    /// Records `count` requests of sessions never started as never sent.
    fn unsent(&self, count: u64);
    /// Whether answers are streamed (a whole answer has no first token).
    fn streaming(&self) -> bool;
}

/// What a call with recorded messages sends, now that the calls before it have answered.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub messages: Arc<[Message]>,
    /// A later call sends part of what this one sends or answers: keep its answer.
    pub capture: bool,
}

/// A session stage as one runner runs it, shared by its workers.
pub(crate) struct SessionStage {
    pub sessions: Arc<Sessions>,
    /// The runner's sessions of the stage, in order.
    pub mine: Arc<[u64]>,
    /// Next of `mine` to start; taken by whichever lane is free, on any worker.
    pub cursor: AtomicU64,
    /// When the next session may start (`session_rate`), runner-wide.
    pub pacer: Option<Mutex<(Instant, Duration)>>,
    /// The stage's timeout: nothing is sent from then on.
    pub stop_at: Option<Instant>,
}

impl SessionStage {
    pub fn new(
        sessions: Arc<Sessions>,
        mine: Vec<u64>,
        start: Instant,
        rate: Option<f64>,
        stop_at: Option<Instant>,
    ) -> Self {
        SessionStage {
            sessions,
            mine: mine.into(),
            cursor: AtomicU64::new(0),
            pacer: rate.map(|r| Mutex::new((start, Duration::from_secs_f64(1.0 / r)))),
            stop_at,
        }
    }

    /// When the next session may start: `max(previous + 1/rate, now)` (inference-perf's).
    fn start_slot(&self) -> Option<Instant> {
        let pacer = self.pacer.as_ref()?;
        let mut pacer = pacer.lock().expect("pacer lock");
        let at = pacer.0.max(Instant::now());
        pacer.0 = at + pacer.1;
        Some(at)
    }

    fn over(&self) -> bool {
        self.stop_at.is_some_and(|at| Instant::now() >= at)
    }
}

/// Runs `lanes` lanes of `stage` on this worker.
pub(crate) async fn run<R: Requests>(
    requests: &R,
    stage: &SessionStage,
    lanes: u64,
    stop: &CancellationToken,
    clock: Clock,
    recorder: &Mutex<StageRecorder>,
) {
    let lane = || async {
        loop {
            if stop.is_cancelled() || stage.over() {
                // The sessions no lane has started, at once: later lanes find none.
                let total = stage.mine.len() as u64;
                let taken = stage.cursor.fetch_max(total, Ordering::Relaxed).min(total);
                let left = &stage.mine[taken as usize..];
                requests.unsent(stage.sessions.requests_of(left));
                break;
            }
            let j = stage.cursor.fetch_add(1, Ordering::Relaxed);
            let Some(&index) = stage.mine.get(j as usize) else {
                break;
            };
            if let Some(at) = stage.start_slot() {
                tokio::select! {
                    _ = sleep_until(at) => {}
                    _ = stop.cancelled() => {}
                }
            }
            let session = stage.sessions.get(index);
            let record = run_session(requests, stage, session, stop, clock).await;
            recorder
                .lock()
                .expect("recorder lock")
                .record_session(record);
        }
    };
    join_all((0..lanes).map(|_| lane())).await;
}

/// Where an event stands, for the events waiting for it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Pending,
    Ended(Instant),
    /// Failed, cut off or never sent: what waits for it is not sent either.
    Lost,
}

async fn run_session<R: Requests>(
    requests: &R,
    stage: &SessionStage,
    session: &Session,
    stop: &CancellationToken,
    clock: Clock,
) -> SessionRecord {
    let graph = &session.graph;
    // Rendered first, so that rendering never delays a call after its gap.
    let prepared: Vec<Mutex<Option<R::Prepared>>> = (0..graph.events.len())
        .map(|e| {
            Mutex::new(Some(
                requests.prepare(session.request(e), session.event_id(e)),
            ))
        })
        .collect();
    let started = Instant::now();
    let states: Vec<watch::Sender<State>> = graph
        .events
        .iter()
        .map(|_| watch::Sender::new(State::Pending))
        .collect();
    // inference-perf starts every event's wait when its session starts.
    let give_up = stage.sessions.predecessor_wait.map(|limit| started + limit);
    // What each call was sent and answered, for the later calls that send it again.
    let live: Vec<OnceLock<Live>> = graph.events.iter().map(|_| OnceLock::new()).collect();
    let how = Substitution {
        live: stage.sessions.live_answers,
        salt: session.salt.as_deref(),
        bad_tool_calls: stage.sessions.bad_tool_calls,
    };
    // Events whose live answers a later call replaced by the recorded ones.
    let replaced: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    let outcomes = join_all(graph.events.iter().enumerate().map(|(e, event)| {
        let (states, prepared, live, replaced) = (&states, &prepared, &live, &replaced);
        async move {
            let mut ready = started;
            let mut lost = false;
            let mut timed_out = None;
            for &p in &event.after {
                let mut seen = states[p].subscribe();
                let ended = seen.wait_for(|s| *s != State::Pending);
                let state = match give_up {
                    None => Some(*ended.await.expect("the session owns its states")),
                    Some(at) => tokio::time::timeout_at(at.into(), ended)
                        .await
                        .ok()
                        .map(|state| *state.expect("the session owns its states")),
                };
                match state {
                    Some(State::Ended(end)) => ready = ready.max(end),
                    Some(_) => lost = true,
                    None => {
                        timed_out = give_up;
                        break;
                    }
                }
            }
            let scheduled = ready + event.wait;
            let index = session.request(e);
            let result = if lost {
                // A predecessor failed before the wait ran out: that failure is the cause.
                requests.not_sent(index, scheduled);
                Err(EventLost::Predecessor)
            } else if let Some(at) = timed_out {
                requests.not_sent(index, at);
                Err(EventLost::WaitTimeout(at))
            } else {
                tokio::select! {
                    _ = sleep_until(scheduled) => {}
                    _ = stop.cancelled() => {}
                }
                let sent = event
                    .recorded
                    .as_ref()
                    .map(|recorded| recorded.messages_to_send(how, |p| live[p].get()))
                    .transpose();
                if stop.is_cancelled() || stage.over() {
                    requests.not_sent(index, scheduled);
                    Err(EventLost::Stage)
                } else {
                    match sent {
                        Err(FallbackMalformed { from }) => {
                            requests.not_sent(index, scheduled);
                            Err(EventLost::FallbackMalformed(
                                scheduled,
                                session.event_id(from),
                            ))
                        }
                        Ok(sent) => {
                            let prepared = prepared[e]
                                .lock()
                                .expect("prepared lock")
                                .take()
                                .expect("each event is sent once");
                            let outgoing = sent.map(|sent| {
                                replaced
                                    .lock()
                                    .expect("replaced lock")
                                    .extend(sent.recorded_for);
                                Outgoing {
                                    messages: sent.messages.into(),
                                    capture: graph.events.iter().any(|later| {
                                        later.recorded.as_ref().is_some_and(|r| r.uses(e))
                                    }),
                                }
                            });
                            let (record, answer) =
                                requests.send(prepared, scheduled, outgoing.clone()).await;
                            if let (Some(outgoing), Some(answer)) = (outgoing, answer) {
                                let _ = live[e].set(Live {
                                    sent: outgoing.messages,
                                    answer,
                                });
                            }
                            Ok(record)
                        }
                    }
                }
            };
            let state = match &result {
                Ok(RequestRecord {
                    outcome: Outcome::Success(_),
                    end,
                    ..
                }) => State::Ended(*end),
                _ => State::Lost,
            };
            states[e].send_replace(state);
            result
        }
    }))
    .await;
    let mut record = session_record(session, clock, started, &outcomes, requests.streaming());
    // Sorted and distinct, as inference-perf reports them.
    let names: BTreeSet<String> = replaced
        .into_inner()
        .expect("replaced lock")
        .into_iter()
        .map(|e| graph.event_name(e))
        .collect();
    record.recorded_substitution_event_ids = names.into_iter().collect();
    record
}

/// Why an event was not sent.
#[derive(Debug, Clone)]
enum EventLost {
    Predecessor,
    Stage,
    /// Its predecessors had not all ended by then (`predecessor_wait_timeout_sec`).
    WaitTimeout(Instant),
    /// Due then, it would send the answer of this event (`{session}:{event}`), whose live and
    /// recorded tool calls are both malformed (`use_recorded`).
    FallbackMalformed(Instant, String),
}

impl EventLost {
    /// The session's error when this is why it lost events (inference-perf's causes and words).
    fn session_error(&self) -> SessionError {
        let (error_type, error_msg) = match self {
            EventLost::FallbackMalformed(_, from) => {
                return SessionError {
                    error_type: "recorded_fallback_malformed".into(),
                    error_msg: format!("recorded fallback for {from} is also malformed"),
                };
            }
            EventLost::Predecessor => (
                "predecessor_failed",
                "an event this one waits for failed, so it was not sent",
            ),
            EventLost::Stage => (
                "stage_ended",
                "the stage ended (timeout or stop) before all events were done",
            ),
            EventLost::WaitTimeout(_) => (
                "predecessor_wait_failed",
                "predecessor wait failed: TimeoutError",
            ),
        };
        SessionError {
            error_type: error_type.into(),
            error_msg: error_msg.into(),
        }
    }
}

fn session_record(
    session: &Session,
    clock: Clock,
    started: Instant,
    outcomes: &[Result<RequestRecord, EventLost>],
    streaming: bool,
) -> SessionRecord {
    let graph = &session.graph;
    let user_facing: Vec<usize> = (0..graph.events.len())
        .filter(|&e| graph.events[e].user_facing)
        .collect();
    let tfut = time_to_first_user_token(
        started,
        streaming,
        user_facing.iter().map(|&e| outcomes[e].as_ref().ok()),
    );
    let mut record = SessionRecord {
        session_id: session.id.clone(),
        file_path: session.graph.file.clone(),
        start_time: clock.epoch(started),
        end_time: clock.epoch(started),
        num_events: outcomes.len() as u64,
        num_events_completed: 0,
        num_events_cancelled: 0,
        input_tokens: 0,
        output_tokens: 0,
        cached_tokens: None,
        cacheable_input_tokens: None,
        error: None,
        user_facing_event_ids: user_facing.iter().map(|&e| graph.event_name(e)).collect(),
        structured_output_events: graph.events.iter().filter(|e| e.structured_output).count()
            as u64,
        tfut_sec: tfut.ok(),
        tfut_none_reason: tfut.err(),
        recorded_substitution_event_ids: Vec::new(),
    };
    let mut end = started;
    let mut first_error = None;
    let mut lost_to = None;
    for outcome in outcomes {
        match outcome {
            Ok(request) => {
                end = end.max(request.end);
                record.input_tokens += request.prompt_tokens;
                match &request.outcome {
                    Outcome::Success(response) => {
                        record.num_events_completed += 1;
                        record.output_tokens += response.output_tokens;
                        if let Some(usage) = response.usage
                            && let (Some(cached), Some(prompt)) =
                                (usage.cached_tokens, usage.prompt_tokens)
                        {
                            *record.cached_tokens.get_or_insert(0) += cached;
                            *record.cacheable_input_tokens.get_or_insert(0) += prompt;
                        }
                    }
                    Outcome::Failure(error) => first_failure(
                        &mut first_error,
                        request.end,
                        SessionError {
                            error_type: error.kind.inference_perf_type(),
                            error_msg: error.message.clone(),
                        },
                    ),
                    Outcome::Cancelled => {
                        record.num_events_cancelled += 1;
                        lost_to.get_or_insert(EventLost::Stage);
                    }
                }
            }
            Err(why @ (EventLost::WaitTimeout(at) | EventLost::FallbackMalformed(at, _))) => {
                record.num_events_cancelled += 1;
                // A failure of the session, ordered in time with its requests' failures.
                first_failure(&mut first_error, *at, why.session_error());
            }
            Err(why) => {
                record.num_events_cancelled += 1;
                lost_to.get_or_insert(why.clone());
            }
        }
    }
    record.end_time = clock.epoch(end);
    record.error = first_error
        .map(|(_, error)| error)
        .or_else(|| lost_to.as_ref().map(EventLost::session_error));
    record
}

/// Keeps the earliest failure: inference-perf records the first that fails the session.
fn first_failure(first: &mut Option<(Instant, SessionError)>, at: Instant, error: SessionError) {
    if first.as_ref().is_none_or(|(earliest, _)| at < *earliest) {
        *first = Some((at, error));
    }
}
