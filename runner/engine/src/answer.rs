//! What the runner reads of an answer, whatever the API: each API's response body and stream
//! events deserialise into its own wire type, chosen once per run ([`Api`]), so that reading a
//! stream costs one parse per event of exactly the fields that API has.

use serde::Deserialize;

use crate::anthropic::MessagesWire;
use crate::sse::{ResponseParts, ResponseWire};

/// A whole response body or one stream event of an API.
pub trait AnswerWire<'a>: Deserialize<'a> {
    /// What the runner reads of it: the answer's text (all of it in a whole body, the event's
    /// piece in a stream), the thinking, the token counts (a stream may report them in parts:
    /// Anthropic's input tokens at its start, output tokens at its end) and an error reported
    /// inside a successful response.
    fn into_parts(self) -> ResponseParts<'a>;
}

/// An API's wire type, for every lifetime of the text it borrows from.
pub trait Api {
    type Wire<'a>: AnswerWire<'a>;
}

/// `/v1/completions` and `/v1/chat/completions`.
pub struct OpenAi;

/// Anthropic's `/v1/messages`.
pub struct Anthropic;

impl Api for OpenAi {
    type Wire<'a> = ResponseWire<'a>;
}

impl Api for Anthropic {
    type Wire<'a> = MessagesWire<'a>;
}
