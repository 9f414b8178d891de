//! A streamed request ends at its `[DONE]` event: a server (or a proxy) that holds back the
//! end of the body after it does not lengthen the request's latency. Real HTTP over loopback
//! to a small server that sends `[DONE]` at once and ends the chunked body 200 ms later.

use std::time::Duration;

use ibench_testkit as common;
use tokio::io::AsyncWriteExt;

const EVENTS: &str = "data: {\"id\":\"c\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"hello world\"}]}\n\ndata: {\"id\":\"c\",\"object\":\"text_completion\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\ndata: [DONE]\n\n";

/// How long the server holds the body's last chunk after `[DONE]`.
const HELD: Duration = Duration::from_millis(200);

async fn late_ending_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                for _ in 0..100 {
                    if common::read_request(&mut socket).await.is_none() {
                        return;
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{EVENTS}\r\n",
                        EVENTS.len()
                    );
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(HELD).await;
                    if socket.write_all(b"0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    base_url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_at_done_whatever_the_body_does_after() {
    let base_url = late_ending_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(
        &base_url,
        dir.path(),
        "api: {streaming: true}\nload: {stages: [{rate: 20, duration: 1}], num_workers: 1}",
    );
    config.server.as_mut().unwrap().model_name = Some("m".into());
    let outcome = common::run(config).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], 20, "{summary}");
    let latency = &summary["successes"]["latency"]["request_latency"];
    let max = latency["max"].as_f64().unwrap();
    // The answer is complete within a millisecond or two of sending; the body's end comes
    // 200 ms later, and the runner gives up waiting for it after 50 ms.
    assert!(
        max < 0.040,
        "request latency includes the wait after [DONE]: {latency}"
    );
    assert_eq!(
        summary["successes"]["output_tokens"]["total"], 40,
        "{summary}"
    );
}
