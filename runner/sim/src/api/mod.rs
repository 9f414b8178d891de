//! The OpenAI-compatible endpoints. A completion or chat request goes through one flow:
//! read → parse (400) → model (404) → fault → admission (queue) → response (whole or streamed).

mod chat;
mod completions;
mod error;
mod respond;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};

pub(crate) use error::ApiError;

use super::app::{App, shutting_down};
use super::body::Body;
use super::faults::{FAULT_HEADER, Fault};
use super::generate::{Generation, Token};
use super::metrics::FinishReason;
use super::stats::RecordedRequest;
use respond::Job;

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Completion,
    Chat,
}

/// The request was dropped without an answer (hang fault, or the client left mid-body); hyper
/// closes the connection.
#[derive(Debug, thiserror::Error)]
#[error("request abandoned without a response")]
pub(crate) struct Abandoned;

/// What the simulator uses of a request, common to both endpoints.
pub(crate) struct Params<'a> {
    model: Option<Cow<'a, str>>,
    prompt_tokens: usize,
    max_tokens: Option<u32>,
    stream: bool,
    include_usage: bool,
    ignore_eos: bool,
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

impl Kind {
    pub fn path(self) -> &'static str {
        match self {
            Kind::Completion => "/v1/completions",
            Kind::Chat => "/v1/chat/completions",
        }
    }

    fn parse(self, body: &[u8]) -> Result<Params<'_>, serde_json::Error> {
        match self {
            Kind::Completion => completions::parse(body),
            Kind::Chat => chat::parse(body),
        }
    }

    fn id_prefix(self) -> &'static str {
        match self {
            Kind::Completion => "cmpl",
            Kind::Chat => "chatcmpl",
        }
    }

    fn chunk_object(self) -> &'static str {
        match self {
            Kind::Completion => completions::OBJECT,
            Kind::Chat => chat::CHUNK_OBJECT,
        }
    }

    fn write_response(
        self,
        out: &mut Vec<u8>,
        head: &Head,
        text: &str,
        finish: FinishReason,
        usage: Usage,
    ) {
        match self {
            Kind::Completion => completions::write_response(out, head, text, finish, usage),
            Kind::Chat => chat::write_response(out, head, text, finish, usage),
        }
    }

    fn write_chunk(
        self,
        out: &mut Vec<u8>,
        head: &Head,
        token: Token,
        finish: Option<FinishReason>,
    ) {
        match self {
            Kind::Completion => completions::write_chunk(out, head, token, finish),
            Kind::Chat => chat::write_chunk(out, head, token, finish),
        }
    }

    /// The last chunk of a stream with `include_usage`: usage and no choices.
    fn write_usage_chunk(self, out: &mut Vec<u8>, head: &Head, usage: Usage) {
        super::sse::event(
            out,
            &head.envelope(self.chunk_object(), [(); 0], Some(usage)),
        );
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
    completion_tokens: usize,
}

/// `cmpl-…` / `chatcmpl-…`: unique per server run, derived from the seed and arrival order.
#[derive(Debug, Clone, Copy)]
struct RequestId {
    prefix: &'static str,
    value: u64,
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:016x}", self.prefix, self.value)
    }
}

impl Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The fields every response object and chunk of one request repeats.
struct Head<'a> {
    id: RequestId,
    created: u64,
    model: &'a str,
}

#[derive(Serialize)]
struct Envelope<'a, C> {
    id: RequestId,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: C,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

impl Head<'_> {
    fn envelope<C>(
        &self,
        object: &'static str,
        choices: C,
        usage: Option<Usage>,
    ) -> Envelope<'_, C> {
        Envelope {
            id: self.id,
            object,
            created: self.created,
            model: self.model,
            choices,
            usage,
        }
    }
}

