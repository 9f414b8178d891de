//! `data.type: weka_trace_replay` sends each call's conversation rebuilt from the trace's hash
//! blocks as chat messages, as inference-perf 0.7.0 does: a block is the same words wherever
//! the trace sends it, and what an earlier call answered is the server's live answer. End to
//! end over real HTTP to the simulator, whose request recording shows what went on the wire.

use std::path::{Path, PathBuf};

use ibench_testkit as common;
use serde_json::{Value, json};

/// Blocks of 4 tokens, the first two (8 system tokens) the agent's and its helper's system
/// prompt. The agent's second call carries its first call's answer (blocks 5 and 6); the
/// helper starts after it.
fn write_trace(dir: &Path) -> PathBuf {
    let trace = json!({"id": "shared-blocks", "models": ["m"], "block_size": 4, "system_tokens": 8,
    "requests": [
        {"t": 0.0, "type": "n", "model": "m", "in": 18, "out": 6, "api_time": 0.2,
         "hash_ids": [1, 2, 3, 4]},
        {"t": 0.4, "type": "n", "model": "m", "in": 30, "out": 5, "api_time": 0.2,
         "hash_ids": [1, 2, 3, 4, 5, 6, 7]},
        {"t": 0.8, "type": "subagent", "agent_id": "helper", "subagent_type": "x",
         "system_tokens": 8, "requests": [
            {"t": 0.8, "type": "n", "model": "m", "in": 14, "out": 4, "api_time": 0.2,
             "hash_ids": [1, 2, 9]}]}
    ]});
    let file = dir.join("trace.json");
    std::fs::write(&file, trace.to_string()).unwrap();
    file
}

/// Replays the trace as `sessions` sessions, one at a time; the bodies in the order they
/// arrived and the per-request records in order of start.
async fn replay(extra: &str, sessions: u32) -> (Vec<Value>, Vec<Value>) {
    replay_to("chat", extra, sessions).await
}

/// [`replay`] with `api.type: api`.
async fn replay_to(api: &str, extra: &str, sessions: u32) -> (Vec<Value>, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let file = write_trace(dir.path());
    let sim = common::recording_sim(100).await;
    let reports = dir.path().join("reports");
    let config = common::config(
        &sim.base_url(),
        &reports,
        &format!(
            "api: {{type: {api}, streaming: true}}\ndata:\n  type: weka_trace_replay\n  weka_trace_replay:\n    trace_files: [{}]\n    max_wait_ms: 0\n    duplicate_sessions_target: {sessions}\n{extra}load:\n  type: trace_session_replay\n  stages:\n  - concurrent_sessions: 1\nreport:\n  request_lifecycle: {{per_request: true}}\n",
            file.display()
        ),
    );
    let outcome = common::run(config).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], 3 * sessions, "{summary}");
    let bodies = sim
        .requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let mut entries = common::per_request(&reports);
    entries.sort_by(|x, y| {
        x["start_time"]
            .as_f64()
            .partial_cmp(&y["start_time"].as_f64())
            .unwrap()
    });
    (bodies, entries)
}

fn messages(body: &Value) -> &Vec<Value> {
    body["messages"].as_array().unwrap()
}

fn content(message: &Value) -> &str {
    message["content"].as_str().unwrap()
}

fn roles(body: &Value) -> Vec<&str> {
    messages(body)
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect()
}

