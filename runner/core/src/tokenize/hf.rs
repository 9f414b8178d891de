//! A Hugging Face `tokenizer.json`, read with the `tokenizers` crate (no download, no Python).

use std::path::Path;

use rand::RngExt;

use super::byte_level::ByteLevelCounter;
use super::chat_template::ChatTemplate;

/// Rounds of decode → re-encode → trim/extend before giving up on an exact length
/// (inference-perf's bound).
const MAX_FIT_ROUNDS: usize = 20;

pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    /// Ids random text may use: the vocabulary without special tokens.
    ordinary_ids: Vec<u32>,
    /// The cheap exact count, where the tokenizer's pipeline allows it.
    byte_level: Option<ByteLevelCounter>,
}

impl std::fmt::Debug for HfTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfTokenizer")
            .field("vocabulary", &self.ordinary_ids.len())
            .field("byte_level_counts", &self.byte_level.is_some())
            .finish()
    }
}

impl HfTokenizer {
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| e.to_string())?;
        let special: std::collections::HashSet<u32> = inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, token)| token.special)
            .map(|(id, _)| id)
            .collect();
        let ordinary_ids: Vec<u32> = (0..inner.get_vocab_size(true) as u32)
            .filter(|id| !special.contains(id) && inner.id_to_token(*id).is_some())
            .collect();
        if ordinary_ids.is_empty() {
            return Err("the vocabulary has no ordinary tokens".into());
        }
        Ok(HfTokenizer {
            byte_level: ByteLevelCounter::for_tokenizer(&inner),
            inner,
            ordinary_ids,
        })
    }

    /// Tokens of `text` without special tokens (as inference-perf counts output).
    pub fn count(&self, text: &str) -> usize {
        self.byte_level
            .as_ref()
            .and_then(|counter| counter.count(self.inner.get_model(), text))
            .unwrap_or_else(|| self.ids(text).len())
    }

    pub fn ids(&self, text: &str) -> Vec<u32> {
        // Encoding plain text only fails on inputs beyond the model's truncation settings,
        // which `tokenizer.json` files for inference leave unset; count nothing then.
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    pub fn random_id(&self, rng: &mut impl rand::Rng) -> u32 {
        self.ordinary_ids[rng.random_range(0..self.ordinary_ids.len())]
    }

    pub(super) fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, true).unwrap_or_default()
    }

    /// Appends text of `tokens` tokens built from `next_id`: decoded ids do not always
    /// re-encode to as many tokens, so the ids are trimmed or extended until the whole text
    /// counts exactly `tokens` more than `out` did (bounded; the closest text otherwise).
    pub fn push_exact(&self, out: &mut String, tokens: usize, next_id: impl FnMut() -> u32) {
        if tokens == 0 {
            return;
        }
        let target = self.count(out) + tokens;
        if let Some(text) = self.fit(target, tokens, next_id, |tail| joined(out, tail)) {
            *out = text;
        }
    }

    /// Appends random text that `template` wraps into a prompt of exactly `tokens` tokens
    /// (inference-perf's `use_chat_template`: the length is the templated prompt's).
    pub fn push_templated(
        &self,
        out: &mut String,
        tokens: usize,
        template: &ChatTemplate,
        rng: &mut impl rand::Rng,
    ) {
        // Renders that fail were ruled out when the template was loaded (it rendered the
        // empty message); one that did would count nothing and be trimmed away.
        let wrap = |text: &str| template.render_user(text).unwrap_or_default();
        if let Some(text) = self.fit(tokens, tokens, || self.random_id(rng), wrap) {
            out.push_str(&text);
        }
    }

    /// The text, as `shape` makes it of the decoded ids, that counts `target` tokens: `initial`
    /// ids from `next_id`, trimmed or extended until it does (bounded; the closest otherwise).
    fn fit(
        &self,
        target: usize,
        initial: usize,
        mut next_id: impl FnMut() -> u32,
        shape: impl Fn(&str) -> String,
    ) -> Option<String> {
        let mut ids: Vec<u32> = (0..initial).map(|_| next_id()).collect();
        let mut best: Option<(usize, String)> = None;
        for _ in 0..MAX_FIT_ROUNDS {
            let candidate = shape(&self.decode(&ids));
            let count = self.count(&candidate);
            let miss = count.abs_diff(target);
            if best.as_ref().is_none_or(|(m, _)| miss < *m) {
                best = Some((miss, candidate));
            }
            if miss == 0 {
                break;
            }
            if count > target {
                let keep = ids.len().saturating_sub(count - target).max(1);
                ids.truncate(keep);
            } else {
                ids.extend((0..target - count).map(|_| next_id()));
            }
        }
        best.map(|(_, text)| text)
    }
}

