use std::path::Path;
use std::sync::LazyLock;

use serde_json::{Value, json};

use super::*;
use crate::plan::sessions::Segment;
use crate::tokenize::{Corpus, Tokenizer};

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../configs/traces/weka/coding-agent.json"
);

fn config() -> WekaTraceReplayConfig {
    WekaTraceReplayConfig::default()
}

/// Words `w0`, `w1`, ...: a text's words say where in the corpus it was taken from.
static CORPUS: LazyLock<Corpus> = LazyLock::new(|| {
    let text: Vec<String> = (0..5000).map(|i| format!("w{i}")).collect();
    Tokenizer::BuiltIn.corpus(&text.join(" "))
});

fn wording() -> Wording<'static> {
    static TOKENIZER: Tokenizer = Tokenizer::BuiltIn;
    Wording {
        tokenizer: &TOKENIZER,
        corpus: &CORPUS,
        seed: 42,
    }
}

fn read(files: &[PathBuf], config: &WekaTraceReplayConfig) -> Vec<Read> {
    read_all(files, config, wording()).unwrap()
}

fn one(doc: &Value, config: &WekaTraceReplayConfig) -> SessionGraph {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    read(&[file], config).remove(0).unwrap().unwrap()
}

fn summary(graph: &SessionGraph) -> Vec<(&str, Vec<usize>, u128)> {
    graph
        .events
        .iter()
        .map(|e| (e.span_id.as_str(), e.after.clone(), e.wait.as_millis()))
        .collect()
}

#[test]
fn the_example_is_the_agent_its_subagent_and_the_gaps_between_them() {
    let graph = read(&[PathBuf::from(EXAMPLE)], &config())
        .remove(0)
        .unwrap()
        .unwrap();
    assert_eq!(graph.session_id, "wekatrace0_coding-agent-1");
    // Each turn carries the previous turn's answer; the subagent's first call starts after the
    // agent's second ended, and the agent's last call after the subagent's last.
    assert_eq!(
        summary(&graph),
        vec![
            ("parent_turn_0", vec![], 0),
            ("parent_turn_1", vec![0], 200),
            ("sa_explore_s0_turn_0", vec![1], 100),
            ("sa_explore_s0_turn_1", vec![2], 100),
            ("parent_turn_2", vec![1, 3], 100),
        ]
    );
    let tokens: Vec<(u32, u32)> = graph
        .events
        .iter()
        .map(|e| (e.input_tokens, e.output_tokens))
        .collect();
    assert_eq!(
        tokens,
        vec![(100, 20), (150, 30), (80, 10), (120, 10), (200, 40)]
    );
}

#[test]
fn long_idle_gaps_are_cut_to_the_cap_and_long_waits_to_max_wait() {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(EXAMPLE).unwrap()).unwrap();
    // Starts 0, 0.6, 1.0, 1.3, 1.6 s: only the first gap is over 0.5 s, by 100 ms.
    let capped = WekaTraceReplayConfig {
        trace_idle_gap_cap_seconds: 0.5,
        ..config()
    };
    let waits: Vec<u128> = summary(&one(&doc, &capped)).iter().map(|s| s.2).collect();
    assert_eq!(waits, vec![0, 100, 100, 100, 100]);
    let short = WekaTraceReplayConfig {
        max_wait_ms: 150,
        ..config()
    };
    let waits: Vec<u128> = summary(&one(&doc, &short)).iter().map(|s| s.2).collect();
    assert_eq!(waits, vec![0, 150, 100, 100, 100]);
}

#[test]
fn overlapping_subagent_calls_are_streams_of_their_own() {
    let call = |t: f64, ids: &[i64]| json!({"t": t, "type": "n", "model": "m", "in": 64, "out": 0, "api_time": 1.0, "hash_ids": ids});
    let doc = json!({"id": "p", "models": ["m"], "block_size": 0, "requests": [
        {"t": 10.0, "type": "subagent", "agent_id": "w", "subagent_type": "x",
         // Relative starts (smaller than the subagent's): 10.0, 10.5 and 11.2 s.
         "requests": [call(0.0, &[1]), call(0.5, &[2]), call(1.2, &[1, 3])]}]});
    let graph = one(&doc, &config());
    let ids: Vec<&str> = graph.events.iter().map(|e| e.span_id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["sa_w_s0_turn_0", "sa_w_s1_turn_0", "sa_w_s0_turn_1"]
    );
    assert_eq!(graph.events[2].after, vec![0], "ended 200 ms before");
    assert_eq!(graph.events[2].wait, Duration::from_millis(200));
    assert!(
        graph.events[1].after.is_empty(),
        "started while the first ran"
    );
    assert_eq!(graph.events[0].output_tokens, DEFAULT_MAX_TOKENS, "out: 0");
}

