//! The benchmark configuration: inference-perf's YAML schema (snake_case keys, same defaults).
//!
//! These types are the single source of truth for both the runner's YAML files and the
//! `InferenceBenchmark` CRD (which presents the same fields in camelCase). Every optional field
//! skips serialisation when unset so that a resolved config round-trips without `null`s.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::distribution::Distribution;
use super::replay_keys::{default_predecessor_wait_timeout_sec, impl_replay_keys};
pub use super::synthetic_agentic_types::*;
use super::tool_policy::{BadToolCallHandling, ToolChoiceMode};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub load: LoadConfig,
    #[serde(default)]
    pub report: ReportConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    /// Required: the model server to benchmark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<TokenizerConfig>,
    /// Ours: fetching and checking the input files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<InputsConfig>,
    /// The model server's own metrics over each stage: PromQL queries to a Prometheus server
    /// (inference-perf's), or the server's `/metrics` scraped directly (ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsConfig>,
    /// Named breakers that stop the run when the requests' records show the server is broken;
    /// a run enables them by name in `load.circuit_breakers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub circuit_breakers: Vec<CircuitBreakerConfig>,
}

impl Config {
    /// The report options of the lifecycle files. With `load.slo_search` there is no
    /// `slo_verdict.json`: the probes above the highest passing rate miss by design, and
    /// `slo_max_rate.json` is the verdict.
    pub fn lifecycle_report(&self) -> ReportConfig {
        let mut report = self.report.clone();
        if self.load.slo_search.is_some() {
            report.slo = None;
        }
        report
    }
}

/// inference-perf's circuit breaker: `metrics` selects the request records it watches and which
/// of them are hits, `triggers` say when the hits trip it (any one trips it, for the rest of
/// the run). A tripped breaker ends the stage: nothing more is sent, the requests in flight
/// have the stage's teardown grace, later stages are not sent, and the reports are written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// Referenced from `load.circuit_breakers`.
    #[schemars(length(max = 253))]
    pub name: String,
    pub metrics: BreakerMetrics,
    #[schemars(length(max = 16))]
    pub triggers: Vec<BreakerTrigger>,
}

/// JMESPath expressions over each finished request's record, as inference-perf serialises it
/// (`error.error_type`, `info.response_metrics.output_tokens`, `end_time`, ...), true when
/// Python would call the result true.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerMetrics {
    /// A record is watched when any of these is true, e.g. `error` (every failed request).
    pub matches: Vec<String>,
    /// A watched record is a hit when any of these is true; no rules: every watched record is
    /// a hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

/// `consecutive`: `threshold` hits in a row. `rate_over_window`: hits over the watched records
/// of the last `window_sec` seconds at least `threshold` (0 to 1), once at least `min_samples`
/// records are in the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerTrigger {
    #[serde(rename = "type")]
    pub kind: BreakerTriggerKind,
    pub threshold: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples: Option<i64>,
}

// Variants carry no doc comments: schemars would turn the enum into a `oneOf` of constants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerTriggerKind {
    #[default]
    Consecutive,
    RateOverWindow,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiType {
    /// `POST /v1/completions`
    #[default]
    Completion,
    /// `POST /v1/chat/completions`
    Chat,
    /// `POST /v1/messages` (Anthropic's Messages API)
    AnthropicMessages,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(default, rename = "type")]
    pub api_type: ApiType,
    /// Stream responses (SSE); needed for time to first token and inter-token latency.
    #[serde(default)]
    pub streaming: bool,
    /// Extra HTTP headers added to every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Longest response body read (ours); a longer one is a failure labelled "Response Too
    /// Large" and is not read further. Default 64 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<i64>,
    /// Unit of the SLO header values: `s`, `ms` (default) or `us`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_unit: Option<String>,
    /// Header of `headers` whose value is each streamed request's time-to-first-token
    /// objective for goodput, overriding `report.goodput.constraints.ttft` (default
    /// `x-slo-ttft-<slo_unit>`; `default` as the value keeps the constraint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_ttft_header: Option<String>,
    /// As `slo_ttft_header`, for the time per output token (default `x-slo-tpot-<slo_unit>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_tpot_header: Option<String>,
    /// Structured output, sent as each request's `response_format` (chat and completion APIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Header carrying each request's session id (multi-turn chat: `user_session_<n>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id_header_key: Option<String>,
    /// Response header of a server-assigned session token (a router's session affinity): the
    /// last token a session received is sent back in this header on its later requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_header_key: Option<String>,
}

// Variants carry no doc comments: schemars would turn the enum into a `oneOf` of constants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormatType {
    #[default]
    JsonSchema,
    JsonObject,
}

/// `json_schema`: the answer must follow `json_schema` (sent under `name`); `json_object`: any
/// JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseFormat {
    #[serde(default, rename = "type")]
    pub format_type: ResponseFormatType,
    #[serde(default = "default_response_format_name")]
    pub name: String,
    /// The JSON schema itself (any JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub json_schema: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ResponseFormat {
    /// The request's `response_format` field, as inference-perf sends it.
    pub fn to_request_field(&self) -> serde_json::Value {
        match self.format_type {
            ResponseFormatType::JsonObject => serde_json::json!({"type": "json_object"}),
            ResponseFormatType::JsonSchema => serde_json::json!({
                "type": "json_schema",
                "json_schema": {"name": self.name, "schema": self.json_schema},
            }),
        }
    }
}

fn default_response_format_name() -> String {
    "structured_output".into()
}

/// A JSON object whose keys are the user's (a JSON schema): the CRD keeps it whole instead of
/// pruning or renaming its fields.
fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// 64 MiB: far above any completion, and a bound on the memory a misbehaving server can make
/// each request in flight hold.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 << 20;

impl ApiConfig {
    /// `max_response_bytes` or its default.
    pub fn max_response_bytes(&self) -> u64 {
        self.max_response_bytes
            .map_or(DEFAULT_MAX_RESPONSE_BYTES, |n| n.max(1) as u64)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServerType {
    #[default]
    Vllm,
    Sglang,
    Tgi,
    Mock,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default, rename = "type")]
    pub server_type: ServerType,
    /// Model name sent in each request; when unset, the first model of `GET /v1/models`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// Server address without the `/v1` suffix, e.g. `http://127.0.0.1:8000`.
    pub base_url: String,
    #[serde(default = "default_true")]
    pub ignore_eos: bool,
    /// Sent as `Authorization: Bearer <api_key>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Kubernetes only (`InferenceBenchmark`): the Secret key holding the API key, handed to
    /// runner pods as an environment variable so that the key never enters a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyRef>,
    /// PEM certificate chain presented to a server that asks for a client certificate (mutual
    /// TLS), with `key_path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<String>,
    /// PEM private key of `cert_path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// PEM certificates of CAs trusted besides the bundled Mozilla roots and the system's trust
    /// store (a private CA: cert-manager, a service mesh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert_path: Option<String>,
    /// Accept any server certificate (a warning is printed; the config in the report says so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_tls_verify: bool,
    /// HTTP version of the load: `"1.1"` (default) or `"2"` (h2c with prior knowledge for
    /// `http://`, ALPN `h2` for `https://`; requests multiplexed as streams).
    #[serde(default, skip_serializing_if = "HttpVersion::is_default")]
    pub http_version: HttpVersion,
}

