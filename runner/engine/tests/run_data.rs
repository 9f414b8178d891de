//! Data generators end to end against the simulator, which counts tokens with the runner's
//! built-in tokenizer: every prompt has exactly its planned length and the counts agree; a
//! multi-turn conversation's rounds go in order, each carrying the previous answer.

use ibench_testkit as common;

use ibench_sim::SimConfig;
use serde_json::Value;

/// Runs `data` (YAML of the `data` section) for 40 streamed chat requests and returns the
/// summary and the per-request entries.
async fn run_data(data: &str) -> (Value, Vec<Value>, ibench_sim::SimStats) {
    let sim = common::sim_with_latency(2.0, 1.0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        &format!(
            "api: {{type: chat, streaming: true}}\ndata:\n{data}\nload: {{stages: [{{rate: 40, duration: 1}}], num_workers: 2, base_seed: 7}}\nreport: {{request_lifecycle: {{per_request: true}}}}"
        ),
    );
    let outcome = common::run(config).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics").clone();
    (summary, common::per_request(dir.path()), sim.stats())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_prompt_has_exactly_its_planned_length_and_counts_agree() {
    let cases = [
        (
            "random",
            "  type: random\n  input_distribution: {type: fixed, mean: 37, min: 37, max: 37}\n  output_distribution: {type: fixed, mean: 5, min: 5, max: 5}",
            37,
        ),
        (
            "synthetic",
            "  type: synthetic\n  input_distribution: {type: fixed, mean: 23, min: 23, max: 23}\n  output_distribution: {type: fixed, mean: 5, min: 5, max: 5}",
            23,
        ),
        (
            "shared_prefix",
            "  type: shared_prefix\n  shared_prefix: {num_groups: 2, num_prompts_per_group: 3, system_prompt_len: 20, question_len: 7, output_len: 5}",
            27,
        ),
    ];
    for (name, data, prompt_tokens) in cases {
        let (summary, entries, stats) = run_data(data).await;
        let successes = &summary["successes"];
        assert_eq!(successes["count"], 40, "{name}");
        assert_eq!(successes["token_count_mismatches"], 0, "{name}");
        assert_eq!(stats.prompt_tokens, 40 * prompt_tokens, "{name}");
        assert_eq!(stats.completion_tokens, 40 * 5, "{name}");
        assert_eq!(entries.len(), 40);
        for entry in &entries {
            let info = &entry["info"];
            assert_eq!(
                info["request_metrics"]["text"]["input_tokens"], prompt_tokens,
                "{name}"
            );
            let response = &info["response_metrics"];
            assert_eq!(
                response["server_usage"]["prompt_tokens"], prompt_tokens,
                "{name}: server count"
            );
            assert_eq!(response["output_tokens"], 5, "client count");
            assert_eq!(
                response["chunk_times"].as_array().unwrap().len(),
                5,
                "one token per chunk"
            );
        }
        // Inter-token latency is per token: 4 gaps for 5 tokens, per request.
        assert_eq!(
            successes["output_tokens"]["total"].as_u64(),
            Some(stats.completion_tokens)
        );
    }
}

/// The text of a streamed chat answer.
fn answer(raw_sse: &str) -> String {
    raw_sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .map(|v| common::text_of(&v))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_turn_rounds_go_in_order_and_carry_the_previous_answer() {
    // 6 users; a round takes ~150 ms but the user's next round is planned 100 ms later, so
    // rounds must wait for their predecessors.
    let sim = common::sim_with_latency(140.0, 2.0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        "api: {type: chat, streaming: true}\ndata:\n  type: shared_prefix\n  shared_prefix: {num_groups: 2, num_prompts_per_group: 3, system_prompt_len: 12, question_len: 4, output_len: 3, enable_multi_turn_chat: true}\nload: {stages: [{rate: 60, duration: 1}], num_workers: 2, base_seed: 3}\nreport: {request_lifecycle: {per_request: true}}",
    );
    let outcome = common::run(config).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], 60);
    assert_eq!(summary["successes"]["token_count_mismatches"], 0);
    let entries = common::per_request(dir.path());
    let requests: Vec<(Vec<Value>, &Value)> = entries
        .iter()
        .map(|e| {
            let body: Value = serde_json::from_str(e["request"].as_str().unwrap()).unwrap();
            (body["messages"].as_array().unwrap().clone(), e)
        })
        .collect();
    let mut first_rounds = 0;
    for (messages, entry) in &requests {
        // system, (user, assistant) × round, user.
        let round = (messages.len() - 2) / 2;
        if round == 0 {
            first_rounds += 1;
            continue;
        }
        let before = &messages[..messages.len() - 2];
        let (_, previous) = requests
            .iter()
            .find(|(m, _)| m.as_slice() == before)
            .unwrap_or_else(|| panic!("round {round} has no previous round: {messages:?}"));
        let said = messages[messages.len() - 2]["content"].as_str().unwrap();
        assert_eq!(messages[messages.len() - 2]["role"], "assistant");
        assert_eq!(
            said,
            answer(previous["response"].as_str().unwrap()),
            "round {round} carries the previous round's answer"
        );
        assert!(
            entry["start_time"].as_f64().unwrap() >= previous["end_time"].as_f64().unwrap(),
            "round {round} was sent only after the previous round's answer"
        );
    }
    assert_eq!(first_rounds, 6, "one conversation per user");
    // Waiting for the previous round is schedule delay, as in inference-perf.
    assert!(
        summary["load_summary"]["schedule_delay"]["max"]
            .as_f64()
            .unwrap()
            > 0.03
    );
}

fn tokenizer_json(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, common::word_level_tokenizer_json()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokenizer_json_sets_prompt_lengths_and_counts_output() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = tokenizer_json(dir.path());
    let config = common::config(
        &sim.base_url(),
        &dir.path().join("reports"),
        &format!(
            "api: {{streaming: true}}\ntokenizer: {{pretrained_model_name_or_path: {}}}\ndata:\n  type: random\n  input_distribution: {{type: fixed, mean: 19, min: 19, max: 19}}\n  output_distribution: {{type: fixed, mean: 6, min: 6, max: 6}}\nload: {{stages: [{{rate: 30, duration: 1}}], num_workers: 1}}",
            tokenizer.display()
        ),
    );
    let outcome = common::run(config).await;
    let successes = &common::report(&outcome, "summary_lifecycle_metrics")["successes"];
    let stats = sim.stats();
    assert_eq!(successes["count"], 30);
    assert_eq!(
        stats.prompt_tokens,
        30 * 19,
        "prompts fitted under the tokenizer.json"
    );
    assert_eq!(successes["output_len"]["max"], 6.0);
    assert_eq!(successes["token_count_mismatches"], 0);
}
