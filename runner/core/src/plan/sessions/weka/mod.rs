//! Weka KV-cache-tester traces (`data.type: weka_trace_replay`), each read as one session the
//! way inference-perf 0.7.0 reads it: the trace's requests are the agent's calls and each
//! subagent's requests are its own calls (in streams of calls that do not overlap), each with
//! its recorded `in` and `out` tokens (`out: 0` asks the client's default, as inference-perf
//! sends it). Starts are the recorded `t` (a subagent's requests' `t` counts from the
//! subagent's start when it is smaller than that), with idle stretches between starts longer
//! than `trace_idle_gap_cap_seconds` cut to it; a call ends `api_time` after its start.
//!
//! A call depends on the calls whose expected answer its conversation carries (see
//! [`conversation`]) and, as with OTel traces, on the latest call that had ended when it
//! started; its gap is the recorded time between the end of the last of them and its start.
//!
//! A call sends its conversation as chat messages in words ([`wording`]), split like an OTel
//! call's recorded messages against the calls it waits for: the session sends those calls'
//! live messages and answers in place of the ones built here.

mod conversation;
mod format;
mod wording;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use self::conversation::{Conversation, Text, Tokens};
use self::format::{Request, Trace};
pub use self::wording::Wording;
use super::Read;
use super::graph::{Event, EventIds, SessionError, SessionGraph, ancestors, dependencies};
use super::model::Models;
use super::recorded::{self, Ancestor, Parsed, Recorded, ToolOffer};
use super::trace_filter::TraceFilter;
use crate::config::WekaTraceReplayConfig;
use crate::plan::DEFAULT_MAX_TOKENS;

/// Reads every file: a file that cannot be read as a trace is its own error (skippable with
/// `skip_invalid_files`); a file that does not exist, or two traces with one id, stop the run.
pub(super) fn read_all(
    files: &[PathBuf],
    config: &WekaTraceReplayConfig,
    wording: Wording,
) -> Result<Vec<Read>, SessionError> {
    let mut ids: HashMap<String, &Path> = HashMap::new();
    let mut index = 0;
    let mut reads = Vec::with_capacity(files.len());
    let models = Models::new(config.replay_keys());
    let filter = TraceFilter::new("data.weka_trace_replay", &config.filter)?;
    for file in files {
        if !file.is_file() {
            return Err(SessionError::Invalid {
                file: file.display().to_string(),
                message: "no such file; trace_files must name existing files".into(),
            });
        }
        let trace = match load(file, filter.as_ref()) {
            Ok(Some(trace)) => trace,
            Ok(None) => continue,
            Err(e @ SessionError::Filter { .. }) => return Err(e),
            Err(e) => {
                reads.push(Err(e));
                continue;
            }
        };
        if let Some(first) = ids.insert(trace.id.clone(), file) {
            return Err(SessionError::Invalid {
                file: file.display().to_string(),
                message: format!(
                    "trace id {:?} is also the id of {}; every trace needs its own id",
                    trace.id,
                    first.display()
                ),
            });
        }
        reads.push(Ok(graph(file, index, &trace, config, &models, wording)));
        index += 1;
    }
    Ok(reads)
}

/// The trace of `file`; `None` when the filter leaves it out.
fn load(file: &Path, filter: Option<&TraceFilter>) -> Result<Option<Trace>, SessionError> {
    let doc = super::read_json(file)?;
    if let Some(filter) = filter
        && filter.keeps_weka(file, &doc)? == Some(false)
    {
        return Ok(None);
    }
    format::parse(&doc)
        .map(Some)
        .map_err(|message| SessionError::Invalid {
            file: file.display().to_string(),
            message,
        })
}