/// `server.http_version`. Written as a string; the numbers `2` and `1.1` (what YAML makes of
/// an unquoted `2`, also through `--set`) read as the same versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub enum HttpVersion {
    #[default]
    #[serde(rename = "1.1")]
    Http1,
    #[serde(rename = "2")]
    Http2,
}

impl HttpVersion {
    fn is_default(&self) -> bool {
        *self == HttpVersion::default()
    }
}

impl<'de> Deserialize<'de> for HttpVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Text(String),
            Number(f64),
        }
        let version = match Given::deserialize(deserializer)? {
            Given::Text(text) => match text.trim() {
                "1.1" => Some(HttpVersion::Http1),
                "2" | "2.0" => Some(HttpVersion::Http2),
                _ => None,
            },
            Given::Number(1.1) => Some(HttpVersion::Http1),
            Given::Number(2.0) => Some(HttpVersion::Http2),
            Given::Number(_) => None,
        };
        version.ok_or_else(|| serde::de::Error::custom(r#"expected "1.1" or "2""#))
    }
}

/// A key of a Secret in the benchmark's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyRef {
    /// Secret name.
    pub name: String,
    /// Key within the Secret's data.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizerConfig {
    /// Local path of a Hugging Face `tokenizer.json` (or a directory holding one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained_model_name_or_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_remote_code: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Seconds that loading the tokenizer may take before the run is refused (default 300; the
    /// file is local, or fetched before this from a bucket within its own timeouts).
    #[serde(default = "default_tokenizer_load_timeout")]
    pub load_timeout: f64,
}

