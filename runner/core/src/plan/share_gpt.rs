//! ShareGPT conversations from a local JSON file (a list of `{"conversations": [{"from",
//! "value"}, …]}`, e.g. `ShareGPT_V3_unfiltered_cleaned_split.json`). Nothing is downloaded.
//!
//! Each usable conversation gives one request, as inference-perf's completion mode does: the
//! first human turn is the prompt and the token count of the gpt turn answering it is
//! `max_tokens`. `input_distribution`/`output_distribution` `min` and `max` filter them. The file
//! is read element by element, keeping only the pairs, so a large file needs little more memory
//! than the prompts it yields.

use std::fmt;
use std::io::BufReader;

use serde::Deserialize;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};

use crate::config::Distribution;
use crate::tokenize::Tokenizer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePair {
    pub prompt: String,
    pub output_tokens: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ShareGptError {
    #[error("data.path: cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("data.path: {path} is not a ShareGPT JSON list of conversations: {source}")]
    Format {
        path: String,
        source: serde_json::Error,
    },
    #[error(
        "data.path: no conversation in {path} has a human turn answered by a gpt turn within the length limits of data.input_distribution/output_distribution"
    )]
    Empty { path: String },
}

#[derive(Deserialize)]
struct Conversation {
    #[serde(default)]
    conversations: Vec<Turn>,
}

#[derive(Deserialize)]
struct Turn {
    from: String,
    value: String,
}

/// Inclusive token-count limits.
#[derive(Clone, Copy)]
pub(super) struct Limits {
    min: i64,
    max: i64,
}

impl Limits {
    pub(super) fn of(d: Option<&Distribution>, min: i64) -> Limits {
        d.map_or(Limits { min, max: i64::MAX }, |d| Limits {
            min: d.min.max(min),
            max: d.max,
        })
    }

    pub(super) fn admit(self, tokens: usize) -> bool {
        (self.min..=self.max).contains(&(tokens as i64))
    }
}

struct Pairs<'a> {
    tokenizer: &'a Tokenizer,
    input: Limits,
    output: Limits,
}

impl<'de> DeserializeSeed<'de> for Pairs<'_> {
    type Value = Vec<SharePair>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Pairs<'_> {
    type Value = Vec<SharePair>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of conversations")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::new();
        while let Some(conversation) = seq.next_element::<Conversation>()? {
            let turns = &conversation.conversations;
            let (Some(question), Some(answer)) = (turns.first(), turns.get(1)) else {
                continue;
            };
            if question.from != "human" || answer.from != "gpt" {
                continue;
            }
            let input = self.tokenizer.count(&question.value);
            let output = self.tokenizer.count(&answer.value);
            if self.input.admit(input) && self.output.admit(output) {
                pairs.push(SharePair {
                    prompt: question.value.clone(),
                    output_tokens: output.min(u32::MAX as usize) as u32,
                });
            }
        }
        Ok(pairs)
    }
}

pub fn read(
    path: &str,
    tokenizer: &Tokenizer,
    input: Option<&Distribution>,
    output: Option<&Distribution>,
) -> Result<Vec<SharePair>, ShareGptError> {
    let file = std::fs::File::open(path).map_err(|source| ShareGptError::Read {
        path: path.into(),
        source,
    })?;
    let mut deserializer = serde_json::Deserializer::from_reader(BufReader::new(file));
    let seed = Pairs {
        tokenizer,
        input: Limits::of(input, 1),
        // An answer of no tokens cannot be asked for (max_tokens >= 1).
        output: Limits::of(output, 1),
    };
    let pairs = seed
        .deserialize(&mut deserializer)
        .and_then(|pairs| deserializer.end().map(|()| pairs))
        .map_err(|source| ShareGptError::Format {
            path: path.into(),
            source,
        })?;
    if pairs.is_empty() {
        return Err(ShareGptError::Empty { path: path.into() });
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_first_questions_and_answer_lengths_within_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sharegpt.json");
        std::fs::write(
            &path,
            serde_json::json!([
                {"id": "a", "conversations": [
                    {"from": "human", "value": "what is two plus two"},
                    {"from": "gpt", "value": "it is four"},
                    {"from": "human", "value": "thanks"}]},
                {"id": "b", "conversations": [{"from": "human", "value": "alone"}]},
                {"id": "c", "conversations": [
                    {"from": "gpt", "value": "I start"}, {"from": "human", "value": "odd"}]},
                {"id": "d", "conversations": [
                    {"from": "human", "value": "one two three four five six seven eight"},
                    {"from": "gpt", "value": "short"}]},
            ])
            .to_string(),
        )
        .unwrap();
        let path = path.display().to_string();
        let all = read(&path, &Tokenizer::BuiltIn, None, None).unwrap();
        assert_eq!(
            all,
            vec![
                SharePair {
                    prompt: "what is two plus two".into(),
                    output_tokens: 3
                },
                SharePair {
                    prompt: "one two three four five six seven eight".into(),
                    output_tokens: 1
                },
            ]
        );
        let short_prompts = Distribution {
            min: 1,
            max: 5,
            ..Default::default()
        };
        let filtered = read(&path, &Tokenizer::BuiltIn, Some(&short_prompts), None).unwrap();
        assert_eq!(filtered.len(), 1);
        let none = Distribution {
            min: 50,
            max: 60,
            ..Default::default()
        };
        assert!(matches!(
            read(&path, &Tokenizer::BuiltIn, None, Some(&none)),
            Err(ShareGptError::Empty { .. })
        ));
        assert!(matches!(
            read("/nonexistent.json", &Tokenizer::BuiltIn, None, None),
            Err(ShareGptError::Read { .. })
        ));
    }
}
