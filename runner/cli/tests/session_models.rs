//! Session data's model keys (`use_static_model`, `static_model_name`, `model_mapping`) and
//! `predecessor_wait_timeout_sec`, end to end over real HTTP to the simulator serving the
//! models asked as LoRA adapters: each call asks the model its recorded one maps to, and a call
//! still waiting for a slow predecessor when the limit runs out is not sent and fails its
//! session, every request and session accounted for.

use std::collections::BTreeMap;
use std::path::Path;

use ibench_sim::{LatencyConfig, LoraConfig, SimConfig};
use ibench_testkit as common;
use serde_json::json;

/// The Weka example: five calls of one model.
const WEKA_TRACE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../configs/traces/weka/coding-agent.json"
);

/// A simulator answering in 10 ms, serving `slow` (its first token 600 ms later) and `fast`.
async fn sim() -> ibench_sim::SimServer {
    common::sim(SimConfig {
        loras: vec![
            LoraConfig {
                name: "slow".into(),
                ttft_offset_ms: 600.0,
            },
            LoraConfig {
                name: "fast".into(),
                ttft_offset_ms: 0.0,
            },
        ],
        latency: LatencyConfig {
            ttft_ms: 10.0,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
}

/// A trace of three calls one after the other, recorded as asking `planner`, `writer` and
/// `writer`: each starts after the previous one ended, so it waits for it.
fn write_trace(dir: &Path) -> String {
    let call = |i: usize, model: &str| {
        json!({
            "span_id": format!("c{i}"), "name": format!("chat {model}"),
            "start_time": format!("2025-01-01T00:00:0{}Z", 2 * i),
            "end_time": format!("2025-01-01T00:00:0{}Z", 2 * i + 1),
            "attributes": {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.input.messages": [{"role": "user", "content": format!("step {i}")}],
                "gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 4,
            },
        })
    };
    let doc = json!({"trace_id": "plan", "spans": [call(0, "planner"), call(1, "writer"), call(2, "writer")]});
    let file = dir.join("plan.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    file.display().to_string()
}

fn config(sim: &str, reports: &Path, data_type: &str, data: &str) -> ibench_core::config::Config {
    common::config(
        sim,
        reports,
        &format!(
            "api: {{type: chat}}\ndata:\n  type: {data_type}\n  {data_type}:\n{data}load:\n  type: trace_session_replay\n  stages:\n  - concurrent_sessions: 2\n    timeout: 60\nreport:\n  request_lifecycle: {{per_request: true}}\n  session_lifecycle: {{per_session: true}}\n"
        ),
    )
}

fn by_model(counts: &[(&str, u64)]) -> BTreeMap<String, u64> {
    counts.iter().map(|(m, n)| (m.to_string(), *n)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_asks_the_model_its_recorded_model_maps_to_or_the_static_one() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path());
    let reports = dir.path().join("mapped");
    // `writer` is mapped; `planner` is not, so its calls ask server.model_name.
    let outcome = common::run(config(
        &sim.base_url(),
        &reports,
        "otel_trace_replay",
        &format!(
            "    trace_files: [{trace}]\n    duplicate_sessions_target: 3\n    model_mapping: {{writer: fast}}\n"
        ),
    ))
    .await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], 9, "{summary:#}");
    assert_eq!(
        sim.stats().requests_by_model,
        by_model(&[("fast", 6), ("ibench-sim", 3), ("slow", 0)])
    );

    let static_reports = dir.path().join("static");
    let outcome = common::run(config(
        &sim.base_url(),
        &static_reports,
        "weka_trace_replay",
        &format!(
            "    trace_files: [{WEKA_TRACE}]\n    duplicate_sessions_target: 2\n    use_static_model: true\n    static_model_name: fast\n    model_mapping: {{claude-sonnet: slow}}\n    max_wait_ms: 0\n"
        ),
    ))
    .await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], 10, "{summary:#}");
    assert_eq!(
        sim.stats().requests_by_model,
        by_model(&[("fast", 16), ("ibench-sim", 3), ("slow", 0)]),
        "the static model wins over the mapping"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_still_waiting_for_its_predecessors_at_the_limit_fails_its_session() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path());
    let reports = dir.path().join("reports");
    // The planner's call takes over 600 ms; the writer's first call gives up 300 ms after the
    // session started, and the one after it is never sent either.
    let sessions = 4;
    let outcome = common::run(config(
        &sim.base_url(),
        &reports,
        "otel_trace_replay",
        &format!(
            "    trace_files: [{trace}]\n    duplicate_sessions_target: {sessions}\n    model_mapping: {{planner: slow, writer: fast}}\n    predecessor_wait_timeout_sec: 0.3\n"
        ),
    ))
    .await;

    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], sessions, "{summary:#}");
    assert_eq!(summary["load_summary"]["count"], sessions, "{summary:#}");
    assert_eq!(
        summary["cancelled"]["not_sent"],
        2 * sessions,
        "the calls not sent are accounted for: {summary:#}"
    );
    assert_eq!(
        sim.stats().requests_by_model,
        by_model(&[("fast", 0), ("ibench-sim", 0), ("slow", sessions)])
    );
    assert_eq!(common::per_request(&reports).len() as u64, sessions);

    let stage = common::report(&outcome, "stage_0_session_lifecycle_metrics").clone();
    assert_eq!(stage["num_sessions_failed"], sessions, "{stage:#}");
    assert_eq!(
        stage["failures"]["by_label"]["predecessor_wait_failed"]["count"], sessions,
        "{stage:#}"
    );
    let per_session = common::report(&outcome, "per_session_lifecycle_metrics").clone();
    let per_session = per_session.as_array().unwrap();
    assert_eq!(per_session.len() as u64, sessions);
    for session in per_session {
        assert_eq!(session["success"], false, "{session:#}");
        assert_eq!(
            session["error"],
            json!({"error_type": "predecessor_wait_failed",
                   "error_msg": "predecessor wait failed: TimeoutError"}),
            "inference-perf's cause and reason"
        );
        assert_eq!(session["num_events_completed"], 1, "{session:#}");
        assert_eq!(session["num_events_cancelled"], 2, "{session:#}");
    }
    // The slow call was waited for: the session ends with it, after the limit.
    let lasted: Vec<f64> = per_session
        .iter()
        .map(|s| s["duration_sec"].as_f64().unwrap())
        .collect();
    assert!(lasted.iter().all(|&d| d >= 0.6), "{lasted:?}");
}