fn default_tokenizer_load_timeout() -> f64 {
    300.0
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        TokenizerConfig {
            pretrained_model_name_or_path: None,
            trust_remote_code: None,
            token: None,
            load_timeout: default_tokenizer_load_timeout(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DataType {
    /// `"1 2 3 <i>"` prompts (chat: `"mock prompt <i>"`) and the client's default `max_tokens`.
    #[default]
    #[serde(rename = "mock")]
    Mock,
    /// Random vocabulary tokens; lengths from the distributions or `data.trace`.
    #[serde(rename = "random")]
    Random,
    /// Text from a corpus file (`corpus_file_path`, default: the shipped sonnets).
    #[serde(rename = "synthetic")]
    Synthetic,
    /// Groups of prompts sharing a prefix (`data.shared_prefix`).
    #[serde(rename = "shared_prefix")]
    SharedPrefix,
    /// Conversations from a local ShareGPT JSON file (`data.path`).
    #[serde(rename = "shareGPT")]
    ShareGpt,
    /// Agent sessions from OpenTelemetry trace files (`data.otel_trace_replay`), one session a
    /// file, replayed by `load.type: trace_session_replay`.
    #[serde(rename = "otel_trace_replay")]
    OtelTraceReplay,
    /// Agent sessions from Weka KV-cache-tester traces (`data.weka_trace_replay`), one session
    /// a trace, replayed by `load.type: trace_session_replay`.
    #[serde(rename = "weka_trace_replay")]
    WekaTraceReplay,
    /// Generated agent sessions (`data.synthetic_agentic`): user turns, tool loops and
    /// sub-agents, replayed by `load.type: trace_session_replay`.
    #[serde(rename = "synthetic_agentic")]
    SyntheticAgentic,
    /// Seeded multi-turn conversations, each turn after the previous answer and its tool-call
    /// latency (`data.conversation_replay`).
    #[serde(rename = "conversation_replay")]
    ConversationReplay,
    /// News articles to summarise (`data.path`: the dataset's Parquet or JSON Lines file).
    #[serde(rename = "cnn_dailymail")]
    CnnDailymail,
    /// Instructions to answer (`data.path`: Parquet, JSON Lines or a JSON list of rows with
    /// `conversations`, as BAAI/Infinity-Instruct publishes them): the turns before the closing
    /// `gpt` answer are the prompt.
    #[serde(rename = "infinity_instruct")]
    InfinityInstruct,
    /// Bills to summarise (`data.path`: a `billsum_conversations.json` JSON list, JSON Lines or
    /// Parquet of rows with `conversations`): the first turn is the prompt, the second the
    /// answer.
    #[serde(rename = "billsum_conversations")]
    BillsumConversations,
    /// Image questions (`data.path`: the Parquet file of lmarena-ai/VisionArena-Chat, or JSON
    /// Lines of its rows): the first user turn of `conversation` is the prompt, the `images`'
    /// bytes go with it as `data:` URLs (`data.visionarena`).
    #[serde(rename = "visionarena")]
    VisionArena,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    #[serde(default, rename = "type")]
    pub data_type: DataType,
    /// Dataset file (`shareGPT`: a JSON list of `{conversations: [{from, value}]}`;
    /// `cnn_dailymail`: Parquet, JSON Lines or a JSON list with `article` and `highlights`;
    /// `infinity_instruct`, `billsum_conversations`: the same forms with `conversations`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Text file the `synthetic` generator takes prompts from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus_file_path: Option<String>,
    /// Prompt lengths (`random`, `synthetic`); for `shareGPT` its `min`/`max` filter prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_distribution: Option<Distribution>,
    /// Output lengths (`random`, `synthetic`); for `shareGPT` its `min`/`max` filter answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_distribution: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_prefix: Option<SharedPrefixConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_replay: Option<ConversationReplayConfig>,
    /// Take input/output token counts from a trace file instead of the distributions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceConfig>,
    /// inference-perf's wrapping of each `random` prompt in the tokenizer's chat template; only
    /// `false` (the default) is supported here.
    #[serde(default)]
    pub use_chat_template: bool,
    /// The trace files of `otel_trace_replay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otel_trace_replay: Option<OtelTraceReplayConfig>,
    /// The trace files of `weka_trace_replay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weka_trace_replay: Option<WekaTraceReplayConfig>,
    /// The session shapes of `synthetic_agentic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic_agentic: Option<SyntheticAgenticConfig>,
    /// Synthetic images in `synthetic` chat prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multimodal: Option<super::multimodal::MultimodalConfig>,
    /// The pool of `visionarena` rows and how their images are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visionarena: Option<super::multimodal::VisionArenaConfig>,
}

/// Where `otel_trace_replay` finds its traces and how it replays them. Each file is one
/// session: its LLM-call spans (`gen_ai.operation.name: chat`) are the session's requests, with
/// the recorded prompt and output token counts (`gen_ai.usage.*`); a call waits for the calls
/// it depends on and then for the recorded gap (tool or think time) after them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OtelTraceReplayConfig {
    /// Every `*.json` file of this directory (one of `trace_directory` or `trace_files`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_directory: Option<String>,
    /// These files (patterns are not expanded here: list the files or use `trace_directory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_files: Option<Vec<String>>,
    /// Output tokens of a call whose span records neither a count nor an output.
    #[serde(default = "default_replay_max_tokens")]
    pub default_max_tokens: i64,
    /// Longest recorded gap replayed, in milliseconds: longer tool or think times are cut to it.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: i64,
    /// Replay calls whose span has an error status too.
    #[serde(default = "default_true")]
    pub include_errors: bool,
    /// A call answering with a tool call from its recorded tools asks `max(4 × its recorded
    /// output length, 4096)` tokens (as every call offered tools, it may end early).
    #[serde(default = "default_true")]
    pub override_tool_call_max_tokens: bool,
    /// Leave out a file that cannot be read as a trace (said before the run) instead of
    /// refusing the run.
    #[serde(default)]
    pub skip_invalid_files: bool,
    /// A Python `lambda x: ...` replaying only the traces it returns true for
    /// (inference-perf's `filter`, which it evaluates without builtins; what `x` holds and
    /// which expressions are evaluated: see the README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Repeat the sessions in turn until there are this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_sessions_target: Option<i64>,
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
    /// `force_recorded`: a call whose recorded answer is a tool call forces it (its function,
    /// or `required` for several calls or a tool it was not offered) and a prose answer offered
    /// tools gets `tool_choice: none`; `as_recorded`: no `tool_choice`.
    #[serde(default)]
    pub tool_choice_mode: ToolChoiceMode,
    /// Send the recorded messages as they are instead of the live messages and answers of the
    /// calls before.
    #[serde(default)]
    pub disable_output_substitution: bool,
    /// Put `[SESS:<random>] ` before the content of each call's own messages (a repeated
    /// session always has it), so that sessions share no cached prefix.
    #[serde(default)]
    pub inject_random_session_id: bool,
    /// Span attribute → request header carrying its value (`default` when a span lacks it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_to_header_map: Option<BTreeMap<String, String>>,
    /// Span attribute → label of the call's per-request record (`info.labels`), with its value
    /// (`default` when a span lacks it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_to_label_map: Option<BTreeMap<String, String>>,
    /// `use_recorded`: where a later call sends an earlier call's live answer whose tool-call
    /// arguments are not valid JSON, it sends the recorded answer instead (a recorded one
    /// malformed too fails the call, `recorded_fallback_malformed`); `none`: the live answer.
    #[serde(default)]
    pub bad_tool_call_handling: BadToolCallHandling,
}

impl_replay_keys!(OtelTraceReplayConfig);
impl_replay_keys!(WekaTraceReplayConfig);

fn default_replay_max_tokens() -> i64 {
    1000
}
fn default_max_wait_ms() -> i64 {
    15000
}

impl Default for OtelTraceReplayConfig {
    fn default() -> Self {
        OtelTraceReplayConfig {
            trace_directory: None,
            trace_files: None,
            default_max_tokens: default_replay_max_tokens(),
            max_wait_ms: default_max_wait_ms(),
            include_errors: true,
            override_tool_call_max_tokens: true,
            skip_invalid_files: false,
            filter: None,
            duplicate_sessions_target: None,
            use_static_model: false,
            static_model_name: String::new(),
            model_mapping: None,
            predecessor_wait_timeout_sec: default_predecessor_wait_timeout_sec(),
            tool_choice_mode: ToolChoiceMode::default(),
            disable_output_substitution: false,
            inject_random_session_id: false,
            attribute_to_header_map: None,
            attribute_to_label_map: None,
            bad_tool_call_handling: BadToolCallHandling::default(),
        }
    }
}

/// Where `weka_trace_replay` finds its traces and how it replays them. Each JSON file is one
/// trace (`{id, models, block_size, requests}`), one session: its requests (and those of its
/// subagents) are the session's calls, with their recorded `in`/`out` token counts; a call
/// waits for the calls whose answer its conversation carries and then for the recorded gap
/// after them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WekaTraceReplayConfig {
    /// Every `*.json` file of this directory (one of `trace_directory` or `trace_files`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_directory: Option<String>,
    /// These files (patterns are not expanded here: list the files or use `trace_directory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_files: Option<Vec<String>>,
    /// Accepted as inference-perf does; every Weka request records its output length, so no
    /// call falls back to it.
    #[serde(default = "default_replay_max_tokens")]
    pub default_max_tokens: i64,
    /// Longest recorded gap replayed, in milliseconds: longer tool or think times are cut to it.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: i64,
    /// Accepted as inference-perf does; Weka traces record no failed calls.
    #[serde(default = "default_true")]
    pub include_errors: bool,
    /// Accepted as inference-perf does; Weka traces record plain-text answers, no tool
    /// call to force.
    #[serde(default = "default_true")]
    pub override_tool_call_max_tokens: bool,
    /// Leave out a file that cannot be read as a trace (said before the run) instead of
    /// refusing the run.
    #[serde(default)]
    pub skip_invalid_files: bool,
    /// A Python `lambda x: ...` replaying only the traces it returns true for
    /// (inference-perf's `filter`, which it evaluates without builtins; what `x` holds and
    /// which expressions are evaluated: see the README).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Repeat the sessions in turn until there are this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_sessions_target: Option<i64>,
    /// Idle gaps between the starts of a trace's consecutive requests longer than this many
    /// seconds are shortened to it before gaps are derived; 0 or less: none is.
    #[serde(default = "default_trace_idle_gap_cap_seconds")]
    pub trace_idle_gap_cap_seconds: f64,
    /// Read by inference-perf 0.7.0 but never applied; only `false` is accepted.
    #[serde(default)]
    pub ignore_trace_delays: bool,
    /// Read by inference-perf 0.7.0 but never applied; only `false` is accepted.
    #[serde(default)]
    pub use_think_time_only: bool,
    /// Tokens per hash block of a trace whose `block_size` is 0.
    #[serde(default = "default_weka_block_size")]
    pub default_block_size: i64,
    /// inference-perf's process count for building sessions; sessions are the same whatever
    /// it is, and here they are built in one thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datagen_workers: Option<i64>,
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
    /// Put `[SESS:<random>] ` before the content of each call's own messages (a repeated
    /// session always has it), so that sessions share no cached prefix.
    #[serde(default)]
    pub inject_random_session_id: bool,
    /// Accepted as inference-perf does; a Weka call is offered no tools, so no `tool_choice`
    /// is ever sent.
    #[serde(default)]
    pub tool_choice_mode: ToolChoiceMode,
    /// Accepted as inference-perf does; a Weka call is offered no tools, so no answer has a
    /// tool call to check.
    #[serde(default)]
    pub bad_tool_call_handling: BadToolCallHandling,
}

fn default_trace_idle_gap_cap_seconds() -> f64 {
    60.0
}
fn default_weka_block_size() -> i64 {
    64
}

impl Default for WekaTraceReplayConfig {
    fn default() -> Self {
        WekaTraceReplayConfig {
            trace_directory: None,
            trace_files: None,
            default_max_tokens: default_replay_max_tokens(),
            max_wait_ms: default_max_wait_ms(),
            include_errors: true,
            override_tool_call_max_tokens: true,
            skip_invalid_files: false,
            filter: None,
            duplicate_sessions_target: None,
            trace_idle_gap_cap_seconds: default_trace_idle_gap_cap_seconds(),
            ignore_trace_delays: false,
            use_think_time_only: false,
            default_block_size: default_weka_block_size(),
            datagen_workers: None,
            use_static_model: false,
            static_model_name: String::new(),
            model_mapping: None,
            predecessor_wait_timeout_sec: default_predecessor_wait_timeout_sec(),
            inject_random_session_id: false,
            tool_choice_mode: ToolChoiceMode::default(),
            bad_tool_call_handling: BadToolCallHandling::default(),
        }
    }
}

/// `shared_prefix` data: `num_groups` shared prefixes (system prompts), each followed by
/// `num_prompts_per_group` different questions. Request `i` uses prompt `i mod (groups ×
/// prompts)`; with `enable_multi_turn_chat` each prompt is a user whose successive requests are
/// the rounds of one conversation.
///
/// The lengths accept a plain integer in YAML (a fixed length, inference-perf's shorthand); the
/// schema (and so the CRD) shows only the distribution form, which structural schemas accept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedPrefixConfig {
    #[serde(default = "default_num_groups", alias = "num_unique_system_prompts")]
    pub num_groups: i64,
    #[serde(
        default = "default_num_prompts_per_group",
        alias = "num_users_per_system_prompt"
    )]
    pub num_prompts_per_group: i64,
    /// Tokens of each group's prefix (default 100).
    #[serde(
        default,
        deserialize_with = "super::distribution::optional_int_or_distribution",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Distribution>")]
    pub system_prompt_len: Option<Distribution>,
    /// Tokens of each question (default 50).
    #[serde(
        default,
        deserialize_with = "super::distribution::optional_int_or_distribution",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Distribution>")]
    pub question_len: Option<Distribution>,
    /// Output tokens of each request (default 50).
    #[serde(
        default,
        deserialize_with = "super::distribution::optional_int_or_distribution",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Distribution>")]
    pub output_len: Option<Distribution>,
    /// Seed of the prompts; default `load.base_seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Older spelling of `question_len` as a distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_distribution: Option<Distribution>,
    /// Older spelling of `output_len` as a distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_distribution: Option<Distribution>,
    /// Each prompt is a user: its requests go in order (each after the previous answer) to the
    /// same worker and carry the whole conversation so far.
    #[serde(default)]
    pub enable_multi_turn_chat: bool,
    /// Media in each group's prefix, drawn once per group as inference-perf draws them, so
    /// every request of a group carries the same bytes (chat only, single-turn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multimodal: Option<super::multimodal::MultimodalConfig>,
}

