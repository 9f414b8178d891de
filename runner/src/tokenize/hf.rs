//! A Hugging Face `tokenizer.json`, read with the `tokenizers` crate (no download, no Python).

use std::path::Path;

use rand::RngExt;

/// Rounds of decode → re-encode → trim/extend before giving up on an exact length
/// (inference-perf's bound).
const MAX_FIT_ROUNDS: usize = 20;

pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    /// Ids random text may use: the vocabulary without special tokens.
    ordinary_ids: Vec<u32>,
}

impl std::fmt::Debug for HfTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfTokenizer")
            .field("vocabulary", &self.ordinary_ids.len())
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
            inner,
            ordinary_ids,
        })
    }

    /// Tokens of `text` without special tokens (as inference-perf counts output).
    pub fn count(&self, text: &str) -> usize {
        self.ids(text).len()
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

    fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, true).unwrap_or_default()
    }

    /// Appends text of `tokens` tokens built from `next_id`: decoded ids do not always
    /// re-encode to as many tokens, so the ids are trimmed or extended until the whole text
    /// counts exactly `tokens` more than `out` did (bounded; the closest text otherwise).
    pub fn push_exact(&self, out: &mut String, tokens: usize, mut next_id: impl FnMut() -> u32) {
        if tokens == 0 {
            return;
        }
        let head_tokens = self.count(out);
        let target = head_tokens + tokens;
        let mut ids: Vec<u32> = (0..tokens).map(|_| next_id()).collect();
        let mut best: Option<(usize, String)> = None;
        for _ in 0..MAX_FIT_ROUNDS {
            let candidate = joined(out, &self.decode(&ids));
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
        if let Some((_, text)) = best {
            *out = text;
        }
    }
}

fn joined(head: &str, tail: &str) -> String {
    if head.is_empty() {
        tail.to_string()
    } else {
        format!("{head} {tail}")
    }
}
