//! How a call's input splits into what it shares with an earlier call, what earlier calls
//! answered, and its own messages (inference-perf's `decompose_input`): the replay sends an
//! earlier call's live messages for the shared part and its live answer for each answer.

use super::wire::{Output, Parsed};

/// A run of a call's input messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Messages of this call alone.
    Unique(usize),
    /// The first `count` messages, the same as the first of call `from`'s.
    Shared { count: usize, from: usize },
    /// One assistant message: call `from`'s answer.
    Output { from: usize },
}

impl Segment {
    pub fn messages(&self) -> usize {
        match *self {
            Segment::Unique(n) | Segment::Shared { count: n, .. } => n,
            Segment::Output { .. } => 1,
        }
    }
}

/// An earlier call, for splitting a later one's input.
pub(crate) struct Ancestor<'a> {
    pub index: usize,
    pub messages: &'a [Parsed],
    pub output: Option<&'a Output>,
}

/// The segments of `messages` given its `ancestors` (every call it waits for, directly or not,
/// in order of start): the longest prefix shared with one of them (the first of the longest),
/// then, repeatedly, the earliest message that is an ancestor's recorded answer (the same
/// assistant text, or, for an answer recorded as parts, all of its tool calls), the messages
/// before it being the call's own.
pub(crate) fn split(messages: &[Parsed], ancestors: &[Ancestor]) -> Vec<Segment> {
    let total = messages.len();
    if ancestors.is_empty() || total == 0 {
        return vec![Segment::Unique(total)];
    }
    let mut segments = Vec::new();
    let mut cursor = 0;
    let mut best: Option<(usize, usize)> = None;
    for a in ancestors {
        let shared = messages
            .iter()
            .zip(a.messages)
            .take_while(|(m, p)| m.role == p.role && m.text == p.text)
            .count();
        if shared > best.map_or(0, |(n, _)| n) {
            best = Some((shared, a.index));
        }
    }
    if let Some((count, from)) = best {
        segments.push(Segment::Shared { count, from });
        cursor = count;
    }
    while cursor < total {
        let found = ancestors
            .iter()
            .filter_map(|a| {
                let out = a.output?;
                let at = (cursor..total).find(|&i| is_answer(&messages[i], out))?;
                Some((at, a.index))
            })
            .min_by_key(|&(at, _)| at);
        let Some((at, from)) = found else {
            segments.push(Segment::Unique(total - cursor));
            break;
        };
        if at > cursor {
            segments.push(Segment::Unique(at - cursor));
        }
        segments.push(Segment::Output { from });
        cursor = at + 1;
    }
    segments
}

fn is_answer(message: &Parsed, output: &Output) -> bool {
    (message.role == "assistant" && message.text == output.text)
        || (!output.part_call_ids.is_empty()
            && output
                .part_call_ids
                .iter()
                .all(|id| message.tool_call_ids.contains(id)))
}

#[cfg(test)]
mod tests {
    use super::super::wire::{input, output};
    use super::*;
    use serde_json::json;

    #[test]
    fn a_call_shares_a_prefix_carries_answers_and_adds_its_own() {
        let parse = |v: serde_json::Value| -> Vec<Parsed> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|m| input(m).unwrap())
                .collect()
        };
        let first =
            parse(json!([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]));
        let first_out = output(&json!({"role": "assistant", "content": "a1"}));
        let second_out = output(&json!({"role": "assistant", "parts": [
            {"type": "tool_call", "id": "c1", "name": "f", "arguments": "{}"}]}));
        let second = parse(
            json!([{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a1"}, {"role": "user", "content": "more"}]),
        );
        let third = parse(
            json!([{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a1"}, {"role": "user", "content": "more"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"}]),
        );
        let ancestors = [
            Ancestor {
                index: 0,
                messages: &first,
                output: Some(&first_out),
            },
            Ancestor {
                index: 1,
                messages: &second,
                output: Some(&second_out),
            },
        ];
        assert_eq!(
            split(&second, &ancestors[..1]),
            vec![
                Segment::Shared { count: 2, from: 0 },
                Segment::Output { from: 0 },
                Segment::Unique(1)
            ]
        );
        assert_eq!(
            split(&third, &ancestors),
            vec![
                Segment::Shared { count: 4, from: 1 },
                Segment::Output { from: 1 },
                Segment::Unique(1)
            ],
            "the longest shared prefix wins; a parts answer is found by its call ids"
        );
        assert_eq!(split(&first, &[]), vec![Segment::Unique(2)]);
    }
}
