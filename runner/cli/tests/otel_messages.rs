//! `data.type: otel_trace_replay` sends each call's recorded messages and tools, as
//! inference-perf 0.7.0 does, with what earlier calls said replaced by the server's live
//! answers to them: end to end over real HTTP to the simulator, whose request recording shows
//! what went on the wire. The simulator's `bad_tool_args` fault, put on call a's request by
//! `attribute_to_header_map`, makes a's live tool call malformed for `bad_tool_call_handling`.

use std::path::{Path, PathBuf};

use ibench_testkit as common;
use serde_json::{Value, json};

const SYSTEM: &str = "You are a support agent.";
const USER: &str = "Why was my order 1182 charged twice?";
/// Call a's recorded answer, which call b's input carries.
const RECORDED_ARGUMENTS: &str = "{\"order\": 1182}";
/// Call b's recorded answer, which call c's input carries.
const RECORDED_ANSWER: &str = "I refunded the second charge.";

fn span(id: &str, start: u32, input: Value, output: Value, tools: bool) -> Value {
    let mut attributes = json!({
        "gen_ai.operation.name": "chat",
        "gen_ai.input.messages": input.to_string(),
        "gen_ai.output.messages": output.to_string(),
        "gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 8,
        "tenant.id": "acme",
        "sim.fault": if id == "a" { "bad_tool_args" } else { "none" },
    });
    if tools {
        attributes["gen_ai.tool.definitions"] = json!([{"type": "function", "name": "lookup_order",
            "description": "Finds an order", "parameters": {"type": "object", "title": "drop me",
            "properties": {"order": {"type": "integer"}}}}])
        .to_string()
        .into();
    }
    json!({"span_id": id, "name": "chat m", "attributes": attributes,
           "start_time": format!("2025-06-01T12:00:0{start}.000Z"),
           "end_time": format!("2025-06-01T12:00:0{start}.500Z")})
}

