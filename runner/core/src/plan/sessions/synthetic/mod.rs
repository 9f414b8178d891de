//! `data.type: synthetic_agentic`: agent sessions generated as inference-perf 0.7.0's
//! `build_graph_for_session` shapes them, event for event and dependency for dependency.
//!
//! A session is `turns_per_session` rounds of the root agent, each after the previous round's
//! answer and the user's think time. An agent's calls form a chain: a principal call, then one
//! call per tool-loop step, each a tool latency after the one before; a spawning agent's last
//! step dispatches its sub-agents instead, acknowledges the dispatch at once, then reads each
//! sub-agent's report in a call that waits for that sub-agent's last call. Budgets
//! (`max_events_per_session`, with the calls a spawner still owes reserved) cut rounds, steps
//! and spawns exactly where inference-perf cuts them.
//!
//! Prompts are generated text, not inference-perf's theme templates, so sizes come from what
//! inference-perf sends: the system head and each user turn at their configured lengths, and
//! the theme's tool calls, tool results and tool schemas at the sizes inference-perf 0.7.0's
//! themes render to (measured with a 32,000-token byte-level BPE). Each agent's calls continue
//! one text (its context), so each call's prompt extends its previous one as the agent's
//! transcript does; a sub-agent, and a compacted round, start a new one.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;

use crate::config::{ApiType, Distribution, SyntheticAgenticConfig, THEMES, ToolChoiceMode};
use crate::plan::request::DEFAULT_MAX_TOKENS;
use crate::plan::rng::{Purpose, rng_at};
use crate::plan::sampling::LengthSampler;

use super::graph::{Event, EventIds, SessionGraph, overridden_tool_call_max_tokens};
use super::model::Models;
use super::recorded::{ToolCatalog, ToolOffer};

mod tools;

/// Tokens one theme's pieces render to in inference-perf 0.7.0.
#[derive(Debug, Clone, Copy)]
struct ThemeSizes {
    /// One advertised tool's schema (counts only towards compaction's trigger, as the tools
    /// are sent beside the messages).
    tool_schema: u64,
    /// One serialised tool call.
    call: u64,
    /// One tool result.
    result: u64,
    /// One serialised `dispatch_agent` call (its objective included).
    dispatch: u64,
}

/// Per theme, in the order of [`THEMES`].
const THEME_SIZES: [ThemeSizes; 4] = [
    ThemeSizes {
        tool_schema: 357,
        call: 77,
        result: 74,
        dispatch: 87,
    },
    ThemeSizes {
        tool_schema: 339,
        call: 68,
        result: 106,
        dispatch: 98,
    },
    ThemeSizes {
        tool_schema: 324,
        call: 74,
        result: 81,
        dispatch: 83,
    },
    ThemeSizes {
        tool_schema: 301,
        call: 70,
        result: 148,
        dispatch: 88,
    },
];

/// Headroom a forced tool call's `max_tokens` adds to the call's own length.
const TOOL_CALL_MARGIN: u64 = 64;
/// Output of an acknowledgement while sub-agent reports are outstanding.
const ACK_TOKENS: u64 = 48;
/// The trailing "answer in plain prose" message of a root's and of a sub-agent's last call.
const ROOT_DIRECTIVE_TOKENS: u64 = 37;
const SUBAGENT_DIRECTIVE_TOKENS: u64 = 47;
/// The user message asking to delegate, and one dispatch's launch acknowledgement.
const DELEGATE_TOKENS: u64 = 30;
const DISPATCH_STUB_TOKENS: u64 = 17;

