//! Stopping `ibench run` from outside: SIGINT, SIGHUP and SIGTERM each end the run with
//! complete, valid reports; a second signal cancels the requests in flight; a stage cut short
//! with a day of schedule left ends within its teardown grace. The `ibench` binary against the
//! simulator, or a server that never answers, over loopback.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ibench_sim::{LatencyConfig, SimConfig};
use ibench_testkit as common;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

fn write_config(dir: &Path, server: &str, rest: &str) -> std::path::PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "server:\n{server}\n{rest}\nstorage:\n  local_storage:\n    path: {}\n",
            dir.join("reports").display()
        ),
    )
    .unwrap();
    path
}

fn start(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ibench"))
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, signal: Signal) {
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
}

/// Waits for `child` to exit, at most `limit`; its status and output.
fn finish(mut child: Child, limit: Duration) -> (ExitStatus, String, String) {
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    // Drained alongside, so that a full pipe never holds the process back.
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running {limit:?} after the signal; stderr:\n{}",
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, out.join().unwrap(), err.join().unwrap())
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every report file parses; the summary's counts add up to `planned`. Returns the summary.
fn check_reports(reports: &Path, stdout: &str, planned: u64) -> Value {
    for marker in ["=== START_SUMMARY ===", "=== END_STAGE_0 ==="] {
        assert!(stdout.contains(marker), "missing {marker}:\n{stdout}");
    }
    let config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(reports.join("config.yaml")).unwrap())
            .unwrap();
    assert!(config.get("load").is_some(), "{config:?}");
    let summary = json(&reports.join("summary_lifecycle_metrics.json"));
    let stage = json(&reports.join("stage_0_lifecycle_metrics.json"));
    let records = json(&reports.join("per_request_lifecycle_metrics.json"));
    for report in [&summary, &stage] {
        let count = |v: &Value| v["count"].as_u64().unwrap();
        let sent = count(&report["load_summary"]);
        let cancelled = &report["cancelled"];
        let (in_flight, not_sent) = (
            cancelled["in_flight"].as_u64().unwrap(),
            cancelled["not_sent"].as_u64().unwrap(),
        );
        assert_eq!(
            sent,
            count(&report["successes"]) + count(&report["failures"]) + in_flight,
            "every request sent ended as a success, a failure or cancelled in flight"
        );
        assert_eq!(count(cancelled), in_flight + not_sent);
        assert_eq!(
            sent + not_sent,
            planned,
            "every planned request is accounted for"
        );
    }
    assert_eq!(
        records.as_array().unwrap().len() as u64,
        summary["load_summary"]["count"].as_u64().unwrap(),
        "one per-request record per request sent"
    );
    summary
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let ready = common::wait_until(Duration::from_secs(30), async || done()).await;
    assert!(ready, "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_stopping_signal_drains_and_writes_complete_reports() {
    let sim = common::sim(SimConfig {
        latency: LatencyConfig {
            ttft_ms: 300.0,
            itl_ms: 0.0,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    for (sig, code) in [
        (Signal::SIGINT, 130),
        (Signal::SIGHUP, 130),
        (Signal::SIGTERM, 143),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            &format!("  type: vllm\n  base_url: {}", sim.base_url()),
            "load:\n  stages: [{rate: 50, duration: 60}]\n  stage_teardown_grace_seconds: 10\nreport: {request_lifecycle: {per_request: true}}",
        );
        let before = sim.stats().requests_received;
        let child = start(&config);
        wait_for("requests arrive", || {
            sim.stats().requests_received >= before + 20
        })
        .await;
        signal(&child, sig);
        let (status, stdout, stderr) =
            tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(10)))
                .await
                .unwrap();
        assert_eq!(status.code(), Some(code), "{sig}: {stderr}");
        assert!(
            stderr.contains(&format!("run stopped by {sig}")),
            "{stderr}"
        );
        let summary = check_reports(&dir.path().join("reports"), &stdout, 50 * 60);
        // 300 ms answers within a 10 s grace: everything sent finished.
        assert_eq!(summary["cancelled"]["in_flight"], 0, "{sig}");
        assert!(
            summary["successes"]["count"].as_u64().unwrap() >= 20,
            "{sig}"
        );
        assert!(
            summary["cancelled"]["not_sent"].as_u64().unwrap() > 2000,
            "{sig}"
        );
    }
}

/// A server that accepts connections and never answers; how many it accepted.
fn silent_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        // More than any one test's runner opens; the thread ends with the test process.
        for stream in listener.incoming().take(10_000) {
            open.push(stream);
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    (url, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_cancels_the_requests_in_flight() {
    let (url, accepted) = silent_server();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("  type: vllm\n  base_url: {url}\n  model_name: m"),
        "load:\n  stages: [{rate: 100, duration: 60}]\n  stage_teardown_grace_seconds: 120\n  num_workers: 1\n  worker_max_concurrency: 10\nreport: {request_lifecycle: {per_request: true}}",
    );
    let child = start(&config);
    wait_for("connections are opened", || {
        accepted.load(Ordering::Relaxed) >= 10
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&child, Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = Instant::now();
    signal(&child, Signal::SIGINT);
    let (status, stdout, stderr) =
        tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(10)))
            .await
            .unwrap();
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "the second signal cut the 120 s grace short"
    );
    assert_eq!(
        status.code(),
        Some(143),
        "the first signal decides: {stderr}"
    );
    let summary = check_reports(&dir.path().join("reports"), &stdout, 100 * 60);
    assert_eq!(summary["cancelled"]["in_flight"], 10, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_day_long_stage_exits_within_its_grace() {
    let (url, accepted) = silent_server();
    let dir = tempfile::tempdir().unwrap();
    let grace = 1.0;
    let config = write_config(
        dir.path(),
        &format!("  type: vllm\n  base_url: {url}\n  model_name: m"),
        &format!(
            "load:\n  stages: [{{rate: 5000, duration: 86400}}]\n  stage_teardown_grace_seconds: {grace}\nreport: {{request_lifecycle: {{per_request: true}}}}"
        ),
    );
    let child = start(&config);
    wait_for("connections are opened", || {
        accepted.load(Ordering::Relaxed) >= 200
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let interrupted = Instant::now();
    signal(&child, Signal::SIGINT);
    let (status, stdout, stderr) =
        tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(30)))
            .await
            .unwrap();
    let took = interrupted.elapsed();
    println!("exit {took:?} after SIGINT");
    assert!(
        took < Duration::from_secs_f64(grace + 2.0),
        "exit {took:?} after SIGINT, grace {grace} s"
    );
    assert_eq!(status.code(), Some(130), "{stderr}");
    let summary = check_reports(&dir.path().join("reports"), &stdout, 5000 * 86_400);
    // Two workers, 100 requests in flight each, none ever answered.
    assert_eq!(summary["cancelled"]["in_flight"], 200, "{summary}");
}
