//! The simulator's endpoints, errors, faults by header, determinism and exact accounting, over
//! real HTTP on loopback.

use ibench_testkit as common;

use std::time::{Duration, Instant};

use common::*;
use ibench_core::tokenize::count_tokens;
use ibench_sim::{FAULT_HEADER, FaultRates, LatencyConfig, LoraConfig, SimConfig};
use serde_json::{Value, json};

fn config() -> SimConfig {
    SimConfig {
        seed: Some(7),
        ..Default::default()
    }
}

#[tokio::test]
async fn completion_whole_and_streamed_with_usage() {
    let sim = sim(config()).await;
    let client = client();
    let url = format!("{}/v1/completions", sim.base_url());
    let v: Value = client
        .post(&url)
        .json(&completion("one two three", 12, false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "text_completion");
    assert!(v["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(v["model"], "ibench-sim");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(count_tokens(&text_of(&v)), 12);
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 12, "total_tokens": 15})
    );

    let s = stream(&client, &url, &completion("one two three", 12, true), &[]).await;
    assert_eq!(s.status, 200);
    assert!(s.done && !s.failed);
    assert_eq!(s.token_times.len(), 12, "one token per chunk");
    assert_eq!(count_tokens(&s.text), 12);
    assert_eq!(
        s.usage,
        Some(json!({"prompt_tokens": 3, "completion_tokens": 12, "total_tokens": 15}))
    );
    let last_chunk: Value = serde_json::from_str(&s.events[s.events.len() - 2]).unwrap();
    assert_eq!(
        last_chunk["choices"],
        json!([]),
        "the usage chunk has no choices"
    );

    let mut body = completion("x", 3, true);
    body["stream_options"] = json!(null);
    let s = stream(&client, &url, &body, &[]).await;
    assert!(
        s.done && s.usage.is_none(),
        "no usage chunk without include_usage"
    );
}

#[tokio::test]
async fn chat_whole_and_streamed() {
    let sim = sim(config()).await;
    let client = client();
    let url = format!("{}/v1/chat/completions", sim.base_url());
    let body = json!({"model": "ibench-sim", "max_completion_tokens": 5, "ignore_eos": true,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hello there you"}]}]});
    let v: Value = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(count_tokens(&text_of(&v)), 5);
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10})
    );

    let mut body = body;
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let s = stream(&client, &url, &body, &[]).await;
    assert!(s.done);
    let first: Value = serde_json::from_str(&s.events[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(
        first["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(count_tokens(&s.text), 5);
    assert_eq!(s.usage.unwrap()["completion_tokens"], 5);
}

/// Anthropic's Messages API: a whole message, and a stream of named events whose usage adds
/// up to the message's.
#[tokio::test]
async fn messages_whole_and_streamed() {
    let sim = sim(config()).await;
    let client = client();
    let url = format!("{}/v1/messages", sim.base_url());
    let body = json!({"model": "ibench-sim", "max_tokens": 5, "ignore_eos": true,
        "system": "be brief", "messages": [{"role": "user", "content": "hello there you"}]});
    let v: Value = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&v["type"], &v["role"]),
        (&json!("message"), &json!("assistant"))
    );
    assert!(v["id"].as_str().unwrap().starts_with("msg-"), "{v}");
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(count_tokens(v["content"][0]["text"].as_str().unwrap()), 5);
    assert_eq!(v["usage"], json!({"input_tokens": 5, "output_tokens": 5}));

    let mut body = body;
    body["stream"] = json!(true);
    let response = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "{response:?}"
    );
    let text = response.text().await.unwrap();
    let mut events = Vec::new();
    for event in text.split_terminator("\n\n") {
        let (name, data) = event
            .strip_prefix("event: ")
            .and_then(|e| e.split_once("\ndata: "))
            .unwrap_or_else(|| panic!("an event line, then a data line: {event:?}"));
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["type"], name, "the event line names the data's type");
        events.push(data);
    }
    let names: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let mut expected = vec!["message_start", "content_block_start"];
    expected.extend(["content_block_delta"; 5]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    assert_eq!(events[0]["message"]["usage"]["input_tokens"], 5);
    let streamed: String = events
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(count_tokens(&streamed), 5);
    assert_eq!(events[8]["usage"], json!({"output_tokens": 5}));
    assert_eq!(events[8]["delta"]["stop_reason"], "max_tokens");
    assert!(!text.contains("[DONE]"));
}

