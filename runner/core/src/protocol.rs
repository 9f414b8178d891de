//! The contract between the operator and its runner pods, shared by both sides.
//!
//! Per run the operator creates, before the runner Job:
//! - the config ConfigMap `<run>-config`: [`CONFIG_KEY`] holds the runner config (snake_case
//!   YAML, no secrets). Once every runner is ready the operator adds [`START_AT_KEY`] (stage 0
//!   start, Unix seconds); if the run is given up before it starts, [`ABORT_KEY`] instead.
//! - one result ConfigMap `<run>-r<index>` per runner, which only that runner writes:
//!   [`STATE_KEY`] ([`RunnerState`]), [`POD_KEY`], [`PROGRESS_KEY`] (JSON [`RunnerProgress`],
//!   refreshed every few seconds), [`MESSAGE_KEY`] (why it failed) and, at the end, the runner's
//!   [`RunMetrics`] gzip-compressed in `binaryData` under [`METRICS_KEY`], plus with a sweep
//!   how its saturation was found under [`SWEEP_KEY`]; runner 0, which alone collects the
//!   model server's metrics (`metrics`), adds those report files under
//!   [`SERVER_METRICS_KEY`]. With ready it writes [`CLOCK_KEY`], its clock's offset to the API
//!   server's, so that the operator can compare the runners' start times. One object per runner keeps every object far below the 1 MiB limit
//!   whatever the parallelism.
//!
//! Runner pods learn their place from the environment ([`ENV_RUN`], [`ENV_RUNNERS`],
//! [`ENV_INDEX`], …) and may only read `<run>-config` and write their run's result ConfigMaps.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::metrics::{BreakerTrip, RunMetrics};
use crate::report::ReportFile;
use crate::server_metrics::timeseries;

/// Run name (`<benchmark>-g<generation>`), prefix of every per-run object.
pub const ENV_RUN: &str = "IBENCH_RUN";
/// Namespace of the run's objects (downward API).
pub const ENV_NAMESPACE: &str = "IBENCH_NAMESPACE";
/// Number of runners (the Job's `completions`).
pub const ENV_RUNNERS: &str = "IBENCH_RUNNERS";
/// This runner's index, set by the Job controller in Indexed Jobs.
pub const ENV_INDEX: &str = "JOB_COMPLETION_INDEX";
/// The pod's name (downward API), recorded in the result ConfigMap for diagnostics.
pub const ENV_POD_NAME: &str = "IBENCH_POD_NAME";
/// The API key, from `server.apiKeySecretRef` through a `secretKeyRef`.
pub const ENV_API_KEY: &str = "IBENCH_API_KEY";
/// Seconds between progress updates (default [`DEFAULT_PROGRESS_SECONDS`]); runner `k` of `N`
/// writes its first one `k/N` of this after the start, so that the runners' writes are spread
/// evenly over time.
pub const ENV_PROGRESS_SECONDS: &str = "IBENCH_PROGRESS_SECONDS";
/// How long a ready runner waits for the start time before giving up.
pub const ENV_START_TIMEOUT_SECONDS: &str = "IBENCH_START_TIMEOUT_SECONDS";

pub const DEFAULT_PROGRESS_SECONDS: u64 = 5;
pub const DEFAULT_START_TIMEOUT_SECONDS: u64 = 1800;

pub const CONFIG_KEY: &str = "config.yaml";
pub const START_AT_KEY: &str = "start-at";
pub const ABORT_KEY: &str = "abort";

