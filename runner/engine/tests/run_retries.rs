//! `load.request_retries`: a request whose attempt fails before any byte of a response (here a
//! server that closes the connection on reading it, as a server does with a keep-alive
//! connection it has just timed out) is sent again and counted once; without retries it is a
//! connection failure. Real HTTP over loopback to a small server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ibench_testkit as common;
use tokio::io::AsyncWriteExt;

/// Requests the server drops before answering.
const DROPPED: usize = 6;

const BODY: &str = r#"{"id":"cmpl-1","object":"text_completion","created":0,"model":"m","choices":[{"index":0,"text":"hello world","finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;

/// A server that closes the connection of each of the first [`DROPPED`] requests it reads,
/// and answers the others (keeping the connection).
async fn dropping_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                // A connection carries at most this test's 40 requests.
                for _ in 0..100 {
                    if common::read_request(&mut socket).await.is_none()
                        || counter.fetch_add(1, Ordering::SeqCst) < DROPPED
                    {
                        return;
                    }
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
                        BODY.len()
                    );
                    if socket.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base_url, requests)
}

async fn run(retries: &str) -> (serde_json::Value, Vec<serde_json::Value>, usize) {
    let (base_url, requests) = dropping_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(
        &base_url,
        dir.path(),
        &format!(
            "api: {{streaming: false}}\nload: {{stages: [{{rate: 40, duration: 1}}], num_workers: 1{retries}}}\nreport: {{request_lifecycle: {{per_request: true}}}}"
        ),
    );
    config.server.as_mut().unwrap().model_name = Some("m".into());
    let outcome = common::run(config).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics").clone();
    (
        summary,
        common::per_request(dir.path()),
        requests.load(Ordering::SeqCst),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_dropped_before_a_response_are_retried_and_counted_once() {
    let (summary, records, received) =
        run(", request_retries: 3, request_retry_backoff_sec: 0.01").await;
    assert_eq!(summary["load_summary"]["count"], 40, "{summary:#}");
    assert_eq!(summary["successes"]["count"], 40, "{summary:#}");
    assert_eq!(summary["failures"]["count"], 0, "{summary:#}");
    assert_eq!(
        received,
        40 + DROPPED,
        "every dropped attempt was sent again"
    );
    let retries = &summary["retries"];
    assert_eq!(retries["attempts"], DROPPED, "{retries:#}");
    assert_eq!(
        retries["recovered"], retries["requests_retried"],
        "{retries:#}"
    );
    assert_eq!(retries["failed_after_retry"], 0, "{retries:#}");
    assert!(
        retries["wasted_sec"]["min"].as_f64().unwrap() > 0.0,
        "{retries:#}"
    );
    assert_eq!(records.len(), 40, "one record per request");
    let retried: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["info"].get("retries_attempted").is_some())
        .collect();
    assert_eq!(
        retried.len() as u64,
        retries["requests_retried"].as_u64().unwrap()
    );
    for record in retried {
        assert_eq!(record["info"]["retries_recovered"], true, "{record:#}");
        assert_eq!(record["error"], serde_json::Value::Null);
        let latency = record["end_time"].as_f64().unwrap() - record["start_time"].as_f64().unwrap();
        // The wait before a retry is at least half the backoff, inside the request's latency.
        assert!(latency >= 0.005, "{record:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_a_dropped_request_is_a_connection_failure() {
    let (summary, _, received) = run("").await;
    assert_eq!(received, 40);
    assert_eq!(summary["failures"]["count"], DROPPED, "{summary:#}");
    assert_eq!(summary["successes"]["count"], 40 - DROPPED);
    assert!(
        summary.get("retries").is_none(),
        "no retries block without retries"
    );
}
