//! What a misbehaving server can make the runner hold: a 200 MB body is a labelled failure read
//! no further than `api.max_response_bytes`, failure messages are short whatever the body, and
//! streams are read as inference-perf reads them (no `[DONE]` needed, unreadable events
//! skipped). Real HTTP over loopback to small servers that answer each connection once. Its own
//! test binary, so that the process's peak memory is this file's alone.

use ibench_testkit as common;

use tokio::io::AsyncWriteExt;

/// A server answering every request with `head` (status line and headers, without the blank
/// line), then `body`, `repeat` times over, on a connection it then closes.
async fn server(head: String, body: Vec<u8>, repeat: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (head, body) = (head.clone(), body.clone());
            tokio::spawn(async move {
                if common::read_request(&mut socket).await.is_none() {
                    return;
                }
                let head = format!("{head}\r\nconnection: close\r\n\r\n");
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..repeat {
                    // The runner hangs up once it has read enough.
                    if socket.write_all(&body).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    base_url
}

fn summary_of(outcome: &ibench_engine::benchmark::Outcome) -> (serde_json::Value, usize) {
    let summary = common::report(outcome, "summary_lifecycle_metrics").clone();
    let size = serde_json::to_vec(&summary).unwrap().len();
    (summary, size)
}

/// The process's peak resident memory, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_body_is_a_labelled_failure_read_no_further_than_the_cap() {
    const MB: usize = 1 << 20;
    let base_url = server(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}",
            200 * MB
        ),
        vec![b'x'; MB],
        200,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(
        &base_url,
        dir.path(),
        "load: {stages: [{rate: 2, duration: 1}], num_workers: 1}\nreport: {request_lifecycle: {per_request: true}}",
    );
    config.server.as_mut().unwrap().model_name = Some("m".into());
    let before = peak_rss();
    let outcome = common::run(config).await;
    let (summary, size) = summary_of(&outcome);
    let labels = &summary["failures"]["by_label"];
    assert_eq!(labels["Response Too Large"]["count"], 2, "{summary}");
    let per_request = std::fs::metadata(dir.path().join("per_request_lifecycle_metrics.json"))
        .unwrap()
        .len();
    let peak = peak_rss();
    println!(
        "summary {size} B, per-request file {per_request} B, peak RSS {} MB (before {} MB)",
        peak >> 20,
        before >> 20
    );
    assert!(size < 64 * 1024, "summary of {size} bytes");
    assert!(
        per_request < 64 * 1024,
        "per-request file of {per_request} bytes"
    );
    // Two 200 MB bodies in flight; each read no further than the 64 MiB default cap.
    assert!(
        peak < 400 * MB as u64,
        "peak RSS {} MB with two 200 MB bodies",
        peak >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_json_message_is_short_whatever_the_body() {
    // A JSON string where an object belongs: the parser's error quotes all of it.
    let body = format!("\"{}\"", "a".repeat(1 << 20));
    let base_url = server(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}",
            body.len()
        ),
        body.into_bytes(),
        1,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(
        &base_url,
        dir.path(),
        "api: {max_response_bytes: 2000000}\nload: {stages: [{rate: 4, duration: 1}], num_workers: 1}",
    );
    config.server.as_mut().unwrap().model_name = Some("m".into());
    let outcome = common::run(config).await;
    let (summary, size) = summary_of(&outcome);
    let invalid = &summary["failures"]["by_label"]["Invalid JSON"];
    assert_eq!(invalid["count"], 4, "{summary}");
    let message = invalid["messages"][0]["message"].as_str().unwrap();
    assert!(message.chars().count() <= 501, "{} chars", message.len());
    assert!(size < 16 * 1024, "summary of {size} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_done_succeeds_and_unreadable_events_are_skipped() {
    let event = |text: &str| {
        format!(
            "data: {{\"choices\":[{{\"index\":0,\"text\":\"{text}\",\"finish_reason\":null}}]}}\n\n"
        )
    };
    let body = format!("{}data: {{not json\n\n{}", event("Hello"), event(" world"));
    let base_url = server(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}",
            body.len()
        ),
        body.into_bytes(),
        1,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(
        &base_url,
        dir.path(),
        "api: {streaming: true}\nload: {stages: [{rate: 5, duration: 1}], num_workers: 1}",
    );
    config.server.as_mut().unwrap().model_name = Some("m".into());
    let outcome = common::run(config).await;
    let (summary, _) = summary_of(&outcome);
    assert_eq!(summary["successes"]["count"], 5, "{summary}");
    assert_eq!(summary["failures"]["count"], 0, "{summary}");
    // Both readable events' tokens are counted.
    assert!(
        summary["successes"]["output_len"]["mean"].as_f64().unwrap() >= 2.0,
        "{summary}"
    );
}
