//! Connections that hold the simulator without using it are closed: a request head sent too
//! slowly, a connection left idle; a body announced over the limit is refused before it comes.
//! Raw TCP over loopback.

use std::time::Duration;

use ibench_sim::SimConfig;
use ibench_testkit as common;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Everything the server sends until it closes the connection, waiting at most `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut all = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut all)).await;
    assert!(
        read.is_ok(),
        "still open after {limit:?}: {:?}",
        String::from_utf8_lossy(&all)
    );
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_closed() {
    let sim = common::sim(SimConfig {
        idle_timeout_ms: 500,
        header_read_timeout_ms: 300,
        ..Default::default()
    })
    .await;
    let limit = Duration::from_secs(5);

    let mut slowloris = TcpStream::connect(sim.addr()).await.unwrap();
    slowloris
        .write_all(b"POST /v1/completions HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert!(read_until_closed(&mut slowloris, limit).await.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(300));

    let mut idle = TcpStream::connect(sim.addr()).await.unwrap();
    let started = std::time::Instant::now();
    assert!(read_until_closed(&mut idle, limit).await.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(500));

    // A request in progress is never idle; its connection closes once idle after it.
    let mut used = TcpStream::connect(sim.addr()).await.unwrap();
    let body = common::completion("Hello", 2, false).to_string();
    used.write_all(
        format!(
            "POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answer = String::from_utf8(read_until_closed(&mut used, limit).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_announced_over_the_limit_is_refused_before_it_is_sent() {
    let sim = common::sim(SimConfig::default()).await;
    let mut stream = TcpStream::connect(sim.addr()).await.unwrap();
    stream
        .write_all(
            b"POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head))
        .await
        .expect("answered without the body")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
}
