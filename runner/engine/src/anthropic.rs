//! Anthropic's Messages API as the runner reads it: a whole `message` (`content` blocks and
//! `usage`) or the events of its stream — `message_start` (usage with the input tokens),
//! `content_block_start`, `content_block_delta` (`text_delta` or `thinking_delta`),
//! `content_block_stop`, `message_delta` (usage with the output tokens), `message_stop`,
//! `ping` and `error`. Each event's data holds all the runner reads, so the `event:` lines are
//! not needed; the stream ends with its body (there is no `[DONE]`), as inference-perf reads it.

use std::borrow::Cow;

use serde::Deserialize;

use ibench_core::metrics::Usage;

use crate::answer::{AnswerWire, ResponseParts, Text};

/// The `anthropic-version` header every request carries (the version of the API's shapes).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Debug, Deserialize)]
pub struct MessagesWire<'a> {
    /// A whole message's blocks.
    #[serde(borrow, default)]
    pub content: Vec<BlockWire<'a>>,
    /// `content_block_start`'s block.
    #[serde(borrow, default)]
    pub content_block: Option<BlockWire<'a>>,
    /// `content_block_delta`'s piece (and `message_delta`'s stop reason, not read).
    #[serde(borrow, default)]
    pub delta: Option<BlockWire<'a>>,
    /// `message_start`'s message.
    #[serde(default)]
    pub message: Option<StartWire>,
    #[serde(default)]
    pub usage: Option<MessagesUsage>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// A content block or a delta: `text`/`text_delta` carry `text`, `thinking`/`thinking_delta`
/// carry `thinking`; other kinds (tool use) carry neither.
#[derive(Debug, Deserialize)]
pub struct BlockWire<'a> {
    #[serde(borrow, default)]
    pub text: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub thinking: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct StartWire {
    #[serde(default)]
    pub usage: Option<MessagesUsage>,
}

#[derive(Debug, Deserialize)]
pub struct MessagesUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
}

impl<'a> AnswerWire<'a> for MessagesWire<'a> {
    /// An event's piece (its `delta`, else its `content_block`), else a whole message's
    /// blocks joined; text and thinking each on their own.
    fn into_parts(self) -> ResponseParts<'a> {
        let split = |block: Option<BlockWire<'a>>| {
            block.map_or((None, None), |b| {
                (b.text.map(|t| t.0), b.thinking.map(|t| t.0))
            })
        };
        let ((delta_text, delta_thinking), (block_text, block_thinking)) =
            (split(self.delta), split(self.content_block));
        let (mut texts, mut thoughts) = (Vec::new(), Vec::new());
        for block in self.content {
            texts.extend(block.text.map(|t| t.0));
            thoughts.extend(block.thinking.map(|t| t.0));
        }
        let usage = self
            .usage
            .or(self.message.and_then(|m| m.usage))
            .map(|usage| Usage {
                prompt_tokens: usage.input_tokens,
                completion_tokens: usage.output_tokens,
                cached_tokens: usage.cache_read_input_tokens,
            });
        ResponseParts {
            content: delta_text.or(block_text).or_else(|| joined(texts)),
            reasoning: delta_thinking
                .or(block_thinking)
                .or_else(|| joined(thoughts)),
            usage,
            error: self.error.is_some(),
        }
    }
}

/// Pieces end to end; one piece stays borrowed.
fn joined(pieces: Vec<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    let mut pieces = pieces.into_iter();
    let first = pieces.next()?;
    Some(match pieces.next() {
        None => first,
        Some(second) => {
            let mut text = first.into_owned();
            text.push_str(&second);
            pieces.for_each(|piece| text.push_str(&piece));
            Cow::Owned(text)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(json: &str) -> ResponseParts<'_> {
        serde_json::from_str::<MessagesWire>(json)
            .unwrap()
            .into_parts()
    }

    #[test]
    fn reads_stream_events() {
        let start = wire(
            r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"usage":{"input_tokens":12,"output_tokens":1}}}"#,
        );
        assert_eq!(start.content, None);
        assert_eq!(
            start.usage,
            Some(Usage {
                prompt_tokens: Some(12),
                completion_tokens: Some(1),
                cached_tokens: None
            })
        );
        let delta = wire(
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" a\"b"}}"#,
        );
        assert_eq!(delta.content.as_deref(), Some(" a\"b"));
        assert_eq!((delta.reasoning, delta.usage), (None, None));
        let thinking = wire(
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}"#,
        );
        assert_eq!(
            (thinking.content, thinking.reasoning.as_deref()),
            (None, Some("hm"))
        );
        let end = wire(
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":7}}"#,
        );
        assert_eq!(end.content, None);
        assert_eq!(end.usage.unwrap().completion_tokens, Some(7));
        assert_eq!(wire(r#"{"type":"message_stop"}"#).usage, None);
        assert!(
            wire(r#"{"type":"error","error":{"type":"overloaded_error","message":"x"}}"#).error
        );
    }

    #[test]
    fn reads_a_whole_message() {
        let message = wire(
            r#"{"id":"m","type":"message","role":"assistant","content":[{"type":"thinking","thinking":"t"},{"type":"text","text":"one"},{"type":"tool_use","id":"x","name":"f","input":{}},{"type":"text","text":" two"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":4,"cache_read_input_tokens":2}}"#,
        );
        assert_eq!(message.content.as_deref(), Some("one two"));
        assert_eq!(message.reasoning.as_deref(), Some("t"));
        assert_eq!(
            message.usage,
            Some(Usage {
                prompt_tokens: Some(3),
                completion_tokens: Some(4),
                cached_tokens: Some(2)
            })
        );
    }
}
