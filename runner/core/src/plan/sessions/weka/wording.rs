//! The words a Weka call sends. Each token source reads the corpus from an offset drawn from
//! its name alone, as inference-perf draws it: a hash block's from the run's seed, the trace's
//! id and the block's hash id (so the blocks one trace shares between calls, subagents and
//! repeats are the same words, and another trace's block of that id is not); a tail's from
//! its seed string, at most the corpus's length less the tail's. A text made of the same runs
//! is the same bytes wherever it is sent, which is what a prefix cache sees.

use rand::RngExt;

use super::conversation::{Source, Text, Tokens};
use crate::plan::rng::{Purpose, rng};
use crate::tokenize::{Corpus, Tokenizer};

/// The run's tokenizer, corpus and seed.
#[derive(Clone, Copy)]
pub struct Wording<'a> {
    pub tokenizer: &'a Tokenizer,
    pub corpus: &'a Corpus,
    pub seed: u64,
}

impl Wording<'_> {
    /// `text` of trace `trace_id` (whose sources `tokens` names) in words.
    pub(super) fn words(&self, tokens: &Tokens, trace_id: &str, text: &Text) -> String {
        let runs = text.runs().map(|(source, from, to)| {
            let start = self.start(trace_id, tokens.source(source));
            (start + from as usize, (to - from) as usize)
        });
        let mut out = String::new();
        self.tokenizer.push_corpus_runs(&mut out, self.corpus, runs);
        out
    }

    /// Where a source's text starts in the corpus.
    fn start(&self, trace_id: &str, source: &Source) -> usize {
        let len = self.corpus.len();
        match source {
            Source::Block(id) => rng(
                self.seed,
                Purpose::Block,
                key(&format!("block:{trace_id}:{id}")),
            )
            .random_range(0..len),
            Source::Tail(seed, n) => {
                let room = len.saturating_sub((*n).max(0) as usize).max(1);
                rng(self.seed, Purpose::Block, key(&format!("tail:{seed}"))).random_range(0..room)
            }
        }
    }
}

/// A name as a draw's index (64-bit FNV-1a: the same on every machine and run).
fn key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