/// inference-perf's random paths under an agent's path, so that draws are independent.
mod draw {
    pub const TURNS: u64 = 0;
    pub const CATALOG: u64 = 1;
    pub const THINK: u64 = 2;
    pub const LATENCY: u64 = 3;
    pub const ANSWER: u64 = 4;
    pub const SPAWN_ROLL: u64 = 7;
    pub const SUB_AGENTS: u64 = 8;
    pub const PARALLEL: u64 = 30;
    pub const INPUT: u64 = 50;
    pub const COMPACTION_TRIGGER: u64 = 64;
    pub const COMPACTION_TARGET: u64 = 65;
    pub const STEPS: u64 = 100;
    pub const CHILD: u64 = 200;
    pub const THEME: u64 = 999;
}

/// The configuration's samplers, built once for all sessions.
#[derive(Debug, Clone)]
pub(super) struct Shape {
    seed: u64,
    turns: LengthSampler,
    input: LengthSampler,
    output: LengthSampler,
    steps: LengthSampler,
    catalog: LengthSampler,
    parallel: LengthSampler,
    latency: LengthSampler,
    think: LengthSampler,
    sub_agents: LengthSampler,
    compaction: Option<(LengthSampler, LengthSampler)>,
    /// Cumulative normalised theme weights, in the order of [`THEMES`].
    themes: Vec<(usize, f64)>,
    head: u64,
    fanout: f64,
    max_depth: u64,
    budget: usize,
    max_wait: Duration,
    override_tool_call_max_tokens: bool,
    /// The model every call asks: generated calls record none (inference-perf's `""`).
    model: Option<Arc<str>>,
    /// The API the calls go to, whose shapes their tools and `tool_choice` take.
    api: ApiType,
    tool_choice_mode: ToolChoiceMode,
}

impl Shape {
    pub(super) fn new(config: &SyntheticAgenticConfig, api: ApiType) -> Self {
        let sampler = |d: &Distribution| LengthSampler::for_shared_prefix(d);
        let [steps, catalog, parallel, latency, think] =
            config.optional_distributions().map(|(_, dist, fallback)| {
                sampler(&SyntheticAgenticConfig::or_default(dist, fallback))
            });
        let total: f64 = config.theme_mix.values().map(|t| t.weight).sum();
        let mut cumulative = 0.0;
        let themes = config
            .theme_mix
            .iter()
            .filter_map(|(name, t)| {
                cumulative += t.weight / total;
                let theme = THEMES.iter().position(|&known| known == name)?;
                Some((theme, cumulative))
            })
            .collect();
        let required = |d: &Option<Distribution>| sampler(d.as_ref().expect("validated: set"));
        Shape {
            seed: config.seed as u64,
            turns: sampler(&config.turns_per_session),
            input: required(&config.input_tokens_per_turn),
            output: required(&config.output_tokens_per_turn),
            steps,
            catalog,
            parallel,
            latency,
            think,
            sub_agents: sampler(&config.sub_agents_per_spawn()),
            compaction: config
                .context_compaction
                .as_ref()
                .map(|c| (sampler(&c.trigger_tokens), sampler(&c.target_tokens))),
            themes,
            head: config.shared_system_prompt_len.max(0) as u64,
            fanout: config.fanout_probability,
            max_depth: config.max_depth.max(0) as u64,
            budget: config.max_events_per_session.max(1) as usize,
            max_wait: Duration::from_millis(config.max_wait_ms.max(0) as u64),
            override_tool_call_max_tokens: config.override_tool_call_max_tokens,
            model: Models::new(config.replay_keys()).of(""),
            api,
            tool_choice_mode: config.tool_choice_mode,
        }
    }

    /// The theme of session `index` (an index into [`THEMES`]), drawn with the mix's weights.
    pub(super) fn theme(&self, index: u64) -> usize {
        let roll: f64 = rng_at(self.seed, Purpose::Agentic, index, &[draw::THEME]).random();
        self.themes
            .iter()
            .find(|(_, upto)| roll < *upto)
            .or(self.themes.last())
            .map_or(0, |(theme, _)| *theme)
    }

