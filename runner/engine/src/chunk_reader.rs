//! Reads the JSON of a stream's chunks. The chunks of one answer are the same object but for
//! their text (vLLM, SGLang and OpenAI repeat `id`, `created`, `model` and the choice's fields
//! in every chunk), and parsing ~200 bytes of JSON costs several times what the rest of a
//! streamed token does. So once a chunk with one borrowed text has been parsed, its bytes before
//! and after that text are kept: a later chunk equal to them outside its text, whose text holds
//! no quote, backslash or control character, is the same JSON document but for that one string,
//! and its parts are those of the learnt chunk with the new text, exactly what parsing it would
//! give. Any other chunk is parsed in full (and teaches its own shape).

use std::borrow::Cow;
use std::marker::PhantomData;

use crate::answer::{AnswerWire, ResponseParts};
use crate::api::Api;

/// Reads the chunks of one stream of API `A`.
pub struct ChunkReader<A> {
    shape: Option<Shape>,
    api: PhantomData<A>,
}

impl<A> Default for ChunkReader<A> {
    fn default() -> Self {
        ChunkReader {
            shape: None,
            api: PhantomData,
        }
    }
}

/// A parsed chunk's bytes around its one text.
#[derive(Debug)]
struct Shape {
    before: String,
    after: String,
    reasoning: bool,
}

impl<A: Api> ChunkReader<A> {
    /// The parts of one event's data; `None` when it is not a response object (inference-perf
    /// skips such events).
    pub fn read<'a>(&mut self, data: &'a str) -> Option<ResponseParts<'a>> {
        if let Some(shape) = &self.shape
            && let Some(text) = shape.text_of(data)
        {
            let text = Some(Cow::Borrowed(text));
            return Some(if shape.reasoning {
                ResponseParts {
                    reasoning: text,
                    ..Default::default()
                }
            } else {
                ResponseParts {
                    content: text,
                    ..Default::default()
                }
            });
        }
        let parts = serde_json::from_str::<A::Wire<'a>>(data).ok()?.into_parts();
        self.shape = Shape::of(data, &parts);
        Some(parts)
    }

    #[cfg(test)]
    fn has_shape(&self) -> bool {
        self.shape.is_some()
    }
}

