//! `ibench sim` under connections that hold it without using it: 10,000 idle connections are
//! closed after its idle timeout, its memory returns near where it started, and requests keep
//! being served throughout. The simulator runs as its own process so that its file
//! descriptors and memory are its alone.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ibench_testkit as common;
use tokio::net::TcpStream;

/// The simulator's resident memory, in bytes.
fn rss(sim: &Child) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", sim.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

fn open_fds(sim: &Child) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", sim.id()))
        .unwrap()
        .count()
}

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_are_closed_and_their_memory_returned() {
    const CONNECTIONS: usize = 10_000;
    // Longer than opening them takes on a busy 2-core machine (15 to 30 s), so that all are
    // held at once.
    const IDLE: Duration = Duration::from_secs(45);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sim = Sim(Command::new(env!("CARGO_BIN_EXE_ibench"))
        .args([
            "sim",
            "--port",
            &port.to_string(),
            "--ttft-ms",
            "5",
            "--itl-ms",
            "1",
        ])
        .args(["--idle-timeout-ms", &IDLE.as_millis().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let base_url = format!("http://127.0.0.1:{port}");
    let client = common::client();
    let completion = common::completion("Hello", 4, false);
    let serves = async || {
        client
            .post(format!("{base_url}/v1/completions"))
            .json(&completion)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    };
    assert!(
        common::wait_until(Duration::from_secs(20), async || serves().await).await,
        "the simulator starts"
    );
    let (baseline_rss, baseline_fds) = (rss(&sim.0), open_fds(&sim.0));

    // Requests all along.
    let stop = tokio_util::sync::CancellationToken::new();
    let requests = tokio::spawn({
        let (stop, base_url, completion) = (stop.clone(), base_url.clone(), completion.clone());
        async move {
            let client = common::client();
            let (mut ok, mut failed) = (0u32, 0u32);
            // At most 3 minutes of requests (one every 50 ms), longer than the test.
            for _ in 0..3600 {
                if stop.is_cancelled() {
                    break;
                }
                let response = client
                    .post(format!("{base_url}/v1/completions"))
                    .json(&completion)
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => ok += 1,
                    _ => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (ok, failed)
        }
    });

    let opened = Instant::now();
    // In batches within the listen backlog (128): one at a time, waiting for each handshake,
    // took 40 s here; 500 at a time overflowed the backlog (dropped SYNs wait 1 s).
    let mut idle: Vec<TcpStream> = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS / 100 {
        let batch = (0..100).map(|_| TcpStream::connect(("127.0.0.1", port)));
        for stream in futures::future::join_all(batch).await {
            idle.push(stream.unwrap());
        }
    }
    let took = opened.elapsed();
    let accepted = common::wait_until(Duration::from_secs(10), async || {
        open_fds(&sim.0) >= baseline_fds + CONNECTIONS
    })
    .await;
    assert!(accepted, "{} fds open", open_fds(&sim.0));
    let held_rss = rss(&sim.0);
    let closed = common::wait_until(IDLE + took + Duration::from_secs(15), async || {
        open_fds(&sim.0) <= baseline_fds + 10
    })
    .await;
    let closed_after = opened.elapsed();
    assert!(closed, "{} fds still open", open_fds(&sim.0));
    assert!(
        closed_after >= IDLE,
        "closed {closed_after:?} after opening, before the idle timeout"
    );
    // mimalloc returns freed pages when their thread next collects, which an idle `ibench sim`
    // thread does at most once a second.
    let returned_rss = baseline_rss + held_rss.saturating_sub(baseline_rss) / 4 + (4 << 20);
    common::wait_until(Duration::from_secs(10), async || {
        rss(&sim.0) <= returned_rss
    })
    .await;
    let after_rss = rss(&sim.0);
    drop(idle);
    stop.cancel();
    let (ok, failed) = requests.await.unwrap();
    println!(
        "sim RSS: {} MB before, {} MB holding {CONNECTIONS} idle connections, {} MB after they were closed ({closed_after:?} after opening); {ok} requests served meanwhile",
        baseline_rss >> 20,
        held_rss >> 20,
        after_rss >> 20
    );
    assert_eq!(failed, 0, "every request meanwhile was served ({ok} were)");
    assert!(ok >= 20, "{ok} requests served meanwhile");
    assert!(
        after_rss <= returned_rss,
        "RSS {} MB after, {} MB before, {} MB holding",
        after_rss >> 20,
        baseline_rss >> 20,
        held_rss >> 20
    );
}