impl SharedPrefixConfig {
    /// Each length field with its name, in the order of the fields.
    pub fn lengths(&self) -> [(&'static str, &Option<Distribution>); 5] {
        [
            ("system_prompt_len", &self.system_prompt_len),
            ("question_len", &self.question_len),
            ("output_len", &self.output_len),
            ("question_distribution", &self.question_distribution),
            ("output_distribution", &self.output_distribution),
        ]
    }
}

impl Default for SharedPrefixConfig {
    fn default() -> Self {
        SharedPrefixConfig {
            num_groups: default_num_groups(),
            num_prompts_per_group: default_num_prompts_per_group(),
            system_prompt_len: None,
            question_len: None,
            output_len: None,
            seed: None,
            question_distribution: None,
            output_distribution: None,
            enable_multi_turn_chat: false,
            multimodal: None,
        }
    }
}

/// `conversation_replay` data (inference-perf 0.7.0's keys and defaults): `num_conversations`
/// slots, each replaying its conversation over and over — a system prompt (the stage's shared
/// prefix of `shared_system_prompt_len` tokens, then the conversation's own
/// `dynamic_system_prompt_len` tokens) and `turns_per_conversation` turns of
/// `input_tokens_per_turn` new tokens each, every turn carrying the conversation so far and
/// asking `output_tokens_per_turn` tokens. After each answer the conversation pauses for its
/// drawn `tool_call_latency_sec` (whole seconds, as inference-perf draws them) before the next
/// turn. Request `i` is a turn of slot `i mod num_conversations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationReplayConfig {
    /// Seed of the conversations (not of the arrivals, which follow `load.base_seed`).
    #[serde(default = "default_conversation_seed")]
    pub seed: i64,
    #[serde(default = "default_num_conversations")]
    pub num_conversations: i64,
    /// Tokens of the system prompt's head shared by every conversation of a stage.
    #[serde(default = "default_shared_system_prompt_len")]
    pub shared_system_prompt_len: i64,
    /// Tokens of each conversation's own system prompt tail (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_system_prompt_len: Option<Distribution>,
    /// Turns of each conversation (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turns_per_conversation: Option<Distribution>,
    /// New tokens each turn adds (default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_per_turn: Option<Distribution>,
    /// `max_tokens` of each turn (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_per_turn: Option<Distribution>,
    /// Seconds between a turn's answer and the conversation's next turn (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_latency_sec: Option<Distribution>,
    /// The model's context in tokens (default 225000): a turn's prompt leaves out the oldest
    /// turns (then the system prompt's end) to fit `max_tokens` and 200 tokens of slack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<i64>,
}