/// One call as inference-perf builds it.
struct Call {
    id: String,
    /// The model it asked.
    model: String,
    start_ms: i64,
    end_ms: i64,
    input: i64,
    output: i64,
    /// Its input messages: each role and its text.
    messages: Vec<(&'static str, Text)>,
    /// The assistant messages of its input.
    assistant: Vec<Text>,
    /// The answer later calls carry when they follow from it.
    answer: Text,
}

/// One conversation's requests: the agent's, or one stream of a subagent's.
struct Thread<'a> {
    /// Names its calls: `parent_turn_{k}` or `sa_{agent}_s{stream}_turn_{k}`.
    call_prefix: String,
    /// Seeds its synthetic text: the trace id, or the subagent stream's session id.
    seed_prefix: String,
    /// The last turn's answer's seed.
    final_seed: String,
    prefix: (i64, i64),
    /// Each request with its start in seconds, before idle gaps are cut.
    requests: Vec<(&'a Request, f64)>,
}

fn graph(
    file: &Path,
    index: usize,
    trace: &Trace,
    config: &WekaTraceReplayConfig,
    models: &Models,
    wording: Wording,
) -> Option<SessionGraph> {
    let threads = threads(trace);
    let starts: Vec<f64> = threads
        .iter()
        .flat_map(|t| t.requests.iter().map(|(_, start)| *start))
        .collect();
    let warp = IdleGaps::new(&starts, config.trace_idle_gap_cap_seconds);
    let block_size = if trace.block_size != 0 {
        trace.block_size
    } else {
        config.default_block_size.max(1)
    };
    let mut tokens = Tokens::new(block_size);
    let mut calls: Vec<Call> = threads
        .iter()
        .flat_map(|thread| thread_calls(thread, &mut tokens, &warp))
        .collect();
    if calls.is_empty() {
        return None;
    }
    calls.sort_by(|a, b| (a.start_ms, &a.id).cmp(&(b.start_ms, &b.id)));
    let times: Vec<(i64, i64)> = calls.iter().map(|c| (c.start_ms, c.end_ms)).collect();
    let max_wait = Duration::from_millis(config.max_wait_ms.max(0) as u64);
    let links = dependencies(&times, max_wait, |j, i| {
        let answer = &calls[j].answer;
        calls[i].assistant.iter().any(|m| answer.is_in(m))
    });
    let recorded = sent(&calls, &links, |text| {
        wording.words(&tokens, &trace.id, text)
    });
    let events = calls
        .iter()
        .zip(links)
        .zip(recorded)
        .map(|((call, (after, wait)), recorded)| Event {
            span_id: call.id.clone(),
            input_tokens: call.input.clamp(1, u32::MAX as i64) as u32,
            output_tokens: match call.output {
                0 => DEFAULT_MAX_TOKENS,
                n => n.min(u32::MAX as i64) as u32,
            },
            after,
            wait,
            context: 0,
            // inference-perf records Weka answers as plain text, without tools or schemas:
            // every call answers the user.
            user_facing: true,
            structured_output: false,
            offers_tools: false,
            model: models.of(&call.model),
            recorded: Some(Arc::new(recorded)),
            tools: ToolOffer::default(),
        })
        .collect();
    Some(SessionGraph {
        file: file.display().to_string(),
        session_id: format!("wekatrace{index}_{}", trace.id),
        event_ids: EventIds::Numbered,
        events,
    })
}

/// What each call sends: its messages in words, split against the calls it waits for (whose
/// live messages and answers the session sends in their place).
fn sent(
    calls: &[Call],
    links: &[(Vec<usize>, Duration)],
    words: impl Fn(&Text) -> String,
) -> Vec<Recorded> {
    let messages: Vec<Vec<Parsed>> = calls
        .iter()
        .map(|call| {
            call.messages
                .iter()
                .map(|(role, text)| {
                    recorded::input(&json!({"role": role, "content": words(text)}))
                        .expect("a role and text content is a message")
                })
                .collect()
        })
        .collect();
    let answers: Vec<recorded::Output> = calls
        .iter()
        .map(|call| recorded::output(&json!({"role": "assistant", "content": words(&call.answer)})))
        .collect();
    (0..calls.len())
        .map(|i| {
            let ancestors: Vec<Ancestor> = ancestors(links, i)
                .into_iter()
                .map(|a| Ancestor {
                    index: a,
                    messages: &messages[a],
                    output: Some(&answers[a]),
                })
                .collect();
            // No tools: inference-perf offers a Weka call none, so `tool_choice_mode` and
            // `bad_tool_call_handling` never apply.
            Recorded {
                messages: messages[i].iter().map(|m| m.wire.clone()).collect(),
                segments: recorded::split(&messages[i], &ancestors),
                offer: ToolOffer::default(),
                called: Vec::new(),
                headers: Vec::new(),
                labels: Vec::new(),
            }
        })
        .collect()
}

/// The agent's conversation, then each subagent's streams.
fn threads(trace: &Trace) -> Vec<Thread<'_>> {
    let mut threads = vec![Thread {
        call_prefix: "parent_turn_".into(),
        seed_prefix: trace.id.clone(),
        final_seed: format!("{}:final_parent_turn_completion", trace.id),
        prefix: (trace.tool_tokens, trace.system_tokens),
        requests: trace.requests.iter().map(|r| (r, r.t)).collect(),
    }];
    for subagent in &trace.subagents {
        let streams = streams(&subagent.requests);
        let several = streams.len() > 1;
        for (s, stream) in streams.into_iter().enumerate() {
            let mut session = format!("{}::sa:{}", trace.id, subagent.agent_id);
            if several {
                session += &format!(":s{s}");
            }
            let start = |r: &Request| {
                if r.t + 1e-6 < subagent.t {
                    subagent.t + r.t
                } else {
                    r.t
                }
            };
            threads.push(Thread {
                call_prefix: format!("sa_{}_s{s}_turn_", subagent.agent_id),
                final_seed: format!("{session}:final_turn_completion"),
                seed_prefix: session,
                prefix: (subagent.tool_tokens, subagent.system_tokens),
                requests: stream.into_iter().map(|r| (r, start(r))).collect(),
            });
        }
    }
    threads
}