/// The text of a streamed answer.
fn live_answer(entry: &Value) -> String {
    entry["response"]
        .as_str()
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weka_calls_send_their_conversation_with_shared_blocks_as_the_same_bytes() {
    let (bodies, entries) = replay("", 1).await;
    let [first, second, helper] = &bodies[..] else {
        panic!("three calls: {bodies:?}")
    };
    assert_eq!(roles(first), ["system", "user"]);
    assert_eq!(roles(second), ["system", "user", "assistant", "user"]);
    assert_eq!(roles(helper), ["system", "user"]);
    // Blocks 1 and 2 are the system prompt of the agent's calls and of its helper's: the same
    // words, so a prefix cache serves them once.
    let system = content(&messages(first)[0]);
    assert_eq!(system.split(' ').count(), 8);
    assert_eq!(content(&messages(second)[0]), system);
    assert_eq!(content(&messages(helper)[0]), system);
    // The second call keeps blocks 3 and 4 of the first call's user message (its 2-token tail
    // dropped): the same words again.
    let first_user = content(&messages(first)[1]);
    let kept: Vec<&str> = first_user.split(' ').take(8).collect();
    assert_eq!(content(&messages(second)[1]), kept.join(" "));
    assert_ne!(
        content(&messages(helper)[1]).split(' ').next(),
        first_user.split(' ').next(),
        "block 9 is not block 3"
    );
    // Each call asks as many prompt tokens as the trace recorded (`in`), but for the answer
    // it carries: the second call's assistant message is the first call's live answer (as many
    // tokens as the first call asked, 6), not the 8 tokens of blocks 5 and 6 recorded.
    let prompt_tokens: Vec<u64> = entries
        .iter()
        .map(|e| {
            e["info"]["request_metrics"]["text"]["input_tokens"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(prompt_tokens, [18, 30 - 8 + 6, 14]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_messages_api_a_weka_call_sends_the_same_conversation_system_apart() {
    let (chat, _) = replay("", 1).await;
    let (bodies, entries) = replay_to("anthropic_messages", "", 1).await;
    // The first calls carry no live answer: the same conversation (of each run's words), the
    // system message apart.
    let words = |text: &Value| text.as_str().unwrap().split(' ').count();
    assert_eq!(words(&bodies[0]["system"]), 8);
    assert_eq!(roles(&bodies[0]), ["user"]);
    assert_eq!(
        words(&messages(&bodies[0])[0]["content"]),
        words(&messages(&chat[0])[1]["content"])
    );
    assert_eq!(bodies[0]["max_tokens"], chat[0]["max_tokens"]);
    // The second carries the first's live answer, read back from its Messages API events (of
    // any length up to the 6 tokens asked: the API has no `ignore_eos`).
    let answer = entries[0]["info"]["output_text"].as_str().unwrap();
    assert!(
        (1..=6).contains(&answer.split_whitespace().count()),
        "{answer}"
    );
    assert_eq!(roles(&bodies[1]), ["user", "assistant", "user"]);
    assert_eq!(
        messages(&bodies[1])[1],
        json!({"role": "assistant", "content": answer})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_weka_call_carries_its_predecessors_live_answer() {
    let (bodies, entries) = replay("", 1).await;
    let answer = live_answer(&entries[0]);
    assert_eq!(answer.split_whitespace().count(), 6, "{answer}");
    assert_eq!(
        messages(&bodies[1])[2],
        json!({"role": "assistant", "content": answer})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inject_random_session_id_salts_each_sessions_own_messages() {
    let (plain, _) = replay("", 2).await;
    let (salted, _) = replay("    inject_random_session_id: true\n", 2).await;
    let salt_of = |body: &Value, at: usize| -> String {
        let text = content(&messages(body)[at]);
        let salt = text
            .strip_prefix("[SESS:")
            .and_then(|t| t.split_once("] "))
            .unwrap_or_else(|| panic!("not salted: {text}"));
        salt.0.to_string()
    };
    // A repeat is salted whether asked or not (inference-perf's rule); the original only when
    // asked. Sessions run one at a time: the first three calls are the original's.
    assert!(!content(&messages(&plain[0])[0]).starts_with("[SESS:"));
    let repeat = salt_of(&plain[3], 0);
    let original = salt_of(&salted[0], 0);
    assert_ne!(original, salt_of(&salted[3], 0), "each session its own");
    assert_eq!(repeat.len(), 16);
    // Behind the salt, the repeat sends the same words as its original; the second call
    // sends the first's salted system message again (what it shares with it is what the first
    // sent) and salts its own.
    let unsalted = |text: &str| text.split_once("] ").unwrap().1.to_string();
    assert_eq!(
        unsalted(content(&messages(&plain[3])[0])),
        content(&messages(&plain[0])[0])
    );
    assert_eq!(messages(&salted[1])[0], messages(&salted[0])[0]);
    assert_eq!(salt_of(&salted[1], 1), original);
    assert_eq!(salt_of(&salted[1], 3), original);
}
