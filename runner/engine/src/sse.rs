//! Server-sent events framing and the OpenAI chunk fields the runner needs.

use std::borrow::Cow;

use serde::Deserialize;

use ibench_core::metrics::Usage;

/// Splits a byte stream into SSE events and yields each event's `data` payload, as the
/// event-stream format reads them: lines end in LF, CRLF or a lone CR, and a blank line ends
/// the event (a CR last in what has arrived waits to see whether an LF follows).
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    /// Where the first line not yet read starts.
    start: usize,
    /// The data lines of the event being read, joined by `\n`; `None` before the first.
    data: Option<String>,
}

impl SseDecoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.drain(..std::mem::take(&mut self.start));
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete event's data (data lines joined by `\n`), if one has arrived.
    pub fn next_data(&mut self) -> Option<String> {
        // Each turn reads one complete line of the buffer: bounded by its length.
        loop {
            let rest = &self.buffer[self.start..];
            let end = rest.iter().position(|&b| b == b'\n' || b == b'\r')?;
            let next = match (rest[end], rest.get(end + 1)) {
                (b'\r', None) => return None,
                (b'\r', Some(b'\n')) => end + 2,
                _ => end + 1,
            };
            let line = &rest[..end];
            self.start += next;
            if line.is_empty() {
                match self.data.take() {
                    Some(data) => return Some(data),
                    None => continue,
                }
            }
            let (field, value) = match line.iter().position(|&b| b == b':') {
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &[][..]),
            };
            if field == b"data" {
                let value = String::from_utf8_lossy(value);
                match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(&value);
                    }
                    None => self.data = Some(value.into_owned()),
                }
            }
        }
    }

    /// Every event of `bytes` pushed in pieces ending at `ends` (sorted, within the bytes),
    /// then the rest.
    #[cfg(any(test, fuzzing))]
    pub fn events_in_pieces(bytes: &[u8], ends: &[usize]) -> Vec<String> {
        let (mut decoder, mut events, mut from) = (SseDecoder::default(), Vec::new(), 0);
        for &end in ends.iter().chain([&bytes.len()]) {
            decoder.push(&bytes[from..end]);
            from = end;
            events.extend(std::iter::from_fn(|| decoder.next_data()));
        }
        events
    }

    /// Bytes held for lines not yet complete.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.buffer.len() - self.start
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
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// All events of `bytes` pushed in pieces cut at `cuts` (indices into the bytes).
    fn decode(bytes: &[u8], cuts: &[prop::sample::Index]) -> Vec<String> {
        let mut ends: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
        ends.sort_unstable();
        SseDecoder::events_in_pieces(bytes, &ends)
    }

    /// A line of an event: a data field, a comment or another field.
    #[derive(Debug, Clone)]
    enum Line {
        Data(String),
        Comment(String),
        Field(&'static str, String),
    }

    fn line() -> impl Strategy<Value = Line> {
        let text = "[^\r\n]{0,12}";
        prop_oneof![
            3 => text.prop_map(Line::Data),
            1 => text.prop_map(Line::Comment),
            1 => (prop::sample::select(vec!["event", "id", "retry", "dat"]), text)
                .prop_map(|(name, value)| Line::Field(name, value)),
        ]
    }

    /// Events as lines with any of the three line endings, and the data each must yield.
    fn stream() -> impl Strategy<Value = (Vec<u8>, Vec<String>)> {
        let ending = prop::sample::select(vec!["\n", "\r\n", "\r"]);
        vec((vec((line(), ending.clone()), 0..4), ending), 0..6).prop_map(|events| {
            let (mut bytes, mut expected) = (String::new(), Vec::new());
            let mut previous = "";
            for (lines, blank_ending) in events {
                let mut data: Option<String> = None;
                for (line, ending) in lines {
                    match line {
                        Line::Data(value) => {
                            bytes += &format!("data: {value}");
                            data = Some(match data {
                                Some(before) => format!("{before}\n{value}"),
                                None => value,
                            });
                        }
                        Line::Comment(text) => bytes += &format!(":{text}"),
                        Line::Field(name, value) => bytes += &format!("{name}: {value}"),
                    }
                    bytes += ending;
                    previous = ending;
                }
                // After a lone CR, an LF would join it as one CRLF, not end a blank line.
                let blank = if previous == "\r" && blank_ending == "\n" {
                    "\r\n"
                } else {
                    blank_ending
                };
                bytes += blank;
                previous = blank;
                expected.extend(data);
            }
            // A lone CR last waits for a byte that would tell whether it is a CRLF; a stream
            // never ends there (its body ends after [DONE]'s blank line).
            if previous == "\r" {
                bytes.push('\n');
            }
            (bytes.into_bytes(), expected)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_split_of_an_event_stream_yields_its_events(
            (bytes, expected) in stream(),
            cuts in vec(any::<prop::sample::Index>(), 0..8),
        ) {
            prop_assert_eq!(decode(&bytes, &cuts), expected);
        }

        #[test]
        fn arbitrary_bytes_yield_the_same_events_whatever_the_reads(
            bytes in vec(prop::sample::select(b"data: x\r\n:{}".to_vec()), 0..200),
            cuts in vec(any::<prop::sample::Index>(), 0..8),
        ) {
            prop_assert_eq!(decode(&bytes, &cuts), decode(&bytes, &[]));
        }
    }

    #[test]
    fn events_split_across_and_within_reads() {
        let mut decoder = SseDecoder::default();
        decoder.push(b"data: {\"a\":1}\n\ndata: {\"b\"");
        assert_eq!(decoder.next_data().as_deref(), Some("{\"a\":1}"));
        assert_eq!(decoder.next_data(), None);
        decoder.push(b":2}\r\n\r\n: comment\n\ndata: [DONE]\n\n");
        assert_eq!(decoder.next_data().as_deref(), Some("{\"b\":2}"));
        assert_eq!(decoder.next_data().as_deref(), Some("[DONE]"));
        assert_eq!((decoder.next_data(), decoder.held()), (None, 0));
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
