//! One HTTP exchange with the model server, timed and classified.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use ibench_core::metrics::{
    ErrorKind, Outcome, RequestError, Response, Retried, labels_message, shorten_message,
};
use ibench_core::tokenize::Tokenizer;

use ibench_core::config::{ApiType, HttpVersion};

use super::body::BodySource;
use super::connection::HttpError;
use super::connector::{ConnectError, Connector};
use super::h2::{Http2, refused_header};
use super::pool::{Pool, Prewarmed};
use super::wire::{self, Extras};
use crate::answer::AnswerWire;
use crate::anthropic::ANTHROPIC_VERSION;
use crate::api::{Anthropic, Api, OpenAi};
use crate::chunk_reader::ChunkReader;
use crate::sse::SseDecoder;
use tokio_rustls::rustls::ClientConfig;

/// Longest error body read from a failed response.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How long the end of a stream's body may lag behind its `[DONE]` event before the
/// connection is given up instead of reused.
const DONE_GRACE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// Full URL of the API endpoint (`…/v1/completions`, `…/v1/chat/completions` or
    /// `…/v1/messages`).
    pub url: reqwest::Url,
    /// Which API's headers the requests carry and its answers are read as.
    pub api: ApiType,
    pub headers: Vec<(String, String)>,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub stream: bool,
    pub max_connections: usize,
    /// `api.max_response_bytes`.
    pub max_response_bytes: u64,
    pub retry: RetryPolicy,
    /// TLS of `https://` targets (none for `http://`: the roots are not even read).
    pub tls: Option<Arc<ClientConfig>>,
    /// `server.http_version`.
    pub http_version: HttpVersion,
}

/// `load.request_retries`: how often, and after what wait, a request that failed before any
/// byte of a response is sent again.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryPolicy {
    pub retries: u32,
    /// The wait before the first retry in seconds, doubled for each next one.
    pub backoff_sec: f64,
}

/// The longest wait between two attempts: inference-perf has no cap, but doubling a large
/// backoff overflows any clock (and a request waiting a day has long been cancelled).
const MAX_RETRY_WAIT: Duration = Duration::from_secs(24 * 3600);

impl RetryPolicy {
    /// inference-perf's wait after failed attempt `attempt` (0-based): the backoff doubled per
    /// attempt, times a random factor in [0.5, 1.5) so that requests failed together do not
    /// come back together.
    fn wait(&self, attempt: u32) -> Duration {
        let seconds =
            self.backoff_sec * 2f64.powi(attempt.min(64) as i32) * (0.5 + rand::random::<f64>());
        Duration::try_from_secs_f64(seconds)
            .unwrap_or(MAX_RETRY_WAIT)
            .min(MAX_RETRY_WAIT)
    }
}

/// A worker's connections to the server and the parts of every request that never change.
pub struct Target {
    transport: Transport,
    api: ApiType,
    timeout: Duration,
    stream: bool,
    max_response_bytes: u64,
    retry: RetryPolicy,
    tokenizer: Tokenizer,
}

enum Transport {
    Http1 {
        pool: Pool,
        /// Request line and headers of every request.
        head: Vec<u8>,
    },
    Http2(Http2),
}

/// What to keep of a response besides its statistics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    /// The raw body or SSE text (per-request report).
    pub raw: bool,
    /// The answer's text (multi-turn conversations).
    pub content: bool,
}

/// What came back, and what [`Keep`] asked for.
pub struct Exchange {
    pub outcome: Outcome,
    pub raw: Option<String>,
    /// The answer's text, when successful and asked for.
    pub content: Option<String>,
    /// Set when the request was sent more than once; the rest is the last attempt's.
    pub retried: Option<Retried>,
    /// When the answer was complete, if before the exchange returned: a stream's `[DONE]`
    /// event, whatever the connection does after it (a proxy may hold the body's end back).
    pub ended: Option<Instant>,
    /// The value of the response header the request's [`Extras`] wanted, whatever the status.
    pub header: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("api.headers: invalid header {name:?}: {reason}")]
    Header { name: String, reason: String },
    #[error("server.base_url: {0}")]
    Url(String),
}

/// What every request to the target starts from.
struct Parts {
    connector: Connector,
    /// Path and query of the endpoint.
    path: String,
    headers: HeaderMap,
}

