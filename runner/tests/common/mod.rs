//! Helpers for runner tests: a simulator on loopback, configs from YAML, in-process runs.
#![allow(dead_code)] // each test binary uses a different subset

use std::sync::{Mutex, MutexGuard};

use ibench::benchmark::{Benchmark, Outcome};
use ibench::config::{Config, ResolvedConfig};
use ibench::plan::Shard;
use ibench::sim::{SimConfig, SimServer};
use tokio_util::sync::CancellationToken;

/// Timing-sensitive tests of one binary run one at a time, so they do not steal each other's
/// CPU on a 2-core machine.
pub fn timing_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub async fn sim(config: SimConfig) -> SimServer {
    SimServer::start(SimConfig { threads: 1, ..config }).await.expect("simulator starts")
}

/// A config from YAML (snake_case, inference-perf format) pointing at `base_url`, with its
/// reports in `report_dir`.
pub fn config(base_url: &str, report_dir: &std::path::Path, yaml: &str) -> Config {
    let mut doc: serde_json::Value = serde_yaml::from_str(yaml).expect("test YAML parses");
    doc["server"] = serde_json::json!({"type": "vllm", "base_url": base_url});
    doc["storage"] = serde_json::json!({"local_storage": {"path": report_dir.display().to_string()}});
    ibench::config::from_document(doc).unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

pub async fn run(config: Config) -> Outcome {
    let resolved = ResolvedConfig::resolve(config, chrono::Local::now());
    let benchmark = Benchmark::prepare(resolved, Shard::WHOLE).await.expect("benchmark prepares");
    benchmark.run(&CancellationToken::new()).await.expect("benchmark runs")
}

/// The report file `name` (without `.json`) of a run.
pub fn report<'a>(outcome: &'a Outcome, name: &str) -> &'a serde_json::Value {
    &outcome.files.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no report {name}")).contents
}

/// Per-request entries written by a run with `per_request: true`.
pub fn per_request(report_dir: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(report_dir.join("per_request_lifecycle_metrics.json")).expect("per-request report");
    serde_json::from_str(&text).expect("per-request report is JSON")
}