#[tokio::test]
async fn without_ignore_eos_length_is_random_up_to_max_tokens() {
    let sim = sim(config()).await;
    let client = client();
    let url = format!("{}/v1/completions", sim.base_url());
    let mut lengths = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let v: Value = client
            .post(&url)
            .json(&json!({"prompt": "p", "max_tokens": 8}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let n = v["usage"]["completion_tokens"].as_u64().unwrap();
        assert_eq!(count_tokens(&text_of(&v)) as u64, n);
        assert_eq!(
            v["choices"][0]["finish_reason"],
            if n == 8 { "length" } else { "stop" }
        );
        lengths.insert(n);
    }
    assert!(
        lengths.len() > 3 && *lengths.last().unwrap() <= 8,
        "{lengths:?}"
    );
    let v: Value = client
        .post(&url)
        .json(&json!({"prompt": "p", "ignore_eos": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["usage"]["completion_tokens"], 16,
        "vLLM's default max_tokens"
    );
}

#[tokio::test]
async fn models_health_and_routes() {
    let sim = sim(SimConfig {
        model: "base".into(),
        loras: vec![
            LoraConfig {
                name: "a".into(),
                ttft_offset_ms: 0.0,
            },
            LoraConfig {
                name: "b".into(),
                ttft_offset_ms: 1.0,
            },
        ],
        ..config()
    })
    .await;
    let client = client();
    let base = sim.base_url();
    let v: Value = client
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<_> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), m["parent"].as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![("base", None), ("a", Some("base")), ("b", Some("base"))]
    );
    assert_eq!(
        client
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{base}/v1/completions"))
            .send()
            .await
            .unwrap()
            .status(),
        405
    );
    assert_eq!(
        client
            .get(format!("{base}/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    for model in ["a", "b", "a"] {
        let r = client
            .post(format!("{base}/v1/completions"))
            .json(&json!({"model": model, "prompt": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["model"], model);
    }
    let by_model = sim.stats().requests_by_model;
    assert_eq!(
        by_model.into_iter().collect::<Vec<_>>(),
        vec![("a".into(), 2), ("b".into(), 1), ("base".into(), 0)]
    );
}

#[tokio::test]
async fn invalid_requests_get_openai_errors_and_the_server_survives() {
    let sim = sim(config()).await;
    let client = client();
    let url = format!("{}/v1/completions", sim.base_url());
    let r = client
        .post(&url)
        .json(&json!({"model": "gpt-9", "prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], 404);
    assert_eq!(v["error"]["type"], "NotFoundError");
    assert_eq!(v["error"]["param"], "model");
    assert!(v["error"]["message"].as_str().unwrap().contains("gpt-9"));

    let bad: [(&str, &[u8]); 6] = [
        ("/v1/completions", b"{not json"),
        ("/v1/completions", b"{\"model\": \"ibench-sim\"}"),
        ("/v1/completions", b"{\"prompt\": \"x\", \"max_tokens\": 0}"),
        (
            "/v1/completions",
            b"{\"prompt\": \"x\", \"max_tokens\": -3}",
        ),
        (
            "/v1/completions",
            b"{\"prompt\": \"x\", \"max_tokens\": 40000}",
        ),
        ("/v1/chat/completions", b"{\"messages\": \"hi\"}"),
    ];
    for (path, body) in bad {
        let r = client
            .post(format!("{}{path}", sim.base_url()))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{}", String::from_utf8_lossy(body));
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["type"], "BadRequestError");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let r = client
        .post(&url)
        .header(FAULT_HEADER, "teapot")
        .json(&json!({"prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        client
            .post(&url)
            .json(&json!({"prompt": "x"}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let stats = sim.stats();
    assert_eq!(
        (
            stats.requests_received,
            stats.requests_rejected,
            stats.requests_completed
        ),
        (9, 8, 1)
    );
}

#[tokio::test]
async fn a_bad_tool_args_fault_writes_arguments_that_are_not_json_into_a_forced_call() {
    let sim = sim(config()).await;
    let client = client();
    let url = format!("{}/v1/chat/completions", sim.base_url());
    let forced = json!({
        "model": "ibench-sim", "max_tokens": 4,
        "messages": [{"role": "user", "content": "go"}],
        "tools": [{"type": "function", "function": {"name": "search", "parameters": {}}}],
        "tool_choice": {"type": "function", "function": {"name": "search"}},
    });
    let answer = |body: Value| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let r = client
                .post(&url)
                .header(FAULT_HEADER, "bad_tool_args")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["choices"][0]["message"].clone()
        }
    };
    let message = answer(forced.clone()).await;
    assert_eq!(message["tool_calls"][0]["function"]["name"], "search");
    let arguments = message["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    assert!(
        serde_json::from_str::<Value>(arguments).is_err(),
        "{arguments}"
    );
    assert_eq!(sim.stats().faults.bad_tool_args, 1);

    let mut prose = forced;
    prose["tool_choice"] = json!("none");
    let message = answer(prose).await;
    assert!(message.get("tool_calls").is_none());
    assert_eq!(
        sim.stats().faults.bad_tool_args,
        1,
        "a request forcing no call gets no fault"
    );
}

#[tokio::test]
async fn a_forced_messages_api_tool_choice_answers_with_a_tool_use_block_whole_and_streamed() {
    let sim = sim(config()).await;
    let client = client();
    let url = format!("{}/v1/messages", sim.base_url());
    let forced = json!({
        "model": "ibench-sim", "max_tokens": 4,
        "messages": [{"role": "user", "content": "go"}],
        "tools": [{"name": "search", "input_schema": {"type": "object", "properties": {}}},
                  {"name": "read", "input_schema": {"type": "object", "properties": {}}}],
        "tool_choice": {"type": "tool", "name": "read"},
    });
    let post = |body: Value, fault: Option<&'static str>| {
        let request = client.post(&url).json(&body);
        let request = match fault {
            Some(fault) => request.header(FAULT_HEADER, fault),
            None => request,
        };
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let whole: Value = serde_json::from_str(&post(forced.clone(), None).await).unwrap();
    let call = &whole["content"][1];
    assert_eq!(
        (&call["type"], &call["name"], &call["input"]),
        (&json!("tool_use"), &json!("read"), &json!({})),
        "{whole}"
    );
    assert!(
        call["id"].as_str().unwrap().starts_with("toolu-"),
        "{whole}"
    );
    assert_eq!(whole["content"][0]["type"], "text");

    let mut any = forced.clone();
    any["tool_choice"] = json!({"type": "any"});
    any["stream"] = json!(true);
    let stream = post(any, None).await;
    let events: Vec<Value> = stream
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let tool_events: Vec<&Value> = events.iter().filter(|e| e["index"] == 1).collect();
    assert_eq!(tool_events.len(), 3, "{stream}");
    assert_eq!(
        tool_events[0]["content_block"],
        json!({"type": "tool_use", "id": tool_events[0]["content_block"]["id"], "name": "search", "input": {}})
    );
    assert_eq!(
        tool_events[1]["delta"],
        json!({"type": "input_json_delta", "partial_json": "{}"})
    );
    assert_eq!(tool_events[2]["type"], "content_block_stop");
    let stop = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert!(
        ["tool_use", "max_tokens"].contains(&stop["delta"]["stop_reason"].as_str().unwrap()),
        "{stop}"
    );

    let bad: Value =
        serde_json::from_str(&post(forced.clone(), Some("bad_tool_args")).await).unwrap();
    let input = &bad["content"][1]["input"];
    assert!(
        input
            .as_str()
            .is_some_and(|t| serde_json::from_str::<Value>(t).is_err()),
        "a faulted call's input is text that is not JSON: {bad}"
    );
    assert_eq!(sim.stats().faults.bad_tool_args, 1);

    let mut auto = forced;
    auto["tool_choice"] = json!({"type": "auto"});
    let prose: Value = serde_json::from_str(&post(auto, None).await).unwrap();
    assert_eq!(prose["content"].as_array().unwrap().len(), 1, "{prose}");
    assert_ne!(prose["stop_reason"], "tool_use", "{prose}");
}

#[tokio::test]
async fn faults_forced_by_header() {
    let sim = sim(SimConfig {
        hang_timeout_ms: 60_000,
        faults: FaultRates {
            error_500: 1.0,
            ..Default::default()
        },
        ..config()
    })
    .await;
    let client = client();
    let url = format!("{}/v1/completions", sim.base_url());
    let send = |fault: &'static str, stream: bool| {
        client
            .post(&url)
            .header(FAULT_HEADER, fault)
            .json(&completion("p", 10, stream))
            .send()
    };

    assert_eq!(
        client
            .post(&url)
            .json(&completion("p", 1, false))
            .send()
            .await
            .unwrap()
            .status(),
        500,
        "configured rate 1.0"
    );
    assert_eq!(send("none", false).await.unwrap().status(), 200);
    for (fault, status, kind) in [
        ("500", 500, "InternalServerError"),
        ("429", 429, "RateLimitError"),
        ("503", 503, "ServiceUnavailableError"),
    ] {
        let r = send(fault, false).await.unwrap();
        assert_eq!(r.status(), status);
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["type"], kind);
    }

    let r = send("malformed", false).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).is_err());
    let s = stream(
        &client,
        &url,
        &completion("p", 10, true),
        &[(FAULT_HEADER, "malformed")],
    )
    .await;
    assert_eq!(
        (s.malformed_events, s.token_times.len(), s.done),
        (1, 9, true)
    );

    let r = send("cut", false).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.bytes().await.is_err(),
        "the body stops before its announced length"
    );
    let s = stream(
        &client,
        &url,
        &completion("p", 10, true),
        &[(FAULT_HEADER, "cut")],
    )
    .await;
    assert_eq!(
        (s.status, s.token_times.len(), s.done, s.failed),
        (200, 5, false, true)
    );

    let started = Instant::now();
    let err = client
        .post(&url)
        .header(FAULT_HEADER, "hang")
        .timeout(Duration::from_millis(300))
        .json(&completion("p", 1, false))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    // The server notices the client leaving and lets the hung request go.
    assert!(wait_until(Duration::from_secs(1), async || sim.stats().in_flight == 0).await);
    let faults = sim.stats().faults;
    assert_eq!(
        (faults.error_500, faults.error_429, faults.error_503),
        (2, 1, 1)
    );
    assert_eq!((faults.malformed, faults.cut, faults.hang), (2, 2, 1));
    assert_eq!(sim.stats().requests_completed, 1);
    // A hang nobody gives up on ends, without an answer, when the server shuts down.
    let pending = tokio::spawn(
        client
            .post(&url)
            .header(FAULT_HEADER, "hang")
            .json(&completion("p", 1, false))
            .send(),
    );
    assert!(wait_until(Duration::from_secs(1), async || sim.stats().in_flight == 1).await);
    let started = Instant::now();
    sim.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(pending.await.unwrap().is_err());
}

/// Same seed → same texts; the text does not depend on streaming or timing.
#[tokio::test]
async fn a_seed_fixes_the_output() {
    async fn texts(seed: u64, stream_them: bool) -> Vec<String> {
        let sim = sim(SimConfig {
            seed: Some(seed),
            ..Default::default()
        })
        .await;
        let client = client();
        let url = format!("{}/v1/completions", sim.base_url());
        let mut out = Vec::new();
        for i in 0..5 {
            let body = json!({"prompt": "p", "max_tokens": 10 + i, "stream": stream_them});
            out.push(if stream_them {
                stream(&client, &url, &body, &[]).await.text
            } else {
                text_of(
                    &client
                        .post(&url)
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap(),
                )
            });
        }
        out
    }
    let a = texts(42, false).await;
    assert_eq!(a, texts(42, false).await);
    assert_eq!(a, texts(42, true).await);
    assert_ne!(a, texts(43, false).await);
}

/// /metrics and stats() equal exactly what the clients received.
#[tokio::test]
async fn metrics_count_exactly_the_requests_and_tokens_served() {
    let sim = sim(SimConfig {
        latency: LatencyConfig {
            ttft_ms: 1.0,
            itl_ms: 0.2,
            ..Default::default()
        },
        ..config()
    })
    .await;
    let client = client();
    let base = sim.base_url();
    let (mut prompt_tokens, mut completion_tokens, mut length_finishes) = (0, 0, 0);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60usize {
        let (client, base) = (client.clone(), base.clone());
        tasks.spawn(async move {
            let prompt = (0..i % 7 + 1)
                .map(|k| format!("w{k}"))
                .collect::<Vec<_>>()
                .join("  ");
            let chat = i % 2 == 0;
            let streamed = i % 3 == 0;
            let mut body = if chat {
                json!({"messages": [{"role": "user", "content": prompt}], "max_tokens": i % 9 + 1})
            } else {
                json!({"prompt": prompt, "max_tokens": i % 9 + 1})
            };
            body["stream"] = json!(streamed);
            let url = format!(
                "{base}{}",
                if chat {
                    "/v1/chat/completions"
                } else {
                    "/v1/completions"
                }
            );
            let text = if streamed {
                let s = stream(&client, &url, &body, &[]).await;
                assert!(s.done);
                s.text
            } else {
                text_of(
                    &client
                        .post(&url)
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap(),
                )
            };
            (count_tokens(&prompt), count_tokens(&text), i % 9 + 1)
        });
    }
    while let Some(r) = tasks.join_next().await {
        let (p, c, max) = r.unwrap();
        prompt_tokens += p;
        completion_tokens += c;
        length_finishes += usize::from(c == max);
    }
    let m = metrics(&client, &sim).await;
    let l = "model_name=\"ibench-sim\"";
    assert_eq!(
        m[&format!("vllm:prompt_tokens_total{{{l}}}")],
        prompt_tokens as f64
    );
    assert_eq!(
        m[&format!("vllm:generation_tokens_total{{{l}}}")],
        completion_tokens as f64
    );
    assert_eq!(
        m[&format!("vllm:request_success_total{{finished_reason=\"length\",{l}}}")],
        length_finishes as f64
    );
    assert_eq!(
        m[&format!("vllm:request_success_total{{finished_reason=\"stop\",{l}}}")],
        (60 - length_finishes) as f64
    );
    assert_eq!(
        m[&format!("vllm:time_to_first_token_seconds_count{{{l}}}")],
        60.0
    );
    assert_eq!(
        m[&format!("vllm:e2e_request_latency_seconds_count{{{l}}}")],
        60.0
    );
    assert_eq!(m[&format!("vllm:num_requests_running{{{l}}}")], 0.0);
    let stats = sim.stats();
    assert_eq!(
        (
            stats.requests_received,
            stats.requests_completed,
            stats.in_flight
        ),
        (60, 60, 0)
    );
    assert_eq!(
        (stats.prompt_tokens, stats.completion_tokens),
        (prompt_tokens as u64, completion_tokens as u64)
    );
}

#[tokio::test]
async fn max_in_flight_and_the_request_log() {
    let sim = sim(SimConfig {
        record_requests: Some(10),
        latency: LatencyConfig {
            ttft_ms: 100.0,
            ..Default::default()
        },
        ..config()
    })
    .await;
    let client = client();
    let url = format!("{}/v1/completions", sim.base_url());
    let sends: Vec<_> = (0..12)
        .map(|i| {
            client
                .post(&url)
                .json(&json!({"prompt": format!("n{i}"), "max_tokens": 1}))
                .send()
        })
        .collect();
    for r in futures::future::join_all(sends).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    let stats = sim.stats();
    assert_eq!((stats.max_in_flight, stats.in_flight), (12, 0));
    let log = sim.requests();
    assert_eq!(log.len(), 10, "bounded");
    assert!(
        log.windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].offset <= w[1].offset)
    );
    for entry in &log {
        assert_eq!(
            (entry.path, entry.model.as_deref()),
            ("/v1/completions", Some("ibench-sim"))
        );
        let body: Value = serde_json::from_slice(&entry.body).unwrap();
        assert!(body["prompt"].as_str().unwrap().starts_with('n'));
    }
}