#[test]
fn a_trace_without_requests_has_no_session_and_numbers_count_read_traces() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, doc: Value| {
        let file = dir.path().join(name);
        std::fs::write(&file, doc.to_string()).unwrap();
        file
    };
    let empty = write(
        "a.json",
        json!({"id": "e", "models": [], "block_size": 4, "requests": []}),
    );
    let broken = write("b.json", json!({"id": "x", "models": []}));
    let good = write(
        "c.json",
        json!({"id": "g", "models": [], "block_size": 4, "requests": [
        {"t": 0, "type": "n", "model": "m", "in": 4, "out": 1}]}),
    );
    let reads = read(&[empty, broken, good], &config());
    assert!(matches!(reads[0], Ok(None)));
    let error = reads[1].as_ref().unwrap_err().to_string();
    assert!(
        error.contains("b.json") && error.contains("block_size: missing"),
        "{error}"
    );
    assert_eq!(
        reads[2].as_ref().unwrap().as_ref().unwrap().session_id,
        "wekatrace1_g"
    );
}

#[test]
fn missing_files_and_repeated_ids_stop_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("gone.json");
    let error = read_all(&[missing], &config(), wording())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("gone.json") && error.contains("no such file"),
        "{error}"
    );
    let doc = std::fs::read_to_string(EXAMPLE).unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::write(&a, &doc).unwrap();
    std::fs::write(&b, &doc).unwrap();
    let error = read_all(&[a, b], &config(), wording())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("b.json")
            && error.contains("\"coding-agent-1\"")
            && error.contains("a.json"),
        "{error}"
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"id\": ").unwrap();
    let error = read(&[bad], &config()).remove(0).unwrap_err().to_string();
    assert!(
        error.contains("bad.json: not JSON") && error.contains("line 1"),
        "{error}"
    );
    assert!(Path::new(EXAMPLE).is_file());
}

#[test]
fn each_call_asks_its_static_or_mapped_model_else_the_servers() {
    let doc = json!({"id": "m", "models": ["big", "small"], "block_size": 4, "requests": [
        {"t": 0, "type": "n", "model": "big", "in": 8, "out": 1, "api_time": 1.0},
        {"t": 2, "type": "n", "model": "small", "in": 12, "out": 1, "api_time": 1.0}]});
    let models = |config: &WekaTraceReplayConfig| -> Vec<Option<String>> {
        one(&doc, config)
            .events
            .iter()
            .map(|e| e.model.as_deref().map(str::to_string))
            .collect()
    };
    assert_eq!(models(&config()), [None, None], "server.model_name");
    let mut mapped = WekaTraceReplayConfig {
        model_mapping: Some([("big".to_string(), "llama".to_string())].into()),
        ..config()
    };
    assert_eq!(models(&mapped), [Some("llama".into()), None]);
    mapped.use_static_model = true;
    mapped.static_model_name = "one".into();
    assert_eq!(models(&mapped), [Some("one".into()), Some("one".into())]);
}

#[test]
fn each_call_sends_its_conversation_in_words_split_against_the_calls_it_waits_for() {
    let read_with = |seed| {
        let wording = Wording { seed, ..wording() };
        read_all(&[PathBuf::from(EXAMPLE)], &config(), wording)
            .unwrap()
            .remove(0)
            .unwrap()
            .unwrap()
    };
    let graph = read_with(42);
    let recorded = |e: usize| graph.events[e].recorded.as_deref().unwrap();
    let text = |e: usize, m: usize| recorded(e).messages[m]["content"].as_str().unwrap();
    // Each call's recorded `in` tokens, but the subagent's second: its 8 blocks of 16 tokens
    // hold more than its 120, and inference-perf sends them all and its 8-token tail.
    let words: Vec<usize> = (0..graph.events.len())
        .map(|e| {
            (0..recorded(e).messages.len())
                .map(|m| text(e, m).split(' ').count())
                .sum()
        })
        .collect();
    assert_eq!(words, [100, 150, 80, 136, 200]);
    let roles: Vec<&str> = recorded(1)
        .messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    // Turn 1 shares turn 0's system message and carries its answer (blocks 7 and 8); turn 2
    // shares turn 1's first three messages (turn 0's answer among them) and carries turn 1's.
    assert_eq!(
        recorded(1).segments,
        [
            Segment::Shared { count: 1, from: 0 },
            Segment::Unique(1),
            Segment::Output { from: 0 },
            Segment::Unique(1)
        ]
    );
    assert_eq!(
        recorded(4).segments,
        [
            Segment::Shared { count: 3, from: 1 },
            Segment::Unique(1),
            Segment::Output { from: 1 },
            Segment::Unique(1)
        ]
    );
    // Blocks are the same words in every call; turn 1 keeps turn 0's blocks 3-6 without its
    // 4-token tail.
    assert_eq!(text(4, 0), text(0, 0));
    assert_eq!(text(4, 0).split(' ').count(), 32);
    let turn_0_user: Vec<&str> = text(0, 1).split(' ').collect();
    assert_eq!(text(1, 1), turn_0_user[..64].join(" "));
    // Another seed, other words.
    let other = read_with(43);
    let first = other.events[0].recorded.as_deref().unwrap();
    assert_ne!(
        first.messages[0]["content"],
        recorded(0).messages[0]["content"]
    );
}
