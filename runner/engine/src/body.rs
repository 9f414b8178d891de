//! OpenAI and Anthropic request bodies, byte-for-byte reproducible from the plan (and, for
//! multi-turn chat, the conversation so far).

use serde::Serialize;

use ibench_core::config::ApiType;
use ibench_core::plan::MediaPart;
use ibench_core::plan::sessions::{
    Message as RecordedMessage, MessagesApiInput, Recorded, ToolOffer,
};

use crate::conversation::Turn;

/// What a prompt is made of. A completion prompt is the parts joined by single spaces (so the
/// built-in tokenizer's counts add up); a chat request sends them as messages (Anthropic's
/// Messages API the system part as its `system` field).
#[derive(Debug, Clone, Copy)]
pub struct PromptParts<'a> {
    /// Shared prefix: a `system` message.
    pub system: Option<&'a str>,
    /// Earlier rounds of the conversation: `user` and `assistant` messages.
    pub history: &'a [Turn],
    /// The new `user` message.
    pub user: &'a str,
    /// Multimodal chat: the new `user` message is content parts, its text split around these
    /// media (see [`RequestData::media`](ibench_core::plan::RequestData::media)).
    pub media: Option<&'a [MediaPart]>,
}

impl PromptParts<'_> {
    /// The completion prompt.
    pub fn text(&self) -> String {
        let mut text = String::new();
        let mut push = |part: &str| {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(part);
        };
        self.system.into_iter().for_each(&mut push);
        for turn in self.history {
            push(&turn.user);
            push(&turn.assistant);
        }
        push(self.user);
        text
    }

    /// The messages, the system part among them or not.
    fn messages(&self, with_system: bool) -> Vec<Message<'_>> {
        let mut messages = Vec::with_capacity(2 + 2 * self.history.len());
        if let Some(system) = self.system.filter(|_| with_system) {
            messages.push(Message {
                role: "system",
                content: Content::Text(system),
            });
        }
        for turn in self.history {
            messages.push(Message {
                role: "user",
                content: Content::Text(&turn.user),
            });
            messages.push(Message {
                role: "assistant",
                content: Content::Text(&turn.assistant),
            });
        }
        messages.push(Message {
            role: "user",
            content: match self.media {
                None => Content::Text(self.user),
                Some(media) => Content::Parts(parts(self.user, media)),
            },
        });
        messages
    }
}

/// inference-perf's `assemble_content`: the text up to each medium's place, the medium's parts
/// (an image's `image_url`, a video's `image_url` per frame or its MP4's `video_url`, a clip's
/// `input_audio`), and the
/// rest of the text; the text alone (even empty) when there are no media.
fn parts<'a>(text: &'a str, media: &'a [MediaPart]) -> Vec<Part<'a>> {
    if media.is_empty() {
        return vec![Part::Text { text }];
    }
    let mut parts = Vec::with_capacity(2 * media.len() + 1);
    let mut done = 0;
    for medium in media {
        let at = medium.at();
        if at > done {
            parts.push(Part::Text {
                text: &text[done..at],
            });
            done = at;
        }
        let image = |url: &'a str| Part::ImageUrl {
            image_url: ImageUrl { url },
        };
        match medium {
            MediaPart::Image(p) => parts.push(image(&p.url)),
            MediaPart::Frames(p) => parts.extend(p.frames.iter().map(|url| image(url))),
            MediaPart::Video(p) => parts.push(Part::VideoUrl {
                video_url: ImageUrl { url: &p.url },
            }),
            MediaPart::Audio(p) => parts.push(Part::InputAudio {
                input_audio: InputAudio {
                    data: &p.data,
                    format: "wav",
                },
            }),
        }
    }
    if done < text.len() {
        parts.push(Part::Text {
            text: &text[done..],
        });
    }
    parts
}

#[derive(Debug, Clone)]
pub struct BodyTemplate {
    pub api: ApiType,
    pub ignore_eos: bool,
    pub stream: bool,
    /// `api.response_format`'s request field (chat and completion bodies).
    pub response_format: Option<serde_json::Value>,
    /// Completions' `add_special_tokens`: `false` for prompts that hold the chat template's
    /// special tokens already (`data.use_chat_template`), so the server adds no second BOS.
    pub add_special_tokens: Option<bool>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct Completion<'a> {
    model: &'a str,
    prompt: String,
    max_tokens: u32,
    ignore_eos: bool,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    add_special_tokens: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Content<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(&'a str),
    Parts(Vec<Part<'a>>),
}

/// An OpenAI chat content part.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl<'a> },
    VideoUrl { video_url: ImageUrl<'a> },
    InputAudio { input_audio: InputAudio<'a> },
}

/// An `image_url`'s or `video_url`'s object.
#[derive(Serialize)]
struct ImageUrl<'a> {
    url: &'a str,
}

#[derive(Serialize)]
struct InputAudio<'a> {
    /// Base64 of the clip's bytes.
    data: &'a str,
    format: &'static str,
}

/// A chat body; a session call's recorded messages come with their tools and `tool_choice`.
#[derive(Serialize)]
struct Chat<'a, M> {
    model: &'a str,
    messages: M,
    max_tokens: u32,
    ignore_eos: bool,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a serde_json::Value>,
}