pub const STATE_KEY: &str = "state";
pub const POD_KEY: &str = "pod";
pub const PROGRESS_KEY: &str = "progress.json";
pub const MESSAGE_KEY: &str = "message";
pub const METRICS_KEY: &str = "metrics.json.gz";
/// Runner 0's server-metrics report files, gzip-compressed JSON (see [`encode_server_files`]).
pub const SERVER_METRICS_KEY: &str = "server-metrics.json.gz";
/// Budget of [`SERVER_METRICS_KEY`]: the runner's metrics share the object's 1 MiB.
pub const MAX_SERVER_METRICS_BYTES: usize = 256 * 1024;
/// Also the key of the file in the report ConfigMap.
pub const SWEEP_KEY: &str = "sweep_saturation.json";
/// JSON list of [`InputDigest`]: the input files the runner planned from, written when ready.
pub const INPUTS_KEY: &str = "inputs.json";
/// JSON [`PerRequestPart`]: where the runner streamed its per-request records.
pub const PER_REQUEST_KEY: &str = "per_request.json";
/// With `load.slo_search`: the search's account; also the key of the file in the report
/// ConfigMap.
pub const SLO_SEARCH_KEY: &str = "slo_max_rate.json";
/// JSON [`BreakerTrip`]: a circuit breaker tripped on this runner (written at once, mid-run).
pub const BREAKER_KEY: &str = "circuit-breaker.json";
/// JSON [`ClockOffset`]: the runner's clock against the API server's, written when ready.
pub const CLOCK_KEY: &str = "clock.json";
/// In the config ConfigMap, JSON [`BreakerTrip`]: a breaker tripped on one runner, so every
/// runner stops.
pub const STOP_KEY: &str = "stop.json";

/// Field manager of the runners' writes (the operator applies the same objects as another
/// manager, owning only their metadata).
pub const RUNNER_FIELD_MANAGER: &str = "ibench-runner";

pub fn config_map_name(run: &str) -> String {
    format!("{run}-config")
}

pub fn result_map_name(run: &str, index: u32) -> String {
    format!("{run}-r{index}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunnerState {
    /// Plan built, model resolved, workers started: waiting for the start time.
    Ready,
    Running,
    /// Finished; its metrics are in the result ConfigMap.
    Done,
    Failed,
}

impl RunnerState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunnerState::Ready => "ready",
            RunnerState::Running => "running",
            RunnerState::Done => "done",
            RunnerState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Ready, Self::Running, Self::Done, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// Live counters of the runner's current stage: the wire form of the engine's progress
/// snapshot, a type of its own so that the protocol stays put when the engine's internals
/// change (the derived send rate is left out: the operator sums counters, not rates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunnerProgress {
    pub stage: usize,
    /// The stage is one of a sweep's probes, numbered apart from the benchmark's stages.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sweep_probe: bool,
    pub planned: u64,
    pub sent: u64,
    pub in_flight: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
}

/// How far the runner's clock is behind the API server's: a time `t` on the runner's clock is
/// `t + offset` on the API server's, within `± uncertainty` (seconds). The API server is the
/// one clock every runner and the operator reach, so starts corrected by it compare across
/// nodes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockOffset {
    pub offset: f64,
    pub uncertainty: f64,
}

/// One input file as a runner read it; the operator starts a run only when every runner read
/// the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputDigest {
    /// Config field, e.g. `load.trace.file`.
    pub field: String,
    /// Path or URL as the config gives it.
    pub source: String,
    pub sha256: String,
    pub bytes: u64,
}

/// A runner's share of the per-request records, streamed to object storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerRequestPart {
    pub entries: u64,
    /// The object, once per configured bucket.
    pub objects: Vec<String>,
}

/// The name of runner `index`'s part of the per-request records, beside the report files.
pub fn per_request_part_name(index: u32) -> String {
    format!("per_request_lifecycle_metrics.runner-{index}.json")
}

/// What the operator publishes in the config ConfigMap.
#[derive(Debug, Clone, PartialEq)]
pub enum StartSignal {
    /// Stage 0 starts at this Unix time.
    StartAt(f64),
    Abort(String),
}