/// inference-perf's defaults of what `conversation_replay` leaves unset.
pub const DEFAULT_TURNS_PER_CONVERSATION: i64 = 10;
pub const DEFAULT_INPUT_TOKENS_PER_TURN: i64 = 512;
pub const DEFAULT_OUTPUT_TOKENS_PER_TURN: i64 = 256;
pub const DEFAULT_MAX_MODEL_LEN: i64 = 225_000;
/// Tokens a turn's prompt leaves free beside its `max_tokens` (inference-perf's
/// `PROMPT_TOKEN_BUFFER`).
pub const PROMPT_TOKEN_BUFFER: i64 = 200;

impl ConversationReplayConfig {
    /// Each distribution with its name, in the order of the fields.
    pub fn distributions(&self) -> [(&'static str, &Option<Distribution>); 5] {
        [
            ("dynamic_system_prompt_len", &self.dynamic_system_prompt_len),
            ("turns_per_conversation", &self.turns_per_conversation),
            ("input_tokens_per_turn", &self.input_tokens_per_turn),
            ("output_tokens_per_turn", &self.output_tokens_per_turn),
            ("tool_call_latency_sec", &self.tool_call_latency_sec),
        ]
    }

    pub fn max_model_len(&self) -> i64 {
        self.max_model_len.unwrap_or(DEFAULT_MAX_MODEL_LEN)
    }

    /// The most output tokens a turn may ask, and the field that says so: a fixed
    /// distribution gives its mean, whatever its `max` (inference-perf's rule).
    pub fn output_ceiling(&self) -> (i64, &'static str) {
        match &self.output_tokens_per_turn {
            None => (
                DEFAULT_OUTPUT_TOKENS_PER_TURN,
                "output_tokens_per_turn (default)",
            ),
            Some(d) if d.dist_type == super::distribution::DistributionType::Fixed => {
                (d.mean as i64, "output_tokens_per_turn.mean")
            }
            Some(d) => (d.max, "output_tokens_per_turn.max"),
        }
    }
}

impl Default for ConversationReplayConfig {
    fn default() -> Self {
        ConversationReplayConfig {
            seed: default_conversation_seed(),
            num_conversations: default_num_conversations(),
            shared_system_prompt_len: default_shared_system_prompt_len(),
            dynamic_system_prompt_len: None,
            turns_per_conversation: None,
            input_tokens_per_turn: None,
            output_tokens_per_turn: None,
            tool_call_latency_sec: None,
            max_model_len: None,
        }
    }
}

fn default_conversation_seed() -> i64 {
    42
}
fn default_num_conversations() -> i64 {
    200
}
fn default_shared_system_prompt_len() -> i64 {
    8359
}

// Variants carry no doc comments: schemars would turn the enum into a `oneOf` of constants.
// `AzurePublicDataset`: CSV rows `TIMESTAMP, ContextTokens, GeneratedTokens`. `Mooncake`
// (ours): JSON Lines `{"timestamp": ms, "input_length", "output_length", "hash_ids"}`, as the
// Mooncake (FAST'25) traces and aiperf have them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TraceFormat {
    #[default]
    AzurePublicDataset,
    Mooncake,
}

/// Default tokens per `hash_ids` block of a Mooncake trace (the traces' and aiperf's).
pub const DEFAULT_TRACE_BLOCK_SIZE: i64 = 512;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceConfig {
    /// The trace: a CSV file (`AzurePublicDataset`) or a JSON Lines file (`Mooncake`).
    pub file: String,
    #[serde(default)]
    pub format: TraceFormat,
    /// `Mooncake` only (ours): prompt tokens per `hash_ids` entry, default 512. A line's
    /// `input_length` spans its ids' blocks, the last one possibly partial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<i64>,
}

