//! The built-in tokenizer, shared by the runner and the simulator so that their token counts
//! agree exactly: a token is a maximal run of non-whitespace characters.
//!
//! It is deliberately simple and fast (no vocabulary lookups); prompts generated from
//! [`word`]s joined by single spaces have exactly as many tokens as words.

use std::sync::OnceLock;

use rand::RngExt;

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
