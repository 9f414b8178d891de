//! What happened to one request, as the engine observed it. Consumed by [`Bucket::record`]
//! (super::Bucket::record) and then dropped: nothing per request outlives its recording.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Planned index of the request within its stage.
    pub index: u64,
    /// Index into the run's LoRA adapter names.
    pub adapter: Option<usize>,
    pub scheduled: Instant,
    /// When the request was handed to the HTTP client; `None` if it was never sent.
    pub start: Option<Instant>,
    pub end: Instant,
    pub request_bytes: u64,
    /// Prompt tokens by the client's tokenizer.
    pub prompt_tokens: u64,
    pub outcome: Outcome,
    /// Set when `load.request_retries` sent it again; the outcome is the last attempt's.
    pub retried: Option<Retried>,
    /// The media the request carried, never all empty: `None` for a text-only one, which so
    /// allocates nothing.
    pub media: Option<Box<Media>>,
}

/// The media of a request, by kind, as inference-perf measures them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Media {
    pub images: Vec<Image>,
    pub videos: Vec<Video>,
    pub audios: Vec<Audio>,
}

impl Media {
    pub fn is_empty(&self) -> bool {
        self.images.is_empty() && self.videos.is_empty() && self.audios.is_empty()
    }
}

/// One video of a request as inference-perf measures it (its `Video` metric).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Video {
    /// A frame's pixels and aspect ratio, and the bytes of all frames.
    #[serde(flatten)]
    pub picture: Image,
    pub frames: u64,
}

/// One audio clip of a request as inference-perf measures it (its `Audio` metric).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Audio {
    /// The encoded clip's size.
    pub bytes: u64,
    pub seconds: f64,
}

/// One image of a request as inference-perf measures it (its `Image` metric).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Image {
    pub pixels: u64,
    /// The encoded image's size.
    pub bytes: u64,
    /// Width over height; 0 when the height is 0.
    pub aspect_ratio: f64,
}

impl Image {
    /// A `width`×`height` image of `bytes` encoded bytes; 0, 0, 0 for one sent by URL, whose
    /// content the client never sees (inference-perf measures nothing for a remote image either).
    pub fn new(width: u32, height: u32, bytes: u64) -> Self {
        Image {
            pixels: u64::from(width) * u64::from(height),
            bytes,
            aspect_ratio: if height > 0 {
                f64::from(width) / f64::from(height)
            } else {
                0.0
            },
        }
    }
}

/// How a request was sent again after failing before any response byte.
#[derive(Debug, Clone, Copy)]
pub struct Retried {
    /// Sends after the first.
    pub attempts: u32,
    /// When the last attempt began.
    pub last_attempt: Instant,
}

impl RequestRecord {
    /// Whether a retry turned a failure into a success.
    pub fn retry_recovered(&self) -> bool {
        self.retried.is_some() && matches!(self.outcome, Outcome::Success(_))
    }

    /// Seconds lost to retrying: until the last attempt when it recovered, the whole request
    /// otherwise (inference-perf's `retry_wasted_sec`).
    pub fn retry_wasted_sec(&self) -> Option<f64> {
        let (retried, start) = (self.retried?, self.start?);
        let until = if self.retry_recovered() {
            retried.last_attempt
        } else {
            self.end
        };
        Some(super::latencies::seconds_between(start, until))
    }
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Success(Response),
    Failure(RequestError),
    /// Cut off by the end of the stage's teardown grace or by an interrupt.
    Cancelled,
}

#[derive(Debug, Clone, Default)]
pub struct Response {
    /// Output tokens by the client's tokenizer.
    pub output_tokens: u64,
    pub usage: Option<Usage>,
    /// Content-bearing stream chunks (the answer's and a reasoning model's thinking): arrival
    /// time and tokens in the chunk. Empty when not streaming.
    pub chunks: Vec<(Instant, u32)>,
    /// Arrival of the first chunk of the answer itself (not thinking), when streaming.
    pub first_answer: Option<Instant>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
}

impl Usage {
    /// These counts, and `earlier`'s where these have none: a stream may report its usage in
    /// parts (Anthropic's the input tokens first, the output tokens last), which
    /// inference-perf merges.
    pub fn over(self, earlier: Option<Usage>) -> Usage {
        let Some(earlier) = earlier else {
            return self;
        };
        Usage {
            prompt_tokens: self.prompt_tokens.or(earlier.prompt_tokens),
            completion_tokens: self.completion_tokens.or(earlier.completion_tokens),
            cached_tokens: self.cached_tokens.or(earlier.cached_tokens),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    Http(u16),
    Timeout,
    Connection,
    /// The response stream ended before the server said it was done.
    IncompleteStream,
    /// The body or an event was not the JSON an OpenAI-compatible server sends.
    InvalidResponse,
    /// The server reported an error inside a 200 response (e.g. an error event mid-stream).
    StreamError,
    /// The body was longer than `api.max_response_bytes`; the rest was not read.
    ResponseTooLarge,
}

impl ErrorKind {
    /// inference-perf's `error_type` for the same failure: `HTTP Error <status>`, or the class
    /// of the exception its aiohttp client raises.
    pub fn inference_perf_type(&self) -> String {
        match self {
            ErrorKind::Http(status) => format!("HTTP Error {status}"),
            ErrorKind::Timeout => "TimeoutError".into(),
            ErrorKind::Connection => "ClientConnectorError".into(),
            ErrorKind::IncompleteStream => "ClientPayloadError".into(),
            ErrorKind::InvalidResponse => "JSONDecodeError".into(),
            // No aiohttp counterpart: inference-perf reads neither an error event nor a size cap.
            ErrorKind::StreamError => "StreamError".into(),
            ErrorKind::ResponseTooLarge => "ResponseTooLarge".into(),
        }
    }
}

/// Maps monotonic instants to Unix time, so that pods' records can be merged on one timeline.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    instant: Instant,
    epoch: f64,
}

impl Clock {
    pub fn now() -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Clock {
            instant: Instant::now(),
            epoch,
        }
    }

    pub fn epoch(&self, t: Instant) -> f64 {
        match t.checked_duration_since(self.instant) {
            Some(after) => self.epoch + after.as_secs_f64(),
            None => self.epoch - self.instant.duration_since(t).as_secs_f64(),
        }
    }

    /// The instant at Unix time `epoch` (for start times published by an operator).
    pub fn instant_at(&self, epoch: f64) -> Instant {
        let delta = epoch - self.epoch;
        if delta >= 0.0 {
            self.instant + std::time::Duration::from_secs_f64(delta)
        } else {
            self.instant
                .checked_sub(std::time::Duration::from_secs_f64(-delta))
                .unwrap_or(self.instant)
        }
    }
}