impl TraceConfig {
    /// `block_size`, or its default.
    pub fn block_size(&self) -> u32 {
        self.block_size.unwrap_or(DEFAULT_TRACE_BLOCK_SIZE) as u32
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadType {
    /// Evenly spaced arrivals at `rate`.
    #[default]
    Constant,
    /// Exponential inter-arrival times with mean `1/rate`.
    Poisson,
    /// Send times (and optionally token counts) from a trace file.
    TraceReplay,
    /// `num_requests` requests with exactly `concurrency_level` in flight.
    Concurrent,
    /// Whole sessions of a session data type (`otel_trace_replay`, `weka_trace_replay`): at most
    /// `concurrent_sessions` at once, each request after those it depends on.
    TraceSessionReplay,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadStage {
    /// Requests per second (rate-based types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Seconds of sending (rate-based types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    /// Requests to send (`concurrent` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_requests: Option<i64>,
    /// Requests kept in flight (`concurrent` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_level: Option<i64>,
    /// Sessions running at once; 0: all of the stage's sessions at once
    /// (`trace_session_replay` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_sessions: Option<i64>,
    /// Sessions started per second at most (`trace_session_replay` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_rate: Option<f64>,
    /// Sessions of this stage: the next ones after the previous stages'; default: all that
    /// are left (`trace_session_replay` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_sessions: Option<i64>,
    /// Seconds after which the stage is cut off and reported failed: requests in flight are
    /// cancelled, unsent ones counted as not sent (`trace_session_replay` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

/// The bracket of a search for the highest rate meeting the SLO: the rate is within
/// `tolerance` (relative) of the true one, or the probes ran out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloSearchConfig {
    /// Requests per second of the lowest rate probed.
    pub min_rate: f64,
    /// Requests per second of the highest rate probed (the first probe).
    pub max_rate: f64,
    /// Seconds of each probe stage: long enough for the objectives' percentiles.
    #[serde(default = "default_slo_search_stage_duration")]
    pub stage_duration: f64,
    /// Most probe stages (default 8).
    #[serde(default = "default_slo_search_max_probes")]
    pub max_probes: i64,
    /// Stop once the highest passing and lowest failing rates are this close, relative to
    /// the passing one (default 0.05).
    #[serde(default = "default_slo_search_tolerance")]
    pub tolerance: f64,
}

fn default_slo_search_stage_duration() -> f64 {
    30.0
}
fn default_slo_search_max_probes() -> i64 {
    8
}
fn default_slo_search_tolerance() -> f64 {
    0.05
}

/// How long the warm-up lasts: `duration` seconds or `requests` (one of them; `concurrent`
/// loads: `requests`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarmupConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SweepType {
    Linear,
    Geometric,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepConfig {
    #[serde(rename = "type")]
    pub sweep_type: SweepType,
    #[serde(default = "default_sweep_num_requests")]
    pub num_requests: i64,
    #[serde(default = "default_sweep_timeout")]
    pub timeout: f64,
    #[serde(default = "default_sweep_num_stages")]
    pub num_stages: i64,
    #[serde(default = "default_sweep_stage_duration")]
    pub stage_duration: i64,
    #[serde(default = "default_sweep_saturation_percentile")]
    pub saturation_percentile: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoraSplit {
    /// Adapter name, sent as the request's `model`.
    pub name: String,
    /// Share of the traffic; all splits sum to 1.0.
    pub split: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadConfig {
    #[serde(default, rename = "type")]
    pub load_type: LoadType,
    /// Seconds to wait between stages.
    #[serde(default = "default_interval")]
    pub interval: f64,
    #[serde(default)]
    pub stages: Vec<LoadStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepConfig>,
    /// Find the highest rate whose stage meets every `report.slo` threshold (ours): probe
    /// stages from `min_rate` to `max_rate`, bisected, written to `slo_max_rate.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_search: Option<SloSearchConfig>,
    /// Worker threads, each with its own event loop; default: usable CPUs (cgroup quota aware).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_workers: Option<i64>,
    /// In-flight requests per worker (ignored by `concurrent`).
    #[serde(default = "default_worker_max_concurrency")]
    pub worker_max_concurrency: i64,
    /// TCP connections per worker.
    #[serde(default = "default_worker_max_tcp_connections")]
    pub worker_max_tcp_connections: i64,
    /// Arrival times for `trace_replay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceConfig>,
    /// Per-request timeout in seconds (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<f64>,
    /// Times a request is sent again when it failed before any byte of a response: refused,
    /// reset, or closed (a reused idle connection the server had just closed); never after a
    /// timeout, a TLS error or a response. A retried request is still one request.
    #[serde(default)]
    pub request_retries: i64,
    /// Wait before the first retry in seconds, doubled for each next one, times a random
    /// factor between 0.5 and 1.5.
    #[serde(default = "default_request_retry_backoff_sec")]
    pub request_retry_backoff_sec: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora_traffic_split: Option<Vec<LoraSplit>>,
    /// Seed of the whole request plan; default: current time in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_seed: Option<i64>,
    /// After a rate stage's `duration`, how long in-flight requests may still finish before
    /// they are cancelled (and reported as cancelled).
    #[serde(default = "default_stage_teardown_grace_seconds")]
    pub stage_teardown_grace_seconds: f64,
    /// Run worker threads with real-time scheduling (SCHED_RR), so a busy machine cannot delay
    /// sends by a scheduler tick. Needs CAP_SYS_NICE. Do not use when the target server shares
    /// the CPUs: a saturated worker would starve it.
    #[serde(default)]
    pub worker_realtime_priority: bool,
    /// Stop before the first stage, with the cause (resolver, connection or TLS error), when
    /// none of the connections opened ahead of it can be established; nothing is sent. `false`
    /// keeps going for a server that starts later: its requests fail until it is up.
    #[serde(default = "default_true")]
    pub fail_fast: bool,
    /// Accept rates, durations, request counts, worker counts and token lengths beyond the
    /// limits `ibench validate` states (ours; they catch typos such as a rate of 1e12). Hard
    /// bounds (a year for any time, 2^53 requests per stage, 100 M tokens) stay.
    #[serde(default)]
    pub lift_limits: bool,
    /// Requests sent before stage 0 at its rate (or concurrency), to warm the server's caches
    /// and the connections; left out of every report but their own
    /// (`warmup_lifecycle_metrics.json`). Ours: inference-perf has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupConfig>,
    /// Names of the top-level `circuit_breakers` this run enables.
    #[serde(default)]
    #[schemars(length(max = 32), inner(length(max = 253)))]
    pub circuit_breakers: Vec<String>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            load_type: LoadType::default(),
            interval: default_interval(),
            stages: Vec::new(),
            sweep: None,
            slo_search: None,
            num_workers: None,
            worker_max_concurrency: default_worker_max_concurrency(),
            worker_max_tcp_connections: default_worker_max_tcp_connections(),
            trace: None,
            request_timeout: None,
            lora_traffic_split: None,
            base_seed: None,
            stage_teardown_grace_seconds: default_stage_teardown_grace_seconds(),
            request_retries: 0,
            request_retry_backoff_sec: default_request_retry_backoff_sec(),
            worker_realtime_priority: false,
            fail_fast: true,
            lift_limits: false,
            warmup: None,
            circuit_breakers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestLifecycleReport {
    #[serde(default = "default_true")]
    pub summary: bool,
    #[serde(default = "default_true")]
    pub per_stage: bool,
    /// Every request's record, streamed to `per_request_lifecycle_metrics.json`.
    #[serde(default)]
    pub per_request: bool,
    /// Which parts of each request's record `per_request` keeps.
    #[serde(default)]
    pub per_request_fields: PerRequestFields,
    #[serde(default = "default_true")]
    pub per_adapter: bool,
    #[serde(default)]
    pub per_adapter_stage: bool,
    #[serde(default = "default_percentiles")]
    pub percentiles: Vec<f64>,
    #[serde(default)]
    pub use_server_output_tokens: bool,
    #[serde(default = "default_max_error_messages")]
    pub max_error_messages: i64,
}

impl Default for RequestLifecycleReport {
    fn default() -> Self {
        RequestLifecycleReport {
            summary: true,
            per_stage: true,
            per_request: false,
            per_request_fields: PerRequestFields::default(),
            per_adapter: true,
            per_adapter_stage: false,
            percentiles: default_percentiles(),
            use_server_output_tokens: false,
            max_error_messages: default_max_error_messages(),
        }
    }
}

/// inference-perf's `per_request_fields`: the parts of a per-request record to write.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerRequestFields {
    /// The request body.
    #[serde(default = "default_true")]
    pub request: bool,
    /// The raw response.
    #[serde(default = "default_true")]
    pub response: bool,
    /// `info`: token counts, usage, chunk and token times.
    #[serde(default = "default_true")]
    pub info: bool,
    /// `info.response_metrics.response_chunks`: each streamed event's JSON.
    #[serde(default = "default_true")]
    pub response_chunks: bool,
    /// Latencies computed per request, in seconds.
    #[serde(default)]
    pub computed_metrics: bool,
}

impl Default for PerRequestFields {
    fn default() -> Self {
        PerRequestFields {
            request: true,
            response: true,
            info: true,
            response_chunks: true,
            computed_metrics: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoodputConfig {
    #[serde(default)]
    pub constraints: GoodputConstraints,
}

/// Service-level objectives in seconds; a successful request is "good" when it meets every
/// objective that is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoodputConstraints {
    /// Time to first token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft: Option<f64>,
    /// Time per output token after the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot: Option<f64>,
    /// The request's mean inter-token latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl: Option<f64>,
    /// Request latency per output token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ntpot: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_latency: Option<f64>,
}

impl GoodputConstraints {
    /// `(report key, objective)` of each objective that is set, in inference-perf's order.
    pub fn set(&self) -> Vec<(&'static str, f64)> {
        [
            ("ttft", self.ttft),
            ("tpot", self.tpot),
            ("itl", self.itl),
            ("ntpot", self.ntpot),
            ("request_latency", self.request_latency),
        ]
        .into_iter()
        .filter_map(|(key, slo)| slo.map(|s| (key, s)))
        .collect()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    #[serde(default)]
    pub request_lifecycle: RequestLifecycleReport,
    /// Server-side metrics reports, written when `metrics` is set.
    #[serde(default)]
    pub prometheus: PrometheusReport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<GoodputConfig>,
    /// Session reports, written for session data (`otel_trace_replay`, `weka_trace_replay`).
    #[serde(default)]
    pub session_lifecycle: SessionLifecycleReport,
    /// Service-level objectives (ours): thresholds checked on every stage and on the whole run,
    /// written to `slo_verdict.json`; a missed one makes `ibench run` exit with code 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloConfig>,
}

/// Every threshold must hold where `scope` says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    pub thresholds: Vec<SloThreshold>,
    #[serde(default)]
    pub scope: SloScope,
}

/// Where the thresholds are checked: every stage and the whole run (`stages_and_run`), every
/// stage only (`stages`: a load test where each stage is another rate), or the run only (`run`).
// Variants carry no doc comments: schemars would turn the enum into a `oneOf` of constants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SloScope {
    #[default]
    StagesAndRun,
    Stages,
    Run,
}

/// One objective: `metric` (with `stat` for a distribution) at most `max` and at least `min`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SloThreshold {
    pub metric: SloMetric,
    /// For a latency distribution: `mean`, `median` or a percentile such as `p99` or `p99.9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

/// What an objective is about: a distribution of the successful requests, in seconds
/// (`request_latency`, `time_to_first_token`, `time_per_output_token`,
/// `normalized_time_per_output_token`, `inter_token_latency`, and `schedule_delay`: how late
/// requests were sent against their plan), or a ratio or rate: `failure_ratio` (failed over
/// sent, 0 to 1), `achieved_rate_ratio` (achieved over requested rate, per stage of a
/// rate-based load), `goodput_ratio` (successes meeting every `report.goodput` objective over
/// all successes), `requests_per_sec` and `output_tokens_per_sec` (of the successes).
// Variants carry no doc comments: schemars would turn the enum into a `oneOf` of constants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SloMetric {
    #[default]
    RequestLatency,
    TimeToFirstToken,
    TimePerOutputToken,
    NormalizedTimePerOutputToken,
    InterTokenLatency,
    ScheduleDelay,
    FailureRatio,
    AchievedRateRatio,
    GoodputRatio,
    RequestsPerSec,
    OutputTokensPerSec,
}

impl SloMetric {
    /// A distribution, read through a `stat`.
    pub fn is_distribution(self) -> bool {
        matches!(
            self,
            SloMetric::RequestLatency
                | SloMetric::TimeToFirstToken
                | SloMetric::TimePerOutputToken
                | SloMetric::NormalizedTimePerOutputToken
                | SloMetric::InterTokenLatency
                | SloMetric::ScheduleDelay
        )
    }
}

/// A distribution's statistic, as `stat` names it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SloStat {
    Mean,
    Percentile(f64),
}

impl SloStat {
    /// `mean`, `median` (p50) or `p<percentile>` with 0 < percentile <= 100.
    pub fn parse(text: &str) -> Option<SloStat> {
        match text {
            "mean" => Some(SloStat::Mean),
            "median" => Some(SloStat::Percentile(50.0)),
            _ => text
                .strip_prefix('p')?
                .parse::<f64>()
                .ok()
                .filter(|p| *p > 0.0 && *p <= 100.0)
                .map(SloStat::Percentile),
        }
    }
}

/// Which server-side metrics files are written: `summary_prometheus_metrics.json` and
/// `stage_{i}_prometheus_metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusReport {
    #[serde(default = "default_true")]
    pub summary: bool,
    #[serde(default)]
    pub per_stage: bool,
}

/// Which session reports are written for session data: `summary_session_lifecycle_metrics.json`,
/// `stage_{i}_session_lifecycle_metrics.json` and `per_session_lifecycle_metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionLifecycleReport {
    #[serde(default = "default_true")]
    pub summary: bool,
    #[serde(default = "default_true")]
    pub per_stage: bool,
    #[serde(default)]
    pub per_session: bool,
}

impl Default for SessionLifecycleReport {
    fn default() -> Self {
        SessionLifecycleReport {
            summary: true,
            per_stage: true,
            per_session: false,
        }
    }
}

impl Default for PrometheusReport {
    fn default() -> Self {
        PrometheusReport {
            summary: true,
            per_stage: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricsType {
    /// PromQL queries to the Prometheus server of `metrics.prometheus`.
    Prometheus,
    /// The server's Prometheus text endpoints scraped by the runner (ours).
    Scrape,
    /// No server-side metrics.
    #[default]
    Default,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    #[serde(rename = "type")]
    pub metrics_type: MetricsType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape: Option<ScrapeMetrics>,
}

/// A Prometheus server that scrapes the model server; queried over each stage's window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrometheusMetrics {
    /// The Prometheus server's scrape interval in seconds: queries wait this long (plus 2 s)
    /// after a stage so its last samples are in.
    #[serde(default = "default_scrape_interval")]
    pub scrape_interval: i64,
    /// Base URL of the Prometheus HTTP API, e.g. `http://prometheus:9090`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// PromQL label matchers added to every query, e.g. `namespace="llm"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    /// Google Cloud Managed Service for Prometheus, with the ambient identity.
    #[serde(default)]
    pub google_managed: bool,
}

/// The model server's metrics endpoints, scraped by the runner at a fixed interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrapeMetrics {
    /// Metrics endpoints; default: `{server.base_url}/metrics`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Seconds between scrapes (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    /// Label matchers every counted series must satisfy, in PromQL's syntax
    /// (`namespace="llm"`, `pod=~"vllm-.*"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    /// Under the operator, instead of `urls`: every pod of the model server, found through the
    /// Kubernetes API at each scrape (pods that come or go during the run are followed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<ScrapePods>,
}

/// The model server's pods in the benchmark's namespace, by a Service or by labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScrapePods {
    /// A Service whose selector picks the pods (the one `server.base_url` usually names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Or the pods' labels, all of which must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// The container port serving the metrics on each pod.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Default `/metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl ScrapePods {
    /// The metrics URL of a pod at `ip`.
    pub fn url(&self, ip: &str) -> String {
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        format!(
            "http://{host}:{}{}",
            self.port,
            self.path.as_deref().unwrap_or("/metrics")
        )
    }
}

/// Default seconds between two scrapes of `metrics.scrape`.
pub const DEFAULT_SCRAPE_INTERVAL_SECONDS: f64 = 1.0;

impl ScrapeMetrics {
    pub fn interval_seconds(&self) -> f64 {
        self.interval.unwrap_or(DEFAULT_SCRAPE_INTERVAL_SECONDS)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalStorage {
    /// Report directory; `{timestamp}` is replaced; default `reports-YYYYMMDD-HHMMSS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_file_prefix: Option<String>,
}

impl LocalStorage {
    /// Nothing set: the section adds nothing to a written config (and a resource's `storage`
    /// stays free of a `localStorage` it may not have).
    pub fn is_unset(&self) -> bool {
        self.path.is_none() && self.report_file_prefix.is_none()
    }
}

/// Reports uploaded to Google Cloud Storage: `gs://{bucket_name}/{path}/{report_file_prefix}{file}`.
/// Credentials: `GOOGLE_SERVICE_ACCOUNT_KEY` (the JSON), `GOOGLE_APPLICATION_CREDENTIALS` (its
/// path) or the ambient identity (GKE Workload Identity); `STORAGE_EMULATOR_HOST` names an
/// emulator, which gets none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoogleCloudStorage {
    pub bucket_name: String,
    /// Object name prefix; `{timestamp}` is replaced; default `reports-YYYYMMDD-HHMMSS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_file_prefix: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressingStyle {
    /// Virtual-hosted on AWS, path style elsewhere (what boto3 does).
    #[default]
    Auto,
    /// `https://{bucket}.{host}/{key}`
    Virtual,
    /// `https://{host}/{bucket}/{key}`
    Path,
}

/// Where an S3-compatible store is. Credentials come from the environment
/// (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`[/`AWS_SESSION_TOKEN`]) or the ambient identity
/// (EKS IRSA, instance profile), never from the config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Endpoint {
    /// Custom endpoint of an S3-compatible store, e.g. `http://minio.storage:9000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressing_style: Option<AddressingStyle>,
}

/// Reports uploaded to S3 or an S3-compatible store: `s3://{bucket_name}/{path}/{report_file_prefix}{file}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimpleStorageService {
    pub bucket_name: String,
    /// Key prefix; `{timestamp}` is replaced; default `reports-YYYYMMDD-HHMMSS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_file_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressing_style: Option<AddressingStyle>,
}

impl SimpleStorageService {
    pub fn endpoint(&self) -> S3Endpoint {
        S3Endpoint {
            endpoint_url: self.endpoint_url.clone(),
            region_name: self.region_name.clone(),
            addressing_style: self.addressing_style,
        }
    }
}

/// Where reports go: always the local directory, plus each configured bucket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default, skip_serializing_if = "LocalStorage::is_unset")]
    pub local_storage: LocalStorage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_cloud_storage: Option<GoogleCloudStorage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simple_storage_service: Option<SimpleStorageService>,
}

