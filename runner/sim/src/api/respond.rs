//! Producing a response on the latency model's schedule: whole (after the last token's
//! deadline) or streamed (one event per token at its deadline, batched when several are due).

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::kind::Kind;
use super::shapes::{Head, RequestId, Usage};
use crate::app::App;
use crate::body::{Body, EVENT_STREAM, JSON, StreamCut, cut, full};
use crate::capacity::{Admission, Slot};
use crate::faults::Fault;
use crate::generate::Generation;
use crate::kv::KvHold;
use crate::latency::TokenClock;
use crate::metrics::Completed;
use crate::sse;
use crate::stats::InFlight;

/// A valid, admitted-or-queued request with everything random about it already drawn.
pub(super) struct Job {
    pub app: Arc<App>,
    pub kind: Kind,
    pub model: usize,
    pub id: RequestId,
    pub created: u64,
    pub prompt_tokens: usize,
    pub stream: bool,
    pub include_usage: bool,
    /// Only `Cut` and `Malformed` reach a response; the others end the request earlier.
    pub fault: Option<Fault>,
    pub arrived: Instant,
    pub generation: Generation,
    pub max_tokens: usize,
    pub clock: TokenClock,
    /// When it got its slot, and the KV cache it holds from then on.
    pub running: Option<(Instant, KvHold)>,
    /// The function its answer calls (a forced `tool_choice`).
    pub tool_call: Option<String>,
}

impl Job {
    fn head(&self) -> Head<'_> {
        Head {
            id: self.id,
            created: self.created,
            model: self.app.models.name(self.model),
            reasoning_tokens: self.app.config.reasoning_tokens,
            prompt_tokens: self.prompt_tokens,
            tool_call: self.tool_call.as_deref(),
            tool_arguments: if self.fault == Some(Fault::BadToolArgs) {
                // A value left open with a parser's closing markers in it.
                r#"{"query": "</parameter></function>"#
            } else {
                "{}"
            },
        }
    }

    fn usage(&self) -> Usage {
        let completion_tokens = self.generation.total();
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens,
            total_tokens: self.prompt_tokens + completion_tokens,
        }
    }

    /// The request got its slot: its adapter becomes resident, its first token is due later.
    fn start(&mut self, at: Instant) {
        let tokens = self.prompt_tokens + self.generation.total();
        self.running = Some((at, self.app.kv.hold(tokens)));
        let loaded = self
            .app
            .models
            .adapter(self.model)
            .is_some_and(|(adapter, _)| self.app.loras.touch(adapter));
        self.clock.start(
            at,
            if loaded {
                self.app.latency.lora_load()
            } else {
                0.0
            },
        );
    }

    /// Counts a request served in full; faulted ones are not.
    fn complete(&self, first_token: Instant) {
        if self.fault.is_none() {
            let now = Instant::now();
            let started = self.running.as_ref().map_or(self.arrived, |(at, _)| *at);
            self.app.metrics.record(&Completed {
                prompt_tokens: self.prompt_tokens,
                completion_tokens: self.generation.total(),
                max_tokens: self.max_tokens,
                finish: self.generation.finish(),
                queued: started.saturating_duration_since(self.arrived),
                ttft: first_token.saturating_duration_since(self.arrived),
                prefill: first_token.saturating_duration_since(started),
                decode: now.saturating_duration_since(first_token),
                e2e: now.saturating_duration_since(self.arrived),
            });
        }
    }
}

