//! Server-sent events framing and the OpenAI chunk fields the runner needs.

use std::borrow::Cow;

use serde::Deserialize;

use ibench_core::metrics::Usage;

/// Splits a byte stream into SSE events and yields each event's `data` payload.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    /// Where the search for the next event boundary resumes.
    scanned: usize,
}

impl SseDecoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete event's data (data lines joined by `\n`), if one has arrived.
    pub fn next_data(&mut self) -> Option<String> {
        loop {
            let (end, delimiter) = self.find_boundary()?;
            let event: Vec<u8> = self.buffer.drain(..end + delimiter).collect();
            self.scanned = 0;
            let text = String::from_utf8_lossy(&event[..end]);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty() {
                return Some(data.join("\n"));
            }
        }
    }

    fn find_boundary(&mut self) -> Option<(usize, usize)> {
        let start = self.scanned.saturating_sub(3);
        let window = &self.buffer[start..];
        let found = window
            .windows(2)
            .position(|w| w == b"\n\n")
            .map(|i| (start + i, 2))
            .into_iter()
            .chain(
                window
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|i| (start + i, 4)),
            );
        let first = found.min_by_key(|(at, _)| *at);
        if first.is_none() {
            self.scanned = self.buffer.len();
        }
        first
    }
}

/// The parts of a completion or chat response (whole or streamed chunk) the runner reads.
#[derive(Debug, Deserialize)]
pub struct ResponseWire<'a> {
    #[serde(borrow, default)]
    pub choices: Vec<ChoiceWire<'a>>,
    #[serde(default)]
    pub usage: Option<UsageWire>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct ChoiceWire<'a> {
    #[serde(borrow, default)]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub message: Option<MessageWire<'a>>,
    #[serde(borrow, default)]
    pub delta: Option<MessageWire<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct MessageWire<'a> {
    #[serde(borrow, default)]
    pub content: Option<Cow<'a, str>>,
    /// A reasoning model's thinking (vLLM and SGLang `reasoning_content`, others `reasoning`):
    /// output tokens the user does not see.
    #[serde(borrow, default, alias = "reasoning")]
    pub reasoning_content: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct UsageWire {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Debug, Deserialize)]
pub struct PromptTokensDetails {
    pub cached_tokens: Option<u64>,
}

impl ResponseWire<'_> {
    /// Generated text of the first choice (completion `text`, chat `message`/`delta` content).
    pub fn content(&self) -> Option<&str> {
        let choice = self.choices.first()?;
        choice
            .text
            .as_deref()
            .or_else(|| choice.delta.as_ref().and_then(|d| d.content.as_deref()))
            .or_else(|| choice.message.as_ref().and_then(|m| m.content.as_deref()))
    }

    /// Reasoning text of the first choice (chat `delta` or `message`).
    pub fn reasoning(&self) -> Option<&str> {
        let choice = self.choices.first()?;
        choice
            .delta
            .as_ref()
            .or(choice.message.as_ref())
            .and_then(|m| m.reasoning_content.as_deref())
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage.as_ref().map(|u| Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cached_tokens: u
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_and_within_reads() {
        let mut decoder = SseDecoder::default();
        decoder.push(b"data: {\"a\":1}\n\ndata: {\"b\"");
        assert_eq!(decoder.next_data().as_deref(), Some("{\"a\":1}"));
        assert_eq!(decoder.next_data(), None);
        decoder.push(b":2}\r\n\r\n: comment\n\ndata: [DONE]\n\n");
        assert_eq!(decoder.next_data().as_deref(), Some("{\"b\":2}"));
        assert_eq!(decoder.next_data().as_deref(), Some("[DONE]"));
        assert_eq!((decoder.next_data(), decoder.buffer.len()), (None, 0));
    }

    #[test]
    fn reads_completion_chat_and_usage_fields() {
        let completion: ResponseWire =
            serde_json::from_str(r#"{"choices":[{"text":"a \"b\""}],"usage":null}"#).unwrap();
        assert_eq!(completion.content(), Some("a \"b\""));
        let chat: ResponseWire =
            serde_json::from_str(r#"{"choices":[{"delta":{"role":"assistant"}}]}"#).unwrap();
        assert_eq!(chat.content(), None);
        let usage: ResponseWire = serde_json::from_str(
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}}"#,
        )
        .unwrap();
        assert_eq!(
            usage.usage(),
            Some(Usage {
                prompt_tokens: Some(3),
                completion_tokens: Some(4),
                cached_tokens: Some(2)
            })
        );
    }
}
