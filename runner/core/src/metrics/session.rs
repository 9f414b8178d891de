//! What happened to one session of a session replay: when it was started and ended, and what
//! became of its events. One record per session, shipped with its stage's statistics.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// inference-perf's session id (`trace{slot}_{id}`).
    pub session_id: String,
    /// The trace file.
    pub file_path: String,
    /// Unix times: when the session was started, and when its last event ended.
    pub start_time: f64,
    pub end_time: f64,
    pub num_events: u64,
    /// Events that got an answer.
    pub num_events_completed: u64,
    /// Events never sent (an event they wait for failed, or the stage ended) or cut off.
    pub num_events_cancelled: u64,
    /// Prompt and output tokens of its requests (the client's counts).
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The server's cached prompt tokens, and its prompt tokens over the same requests; `None`
    /// when no request reported them.
    pub cached_tokens: Option<u64>,
    pub cacheable_input_tokens: Option<u64>,
    /// Why it failed: its first failed request's error, or why events were not sent.
    pub error: Option<SessionError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionError {
    pub error_type: String,
    pub error_msg: String,
}

impl SessionRecord {
    /// inference-perf's rule: every event completed and no error.
    pub fn succeeded(&self) -> bool {
        self.num_events_completed == self.num_events && self.error.is_none()
    }

    pub fn duration(&self) -> f64 {
        self.end_time - self.start_time
    }
}
