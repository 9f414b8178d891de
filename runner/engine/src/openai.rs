//! What the runner reads of an OpenAI `/v1/completions` or `/v1/chat/completions` answer,
//! whole or streamed chunk.

use serde::Deserialize;

use ibench_core::metrics::Usage;

use crate::answer::{AnswerWire, ResponseParts, Text};

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
