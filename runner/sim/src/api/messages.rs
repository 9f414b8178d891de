//! `POST /v1/messages`: Anthropic's Messages API, request parsing and response shapes. A
//! stream is `message_start` (with the input tokens), `content_block_start`, one
//! `content_block_delta` per token, `content_block_stop`, `message_delta` (with the output
//! tokens) and `message_stop`, each with its `event:` line; there is no `[DONE]`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::chat::{ContentTokens, MessagesTokens};
use super::shapes::{Head, Params, RequestId, Usage};
use crate::generate::Token;
use crate::metrics::FinishReason;
use crate::sse;

#[derive(Deserialize)]
struct MessagesRequest<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    messages: MessagesTokens,
    /// A string or text blocks, counted like a message's content.
    #[serde(default)]
    system: ContentTokens,
    max_tokens: Option<u32>,
    stream: Option<bool>,
    ignore_eos: Option<bool>,
}

pub(super) fn parse(body: &[u8]) -> Result<Params<'_>, serde_json::Error> {
    let r: MessagesRequest = serde_json::from_slice(body)?;
    Ok(Params {
        model: r.model,
        prompt_tokens: r.messages.0 + r.system.0,
        max_tokens: r.max_tokens,
        stream: r.stream.unwrap_or(false),
        // A stream always reports its usage (at its start and its end).
        include_usage: false,
        ignore_eos: r.ignore_eos.unwrap_or(false),
        json: false,
        tool_call: None,
    })
}

#[derive(Serialize)]
struct MessagesUsage {
    input_tokens: usize,
    output_tokens: usize,
}

/// A message: the whole response, or (empty, before its tokens) `message_start`'s.
#[derive(Serialize)]
struct Message<'a, C> {
    id: RequestId,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: C,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<()>,
    usage: MessagesUsage,
}

#[derive(Serialize)]
struct TextBlock<T> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: T,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a, T> {
    MessageStart {
        message: Message<'a, [(); 0]>,
    },
    ContentBlockStart {
        index: u32,
        content_block: TextBlock<&'static str>,
    },
    ContentBlockDelta {
        index: u32,
        delta: TextBlock<T>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: StopDelta,
        usage: OutputUsage,
    },
    MessageStop,
}

/// The events that carry no token.
type Plain<'a> = Event<'a, ()>;

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: Option<()>,
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: usize,
}

impl<T: Serialize> Event<'_, T> {
    fn name(&self) -> &'static str {
        match self {
            Event::MessageStart { .. } => "message_start",
            Event::ContentBlockStart { .. } => "content_block_start",
            Event::ContentBlockDelta { .. } => "content_block_delta",
            Event::ContentBlockStop { .. } => "content_block_stop",
            Event::MessageDelta { .. } => "message_delta",
            Event::MessageStop => "message_stop",
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        sse::named_event(out, self.name(), self);
    }
}

fn stop_reason(finish: FinishReason) -> &'static str {
    match finish {
        FinishReason::Length => "max_tokens",
        FinishReason::Stop => "end_turn",
    }
}

fn message<'a, C>(
    head: &Head<'a>,
    content: C,
    stop: Option<&'static str>,
    usage: MessagesUsage,
) -> Message<'a, C> {
    Message {
        id: head.id,
        kind: "message",
        role: "assistant",
        model: head.model,
        content,
        stop_reason: stop,
        stop_sequence: None,
        usage,
    }
}

pub(super) fn write_response(
    out: &mut Vec<u8>,
    head: &Head,
    text: &str,
    finish: FinishReason,
    usage: Usage,
) {
    let content = [TextBlock { kind: "text", text }];
    let usage = MessagesUsage {
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
    };
    crate::body::write_json(
        out,
        &message(head, content, Some(stop_reason(finish)), usage),
    );
}

/// The first token opens the message and its text block.
pub(super) fn write_chunk(out: &mut Vec<u8>, head: &Head, token: Token) {
    if token.index == 0 {
        let usage = MessagesUsage {
            input_tokens: head.prompt_tokens,
            output_tokens: 0,
        };
        Plain::MessageStart {
            message: message(head, [], None, usage),
        }
        .write(out);
        Plain::ContentBlockStart {
            index: 0,
            content_block: TextBlock {
                kind: "text",
                text: "",
            },
        }
        .write(out);
    }
    Event::ContentBlockDelta {
        index: 0,
        delta: TextBlock {
            kind: "text_delta",
            text: token,
        },
    }
    .write(out);
}

/// After the last token: the block and the message end, with the output tokens.
pub(super) fn write_end(out: &mut Vec<u8>, finish: FinishReason, usage: Usage) {
    Plain::ContentBlockStop { index: 0 }.write(out);
    Plain::MessageDelta {
        delta: StopDelta {
            stop_reason: stop_reason(finish),
            stop_sequence: None,
        },
        usage: OutputUsage {
            output_tokens: usage.completion_tokens,
        },
    }
    .write(out);
    Plain::MessageStop.write(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_and_message_text_are_counted() {
        let body = br#"{"model":"m","system":[{"type":"text","text":"be brief"}],"messages":[
            {"role":"user","content":"one two three"},
            {"role":"assistant","content":[{"type":"text","text":"four"}]}
        ],"max_tokens":5,"stream":true}"#;
        let p = parse(body).unwrap();
        assert_eq!(
            (p.prompt_tokens, p.max_tokens, p.stream),
            (6, Some(5), true)
        );
        let plain =
            parse(br#"{"system":"a b","messages":[{"role":"user","content":"c"}]}"#).unwrap();
        assert_eq!(plain.prompt_tokens, 3);
        assert!(parse(br#"{"messages":"hi"}"#).is_err());
    }
}