/// Three calls of one agent: a calls the order tool, b answers from its result, c follows the
/// user's thanks. Each one's input carries the one before's answer; a's recorded answer calls
/// the tool with `recorded_arguments`.
fn write_trace(dir: &Path, recorded_arguments: &str) -> PathBuf {
    let call = json!({"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "lookup_order", "arguments": recorded_arguments}}]});
    let head = vec![
        json!({"role": "system", "content": SYSTEM}),
        json!({"role": "user", "content": USER}),
    ];
    let mut b_input = head.clone();
    b_input.extend([
        call.clone(),
        json!({"role": "tool", "tool_call_id": "call_1", "content": "two charges"}),
    ]);
    let mut c_input = b_input.clone();
    c_input.extend([
        json!({"role": "assistant", "content": RECORDED_ANSWER}),
        json!({"role": "user", "content": "thanks"}),
    ]);
    let spans = vec![
        span("a", 0, json!(head), json!([call]), true),
        span(
            "b",
            1,
            json!(b_input),
            json!([{"role": "assistant", "content": RECORDED_ANSWER}]),
            true,
        ),
        span(
            "c",
            2,
            json!(c_input),
            json!([{"role": "assistant", "content": "bye"}]),
            false,
        ),
    ];
    let file = dir.join("agent.json");
    std::fs::write(&file, json!({"trace_id": "t1", "spans": spans}).to_string()).unwrap();
    file
}

/// A run of the trace against a recording simulator.
struct Replay {
    /// The request bodies in the order they arrived (the calls run one after another).
    bodies: Vec<Value>,
    /// The per-request records, by start time.
    entries: Vec<Value>,
    requests: Vec<ibench_sim::RecordedRequest>,
    outcome: ibench_engine::benchmark::Outcome,
}

/// Runs the trace once, all of whose calls succeed; the request bodies, the per-request
/// records and the requests.
async fn replay(
    extra: &str,
    streaming: bool,
) -> (Vec<Value>, Vec<Value>, Vec<ibench_sim::RecordedRequest>) {
    let run = run_replay(extra, streaming, RECORDED_ARGUMENTS).await;
    let summary = common::report(&run.outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], 3, "{summary}");
    (run.bodies, run.entries, run.requests)
}

async fn run_replay(extra: &str, streaming: bool, recorded_arguments: &str) -> Replay {
    run_replay_to("chat", extra, streaming, recorded_arguments).await
}

/// Runs the trace once with `api.type: api`.
async fn run_replay_to(
    api: &str,
    extra: &str,
    streaming: bool,
    recorded_arguments: &str,
) -> Replay {
    let dir = tempfile::tempdir().unwrap();
    let file = write_trace(dir.path(), recorded_arguments);
    let sim = common::sim(ibench_sim::SimConfig {
        record_requests: Some(100),
        ..Default::default()
    })
    .await;
    let reports = dir.path().join("reports");
    let config = common::config(
        &sim.base_url(),
        &reports,
        &format!(
            "api: {{type: {api}, streaming: {streaming}}}\ndata:\n  type: otel_trace_replay\n  otel_trace_replay:\n    trace_files: [{}]\n    max_wait_ms: 0\n{extra}load:\n  type: trace_session_replay\n  stages:\n  - concurrent_sessions: 1\nreport:\n  request_lifecycle: {{per_request: true}}\n  session_lifecycle: {{per_session: true}}\n",
            file.display()
        ),
    );
    let outcome = common::run(config).await;
    let requests = sim.requests();
    let bodies = requests
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
    Replay {
        bodies,
        entries,
        requests,
        outcome,
    }
}

/// The live answer in a per-request record's raw response, whole or streamed.
fn live_answer(entry: &Value, streaming: bool) -> (String, Vec<Value>) {
    let raw = entry["response"].as_str().unwrap();
    if !streaming {
        let body: Value = serde_json::from_str(raw).unwrap();
        let message = &body["choices"][0]["message"];
        let calls = message["tool_calls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        return (message["content"].as_str().unwrap_or("").to_string(), calls);
    }
    let mut text = String::new();
    let mut calls = Vec::new();
    for data in raw.lines().filter_map(|l| l.strip_prefix("data: ")) {
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        let delta = &event["choices"][0]["delta"];
        text.push_str(delta["content"].as_str().unwrap_or(""));
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let mut call = call.clone();
            call.as_object_mut().unwrap().remove("index");
            calls.push(call);
        }
    }
    (text, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otel_replay_sends_recorded_messages_with_the_servers_live_answers_substituted() {
    for streaming in [false, true] {
        let (bodies, entries, _) = replay("", streaming).await;
        let [a, b, c] = &bodies[..] else {
            panic!("three calls: {bodies:?}")
        };

        // a: its recorded messages, its recorded tool (parameters cleaned) forced by name.
        assert_eq!(
            a["messages"],
            json!([{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}])
        );
        let tools = json!([{"type": "function", "function": {"name": "lookup_order",
            "description": "Finds an order", "parameters": {"type": "object",
            "properties": {"order": {"type": "integer"}}}}}]);
        assert_eq!(a["tools"], tools);
        assert_eq!(
            a["tool_choice"],
            json!({"type": "function", "function": {"name": "lookup_order"}})
        );
        assert_eq!(
            a["ignore_eos"], false,
            "a call offered tools ends its answer itself"
        );

        // b: a's live answer (the simulator's tool call, not the recorded one) where the trace
        // had a's recorded answer, and the recorded tool result relinked to the live call.
        let (a_text, a_calls) = live_answer(&entries[0], streaming);
        assert_eq!(
            a_calls.len(),
            1,
            "the simulator answers a forced tool_choice with a call"
        );
        let mut a_live = json!({"role": "assistant", "tool_calls": a_calls});
        if !a_text.is_empty() {
            a_live["content"] = json!(a_text);
        }
        let messages = b["messages"].as_array().unwrap();
        assert_eq!(messages[..2], a["messages"].as_array().unwrap()[..]);
        assert_eq!(messages[2], a_live);
        assert_ne!(
            messages[2]["tool_calls"][0]["function"]["arguments"],
            RECORDED_ARGUMENTS
        );
        assert_eq!(
            messages[3],
            json!({"role": "tool", "tool_call_id": a_calls[0]["id"], "content": "two charges"})
        );
        assert_eq!(b["tools"], tools);
        assert_eq!(
            b["tool_choice"], "none",
            "a prose answer offered tools calls none"
        );

        // c: what b was sent, then b's live answer in place of the recorded one.
        let (b_text, _) = live_answer(&entries[1], streaming);
        assert!(!b_text.is_empty() && b_text != RECORDED_ANSWER);
        let messages = c["messages"].as_array().unwrap();
        assert_eq!(messages[..4], b["messages"].as_array().unwrap()[..]);
        assert_eq!(messages[4], json!({"role": "assistant", "content": b_text}));
        assert_eq!(messages[5], json!({"role": "user", "content": "thanks"}));
        assert!(c.get("tools").is_none() && c.get("tool_choice").is_none());

        // Each call's record keeps its live answer as the next call sent it back.
        assert_eq!(entries[0]["info"]["output_message"], a_live);
        assert_eq!(
            entries[1]["info"]["output_message"],
            json!({"role": "assistant", "content": b_text})
        );
        assert_eq!(entries[1]["info"]["output_text"], b_text.as_str());
        assert!(entries[2]["info"]["output_text"].is_string());

        // Prompt tokens are those of the messages sent (and the tools' definitions).
        let prompt = |e: &Value| {
            e["info"]["request_metrics"]["text"]["input_tokens"]
                .as_u64()
                .unwrap()
        };
        assert!(
            prompt(&entries[2]) > prompt(&entries[1]) && prompt(&entries[1]) > prompt(&entries[0])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_messages_api_the_recorded_messages_go_as_blocks_with_live_answers_substituted()
{
    for streaming in [false, true] {
        let run = run_replay_to("anthropic_messages", "", streaming, RECORDED_ARGUMENTS).await;
        let summary = common::report(&run.outcome, "summary_lifecycle_metrics");
        assert_eq!(summary["successes"]["count"], 3, "{summary}");
        assert!(run.requests.iter().all(|r| r.path == "/v1/messages"));
        let (bodies, entries) = (&run.bodies, &run.entries);
        let [a, b, c] = &bodies[..] else {
            panic!("three calls: {bodies:?}")
        };

        // a: the system message apart, its tool as the Messages API takes it, forced by name;
        // no OpenAI-only keys.
        assert_eq!(a["system"], SYSTEM);
        assert_eq!(a["messages"], json!([{"role": "user", "content": USER}]));
        let tools = json!([{"name": "lookup_order", "description": "Finds an order",
            "input_schema": {"type": "object", "properties": {"order": {"type": "integer"}}}}]);
        assert_eq!(a["tools"], tools);
        assert_eq!(
            a["tool_choice"],
            json!({"type": "tool", "name": "lookup_order"})
        );
        for key in ["ignore_eos", "stream_options", "response_format"] {
            assert!(a.get(key).is_none(), "{key} in {a}");
        }
        assert_eq!(a["stream"], streaming);

        // b: a's live tool call (the simulator's, read back from its blocks) as a tool_use
        // block, and the recorded tool result relinked to it as a tool_result block.
        let a_live = &entries[0]["info"]["output_message"];
        let call = &a_live["tool_calls"][0];
        let id = call["id"].as_str().unwrap();
        assert!(
            id.starts_with("toolu-"),
            "the live call, not the recorded: {a_live}"
        );
        let mut blocks = vec![];
        if let Some(text) = a_live["content"].as_str() {
            blocks.push(json!({"type": "text", "text": text}));
        }
        blocks.push(json!({"type": "tool_use", "id": id, "name": "lookup_order", "input": {}}));
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": USER},
                {"role": "assistant", "content": blocks},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": id, "content": "two charges"}]},
            ])
        );
        assert_eq!(b["system"], SYSTEM);
        assert_eq!(b["tools"], tools);
        assert!(
            b.get("tool_choice").is_none(),
            "the Messages API leaves a prose turn unforced: {b}"
        );

        // c: b's live prose answer in place of the recorded one.
        let b_text = entries[1]["info"]["output_text"].as_str().unwrap();
        assert!(!b_text.is_empty() && b_text != RECORDED_ANSWER);
        let messages = c["messages"].as_array().unwrap();
        assert_eq!(messages[..3], b["messages"].as_array().unwrap()[..]);
        assert_eq!(
            messages[3..],
            [
                json!({"role": "assistant", "content": b_text}),
                json!({"role": "user", "content": "thanks"})
            ]
        );
        assert!(c.get("tools").is_none() && c.get("tool_choice").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_output_substitution_sends_the_recorded_answers() {
    let (bodies, _, _) = replay("    disable_output_substitution: true\n", false).await;
    let b = &bodies[1]["messages"];
    assert_eq!(b[2]["tool_calls"][0]["id"], "call_1");
    assert_eq!(
        b[2]["tool_calls"][0]["function"]["arguments"],
        RECORDED_ARGUMENTS
    );
    assert_eq!(b[3]["tool_call_id"], "call_1");
    assert_eq!(bodies[2]["messages"][4]["content"], RECORDED_ANSWER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_recorded_tool_choice_mode_sends_no_tool_choice() {
    let (bodies, _, _) = replay("    tool_choice_mode: as_recorded\n", false).await;
    assert!(
        bodies.iter().all(|b| b.get("tool_choice").is_none()),
        "{bodies:?}"
    );
    assert!(bodies[0].get("tools").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inject_random_session_id_salts_each_calls_own_messages() {
    let (bodies, _, _) = replay("    inject_random_session_id: true\n", false).await;
    let a = bodies[0]["messages"][1]["content"].as_str().unwrap();
    let salt = a
        .strip_prefix("[SESS:")
        .and_then(|s| s.split_once("] "))
        .unwrap();
    assert_eq!(salt.0.len(), 16, "{a}");
    assert_eq!(salt.1, USER);
    let c = &bodies[2]["messages"];
    assert_eq!(
        c[0]["content"], bodies[0]["messages"][0]["content"],
        "shared: as a was sent"
    );
    assert_eq!(c[5]["content"], format!("[SESS:{}] thanks", salt.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_to_header_map_puts_span_attributes_on_the_wire() {
    let (_, _, requests) = replay(
        "    attribute_to_header_map: {tenant.id: x-tenant, missing.attr: x-missing}\n",
        false,
    )
    .await;
    for request in &requests {
        assert_eq!(request.headers["x-tenant"], "acme");
        assert_eq!(request.headers["x-missing"], "default");
    }
}

/// Call a's request gets the simulator's malformed tool arguments.
const FAULT_ON_A: &str = "    attribute_to_header_map: {sim.fault: x-ibench-fault}\n";

fn arguments_of(message: &Value) -> &str {
    message["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_live_tool_call_is_replaced_by_the_recorded_one() {
    for streaming in [false, true] {
        let extra = format!("    bad_tool_call_handling: use_recorded\n{FAULT_ON_A}");
        let run = run_replay(&extra, streaming, RECORDED_ARGUMENTS).await;
        let summary = common::report(&run.outcome, "summary_lifecycle_metrics");
        assert_eq!(summary["successes"]["count"], 3, "{summary}");
        let (_, a_calls) = live_answer(&run.entries[0], streaming);
        let live_arguments = arguments_of(&json!({"tool_calls": a_calls})).to_string();
        assert!(serde_json::from_str::<Value>(&live_arguments).is_err());

        // b sends a's recorded answer, its tool result answering the recorded call id.
        let b = &run.bodies[1]["messages"];
        assert_eq!(b[2]["tool_calls"][0]["id"], "call_1");
        assert_eq!(arguments_of(&b[2]), RECORDED_ARGUMENTS);
        assert_eq!(b[3]["tool_call_id"], "call_1");
        assert_eq!(
            run.bodies[2]["messages"].as_array().unwrap()[..4],
            b.as_array().unwrap()[..],
            "c sends what b was sent"
        );

        let sessions = common::report(&run.outcome, "per_session_lifecycle_metrics");
        assert_eq!(sessions[0]["n_recorded_substitutions"], 1);
        assert_eq!(
            sessions[0]["recorded_substitution_event_ids"],
            json!(["event_000_a"])
        );
        let summary = common::report(&run.outcome, "summary_session_lifecycle_metrics");
        assert_eq!(summary["sessions_with_recorded_substitution"], 1);
        assert_eq!(summary["total_recorded_substitutions"]["count"], 1);
        assert_eq!(
            summary["total_recorded_substitutions"]["messages"][0]["message"],
            "substitutions=1 event_ids=['event_000_a']"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tool_call_handling_none_sends_the_malformed_live_call() {
    let run = run_replay(FAULT_ON_A, false, RECORDED_ARGUMENTS).await;
    let (_, a_calls) = live_answer(&run.entries[0], false);
    let b = &run.bodies[1]["messages"];
    assert_eq!(
        b[2]["tool_calls"],
        json!(a_calls),
        "the live bytes, as they are"
    );
    assert!(serde_json::from_str::<Value>(arguments_of(&b[2])).is_err());
    let summary = common::report(&run.outcome, "summary_session_lifecycle_metrics");
    assert_eq!(summary["sessions_with_recorded_substitution"], 0);
    let sessions = common::report(&run.outcome, "per_session_lifecycle_metrics");
    assert_eq!(sessions[0]["recorded_substitution_event_ids"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_recorded_fallback_fails_the_call_and_what_waits_for_it() {
    let extra = format!("    bad_tool_call_handling: use_recorded\n{FAULT_ON_A}");
    let run = run_replay(&extra, false, "{\"order\": 11").await;
    assert_eq!(run.requests.len(), 1, "b and c are not sent");
    let sessions = common::report(&run.outcome, "per_session_lifecycle_metrics");
    let session = &sessions[0];
    assert_eq!(session["success"], false);
    assert_eq!(session["num_events_cancelled"], 2);
    assert_eq!(
        session["error"]["error_type"],
        "recorded_fallback_malformed"
    );
    let message = session["error"]["error_msg"].as_str().unwrap();
    assert!(
        message.starts_with("recorded fallback for ")
            && message.ends_with(":event_000_a is also malformed"),
        "{message}"
    );
    let summary = common::report(&run.outcome, "summary_session_lifecycle_metrics");
    assert_eq!(
        summary["failures"]["by_label"]["recorded_fallback_malformed"]["count"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_to_label_map_labels_each_calls_per_request_record() {
    let (_, entries, _) = replay(
        "    attribute_to_label_map: {tenant.id: tenant, missing.attr: other}\n",
        false,
    )
    .await;
    for entry in &entries {
        assert_eq!(
            entry["info"]["labels"],
            json!({"tenant": "acme", "other": "default"})
        );
    }
    let (_, entries, _) = replay("", false).await;
    assert_eq!(entries[0]["info"]["labels"], json!({}));
}