/// Serves one POST to a completion endpoint.
pub(crate) async fn serve(
    app: Arc<App>,
    kind: Kind,
    req: Request<Incoming>,
) -> Result<Response<Body>, Abandoned> {
    let arrived = Instant::now();
    let in_flight = app.stats.arrive();
    let seq = app.next_seq();
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            return Ok(reject(&app, ApiError::TooLarge(MAX_BODY_BYTES)));
        }
        Err(_) => return Err(Abandoned),
    };
    let params = kind.parse(&body);
    if app.stats.recording() {
        let model = params
            .as_ref()
            .ok()
            .map(|p| p.model.as_deref().unwrap_or(app.models.base()).to_string());
        let offset = arrived.saturating_duration_since(app.started);
        app.stats.record(RecordedRequest {
            seq,
            arrived,
            offset,
            path: kind.path(),
            model,
            body: body.clone(),
        });
    }
    let params = params.map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")));
    let job =
        match params.and_then(|params| prepare(&app, kind, seq, arrived, params, &parts.headers)) {
            Ok(job) => job,
            Err(e) => return Ok(reject(&app, e)),
        };
    match job.fault {
        Some(fault @ (Fault::Error500 | Fault::Error429 | Fault::Error503)) => {
            return Ok(ApiError::Injected(fault).response());
        }
        Some(Fault::Hang) => {
            hang(&app).await;
            return Err(Abandoned);
        }
        _ => {}
    }
    let admission = match app.capacity.admit() {
        Ok(admission) => admission,
        Err(full) => return Ok(reject(&app, full.into())),
    };
    Ok(if job.stream {
        respond::stream(job, admission, in_flight)
    } else {
        respond::whole(job, admission).await
    })
}

fn reject(app: &App, error: ApiError) -> Response<Body> {
    app.stats.rejected();
    error.response()
}

/// Checks a parsed request and draws everything random about it.
fn prepare(
    app: &Arc<App>,
    kind: Kind,
    seq: u64,
    arrived: Instant,
    p: Params,
    headers: &HeaderMap,
) -> Result<Job, ApiError> {
    let model = app.models.find(p.model.as_deref()).ok_or_else(|| {
        ApiError::ModelNotFound(p.model.as_deref().unwrap_or_default().to_string())
    })?;
    let max_tokens = p.max_tokens.unwrap_or(app.config.default_max_tokens);
    if max_tokens == 0 {
        return Err(ApiError::BadRequest("max_tokens must be at least 1".into()));
    }
    let max_len = app.config.max_model_len as usize;
    if p.prompt_tokens + max_tokens as usize > max_len {
        return Err(ApiError::BadRequest(format!(
            "This model's maximum context length is {max_len} tokens. However, you requested {} tokens ({} in the prompt, {max_tokens} in the completion). Please reduce the length of the prompt or completion.",
            p.prompt_tokens + max_tokens as usize,
            p.prompt_tokens
        )));
    }
    let forced = headers
        .get(FAULT_HEADER)
        .map(|v| Fault::from_header(v.as_bytes()))
        .transpose()?;
    app.stats.valid(model);
    let mut rngs = app.rngs(seq);
    let drawn = app.faults.pick(&mut rngs.fault);
    let fault = forced.unwrap_or(drawn);
    if let Some(fault) = fault {
        app.stats.fault(fault);
    }
    let lora_offset = app.models.adapter(model).map_or(0.0, |(_, offset)| offset);
    Ok(Job {
        app: app.clone(),
        kind,
        model,
        id: RequestId {
            prefix: kind.id_prefix(),
            value: rngs.fault.next_u64(),
        },
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        prompt_tokens: p.prompt_tokens,
        stream: p.stream,
        include_usage: p.include_usage,
        fault,
        arrived,
        generation: Generation::new(rngs.content, max_tokens as usize, p.ignore_eos),
        clock: app
            .latency
            .clock(rngs.timing, arrived, p.prompt_tokens, lora_offset),
    })
}

/// Holds a request unanswered until the hang timeout or the server's shutdown.
async fn hang(app: &App) {
    let mut shutdown = app.shutdown.clone();
    let limit = Duration::from_millis(app.config.hang_timeout_ms);
    let _ = tokio::time::timeout(limit, shutting_down(&mut shutdown)).await;
}
