//! inference-perf rebuilds each Weka call's conversation from the trace's hash blocks (a
//! block's text depends on its id alone), rewinding to the longest common prefix of
//! consecutive calls' blocks, and finds a call's predecessors by looking for its expected
//! answer among the assistant messages of later calls. Which calls depend on which follows
//! from which texts equal or contain which, so the same reconstruction runs here on token
//! identities instead of text: a token is (its source, its place in it), where a source is a
//! hash block or a synthetic tail drawn from a seed. Texts from different sources are taken to
//! differ, as inference-perf's random corpus draws almost surely do. The words sent are the
//! sources' texts ([`super::wording`]).

use std::collections::HashMap;

/// Where tokens come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Source {
    Block(i64),
    /// inference-perf's `sample_partial_tail_tokens(n, seed)`: the corpus from an offset that
    /// seed and length choose.
    Tail(String, i64),
}

/// Consecutive tokens of one source: its places `from..to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    source: u32,
    from: u32,
    to: u32,
}

/// A text as its tokens, in runs; adjacent runs never continue each other, so equal texts
/// have equal runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(Vec<Run>);

impl Text {
    fn len(&self) -> i64 {
        self.0.iter().map(|r| (r.to - r.from) as i64).sum()
    }

    fn push(&mut self, run: Run) {
        if run.from == run.to {
            return;
        }
        match self.0.last_mut() {
            Some(last) if last.source == run.source && last.to == run.from => last.to = run.to,
            _ => self.0.push(run),
        }
    }

    fn extend(&mut self, other: &Text) {
        for &run in &other.0 {
            self.push(run);
        }
    }

    /// Its runs: `(source, from, to)`, the tokens `from..to` of source `source`.
    pub(super) fn runs(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        self.0.iter().map(|r| (r.source, r.from, r.to))
    }

    /// Python's `text[:n]`.
    fn head(&self, n: i64) -> Text {
        let mut left = if n < 0 { (self.len() + n).max(0) } else { n };
        let mut head = Text::default();
        for run in &self.0 {
            if left <= 0 {
                break;
            }
            let take = left.min((run.to - run.from) as i64) as u32;
            head.push(Run {
                to: run.from + take,
                ..*run
            });
            left -= take as i64;
        }
        head
    }

    /// Python's `text[n:]`, `n >= 0`.
    fn tail_from(&self, n: i64) -> Text {
        let mut skip = n;
        let mut rest = Text::default();
        for run in &self.0 {
            let size = (run.to - run.from) as i64;
            if skip >= size {
                skip -= size;
                continue;
            }
            rest.push(Run {
                from: run.from + skip as u32,
                ..*run
            });
            skip = 0;
        }
        rest
    }

    /// Whether `self` occurs in `other` (the empty text occurs in every text).
    pub fn is_in(&self, other: &Text) -> bool {
        let (a, b) = (&self.0, &other.0);
        match a.len() {
            0 => true,
            1 => b
                .iter()
                .any(|r| r.source == a[0].source && r.from <= a[0].from && a[0].to <= r.to),
            k => b.windows(k).any(|w| {
                let (first, last) = (w[0], w[k - 1]);
                first.source == a[0].source
                    && first.to == a[0].to
                    && first.from <= a[0].from
                    && w[1..k - 1] == a[1..k - 1]
                    && last.source == a[k - 1].source
                    && last.from == a[k - 1].from
                    && last.to >= a[k - 1].to
            }),
        }
    }
}

/// A trace's token sources, numbered.
#[derive(Debug)]
pub struct Tokens {
    block_size: i64,
    sources: HashMap<Source, u32>,
    /// The sources by number.
    named: Vec<Source>,
}

impl Tokens {
    pub fn new(block_size: i64) -> Self {
        Tokens {
            block_size,
            sources: HashMap::new(),
            named: Vec::new(),
        }
    }

    /// Source number `source`.
    pub(super) fn source(&self, source: u32) -> &Source {
        &self.named[source as usize]
    }

    fn run(&mut self, source: Source, tokens: i64) -> Run {
        let next = self.sources.len() as u32;
        let source = *self.sources.entry(source).or_insert_with_key(|source| {
            self.named.push(source.clone());
            next
        });
        Run {
            source,
            from: 0,
            to: tokens.clamp(0, u32::MAX as i64) as u32,
        }
    }

    /// The blocks' tokens, `block_size` each.
    fn blocks(&mut self, hash_ids: &[i64]) -> Text {
        let mut text = Text::default();
        for &id in hash_ids {
            let run = self.run(Source::Block(id), self.block_size);
            text.push(run);
        }
        text
    }