impl TargetSettings {
    /// The connector, path and headers every request starts with; an address or a header that
    /// cannot be used is an error before any worker starts.
    fn parts(&self) -> Result<Parts, TargetError> {
        let url = &self.url;
        let tls = match self.http_version {
            HttpVersion::Http1 => self.tls.clone(),
            // Offering only h2: a server that cannot speak it says so in the handshake.
            HttpVersion::Http2 => self.tls.as_ref().map(|tls| {
                let mut tls = ClientConfig::clone(tls);
                tls.alpn_protocols = vec![b"h2".to_vec()];
                Arc::new(tls)
            }),
        };
        let connector = Connector::new(url, tls.as_ref()).map_err(TargetError::Url)?;
        let path = url[url::Position::BeforePath..url::Position::AfterQuery].to_owned();
        let authority = &url[url::Position::BeforeHost..url::Position::AfterPort];
        let header = |name: &str, value: &str| -> Result<(HeaderName, HeaderValue), TargetError> {
            let invalid = |reason: String| TargetError::Header {
                name: name.to_owned(),
                reason,
            };
            if name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
            {
                return Err(invalid(
                    "set by the runner from each request's body; remove it from api.headers".into(),
                ));
            }
            // A compressed answer would be read as garbled JSON: every request a failure.
            if name.eq_ignore_ascii_case("accept-encoding")
                && !value.eq_ignore_ascii_case("identity")
            {
                return Err(invalid(
                    "compressed responses are not decoded (and token timing needs each chunk as it arrives); remove it from api.headers".into(),
                ));
            }
            if self.http_version == HttpVersion::Http2
                && let Some(reason) = refused_header(name, value)
            {
                return Err(invalid(reason.into()));
            }
            Ok((
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?,
                HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?,
            ))
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, header("host", authority)?.1);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // Anthropic's API takes its key in a header of its own, and its version in every
        // request.
        match (self.api, &self.api_key) {
            (ApiType::AnthropicMessages, key) => {
                let (name, value) = header("anthropic-version", ANTHROPIC_VERSION)?;
                headers.insert(name, value);
                if let Some(key) = key {
                    let (name, value) = header("x-api-key", key)?;
                    headers.insert(name, value);
                }
            }
            (_, Some(key)) => {
                headers.insert(
                    header::AUTHORIZATION,
                    header("authorization", &format!("Bearer {key}"))?.1,
                );
            }
            (_, None) => {}
        }
        // api.headers last: they override the defaults, case-insensitively (inference-perf).
        for (name, value) in &self.headers {
            let (name, value) = header(name, value)?;
            headers.insert(name, value);
        }
        Ok(Parts {
            connector,
            path,
            headers,
        })
    }

    /// Checks the address and headers as [`Target::new`] uses them.
    pub fn check(&self) -> Result<(), TargetError> {
        self.parts().map(drop)
    }
}

impl Target {
    /// `tokenizer` counts output tokens, chunk by chunk when streaming.
    pub fn new(settings: &TargetSettings, tokenizer: Tokenizer) -> Result<Self, TargetError> {
        let Parts {
            connector,
            path,
            headers,
        } = settings.parts()?;
        let transport = match settings.http_version {
            HttpVersion::Http1 => Transport::Http1 {
                head: wire::request_head(&path, &headers),
                pool: Pool::new(connector, settings.max_connections),
            },
            HttpVersion::Http2 => Transport::Http2(
                Http2::new(
                    connector,
                    settings.max_connections,
                    settings.url.scheme(),
                    &path,
                    headers,
                )
                .map_err(TargetError::Url)?,
            ),
        };
        Ok(Target {
            transport,
            api: settings.api,
            timeout: settings.timeout,
            stream: settings.stream,
            max_response_bytes: settings.max_response_bytes,
            retry: settings.retry,
            tokenizer,
        })
    }

    /// Opens `count` connections ahead of the first request (at most
    /// `load.worker_max_tcp_connections`). Otherwise, at thousands of requests per second, every
    /// early send opens its own connection while the previous ones are still connecting: the
    /// start stalls for tens of milliseconds and the server's accept backlog overflows (a
    /// dropped SYN is retried after a whole second). Later, a stall of the machine followed by
    /// a burst of late sends would open connections mid-run, each costing its request a
    /// handshake and the worker memory that a run without a stall does not use.
    /// Over HTTP/2, requests share connections: as many are opened as `count` streams need.
    pub async fn prewarm(&self, count: usize) -> Prewarmed {
        match &self.transport {
            Transport::Http1 { pool, .. } => pool.prewarm(count).await,
            Transport::Http2(http2) => http2.prewarm(count).await,
        }
    }

