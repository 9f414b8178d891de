//! `data.type: conversation_replay` with `ibench run` against the simulator, real HTTP over
//! loopback: the turns of a conversation never overlap, each waits for the previous turn's
//! answer plus the tool-call latency drawn for it and carries the conversation so far; the
//! conversations are the seeded plan's, whatever the load type; token counts in the reports are
//! those of the prompts sent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use ibench_core::plan::DataPlan;
use ibench_core::tokenize::{Tokenizer, count_tokens};
use ibench_testkit as common;
use serde_json::Value;

/// Four slots of 1 to 3 turns; pauses of 0 or 1 s.
const DATA: &str = "api: {type: completion, streaming: true}
data:
  type: conversation_replay
  conversation_replay:
    seed: 11
    num_conversations: 4
    shared_system_prompt_len: 20
    dynamic_system_prompt_len: {type: fixed, mean: 5}
    turns_per_conversation: {type: uniform, min: 1, max: 3}
    input_tokens_per_turn: {type: uniform, min: 5, max: 15}
    output_tokens_per_turn: {type: fixed, mean: 4}
    tool_call_latency_sec: {type: uniform, min: 0, max: 1}
report:
  request_lifecycle: {summary: true, per_stage: true, per_request: true}
";

/// How late a turn may measure against its predecessor's end plus pause: both times are the
/// same clock's, written with microseconds.
const SLACK_S: f64 = 0.002;

/// A sent turn, from the per-request report.
#[derive(Debug)]
struct Sent {
    start: f64,
    end: f64,
    prompt: String,
    answer: String,
    input_tokens: u64,
}

fn run(dir: &Path, base_url: &str, load: &str) -> (Value, Vec<Value>) {
    let config = dir.join("config.yaml");
    let reports = dir.join("reports");
    std::fs::write(
        &config,
        format!(
            "server:\n  type: vllm\n  base_url: {base_url}\n{DATA}{load}storage:\n  local_storage:\n    path: {}\n",
            reports.display()
        ),
    )
    .unwrap();
    let output = common::ibench_run(env!("CARGO_BIN_EXE_ibench"), &config);
    assert!(output.status.success(), "{}", common::output_text(&output));
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(reports.join(name)).unwrap()).unwrap()
    };
    let entries = read("per_request_lifecycle_metrics.json");
    (
        read("summary_lifecycle_metrics.json"),
        entries.as_array().unwrap().clone(),
    )
}

/// The plan's turns of the stage's first `requests` requests: (session, round) → pause.
fn planned(requests: u64) -> BTreeMap<(String, u64), Duration> {
    let doc: Value = serde_yaml::from_str(&format!(
        "server: {{base_url: 'http://127.0.0.1:1'}}\n{DATA}load: {{stages: [{{rate: 1, duration: 1}}]}}"
    ))
    .unwrap();
    let config = ibench_core::config::from_document(doc).unwrap();
    let plan = DataPlan::new(&config, 0, Tokenizer::BuiltIn, None).unwrap();
    (0..requests)
        .map(|i| {
            let request = plan.request(0, i);
            let session = request.session.unwrap();
            ((session.id, session.round), request.round.unwrap().pause)
        })
        .collect()
}

/// The turns sent, by session and round.
fn sent(entries: &[Value]) -> BTreeMap<(String, u64), Sent> {
    entries
        .iter()
        .map(|e| {
            let info = &e["info"];
            let extra = &info["extra_info"];
            let body: Value = serde_json::from_str(e["request"].as_str().unwrap()).unwrap();
            let answer: String = e["response"]
                .as_str()
                .unwrap()
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .map(|v| common::text_of(&v))
                .collect();
            (
                (
                    extra["user_session"].as_str().unwrap().to_string(),
                    extra["chat_round"].as_u64().unwrap(),
                ),
                Sent {
                    start: e["start_time"].as_f64().unwrap(),
                    end: e["end_time"].as_f64().unwrap(),
                    prompt: body["prompt"].as_str().unwrap().to_string(),
                    answer,
                    input_tokens: info["request_metrics"]["text"]["input_tokens"]
                        .as_u64()
                        .unwrap(),
                },
            )
        })
        .collect()
}

/// Every turn is the plan's, sent once; turn `k + 1` starts after turn `k`'s answer and pause
/// and carries turn `k`'s prompt and answer; its prompt tokens are counted as sent.
fn check_conversations(summary: &Value, entries: &[Value], requests: u64) {
    let plan = planned(requests);
    let sent = sent(entries);
    assert_eq!(entries.len() as u64, requests);
    assert_eq!(
        sent.keys().collect::<BTreeSet<_>>(),
        plan.keys().collect::<BTreeSet<_>>(),
        "the turns sent are the seeded plan's"
    );
    let mut followed = 0;
    let mut paused = 0;
    for ((session, round), turn) in &sent {
        assert_eq!(turn.input_tokens, count_tokens(&turn.prompt) as u64);
        let Some(before) = sent.get(&(session.clone(), round - 1)) else {
            assert_eq!(*round, 1, "{session}: round {round} has no predecessor");
            continue;
        };
        let pause = plan[&(session.clone(), round - 1)].as_secs_f64();
        assert!(
            turn.start >= before.end + pause - SLACK_S,
            "{session} round {round} started at {}, before round {}'s end {} + pause {pause}",
            turn.start,
            round - 1,
            before.end
        );
        assert!(
            turn.prompt
                .starts_with(&format!("{} {} ", before.prompt, before.answer)),
            "{session} round {round} carries round {}'s prompt and answer",
            round - 1
        );
        followed += 1;
        paused += usize::from(pause > 0.0);
    }
    assert!(
        followed > 0 && paused > 0,
        "the plan has follow-up turns after pauses"
    );
    let successes = &summary["successes"];
    assert_eq!(successes["count"].as_u64(), Some(requests));
    let prompt_total: u64 = sent.values().map(|t| t.input_tokens).sum();
    assert_eq!(
        successes["prompt_tokens"]["total"].as_u64(),
        Some(prompt_total)
    );
    assert_eq!(
        successes["output_tokens"]["total"].as_u64(),
        Some(4 * requests)
    );
    assert_eq!(successes["token_count_mismatches"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conversations_wait_for_each_answer_and_tool_latency() {
    let sim = common::sim_with_latency(20.0, 2.0).await;
    let dir = tempfile::tempdir().unwrap();
    let (summary, entries) = run(
        dir.path(),
        &sim.base_url(),
        "load:\n  type: concurrent\n  num_workers: 2\n  stages: [{num_requests: 12, concurrency_level: 4}]\n",
    );
    check_conversations(&summary, &entries, 12);
    assert_eq!(
        sim.stats().prompt_tokens,
        summary["successes"]["prompt_tokens"]["total"]
            .as_u64()
            .unwrap(),
        "the simulator counted the prompts as sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_loads_replay_the_same_seeded_conversations_in_order() {
    let sim = common::sim_with_latency(20.0, 2.0).await;
    for load_type in ["constant", "poisson"] {
        let dir = tempfile::tempdir().unwrap();
        let (summary, entries) = run(
            dir.path(),
            &sim.base_url(),
            &format!(
                "load:\n  type: {load_type}\n  num_workers: 2\n  base_seed: 5\n  stages: [{{rate: 8, duration: 2}}]\n"
            ),
        );
        let requests = entries.len() as u64;
        assert!(requests >= 8, "{load_type}: {requests} requests");
        check_conversations(&summary, &entries, requests);
    }
}
