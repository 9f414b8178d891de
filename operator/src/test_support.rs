//! Fixtures for the unit tests.

use std::time::{Duration, Instant};

use ibench_core::metrics::{
    Clock, Outcome, RecordOptions, RequestRecord, Response, RunMetrics, StageInfo, StageRecorder,
    StageStatus,
};
use serde_json::json;

use crate::Settings;
use crate::crd::InferenceBenchmark;
use crate::desired::Owner;
use crate::validate::{self, RunSpec};

pub fn settings() -> Settings {
    Settings {
        runner_image: "ibench:test".into(),
        ..Settings::default()
    }
}

/// A stored benchmark (namespace `ns`, UID `uid-1`, generation 1) with `spec`.
pub fn benchmark(name: &str, spec: serde_json::Value) -> InferenceBenchmark {
    serde_json::from_value(json!({
        "apiVersion": "inferencebench.dev/v1alpha1",
        "kind": "InferenceBenchmark",
        "metadata": {"name": name, "namespace": "ns", "uid": "uid-1", "generation": 1},
        "spec": spec,
    }))
    .expect("a valid benchmark")
}

pub fn owner() -> Owner {
    Owner::of(&benchmark("bench", valid_spec(1))).expect("stored benchmark")
}

/// Constant 40 req/s for 10 s, two adapters 50/50, `runners` pods.
pub fn valid_spec(runners: u32) -> serde_json::Value {
    json!({
        "server": {"baseUrl": "http://127.0.0.1:8000", "modelName": "m"},
        "load": {"type": "constant", "stages": [{"rate": 40.0, "duration": 10}],
                 "loraTrafficSplit": [{"name": "a", "split": 0.5}, {"name": "b", "split": 0.5}]},
        "runners": {"parallelism": runners},
    })
}

pub fn run_spec(runners: u32) -> RunSpec {
    validate::run_spec(&benchmark("bench", valid_spec(runners)), &settings()).expect("valid")
}

/// One runner's metrics for stage `stage`: per adapter `(name, latency seconds, requests)`,
/// stage 0 starting at Unix time `start`.
pub fn runner_metrics(
    stage: usize,
    rate: f64,
    adapters: &[(&str, f64, u64)],
    start: f64,
) -> RunMetrics {
    let clock = Clock::now();
    let names: Vec<String> = adapters.iter().map(|a| a.0.to_string()).collect();
    let mut recorder = StageRecorder::new(names.len(), clock, RecordOptions::default());
    let origin = Instant::now();
    let mut index = 0;
    for (adapter, (_, latency, count)) in adapters.iter().enumerate() {
        for _ in 0..*count {
            let scheduled = origin + Duration::from_millis(index * 10);
            recorder.record(&RequestRecord {
                index,
                adapter: Some(adapter),
                scheduled,
                start: Some(scheduled + Duration::from_micros(100)),
                end: scheduled + Duration::from_secs_f64(*latency),
                request_bytes: 100,
                prompt_tokens: 10,
                outcome: Outcome::Success(Response {
                    output_tokens: 5,
                    usage: None,
                    chunks: Vec::new(),
                    first_answer: None,
                }),
                retried: None,
                media: None,
            });
            index += 1;
        }
    }
    let info = StageInfo {
        id: stage,
        requested_rate: rate,
        concurrency: None,
        planned: index,
        status: StageStatus::Completed,
        start,
        end: start + 10.0,
        timeout: None,
    };
    let mut metrics = RunMetrics::default();
    metrics.push(recorder.into_metrics(info, &names));
    metrics
}