    /// Sends `body` with `extras`' headers and reads the answer, again (per the retry policy)
    /// while an attempt fails before any byte of a response; each attempt within the request
    /// timeout.
    pub async fn send(&self, body: Vec<u8>, keep: Keep, extras: Extras<'_>) -> Exchange {
        let mut retried: Option<Retried> = None;
        loop {
            let (exchange, retryable) = match tokio::time::timeout(
                self.timeout,
                self.exchange(&body, keep, extras),
            )
            .await
            {
                Ok(attempt) => attempt,
                Err(_) => (
                    failure(ErrorKind::Timeout, "Request timed out".into(), None),
                    false,
                ),
            };
            let attempts = retried.map_or(0, |r| r.attempts);
            if !retryable || attempts >= self.retry.retries {
                return Exchange {
                    retried,
                    ..exchange
                };
            }
            tokio::time::sleep(self.retry.wait(attempts)).await;
            retried = Some(Retried {
                attempts: attempts + 1,
                last_attempt: Instant::now(),
            });
        }
    }

    /// One attempt, and whether its failure came before any byte of a response (refused,
    /// reset, or a reused connection the server had closed), which a retry may cure.
    async fn exchange(&self, body: &[u8], keep: Keep, extras: Extras<'_>) -> (Exchange, bool) {
        let (pool, head) = match &self.transport {
            Transport::Http1 { pool, head } => (pool, head),
            Transport::Http2(http2) => {
                return match http2.send(body, extras).await {
                    Ok((status, header, mut stream)) => {
                        let exchange = self.read(&mut stream, status, keep).await;
                        (Exchange { header, ..exchange }, false)
                    }
                    Err(e) => (
                        failure(ErrorKind::Connection, e.to_string(), None),
                        e.retryable(),
                    ),
                };
            }
        };
        let mut connection = match pool.checkout().await {
            Ok(connection) => connection,
            Err(e) => return (connect_failure(&e), matches!(e, ConnectError::Tcp { .. })),
        };
        let (status, header) = match connection.send(head, body, extras).await {
            Ok(answered) => answered,
            Err(e) => {
                let before_response =
                    !matches!(e, HttpError::Wire(_)) && connection.received_nothing();
                return (
                    failure(ErrorKind::Connection, e.to_string(), None),
                    before_response,
                );
            }
        };
        let exchange = self.read(&mut connection, status, keep).await;
        pool.checkin(connection);
        (Exchange { header, ..exchange }, false)
    }

    /// The response of `status` whose body comes from `body`.
    async fn read<B: BodySource>(&self, body: &mut B, status: u16, keep: Keep) -> Exchange {
        let mut reader = Reader {
            body,
            tokenizer: &self.tokenizer,
            left: self.max_response_bytes,
        };
        if !(200..300).contains(&status) {
            let text = reader.read_error_body().await;
            failure(
                ErrorKind::Http(status),
                labels_message(&text),
                keep.raw.then_some(text),
            )
        } else {
            match (self.api, self.stream) {
                (ApiType::AnthropicMessages, true) => reader.read_stream::<Anthropic>(keep).await,
                (ApiType::AnthropicMessages, false) => reader.read_whole::<Anthropic>(keep).await,
                (_, true) => reader.read_stream::<OpenAi>(keep).await,
                (_, false) => reader.read_whole::<OpenAi>(keep).await,
            }
        }
    }
}

/// Reads a response body from the connection or stream it arrives on.
struct Reader<'a, B> {
    body: &'a mut B,
    tokenizer: &'a Tokenizer,
    /// Bytes of body still allowed by `api.max_response_bytes`.
    left: u64,
}

