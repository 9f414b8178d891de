//! Token counts of a GPT-2-style byte-level BPE `tokenizer.json` (GPT-2, Llama-2-era and most
//! tokenizers trained with `tokenizers`' `ByteLevel` pre-tokenizer), equal to
//! `encode(text, add_special_tokens=False)`'s length but about a hundred times cheaper.
//!
//! Why: the `tokenizers` pipeline builds an aligned string for every pre-token piece, so counting
//! one streamed chunk costs ~10 µs and re-counting a 256-token answer ~1 ms, far more than
//! everything else a streamed token costs the runner. Here the pieces are found on the bytes by
//! the GPT-2 pattern's rules, and each distinct piece is priced once by the tokenizer's own model
//! and remembered. Only what these rules provably cover takes this path (ASCII text without
//! added tokens, no normalizer); anything else is counted by `tokenizers` itself. The property
//! tests in [`super::hf`] hold both to the same answer.

use std::cell::RefCell;
use std::collections::HashMap;

use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{Model, ModelWrapper};

/// Distinct pieces each thread remembers before starting over: tens of thousands cover a
/// vocabulary's words; the bound keeps adversarial text from growing memory without end.
const MAX_REMEMBERED_PIECES: usize = 1 << 16;

/// Token count of each piece seen.
type PieceCounts = HashMap<Box<[u8]>, u32, foldhash::fast::RandomState>;

pub(super) struct ByteLevelCounter {
    add_prefix_space: bool,
    /// Texts the tokenizer matches before pre-tokenizing (special and added tokens): text holding
    /// one is counted by `tokenizers`.
    added: Vec<String>,
    /// Token count of each piece seen, per thread (no lock on the streaming path).
    pieces: thread_local::ThreadLocal<RefCell<PieceCounts>>,
}

impl ByteLevelCounter {
    /// The counter for `tokenizer`, if its pipeline is one these rules reproduce exactly.
    pub(super) fn for_tokenizer(tokenizer: &tokenizers::Tokenizer) -> Option<Self> {
        if tokenizer.get_normalizer().is_some() {
            return None;
        }
        let Some(PreTokenizerWrapper::ByteLevel(byte_level)) = tokenizer.get_pre_tokenizer() else {
            return None;
        };
        if !byte_level.use_regex {
            return None;
        }
        let added = tokenizer
            .get_added_tokens_decoder()
            .into_values()
            .map(|token| token.content)
            .filter(|content| !content.is_empty())
            .collect();
        Some(ByteLevelCounter {
            add_prefix_space: byte_level.add_prefix_space,
            added,
            pieces: thread_local::ThreadLocal::new(),
        })
    }

    /// Tokens of `text`, or `None` when it is not text these rules cover.
    pub(super) fn count(&self, model: &ModelWrapper, text: &str) -> Option<usize> {
        if text.is_empty()
            || !text.is_ascii()
            || self.added.iter().any(|a| text.contains(a.as_str()))
        {
            return None;
        }
        let prefixed;
        let bytes = if self.add_prefix_space && !text.starts_with(' ') {
            prefixed = format!(" {text}");
            prefixed.as_bytes()
        } else {
            text.as_bytes()
        };
        let mut pieces = self.pieces.get_or_default().borrow_mut();
        if pieces.len() >= MAX_REMEMBERED_PIECES {
            pieces.clear();
        }
        let mut tokens = 0;
        let mut start = 0;
        while start < bytes.len() {
            let end = piece_end(bytes, start);
            let piece = &bytes[start..end];
            tokens += match pieces.get(piece) {
                Some(&count) => count as usize,
                None => {
                    let count = model.tokenize(&byte_level_chars(piece)).ok()?.len();
                    pieces.insert(piece.into(), count as u32);
                    count
                }
            };
            start = end;
        }
        Some(tokens)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    Space,
    Other,
}

/// The classes of `\p{L}`, `\p{N}` and `\s` (Unicode White_Space) restricted to ASCII.
fn class(byte: u8) -> Class {
    match byte {
        b'A'..=b'Z' | b'a'..=b'z' => Class::Letter,
        b'0'..=b'9' => Class::Digit,
        b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ' => Class::Space,
        _ => Class::Other,
    }
}

/// Where the piece starting at `start` ends: the leftmost-first match of GPT-2's pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` on ASCII bytes.
/// Every byte is in some class, so the matches tile the text.
fn piece_end(text: &[u8], start: usize) -> usize {
    let run_end = |from: usize, of: Class| {
        from + text[from..].iter().take_while(|&&b| class(b) == of).count()
    };
    if text[start] == b'\'' {
        let rest = &text[start + 1..];
        let contraction = [&b"s"[..], b"t", b"re", b"ve", b"m", b"ll", b"d"]
            .into_iter()
            .find(|suffix| rest.starts_with(suffix));
        if let Some(suffix) = contraction {
            return start + 1 + suffix.len();
        }
    }
    let next = text.get(start + 1).copied().map(class);
    match (text[start], next) {
        // One space joins the word, number or punctuation run after it.
        (b' ', Some(next)) if next != Class::Space => run_end(start + 1, next),
        (first, _) => match class(first) {
            // A whitespace run before a non-space leaves its last character to that word
            // (`\s+(?!\S)`), unless it is that one character (`\s+`).
            Class::Space => {
                let end = run_end(start, Class::Space);
                if end < text.len() && end - start > 1 {
                    end - 1
                } else {
                    end
                }
            }
            of => run_end(start, of),
        },
    }
}

/// GPT-2's reversible byte-to-character map: printable bytes stand for themselves, the others
/// for the characters from U+0100 on, in byte order.
fn byte_level_chars(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| byte_char(b)).collect()
}

fn byte_char(byte: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(byte) {
        char::from(byte)
    } else {
        let rank = (0..byte).filter(|&b| !printable(b)).count() as u32;
        char::from_u32(256 + rank).expect("256..=323 are characters")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let end = piece_end(text.as_bytes(), start);
            out.push(&text[start..end]);
            start = end;
        }
        out
    }

    #[test]
    fn pieces_follow_the_gpt2_pattern() {
        assert_eq!(pieces("Hello world"), ["Hello", " world"]);
        assert_eq!(
            pieces("don't  stop\n\nnow!?"),
            ["don", "'t", " ", " stop", "\n", "\n", "now", "!?"]
        );
        assert_eq!(pieces(" 's x1234 'x"), [" '", "s", " x", "1234", " '", "x"]);
        assert_eq!(pieces("a \n b   "), ["a", " \n", " b", "   "]);
        assert_eq!(pieces("\tx"), ["\t", "x"]);
    }

    #[test]
    fn bytes_map_as_gpt2_maps_them() {
        assert_eq!(byte_char(b'a'), 'a');
        assert_eq!(byte_char(b' '), 'Ġ');
        assert_eq!(byte_char(b'\n'), 'Ċ');
        assert_eq!(byte_char(0), 'Ā');
        assert_eq!(byte_char(0xAD), 'Ń');
    }
}
