//! The OpenAI-compatible endpoints and Anthropic's Messages API. A request to any of them goes
//! through one flow:
//! read → parse (400) → model (404) → fault → admission (queue) → response (whole or streamed).

mod audio;
mod chat;
mod completions;
mod error;
mod kind;
mod messages;
mod respond;
mod shapes;
mod video;
mod vision;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Request, Response};
use rand::Rng;

pub(crate) use error::ApiError;
pub(crate) use kind::Kind;

use super::app::{App, shutting_down};
use super::body::Body;
use super::faults::{FAULT_HEADER, Fault};
use super::generate::Generation;
use super::stats::RecordedRequest;
use respond::Job;
use shapes::{Params, RequestId};

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 64 << 20;

/// The request was dropped without an answer (hang fault, or the client left mid-body); hyper
/// closes the connection.
#[derive(Debug, thiserror::Error)]
#[error("request abandoned without a response")]
pub(crate) struct Abandoned;

/// Serves one POST to a completion endpoint.
pub(crate) async fn serve(
    app: Arc<App>,
    kind: Kind,
    req: Request<Incoming>,
) -> Result<Response<Body>, Abandoned> {
    let arrived = Instant::now();
    let in_flight = app.stats.arrive(req.version() == hyper::Version::HTTP_2);
    let seq = app.next_seq();
    let (parts, body) = req.into_parts();
    // An announced length over the limit is refused before its body is read: waiting for
    // 64 MiB only to refuse it holds the connection and the client for nothing.
    let announced = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Ok(reject(&app, ApiError::TooLarge(MAX_BODY_BYTES)));
    }
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
            headers: parts.headers.clone(),
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
    let mut response = if job.stream {
        respond::stream(job, admission, in_flight)
    } else {
        respond::whole(job, admission).await
    };
    if let Some(name) = &app.config.session_token_header {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("validated: a header name");
        let token = HeaderValue::from_str(&format!("sess-{seq}")).expect("a plain token");
        response.headers_mut().insert(name, token);
    }
    Ok(response)
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
    // Drawn before the delay is checked, so that the request's other choices stay the same.
    let drawn = app
        .faults
        .pick(&mut rngs.fault)
        .filter(|_| app.faults_due(seq));
    let fault = forced
        .unwrap_or(drawn)
        .filter(|f| *f != Fault::BadToolArgs || p.tool_call.is_some());
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
        generation: Generation::new(rngs.content, max_tokens as usize, p.ignore_eos, p.json),
        tool_call: p.tool_call.map(|name| name.into_owned()),
        max_tokens: max_tokens as usize,
        running: None,
        clock: app.latency.clock(
            rngs.timing,
            arrived,
            p.prompt_tokens,
            lora_offset + app.latency.cold_start(seq),
        ),
    })
}

/// Holds a request unanswered until the hang timeout or the server's shutdown.
async fn hang(app: &App) {
    let mut shutdown = app.shutdown.clone();
    let limit = Duration::from_millis(app.config.hang_timeout_ms);
    let _ = tokio::time::timeout(limit, shutting_down(&mut shutdown)).await;
}
