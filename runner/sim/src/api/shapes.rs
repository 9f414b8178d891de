//! What both endpoints share: the parameters read from a request, and the shapes of the
//! response objects and chunks.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What the simulator uses of a request, common to the endpoints.
pub(super) struct Params<'a> {
    pub(super) model: Option<Cow<'a, str>>,
    pub(super) prompt_tokens: usize,
    pub(super) max_tokens: Option<u32>,
    pub(super) stream: bool,
    pub(super) include_usage: bool,
    pub(super) ignore_eos: bool,
    /// `response_format` asked for JSON: the answer is a JSON object.
    pub(super) json: bool,
    /// `tool_choice` forces a call of this function (named, or `required`: the first tool).
    pub(super) tool_call: Option<Cow<'a, str>>,
}

/// vLLM's `response_format` types; any other is a bad request.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {},
}

impl ResponseFormat {
    pub(super) fn json(format: Option<&ResponseFormat>) -> bool {
        matches!(
            format,
            Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
        )
    }
}

#[derive(Deserialize)]
pub(super) struct StreamOptions {
    pub(super) include_usage: Option<bool>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Usage {
    pub(super) prompt_tokens: usize,
    pub(super) total_tokens: usize,
    pub(super) completion_tokens: usize,
}

/// `cmpl-…` / `chatcmpl-…` / `msg-…`: unique per server run, derived from the seed and arrival order.
#[derive(Debug, Clone, Copy)]
pub(super) struct RequestId {
    pub(super) prefix: &'static str,
    pub(super) value: u64,
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
pub(super) struct Head<'a> {
    pub(super) id: RequestId,
    pub(super) created: u64,
    pub(super) model: &'a str,
    /// Streamed chat tokens before this index are thinking (`reasoning_content`).
    pub(super) reasoning_tokens: usize,
    /// Reported at a Messages stream's start, before the usage of its end.
    pub(super) prompt_tokens: usize,
    /// The function the answer calls, after its text (a forced `tool_choice`).
    pub(super) tool_call: Option<&'a str>,
    /// The call's arguments: `{}`, or text that is not JSON (fault `bad_tool_args`).
    pub(super) tool_arguments: &'static str,
}

#[derive(Serialize)]
pub(super) struct Envelope<'a, C> {
    pub(super) id: RequestId,
    pub(super) object: &'static str,
    pub(super) created: u64,
    pub(super) model: &'a str,
    pub(super) choices: C,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) usage: Option<Usage>,
}

impl Head<'_> {
    pub(super) fn envelope<C>(
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