    /// Session `index`'s graph: inference-perf's `synthN{index}`.
    pub(super) fn session(&self, index: u64) -> SessionGraph {
        let theme = self.theme(index);
        let mut session = Builder {
            shape: self,
            index,
            theme,
            sizes: THEME_SIZES[theme],
            tools: 0,
            events: Vec::new(),
            called: Vec::new(),
            fan_out: Vec::new(),
            contexts: 0,
        };
        session.rounds();
        let catalog = tools::catalog(theme, session.tools);
        let offers = |definitions| {
            ToolCatalog::new(self.api, definitions).expect("generated tools name their function")
        };
        let fan_out_catalog = offers([catalog.clone(), vec![tools::dispatch()]].concat());
        let catalog = offers(catalog);
        let calls = session.called.iter().zip(&session.fan_out);
        for (event, (called, &fan_out)) in session.events.iter_mut().zip(calls) {
            // Generated calls ask for no schema and run inside no tool, so inference-perf tags
            // a call user-facing exactly when it answers in prose.
            event.user_facing = called.is_empty();
            event.tools = match (fan_out, session.tools) {
                (true, _) => fan_out_catalog.offer(self.tool_choice_mode, called),
                (false, 0) => ToolOffer::default(),
                (false, _) => catalog.offer(self.tool_choice_mode, called),
            };
        }
        SessionGraph {
            file: format!("synthetic_agentic session {index} ({})", THEMES[theme]),
            session_id: format!("synthN{index}"),
            event_ids: EventIds::Named,
            events: session.events,
        }
    }
}

/// One session being built.
struct Builder<'a> {
    shape: &'a Shape,
    index: u64,
    /// An index into [`THEMES`].
    theme: usize,
    sizes: ThemeSizes,
    /// Tools advertised to the session's agents (0: no agent has a tool loop).
    tools: u64,
    events: Vec<Event>,
    /// The tools each event's answer calls, in order (none: it answers in prose).
    called: Vec<Vec<String>>,
    /// Whether each event is a call of a spawn, offered the dispatch tool too.
    fan_out: Vec<bool>,
    contexts: u32,
}

/// The last call of an agent's chain so far, as its successor continues it.
#[derive(Debug, Clone, Copy)]
struct Link {
    event: usize,
    /// Its prompt's tokens.
    input: u64,
    /// Tokens its answer adds to the transcript.
    reply: u64,
    /// Tokens of the tool results that answer its tool calls (0: it answered in prose).
    results: u64,
}

/// Where an agent's first call starts from.
enum Start {
    /// A new transcript: the system head, then (after a compaction) a summary of this many
    /// tokens, then the user turn.
    Fresh { summary: u64 },
    /// The root's transcript so far (its previous round's last prompt and answer).
    Continue { context: u32, tokens: u64 },
}

