//! The output of one request: how many tokens and which words, drawn from the request's own
//! random stream so that a seed fixes the text.

use std::fmt;

use rand::RngExt;
use rand_pcg::Pcg64Mcg;

use super::metrics::FinishReason;
use ibench_core::tokenize::{self, VOCAB_SIZE};

#[derive(Debug)]
pub(crate) struct Generation {
    rng: Pcg64Mcg,
    total: usize,
    emitted: usize,
    finish: FinishReason,
    json: bool,
}

/// One output token. Every token but the first carries a leading space, so that the built-in
/// tokenizer counts exactly one token per token, in each chunk and in the concatenated text.
/// A JSON answer is `{"text":"<words>"}`: the first token opens it and the last closes it,
/// without spaces, so the counts stay the same.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub index: usize,
    word: &'static str,
    json: bool,
    last: bool,
}

const JSON_OPEN: &str = r#"{"text":""#;
const JSON_CLOSE: &str = r#""}"#;

impl Generation {
    /// `max_tokens` tokens with `ignore_eos`, else a uniformly random length in 1..=max_tokens
    /// (an early stop is reported as finish reason `stop`); `json`: the text is a JSON object.
    pub fn new(mut rng: Pcg64Mcg, max_tokens: usize, ignore_eos: bool, json: bool) -> Generation {
        let total = if ignore_eos {
            max_tokens
        } else {
            rng.random_range(1..=max_tokens)
        };
        let finish = if total == max_tokens {
            FinishReason::Length
        } else {
            FinishReason::Stop
        };
        Generation {
            rng,
            total,
            emitted: 0,
            finish,
            json,
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn emitted(&self) -> usize {
        self.emitted
    }

    pub fn finish(&self) -> FinishReason {
        self.finish
    }

    pub fn is_done(&self) -> bool {
        self.emitted == self.total
    }

    pub fn next_token(&mut self) -> Option<Token> {
        if self.is_done() {
            return None;
        }
        let token = Token {
            index: self.emitted,
            word: tokenize::word(self.rng.random_range(0..VOCAB_SIZE)),
            json: self.json,
            last: self.emitted + 1 == self.total,
        };
        self.emitted += 1;
        Some(token)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.index > 0 {
            f.write_str(" ")?;
        } else if self.json {
            f.write_str(JSON_OPEN)?;
        }
        f.write_str(self.word)?;
        if self.json && self.last {
            f.write_str(JSON_CLOSE)?;
        }
        Ok(())
    }
}

impl serde::Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibench_core::tokenize::count_tokens;
    use rand::SeedableRng;

    #[test]
    fn token_counts_agree_with_the_tokenizer() {
        for seed in 0..50 {
            let json = seed % 3 == 0;
            let mut generation =
                Generation::new(Pcg64Mcg::seed_from_u64(seed), 20, seed % 2 == 0, json);
            let mut text = String::new();
            while let Some(token) = generation.next_token() {
                assert_eq!(count_tokens(&token.to_string()), 1);
                text.push_str(&token.to_string());
            }
            assert_eq!(count_tokens(&text), generation.total());
            if json {
                let object: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    count_tokens(object["text"].as_str().unwrap()),
                    generation.total()
                );
            }
            assert!((1..=20).contains(&generation.total()));
            assert_eq!(
                generation.finish() == FinishReason::Length,
                generation.total() == 20
            );
        }
    }
}