/// The start signal in the `data` of a config ConfigMap, if any; `Err` for an unreadable start
/// time.
pub fn start_signal(
    data: Option<&BTreeMap<String, String>>,
) -> Result<Option<StartSignal>, ProtocolError> {
    if let Some(reason) = data.and_then(|d| d.get(ABORT_KEY)) {
        return Ok(Some(StartSignal::Abort(reason.clone())));
    }
    match data.and_then(|d| d.get(START_AT_KEY)) {
        None => Ok(None),
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(|t| Some(StartSignal::StartAt(t)))
            .ok_or_else(|| ProtocolError::StartAt(text.clone())),
    }
}

/// The trip the operator relays to every runner, if any.
pub fn stop_signal(data: Option<&BTreeMap<String, String>>) -> Option<BreakerTrip> {
    serde_json::from_str(data?.get(STOP_KEY)?).ok()
}

/// `start-at` as written by the operator: millisecond precision is plenty for a start that
/// lies seconds ahead, and a fixed format keeps the ConfigMap byte-identical on re-apply.
pub fn format_start_at(unix_seconds: f64) -> String {
    format!("{unix_seconds:.3}")
}

/// A runner's result ConfigMap, read by the operator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunnerReport {
    /// `None` until the runner is ready.
    pub state: Option<RunnerState>,
    pub pod: Option<String>,
    pub message: Option<String>,
    pub progress: Option<RunnerProgress>,
    /// Compressed [`RunMetrics`] ([`decode_metrics`]).
    pub metrics: Option<Vec<u8>>,
    /// With a sweep: how the saturation rate was found (JSON).
    pub sweep: Option<String>,
    /// With `load.slo_search`: the highest rate meeting the SLO and the probes (JSON).
    pub slo_search: Option<String>,
    /// `None` until ready (or from a runner that predates the key).
    pub inputs: Option<Vec<InputDigest>>,
    pub per_request: Option<PerRequestPart>,
    /// Compressed report files of the model server's metrics ([`decode_server_files`]).
    pub server_metrics: Option<Vec<u8>>,
    /// A circuit breaker that tripped on this runner, as soon as it did.
    pub breaker: Option<BreakerTrip>,
    /// `None` from a runner that predates the key or could not measure it.
    pub clock: Option<ClockOffset>,
}

