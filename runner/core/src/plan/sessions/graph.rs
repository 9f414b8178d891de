//! A session as recorded: its LLM calls, what each waits for, and what can be wrong with a
//! trace file.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("data.otel_trace_replay: cannot read {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("data.otel_trace_replay: {file}: {message}")]
    Invalid { file: String, message: String },
    #[error(
        "data.otel_trace_replay: {file}: span {span} names parent span {parent}, which is not in \
         the file; export the whole trace (or set skip_invalid_files: true to leave the file out)"
    )]
    MissingParent {
        file: String,
        span: String,
        parent: String,
    },
    #[error(
        "data.otel_trace_replay: {file}: span {span} is its own ancestor ({chain}); the \
         parent_span_id links must form a tree"
    )]
    Cycle {
        file: String,
        span: String,
        chain: String,
    },
    #[error("data.otel_trace_replay: {0}")]
    Source(String),
}

/// One session as recorded: its LLM calls in order of their start.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionGraph {
    /// The trace file.
    pub file: String,
    /// The trace's `session_id` or `trace_id`, else the file's name.
    pub session_id: String,
    pub events: Vec<Event>,
}

/// One LLM call of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub span_id: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Earlier events (indices into the session's events) this one waits for.
    pub after: Vec<usize>,
    /// The recorded gap (tool or think time) between the last of those ending and this one
    /// starting, at most `max_wait_ms`.
    pub wait: Duration,
}
