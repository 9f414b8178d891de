//! `report.slo`: the same objectives pass against a fast simulator and fail against a slow one,
//! with `slo_verdict.json` saying which check failed and `ibench run` exiting 0 or 3.

use std::path::Path;
use std::process::{Command, Output};

use ibench_testkit as common;
use serde_json::Value;

/// Time to first token p99 under 0.1 s, fewer than 1 % failures, the asked rate kept.
const SLO: &str = "  slo:\n    thresholds:\n    - {metric: time_to_first_token, stat: p99, max: 0.1}\n    - {metric: failure_ratio, max: 0.01}\n    - {metric: achieved_rate_ratio, min: 0.9}\n";

fn run(dir: &Path, base_url: &str, report: &str) -> (Output, Option<Value>) {
    run_with(dir, base_url, "", report)
}

/// As [`run`], with more `api` settings (indented lines).
fn run_with(dir: &Path, base_url: &str, api: &str, report: &str) -> (Output, Option<Value>) {
    let config = dir.join("config.yaml");
    let reports = dir.join("reports");
    std::fs::write(
        &config,
        format!(
            "server:\n  type: vllm\n  base_url: {base_url}\napi:\n  streaming: true\n{api}load:\n  stages:\n  - rate: 20\n    duration: 2\nreport:\n{report}storage:\n  local_storage:\n    path: {}\n",
            reports.display()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ibench"))
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let verdict = std::fs::read(reports.join("slo_verdict.json"))
        .ok()
        .map(|bytes| serde_json::from_slice(&bytes).unwrap());
    (output, verdict)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objectives_pass_on_a_fast_server_and_fail_with_exit_code_3_on_a_slow_one() {
    let fast = common::sim_with_latency(5.0, 1.0).await;
    let slow = common::sim_with_latency(300.0, 1.0).await;

    let dir = tempfile::tempdir().unwrap();
    let (output, verdict) = run(dir.path(), &fast.base_url(), SLO);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        common::output_text(&output)
    );
    let verdict = verdict.expect("slo_verdict.json");
    assert_eq!(verdict["passed"], true, "{verdict:#}");
    // Three checks on the stage, two on the run (a run has no asked rate of its own).
    assert_eq!(
        verdict["checks"].as_array().unwrap().len(),
        5,
        "{verdict:#}"
    );
    assert!(
        common::output_text(&output).contains("SLO met: 5 checks passed"),
        "{}",
        common::output_text(&output)
    );

    let dir = tempfile::tempdir().unwrap();
    let (output, verdict) = run(dir.path(), &slow.base_url(), SLO);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        common::output_text(&output)
    );
    let verdict = verdict.expect("slo_verdict.json");
    assert_eq!(verdict["passed"], false);
    let failed: Vec<&str> = verdict["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 2, "stage and run TTFT only: {verdict:#}");
    for (failure, scope) in failed.iter().zip(["stage_0", "run"]) {
        assert!(
            failure.starts_with(&format!("{scope}: time_to_first_token p99 = 0.3"))
                && failure.ends_with("> max 0.1"),
            "{failure}"
        );
    }
    let ttft = verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["scope"] == "stage_0" && c["metric"] == "time_to_first_token")
        .unwrap();
    assert!(ttft["value"].as_f64().unwrap() >= 0.3, "{ttft:#}");
    let said = common::output_text(&output);
    assert!(
        said.contains("SLO missed:") && said.contains(failed[0]),
        "{said}"
    );
}

#[test]
fn objectives_that_cannot_be_checked_are_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let (output, verdict) = run(
        dir.path(),
        "http://127.0.0.1:9",
        "  slo:\n    thresholds:\n    - {metric: request_latency, max: 1}\n    - {metric: failure_ratio, stat: p99, max: 0.1}\n    - {metric: inter_token_latency, stat: p101, max: 0.1}\n    - {metric: goodput_ratio, min: 0.9}\n    - {metric: time_to_first_token, stat: mean}\n",
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        common::output_text(&output)
    );
    assert!(verdict.is_none());
    let said = common::output_text(&output);
    for expected in [
        "report.slo.thresholds[0].stat: required for a distribution",
        "report.slo.thresholds[1].stat: only for a latency distribution",
        "report.slo.thresholds[2].stat: \"p101\" is not mean, median or p<percentile>",
        "report.slo.thresholds[3].metric: goodput_ratio needs report.goodput.constraints",
        "report.slo.thresholds[4]: set max, min or both",
    ] {
        assert!(said.contains(expected), "{expected}\n{said}");
    }
}

/// inference-perf's per-request SLO headers: the TTFT objective sent in `x-slo-ttft-ms`
/// overrides report.goodput's, for the goodput report and for the verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_headers_override_the_goodput_constraints_and_decide_the_verdict() {
    let sim = common::sim_with_latency(30.0, 1.0).await;
    // 10 ms is out of reach of a 30 ms server; 100 ms is not.
    let report = "  goodput:\n    constraints:\n      ttft: 0.01\n  slo:\n    thresholds:\n    - {metric: goodput_ratio, min: 0.95}\n";

    let dir = tempfile::tempdir().unwrap();
    let (output, verdict) = run_with(
        dir.path(),
        &sim.base_url(),
        "  headers:\n    x-slo-ttft-ms: '100'\n",
        report,
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        common::output_text(&output)
    );
    assert_eq!(verdict.unwrap()["passed"], true);
    let stage: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("reports/stage_0_lifecycle_metrics.json")).unwrap(),
    )
    .unwrap();
    let goodput = &stage["successes"]["goodput_metrics"];
    assert_eq!(
        goodput["goodput_percentage"].as_f64(),
        Some(100.0),
        "{goodput:#}"
    );
    assert_eq!(
        goodput["ttft_attainment_percentage"].as_f64(),
        Some(100.0),
        "{goodput:#}"
    );

    let dir = tempfile::tempdir().unwrap();
    let (output, verdict) = run(dir.path(), &sim.base_url(), report);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        common::output_text(&output)
    );
    assert_eq!(verdict.unwrap()["passed"], false);
}