fn joined(head: &str, tail: &str) -> String {
    if head.is_empty() {
        tail.to_string()
    } else {
        format!("{head} {tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::Tokenizer;
    use rand::SeedableRng;
    use std::time::Duration;

    /// A small word-level `tokenizer.json` (whitespace and punctuation split), written to
    /// `dir`.
    fn word_level_tokenizer(dir: &Path) -> std::path::PathBuf {
        let words = [
            "[UNK]", "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", ",", ".",
            "summer", "day", "shall", "compare", "thee",
        ];
        let vocab: serde_json::Map<String, serde_json::Value> = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), serde_json::json!(i)))
            .collect();
        let json = serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false,
                              "rstrip": false, "normalized": false, "special": true}],
            "normalizer": null,
            "pre_tokenizer": {"type": "Whitespace"},
            "post_processor": null,
            "decoder": null,
            "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
        });
        let path = dir.join("tokenizer.json");
        std::fs::write(&path, json.to_string()).unwrap();
        path
    }

    #[test]
    fn a_tokenizer_json_counts_and_writes_exact_lengths() {
        let dir = tempfile::tempdir().unwrap();
        word_level_tokenizer(dir.path());
        // A directory holding tokenizer.json is accepted as well as the file.
        let tokenizer = Tokenizer::load(Some(dir.path().to_str().unwrap()), DEADLINE).unwrap();
        assert!(matches!(tokenizer, Tokenizer::Hf(_)));
        // Punctuation is its own token here, unlike the built-in tokenizer.
        assert_eq!(tokenizer.count("the quick, brown fox."), 6);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        for n in [1, 7, 40] {
            let mut text = "shall I".to_string();
            let before = tokenizer.count(&text);
            tokenizer.push_random(&mut text, &mut rng, n);
            assert_eq!(tokenizer.count(&text), before + n, "{text:?}");
            assert!(!text.contains("[UNK]"), "special tokens are never drawn");
        }
        let corpus = tokenizer.corpus("shall I compare thee to a summer's day");
        let mut text = String::new();
        tokenizer.push_corpus(&mut text, &corpus, 2, 5);
        assert_eq!(tokenizer.count(&text), 5);

        // Output: per chunk, and the whole text.
        let mut counter = tokenizer.output_counter();
        assert_eq!(counter.feed("the quick"), 2);
        assert_eq!(counter.feed(" fox."), 2);
        assert_eq!(counter.total(), 4);
    }

    #[test]
    fn a_missing_tokenizer_names_the_field_and_the_fix() {
        let error = Tokenizer::load(Some("meta-llama/Llama-3.1-8B"), DEADLINE).unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("tokenizer.pretrained_model_name_or_path: meta-llama/Llama-3.1-8B")
                && text.contains("not downloaded"),
            "{text}"
        );
        assert!(matches!(
            Tokenizer::load(None, DEADLINE),
            Ok(Tokenizer::BuiltIn)
        ));
    }

    const DEADLINE: Duration = Duration::from_secs(300);

    #[test]
    fn a_tokenizer_that_does_not_load_in_time_names_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokenizer.json");
        // Opening a FIFO blocks until a writer comes: a file system that hangs.
        nix::unistd::mkfifo(&file, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let started = std::time::Instant::now();
        let error = Tokenizer::load(file.to_str(), Duration::from_millis(200)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        let text = error.to_string();
        assert!(
            text.starts_with("tokenizer.load_timeout: loading ") && text.contains("0.2 s"),
            "{text}"
        );
        // Lets the reading thread finish.
        drop(std::fs::OpenOptions::new().write(true).open(&file));
    }
}
