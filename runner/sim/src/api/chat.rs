//! `POST /v1/chat/completions`: request parsing and response shapes (vLLM's).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::shapes::{Head, Params, ResponseFormat, StreamOptions, Usage};
use crate::generate::Token;
use crate::metrics::FinishReason;
use crate::sse;
use ibench_core::tokenize::count_tokens;

pub(super) const OBJECT: &str = "chat.completion";
pub(super) const CHUNK_OBJECT: &str = "chat.completion.chunk";

#[derive(Deserialize)]
struct ChatRequest<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    messages: MessagesTokens,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    ignore_eos: Option<bool>,
    response_format: Option<ResponseFormat>,
    #[serde(borrow, default)]
    tools: Vec<Tool<'a>>,
    #[serde(borrow, default)]
    tool_choice: Option<ToolChoice<'a>>,
}

#[derive(Deserialize)]
struct Tool<'a> {
    #[serde(borrow)]
    function: Named<'a>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

/// `auto`, `none`, `required`, or `{"type": "function", "function": {"name": ...}}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum ToolChoice<'a> {
    #[serde(borrow)]
    Mode(Cow<'a, str>),
    Function {
        #[serde(borrow)]
        function: Named<'a>,
    },
}

impl<'a> ToolChoice<'a> {
    /// The function a forced answer calls: the named one, or with `required` the first tool.
    fn forced(self, tools: Vec<Tool<'a>>) -> Option<Cow<'a, str>> {
        match self {
            ToolChoice::Function { function } => Some(function.name),
            ToolChoice::Mode(mode) if mode == "required" => {
                tools.into_iter().next().map(|t| t.function.name)
            }
            ToolChoice::Mode(_) => None,
        }
    }
}

pub(super) fn parse(body: &[u8]) -> Result<Params<'_>, serde_json::Error> {
    let r: ChatRequest = serde_json::from_slice(body)?;
    Ok(Params {
        model: r.model,
        prompt_tokens: r.messages.0,
        max_tokens: r.max_completion_tokens.or(r.max_tokens),
        stream: r.stream.unwrap_or(false),
        include_usage: r
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        ignore_eos: r.ignore_eos.unwrap_or(false),
        json: ResponseFormat::json(r.response_format.as_ref()),
        tool_call: r.tool_choice.and_then(|c| c.forced(r.tools)),
    })
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCall<'a>; 1]>,
}

/// The call a forced `tool_choice` answers with: its arguments are `{}` (unless faulted), its
/// id the request's.
#[derive(Serialize)]
struct ToolCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u32>,
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Call<'a>,
}

#[derive(Serialize)]
struct Call<'a> {
    name: &'a str,
    arguments: &'static str,
}

fn tool_call<'a>(head: &Head<'a>, index: Option<u32>) -> Option<[ToolCall<'a>; 1]> {
    head.tool_call.map(|name| {
        [ToolCall {
            index,
            id: format!("call-{}", head.id),
            kind: "function",
            function: Call {
                name,
                arguments: head.tool_arguments,
            },
        }]
    })
}

#[derive(Serialize)]
struct Choice<M> {
    index: u32,
    #[serde(flatten)]
    message: M,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct Full<'a> {
    message: Message<'a>,
}

#[derive(Serialize)]
struct Delta<T> {
    delta: DeltaContent<T>,
}

#[derive(Serialize)]
struct ToolDelta<'a> {
    delta: ToolCallDelta<'a>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    tool_calls: [ToolCall<'a>; 1],
}

#[derive(Serialize)]
struct DeltaContent<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<T>,
}

fn choice<M>(message: M, finish: Option<FinishReason>) -> [Choice<M>; 1] {
    [Choice {
        index: 0,
        message,
        logprobs: None,
        finish_reason: finish.map(FinishReason::as_str),
    }]
}

pub(super) fn write_response(
    out: &mut Vec<u8>,
    head: &Head,
    text: &str,
    finish: FinishReason,
    usage: Usage,
) {
    let message = Full {
        message: Message {
            role: "assistant",
            content: text,
            tool_calls: tool_call(head, None),
        },
    };
    crate::body::write_json(
        out,
        &head.envelope(OBJECT, choice(message, Some(finish)), Some(usage)),
    );
}

