//! `POST /v1/completions`: request parsing and response shapes (vLLM's).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::Serialize;
use serde::de::{self, SeqAccess, Visitor};

use super::shapes::{Head, Params, ResponseFormat, StreamOptions, Usage};
use crate::generate::Token;
use crate::metrics::FinishReason;
use crate::sse;
use ibench_core::tokenize::count_tokens;

pub(super) const OBJECT: &str = "text_completion";

#[derive(Deserialize)]
struct CompletionRequest<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    prompt: PromptTokens,
    max_tokens: Option<u32>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    ignore_eos: Option<bool>,
    response_format: Option<ResponseFormat>,
}

pub(super) fn parse(body: &[u8]) -> Result<Params<'_>, serde_json::Error> {
    let r: CompletionRequest = serde_json::from_slice(body)?;
    Ok(Params {
        model: r.model,
        prompt_tokens: r.prompt.0,
        max_tokens: r.max_tokens,
        stream: r.stream.unwrap_or(false),
        include_usage: r
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        ignore_eos: r.ignore_eos.unwrap_or(false),
        json: ResponseFormat::json(r.response_format.as_ref()),
        tool_call: None,
    })
}

#[derive(Serialize)]
struct Choice<T> {
    index: u32,
    text: T,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
    stop_reason: Option<()>,
}

fn choice<T>(text: T, finish: Option<FinishReason>) -> [Choice<T>; 1] {
    [Choice {
        index: 0,
        text,
        logprobs: None,
        finish_reason: finish.map(FinishReason::as_str),
        stop_reason: None,
    }]
}

pub(super) fn write_response(
    out: &mut Vec<u8>,
    head: &Head,
    text: &str,
    finish: FinishReason,
    usage: Usage,
) {
    crate::body::write_json(
        out,
        &head.envelope(OBJECT, choice(text, Some(finish)), Some(usage)),
    );
}

pub(super) fn write_chunk(
    out: &mut Vec<u8>,
    head: &Head,
    token: Token,
    finish: Option<FinishReason>,
) {
    sse::event(out, &head.envelope(OBJECT, choice(token, finish), None));
}

/// Number of prompt tokens, counted while parsing: the built-in tokenizer's count of a string,
/// summed over an array of strings; one per token id for token-id prompts.
struct PromptTokens(usize);

impl<'de> Deserialize<'de> for PromptTokens {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Prompt;
        impl<'de> Visitor<'de> for Prompt {
            type Value = PromptTokens;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, an array of strings, or token ids")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PromptTokens, E> {
                Ok(PromptTokens(count_tokens(v)))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<PromptTokens, E> {
                Ok(PromptTokens(1))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PromptTokens, A::Error> {
                let mut total = 0;
                while let Some(part) = seq.next_element::<PromptTokens>()? {
                    total += part.0;
                }
                Ok(PromptTokens(total))
            }
        }
        d.deserialize_any(Prompt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_forms_are_counted() {
        let count = |body: &str| parse(body.as_bytes()).map(|p| p.prompt_tokens);
        assert_eq!(count(r#"{"prompt": "a b  c\nd"}"#).unwrap(), 4);
        assert_eq!(count(r#"{"prompt": ["a b", "c"]}"#).unwrap(), 3);
        assert_eq!(count(r#"{"prompt": [1, 2, 3]}"#).unwrap(), 3);
        assert_eq!(
            count(r#"{"prompt": [[1, 2], [3]], "unknown": {"x": 1}}"#).unwrap(),
            3
        );
        assert_eq!(count(r#"{"prompt": "esc\"aped \u0041"}"#).unwrap(), 2);
        assert!(count(r#"{"prompt": {"x": 1}}"#).is_err());
        assert!(count(r#"{"model": "m"}"#).is_err());
        let p = parse(br#"{"model":"m","prompt":"x","max_tokens":5,"stream":true,"stream_options":{"include_usage":true},"ignore_eos":true}"#).unwrap();
        assert_eq!(
            (
                p.model.as_deref(),
                p.max_tokens,
                p.stream,
                p.include_usage,
                p.ignore_eos
            ),
            (Some("m"), Some(5), true, true, true)
        );
        assert!(!p.json);
        let json = |format: &str| {
            parse(format!(r#"{{"prompt":"x","response_format":{format}}}"#).as_bytes())
                .map(|p| p.json)
                .map_err(|e| e.to_string())
        };
        assert_eq!(json(r#"{"type":"json_object"}"#), Ok(true));
        assert_eq!(
            json(r#"{"type":"json_schema","json_schema":{"name":"n","schema":{}}}"#),
            Ok(true)
        );
        assert_eq!(json(r#"{"type":"text"}"#), Ok(false));
        assert!(
            json(r#"{"type":"xml"}"#)
                .unwrap_err()
                .contains("unknown variant")
        );
    }
}