/// inference-perf's Anthropic body: no `ignore_eos` or `stream_options`, which the Messages
/// API does not have; a session call's tools and `tool_choice`.
#[derive(Serialize)]
struct Messages<'a, M, S> {
    model: &'a str,
    messages: M,
    max_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<S>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a serde_json::Value>,
}

impl BodyTemplate {
    pub fn path(&self) -> &'static str {
        match self.api {
            ApiType::Completion => "/v1/completions",
            ApiType::Chat => "/v1/chat/completions",
            ApiType::AnthropicMessages => "/v1/messages",
        }
    }

    /// The body asking `model` for at most `max_tokens`, with the tools a session call is
    /// offered (`tools`); an answer to a call that `offers_tools` ends where the model ends it
    /// (see [`RequestData::offers_tools`](ibench_core::plan::RequestData)).
    pub fn render(
        &self,
        model: &str,
        prompt: &PromptParts<'_>,
        max_tokens: u32,
        (offers_tools, tools): (bool, &ToolOffer),
    ) -> Vec<u8> {
        let stream_options = self.stream.then_some(StreamOptions {
            include_usage: true,
        });
        let (ignore_eos, stream) = (self.ignore_eos && !offers_tools, self.stream);
        let response_format = self.response_format.as_ref();
        match self.api {
            ApiType::Completion => serde_json::to_vec(&Completion {
                model,
                prompt: prompt.text(),
                max_tokens,
                ignore_eos,
                stream,
                stream_options,
                add_special_tokens: self.add_special_tokens,
                response_format,
            }),
            ApiType::Chat => serde_json::to_vec(&Chat {
                model,
                messages: prompt.messages(true),
                max_tokens,
                ignore_eos,
                stream,
                stream_options,
                response_format,
                tools: tools.tools.as_deref(),
                tool_choice: tools.tool_choice.as_ref(),
            }),
            ApiType::AnthropicMessages => serde_json::to_vec(&Messages {
                model,
                messages: prompt.messages(false),
                max_tokens,
                stream,
                system: prompt.system,
                tools: tools.tools.as_deref(),
                tool_choice: tools.tool_choice.as_ref(),
            }),
        }
        .expect("request bodies serialise")
    }

    /// The body sending `messages` with `recorded`'s tools and `tool_choice` (both in the API's
    /// shapes); like every call offered tools, a chat call with tools ends its answer itself
    /// (the Messages API has no `ignore_eos`).
    pub fn render_recorded(
        &self,
        model: &str,
        messages: &[RecordedMessage],
        recorded: &Recorded,
        max_tokens: u32,
        offers_tools: bool,
    ) -> Vec<u8> {
        let offer = &recorded.offer;
        let (tools, tool_choice) = (offer.tools.as_deref(), offer.tool_choice.as_ref());
        match self.api {
            ApiType::AnthropicMessages => {
                let input = MessagesApiInput::new(messages);
                serde_json::to_vec(&Messages {
                    model,
                    messages: input.messages,
                    max_tokens,
                    stream: self.stream,
                    system: input.system,
                    tools,
                    tool_choice,
                })
            }
            ApiType::Chat | ApiType::Completion => serde_json::to_vec(&Chat {
                model,
                messages,
                max_tokens,
                ignore_eos: self.ignore_eos && !offers_tools,
                stream: self.stream,
                stream_options: self.stream.then_some(StreamOptions {
                    include_usage: true,
                }),
                response_format: self.response_format.as_ref(),
                tools,
                tool_choice,
            }),
        }
        .expect("request bodies serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_TOOLS: (bool, &ToolOffer) = (
        false,
        &ToolOffer {
            tools: None,
            counted_text: None,
            tool_choice: None,
        },
    );

    /// A chat template without streaming or extras.
    fn chat() -> BodyTemplate {
        BodyTemplate {
            api: ApiType::Chat,
            ignore_eos: false,
            stream: false,
            response_format: None,
            add_special_tokens: None,
        }
    }

    fn single(user: &str) -> PromptParts<'_> {
        PromptParts {
            system: None,
            history: &[],
            user,
            media: None,
        }
    }

    #[test]
    fn conversations_become_messages_or_one_prompt() {
        let history = [Turn {
            user: "q0".into(),
            assistant: "a0".into(),
        }];
        let parts = PromptParts {
            system: Some("sys"),
            history: &history,
            user: "q1",
            media: None,
        };
        assert_eq!(parts.text(), "sys q0 a0 q1");
        let chat = BodyTemplate {
            api: ApiType::Chat,
            ignore_eos: true,
            stream: false,
            response_format: None,
            add_special_tokens: None,
        };
        let body: serde_json::Value =
            serde_json::from_slice(&chat.render("m", &parts, 5, NO_TOOLS)).unwrap();
        assert_eq!(
            body["messages"],
            serde_json::json!([
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "q0"},
                {"role": "assistant", "content": "a0"},
                {"role": "user", "content": "q1"},
            ])
        );
    }

    #[test]
    fn media_split_the_text_as_inference_perf_assembles_content() {
        use ibench_core::plan::{AudioPart, FramesPart, ImagePart, VideoPart};
        let image = |at: usize, url: &str| {
            MediaPart::Image(ImagePart {
                at,
                url: url.into(),
                width: 1,
                height: 1,
                bytes: 1,
            })
        };
        let chat = chat();
        let content = |user: &str, media: &[MediaPart]| {
            let parts = PromptParts {
                media: Some(media),
                ..single(user)
            };
            let body: serde_json::Value =
                serde_json::from_slice(&chat.render("m", &parts, 1, NO_TOOLS)).unwrap();
            body["messages"][0]["content"].clone()
        };
        let text = |t: &str| serde_json::json!({"type": "text", "text": t});
        let url = |u: &str| serde_json::json!({"type": "image_url", "image_url": {"url": u}});
        assert_eq!(content("", &[]), serde_json::json!([text("")]));
        assert_eq!(
            content(
                "abcd",
                &[image(0, "a"), image(2, "b"), image(2, "c"), image(4, "d")]
            ),
            serde_json::json!([
                url("a"),
                text("ab"),
                url("b"),
                url("c"),
                text("cd"),
                url("d")
            ])
        );
        assert_eq!(content("", &[image(0, "x")]), serde_json::json!([url("x")]));
        let video = MediaPart::Frames(FramesPart {
            at: 1,
            frames: vec!["f1".into(), "f2".into()],
            width: 1,
            height: 1,
            bytes: 2,
        });
        let clip = MediaPart::Audio(AudioPart {
            at: 2,
            data: "UklGRg==".into(),
            seconds: 1.0,
            bytes: 4,
        });
        let mp4 = MediaPart::Video(VideoPart {
            at: 2,
            url: "data:video/mp4;base64,AAAA".into(),
            width: 2,
            height: 2,
            frames: 3,
            bytes: 3,
        });
        assert_eq!(
            content("ab", &[video, clip, mp4]),
            serde_json::json!([
                text("a"),
                url("f1"),
                url("f2"),
                text("b"),
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}},
            ])
        );
    }

    #[test]
    fn an_answer_to_a_call_offering_tools_may_end_early_whatever_the_run_asks() {
        let template = BodyTemplate {
            ignore_eos: true,
            ..chat()
        };
        let ignore_eos = |offers_tools| {
            let body: serde_json::Value = serde_json::from_slice(&template.render(
                "m",
                &single("q"),
                9,
                (offers_tools, &ToolOffer::default()),
            ))
            .unwrap();
            body["ignore_eos"].clone()
        };
        assert_eq!(ignore_eos(false), true);
        assert_eq!(ignore_eos(true), false);
    }

    #[test]
    fn bodies_match_inference_perf() {
        let completion = BodyTemplate {
            api: ApiType::Completion,
            ignore_eos: true,
            stream: true,
            response_format: None,
            add_special_tokens: None,
        };
        assert_eq!(
            String::from_utf8(completion.render("m", &single("hi there"), 7, NO_TOOLS)).unwrap(),
            r#"{"model":"m","prompt":"hi there","max_tokens":7,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}"#
        );
        let chat = chat();
        assert_eq!(chat.path(), "/v1/chat/completions");
        assert_eq!(
            String::from_utf8(chat.render("a", &single("q"), 3, NO_TOOLS)).unwrap(),
            r#"{"model":"a","messages":[{"role":"user","content":"q"}],"max_tokens":3,"ignore_eos":false,"stream":false}"#
        );
        let anthropic = BodyTemplate {
            api: ApiType::AnthropicMessages,
            ignore_eos: true,
            stream: true,
            response_format: None,
            add_special_tokens: None,
        };
        assert_eq!(anthropic.path(), "/v1/messages");
        assert_eq!(
            String::from_utf8(anthropic.render("c", &single("q"), 4, NO_TOOLS)).unwrap(),
            r#"{"model":"c","messages":[{"role":"user","content":"q"}],"max_tokens":4,"stream":true}"#
        );
        let parts = PromptParts {
            system: Some("sys"),
            history: &[],
            user: "q",
            media: None,
        };
        assert_eq!(
            String::from_utf8(anthropic.render("c", &parts, 4, NO_TOOLS)).unwrap(),
            r#"{"model":"c","messages":[{"role":"user","content":"q"}],"max_tokens":4,"stream":true,"system":"sys"}"#
        );
        // Structured output goes last, as inference-perf adds it to the finished body.
        let structured = BodyTemplate {
            response_format: Some(serde_json::json!({"type": "json_object"})),
            add_special_tokens: Some(false),
            ..completion
        };
        assert_eq!(
            String::from_utf8(structured.render("m", &single("hi"), 2, NO_TOOLS)).unwrap(),
            r#"{"model":"m","prompt":"hi","max_tokens":2,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true},"add_special_tokens":false,"response_format":{"type":"json_object"}}"#
        );
    }
}