/// Like vLLM, the first token is preceded by a chunk that only carries the role.
pub(super) fn write_chunk(
    out: &mut Vec<u8>,
    head: &Head,
    token: Token,
    finish: Option<FinishReason>,
) {
    if token.index == 0 {
        let role = Delta {
            delta: DeltaContent {
                role: Some("assistant"),
                content: Some(""),
                reasoning_content: None,
            },
        };
        sse::event(out, &head.envelope(CHUNK_OBJECT, choice(role, None), None));
    }
    // A forced call follows the answer's text, before its last token's finish.
    if let (Some(_), Some([call])) = (finish, tool_call(head, Some(0))) {
        let delta = ToolDelta {
            delta: ToolCallDelta { tool_calls: [call] },
        };
        sse::event(out, &head.envelope(CHUNK_OBJECT, choice(delta, None), None));
    }
    let thinking = token.index < head.reasoning_tokens;
    let delta = Delta {
        delta: DeltaContent {
            role: None,
            content: (!thinking).then_some(token),
            reasoning_content: thinking.then_some(token),
        },
    };
    sse::event(
        out,
        &head.envelope(CHUNK_OBJECT, choice(delta, finish), None),
    );
}

/// Prompt tokens of a conversation: the built-in tokenizer's count of each message's text
/// content (a string, or the `text` of its parts of type `text`), the tokens of its images
/// (`image_url` parts, Anthropic `image` blocks; see [`super::vision`]), of its videos
/// (`video_url` parts; see [`super::video`]) and of its audio clips (`input_audio` parts; see
/// [`super::audio`]), summed over the messages. Roles, names and
/// other parts count nothing.
pub(super) struct MessagesTokens(pub(super) usize);

#[derive(Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: ContentTokens,
}

#[derive(Default)]
pub(super) struct ContentTokens(pub(super) usize);

#[derive(Deserialize)]
struct ContentPart<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    /// OpenAI's `image_url` part.
    #[serde(borrow, default)]
    image_url: Option<ImageUrl<'a>>,
    /// A `video_url` part (vLLM's, inference-perf's `mp4` videos).
    #[serde(borrow, default)]
    video_url: Option<ImageUrl<'a>>,
    /// Anthropic's `image` block.
    #[serde(borrow, default)]
    source: Option<ImageSource<'a>>,
    /// OpenAI's `input_audio` part.
    #[serde(borrow, default)]
    input_audio: Option<InputAudio<'a>>,
}

#[derive(Deserialize)]
struct InputAudio<'a> {
    #[serde(borrow)]
    data: Cow<'a, str>,
    #[serde(borrow)]
    format: Cow<'a, str>,
}

/// A media part the sim cannot read.
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error(transparent)]
    Image(#[from] super::vision::Unreadable),
    #[error(transparent)]
    Audio(#[from] super::audio::Unreadable),
    #[error(transparent)]
    Video(#[from] super::video::Unreadable),
}

#[derive(Deserialize)]
struct ImageUrl<'a> {
    #[serde(borrow)]
    url: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ImageSource<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    data: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
}

impl ContentPart<'_> {
    /// Prompt tokens of the part: its text, its image (see [`super::vision`]), its video (see
    /// [`super::video`]) or its audio clip (see [`super::audio`]).
    fn tokens(&self) -> Result<usize, Unreadable> {
        use super::vision::{self, base64_tokens, url_tokens};
        match (&*self.kind, &self.input_audio, &self.video_url) {
            ("input_audio", Some(clip), _) => {
                return Ok(super::audio::tokens(&clip.data, &clip.format)?);
            }
            ("video_url", _, Some(video)) => return Ok(super::video::url_tokens(&video.url)?),
            ("video_url", _, None) => return Err(super::video::Unreadable("video_url").into()),
            _ => {}
        }
        let image = match (&*self.kind, &self.image_url, &self.source) {
            ("text", ..) => return Ok(self.text.as_deref().map_or(0, count_tokens)),
            ("image_url", Some(image), _) => url_tokens(&image.url),
            ("image", _, Some(source)) => match (&*source.kind, &source.data, &source.url) {
                ("base64", Some(data), _) => base64_tokens(data),
                ("url", _, Some(url)) => url_tokens(url),
                _ => Err(vision::Unreadable("image.source")),
            },
            ("image_url", ..) => Err(vision::Unreadable("image_url")),
            ("image", ..) => Err(vision::Unreadable("image.source")),
            ("input_audio", ..) => return Err(super::audio::Unreadable::MISSING.into()),
            _ => return Ok(0),
        };
        Ok(image?)
    }
}

