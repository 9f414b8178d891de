//! `api.type: anthropic_messages` end to end against the simulator (real HTTP over loopback):
//! requests go to `/v1/messages` in Anthropic's shape (any other path would fail them all), streamed answers are timed from their
//! `content_block_delta` events, and the usage of `message_start` (input tokens) and
//! `message_delta` (output tokens) is accounted together; per-request records keep the answer
//! as inference-perf records it for this API.

use ibench_testkit as common;

use serde_json::Value;

const TTFT_MS: f64 = 30.0;
const ITL_MS: f64 = 10.0;
const REQUESTS: u64 = 20;
const INPUT: u64 = 12;

/// Runs 20 requests of 12-token prompts asking for up to 6 tokens (the Messages API has no
/// `ignore_eos`: the simulator answers 1 to 6): the summary, the per-request entries, the
/// simulator's counts and the bodies sent.
async fn run(streaming: bool) -> (Value, Vec<Value>, ibench_sim::SimStats, Vec<Value>) {
    let sim = common::sim_with_latency(TTFT_MS, ITL_MS).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        &format!(
            "api: {{type: anthropic_messages, streaming: {streaming}}}\ndata:\n  type: shared_prefix\n  shared_prefix: {{num_groups: 2, num_prompts_per_group: 2, system_prompt_len: 8, question_len: 4, output_len: 6}}\nload: {{stages: [{{rate: {REQUESTS}, duration: 1}}], num_workers: 2}}\nreport: {{request_lifecycle: {{per_request: true}}}}"
        ),
    );
    let outcome = common::run(config).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics").clone();
    let entries = common::per_request(dir.path());
    let bodies = entries
        .iter()
        .map(|entry| serde_json::from_str(entry["request"].as_str().unwrap()).unwrap())
        .collect();
    (summary, entries, sim.stats(), bodies)
}

/// What every run checks: Anthropic's bodies, and the client's and server's counts agreeing
/// request by request.
fn check_accounting(
    summary: &Value,
    entries: &[Value],
    stats: &ibench_sim::SimStats,
    bodies: &[Value],
) {
    let successes = &summary["successes"];
    assert_eq!(successes["count"], REQUESTS, "{summary:#}");
    assert_eq!(summary["failures"]["count"], 0, "{summary:#}");
    assert_eq!(bodies.len() as u64, REQUESTS);
    for body in bodies {
        // The shared prefix is the `system` field; no OpenAI-only fields.
        assert_eq!(
            body["system"].as_str().map(|s| s.split(' ').count()),
            Some(8),
            "{body}"
        );
        assert_eq!(body["messages"].as_array().unwrap().len(), 1, "{body}");
        assert_eq!(body["messages"][0]["role"], "user");
        assert_eq!(body["max_tokens"], 6);
        assert!(
            body.get("ignore_eos").is_none() && body.get("stream_options").is_none(),
            "{body}"
        );
    }
    assert_eq!(stats.prompt_tokens, REQUESTS * INPUT);
    assert_eq!(successes["prompt_tokens"]["total"], REQUESTS * INPUT);
    assert_eq!(
        successes["output_tokens"]["total"].as_u64(),
        Some(stats.completion_tokens),
        "{successes:#}"
    );
    assert_eq!(successes["token_count_mismatches"], 0, "{successes:#}");
    assert_eq!(entries.len() as u64, REQUESTS);
    for entry in entries {
        let response = &entry["info"]["response_metrics"];
        let output = response["output_tokens"].as_u64().unwrap();
        assert!((1..=6).contains(&output), "{entry:#}");
        // The answer as inference-perf records it for this API (the simulator's tokens are
        // words).
        let extra = &entry["info"]["extra_info"];
        let text = extra["output_text"].as_str().unwrap();
        assert_eq!(text.split_whitespace().count() as u64, output, "{entry:#}");
        assert_eq!(
            extra["output_message"],
            serde_json::json!({"role": "assistant", "content": text})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_streams_are_timed_by_their_deltas_and_their_usage_is_merged() {
    let (summary, entries, stats, bodies) = run(true).await;
    check_accounting(&summary, &entries, &stats, &bodies);
    assert!(bodies.iter().all(|b| b["stream"] == true));
    for entry in &entries {
        let response = &entry["info"]["response_metrics"];
        // message_start's usage merged with message_delta's, in the API's own keys.
        assert_eq!(
            response["server_usage"],
            serde_json::json!({"input_tokens": INPUT, "output_tokens": response["output_tokens"]}),
            "{entry:#}"
        );
        assert_eq!(
            response["response_chunks"].as_array().unwrap().len(),
            response["chunk_times"].as_array().unwrap().len(),
            "{entry:#}"
        );
        // One content_block_delta per token: the chunks are the answer's tokens.
        assert_eq!(
            response["chunk_times"].as_array().unwrap().len() as u64,
            response["output_tokens"].as_u64().unwrap(),
            "{entry:#}"
        );
    }
    let latency = &summary["successes"]["latency"];
    let median = |metric: &str| latency[metric]["median"].as_f64().unwrap() * 1000.0;
    let ttft = median("time_to_first_token");
    assert!(
        (TTFT_MS - 1.0..TTFT_MS + 10.0).contains(&ttft),
        "time to first token: {ttft} ms"
    );
    let itl = median("inter_token_latency");
    assert!(
        (ITL_MS - 1.0..ITL_MS + 5.0).contains(&itl),
        "inter-token latency: {itl} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_whole_messages_are_read_from_their_content_blocks() {
    let (summary, entries, stats, bodies) = run(false).await;
    check_accounting(&summary, &entries, &stats, &bodies);
    assert!(bodies.iter().all(|b| b["stream"] == false));
    for entry in &entries {
        // inference-perf keeps no usage of a whole Messages answer, and its stop reason.
        assert!(
            entry["info"]["response_metrics"]["server_usage"].is_null(),
            "{entry:#}"
        );
        assert!(
            entry["info"]["extra_info"]["stop_reason"].is_string(),
            "{entry:#}"
        );
    }
    let latency = &summary["successes"]["latency"];
    // A whole answer has no token times; its latency is the server's whole answer time.
    assert!(
        latency["time_to_first_token"]["median"].is_null(),
        "{latency:#}"
    );
    let e2e = latency["request_latency"]["min"].as_f64().unwrap() * 1000.0;
    assert!(e2e >= TTFT_MS, "request latency {e2e} ms");
}