impl StorageConfig {
    /// Reports leave the machine (or the cluster) only through a bucket.
    pub fn has_object_storage(&self) -> bool {
        self.google_cloud_storage.is_some() || self.simple_storage_service.is_some()
    }
}

/// Ours: how the files a config names (`data.path`, `data.corpus_file_path`, `data.trace.file`,
/// `load.trace.file`, `tokenizer.pretrained_model_name_or_path`) are read when given as object
/// URLs (`s3://bucket/key`, `gs://bucket/key`, `https://host/path`), and the digests every file,
/// local or fetched, must have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputsConfig {
    /// Largest object fetched, in bytes (default 1 GiB); a larger one fails the run before it
    /// starts.
    #[serde(default = "default_input_max_bytes")]
    pub max_bytes: i64,
    /// Seconds allowed to fetch one object (default 300).
    #[serde(default = "default_input_timeout")]
    pub timeout: f64,
    /// Expected SHA-256 (lowercase hex) of input files, keyed by the value the config gives
    /// (URL or local path): a different file fails the run before it starts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sha256: BTreeMap<String, String>,
    /// The S3-compatible store of `s3://` inputs (default: the environment's, AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Endpoint>,
}

impl Default for InputsConfig {
    fn default() -> Self {
        InputsConfig {
            max_bytes: default_input_max_bytes(),
            timeout: default_input_timeout(),
            sha256: BTreeMap::new(),
            s3: None,
        }
    }
}

