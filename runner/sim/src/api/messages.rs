//! `POST /v1/messages`: Anthropic's Messages API, request parsing and response shapes. A
//! stream is `message_start` (with the input tokens), `content_block_start`, one
//! `content_block_delta` per token, `content_block_stop`, `message_delta` (with the output
//! tokens) and `message_stop`, each with its `event:` line; there is no `[DONE]`. A forced
//! `tool_choice` (`tool`, or `any`: the first tool) adds a `tool_use` block after the text (in
//! a stream: its start, one `input_json_delta`, its stop) and stops for `tool_use`.

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
    #[serde(borrow, default)]
    tools: Vec<Tool<'a>>,
    #[serde(borrow, default)]
    tool_choice: Option<ToolChoice<'a>>,
}

#[derive(Deserialize)]
struct Tool<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToolChoice<'a> {
    Tool {
        #[serde(borrow)]
        name: Cow<'a, str>,
    },
    Any,
    Auto,
    None,
}

impl<'a> ToolChoice<'a> {
    /// The tool a forced answer calls: the named one, or with `any` the first.
    fn forced(self, tools: Vec<Tool<'a>>) -> Option<Cow<'a, str>> {
        match self {
            ToolChoice::Tool { name } => Some(name),
            ToolChoice::Any => tools.into_iter().next().map(|t| t.name),
            ToolChoice::Auto | ToolChoice::None => None,
        }
    }
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
        tool_call: r.tool_choice.and_then(|c| c.forced(r.tools)),
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

/// A content block of a whole answer or a block a stream starts.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a, T> {
    Text {
        text: T,
    },
    /// The call's input: `{}`, or (fault `bad_tool_args`) the text that is not JSON.
    ToolUse {
        id: String,
        name: &'a str,
        input: serde_json::Value,
    },
}

/// A `tool_use` block as a forced answer carries it, its input empty when streamed (the
/// arguments follow as an `input_json_delta`).
fn tool_use<'a, T>(head: &Head<'a>, streamed: bool) -> Option<Block<'a, T>> {
    let arguments = head.tool_arguments;
    let input = match serde_json::from_str(arguments) {
        _ if streamed => serde_json::json!({}),
        Ok(parsed) => parsed,
        Err(_) => serde_json::Value::String(arguments.into()),
    };
    head.tool_call.map(|name| Block::ToolUse {
        id: format!("toolu-{}", head.id),
        name,
        input,
    })
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a, T> {
    MessageStart {
        message: Message<'a, [(); 0]>,
    },
    ContentBlockStart {
        index: u32,
        content_block: Block<'a, &'static str>,
    },
    ContentBlockDelta {
        index: u32,
        delta: Delta<T>,
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
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta<T> {
    TextDelta { text: T },
    InputJsonDelta { partial_json: &'static str },
}

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

fn stop_reason(head: &Head, finish: FinishReason) -> &'static str {
    match finish {
        FinishReason::Length => "max_tokens",
        FinishReason::Stop if head.tool_call.is_some() => "tool_use",
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
    let content: Vec<Block<&str>> = std::iter::once(Block::Text { text })
        .chain(tool_use(head, false))
        .collect();
    let usage = MessagesUsage {
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
    };
    crate::body::write_json(
        out,
        &message(head, content, Some(stop_reason(head, finish)), usage),
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
            content_block: Block::Text { text: "" },
        }
        .write(out);
    }
    Event::ContentBlockDelta {
        index: 0,
        delta: Delta::TextDelta { text: token },
    }
    .write(out);
}

/// After the last token: the text block ends, a forced call's block follows, and the message
/// ends with the output tokens.
pub(super) fn write_end(out: &mut Vec<u8>, head: &Head, finish: FinishReason, usage: Usage) {
    Plain::ContentBlockStop { index: 0 }.write(out);
    if let Some(block) = tool_use(head, true) {
        Plain::ContentBlockStart {
            index: 1,
            content_block: block,
        }
        .write(out);
        Plain::ContentBlockDelta {
            index: 1,
            delta: Delta::InputJsonDelta {
                partial_json: head.tool_arguments,
            },
        }
        .write(out);
        Plain::ContentBlockStop { index: 1 }.write(out);
    }
    Plain::MessageDelta {
        delta: StopDelta {
            stop_reason: stop_reason(head, finish),
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
