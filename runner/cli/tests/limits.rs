//! Absurd input is refused with the field and the fix by `validate` and `run` alike, before
//! anything is sent and never with a panic; a run that needs more file descriptors than the
//! process may open is refused with the number and the limit. The binary against the simulator
//! over loopback.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use ibench_sim::SimConfig;
use ibench_testkit as common;

fn write_config(dir: &Path, base_url: &str) -> std::path::PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "server:\n  type: vllm\n  base_url: {base_url}\nload:\n  stages: [{{rate: 5, duration: 1}}]\n  num_workers: 1\nstorage:\n  local_storage:\n    path: {}\n",
            dir.join("reports").display()
        ),
    )
    .unwrap();
    path
}

fn ibench(command: &str, config: &Path, set: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ibench"));
    cmd.args([command, "--config"]).arg(config);
    for s in set {
        cmd.args(["--set", s]);
    }
    cmd
}

/// The child's `RLIMIT_NOFILE`: soft and hard.
fn limit_files(cmd: &mut Command, soft: u64, hard: u64) {
    // SAFETY: only setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn check_refused(output: &Output, what: &str, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    for text in expected {
        assert!(
            stderr.contains(text),
            "{what}: expected {text:?} in {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_values_are_refused_by_validate_and_run_with_the_field() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url());
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["load.request_timeout=1e300"],
            &["load.request_timeout: 1e300 seconds is more than a year"],
        ),
        (
            &["load.stages[0].rate=1e12"],
            &[
                "load.stages[0].rate: 1e12 is beyond the limit",
                "load.lift_limits: true",
            ],
        ),
        (
            &["load.stages[0].duration=1000000000000000000"],
            &["load.stages[0].duration: 1e18 seconds is more than a year"],
        ),
        (
            &[
                "data={type: random, input_distribution: {min: 1, max: 1000000000, mean: 1000000000, std_dev: 0}, output_distribution: {min: 1, max: 1, mean: 1, std_dev: 0}}",
            ],
            &["data.input_distribution.max: 1000000000 tokens is beyond"],
        ),
        (
            &["load.num_workers=10000"],
            &["load.num_workers: 10000 is beyond the limit of 1024"],
        ),
    ];
    for (set, expected) in cases {
        for command in ["validate", "run"] {
            let before = sim.stats().requests_received;
            let output = ibench(command, &config, set).output().unwrap();
            check_refused(&output, &format!("{command} {set:?}"), expected);
            assert_eq!(sim.stats().requests_received, before);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_needing_more_file_descriptors_than_allowed_is_refused_with_both_numbers() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sim.base_url());
    // 8 workers × (100 connections + 3) + 64 = 888 descriptors against a limit of 256.
    let set = ["load.num_workers=8", "load.worker_max_concurrency=100"];
    for command in ["validate", "run"] {
        let mut cmd = ibench(command, &config, &set);
        limit_files(&mut cmd, 256, 256);
        let before = sim.stats().requests_received;
        let output = cmd.output().unwrap();
        check_refused(
            &output,
            command,
            &[
                "needs 888 file descriptors (8 workers × (100 connections + 3) + 64)",
                "may open 256 (RLIMIT_NOFILE",
            ],
        );
        assert_eq!(sim.stats().requests_received, before);
    }
    // Within the hard limit, a low soft limit is raised for the run.
    let mut cmd = ibench("run", &config, &["load.num_workers=2"]);
    limit_files(&mut cmd, 100, 4096);
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("reports/summary_lifecycle_metrics.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["successes"]["count"], 5);
}
