//! The `ibench run` and `ibench validate` commands: files, stdout markers and exit codes. Real
//! HTTP over loopback to the simulator.

use std::io::Write;
use std::process::Command;

use ibench_sim::SimConfig;
use ibench_testkit as common;

const SERVER: &str = "server:\n  type: vllm\n  base_url: http://127.0.0.1:8000\n";

fn with_server(rest: &str) -> String {
    format!("{SERVER}{rest}")
}

fn write_config(dir: &std::path::Path, base_url: &str, load: &str) -> std::path::PathBuf {
    let path = dir.join("config.yaml");
    let reports = dir.join("reports");
    std::fs::write(
        &path,
        format!("server:\n  type: vllm\n  base_url: {base_url}\nload:\n{load}\nstorage:\n  local_storage:\n    path: {}\n", reports.display()),
    )
    .unwrap();
    path
}

/// `ibench <command> --config <config>`.
fn ibench(command: &str, config: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ibench"))
        .args([command, "--config"])
        .arg(config)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_command_writes_inference_perf_files_and_stdout_markers() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &sim.base_url(),
        "  stages:\n  - rate: 50\n    duration: 2\n  - rate: 100\n    duration: 1\n  interval: 0.2\n  base_seed: 3",
    );
    let output = common::ibench_run(env!("CARGO_BIN_EXE_ibench"), &config);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for marker in [
        "=== START_SUMMARY ===",
        "=== END_SUMMARY ===",
        "=== START_STAGE_0 ===",
        "=== END_STAGE_1 ===",
    ] {
        assert!(stdout.contains(marker), "missing {marker}");
    }
    assert!(
        stdout.contains("num_workers:") && stdout.contains("base_seed: 3"),
        "resolved config is printed"
    );
    let reports = dir.path().join("reports");
    for file in [
        "summary_lifecycle_metrics.json",
        "stage_0_lifecycle_metrics.json",
        "stage_1_lifecycle_metrics.json",
        "config.yaml",
    ] {
        assert!(reports.join(file).exists(), "missing {file}");
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("summary_lifecycle_metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        summary["load_summary"]["count"].as_u64(),
        Some(sim.stats().requests_received)
    );
    assert_eq!(summary["load_summary"]["count"], 200);
}

#[test]
fn validate_command_exits_zero_or_one_and_lists_problems() {
    let write = |text: &str| {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    };
    let good = write(&with_server(
        "load:\n  stages:\n  - rate: 1\n    duration: 1\n",
    ));
    let bad = write("load:\n  stages:\n  - rat: 1\n    duration: 0\n");
    let ibench = env!("CARGO_BIN_EXE_ibench");
    let ok = Command::new(ibench)
        .args(["validate", "--config"])
        .arg(good.path())
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let failed = Command::new(ibench)
        .args(["validate", "--config"])
        .arg(bad.path())
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("load.stages[0].rat: unknown field, did you mean rate?"),
        "{stderr}"
    );
}

#[test]
fn a_report_directory_whose_config_copy_is_the_config_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let text = with_server(
        "load:\n  stages: [{rate: 1, duration: 1}]\nstorage:\n  local_storage:\n    path: .\n",
    );
    std::fs::write(&config, &text).unwrap();
    for command in ["validate", "run"] {
        let output = Command::new(env!("CARGO_BIN_EXE_ibench"))
            .current_dir(dir.path())
            .args([command, "--config", "config.yaml"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("storage.local_storage.path") && stderr.contains("would overwrite"),
            "{command}: {stderr}"
        );
        assert_eq!(std::fs::read_to_string(&config).unwrap(), text, "{command}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_base_seed_is_printed_as_given_and_valid_again() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &sim.base_url(),
        "  stages:\n  - rate: 5\n    duration: 1\n  base_seed: -1",
    );
    let output = common::ibench_run(env!("CARGO_BIN_EXE_ibench"), &config);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("(base_seed -1)"), "{stdout}");
    assert!(!stdout.contains("18446744073709551615"), "{stdout}");
    // The written config runs again as it is, apart from where its reports go.
    let copy = dir.path().join("reports/config.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_ibench"))
        .args(["validate", "--config"])
        .arg(&copy)
        .args(["--set", "storage.local_storage.path=elsewhere"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// With token counts from `data.trace`, every trace row is replayed whatever the stage's
/// duration says (inference-perf's rule): `validate` and `run` say so rather than stay silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_duration_that_a_trace_overrides_is_pointed_out() {
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let trace = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/traces/conversation-sample.csv"
    );
    let config = write_config(
        dir.path(),
        &sim.base_url(),
        &format!(
            "  type: trace_replay\n  trace:\n    file: {trace}\n  stages:\n  - rate: 1\n    duration: 1\ndata:\n  type: random\n  trace:\n    file: {trace}"
        ),
    );
    let rows = std::fs::read_to_string(trace).unwrap().lines().count() - 1;
    for command in ["validate", "run"] {
        let output = ibench(command, &config);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{command}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "note: load.stages[0]: every row of data.trace ({rows}) is sent at its offset, over "
            )) && stderr.contains("the stage's duration (1 s) does not bound it"),
            "{command}: {stderr}"
        );
    }
}

/// A damaged Mooncake trace is refused before anything is sent, by `validate` and `run` alike,
/// naming the file, the line and the field: a line without `timestamp`, and a timestamp earlier
/// than the line before (a trace is recorded in time order; sorting would hide the damage).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_mooncake_trace_is_refused_naming_file_line_and_field() {
    let sim = common::sim(SimConfig::default()).await;
    let line = |t: &str| {
        format!("{{{t}\"input_length\": 600, \"output_length\": 5, \"hash_ids\": [1, 2]}}\n")
    };
    for (damaged, reason) in [
        (
            line(""),
            "missing field `timestamp` (milliseconds from the trace's start)",
        ),
        (
            line("\"timestamp\": 10, "),
            "timestamp 10 is earlier than the line before (20): lines must be in time order",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("day.jsonl");
        let text = format!(
            "{}\n{}{damaged}",
            line("\"timestamp\": 0, "),
            line("\"timestamp\": 20, ")
        );
        std::fs::write(&trace, text).unwrap();
        let config = write_config(
            dir.path(),
            &sim.base_url(),
            &format!(
                "  type: trace_replay\n  trace: {{file: {t}, format: Mooncake}}\n  stages:\n  - rate: 1\n    duration: 1\ndata:\n  type: random\n  trace: {{file: {t}, format: Mooncake}}",
                t = trace.display()
            ),
        );
        for command in ["validate", "run"] {
            let output = ibench(command, &config);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
            let expected = format!("trace {}, line 4: {reason}", trace.display());
            assert!(
                stderr.contains(&expected),
                "{command}: expected {expected:?} in {stderr}"
            );
        }
    }
    assert_eq!(sim.stats().requests_received, 0, "nothing is sent");
}
