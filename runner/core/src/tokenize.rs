//! Tokenizers. The built-in one is shared by the runner and the simulator so that their token
//! counts agree exactly: a token is a maximal run of non-whitespace characters. It is
//! deliberately simple and fast (no vocabulary lookups); prompts generated from [`word`]s joined
//! by single spaces have exactly as many tokens as words.
//!
//! [`Tokenizer`] is what the rest of the runner uses: the built-in tokenizer, or a Hugging Face
//! `tokenizer.json` (`tokenizer.pretrained_model_name_or_path`) to count like the model does.

mod byte_level;
mod chat_template;
mod hf;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rand::RngExt;

pub use chat_template::{ChatTemplate, ChatTemplateError};
pub use hf::HfTokenizer;

/// A run's tokenizer: counts prompt and output tokens, and writes prompts of exact lengths.
#[derive(Debug, Clone, Default)]
pub enum Tokenizer {
    #[default]
    BuiltIn,
    Hf(Arc<HfTokenizer>),
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error(
        "tokenizer.pretrained_model_name_or_path: {path} is neither a tokenizer.json file nor a directory holding one (models are not downloaded: save the model's tokenizer.json locally and give its path)"
    )]
    NotFound { path: String },
    #[error("tokenizer.pretrained_model_name_or_path: cannot load {path}: {reason}")]
    Load { path: String, reason: String },
    #[error(
        "tokenizer.load_timeout: loading {path} took more than {seconds} s; raise tokenizer.load_timeout (a slow or network file system) or copy the tokenizer to a local disk"
    )]
    Timeout { path: String, seconds: f64 },
}