impl RunnerReport {
    /// Reads a result ConfigMap from its `data` and the bytes under [`METRICS_KEY`] in its
    /// `binaryData`.
    pub fn read(data: Option<&BTreeMap<String, String>>, metrics: Option<&[u8]>) -> Self {
        let empty = BTreeMap::new();
        let data = data.unwrap_or(&empty);
        RunnerReport {
            state: data.get(STATE_KEY).and_then(|s| RunnerState::parse(s)),
            pod: data.get(POD_KEY).cloned(),
            message: data.get(MESSAGE_KEY).cloned(),
            progress: data
                .get(PROGRESS_KEY)
                .and_then(|p| serde_json::from_str(p).ok()),
            metrics: metrics.map(<[u8]>::to_vec),
            sweep: data.get(SWEEP_KEY).cloned(),
            slo_search: data.get(SLO_SEARCH_KEY).cloned(),
            inputs: data
                .get(INPUTS_KEY)
                .and_then(|p| serde_json::from_str(p).ok()),
            per_request: data
                .get(PER_REQUEST_KEY)
                .and_then(|p| serde_json::from_str(p).ok()),
            server_metrics: None,
            breaker: data
                .get(BREAKER_KEY)
                .and_then(|p| serde_json::from_str(p).ok()),
            clock: data
                .get(CLOCK_KEY)
                .and_then(|p| serde_json::from_str(p).ok()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("start time {0:?} is not a Unix time in seconds")]
    StartAt(String),
    #[error("runner results cannot be decompressed: {0}")]
    Decompress(#[source] std::io::Error),
    #[error("runner results are not valid: {0}")]
    Metrics(#[source] serde_json::Error),
}

/// gzip of the metrics' JSON: the HDR histograms inside are already deflated, the JSON around
/// them (field names, per-stage and per-adapter structure) compresses well.
pub fn encode_metrics(metrics: &RunMetrics) -> Vec<u8> {
    gzip_json(metrics)
}

pub fn decode_metrics(bytes: &[u8]) -> Result<RunMetrics, ProtocolError> {
    gunzip_json(bytes)
}

/// The server-metrics report files as one gzip-compressed JSON object (file name → contents),
/// within [`MAX_SERVER_METRICS_BYTES`]: the time series is thinned (every 2nd, 4th, … scrape
/// kept, and said so in the file) until it fits, and left out, with the reason in the other
/// files' `errors`, if even that fails.
pub fn encode_server_files(files: &[ReportFile]) -> Vec<u8> {
    let mut files = files.to_vec();
    for _ in 0..MAX_THINNING_STEPS {
        let bytes = gzip_json(&files_object(&files));
        if bytes.len() <= MAX_SERVER_METRICS_BYTES {
            return bytes;
        }
        match files
            .iter_mut()
            .find(|f| f.name == timeseries::TIMESERIES_FILE)
        {
            Some(file) => timeseries::thin(&mut file.contents),
            None => break,
        }
    }
    let why = format!(
        "the time series did not fit in {MAX_SERVER_METRICS_BYTES} bytes compressed and was left out"
    );
    files.retain(|f| f.name != timeseries::TIMESERIES_FILE);
    for file in &mut files {
        if let Some(errors) = file.contents.as_object_mut().map(|o| {
            o.entry("errors")
                .or_insert_with(|| serde_json::Value::Array(Vec::new()))
        }) && let Some(list) = errors.as_array_mut()
        {
            list.push(why.clone().into());
        }
    }
    gzip_json(&files_object(&files))
}

/// Thinning halves the time series each step; 16 steps take an hour at 10 scrapes a second
/// (36,000 points) down to one.
const MAX_THINNING_STEPS: usize = 16;

fn files_object(files: &[ReportFile]) -> serde_json::Map<String, serde_json::Value> {
    files
        .iter()
        .map(|f| (f.name.clone(), f.contents.clone()))
        .collect()
}

pub fn decode_server_files(bytes: &[u8]) -> Result<Vec<ReportFile>, ProtocolError> {
    let object: serde_json::Map<String, serde_json::Value> = gunzip_json(bytes)?;
    Ok(object
        .into_iter()
        .map(|(name, contents)| ReportFile { name, contents })
        .collect())
}

fn gzip_json(value: &impl Serialize) -> Vec<u8> {
    let json = serde_json::to_vec(value).expect("JSON values serialise");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&json).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn gunzip_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut json)
        .map_err(ProtocolError::Decompress)?;
    serde_json::from_slice(&json).map_err(ProtocolError::Metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn server_files_round_trip_within_their_budget() {
        let summary = ReportFile {
            name: "summary_prometheus_metrics".into(),
            contents: serde_json::json!({"successes": {"count": 3.0}}),
        };
        let small = vec![summary.clone()];
        assert_eq!(
            decode_server_files(&encode_server_files(&small)).unwrap(),
            small
        );
        // Poorly compressible values, several megabytes of JSON: thinned until they fit.
        let points: Vec<serde_json::Value> = (0..200_000u64)
            .map(
                |i| serde_json::json!({"time": i, "queue_length": (i * 7919 % 10007) as f64 / 3.0}),
            )
            .collect();
        let series = ReportFile {
            name: timeseries::TIMESERIES_FILE.into(),
            contents: serde_json::json!({"points": points}),
        };
        let bytes = encode_server_files(&[summary.clone(), series]);
        assert!(bytes.len() <= MAX_SERVER_METRICS_BYTES, "{}", bytes.len());
        let decoded = decode_server_files(&bytes).unwrap();
        assert!(decoded.contains(&summary), "the summary is never thinned");
        let series = &decoded
            .iter()
            .find(|f| f.name == timeseries::TIMESERIES_FILE)
            .unwrap()
            .contents;
        let every = series["thinned_to_every"].as_u64().unwrap();
        assert!(every >= 2 && every.is_power_of_two(), "{every}");
        let kept = series["points"].as_array().unwrap();
        assert_eq!(kept.len() as u64, 200_000u64.div_ceil(every));
        assert_eq!(kept[1]["time"], every, "every {every}th scrape is kept");
        assert!(decode_server_files(b"not gzip").is_err());
    }

    #[test]
    fn start_signal_prefers_abort_and_rejects_garbage() {
        assert_eq!(start_signal(Some(&data(&[]))).unwrap(), None);
        assert_eq!(
            start_signal(Some(&data(&[(START_AT_KEY, "1764300000.250")]))).unwrap(),
            Some(StartSignal::StartAt(1764300000.25))
        );
        assert_eq!(
            start_signal(Some(&data(&[
                (START_AT_KEY, "1"),
                (ABORT_KEY, "runner 1 failed")
            ])))
            .unwrap(),
            Some(StartSignal::Abort("runner 1 failed".into()))
        );
        assert!(start_signal(Some(&data(&[(START_AT_KEY, "soon")]))).is_err());
        assert!(start_signal(Some(&data(&[(START_AT_KEY, "-5")]))).is_err());
        assert_eq!(format_start_at(1764300000.25), "1764300000.250");
    }

    #[test]
    fn report_reads_every_key_and_tolerates_missing_ones() {
        assert_eq!(RunnerReport::read(None, None), RunnerReport::default());
        let progress = RunnerProgress {
            stage: 1,
            planned: 10,
            sent: 4,
            in_flight: 1,
            succeeded: 3,
            ..Default::default()
        };
        let cm = data(&[
            (STATE_KEY, "running"),
            (POD_KEY, "b-g1-0-abcde"),
            (PROGRESS_KEY, &serde_json::to_string(&progress).unwrap()),
            (SWEEP_KEY, "{}"),
            (CLOCK_KEY, r#"{"offset":-0.0125,"uncertainty":0.001}"#),
        ]);
        let metrics = encode_metrics(&RunMetrics::default());
        let report = RunnerReport::read(Some(&cm), Some(&metrics));
        assert_eq!(report.state, Some(RunnerState::Running));
        assert_eq!(report.pod.as_deref(), Some("b-g1-0-abcde"));
        assert_eq!(report.progress, Some(progress));
        assert_eq!(report.metrics, Some(metrics));
        assert_eq!(report.sweep.as_deref(), Some("{}"));
        assert_eq!(
            report.clock,
            Some(ClockOffset {
                offset: -0.0125,
                uncertainty: 0.001
            })
        );
        assert!(
            RunnerReport::read(Some(&data(&[(STATE_KEY, "bogus")])), None)
                .state
                .is_none()
        );
    }

    #[test]
    fn progress_marks_sweep_probes_only_when_set() {
        let stage = RunnerProgress {
            stage: 2,
            ..Default::default()
        };
        let text = serde_json::to_string(&stage).unwrap();
        assert!(!text.contains("sweep_probe"), "{text}");
        let probe = RunnerProgress {
            sweep_probe: true,
            ..stage
        };
        let text = serde_json::to_string(&probe).unwrap();
        assert_eq!(
            serde_json::from_str::<RunnerProgress>(&text).unwrap(),
            probe
        );
        let without: RunnerProgress = serde_json::from_str(r#"{"stage":1,"planned":0,"sent":0,"in_flight":0,"succeeded":0,"failed":0,"cancelled":0}"#).unwrap();
        assert!(!without.sweep_probe);
    }

    #[test]
    fn metrics_round_trip_and_corruption_is_an_error() {
        let bytes = encode_metrics(&RunMetrics::default());
        assert!(decode_metrics(&bytes).unwrap().stages.is_empty());
        assert!(decode_metrics(b"not gzip").is_err());
    }
}
