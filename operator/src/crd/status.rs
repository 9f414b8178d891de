//! `status` of an `InferenceBenchmark`: conditions for tools (`kubectl wait`, Argo CD, Flux),
//! the run's progress, and its merged statistics (the full report is in `<name>-report`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most adapters listed in `status.adapters` (the report ConfigMap has all of them).
pub const MAX_STATUS_ADAPTERS: usize = 32;
/// Most stages listed in `status.stages`.
pub const MAX_STATUS_STAGES: usize = 64;
/// Runs remembered in `status.previousRuns`.
pub const MAX_PREVIOUS_RUNS: usize = 10;

pub const CONDITION_ACCEPTED: &str = "Accepted";
pub const CONDITION_RUNNING: &str = "Running";
pub const CONDITION_SUCCEEDED: &str = "Succeeded";
/// Present when `spec.report.slo` sets objectives: whether the run met every one.
pub const CONDITION_SLO_MET: &str = "SLOMet";
/// Failed checks described in `status.slo.failed` (the report's `slo_verdict.json` has all).
pub const MAX_STATUS_SLO_FAILURES: usize = 16;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct InferenceBenchmarkStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pending, Running, Succeeded or Failed; derived from the conditions, for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// `Accepted`, `Running` and `Succeeded`; `SLOMet` when `spec.report.slo` sets objectives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    #[schemars(length(max = 8))]
    pub conditions: Vec<Condition>,
    /// The run of `observedGeneration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunRef>,
    /// When stage 0 started (the start time published to every runner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runners: Option<RunnersStatus>,
    /// Live counters of the current stage, summed over the runners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// The whole run, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["id".into()]))]
    #[schemars(length(max = 64))]
    pub stages: Vec<StageStats>,
    /// Per LoRA adapter, by name (at most 32; see `adaptersOmitted`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    #[schemars(length(max = 32))]
    pub adapters: Vec<AdapterStats>,
    /// Adapters left out of `adapters` (all are in the report ConfigMap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapters_omitted: Option<i32>,
    /// The report ConfigMap and the run it describes: the last finished run, kept until a
    /// newer run finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportRef>,
    /// The run against `spec.report.slo`'s objectives (absent without objectives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloStatus>,
    /// Earlier runs, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub previous_runs: Vec<PreviousRun>,
}

/// The SLO verdict of the run, computed from the runners' merged histograms.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SloStatus {
    /// Every check passed; absent until the run's results are merged (or when none were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
    /// Thresholds checked, per stage and over the run.
    pub checks: i32,
    pub failed_checks: i32,
    /// The failed checks, e.g. `stage_1: time_to_first_token p99 = 0.61 > max 0.5` (at most 16).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub failed: Vec<String>,
    /// With `load.sloSearch`: the highest rate probed (requests per second) whose stage met
    /// every objective; one number to compare releases by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunRef {
    pub generation: i64,
    /// The run name: name of the runner Job and prefix of its other objects.
    #[schemars(length(max = 63))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub run_id: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunnersStatus {
    pub desired: i32,
    /// Runners that built their plan and wait for (or passed) the start.
    pub ready: i32,
    pub active: i32,
    pub succeeded: i32,
    pub failed: i32,
    /// Spread of the runners' actual stage 0 start times, milliseconds: on the API server's
    /// clock (each runner measured its offset to it when ready), so it includes the runners'
    /// clocks disagreeing, unless a runner could not measure (then on their own clocks, and
    /// `startSkewErrorMs` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_skew_ms: Option<f64>,
    /// How far `startSkewMs` may be off, from the uncertainty of the runners' clock offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_skew_error_ms: Option<f64>,
    /// How far apart the runners' clocks were (latest minus earliest offset to the API
    /// server's), milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_spread_ms: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub stage: i32,
    /// The stage is one of the probes by which a sweep finds the saturation rate (numbered
    /// apart from the benchmark's stages).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sweep_probe: bool,
    /// Requests of the stage planned, sent, in flight, succeeded, failed.
    pub planned: i64,
    pub sent: i64,
    pub in_flight: i64,
    pub succeeded: i64,
    pub failed: i64,
}

/// Rates are requests per second, delays and latencies milliseconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Requests planned over the rate stages' durations (absent for concurrent loads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_rate: Option<f64>,
    /// Requests sent over the stages' sending time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub achieved_rate: Option<f64>,
    /// Requests sent.
    pub requests: i64,
    pub failures: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_delay_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_delay_p99_ms: Option<f64>,
}

/// What the model server reported over a stage (its metrics, fleet-wide): why latency grew.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerStageStats {
    /// Requests the servers completed (`request_success` increase).
    pub requests: f64,
    /// Requests waiting in the servers' queues, mean over the stage.
    pub queue_length_mean: f64,
    /// The longest queue seen by a scrape (direct scraping only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_length_max: Option<f64>,
    /// Requests being processed, mean over the stage.
    pub running_mean: f64,
    /// KV-cache usage, 0 to 1: p99 over the stage, and the highest a scrape saw (direct
    /// scraping only).
    pub kv_cache_usage_p99: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_usage_max: Option<f64>,
    /// Requests preempted during the stage.
    pub preemptions: f64,
    /// Time requests spent queued in the server, p99 in milliseconds.
    pub queue_time_p99_ms: f64,
    /// What could not be measured (the report file has every cause).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StageStats {
    pub id: i32,
    /// Requests per second asked for (for concurrent stages: the number of requests, as in
    /// inference-perf's reports).
    pub requested_rate: f64,
    pub achieved_rate: f64,
    pub requests: i64,
    pub failures: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_delay_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_delay_p99_ms: Option<f64>,
    /// The model server's side of the stage (`spec.metrics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerStageStats>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdapterStats {
    #[schemars(length(max = 253))]
    pub name: String,
    pub requests: i64,
    pub failures: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_latency_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_latency_p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p99_ms: Option<f64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportRef {
    #[schemars(length(max = 253))]
    pub config_map: String,
    pub generation: i64,
    /// Runners whose results the report holds, of all runners (less when some failed).
    #[schemars(length(max = 16))]
    pub runners: String,
    /// Where the report files are in each configured bucket (`s3://bucket/path/run/`), set
    /// once they are all uploaded; per-request records are listed in
    /// `per_request_lifecycle_metrics.manifest.json` there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2), inner(length(max = 2048)))]
    pub objects: Vec<String>,
    /// Per-request records streamed to the buckets by all runners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_request_entries: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousRun {
    pub generation: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub run_id: Option<String>,
    /// Succeeded, Failed or Superseded.
    #[schemars(length(max = 32))]
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
}
