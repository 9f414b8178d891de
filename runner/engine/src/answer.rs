//! What the runner reads of an answer, whatever the API: each API's response body and stream
//! events deserialise into its own wire type, chosen once per run ([`crate::api::Api`]), so
//! that reading a stream costs one parse per event of exactly the fields that API has.

use std::borrow::Cow;

use serde::Deserialize;

use ibench_core::metrics::Usage;

/// A whole response body or one stream event of an API.
pub trait AnswerWire<'a>: Deserialize<'a> {
    /// What the runner reads of it: the answer's text (all of it in a whole body, the event's
    /// piece in a stream), the thinking, the token counts (a stream may report them in parts:
    /// Anthropic's input tokens at its start, output tokens at its end) and an error reported
    /// inside a successful response.
    fn into_parts(self) -> ResponseParts<'a>;
}

/// A string lent straight out of the JSON when it needs no unescaping: serde gives an
/// `Option<Cow<str>>` field an owned copy whatever `borrow` says, one allocation per chunk.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

/// What the runner takes from a response or streamed chunk.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ResponseParts<'a> {
    /// Generated text of the first choice (completion `text`, else chat `delta`, else
    /// `message` content).
    pub content: Option<Cow<'a, str>>,
    /// Reasoning text of the first choice (chat `delta`, else `message`).
    pub reasoning: Option<Cow<'a, str>>,
    pub usage: Option<Usage>,
    /// The server reported an error in the body.
    pub error: bool,
}