/// Waits only for deadlines in the future: with zero latency no timer is touched.
async fn sleep_until(deadline: Instant) {
    if deadline > Instant::now() {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

pub(super) async fn whole(mut job: Job, admission: Admission) -> Response<Body> {
    let slot = admission.slot().await;
    job.start(Instant::now());
    let first_token = job.clock.deadline();
    let mut text = String::with_capacity(job.generation.total() * 8);
    while let Some(token) = job.generation.next_token() {
        if token.index > 0 {
            job.clock.advance();
        }
        let _ = write!(text, "{token}");
    }
    sleep_until(job.clock.deadline()).await;
    drop(slot);
    let mut out = Vec::with_capacity(text.len() + 320);
    job.kind.write_response(
        &mut out,
        &job.head(),
        &text,
        job.generation.finish(),
        job.usage(),
    );
    match job.fault {
        Some(Fault::Malformed) => {
            out.truncate(out.len() / 2);
            full(StatusCode::OK, JSON, out)
        }
        Some(Fault::Cut) => cut_short(out),
        _ => {
            job.complete(first_token);
            full(StatusCode::OK, JSON, out)
        }
    }
}

/// Announces the full length, sends half, then fails the body so the connection is closed.
fn cut_short(out: Vec<u8>) -> Response<Body> {
    let len = out.len();
    let half = Bytes::from(out).slice(..len / 2);
    let frames = futures::stream::iter([Ok(Frame::data(half))])
        .chain(futures::stream::once(async { Err(cut().await) }));
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    response.headers_mut().insert(CONTENT_TYPE, JSON);
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// Answers the head at once (like vLLM) and produces the events from the body as it is polled.
pub(super) fn stream(job: Job, admission: Admission, in_flight: InFlight) -> Response<Body> {
    let middle = job.generation.total() / 2;
    let streamer = Streamer {
        cut_at: (job.fault == Some(Fault::Cut)).then_some(middle),
        malformed_at: (job.fault == Some(Fault::Malformed)).then_some(middle),
        job,
        admission: Some(admission),
        slot: None,
        in_flight: Some(in_flight),
        first_token: None,
        cut_pending: false,
        finished: false,
    };
    let frames = futures::stream::unfold(streamer, |mut s| async move {
        let frame = s.next_frame().await?;
        Some((frame.map(Frame::data), s))
    });
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    response.headers_mut().insert(CONTENT_TYPE, EVENT_STREAM);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

struct Streamer {
    job: Job,
    /// Taken on the first poll: the wait for a slot happens after the head is sent.
    admission: Option<Admission>,
    slot: Option<Slot>,
    in_flight: Option<InFlight>,
    first_token: Option<Instant>,
    /// Number of tokens after which the stream is cut.
    cut_at: Option<usize>,
    /// Index of the token whose event is replaced by invalid data.
    malformed_at: Option<usize>,
    cut_pending: bool,
    finished: bool,
}

enum Step {
    /// Nothing more is due before this instant.
    Wait(Instant),
    Done,
    Cut,
}

impl Streamer {
    async fn next_frame(&mut self) -> Option<Result<Bytes, StreamCut>> {
        if self.finished {
            return None;
        }
        if let Some(admission) = self.admission.take() {
            self.slot = Some(admission.slot().await);
            self.job.start(Instant::now());
        }
        loop {
            if self.cut_pending {
                self.finished = true;
                return Some(Err(cut().await));
            }
            let mut out = Vec::with_capacity(512);
            match self.write_due(&mut out, Instant::now()) {
                Step::Wait(deadline) if out.is_empty() => sleep_until(deadline).await,
                Step::Wait(_) => return Some(Ok(out.into())),
                Step::Done => {
                    self.finished = true;
                    return Some(Ok(out.into()));
                }
                Step::Cut => {
                    self.cut_pending = true;
                    if !out.is_empty() {
                        return Some(Ok(out.into()));
                    }
                }
            }
        }
    }

    /// Writes every event due at `now`.
    fn write_due(&mut self, out: &mut Vec<u8>, now: Instant) -> Step {
        loop {
            let deadline = self.job.clock.deadline();
            if deadline > now {
                return Step::Wait(deadline);
            }
            if self.cut_at == Some(self.job.generation.emitted()) {
                return Step::Cut;
            }
            let Some(token) = self.job.generation.next_token() else {
                unreachable!("a stream finishes at its last token")
            };
            if token.index == 0 {
                self.first_token = Some(now);
            }
            let last = self.job.generation.is_done();
            let finish = last.then(|| self.job.generation.finish());
            let head = self.job.head();
            if self.malformed_at == Some(token.index) {
                sse::malformed(out);
            } else {
                self.job.kind.write_chunk(out, &head, token, finish);
            }
            if last {
                let job = &self.job;
                let finish = job.generation.finish();
                (job.kind).write_stream_end(out, &head, finish, job.usage(), job.include_usage);
                self.finish(now);
                return Step::Done;
            }
            self.job.clock.advance();
        }
    }

    /// Releases the slot and accounts the request before its last bytes leave, so that a
    /// client that has read the whole stream always sees it counted.
    fn finish(&mut self, now: Instant) {
        self.slot = None;
        self.job.complete(self.first_token.unwrap_or(now));
        self.in_flight = None;
    }
}
