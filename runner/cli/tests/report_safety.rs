//! Reports that survive what can go wrong around them: a report location that cannot take them
//! is refused before the first request, and a disk that fills up mid-run costs the file that
//! hit it, not the others or the summary on stdout. The `ibench` binary against the simulator
//! over loopback.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use ibench_sim::SimConfig;
use ibench_testkit as common;

fn config(dir: &Path, base_url: &str, reports: &str, rest: &str) -> std::path::PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "server:\n  type: vllm\n  base_url: {base_url}\n{rest}\nstorage:\n  local_storage:\n    path: {reports}\n"
        ),
    )
    .unwrap();
    path
}

/// A config against `sim` with its reports in `dir/reports`; the reports' path and the config.
fn in_dir(
    dir: &Path,
    sim: &ibench_sim::SimServer,
    rest: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let reports = dir.join("reports");
    let path = config(dir, &sim.base_url(), reports.to_str().unwrap(), rest);
    (reports, path)
}

fn ibench(command: &str, config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ibench"));
    cmd.args([command, "--config"]).arg(config);
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_report_location_is_refused_before_any_request() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let through_file = file.join("reports");
    for reports in [
        "/proc/x",
        file.to_str().unwrap(),
        through_file.to_str().unwrap(),
    ] {
        let config = config(
            dir.path(),
            &sim.base_url(),
            reports,
            "load:\n  stages: [{rate: 20, duration: 1}]",
        );
        for command in ["validate", "run"] {
            let before = sim.stats().requests_received;
            let output = tokio::task::spawn_blocking({
                let config = config.clone();
                move || ibench(command, &config).output().unwrap()
            })
            .await
            .unwrap();
            let stderr = text(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{command} {reports}: {stderr}"
            );
            assert!(
                stderr.contains("storage.local_storage.path") && stderr.contains(reports),
                "{command} {reports}: {stderr}"
            );
            assert_eq!(
                sim.stats().requests_received,
                before,
                "{command} {reports}: nothing sent"
            );
        }
    }
}

/// `ibench run` whose files may grow to `max_file_bytes` at most, as on a nearly full disk:
/// writing beyond fails with EFBIG (SIGXFSZ ignored, as a full disk fails with ENOSPC).
fn run_with_file_limit(config: &Path, max_file_bytes: u64) -> Output {
    let mut cmd = ibench("run", config);
    // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit).
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: max_file_bytes,
                rlim_max: max_file_bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_full_mid_run_keeps_the_other_files_and_the_records_up_to_the_last_checkpoint() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (reports, config) = in_dir(
        dir.path(),
        &sim,
        "load:\n  stages: [{rate: 30, duration: 10}]\n  num_workers: 1\nreport: {request_lifecycle: {per_request: true}}",
    );
    // The per-request records of 300 requests are several times this (they reach it after a
    // few checkpoints); each other file is a fraction of it.
    let limit = 48 << 10;
    let output = tokio::task::spawn_blocking(move || run_with_file_limit(&config, limit))
        .await
        .unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("per_request_lifecycle_metrics.json") && stderr.contains("cannot write"),
        "{stderr}"
    );
    for marker in ["=== START_SUMMARY ===", "=== END_STAGE_0 ==="] {
        assert!(
            stdout.contains(marker),
            "missing {marker}:\n{stdout}\n{stderr}"
        );
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("summary_lifecycle_metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["load_summary"]["count"], 300, "{summary}");
    assert_eq!(summary["successes"]["count"], 300, "{summary}");
    let stage: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("stage_0_lifecycle_metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stage["load_summary"]["count"], 300);
    assert!(reports.join("config.yaml").exists());
    // The records up to the last checkpoint before the disk filled up, as valid JSON.
    let records = per_request_records(&reports);
    println!("{} of 300 records kept", records.len());
    assert!(
        (1..300).contains(&records.len()),
        "{} records",
        records.len()
    );
    let names: Vec<String> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with('.')),
        "no temporary file left: {names:?}"
    );
}

fn per_request_records(reports: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(reports.join("per_request_lifecycle_metrics.json")).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_leaves_its_records_up_to_the_last_checkpoint_as_valid_json() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (reports, config) = in_dir(
        dir.path(),
        &sim,
        "load:\n  stages: [{rate: 50, duration: 60}]\nreport: {request_lifecycle: {per_request: true}}",
    );
    let mut child = ibench("run", &config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sent = common::wait_until(std::time::Duration::from_secs(30), async || {
        sim.stats().requests_received >= 100
    })
    .await;
    // A checkpoint (every second) after those 100.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(sent, "requests arrive");
    let records = per_request_records(&reports);
    assert!(records.len() >= 100, "{} records", records.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_does_not_stop_the_run_or_its_reports() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (reports, config) = in_dir(
        dir.path(),
        &sim,
        "load:\n  stages: [{rate: 20, duration: 1}]",
    );
    // `ibench run ... | head -1`: the reader takes one line and goes away.
    let status = tokio::task::spawn_blocking(move || {
        let mut child = ibench("run", &config)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
        assert!(first.starts_with("Resolved configuration"), "{first}");
        drop(stdout);
        child.wait().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0), "not 101 (a panic on EPIPE)");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("summary_lifecycle_metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["successes"]["count"], 20);
}
