//! A target that cannot be reached (or a dataset image URL it could not fetch) stops `ibench
//! run` before the first stage, with the cause, instead of a stage of errors; `load.fail_fast:
//! false` keeps going for a server that starts later. Loopback only: a closed port, TLS to a
//! plain HTTP server, an image server answering 404.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ibench_sim::SimConfig;
use ibench_testkit as common;

/// A loopback port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn run(dir: &Path, base_url: &str, load: &str) -> Output {
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  type: vllm\n  base_url: {base_url}\n  model_name: m\nload:\n{load}\nstorage:\n  local_storage:\n    path: {}\n",
            dir.join("reports").display()
        ),
    )
    .unwrap();
    common::ibench_run(env!("CARGO_BIN_EXE_ibench"), &config)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_closed_port_stops_the_run_before_the_first_stage_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", closed_port());
    let started = Instant::now();
    let output = run(
        dir.path(),
        &url,
        "  stages: [{rate: 10, duration: 30}]\n  num_workers: 2",
    );
    let took = started.elapsed();
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("server.base_url")
            && stderr.contains(&format!("{url}/v1/completions"))
            && stderr.contains("Connection refused")
            && stderr.contains("load.fail_fast"),
        "{stderr}"
    );
    assert!(
        took < Duration::from_secs(10),
        "stopped before the 30 s stage: {took:?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("START_SUMMARY"), "{stdout}");
    assert!(
        !dir.path()
            .join("reports/summary_lifecycle_metrics.json")
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_plain_http_server_stops_the_run_with_the_tls_error() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = sim.base_url().replace("http://", "https://");
    let output = tokio::task::spawn_blocking({
        let (dir, url) = (dir.path().to_path_buf(), url.clone());
        move || {
            run(
                &dir,
                &url,
                "  stages: [{rate: 10, duration: 30}]\n  num_workers: 1",
            )
        }
    })
    .await
    .unwrap();
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&url) && stderr.contains("TLS handshake"),
        "{stderr}"
    );
    assert_eq!(sim.stats().requests_received, 0);
}

#[test]
fn without_fail_fast_an_unreachable_target_runs_its_stage_of_connection_errors_and_exits_non_zero()
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", closed_port());
    let output = run(
        dir.path(),
        &url,
        "  stages: [{rate: 10, duration: 1}]\n  num_workers: 1\n  fail_fast: false",
    );
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("every request failed (10 sent; Connection Error: 10)"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("reports/summary_lifecycle_metrics.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        summary["failures"]["by_label"]["Connection Error"]["count"], 10,
        "{summary}"
    );
    assert_eq!(summary["load_summary"]["count"], 10, "{summary}");
}

/// A proxy variable (as a corporate shell sets them) does not stop a run against loopback,
/// which no client sends through a proxy.
#[test]
fn proxy_variables_leave_loopback_targets_alone() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime.block_on(common::sim(SimConfig::default()));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  type: vllm\n  base_url: {}\nload:\n  stages: [{{rate: 10, duration: 1}}]\nstorage:\n  local_storage:\n    path: {}\n",
            sim.base_url(),
            dir.path().join("reports").display()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ibench"))
        .args(["run", "--config"])
        .arg(&config)
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", common::output_text(&output));
    assert_eq!(sim.stats().requests_received, 10);
}

/// A dataset image given by a URL that answers 404 stops `ibench run` before its first request,
/// naming the file, the row, the column and the URL; the URLs that answer pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_url_that_answers_404_stops_the_run_before_any_request() {
    let png = ibench_core::media::solid(4, 4, [0, 0, 0], ibench_core::media::Encoding::Png);
    let images = common::file_server(vec![("/cat.png", common::Served::File(png))]).await;
    let (cat, gone) = (
        format!("{}/cat.png", images.base_url),
        format!("{}/gone.png", images.base_url),
    );
    let sim = common::recording_sim(10).await;
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("arena.jsonl");
    let rows = [
        serde_json::json!({"conversation": [{"role": "user", "content": "a cat"}], "images": [{"bytes": null, "path": cat}]}),
        serde_json::json!({"conversation": [{"role": "user", "content": "a dog"}], "images": [{"bytes": null, "path": gone}]}),
    ];
    let lines: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    std::fs::write(&dataset, lines.join("\n")).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "api:\n  type: chat\ndata:\n  type: visionarena\n  path: {}\n  visionarena: {{num_rows: 10}}\nserver:\n  type: vllm\n  base_url: {}\n  model_name: m\nload:\n  stages: [{{rate: 10, duration: 30}}]\n  num_workers: 1\nstorage:\n  local_storage:\n    path: {}\n",
            dataset.display(),
            sim.base_url(),
            dir.path().join("reports").display()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        common::ibench_run(env!("CARGO_BIN_EXE_ibench"), &config)
    })
    .await
    .unwrap();
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "data.path: {} row 1: column \"images[0].path\": the image URL {gone} answers HTTP 404 Not Found",
            dataset.display()
        )) && stderr.contains("give the image's bytes instead"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(sim.stats().requests_received, 0);
    let mut asked = images.asked();
    asked.sort();
    assert_eq!(asked, ["/cat.png", "/gone.png"]);
    assert!(
        !dir.path()
            .join("reports/summary_lifecycle_metrics.json")
            .exists()
    );
}