impl<B: BodySource> Reader<'_, B> {
    /// The next piece of a successful response's body, within `api.max_response_bytes`.
    async fn data(&mut self) -> Result<Option<&[u8]>, Exchange> {
        match self.body.data().await {
            Ok(Some(data)) => match self.left.checked_sub(data.len() as u64) {
                Some(left) => {
                    self.left = left;
                    Ok(Some(data))
                }
                None => Err(failure(
                    ErrorKind::ResponseTooLarge,
                    "response body longer than api.max_response_bytes; the rest was not read"
                        .into(),
                    None,
                )),
            },
            Ok(None) => Ok(None),
            Err(e) => Err(failure(ErrorKind::IncompleteStream, e.to_string(), None)),
        }
    }

    async fn read_error_body(&mut self) -> String {
        let mut text = Vec::new();
        while let Ok(Some(data)) = self.body.data().await {
            text.extend_from_slice(data);
            if text.len() >= MAX_ERROR_BODY {
                break;
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    async fn read_whole<A: Api>(&mut self, keep: Keep) -> Exchange {
        let mut bytes = Vec::new();
        loop {
            match self.data().await {
                Ok(Some(data)) => bytes.extend_from_slice(data),
                Ok(None) => break,
                Err(failed) => return failed,
            }
        }
        let raw = keep
            .raw
            .then(|| String::from_utf8_lossy(&bytes).into_owned());
        match serde_json::from_slice::<A::Wire<'_>>(&bytes).map(AnswerWire::into_parts) {
            Ok(parts) if parts.error => failure(
                ErrorKind::StreamError,
                labels_message(&String::from_utf8_lossy(&bytes)),
                raw,
            ),
            Ok(parts) => {
                let text = parts.content.as_deref().unwrap_or_default();
                let reasoning = parts.reasoning.as_deref().unwrap_or_default();
                Exchange {
                    outcome: Outcome::Success(Response {
                        output_tokens: (self.tokenizer.count(text)
                            + self.tokenizer.count(reasoning))
                            as u64,
                        usage: parts.usage,
                        ..Default::default()
                    }),
                    raw,
                    content: keep.content.then(|| text.to_string()),
                    retried: None,
                    ended: None,
                    header: None,
                }
            }
            Err(e) => failure(
                ErrorKind::InvalidResponse,
                format!("response is not valid JSON: {e}"),
                raw,
            ),
        }
    }

    async fn read_stream<A: Api>(&mut self, keep: Keep) -> Exchange {
        let mut decoder = SseDecoder::default();
        let mut chunks = ChunkReader::<A>::default();
        let mut tokens = self.tokenizer.output_counter();
        // Counted apart: a word of the thinking and one of the answer never join into one.
        let mut reasoning_tokens = self.tokenizer.output_counter();
        let mut result = Response::default();
        let mut raw = keep.raw.then(String::new);
        let mut content = keep.content.then(String::new);
        loop {
            let bytes = match self.data().await {
                Ok(Some(bytes)) => bytes,
                // A body that ends cleanly without [DONE] is complete, as in inference-perf;
                // a connection lost mid-body is an error above.
                Ok(None) => {
                    let total = tokens.total() + reasoning_tokens.total();
                    return streamed(result, total, raw, content, None);
                }
                Err(failed) => return Exchange { raw, ..failed },
            };
            if let Some(raw) = &mut raw {
                raw.push_str(&String::from_utf8_lossy(bytes));
            }
            decoder.push(bytes);
            while let Some(data) = decoder.next_data() {
                let arrived = Instant::now();
                if data == "[DONE]" {
                    // Servers end the body right after [DONE]; only a body seen to end frees
                    // its connection for reuse (`data` returning `Ok(None)`).
                    let _ = tokio::time::timeout(DONE_GRACE, self.body.data()).await;
                    let total = tokens.total() + reasoning_tokens.total();
                    return streamed(result, total, raw, content, Some(arrived));
                }
                // Unreadable events are skipped, as inference-perf does: one bad keep-alive or
                // comment-like line does not make the answer around it a failure.
                let Some(parts) = chunks.read(&data) else {
                    continue;
                };
                if parts.error {
                    return failure(ErrorKind::StreamError, labels_message(&data), raw);
                }
                // Thinking is output as much as the answer: it comes first, and its tokens
                // take their share of the time between tokens.
                if let Some(text) = &parts.reasoning {
                    let count = reasoning_tokens.feed(text);
                    if count > 0 {
                        result.chunks.push((arrived, count as u32));
                    }
                }
                if let Some(text) = &parts.content {
                    let count = tokens.feed(text);
                    if count > 0 {
                        result.chunks.push((arrived, count as u32));
                        result.first_answer.get_or_insert(arrived);
                    }
                    if let Some(content) = &mut content {
                        content.push_str(text);
                    }
                }
                if let Some(usage) = parts.usage {
                    result.usage = Some(usage.over(result.usage));
                }
            }
        }
    }
}

/// A complete stream of `output_tokens`, `ended` at its `[DONE]`.
fn streamed(
    mut result: Response,
    output_tokens: usize,
    raw: Option<String>,
    content: Option<String>,
    ended: Option<Instant>,
) -> Exchange {
    result.output_tokens = output_tokens as u64;
    Exchange {
        outcome: Outcome::Success(result),
        raw,
        content,
        retried: None,
        ended,
        header: None,
    }
}

fn failure(kind: ErrorKind, message: String, raw: Option<String>) -> Exchange {
    Exchange {
        outcome: Outcome::Failure(RequestError {
            kind,
            message: shorten_message(&message),
        }),
        raw,
        content: None,
        retried: None,
        ended: None,
        header: None,
    }
}

fn connect_failure(e: &ConnectError) -> Exchange {
    failure(ErrorKind::Connection, e.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(headers: &[(&str, &str)]) -> Result<Target, TargetError> {
        target_of(ApiType::Completion, None, headers)
    }

    fn target_of(
        api: ApiType,
        api_key: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Target, TargetError> {
        let settings = TargetSettings {
            url: "http://127.0.0.1:8000/v1/completions".parse().unwrap(),
            api,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            api_key: api_key.map(String::from),
            timeout: Duration::from_secs(1),
            stream: false,
            max_connections: 1,
            max_response_bytes: 1024,
            retry: RetryPolicy::default(),
            tls: None,
            http_version: HttpVersion::Http1,
        };
        Target::new(&settings, Tokenizer::BuiltIn)
    }

    #[test]
    fn headers_the_runner_cannot_honour_are_refused_by_name() {
        for (name, value, expected) in [
            ("Content-Length", "10", "set by the runner"),
            ("transfer-encoding", "chunked", "set by the runner"),
            (
                "Accept-Encoding",
                "gzip, br",
                "compressed responses are not decoded",
            ),
        ] {
            let error = target(&[(name, value)]).err().expect("refused").to_string();
            assert!(
                error.starts_with(&format!("api.headers: invalid header {name:?}"))
                    && error.contains(expected),
                "{error}"
            );
        }
        assert!(target(&[("accept-encoding", "identity"), ("x-team", "a")]).is_ok());
    }

    /// The request head of every request to the target.
    fn head(target: Target) -> String {
        let Transport::Http1 { head, .. } = target.transport else {
            panic!("HTTP/1.1 by default");
        };
        String::from_utf8(head).unwrap()
    }

    #[test]
    fn the_api_key_goes_where_the_api_takes_it() {
        let openai = head(target_of(ApiType::Chat, Some("k1"), &[]).unwrap());
        assert!(
            openai.contains("\r\nauthorization: Bearer k1\r\n"),
            "{openai}"
        );
        assert!(!openai.contains("anthropic-version"), "{openai}");
        let anthropic = head(target_of(ApiType::AnthropicMessages, Some("k2"), &[]).unwrap());
        assert!(anthropic.contains("\r\nx-api-key: k2\r\n"), "{anthropic}");
        assert!(
            anthropic.contains("\r\nanthropic-version: 2023-06-01\r\n"),
            "{anthropic}"
        );
        assert!(!anthropic.contains("authorization"), "{anthropic}");
        // Without a key the version is still sent; api.headers override it.
        let pinned = head(
            target_of(
                ApiType::AnthropicMessages,
                None,
                &[("Anthropic-Version", "2024-01-01")],
            )
            .unwrap(),
        );
        assert!(
            pinned.contains("anthropic-version: 2024-01-01\r\n"),
            "{pinned}"
        );
        assert_eq!(pinned.matches("anthropic-version").count(), 1, "{pinned}");
        assert!(!pinned.contains("x-api-key"), "{pinned}");
    }

    #[test]
    fn retry_waits_double_with_jitter_and_never_overflow() {
        let policy = RetryPolicy {
            retries: 100,
            backoff_sec: 0.1,
        };
        for attempt in 0..4 {
            let wait = policy.wait(attempt).as_secs_f64();
            let base = 0.1 * 2f64.powi(attempt as i32);
            assert!(
                (0.5 * base..1.5 * base).contains(&wait),
                "attempt {attempt}: {wait}"
            );
        }
        let huge = RetryPolicy {
            retries: 100,
            backoff_sec: 1e300,
        };
        assert_eq!(huge.wait(99), MAX_RETRY_WAIT);
        assert_eq!(RetryPolicy::default().wait(5), Duration::ZERO);
    }

    #[test]
    fn api_headers_may_not_frame_the_body() {
        for name in ["Content-Length", "transfer-encoding"] {
            match target(&[(name, "5")]) {
                Err(TargetError::Header { name: got, reason }) => {
                    assert_eq!(got, name);
                    assert!(reason.contains("remove it from api.headers"), "{reason}");
                }
                other => panic!("{name} accepted: {:?}", other.err()),
            }
        }
        let head = head(target(&[("X-Tenant", "a"), ("Host", "example")]).unwrap());
        assert!(
            head.starts_with("POST /v1/completions HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nhost: example\r\n"), "{head}");
        assert!(head.contains("\r\nx-tenant: a\r\n"), "{head}");
        assert_eq!(head.matches("host:").count(), 1, "{head}");
    }
}