impl<'de> Deserialize<'de> for MessagesTokens {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Messages;
        impl<'de> Visitor<'de> for Messages {
            type Value = MessagesTokens;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of messages")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MessagesTokens, A::Error> {
                let mut total = 0;
                while let Some(message) = seq.next_element::<ChatMessage>()? {
                    total += message.content.0;
                }
                Ok(MessagesTokens(total))
            }
        }
        d.deserialize_seq(Messages)
    }
}

impl<'de> Deserialize<'de> for ContentTokens {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Content;
        impl<'de> Visitor<'de> for Content {
            type Value = ContentTokens;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, an array of content parts, or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ContentTokens, E> {
                Ok(ContentTokens(count_tokens(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ContentTokens, E> {
                Ok(ContentTokens(0))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ContentTokens, A::Error> {
                let mut total = 0;
                while let Some(part) = seq.next_element::<ContentPart<'de>>()? {
                    total += part.tokens().map_err(de::Error::custom)?;
                }
                Ok(ContentTokens(total))
            }
        }
        d.deserialize_any(Content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text_is_counted() {
        let body = br#"{"model":"m","messages":[
            {"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"one two"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},
            {"role":"assistant","content":null,"tool_calls":[]}
        ],"max_tokens":3,"max_completion_tokens":7}"#;
        let p = parse(body).unwrap();
        assert_eq!((p.prompt_tokens, p.max_tokens), (4 + 576, Some(7)));
        let bad = parse(br#"{"messages":[{"content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}"#);
        let bad = bad.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            bad.contains("image_url.url: not a readable PNG, JPEG or WebP image"),
            "{bad}"
        );
        let clip = ibench_core::media::base64(&ibench_core::media::wav::silent(2.0));
        let body = format!(
            r#"{{"messages":[{{"content":[{{"type":"input_audio","input_audio":{{"data":"{clip}","format":"wav"}}}},{{"type":"text","text":"one"}}]}}]}}"#
        );
        assert_eq!(parse(body.as_bytes()).unwrap().prompt_tokens, 50 + 1);
        for bad in [
            r#"{"messages":[{"content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}"#,
            r#"{"messages":[{"content":[{"type":"input_audio"}]}]}"#,
        ] {
            let error = parse(bad.as_bytes()).err().map(|e| e.to_string());
            assert!(error.unwrap_or_default().contains("input_audio"), "{bad}");
        }
        let video = ibench_core::media::base64(
            &ibench_core::media::mp4::solid(28, 28, 4, [1, 2, 3]).unwrap(),
        );
        let body = format!(
            r#"{{"messages":[{{"content":[{{"type":"video_url","video_url":{{"url":"data:video/mp4;base64,{video}"}}}}]}}]}}"#
        );
        assert_eq!(
            parse(body.as_bytes()).unwrap().prompt_tokens,
            4,
            "a tile per frame"
        );
        for bad in [
            r#"{"messages":[{"content":[{"type":"video_url","video_url":{"url":"data:video/mp4;base64,AAAA"}}]}]}"#,
            r#"{"messages":[{"content":[{"type":"video_url"}]}]}"#,
        ] {
            let error = parse(bad.as_bytes()).err().map(|e| e.to_string());
            assert!(error.unwrap_or_default().contains("video_url"), "{bad}");
        }
        assert!(parse(br#"{"messages":"hi"}"#).is_err());
        assert!(parse(br#"{"messages":[{"content":5}]}"#).is_err());
    }
}
