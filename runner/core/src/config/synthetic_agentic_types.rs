//! `data.synthetic_agentic`: inference-perf 0.7.0's procedurally generated agent sessions, with
//! its keys and defaults. The session shapes these keys describe are built in
//! `plan::sessions::synthetic`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::distribution::{Distribution, fixed};
use super::replay_keys::{default_predecessor_wait_timeout_sec, impl_replay_keys};
use super::tool_policy::ToolChoiceMode;

/// Sessions of agents answering users: each session is `turns_per_session` user turns to a
/// root agent; each turn runs a tool loop of `tool_loop_depth` model calls (each emitting
/// `parallel_tool_calls_per_step` tool calls, `tool_call_latency_sec` apart) and a final
/// answer, and may spawn `sub_agents_per_spawn` sub-agents (`fanout_probability`, up to
/// `max_depth` levels) whose reports the agent then reads one by one. Every agent's calls carry
/// its growing transcript after a `shared_system_prompt_len`-token system head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyntheticAgenticConfig {
    /// Required: sessions to generate (the load's volume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_sessions: Option<i64>,
    /// Required: tokens of each user turn (and of each sub-agent's task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_per_turn: Option<Distribution>,
    /// Required: `max_tokens` of each agent's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_per_turn: Option<Distribution>,
    /// User turns to the root agent (default fixed 1).
    #[serde(default = "default_turns_per_session")]
    pub turns_per_session: Distribution,
    /// Chance that an agent spawns sub-agents, drawn for each root turn and each sub-agent.
    #[serde(default)]
    pub fanout_probability: f64,
    /// Theme name → weight (a number or `{weight: W}`): each session's theme is drawn with these
    /// weights. Themes: generic, code_change_task, db2_latency_incident, research_rag.
    #[serde(default = "default_theme_mix")]
    pub theme_mix: BTreeMap<String, ThemeWeight>,
    /// Base seed of every session's draws: a session is the same for the same seed and index.
    #[serde(default = "default_seed")]
    pub seed: i64,
    /// Tokens of the system head that opens every agent's transcript.
    #[serde(default = "default_shared_system_prompt_len")]
    pub shared_system_prompt_len: i64,
    /// Tool-loop steps of an agent before it answers (default fixed 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_loop_depth: Option<Distribution>,
    /// Sub-agents of a spawn (default uniform 2–4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_agents_per_spawn: Option<Distribution>,
    /// Deepest level of sub-agents.
    #[serde(default = "default_max_depth")]
    pub max_depth: i64,
    /// Most calls a session makes: new turns, tool steps and spawns stop at it.
    #[serde(default = "default_max_events_per_session")]
    pub max_events_per_session: i64,
    /// Tools advertised to each agent (default fixed 8; 0: no tool loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_catalog_size_per_agent: Option<Distribution>,
    /// Tool calls of one tool-loop step (default fixed 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls_per_step: Option<Distribution>,
    /// Seconds between an agent's steps, the tools running (default fixed 1; whole seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_latency_sec: Option<Distribution>,
    /// Seconds before each follow-up user turn (default fixed 10; whole seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_think_time_sec: Option<Distribution>,
    /// The model's context in tokens: a config whose largest request (by inference-perf's
    /// estimate) would not fit is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<i64>,
    /// Compaction: a turn whose transcript reaches `trigger_tokens` starts a fresh transcript
    /// with a `target_tokens` summary instead (default: the transcript only grows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_compaction: Option<ContextCompaction>,
    /// Tool-call steps ask `max(4 × their length, 4096)` tokens instead of their length.
    #[serde(default)]
    pub override_tool_call_max_tokens: bool,
    /// Whether calls force the tools their answers call (`force_recorded`: the one tool by
    /// name, several with `required`, a prose answer with `none`) or send no `tool_choice`
    /// (`as_recorded`).
    #[serde(default)]
    pub tool_choice_mode: ToolChoiceMode,
    /// Accepted as inference-perf does; every generated call has its own length.
    #[serde(default = "default_max_tokens")]
    pub default_max_tokens: i64,
    /// Longest pause replayed, in milliseconds: longer tool or think times are cut to it.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: i64,
    /// Pinned to false (inference-perf's rule): sessions are distinct already.
    #[serde(default)]
    pub inject_random_session_id: bool,
    /// Pinned unset (inference-perf's rule): raise num_sessions instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_sessions_target: Option<i64>,
    /// Pinned to false (inference-perf's rule): there are no files.
    #[serde(default)]
    pub skip_invalid_files: bool,
    /// Pinned to true (inference-perf's rule): there are no recorded errors.
    #[serde(default = "default_true")]
    pub include_errors: bool,
    /// Every call asks `static_model_name` instead of `server.model_name`.
    #[serde(default)]
    pub use_static_model: bool,
    /// The model every call asks when `use_static_model` is true.
    #[serde(default)]
    pub static_model_name: String,
    /// Recorded model name → the model its calls ask; a call whose recorded model is not
    /// listed asks `server.model_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_mapping: Option<BTreeMap<String, String>>,
    /// Seconds a call waits for the calls before it (from its session's start); one still
    /// waiting then is not sent and fails its session (`predecessor_wait_failed`). 0: no limit.
    #[serde(default = "default_predecessor_wait_timeout_sec")]
    pub predecessor_wait_timeout_sec: f64,
}

impl_replay_keys!(SyntheticAgenticConfig);

