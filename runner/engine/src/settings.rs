//! What the engine needs to know besides the plan: the target, the request body, how work is
//! split over workers and runners, and what to record.

use std::sync::Arc;

use ::http::header::{HeaderName, HeaderValue};

use ibench_core::config::ApiConfig;
use ibench_core::metrics::RecordOptions;
use ibench_core::plan::Shard;
use ibench_core::report::{PerRequestEntry, RecordShape};

use crate::body::BodyTemplate;
use crate::breaker::BreakerWatch;
use crate::http::TargetSettings;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub target: TargetSettings,
    pub body: BodyTemplate,
    /// Model name for requests without a LoRA adapter.
    pub model: String,
    pub num_workers: usize,
    /// In-flight cap per worker for open-loop stages.
    pub worker_max_concurrency: usize,
    /// This runner's share of the plan (the whole plan when running alone).
    pub shard: Shard,
    pub record: RecordOptions,
    pub per_request: Option<PerRequestOutput>,
    /// Run workers with real-time scheduling (`load.worker_realtime_priority`).
    pub realtime: bool,
    /// Refuse to start when no connection to the target opens (`load.fail_fast`).
    pub fail_fast: bool,
    /// The circuit breakers the run enables (`load.circuit_breakers`).
    pub breakers: Option<Arc<BreakerWatch>>,
    pub sessions: SessionHeaders,
}

/// `api.session_id_header_key` and `api.session_token_header_key`: what a request of a session
/// says about it, and what its answer may tell the session.
#[derive(Debug, Clone, Default)]
pub struct SessionHeaders {
    /// Carries the session's id.
    pub id: Option<HeaderName>,
    /// A server-assigned token read from each answer and sent back on the session's next
    /// requests.
    pub token: Option<HeaderName>,
}

impl SessionHeaders {
    /// The configured names (validated as header names).
    pub fn of(api: &ApiConfig) -> Self {
        let name = |key: &Option<String>| {
            key.as_deref()
                .map(|k| HeaderName::from_bytes(k.as_bytes()).expect("validated: a header name"))
        };
        SessionHeaders {
            id: name(&api.session_id_header_key),
            token: name(&api.session_token_header_key),
        }
    }

    /// The headers of a request of session `id` whose last token is `token`.
    pub fn request_headers(&self, id: &str, token: Option<&str>) -> Vec<(HeaderName, HeaderValue)> {
        let id = self.id.clone().zip(HeaderValue::from_str(id).ok());
        // A token is a value the server sent in a header: it is one again.
        let token = self
            .token
            .clone()
            .zip(token.and_then(|t| HeaderValue::from_str(t).ok()));
        id.into_iter().chain(token).collect()
    }
}

/// Where each request's record goes, and what it keeps.
#[derive(Debug, Clone)]
pub struct PerRequestOutput {
    pub sender: std::sync::mpsc::SyncSender<PerRequestEntry>,
    pub shape: RecordShape,
}
