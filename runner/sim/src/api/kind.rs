//! The two endpoints, completions and chat completions: what differs between them.

use super::shapes::{Head, Params, Usage};
use super::{chat, completions};
use crate::generate::Token;
use crate::metrics::FinishReason;
use crate::sse;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Completion,
    Chat,
}

impl Kind {
    pub fn path(self) -> &'static str {
        match self {
            Kind::Completion => "/v1/completions",
            Kind::Chat => "/v1/chat/completions",
        }
    }

    pub(super) fn parse(self, body: &[u8]) -> Result<Params<'_>, serde_json::Error> {
        match self {
            Kind::Completion => completions::parse(body),
            Kind::Chat => chat::parse(body),
        }
    }

    pub(super) fn id_prefix(self) -> &'static str {
        match self {
            Kind::Completion => "cmpl",
            Kind::Chat => "chatcmpl",
        }
    }

    pub(super) fn chunk_object(self) -> &'static str {
        match self {
            Kind::Completion => completions::OBJECT,
            Kind::Chat => chat::CHUNK_OBJECT,
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
        }
    }

    /// The last chunk of a stream with `include_usage`: usage and no choices.
    pub(super) fn write_usage_chunk(self, out: &mut Vec<u8>, head: &Head, usage: Usage) {
        sse::event(
            out,
            &head.envelope(self.chunk_object(), [(); 0], Some(usage)),
        );
    }
}
