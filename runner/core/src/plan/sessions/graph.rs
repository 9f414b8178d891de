//! A session as recorded: its LLM calls, what each waits for, and what can be wrong with a
//! trace file. Every error names the file; the data section it concerns is said by the caller.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::recorded::{Recorded, ToolOffer};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error(
        "{file}: span {span} names parent span {parent}, which is not in the file; export the \
         whole trace (or set skip_invalid_files: true to leave the file out)"
    )]
    MissingParent {
        file: String,
        span: String,
        parent: String,
    },
    #[error(
        "{file}: span {span} is its own ancestor ({chain}); the parent_span_id links must form \
         a tree"
    )]
    Cycle {
        file: String,
        span: String,
        chain: String,
    },
    /// Never skipped: the expression is wrong, not the trace.
    #[error("{file}: {message}")]
    Filter { file: String, message: String },
    #[error("{0}")]
    Source(String),
}

/// One session as recorded: its LLM calls in order of their start.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionGraph {
    /// The trace file.
    pub file: String,
    /// OTel: the trace's `session_id` or `trace_id`, else the file's name; Weka: the session's
    /// whole name, `wekatrace{index}_{id}` (inference-perf numbers Weka traces as read).
    pub session_id: String,
    pub event_ids: EventIds,
    pub events: Vec<Event>,
}

/// How inference-perf names a session's events (`graph_event_id`, after the session's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventIds {
    /// Traces: `event_{nnn}_{span_id}`, numbered in order of start.
    Numbered,
    /// Generated sessions: the `span_id` itself, `{session}:r{round}:...`.
    Named,
}

/// One LLM call of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its recorded id (OTel's span id, Weka's request id) or generated name.
    pub span_id: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// Earlier events (indices into the session's events) this one waits for.
    pub after: Vec<usize>,
    /// The recorded gap (tool or think time) between the last of those ending and this one
    /// starting, at most `max_wait_ms`.
    pub wait: Duration,
    /// The text its prompt continues: the calls of one context share it, a later and longer
    /// prompt extending an earlier one, as an agent's transcript grows. Traces have one.
    pub context: u32,
    /// Its answer reaches the user (inference-perf's `is_user_facing`): not a tool call, not
    /// structured output, not made inside a tool's execution. Time to first user token waits
    /// for the first of these.
    pub user_facing: bool,
    /// It asks for structured output (inference-perf's `is_structured_output_call`).
    pub structured_output: bool,
    /// It offers the model tools (inference-perf's `tool_definitions`). A model offered tools
    /// ends its answer itself, a tool call or prose, so the request lets it stop
    /// (`ignore_eos: false`): padded to `max_tokens`, a call's arguments would spill template
    /// tokens, and the next turn replaying them would be refused.
    pub offers_tools: bool,
    /// The model it asks (`use_static_model`, `model_mapping`); `None`: `server.model_name`.
    pub model: Option<Arc<str>>,
    /// Its recorded messages and tools, sent instead of generated text (OTel traces).
    pub recorded: Option<Arc<Recorded>>,
    /// The tools a call of generated text is offered, and its `tool_choice` (synthetic agents).
    pub tools: ToolOffer,
}

/// inference-perf's `max_tokens` for a forced tool call with `override_tool_call_max_tokens`:
/// the replayed model may need far more tokens than the recorded one to say the same call, and
/// it stops by itself once it has.
pub fn overridden_tool_call_max_tokens(asked: u64) -> u64 {
    (asked * 4).max(4096)
}

impl SessionGraph {
    /// inference-perf's id of event `event` in its graph (`user_facing_event_ids` lists
    /// these): `event_{nnn}_{span}` for traces, the name itself for generated sessions.
    pub fn event_name(&self, event: usize) -> String {
        let span = &self.events[event].span_id;
        match self.event_ids {
            EventIds::Numbered => format!("event_{event:03}_{span}"),
            EventIds::Named => span.clone(),
        }
    }
}

/// What each call of a session waits for and how long after, by inference-perf's rules: a call
/// depends on each earlier call that `feeds(earlier, later)` says its input carries the output
/// of (skipping the causal ancestors of those found already, later ones first), and on the
/// latest call by start that had ended when it started (the temporal fallback, which keeps gaps
/// short when the causal predecessor is far back). Its gap is from the end of the last of
/// them to its start, at most `max_wait`.
///
/// `times` are the calls' `(start, end)` in milliseconds, in order of their start. Every edge
/// points backwards in that order, so the graph has no cycle.
pub(super) fn dependencies(
    times: &[(i64, i64)],
    max_wait: Duration,
    feeds: impl Fn(usize, usize) -> bool,
) -> Vec<(Vec<usize>, Duration)> {
    let mut causal: Vec<Vec<usize>> = vec![Vec::new(); times.len()];
    let mut all: Vec<Vec<usize>> = vec![Vec::new(); times.len()];
    for i in 1..times.len() {
        // Ancestors of a causal predecessor found already need no check of their own.
        let mut covered = HashSet::new();
        for j in (0..i).rev() {
            if covered.contains(&j) || !feeds(j, i) {
                continue;
            }
            causal[i].push(j);
            let mut stack = causal[j].clone();
            while let Some(a) = stack.pop() {
                if covered.insert(a) {
                    stack.extend(&causal[a]);
                }
            }
        }
        all[i] = causal[i].clone();
        let latest_ended = (0..i).rev().find(|&j| times[j].1 <= times[i].0);
        if let Some(j) = latest_ended.filter(|j| !all[i].contains(j)) {
            all[i].push(j);
        }
        all[i].sort_unstable();
    }
    all.into_iter()
        .enumerate()
        .map(|(i, after)| {
            let ready = after.iter().map(|&j| times[j].1).max();
            let gap = ready.map_or(0, |ready| (times[i].0 - ready).max(0));
            (after, Duration::from_millis(gap as u64).min(max_wait))
        })
        .collect()
}

/// Every call `event` waits for, directly or not, in order.
pub(super) fn ancestors(links: &[(Vec<usize>, Duration)], event: usize) -> Vec<usize> {
    let mut seen = vec![false; links.len()];
    let mut stack = links[event].0.clone();
    while let Some(a) = stack.pop() {
        if !std::mem::replace(&mut seen[a], true) {
            stack.extend(&links[a].0);
        }
    }
    (0..links.len()).filter(|&a| seen[a]).collect()
}