    /// `n` tokens drawn from `seed` (none when `n <= 0`).
    pub fn tail(&mut self, n: i64, seed: &str) -> Text {
        let mut text = Text::default();
        if n > 0 {
            let run = self.run(Source::Tail(seed.to_string(), n), n);
            text.push(run);
        }
        text
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone)]
struct Segment {
    role: Role,
    block_count: i64,
    tokens: Text,
}

/// One conversation (the agent's, or one stream of a subagent's) as it grows turn by turn.
#[derive(Debug, Clone)]
pub struct Conversation {
    block_size: i64,
    segments: Vec<Segment>,
}

/// Python's `items[from:to]` for `0 <= from`.
fn slice(items: &[i64], from: i64, to: i64) -> &[i64] {
    let len = items.len() as i64;
    let from = from.clamp(0, len);
    &items[from as usize..to.clamp(from, len) as usize]
}

impl Conversation {
    /// The first turn: a system segment for the tool and system tokens, then the user's.
    pub fn first(
        tokens: &mut Tokens,
        hash_ids: &[i64],
        input: i64,
        prefix: (i64, i64),
        seed: &str,
    ) -> Self {
        let bs = tokens.block_size;
        let full = input / bs;
        let partial = input - full * bs;
        let covered = full.min(hash_ids.len() as i64);
        let missing = (full - covered) * bs;
        let mut segments = Vec::new();
        let mut cursor = 0;
        let prefix_tokens = prefix.0 + prefix.1;
        if prefix_tokens > 0 {
            let blocks = ((prefix_tokens + bs - 1) / bs).min(hash_ids.len() as i64);
            if blocks > 0 {
                segments.push(Segment {
                    role: Role::System,
                    block_count: blocks,
                    tokens: tokens.blocks(slice(hash_ids, 0, blocks)),
                });
                cursor = blocks;
            }
        }
        let user_blocks = covered - cursor;
        let mut user = tokens.blocks(slice(hash_ids, cursor, cursor + user_blocks));
        user.extend(&tokens.tail(missing + partial, seed));
        segments.push(Segment {
            role: Role::User,
            block_count: user_blocks,
            tokens: user,
        });
        Conversation {
            block_size: bs,
            segments,
        }
    }

    /// The next turn: back to the blocks both turns share, then the previous answer (as many
    /// blocks of the new ones as it covers) and the user's new text.
    pub fn advance(
        &mut self,
        tokens: &mut Tokens,
        previous: (&[i64], i64, i64),
        current: (&[i64], i64),
        seed: &str,
    ) {
        let (prev_ids, prev_in, prev_out) = previous;
        let (ids, input) = current;
        let bs = self.block_size;
        let blocks = ids.len() as i64;
        let missing = ((input / bs - blocks) * bs).max(0);
        let common = prev_ids.iter().zip(ids).take_while(|(a, b)| a == b).count() as i64;
        self.rewind(common, prev_in % bs);
        let mut new = tokens.blocks(slice(ids, common, blocks));
        new.extend(&tokens.tail(missing + input % bs, seed));
        let new_blocks = blocks - common;
        let answer_blocks = if prev_out > 0 {
            (prev_out + bs - 1) / bs
        } else {
            0
        }
        .min(new_blocks);
        let answer_tokens = answer_blocks * bs;
        if answer_blocks > 0 {
            self.segments.push(Segment {
                role: Role::Assistant,
                block_count: answer_blocks,
                tokens: new.head(answer_tokens),
            });
        }
        let user = new.tail_from(answer_tokens);
        if user.len() > 0 {
            self.segments.push(Segment {
                role: Role::User,
                block_count: new_blocks - answer_blocks,
                tokens: user,
            });
        }
    }

    /// inference-perf's `truncate_synth_buf_at_block`: keeps the first `target` blocks.
    fn rewind(&mut self, target: i64, prev_partial_tail: i64) {
        if target <= 0 {
            self.segments.clear();
            return;
        }
        let bs = self.block_size;
        let mut cursor = 0;
        for i in 0..self.segments.len() {
            let seg = &mut self.segments[i];
            if cursor + seg.block_count < target {
                cursor += seg.block_count;
                continue;
            }
            if cursor + seg.block_count == target {
                let len = seg.tokens.len();
                if prev_partial_tail > 0 && len > 0 {
                    seg.tokens = seg.tokens.head(len - prev_partial_tail.min(len));
                }
                self.segments.truncate(i + 1);
                return;
            }
            if cursor == target {
                self.segments.truncate(i);
                return;
            }
            let kept_blocks = target - cursor;
            let kept_tokens = seg.tokens.len().min(kept_blocks * bs);
            seg.block_count = kept_blocks;
            seg.tokens = seg.tokens.head(kept_tokens);
            self.segments.truncate(i + 1);
            return;
        }
    }

