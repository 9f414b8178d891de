//! One HTTP exchange with the model server, timed and classified.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::metrics::{ErrorKind, Outcome, RequestError, Response, labels_message};
use crate::tokenize::Tokenizer;

use super::sse::{ResponseWire, SseDecoder};

/// Longest error body read from a failed response.
const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct TargetSettings {
    pub url: reqwest::Url,
    pub headers: Vec<(String, String)>,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub stream: bool,
    pub max_connections: usize,
}

/// A worker's connection pool to the server.
pub struct Target {
    client: reqwest::Client,
    url: reqwest::Url,
    timeout: Duration,
    stream: bool,
    tokenizer: Tokenizer,
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
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("invalid header {name:?}: {reason}")]
    Header { name: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

impl Target {
    /// `tokenizer` counts output tokens, chunk by chunk when streaming.
    pub fn new(settings: &TargetSettings, tokenizer: Tokenizer) -> Result<Self, TargetError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(key) = &settings.api_key {
            let value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|e| {
                TargetError::Header {
                    name: "Authorization".into(),
                    reason: e.to_string(),
                }
            })?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        // api.headers last: they override the defaults, case-insensitively (inference-perf).
        for (name, value) in &settings.headers {
            let invalid = |reason: String| TargetError::Header {
                name: name.clone(),
                reason,
            };
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
            headers.insert(
                name,
                HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?,
            );
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .http1_only()
            .tcp_nodelay(true)
            .no_proxy()
            .pool_max_idle_per_host(settings.max_connections)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        Ok(Target {
            client,
            url: settings.url.clone(),
            timeout: settings.timeout,
            stream: settings.stream,
            tokenizer,
        })
    }

    pub async fn send(&self, body: Vec<u8>, keep: Keep) -> Exchange {
        match tokio::time::timeout(self.timeout, self.exchange(body, keep)).await {
            Ok(exchange) => exchange,
            Err(_) => failure(ErrorKind::Timeout, "Request timed out".into(), None),
        }
    }

    async fn exchange(&self, body: Vec<u8>, keep: Keep) -> Exchange {
        let response = match self.client.post(self.url.clone()).body(body).send().await {
            Ok(response) => response,
            Err(e) => return failure(classify(&e), error_chain(&e), None),
        };
        let status = response.status();
        if !status.is_success() {
            let text = read_bounded(response).await;
            return failure(
                ErrorKind::Http(status.as_u16()),
                labels_message(&text),
                keep.raw.then_some(text),
            );
        }
        if self.stream {
            self.read_stream(response, keep).await
        } else {
            self.read_whole(response, keep).await
        }
    }

    async fn read_whole(&self, response: reqwest::Response, keep: Keep) -> Exchange {
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) => return failure(ErrorKind::IncompleteStream, error_chain(&e), None),
        };
        let raw = keep
            .raw
            .then(|| String::from_utf8_lossy(&bytes).into_owned());
        match serde_json::from_slice::<ResponseWire>(&bytes) {
            Ok(wire) if wire.error.is_some() => failure(
                ErrorKind::StreamError,
                labels_message(&String::from_utf8_lossy(&bytes)),
                raw,
            ),
            Ok(wire) => {
                let text = wire.content().unwrap_or_default();
                Exchange {
                    outcome: Outcome::Success(Response {
                        output_tokens: self.tokenizer.count(text) as u64,
                        usage: wire.usage(),
                        chunks: Vec::new(),
                    }),
                    raw,
                    content: keep.content.then(|| text.to_string()),
                }
            }
            Err(e) => failure(
                ErrorKind::InvalidResponse,
                format!("response is not valid JSON: {e}"),
                raw,
            ),
        }
    }

    async fn read_stream(&self, mut response: reqwest::Response, keep: Keep) -> Exchange {
        let mut decoder = SseDecoder::default();
        let mut tokens = self.tokenizer.output_counter();
        let mut result = Response::default();
        let mut raw = keep.raw.then(String::new);
        let mut content = keep.content.then(String::new);
        loop {
            let bytes = match response.chunk().await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => {
                    return failure(
                        ErrorKind::IncompleteStream,
                        "stream ended before data: [DONE]".into(),
                        raw,
                    );
                }
                Err(e) => return failure(ErrorKind::IncompleteStream, error_chain(&e), raw),
            };
            if let Some(raw) = &mut raw {
                raw.push_str(&String::from_utf8_lossy(&bytes));
            }
            decoder.push(&bytes);
            while let Some(data) = decoder.next_data() {
                let arrived = Instant::now();
                if data == "[DONE]" {
                    result.output_tokens = tokens.total() as u64;
                    return Exchange {
                        outcome: Outcome::Success(result),
                        raw,
                        content,
                    };
                }
                let wire: ResponseWire = match serde_json::from_str(&data) {
                    Ok(wire) => wire,
                    Err(e) => {
                        return failure(
                            ErrorKind::InvalidResponse,
                            format!("stream event is not valid JSON: {e}"),
                            raw,
                        );
                    }
                };
                if wire.error.is_some() {
                    return failure(ErrorKind::StreamError, labels_message(&data), raw);
                }
                if let Some(text) = wire.content() {
                    let count = tokens.feed(text);
                    if count > 0 {
                        result.chunks.push((arrived, count as u32));
                    }
                    if let Some(content) = &mut content {
                        content.push_str(text);
                    }
                }
                if let Some(usage) = wire.usage() {
                    result.usage = Some(usage);
                }
            }
        }
    }
}

async fn read_bounded(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(bytes)) = response.chunk().await {
        body.extend_from_slice(&bytes);
        if body.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

fn failure(kind: ErrorKind, message: String, raw: Option<String>) -> Exchange {
    Exchange {
        outcome: Outcome::Failure(RequestError { kind, message }),
        raw,
        content: None,
    }
}

fn classify(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connection
    }
}

/// reqwest's top-level message is generic ("error sending request"); the cause is below it.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
