//! What requests carry besides the prompt, end to end against the simulator: structured output
//! (`api.response_format`) in every body, answered with JSON; the session id and the session
//! token the server last gave in the headers of every round of a conversation; prompts in the
//! tokenizer's chat template (`data.use_chat_template`), of exact templated lengths.

use ibench_testkit as common;

use ibench_sim::SimConfig;
use serde_json::{Value, json};

/// The answer's text of a per-request entry, streamed or whole.
fn answer(entry: &Value) -> String {
    let raw = entry["response"].as_str().unwrap();
    match serde_json::from_str::<Value>(raw) {
        Ok(whole) => common::text_of(&whole),
        Err(_) => raw
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .map(|v| common::text_of(&v))
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structured_output_is_in_every_body_and_answered_with_json() {
    let cases = [
        (
            "{type: chat, streaming: true, response_format: {type: json_schema, name: answer, json_schema: {type: object, properties: {text: {type: string}}, required: [text]}}}",
            json!({"type": "json_schema", "json_schema": {"name": "answer", "schema":
                {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}}),
        ),
        (
            "{type: completion, streaming: false, response_format: {type: json_object}}",
            json!({"type": "json_object"}),
        ),
    ];
    for (api, expected) in cases {
        let sim = common::recording_sim(100).await;
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "api: {api}\ndata: {{type: random, input_distribution: {{type: fixed, mean: 9, min: 9, max: 9}}, output_distribution: {{type: fixed, mean: 6, min: 6, max: 6}}}}\nload: {{stages: [{{rate: 20, duration: 1}}], num_workers: 1, base_seed: 5}}\nreport: {{request_lifecycle: {{per_request: true}}}}"
        );
        let outcome = common::run(common::config(&sim.base_url(), dir.path(), &yaml)).await;
        let summary = common::report(&outcome, "summary_lifecycle_metrics");
        assert_eq!(summary["successes"]["count"], 20, "{api}");
        assert_eq!(summary["successes"]["token_count_mismatches"], 0, "{api}");
        let requests = sim.requests();
        assert_eq!(requests.len(), 20, "{api}");
        for request in &requests {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(body["response_format"], expected, "{api}");
        }
        let entries = common::per_request(dir.path());
        assert_eq!(entries.len(), 20);
        for entry in &entries {
            let text = answer(entry);
            let object: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{api}: the answer {text:?} is not JSON: {e}"));
            assert!(object["text"].is_string(), "{api}: {text}");
            assert_eq!(
                entry["info"]["response_metrics"]["output_tokens"], 6,
                "{api}: one token per word, braces and all"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_headers_carry_the_users_id_and_the_last_token_the_server_gave() {
    let sim = common::sim(SimConfig {
        record_requests: Some(100),
        session_token_header: Some("x-session-token".into()),
        latency: ibench_sim::LatencyConfig {
            ttft_ms: 5.0,
            itl_ms: 1.0,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = "api: {type: chat, streaming: true, session_id_header_key: X-Session-Id, session_token_header_key: x-session-token}\ndata:\n  type: shared_prefix\n  shared_prefix: {num_groups: 2, num_prompts_per_group: 3, system_prompt_len: 8, question_len: 4, output_len: 3, enable_multi_turn_chat: true}\nload: {stages: [{rate: 30, duration: 1}], num_workers: 2, base_seed: 3}";
    let outcome = common::run(common::config(&sim.base_url(), dir.path(), yaml)).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], 30);
    let mut sessions: std::collections::BTreeMap<String, Vec<(u64, Option<String>, Value)>> =
        Default::default();
    for request in sim.requests() {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let id = header("x-session-id").expect("every round names its session");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        sessions.entry(id).or_default().push((
            request.seq,
            header("x-session-token"),
            body["messages"].clone(),
        ));
    }
    let names: Vec<&String> = sessions.keys().collect();
    assert_eq!(
        names,
        (0..6)
            .map(|n| format!("user_session_{n}"))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>(),
        "one session per user"
    );
    for (id, requests) in &sessions {
        // Arrival order is round order: each round waits for the previous answer.
        assert_eq!(requests.len(), 5, "{id}");
        assert_eq!(
            requests[0].1, None,
            "{id}: the first round has no token yet"
        );
        for (round, pair) in requests.windows(2).enumerate() {
            let ((seq, _, before), (_, token, messages)) = (&pair[0], &pair[1]);
            assert_eq!(
                token.as_deref(),
                Some(format!("sess-{seq}").as_str()),
                "{id}: round {} carries the token of the answer to round {round}",
                round + 1
            );
            assert_eq!(
                messages.as_array().unwrap().len(),
                before.as_array().unwrap().len() + 2,
                "{id}: the same conversation, one exchange longer"
            );
            assert_eq!(messages[0], before[0], "{id}: the same system prompt");
        }
    }
}

/// A tokenizer directory: the test kit's trained 32k BPE `tokenizer.json` and a
/// `tokenizer_config.json` whose chat template tags each turn with its role, between the
/// tokenizer's special token.
fn chat_tokenizer_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bpe = ibench_testkit::bpe::bpe32k_tokenizer().unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(bpe, dir.path().join("tokenizer.json")).unwrap();
    let config = json!({
        "bos_token": "<|endoftext|>",
        "eos_token": {"content": "<|endoftext|>", "special": true},
        "chat_template": "{{ bos_token }}{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}",
    });
    std::fs::write(dir.path().join("tokenizer_config.json"), config.to_string()).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_template_prompts_count_their_length_with_the_template() {
    let tokenizer_dir = chat_tokenizer_dir();
    let tokenizer_path = tokenizer_dir.path().display().to_string();
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "api: {{type: completion}}\ndata: {{type: random, use_chat_template: true, input_distribution: {{type: fixed, mean: 60, min: 60, max: 60}}, output_distribution: {{type: fixed, mean: 4, min: 4, max: 4}}}}\ntokenizer: {{pretrained_model_name_or_path: '{tokenizer_path}'}}\nload: {{stages: [{{rate: 20, duration: 1}}], num_workers: 1, base_seed: 9}}\nreport: {{request_lifecycle: {{per_request: true}}}}"
    );
    let config = common::config(&sim.base_url(), dir.path(), &yaml);
    let outcome = common::run(config.clone()).await;
    assert_eq!(
        common::report(&outcome, "summary_lifecycle_metrics")["successes"]["count"],
        20
    );
    let tokenizer = ibench_core::tokenize::Tokenizer::load(
        Some(&tokenizer_path),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let entries = common::per_request(dir.path());
    for (i, entry) in entries.iter().enumerate() {
        let body: Value = serde_json::from_str(entry["request"].as_str().unwrap()).unwrap();
        assert_eq!(
            body["add_special_tokens"], false,
            "the template holds the BOS"
        );
        let prompt = body["prompt"].as_str().unwrap();
        let inner = prompt
            .strip_prefix("<|endoftext|><|user|>\n")
            .and_then(|p| p.strip_suffix("<|endoftext|>\n<|assistant|>\n"))
            .unwrap_or_else(|| panic!("request {i}: {prompt:?} is not in the template"));
        assert!(!inner.is_empty());
        assert_eq!(
            tokenizer.count(prompt),
            60,
            "request {i}: the templated prompt has the planned length"
        );
    }
    // Each input length is the whole templated prompt's: one shorter than the template itself
    // cannot be met.
    let mut short = config.clone();
    short.data.input_distribution.as_mut().unwrap().min = 5;
    let error = ibench_core::plan::DataPlan::new(&short, 9, tokenizer, None)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("data.use_chat_template: the minimum input length (5) must exceed the chat template overhead ("),
        "{error}"
    );
}