    /// The call's input messages: each role and its text.
    pub fn messages(&self) -> Vec<(&'static str, Text)> {
        self.segments
            .iter()
            .map(|s| (s.role.name(), s.tokens.clone()))
            .collect()
    }

    /// The assistant messages of the call's input.
    pub fn assistant_texts(&self) -> Vec<Text> {
        self.segments
            .iter()
            .filter(|s| s.role == Role::Assistant)
            .map(|s| s.tokens.clone())
            .collect()
    }

    /// The answer inference-perf expects from this turn: the last assistant message of the
    /// conversation once the next turn is added.
    pub fn expected_answer(
        &self,
        tokens: &mut Tokens,
        previous: (&[i64], i64, i64),
        next: (&[i64], i64),
        seed: &str,
    ) -> Text {
        let mut ahead = self.clone();
        ahead.advance(tokens, previous, next, seed);
        ahead
            .segments
            .iter()
            .rev()
            .find(|s| s.role == Role::Assistant)
            .map(|s| s.tokens.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(runs: &[(u32, u32, u32)]) -> Text {
        let mut t = Text::default();
        for &(source, from, to) in runs {
            t.push(Run { source, from, to });
        }
        t
    }

    #[test]
    fn texts_slice_and_contain_as_their_tokens_do() {
        let t = text(&[(1, 0, 4), (2, 0, 4), (3, 0, 2)]);
        assert_eq!(t.len(), 10);
        assert_eq!(t.head(5), text(&[(1, 0, 4), (2, 0, 1)]));
        assert_eq!(t.head(-3), text(&[(1, 0, 4), (2, 0, 3)]));
        assert_eq!(t.tail_from(5), text(&[(2, 1, 4), (3, 0, 2)]));
        assert!(text(&[(1, 2, 4), (2, 0, 3)]).is_in(&t));
        assert!(text(&[(2, 1, 3)]).is_in(&t));
        assert!(!text(&[(1, 2, 3), (2, 0, 3)]).is_in(&t), "a gap in between");
        assert!(!text(&[(2, 0, 4), (1, 0, 1)]).is_in(&t));
        assert!(Text::default().is_in(&Text::default()));
        let mut joined = t.head(2);
        joined.extend(&t.tail_from(2).head(1));
        assert_eq!(joined, text(&[(1, 0, 3)]), "pieces of one run join up");
    }

    #[test]
    fn a_turn_carries_the_previous_answer_and_a_rewind_drops_it() {
        let mut tokens = Tokens::new(4);
        // Turn 0: blocks 1, 2 and a 2-token tail; turn 1 adds blocks 3 (the answer) and 4.
        let mut c = Conversation::first(&mut tokens, &[1, 2], 10, (0, 0), "s0");
        assert_eq!(c.segments.len(), 1);
        let answer = c.expected_answer(&mut tokens, (&[1, 2], 10, 3), (&[1, 2, 3, 4], 16), "s1");
        assert_eq!(answer.len(), 4);
        c.advance(&mut tokens, (&[1, 2], 10, 3), (&[1, 2, 3, 4], 16), "s1");
        let roles: Vec<Role> = c.segments.iter().map(|s| s.role).collect();
        assert_eq!(roles, vec![Role::User, Role::Assistant, Role::User]);
        assert_eq!(c.segments[0].tokens.len(), 8, "the partial tail is dropped");
        assert!(answer.is_in(&c.assistant_texts()[0]));
        // Turn 2 shares only block 1: back to it, and the answer of turn 1 is gone.
        c.advance(&mut tokens, (&[1, 2, 3, 4], 16, 5), (&[1, 9, 8], 12), "s2");
        assert!(!answer.is_in(&c.assistant_texts()[0]));
        assert_eq!(c.segments[0].tokens.len(), 4);
        assert_eq!(c.assistant_texts()[0].len(), 8, "5 tokens take 2 blocks");
    }

    #[test]
    fn tool_and_system_tokens_open_with_a_system_segment() {
        let mut tokens = Tokens::new(4);
        let c = Conversation::first(&mut tokens, &[1, 2, 3], 13, (3, 2), "s");
        assert_eq!(c.segments[0].role, Role::System);
        assert_eq!(c.segments[0].block_count, 2);
        assert_eq!(
            c.segments[1].tokens.len(),
            5,
            "one block and a 1-token tail"
        );
    }
}
