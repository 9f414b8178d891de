//! Every request is accounted for: successes, failures under inference-perf's labels, and
//! cancellations; LoRA traffic and per-adapter reports; the `ibench run` command's files,
//! stdout markers and exit codes. Real HTTP over loopback to the simulator.

use ibench_testkit as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use ibench_sim::{FaultRates, LoraConfig, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_under_their_labels() {
    let faults = FaultRates {
        error_500: 0.1,
        error_429: 0.1,
        error_503: 0.05,
        cut: 0.1,
        hang: 0.05,
        malformed: 0.05,
        bad_tool_args: 0.0,
        after_ms: 0,
        every: 0,
    };
    let sim = common::sim(SimConfig {
        faults,
        seed: Some(5),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        "api: {streaming: true}\nload: {stages: [{rate: 400, duration: 2}], request_timeout: 0.5, num_workers: 2}",
    );
    let outcome = common::run(config).await;
    let stats = sim.stats();
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    let labels = &summary["failures"]["by_label"];
    let count = |label: &str| labels[label]["count"].as_u64().unwrap_or(0);
    assert_eq!(count("500 - Internal Server Error"), stats.faults.error_500);
    assert_eq!(count("429 - Rate Limit"), stats.faults.error_429);
    assert_eq!(count("503 - Service Unavailable"), stats.faults.error_503);
    assert_eq!(count("Incomplete Stream"), stats.faults.cut);
    assert_eq!(count("Timeout"), stats.faults.hang);
    // A malformed event is skipped, as inference-perf skips it: the stream around it succeeds.
    assert_eq!(count("Invalid JSON"), 0);
    assert!(stats.faults.malformed > 0, "{:?}", stats.faults);
    assert!(stats.faults.total() > 100, "{:?}", stats.faults);
    let (ok, failed) = (
        summary["successes"]["count"].as_u64().unwrap(),
        summary["failures"]["count"].as_u64().unwrap(),
    );
    assert_eq!(
        ok + failed,
        800,
        "every request is a success or a labelled failure"
    );
    assert_eq!(failed, stats.faults.total() - stats.faults.malformed);
    // The simulator counts a malformed stream as a fault, not as completed.
    assert_eq!(ok, stats.requests_completed + stats.faults.malformed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_grace_cancels_in_flight_requests_and_reports_them() {
    let sim = common::sim_with_latency(3000.0, 0.0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        "load: {stages: [{rate: 20, duration: 1}], stage_teardown_grace_seconds: 0.5, num_workers: 2, worker_max_concurrency: 5}",
    );
    let started = std::time::Instant::now();
    let outcome = common::run(config).await;
    assert!(
        started.elapsed().as_secs_f64() < 2.5,
        "the stage ended at its deadline"
    );
    let stage = common::report(&outcome, "stage_0_lifecycle_metrics");
    let cancelled = &stage["cancelled"];
    // 10 permits in all: 10 requests sent and cut off in flight, 10 never sent.
    assert_eq!(cancelled["in_flight"], 10);
    assert_eq!(cancelled["not_sent"], 10);
    assert_eq!(stage["load_summary"]["count"], 10);
    assert_eq!(stage["successes"]["count"], 0);
    assert_eq!(sim.stats().requests_received, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lora_traffic_follows_the_split_and_gets_per_adapter_reports() {
    let names = ["movie", "consumer", "legal"];
    let loras = names
        .iter()
        .map(|n| LoraConfig {
            name: n.to_string(),
            ttft_offset_ms: 0.0,
        })
        .collect();
    let sim = common::sim(SimConfig {
        loras,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        "load:\n  stages: [{rate: 2000, duration: 2}, {rate: 1000, duration: 2}]\n  interval: 0\n  num_workers: 2\n  base_seed: 42\n  lora_traffic_split: [{name: movie, split: 0.5}, {name: consumer, split: 0.3}, {name: legal, split: 0.2}]\nreport: {request_lifecycle: {per_adapter: true, per_adapter_stage: true}}",
    );
    let outcome = common::run(config).await;
    let stats = sim.stats();
    let total: f64 = 6000.0;
    assert_eq!(stats.requests_received, 6000);
    for (name, p) in names.iter().zip([0.5, 0.3, 0.2]) {
        let served = stats.requests_by_model[*name] as f64;
        let sigma = (total * p * (1.0 - p)).sqrt();
        assert!(
            (served - total * p).abs() < 3.0 * sigma,
            "{name}: {served} of {total} for a split of {p}"
        );
        let adapter = common::report(&outcome, &format!("adapter_{name}_lifecycle_metrics"));
        assert_eq!(adapter["load_summary"]["count"].as_f64(), Some(served));
        let by_stage: f64 = (0..2)
            .map(|s| {
                common::report(
                    &outcome,
                    &format!("adapter_{name}_stage_{s}_lifecycle_metrics"),
                )["load_summary"]["count"]
                    .as_f64()
                    .unwrap()
            })
            .sum();
        assert_eq!(by_stage, served);
        let stage_report = common::report(
            &outcome,
            &format!("adapter_{name}_stage_0_lifecycle_metrics"),
        );
        assert!(
            stage_report["load_summary"]["achieved_rate"]
                .as_f64()
                .unwrap()
                > 0.0
        );
        assert!(stage_report["load_summary"].get("concurrency").is_none());
    }
    assert_eq!(
        stats
            .requests_by_model
            .get("ibench-sim")
            .copied()
            .unwrap_or(0),
        0,
        "no request without an adapter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_token_counts_agree_with_the_server() {
    let sim = common::sim_with_latency(5.0, 5.0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        "api: {type: chat, streaming: true}\ndata:\n  type: random\n  input_distribution: {min: 20, max: 200, mean: 80, std_dev: 30}\n  output_distribution: {min: 2, max: 30, mean: 10, std_dev: 5}\nload: {stages: [{rate: 50, duration: 2}], num_workers: 2}",
    );
    let outcome = common::run(config).await;
    let successes = &common::report(&outcome, "summary_lifecycle_metrics")["successes"];
    let stats = sim.stats();
    assert_eq!(successes["count"], 100);
    assert_eq!(successes["token_count_mismatches"], 0);
    assert_eq!(
        successes["output_tokens"]["total"].as_u64(),
        Some(stats.completion_tokens)
    );
    assert_eq!(
        successes["prompt_tokens"]["total"].as_u64(),
        Some(stats.prompt_tokens)
    );
    let latency = &successes["latency"];
    assert!(latency["time_to_first_token"]["median"].as_f64().unwrap() >= 0.005);
    // Tokens 5 ms apart: a scheduling hiccup that joins two tokens into one read (a 0 s gap,
    // as inference-perf counts it) cannot pull the median below the server's pacing.
    assert!(latency["inter_token_latency"]["median"].as_f64().unwrap() >= 0.004);
}

/// A keep-alive server that closes each connection 2 ms after its first response, as servers
/// do at their keep-alive timeout (uvicorn's is 5 s), without telling the client. Connections
/// that have not carried a request yet stay open. Returns its base URL and how many connections
/// served a completion.
///
/// The runner reuses a connection 100 ms after its response at the soonest here, so every close
/// lands well before a reuse. A close near a reuse would race the request on its way (the close
/// arriving just after the idle check), which every keep-alive client risks at the server's
/// timeout; with a 30 ms timeout, the first requests of a loaded machine hit it.
async fn server_closing_idle_connections() -> (String, Arc<AtomicUsize>) {
    const IDLE: Duration = Duration::from_millis(2);
    const MODELS: &str = r#"{"object":"list","data":[{"id":"m","object":"model"}]}"#;
    const COMPLETION: &str = r#"{"choices":[{"index":0,"text":"one two","finish_reason":"length"}],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}"#;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let serving = Arc::new(AtomicUsize::new(0));
    let counter = serving.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut answered = false;
                loop {
                    let read = if answered {
                        match tokio::time::timeout(IDLE, socket.read(&mut chunk)).await {
                            Ok(read) => read,
                            Err(_) => return,
                        }
                    } else {
                        socket.read(&mut chunk).await
                    };
                    let Ok(read @ 1..) = read else { return };
                    buf.extend_from_slice(&chunk[..read]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|line| line.strip_prefix("content-length:"))
                            .map_or(0, |value| value.trim().parse().unwrap());
                        if buf.len() < end + 4 + length {
                            break;
                        }
                        buf.drain(..end + 4 + length);
                        let body = if head.starts_with("get /v1/models") {
                            MODELS
                        } else {
                            if !answered {
                                counter.fetch_add(1, Ordering::SeqCst);
                            }
                            COMPLETION
                        };
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if socket.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                        answered = true;
                    }
                }
            });
        }
    });
    (base_url, serving)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_server_closed_while_idle_are_replaced_not_reused() {
    let (base_url, serving) = server_closing_idle_connections().await;
    let dir = tempfile::tempdir().unwrap();
    // 20 req/s over two workers: a worker sends every 100 ms, and its most recently used
    // connection, the one it would take next, has been closed by then.
    let config = common::config(
        &base_url,
        dir.path(),
        "load: {stages: [{rate: 20, duration: 2}], num_workers: 2}",
    );
    let outcome = common::run(config).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["failures"]["count"], 0, "{}", summary["failures"]);
    assert_eq!(summary["successes"]["count"], 40);
    // No connection carried two completions: the server closed each after its first.
    assert_eq!(serving.load(Ordering::SeqCst), 40);
}