impl Shape {
    /// The shape of a parsed chunk whose only part is one text borrowed from `data`.
    fn of(data: &str, parts: &ResponseParts) -> Option<Shape> {
        if parts.usage.is_some() || parts.error {
            return None;
        }
        let (text, reasoning) = match (&parts.content, &parts.reasoning) {
            (Some(Cow::Borrowed(text)), None) => (*text, false),
            (None, Some(Cow::Borrowed(text))) => (*text, true),
            _ => return None,
        };
        // A borrowed string is the body of a string literal of `data`, quotes on each side.
        let at = (text.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
        let (before, after) = (data.get(..at)?, data.get(at + text.len()..)?);
        (before.ends_with('"') && after.starts_with('"')).then(|| Shape {
            before: before.into(),
            after: after.into(),
            reasoning,
        })
    }

    /// The text of `data` if it is this shape around a string body that needs no unescaping.
    fn text_of<'a>(&self, data: &'a str) -> Option<&'a str> {
        let text = data
            .strip_prefix(self.before.as_str())?
            .strip_suffix(self.after.as_str())?;
        text.bytes()
            .all(|b| b != b'"' && b != b'\\' && b >= 0x20)
            .then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Anthropic, OpenAi};
    use crate::openai::ResponseWire;
    use proptest::prelude::*;

    fn vllm_chunk(text: &str) -> String {
        serde_json::json!({"id": "cmpl-1", "object": "text_completion", "created": 1,
            "model": "m", "choices": [{"index": 0, "text": text, "logprobs": null,
            "finish_reason": null}], "usage": null})
        .to_string()
    }

    fn parsed(data: &str) -> Option<ResponseParts<'_>> {
        Some(
            serde_json::from_str::<ResponseWire>(data)
                .ok()?
                .into_parts(),
        )
    }

    #[test]
    fn chunks_of_a_learnt_shape_are_read_without_parsing() {
        let mut reader = ChunkReader::<OpenAi>::default();
        let first = vllm_chunk(" Hello");
        assert_eq!(
            reader.read(&first).unwrap().content.as_deref(),
            Some(" Hello")
        );
        assert!(reader.has_shape());
        let next = vllm_chunk(" world");
        let parts = reader.read(&next).unwrap();
        assert!(matches!(parts.content, Some(Cow::Borrowed(" world"))));
        assert_eq!(Some(parts), parsed(&next));
        // A text that needs unescaping is parsed, and so is a chunk of another shape.
        let quoted = vllm_chunk("\"hi\"\n");
        assert_eq!(
            reader.read(&quoted).unwrap().content.as_deref(),
            Some("\"hi\"\n")
        );
        let last =
            r#"{"id":"cmpl-1","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#;
        assert_eq!(
            reader.read(last).unwrap().usage.unwrap().completion_tokens,
            Some(2)
        );
        assert!(!reader.has_shape());
        assert_eq!(reader.read("not json"), None);
    }

    #[test]
    fn anthropic_deltas_have_their_shape_too() {
        let delta = |text: &str| {
            serde_json::json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": text}})
            .to_string()
        };
        let mut reader = ChunkReader::<Anthropic>::default();
        reader.read(&delta("Hi"));
        assert!(reader.has_shape());
        let next = delta(" there");
        let parts = reader.read(&next).unwrap();
        assert!(matches!(parts.content, Some(Cow::Borrowed(" there"))));
        let stop = r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}"#;
        assert_eq!(
            reader.read(stop).unwrap().usage.unwrap().completion_tokens,
            Some(2)
        );
    }

    #[test]
    fn reasoning_chunks_have_their_shape_too() {
        let chunk = |text: &str| {
            serde_json::json!({"id": "c", "choices": [{"index": 0, "delta": {"reasoning_content": text}}]})
                .to_string()
        };
        let mut reader = ChunkReader::<OpenAi>::default();
        reader.read(&chunk("Let"));
        let next = chunk(" me");
        let parts = reader.read(&next).unwrap();
        assert!(matches!(parts.reasoning, Some(Cow::Borrowed(" me"))));
        assert_eq!(Some(parts), parsed(&next));
    }

    /// JSON texts of chunks: a few fields in any order around a text of any characters, or
    /// arbitrary bytes near such a chunk.
    fn chunk() -> impl Strategy<Value = String> {
        let text = prop_oneof![
            3 => "[ a-z]{0,6}",
            1 => "[ -~]{0,6}",
            1 => "\\PC{0,4}",
            1 => "[\"\\\\\n\t\u{1}]{1,3}",
        ];
        let field = prop::sample::select(vec![
            "text",
            "content",
            "reasoning_content",
            "reasoning",
            "role",
        ]);
        let holder = prop::sample::select(vec!["choice", "delta", "message"]);
        let extra = prop::sample::select(vec![
            r#""id":"c""#,
            r#""created":1"#,
            r#""usage":null"#,
            r#""usage":{"prompt_tokens":1}"#,
            r#""error":null"#,
            r#""error":"x""#,
        ]);
        (
            text,
            field,
            holder,
            prop::collection::vec(extra, 0..3),
            any::<bool>(),
        )
            .prop_map(|(text, field, holder, extras, extra_first)| {
                let pair = format!("{}:{}", serde_json::json!(field), serde_json::json!(text));
                let choice = match holder {
                    "choice" => format!("{{{pair}}}"),
                    other => format!("{{\"{other}\":{{{pair}}}}}"),
                };
                let choices = format!("\"choices\":[{choice}]");
                let mut members = extras;
                let at = if extra_first { members.len() } else { 0 };
                members.insert(at, &choices);
                format!("{{{}}}", members.join(","))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever shape was learnt, every read gives what parsing the chunk gives.
        #[test]
        fn reading_equals_parsing(chunks in prop::collection::vec(chunk(), 1..6), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut reader = ChunkReader::<OpenAi>::default();
            for data in &chunks {
                prop_assert_eq!(reader.read(data), parsed(data), "{}", data);
            }
            // A damaged copy of the last chunk: one byte changed, where it may break the JSON.
            let last = chunks.last().unwrap().as_bytes();
            let mut damaged = last.to_vec();
            damaged[cut.index(last.len())] = byte;
            if let Ok(damaged) = String::from_utf8(damaged) {
                prop_assert_eq!(reader.read(&damaged), parsed(&damaged), "{}", damaged);
            }
        }
    }
}
