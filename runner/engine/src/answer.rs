//! What the runner reads of an answer, whatever the API: each API's response body and stream
//! events deserialise into its own wire type, chosen once per run ([`Api`]), so that reading a
//! stream costs one parse per event of exactly the fields that API has.

use std::borrow::Cow;

use serde::Deserialize;

use ibench_core::metrics::Usage;

use crate::anthropic::MessagesWire;
use crate::sse::ResponseWire;

/// A whole response body or one stream event of an API.
pub trait AnswerWire<'a>: Deserialize<'a> {
    /// An error reported inside a successful response (an error event mid-stream).
    fn is_error(&self) -> bool;
    /// Text of the answer (all of it in a whole body, the event's piece in a stream).
    fn content(&self) -> Option<Cow<'_, str>>;
    /// A reasoning model's thinking: output tokens the user does not see.
    fn reasoning(&self) -> Option<Cow<'_, str>>;
    /// Token counts; a stream may report them in parts (Anthropic: the input tokens at its
    /// start, the output tokens at its end).
    fn usage(&self) -> Option<Usage>;
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

impl<'a> AnswerWire<'a> for ResponseWire<'a> {
    fn is_error(&self) -> bool {
        self.error.is_some()
    }

    fn content(&self) -> Option<Cow<'_, str>> {
        ResponseWire::content(self).map(Cow::Borrowed)
    }

    fn reasoning(&self) -> Option<Cow<'_, str>> {
        ResponseWire::reasoning(self).map(Cow::Borrowed)
    }

    fn usage(&self) -> Option<Usage> {
        ResponseWire::usage(self)
    }
}
