//! OpenAI request bodies, byte-for-byte reproducible from the plan.

use serde::Serialize;

use crate::config::ApiType;

#[derive(Debug, Clone)]
pub struct BodyTemplate {
    pub api: ApiType,
    pub ignore_eos: bool,
    pub stream: bool,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct Completion<'a> {
    model: &'a str,
    prompt: &'a str,
    max_tokens: u32,
    ignore_eos: bool,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct Chat<'a> {
    model: &'a str,
    messages: [Message<'a>; 1],
    max_tokens: u32,
    ignore_eos: bool,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

impl BodyTemplate {
    pub fn path(&self) -> &'static str {
        match self.api {
            ApiType::Completion => "/v1/completions",
            ApiType::Chat => "/v1/chat/completions",
        }
    }

    pub fn render(&self, model: &str, prompt: &str, max_tokens: u32) -> Vec<u8> {
        let stream_options = self.stream.then_some(StreamOptions {
            include_usage: true,
        });
        let (ignore_eos, stream) = (self.ignore_eos, self.stream);
        match self.api {
            ApiType::Completion => serde_json::to_vec(&Completion {
                model,
                prompt,
                max_tokens,
                ignore_eos,
                stream,
                stream_options,
            }),
            ApiType::Chat => serde_json::to_vec(&Chat {
                model,
                messages: [Message {
                    role: "user",
                    content: prompt,
                }],
                max_tokens,
                ignore_eos,
                stream,
                stream_options,
            }),
        }
        .expect("request bodies serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_inference_perf() {
        let completion = BodyTemplate {
            api: ApiType::Completion,
            ignore_eos: true,
            stream: true,
        };
        assert_eq!(
            String::from_utf8(completion.render("m", "hi there", 7)).unwrap(),
            r#"{"model":"m","prompt":"hi there","max_tokens":7,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}"#
        );
        let chat = BodyTemplate {
            api: ApiType::Chat,
            ignore_eos: false,
            stream: false,
        };
        assert_eq!(chat.path(), "/v1/chat/completions");
        assert_eq!(
            String::from_utf8(chat.render("a", "q", 3)).unwrap(),
            r#"{"model":"a","messages":[{"role":"user","content":"q"}],"max_tokens":3,"ignore_eos":false,"stream":false}"#
        );
    }
}