impl Builder<'_> {
    fn sample(&self, sampler: &LengthSampler, path: &[u64]) -> u64 {
        let mut draws = rng_at(self.shape.seed, Purpose::Agentic, self.index, path);
        sampler.sample(&mut draws).into()
    }

    /// A pause drawn in whole seconds (as inference-perf draws it), at most `max_wait_ms`.
    fn pause(&self, sampler: &LengthSampler, path: &[u64]) -> Duration {
        Duration::from_secs(self.sample(sampler, path)).min(self.shape.max_wait)
    }

    /// `n` more calls fit the session's budget beside the `reserved` ones ancestors still owe.
    fn fits(&self, n: usize, reserved: usize) -> bool {
        self.events.len() + reserved + n <= self.shape.budget
    }

    fn context(&mut self) -> u32 {
        self.contexts += 1;
        self.contexts - 1
    }

    /// A forced tool call's `max_tokens`: its calls' length and the margin, or with
    /// `override_tool_call_max_tokens` inference-perf's `max(4 ×, 4096)` of that.
    fn call_max_tokens(&self, calls: u64, each: u64) -> u64 {
        let tokens = calls * each + TOOL_CALL_MARGIN;
        if self.shape.override_tool_call_max_tokens {
            overridden_tool_call_max_tokens(tokens)
        } else {
            tokens
        }
    }

    fn emit(&mut self, name: String, call: Call) -> usize {
        self.events.push(Event {
            span_id: name,
            input_tokens: call.input.clamp(1, u32::MAX.into()) as u32,
            output_tokens: match call.output {
                0 => DEFAULT_MAX_TOKENS,
                n => n.min(u32::MAX.into()) as u32,
            },
            after: call.after,
            wait: call.wait,
            context: call.context,
            // Set once the session is whole: a call's answer may still turn to prose.
            user_facing: false,
            structured_output: false,
            // The session's catalog, or for the calls of a spawn the dispatch tool beside it.
            offers_tools: self.tools > 0 || call.fan_out,
            model: self.shape.model.clone(),
            recorded: None,
            // Set once the session is whole, as `user_facing` is.
            tools: ToolOffer::default(),
        });
        self.called.push(call.called);
        self.fan_out.push(call.fan_out);
        self.events.len() - 1
    }

    fn rounds(&mut self) {
        let shape = self.shape;
        let rounds = self.sample(&shape.turns, &[draw::TURNS]);
        self.tools = self.sample(&shape.catalog, &[draw::CATALOG]);
        let compaction = shape.compaction.as_ref().map(|(trigger, target)| {
            (
                self.sample(trigger, &[draw::COMPACTION_TRIGGER]),
                self.sample(target, &[draw::COMPACTION_TARGET]),
            )
        });
        let catalog = self.tools * self.sizes.tool_schema;
        let mut previous: Option<Link> = None;
        for round in 0..rounds {
            if !self.fits(1, 0) {
                break;
            }
            let wait = match round {
                0 => Duration::ZERO,
                _ => self.pause(&shape.think, &[round, draw::THINK]),
            };
            let (start, after) = match previous {
                None => (Start::Fresh { summary: 0 }, vec![]),
                Some(last) => {
                    let start = match compaction {
                        Some((trigger, target)) if last.input + catalog >= trigger => {
                            Start::Fresh { summary: target }
                        }
                        _ => Start::Continue {
                            context: self.events[last.event].context,
                            tokens: last.input + last.reply,
                        },
                    };
                    (start, vec![last.event])
                }
            };
            let agent = Agent {
                depth: 0,
                prefix: format!("synthN{}:r{round}", self.index),
                path: vec![round],
                reserved: 0,
            };
            match self.agent(&agent, start, after, wait) {
                Some(last) => previous = Some(last),
                None => break,
            }
        }
    }

    /// Builds one agent's calls (and its sub-agents'), returning its last call, or `None` when
    /// not even one call fits the budget.
    fn agent(
        &mut self,
        agent: &Agent,
        start: Start,
        after: Vec<usize>,
        wait: Duration,
    ) -> Option<Link> {
        if !self.fits(1, agent.reserved) {
            return None;
        }
        let shape = self.shape;
        let reserved = agent.reserved;
        let is_root = agent.depth == 0;
        let user = self.sample(&shape.input, &agent.at(&[draw::INPUT]));
        let (context, mut input) = match start {
            Start::Fresh { summary } => (self.context(), shape.head + user.max(summary)),
            Start::Continue { context, tokens } => (context, tokens + user),
        };
        let mut steps = self.sample(&shape.steps, &agent.at(&[draw::STEPS]));
        if self.tools == 0 {
            // No tool to call: the agent answers at once.
            steps = 0;
        }
        let roll: f64 = rng_at(
            shape.seed,
            Purpose::Agentic,
            self.index,
            &agent.at(&[draw::SPAWN_ROLL]),
        )
        .random();
        let spawns = roll < shape.fanout && agent.depth < shape.max_depth;
        let answer = self.sample(&shape.output, &agent.at(&[draw::ANSWER]));
        let directive = if is_root {
            ROOT_DIRECTIVE_TOKENS
        } else {
            SUBAGENT_DIRECTIVE_TOKENS
        };
        // The tools a step's parallel calls call: the catalog's, from the step's number on.
        let step_calls = |b: &Self, step: u64| -> Vec<String> {
            let calls = b
                .sample(&shape.parallel, &agent.at(&[step, draw::PARALLEL]))
                .max(1);
            (0..calls)
                .map(|j| tools::name(b.theme, (step + j) % b.tools))
                .collect()
        };

        let principal_terminal = steps == 0 && !spawns;
        let principal = if steps >= 1 {
            let called = step_calls(self, 0);
            let calls = called.len() as u64;
            let output = self.call_max_tokens(calls, self.sizes.call);
            let call = Call::new(input, output, after, wait, context).calling(called);
            let event = self.emit(format!("{}:principal", agent.prefix), call);
            Link {
                event,
                input,
                reply: calls * self.sizes.call,
                results: calls * self.sizes.result,
            }
        } else {
            // A root without tools gets no "no tool call" nudge: it cannot call one.
            if principal_terminal && (!is_root || self.tools > 0) {
                input += directive;
            }
            // A principal that spawns without a tool loop has no answer of its own to size:
            // inference-perf asks nothing, so the client's default is asked.
            let output = if principal_terminal { answer } else { 0 };
            let call = Call::new(input, output, after, wait, context);
            let event = self.emit(format!("{}:principal", agent.prefix), call);
            Link {
                event,
                input,
                reply: self.events[event].output_tokens.into(),
                results: 0,
            }
        };

        let mut last = principal;
        let step_events = if spawns {
            steps.saturating_sub(1)
        } else {
            steps
        };
        for step in 0..step_events {
            if !self.fits(1, reserved) {
                break;
            }
            let mut input = last.input + last.reply + last.results;
            let wait = self.pause(&shape.latency, &agent.at(&[step, draw::LATENCY]));
            let terminal = step == steps - 1 && !spawns;
            let after = vec![last.event];
            let name = format!("{}:t{step}", agent.prefix);
            last = if terminal {
                input += directive;
                let event = self.emit(name, Call::new(input, answer, after, wait, context));
                Link {
                    event,
                    input,
                    reply: answer,
                    results: 0,
                }
            } else {
                let called = step_calls(self, step + 1);
                let calls = called.len() as u64;
                let output = self.call_max_tokens(calls, self.sizes.call);
                let call = Call::new(input, output, after, wait, context).calling(called);
                let event = self.emit(name, call);
                Link {
                    event,
                    input,
                    reply: calls * self.sizes.call,
                    results: calls * self.sizes.result,
                }
            };
        }

        if spawns && let Some(spawned) = self.spawn(agent, last, context, answer, directive) {
            last = spawned;
        }

        // A loop cut short by the budget ends on a tool call: it answers in prose instead.
        if !self.called[last.event].is_empty() {
            self.called[last.event].clear();
            self.events[last.event].output_tokens = answer.clamp(1, u32::MAX.into()) as u32;
            last.reply = answer;
            last.results = 0;
        }
        Some(last)
    }

    /// The spawn of an agent whose chain ends at `last`: the dispatch call, the sub-agents, the
    /// acknowledgement and one call per report, the last of which answers. `None` (and nothing
    /// kept) when they do not all fit the budget.
    fn spawn(
        &mut self,
        agent: &Agent,
        last: Link,
        context: u32,
        answer: u64,
        directive: u64,
    ) -> Option<Link> {
        let shape = self.shape;
        let reserved = agent.reserved;
        let children = self.sample(&shape.sub_agents, &agent.at(&[draw::SUB_AGENTS])) as usize;
        if children == 0 || !self.fits(2 * children + 2, reserved) {
            return None;
        }
        let (kept_events, kept_contexts) = (self.events.len(), self.contexts);
        // The dispatch call also reads the results of the loop's last tool call, if any.
        let input = last.input
            + DELEGATE_TOKENS
            + if !self.called[last.event].is_empty() {
                last.reply + last.results
            } else {
                0
            };
        let children_tokens = children as u64;
        let output = self.call_max_tokens(children_tokens, self.sizes.dispatch);
        let depth = agent.depth;
        let call = Call::new(input, output, vec![last.event], Duration::ZERO, context)
            .calling(vec![tools::DISPATCH.to_string(); children])
            .fan_out();
        let spawn = self.emit(format!("{}:d{depth}:spawn", agent.prefix), call);
        let mut reports = Vec::with_capacity(children);
        for c in 0..children {
            // This agent's acknowledgement and reports, and the siblings still to come, are
            // owed already: a child may not spend them.
            let child_reserved = reserved + (children + 1) + (children - c - 1);
            if !self.fits(1, child_reserved) {
                break;
            }
            let child = Agent {
                depth: depth + 1,
                prefix: format!("{}:d{}:sub{c}", agent.prefix, depth + 1),
                path: agent.at(&[draw::CHILD + c as u64]),
                reserved: child_reserved,
            };
            let Some(end) = self.agent(
                &child,
                Start::Fresh { summary: 0 },
                vec![spawn],
                Duration::ZERO,
            ) else {
                break;
            };
            reports.push(end);
        }
        if reports.len() != children || !self.fits(children + 1, reserved) {
            self.events.truncate(kept_events);
            self.called.truncate(kept_events);
            self.fan_out.truncate(kept_events);
            self.contexts = kept_contexts;
            return None;
        }
        let input = input + children_tokens * (self.sizes.dispatch + DISPATCH_STUB_TOKENS);
        let call = Call::new(input, ACK_TOKENS, vec![spawn], Duration::ZERO, context).fan_out();
        let mut link = Link {
            event: self.emit(format!("{}:d{depth}:dispatch_ack", agent.prefix), call),
            input,
            reply: ACK_TOKENS,
            results: 0,
        };
        for (c, report) in reports.iter().enumerate() {
            let is_last = c + 1 == children;
            // The report is the sub-agent's answer; the previous call's own answer is not
            // carried (inference-perf builds each report call on the previous one's prompt).
            let mut input = link.input + report.reply;
            let output = if is_last {
                input += directive;
                answer
            } else {
                ACK_TOKENS
            };
            let after = vec![link.event, report.event];
            let call = Call::new(input, output, after, Duration::ZERO, context).fan_out();
            link = Link {
                event: self.emit(format!("{}:d{depth}:notify{c}", agent.prefix), call),
                input,
                reply: output,
                results: 0,
            };
        }
        Some(link)
    }
}

/// An agent's place in its session.
struct Agent {
    depth: u64,
    /// inference-perf's event-id prefix of its calls.
    prefix: String,
    /// Its random path.
    path: Vec<u64>,
    /// Calls its ancestors still owe.
    reserved: usize,
}

impl Agent {
    fn at(&self, tail: &[u64]) -> Vec<u64> {
        [self.path.as_slice(), tail].concat()
    }
}

/// One call about to be emitted.
struct Call {
    input: u64,
    output: u64,
    after: Vec<usize>,
    wait: Duration,
    context: u32,
    /// The tools its answer calls (none: it answers in prose).
    called: Vec<String>,
    /// A call of a spawn (dispatch, acknowledgement, reports): it offers the dispatch tool.
    fan_out: bool,
}

impl Call {
    fn new(input: u64, output: u64, after: Vec<usize>, wait: Duration, context: u32) -> Self {
        Call {
            input,
            output,
            after,
            wait,
            context,
            called: Vec::new(),
            fan_out: false,
        }
    }

    fn fan_out(mut self) -> Self {
        self.fan_out = true;
        self
    }

    fn calling(mut self, tools: Vec<String>) -> Self {
        self.called = tools;
        self
    }
}

#[cfg(test)]
mod tests;
