//! The endpoints — completions, chat completions and Anthropic's messages: what differs
//! between them.

use super::shapes::{Head, Params, Usage};
use super::{chat, completions, messages};
use crate::generate::Token;
use crate::metrics::FinishReason;
use crate::sse;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Completion,
    Chat,
    Messages,
}

impl Kind {
    pub fn path(self) -> &'static str {
        match self {
            Kind::Completion => "/v1/completions",
            Kind::Chat => "/v1/chat/completions",
            Kind::Messages => "/v1/messages",
        }
    }

    pub(super) fn parse(self, body: &[u8]) -> Result<Params<'_>, serde_json::Error> {
        match self {
            Kind::Completion => completions::parse(body),
            Kind::Chat => chat::parse(body),
            Kind::Messages => messages::parse(body),
        }
    }

    pub(super) fn id_prefix(self) -> &'static str {
        match self {
            Kind::Completion => "cmpl",
            Kind::Chat => "chatcmpl",
            Kind::Messages => "msg",
        }
    }

    pub(super) fn write_response(
        self,
        out: &mut Vec<u8>,
        head: &Head,
        text: &str,
        finish: FinishReason,
        usage: Usage,
    ) {
        match self {
            Kind::Completion => completions::write_response(out, head, text, finish, usage),
            Kind::Chat => chat::write_response(out, head, text, finish, usage),
            Kind::Messages => messages::write_response(out, head, text, finish, usage),
        }
    }

    pub(super) fn write_chunk(
        self,
        out: &mut Vec<u8>,
        head: &Head,
        token: Token,
        finish: Option<FinishReason>,
    ) {
        match self {
            Kind::Completion => completions::write_chunk(out, head, token, finish),
            Kind::Chat => chat::write_chunk(out, head, token, finish),
            Kind::Messages => messages::write_chunk(out, head, token),
        }
    }

    /// What follows a stream's last token: with `include_usage` a chunk of usage and no
    /// choices, then `[DONE]`; a Messages stream's closing events.
    pub(super) fn write_stream_end(
        self,
        out: &mut Vec<u8>,
        head: &Head,
        finish: FinishReason,
        usage: Usage,
        include_usage: bool,
    ) {
        let object = match self {
            Kind::Completion => completions::OBJECT,
            Kind::Chat => chat::CHUNK_OBJECT,
            Kind::Messages => return messages::write_end(out, head, finish, usage),
        };
        if include_usage {
            sse::event(out, &head.envelope(object, [(); 0], Some(usage)));
        }
        sse::done(out);
    }
}
