//! What happened to one session of a session replay: when it was started and ended, and what
//! became of its events. One record per session, shipped with its stage's statistics.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::latencies::seconds_between;
use super::{Outcome, RequestRecord};

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
    /// inference-perf's graph ids of its events whose answers reach the user. (Defaults let
    /// records of runners without them merge.)
    #[serde(default)]
    pub user_facing_event_ids: Vec<String>,
    /// Its events asking for structured output.
    #[serde(default)]
    pub structured_output_events: u64,
    /// Time to first user token, or why it has none.
    #[serde(default)]
    pub tfut_sec: Option<f64>,
    #[serde(default)]
    pub tfut_none_reason: Option<NoTfut>,
    /// Names of its events whose live answers had malformed tool calls and were replaced by
    /// the recorded ones (`bad_tool_call_handling: use_recorded`), sorted.
    #[serde(default)]
    pub recorded_substitution_event_ids: Vec<String>,
}

/// Why a session has no time to first user token (inference-perf's `tfut_none_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoTfut {
    /// No user-facing event, or none of them was sent.
    NoUserFacing,
    /// A user-facing answer came whole (or not at all: a failed request has no stream).
    NonStreaming,
    /// The user-facing streams carried no output token.
    NoOutputTokens,
}

/// inference-perf's time to first user token: seconds from the session's `start` to the first
/// output token of its user-facing events, the earliest of them. `requests` are those events'
/// requests, `None` for one never sent; the reason for none is the first that applies of
/// non-streaming, no output tokens and no user-facing event.
pub fn time_to_first_user_token<'a>(
    start: Instant,
    streaming: bool,
    requests: impl IntoIterator<Item = Option<&'a RequestRecord>>,
) -> Result<f64, NoTfut> {
    let (mut first, mut whole, mut empty) = (None::<Instant>, false, false);
    for request in requests.into_iter().flatten() {
        match &request.outcome {
            Outcome::Success(response) if streaming => {
                match response.chunks.iter().find(|(_, tokens)| *tokens > 0) {
                    Some(&(at, _)) => first = Some(first.map_or(at, |f| f.min(at))),
                    None => empty = true,
                }
            }
            Outcome::Success(_) | Outcome::Failure(_) => whole = true,
            // Cut off by the stage's end: inference-perf keeps no request of it.
            Outcome::Cancelled => {}
        }
    }
    match first {
        Some(at) => Ok(seconds_between(start, at)),
        None if whole => Err(NoTfut::NonStreaming),
        None if empty => Err(NoTfut::NoOutputTokens),
        None => Err(NoTfut::NoUserFacing),
    }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{ErrorKind, RequestError, Response};

    fn request(start: Instant, outcome: Outcome) -> RequestRecord {
        RequestRecord {
            index: 0,
            adapter: None,
            scheduled: start,
            start: Some(start),
            end: start + Duration::from_secs(1),
            request_bytes: 0,
            prompt_tokens: 10,
            outcome,
            retried: None,
            media: None,
        }
    }

    fn streamed(chunks: Vec<(Instant, u32)>) -> Outcome {
        Outcome::Success(Response {
            output_tokens: chunks.iter().map(|(_, t)| u64::from(*t)).sum(),
            chunks,
            ..Default::default()
        })
    }

    #[test]
    fn tfut_is_the_earliest_first_token_of_the_user_facing_answers() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let later = request(at(100), streamed(vec![(at(900), 3), (at(950), 2)]));
        // A chunk without tokens (a role-only delta) is no token.
        let earlier = request(at(200), streamed(vec![(at(300), 0), (at(400), 1)]));
        let tfut = time_to_first_user_token(start, true, [Some(&later), None, Some(&earlier)]);
        assert_eq!(tfut, Ok(0.4));
    }

    #[test]
    fn a_session_without_a_first_user_token_says_why() {
        let start = Instant::now();
        let whole = request(start, Outcome::Success(Response::default()));
        let failed = request(
            start,
            Outcome::Failure(RequestError {
                kind: ErrorKind::Http(500),
                message: "boom".into(),
            }),
        );
        let empty = request(start, streamed(Vec::new()));
        let cut = request(start, Outcome::Cancelled);
        let tfut = |streaming, requests: &[Option<&RequestRecord>]| {
            time_to_first_user_token(start, streaming, requests.iter().copied())
        };
        assert_eq!(tfut(false, &[Some(&whole)]), Err(NoTfut::NonStreaming));
        assert_eq!(
            tfut(true, &[Some(&empty), Some(&failed)]),
            Err(NoTfut::NonStreaming),
            "non-streaming goes first"
        );
        assert_eq!(
            tfut(true, &[Some(&empty), None]),
            Err(NoTfut::NoOutputTokens)
        );
        assert_eq!(tfut(true, &[None, Some(&cut)]), Err(NoTfut::NoUserFacing));
        assert_eq!(tfut(true, &[]), Err(NoTfut::NoUserFacing));
        assert_eq!(
            serde_json::to_value(NoTfut::NoOutputTokens).unwrap(),
            "no_output_tokens"
        );
    }
}