/// A subagent's requests in order of `t`, each in the first stream whose last request had
/// ended by its start (inference-perf's `_pack_into_streams`).
fn streams(requests: &[Request]) -> Vec<Vec<&Request>> {
    let mut sorted: Vec<&Request> = requests.iter().collect();
    sorted.sort_by(|a, b| a.t.total_cmp(&b.t));
    let mut streams: Vec<Vec<&Request>> = Vec::new();
    let mut ends: Vec<f64> = Vec::new();
    for r in sorted {
        match ends.iter().position(|&end| end <= r.t) {
            Some(i) => {
                streams[i].push(r);
                ends[i] = r.t + r.api_time;
            }
            None => {
                streams.push(vec![r]);
                ends.push(r.t + r.api_time);
            }
        }
    }
    streams
}

fn thread_calls(thread: &Thread, tokens: &mut Tokens, warp: &IdleGaps) -> Vec<Call> {
    let requests = &thread.requests;
    let seed = |k: usize| format!("{}:turn_{k}:partial_tail", thread.seed_prefix);
    let mut calls = Vec::with_capacity(requests.len());
    let mut conversation: Option<Conversation> = None;
    for (k, &(request, start)) in requests.iter().enumerate() {
        let conversation = match conversation.as_mut() {
            None => conversation.insert(Conversation::first(
                tokens,
                &request.hash_ids,
                request.input,
                thread.prefix,
                &seed(k),
            )),
            Some(c) => {
                let previous = requests[k - 1].0;
                c.advance(
                    tokens,
                    (&previous.hash_ids, previous.input, previous.output),
                    (&request.hash_ids, request.input),
                    &seed(k),
                );
                c
            }
        };
        let answer = match requests.get(k + 1) {
            Some(&(next, _)) => conversation.expected_answer(
                tokens,
                (&request.hash_ids, request.input, request.output),
                (&next.hash_ids, next.input),
                &seed(k + 1),
            ),
            None => tokens.tail(request.output, &thread.final_seed),
        };
        // Python's int() of milliseconds: toward zero.
        let start_ms = (warp.map(start) * 1000.0) as i64;
        calls.push(Call {
            id: format!("{}{k}", thread.call_prefix),
            model: request.model.clone(),
            start_ms,
            end_ms: start_ms + (request.api_time * 1000.0) as i64,
            input: request.input,
            output: request.output,
            messages: conversation.messages(),
            assistant: conversation.assistant_texts(),
            answer,
        });
    }
    calls
}

/// inference-perf's `_IdleGapTimeWarp`: a gap between consecutive request starts longer than
/// the cap is cut to it, and every later time moves back by what was cut.
struct IdleGaps {
    /// `(start, end, shift before it, cut)` of each long gap, in order.
    gaps: Vec<(f64, f64, f64, f64)>,
    cap: f64,
}

impl IdleGaps {
    fn new(starts: &[f64], cap: f64) -> Self {
        let mut gaps = Vec::new();
        if cap > 0.0 {
            let mut sorted = starts.to_vec();
            sorted.sort_by(f64::total_cmp);
            let mut shift = 0.0;
            for pair in sorted.windows(2) {
                let gap = pair[1] - pair[0];
                if gap > cap {
                    let excess = gap - cap;
                    gaps.push((pair[0], pair[1], shift, excess));
                    shift += excess;
                }
            }
        }
        IdleGaps { gaps, cap }
    }

    fn map(&self, t: f64) -> f64 {
        let mut shift = 0.0;
        for &(start, end, before, excess) in &self.gaps {
            if t < start {
                return t - before;
            }
            if t < end {
                if t - start <= self.cap {
                    return t - before;
                }
                return start - before + self.cap;
            }
            shift = before + excess;
        }
        t - shift
    }
}

#[cfg(test)]
mod tests;