fn default_input_max_bytes() -> i64 {
    1 << 30
}
fn default_input_timeout() -> f64 {
    300.0
}

fn default_scrape_interval() -> i64 {
    15
}

fn default_true() -> bool {
    true
}
fn default_interval() -> f64 {
    1.0
}
fn default_worker_max_concurrency() -> i64 {
    100
}
fn default_worker_max_tcp_connections() -> i64 {
    2500
}
fn default_request_retry_backoff_sec() -> f64 {
    0.5
}

fn default_stage_teardown_grace_seconds() -> f64 {
    120.0
}
fn default_sweep_num_requests() -> i64 {
    2000
}
fn default_sweep_timeout() -> f64 {
    60.0
}
fn default_sweep_num_stages() -> i64 {
    5
}
fn default_sweep_stage_duration() -> i64 {
    180
}
fn default_sweep_saturation_percentile() -> f64 {
    95.0
}
fn default_percentiles() -> Vec<f64> {
    vec![
        0.1, 1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9,
    ]
}
fn default_max_error_messages() -> i64 {
    100
}
/// inference-perf's `shared_prefix` lengths when unset.
pub const DEFAULT_SYSTEM_PROMPT_LEN: i64 = 100;
pub const DEFAULT_QUESTION_LEN: i64 = 50;
pub const DEFAULT_OUTPUT_LEN: i64 = 50;

fn default_num_groups() -> i64 {
    10
}
fn default_num_prompts_per_group() -> i64 {
    10
}
