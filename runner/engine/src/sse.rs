//! Server-sent events framing and the OpenAI chunk fields the runner needs.

use std::borrow::Cow;
use std::ops::Range;

use serde::Deserialize;

use ibench_core::metrics::Usage;

use crate::answer::AnswerWire;

/// Splits a byte stream into SSE events and yields each event's `data` payload, as the
/// event-stream format reads them: lines end in LF, CRLF or a lone CR, and a blank line ends
/// the event (a CR last in what has arrived waits to see whether an LF follows).
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    /// Where the first line not yet read starts.
    start: usize,
    /// The data lines of the event being read.
    data: EventData,
}

/// An event's data: one line is left where it is in the buffer (every streamed chunk of an
/// OpenAI-style server), several are joined by `\n`.
#[derive(Debug, Default)]
enum EventData {
    #[default]
    None,
    Line(Range<usize>),
    Joined(String),
}

impl SseDecoder {
    pub fn push(&mut self, bytes: &[u8]) {
        // The data line of an event still open is about to leave the buffer.
        if let EventData::Line(line) = &self.data {
            self.data =
                EventData::Joined(String::from_utf8_lossy(&self.buffer[line.clone()]).into());
        }
        self.buffer.drain(..std::mem::take(&mut self.start));
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete event's data (data lines joined by `\n`), if one has arrived.
    pub fn next_data(&mut self) -> Option<Cow<'_, str>> {
        // Each turn reads one complete line of the buffer: bounded by its length.
        loop {
            let line_start = self.start;
            let rest = &self.buffer[line_start..];
            let end = memchr::memchr2(b'\n', b'\r', rest)?;
            let next = match (rest[end], rest.get(end + 1)) {
                (b'\r', None) => return None,
                (b'\r', Some(b'\n')) => end + 2,
                _ => end + 1,
            };
            let line = &rest[..end];
            self.start += next;
            if line.is_empty() {
                match std::mem::take(&mut self.data) {
                    EventData::None => continue,
                    EventData::Line(line) => {
                        return Some(String::from_utf8_lossy(&self.buffer[line]));
                    }
                    EventData::Joined(data) => return Some(Cow::Owned(data)),
                }
            }
            let (field, value) = match memchr::memchr(b':', line) {
                Some(colon) => {
                    let value = colon + 1 + usize::from(line.get(colon + 1) == Some(&b' '));
                    (&line[..colon], line_start + value..line_start + end)
                }
                None => (line, line_start + end..line_start + end),
            };
            if field == b"data" {
                self.data = match std::mem::take(&mut self.data) {
                    EventData::None => EventData::Line(value),
                    EventData::Line(first) => {
                        let mut data = String::from_utf8_lossy(&self.buffer[first]).into_owned();
                        data.push('\n');
                        data.push_str(&String::from_utf8_lossy(&self.buffer[value]));
                        EventData::Joined(data)
                    }
                    EventData::Joined(mut data) => {
                        data.push('\n');
                        data.push_str(&String::from_utf8_lossy(&self.buffer[value]));
                        EventData::Joined(data)
                    }
                };
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
            events.extend(std::iter::from_fn(|| {
                decoder.next_data().map(Cow::into_owned)
            }));
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
    pub choices: FirstChoice<'a>,
    #[serde(default)]
    pub usage: Option<UsageWire>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// A string lent straight out of the JSON when it needs no unescaping: serde gives an
/// `Option<Cow<str>>` field an owned copy whatever `borrow` says, one allocation per chunk.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

/// The first of a response's `choices` (the one inference-perf reads): the others are skipped
/// unread, and no list is allocated for each streamed chunk.
#[derive(Debug, Default)]
pub struct FirstChoice<'a>(pub Option<ChoiceWire<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Choices<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Choices<'a> {
            type Value = FirstChoice<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of choices")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut choices: A,
            ) -> Result<Self::Value, A::Error> {
                let first = choices.next_element()?;
                while choices.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        deserializer.deserialize_seq(Choices(std::marker::PhantomData))
    }
}

#[derive(Debug, Deserialize)]
pub struct ChoiceWire<'a> {
    #[serde(borrow, default)]
    pub text: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub message: Option<MessageWire<'a>>,
    #[serde(borrow, default)]
    pub delta: Option<MessageWire<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct MessageWire<'a> {
    #[serde(borrow, default)]
    pub content: Option<Text<'a>>,
    /// A reasoning model's thinking (vLLM and SGLang `reasoning_content`, others `reasoning`):
    /// output tokens the user does not see.
    #[serde(borrow, default, alias = "reasoning")]
    pub reasoning_content: Option<Text<'a>>,
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

impl<'a> AnswerWire<'a> for ResponseWire<'a> {
    fn into_parts(self) -> ResponseParts<'a> {
        let usage = self.usage.map(|u| Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cached_tokens: u.prompt_tokens_details.and_then(|d| d.cached_tokens),
        });
        let (content, reasoning) = match self.choices.0 {
            None => (None, None),
            Some(ChoiceWire {
                text,
                message,
                delta,
            }) => {
                let split = |m: Option<MessageWire<'a>>| {
                    m.map_or((None, None), |m| (m.content, m.reasoning_content))
                };
                let from_delta = delta.is_some();
                let ((delta_content, delta_reasoning), (message_content, message_reasoning)) =
                    (split(delta), split(message));
                let reasoning = if from_delta {
                    delta_reasoning
                } else {
                    message_reasoning
                };
                let content = text.or(delta_content).or(message_content);
                (content.map(|t| t.0), reasoning.map(|t| t.0))
            }
        };
        ResponseParts {
            content,
            reasoning,
            usage,
            error: self.error.is_some(),
        }
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
        assert_eq!(decoder.next_data(), None);
        assert_eq!(decoder.held(), 0);
    }

    fn parts(json: &str) -> ResponseParts<'_> {
        serde_json::from_str::<ResponseWire>(json)
            .unwrap()
            .into_parts()
    }

    #[test]
    fn reads_completion_chat_reasoning_and_usage_fields() {
        let completion =
            parts(r#"{"choices":[{"text":"a \"b\""},{"text":"second"}],"usage":null}"#);
        assert_eq!(completion.content.as_deref(), Some("a \"b\""));
        assert_eq!(
            parts(r#"{"choices":[{"delta":{"role":"assistant"}}]}"#),
            ResponseParts::default()
        );
        let thinking = parts(
            r#"{"choices":[{"delta":{"reasoning":"hm"},"message":{"reasoning_content":"no"}}]}"#,
        );
        assert_eq!(thinking.reasoning.as_deref(), Some("hm"));
        let answer =
            parts(r#"{"choices":[{"message":{"content":"yes","reasoning_content":"so"}}]}"#);
        assert_eq!(
            (answer.content.as_deref(), answer.reasoning.as_deref()),
            (Some("yes"), Some("so"))
        );
        assert!(parts(r#"{"choices":[],"error":{"message":"overloaded"}}"#).error);
        let usage = parts(
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}}"#,
        );
        assert_eq!(
            usage.usage,
            Some(Usage {
                prompt_tokens: Some(3),
                completion_tokens: Some(4),
                cached_tokens: Some(2)
            })
        );
    }
}