/// `context_compaction`: both sizes are drawn once per session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextCompaction {
    pub trigger_tokens: Distribution,
    pub target_tokens: Distribution,
}

/// A theme's weight in `theme_mix`; YAML may also give the bare number (inference-perf's
/// shorthand), which the schema, and so the CRD, does not show.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThemeWeight {
    pub weight: f64,
}

impl<'de> Deserialize<'de> for ThemeWeight {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Bare(f64),
            Block { weight: f64 },
        }
        match Form::deserialize(deserializer) {
            Ok(Form::Bare(weight) | Form::Block { weight }) => Ok(ThemeWeight { weight }),
            Err(_) => Err(serde::de::Error::custom(
                "a theme's weight is a number or {weight: <number>}",
            )),
        }
    }
}

/// inference-perf 0.7.0's built-in themes.
pub const THEMES: [&str; 4] = [
    "generic",
    "code_change_task",
    "db2_latency_incident",
    "research_rag",
];

/// inference-perf's fallbacks of the optional distributions.
pub const DEFAULT_TOOL_LOOP_DEPTH: i64 = 2;
pub const DEFAULT_TOOL_CATALOG_SIZE: i64 = 8;
pub const DEFAULT_PARALLEL_TOOL_CALLS: i64 = 1;
pub const DEFAULT_TOOL_CALL_LATENCY_SEC: i64 = 1;
pub const DEFAULT_USER_THINK_TIME_SEC: i64 = 10;

impl SyntheticAgenticConfig {
    /// `sub_agents_per_spawn`, or inference-perf's uniform 2–4.
    pub fn sub_agents_per_spawn(&self) -> Distribution {
        self.sub_agents_per_spawn.clone().unwrap_or(Distribution {
            min: 2,
            max: 4,
            dist_type: super::distribution::DistributionType::Uniform,
            ..Distribution::default()
        })
    }

    /// Each optional distribution with its name and its fallback (fixed) value.
    pub fn optional_distributions(&self) -> [(&'static str, &Option<Distribution>, i64); 5] {
        [
            (
                "tool_loop_depth",
                &self.tool_loop_depth,
                DEFAULT_TOOL_LOOP_DEPTH,
            ),
            (
                "tool_catalog_size_per_agent",
                &self.tool_catalog_size_per_agent,
                DEFAULT_TOOL_CATALOG_SIZE,
            ),
            (
                "parallel_tool_calls_per_step",
                &self.parallel_tool_calls_per_step,
                DEFAULT_PARALLEL_TOOL_CALLS,
            ),
            (
                "tool_call_latency_sec",
                &self.tool_call_latency_sec,
                DEFAULT_TOOL_CALL_LATENCY_SEC,
            ),
            (
                "user_think_time_sec",
                &self.user_think_time_sec,
                DEFAULT_USER_THINK_TIME_SEC,
            ),
        ]
    }

    /// `dist`, or the fixed distribution of `fallback`.
    pub fn or_default(dist: &Option<Distribution>, fallback: i64) -> Distribution {
        dist.clone().unwrap_or_else(|| fixed(fallback))
    }
}

impl Default for SyntheticAgenticConfig {
    fn default() -> Self {
        SyntheticAgenticConfig {
            num_sessions: None,
            input_tokens_per_turn: None,
            output_tokens_per_turn: None,
            turns_per_session: default_turns_per_session(),
            fanout_probability: 0.0,
            theme_mix: default_theme_mix(),
            seed: default_seed(),
            shared_system_prompt_len: default_shared_system_prompt_len(),
            tool_loop_depth: None,
            sub_agents_per_spawn: None,
            max_depth: default_max_depth(),
            max_events_per_session: default_max_events_per_session(),
            tool_catalog_size_per_agent: None,
            parallel_tool_calls_per_step: None,
            tool_call_latency_sec: None,
            user_think_time_sec: None,
            max_model_len: None,
            context_compaction: None,
            override_tool_call_max_tokens: false,
            tool_choice_mode: ToolChoiceMode::default(),
            default_max_tokens: default_max_tokens(),
            max_wait_ms: default_max_wait_ms(),
            inject_random_session_id: false,
            duplicate_sessions_target: None,
            skip_invalid_files: false,
            include_errors: true,
            use_static_model: false,
            static_model_name: String::new(),
            model_mapping: None,
            predecessor_wait_timeout_sec: default_predecessor_wait_timeout_sec(),
        }
    }
}

fn default_turns_per_session() -> Distribution {
    // inference-perf's `Distribution(type="fixed", mean=1)`: its other fields keep their
    // defaults, which a fixed draw never reads.
    Distribution {
        mean: 1.0,
        dist_type: super::distribution::DistributionType::Fixed,
        ..Distribution::default()
    }
}
fn default_theme_mix() -> BTreeMap<String, ThemeWeight> {
    THEMES
        .iter()
        .map(|&name| (name.to_string(), ThemeWeight { weight: 0.25 }))
        .collect()
}
fn default_seed() -> i64 {
    42
}
fn default_shared_system_prompt_len() -> i64 {
    1000
}
fn default_max_depth() -> i64 {
    2
}
fn default_max_events_per_session() -> i64 {
    64
}
fn default_max_tokens() -> i64 {
    1000
}
fn default_max_wait_ms() -> i64 {
    15000
}
fn default_true() -> bool {
    true
}