impl Tokenizer {
    /// The configured tokenizer: a local `tokenizer.json` (or a directory holding one), else the
    /// built-in one; refused if reading it takes longer than `deadline`.
    pub fn load(path: Option<&str>, deadline: Duration) -> Result<Tokenizer, TokenizerError> {
        let Some(path) = path else {
            return Ok(Tokenizer::BuiltIn);
        };
        let given = Path::new(path);
        let file = if given.is_dir() {
            given.join("tokenizer.json")
        } else {
            given.to_path_buf()
        };
        if !file.exists() || file.is_dir() {
            return Err(TokenizerError::NotFound { path: path.into() });
        }
        let shown = file.display().to_string();
        // A file system that hangs (a lost network mount) must not hang the run: the reading
        // thread is left behind, and the run refused.
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("tokenizer-load".into())
            .spawn(move || {
                let _ = sender.send(HfTokenizer::from_file(&file));
            })
            .map_err(|e| TokenizerError::Load {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        match receiver.recv_timeout(deadline) {
            Ok(loaded) => loaded
                .map(|t| Tokenizer::Hf(Arc::new(t)))
                .map_err(|reason| TokenizerError::Load {
                    path: shown,
                    reason,
                }),
            Err(_) => Err(TokenizerError::Timeout {
                path: shown,
                seconds: deadline.as_secs_f64(),
            }),
        }
    }

    pub fn count(&self, text: &str) -> usize {
        match self {
            Tokenizer::BuiltIn => count_tokens(text),
            Tokenizer::Hf(t) => t.count(text),
        }
    }

    /// Counts the tokens of a streamed answer chunk by chunk.
    pub fn output_counter(&self) -> OutputCounter {
        match self {
            Tokenizer::BuiltIn => OutputCounter::BuiltIn {
                stream: TokenStream::default(),
                fed: 0,
            },
            Tokenizer::Hf(t) => OutputCounter::Hf {
                tokenizer: t.clone(),
                text: String::new(),
            },
        }
    }

    /// Appends random text of exactly `tokens` tokens, separated from what `out` holds by a
    /// space.
    pub fn push_random(&self, out: &mut String, rng: &mut impl rand::Rng, tokens: usize) {
        match self {
            Tokenizer::BuiltIn => push_random_words(out, rng, tokens),
            Tokenizer::Hf(t) => t.push_exact(out, tokens, || t.random_id(rng)),
        }
    }

    /// Appends random text that `template` (this tokenizer's chat template) wraps into a
    /// prompt of exactly `tokens` tokens.
    pub fn push_templated(
        &self,
        out: &mut String,
        rng: &mut impl rand::Rng,
        tokens: usize,
        template: &ChatTemplate,
    ) {
        match self {
            Tokenizer::Hf(t) => t.push_templated(out, tokens, template, rng),
            Tokenizer::BuiltIn => {
                unreachable!("validated: a chat template comes with a tokenizer.json")
            }
        }
    }

    /// Splits a corpus into this tokenizer's tokens, for [`push_corpus`](Self::push_corpus).
    pub fn corpus(&self, text: &str) -> Corpus {
        match self {
            Tokenizer::BuiltIn => Corpus::Words(text.split_whitespace().map(Into::into).collect()),
            Tokenizer::Hf(t) => Corpus::Ids(t.ids(text)),
        }
    }

    /// The first `tokens` tokens of `text`, or all of it when it has no more.
    pub fn truncate(&self, text: &str, tokens: usize) -> String {
        let corpus = self.corpus(text);
        if corpus.len() <= tokens {
            return text.to_string();
        }
        let mut out = String::new();
        self.push_corpus(&mut out, &corpus, 0, tokens);
        out
    }

    /// Appends `tokens` consecutive corpus tokens from position `start` (wrapping around), as
    /// text of exactly `tokens` tokens.
    pub fn push_corpus(&self, out: &mut String, corpus: &Corpus, start: usize, tokens: usize) {
        match (self, corpus) {
            // Words joined by spaces count exactly as many tokens.
            (Tokenizer::BuiltIn, _) => self.push_corpus_runs(out, corpus, [(start, tokens)]),
            (Tokenizer::Hf(t), Corpus::Ids(ids)) if !ids.is_empty() => {
                let mut next = start;
                t.push_exact(out, tokens, || {
                    next += 1;
                    ids[(next - 1) % ids.len()]
                });
            }
            _ => unreachable!("a corpus is split by the tokenizer that reads it, and never empty"),
        }
    }

    /// Appends the corpus tokens of each `(start, tokens)` run in turn (wrapping around),
    /// decoded as one text, as inference-perf decodes a token list: unlike
    /// [`push_corpus`](Self::push_corpus) nothing is fitted to an exact count, so the same runs
    /// always give the same bytes and a text that starts with another's runs starts with its
    /// bytes. Counted again, it has about as many tokens as the runs (exactly, built in).
    pub fn push_corpus_runs(
        &self,
        out: &mut String,
        corpus: &Corpus,
        runs: impl IntoIterator<Item = (usize, usize)>,
    ) {
        match (self, corpus) {
            (Tokenizer::BuiltIn, Corpus::Words(words)) if !words.is_empty() => {
                for (start, tokens) in runs {
                    for k in 0..tokens {
                        if !out.is_empty() {
                            out.push(' ');
                        }
                        out.push_str(&words[(start + k) % words.len()]);
                    }
                }
            }
            (Tokenizer::Hf(t), Corpus::Ids(ids)) if !ids.is_empty() => {
                let picked: Vec<u32> = runs
                    .into_iter()
                    .flat_map(|(start, tokens)| (start..start + tokens).map(|i| ids[i % ids.len()]))
                    .collect();
                out.push_str(&t.decode(&picked));
            }
            _ => unreachable!("a corpus is split by the tokenizer that reads it, and never empty"),
        }
    }
}

/// A corpus in tokenizer units.
#[derive(Debug, Clone)]
pub enum Corpus {
    Words(Vec<Box<str>>),
    Ids(Vec<u32>),
}

impl Corpus {
    pub fn len(&self) -> usize {
        match self {
            Corpus::Words(w) => w.len(),
            Corpus::Ids(ids) => ids.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Output tokens of a streamed answer: per chunk for inter-token latencies, and in total.
#[derive(Debug)]
pub enum OutputCounter {
    BuiltIn {
        stream: TokenStream,
        fed: usize,
    },
    /// inference-perf's rule: each chunk's text tokenized alone gives the chunk's tokens; the
    /// total is the count of the whole text.
    Hf {
        tokenizer: Arc<HfTokenizer>,
        text: String,
    },
}

impl OutputCounter {
    /// Tokens in the next chunk of text.
    pub fn feed(&mut self, piece: &str) -> usize {
        match self {
            OutputCounter::BuiltIn { stream, fed } => {
                let tokens = stream.feed(piece);
                *fed += tokens;
                tokens
            }
            OutputCounter::Hf { tokenizer, text } => {
                text.push_str(piece);
                tokenizer.count(piece)
            }
        }
    }

    /// Tokens of all the text fed so far.
    pub fn total(&self) -> usize {
        match self {
            OutputCounter::BuiltIn { fed, .. } => *fed,
            OutputCounter::Hf { tokenizer, text } => tokenizer.count(text),
        }
    }
}

/// Number of distinct words in the built-in vocabulary.
pub const VOCAB_SIZE: usize = 4096;

pub fn count_tokens(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Counts tokens of a text that arrives in pieces (stream chunks): a word split across two
/// chunks counts once, in the chunk where it starts, so per-chunk counts sum to
/// [`count_tokens`] of the whole text.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenStream {
    in_word: bool,
}

impl TokenStream {
    /// Tokens that start in `piece`.
    pub fn feed(&mut self, piece: &str) -> usize {
        let mut starts = 0;
        for c in piece.chars() {
            let word = !c.is_whitespace();
            starts += usize::from(word && !self.in_word);
            self.in_word = word;
        }
        starts
    }
}

/// Word `index % VOCAB_SIZE` of the built-in vocabulary (pronounceable, lowercase ASCII).
pub fn word(index: usize) -> &'static str {
    &vocabulary()[index % VOCAB_SIZE]
}

/// Appends `tokens` random vocabulary words separated by single spaces.
pub fn push_random_words(out: &mut String, rng: &mut impl rand::Rng, tokens: usize) {
    out.reserve(tokens * 7);
    for i in 0..tokens {
        if i > 0 || !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word(rng.random_range(0..VOCAB_SIZE)));
    }
}

fn vocabulary() -> &'static [String] {
    static VOCAB: OnceLock<Vec<String>> = OnceLock::new();
    VOCAB.get_or_init(|| {
        const ONSETS: [&str; 16] = [
            "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "sh",
        ];
        const VOWELS: [&str; 4] = ["a", "e", "i", "o"];
        // 64 syllables; words of two syllables (4096 of them) cover the vocabulary.
        let syllables: Vec<String> = ONSETS
            .iter()
            .flat_map(|o| VOWELS.iter().map(move |v| format!("{o}{v}")))
            .collect();
        syllables
            .iter()
            .flat_map(|a| syllables.iter().map(move |b| format!("{a}{b}")))
            .take(VOCAB_SIZE)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn corpus_text_has_exactly_the_requested_tokens_and_wraps() {
        let tokenizer = Tokenizer::BuiltIn;
        let corpus = tokenizer.corpus("shall I compare thee\nto a summer's day");
        assert_eq!(corpus.len(), 8);
        let mut out = String::new();
        tokenizer.push_corpus(&mut out, &corpus, 6, 5);
        assert_eq!(out, "summer's day shall I compare");
        assert_eq!(tokenizer.count(&out), 5);
    }

    #[test]
    fn counts_whitespace_separated_runs() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("  hello,\tworld \n again "), 3);
    }

    #[test]
    fn streamed_counts_sum_to_the_whole_text_count() {
        let text = "The quick  brown fox\njumps over";
        for split in 0..text.len() {
            let mut stream = TokenStream::default();
            let (a, b) = text.split_at(split);
            assert_eq!(
                stream.feed(a) + stream.feed(b),
                count_tokens(text),
                "split at {split}"
            );
        }
    }

    #[test]
    fn random_text_has_exactly_the_requested_tokens_and_distinct_words() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        for n in [0, 1, 2, 17, 1000] {
            let mut text = String::new();
            push_random_words(&mut text, &mut rng, n);
            assert_eq!(count_tokens(&text), n);
        }
        let distinct: std::collections::HashSet<_> = (0..VOCAB_SIZE).map(word).collect();
        assert_eq!(distinct.len(), VOCAB_SIZE);
    }
}
