//! `report.slo`: the same objectives pass against a fast simulator and fail against a slow one,
//! with `slo_verdict.json` saying which check failed and `ibench run` exiting 0 or 3.

use std::path::Path;
use std::process::Output;

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
    let output = common::ibench_run(env!("CARGO_BIN_EXE_ibench"), &config);
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

/// `load.slo_search` against a simulator of known capacity. With `--max-num-seqs 8`, a time to
/// first token of 20 ms and 9 more tokens 10 ms apart (no jitter, exactly 10 output tokens), a
/// request holds a slot for S = 0.11 s: the capacity is C = 8 / S ≈ 72.7 req/s. Constant
/// arrivals below C never queue (deterministic arrivals and service), so the TTFT stays 20 ms;
/// above C the backlog grows at λ − C, and a request sent t seconds into the stage waits
/// t (λ/C − 1). Over a stage of T = 4 s the TTFT p99 is 0.02 + 0.99 T (λ/C − 1), which stays
/// under 0.1 s up to λ* = C (1 + 0.08 / (0.99 T)) ≈ 74.2 req/s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slo_search_finds_the_capacity_of_a_simulated_server_within_8_probes() {
    let sim = common::sim(ibench_sim::SimConfig {
        latency: ibench_sim::LatencyConfig {
            ttft_ms: 20.0,
            itl_ms: 10.0,
            ..Default::default()
        },
        max_num_seqs: Some(8),
        ..Default::default()
    })
    .await;
    let capacity = 8.0 / (0.02 + 9.0 * 0.01);
    let expected = capacity * (1.0 + 0.08 / (0.99 * 4.0));

    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  type: vllm\n  base_url: {}\n  ignore_eos: true\napi:\n  streaming: true\ndata:\n  type: random\n  input_distribution: {{min: 10, max: 10, mean: 10, std_dev: 0}}\n  output_distribution: {{min: 10, max: 10, mean: 10, std_dev: 0}}\nload:\n  interval: 0\n  num_workers: 2\n  worker_realtime_priority: true\n  slo_search: {{min_rate: 50, max_rate: 200, stage_duration: 4, max_probes: 8, tolerance: 0.02}}\nreport:\n  slo:\n    thresholds:\n    - {{metric: time_to_first_token, stat: p99, max: 0.1}}\nstorage:\n  local_storage:\n    path: {}\n",
            sim.base_url(),
            reports.display()
        ),
    )
    .unwrap();
    let output = common::ibench_run(env!("CARGO_BIN_EXE_ibench"), &config);
    let said = common::output_text(&output);
    assert_eq!(output.status.code(), Some(0), "{said}");
    let search: Value =
        serde_json::from_slice(&std::fs::read(reports.join("slo_max_rate.json")).unwrap()).unwrap();
    let found = search["max_rate"].as_f64().expect("a rate met the SLO");
    let probes = search["probes"].as_array().unwrap();
    assert!(probes.len() <= 8, "{search:#}");
    assert!(
        (found - expected).abs() / expected <= 0.10,
        "found {found:.1} req/s, the model's highest is {expected:.1} (capacity {capacity:.1}): {search:#}"
    );
    // The evidence: each probe is a stage of the reports, judged as the verdict judges.
    for probe in probes {
        let id = probe["stage_id"].as_u64().unwrap();
        let stage: Value = serde_json::from_slice(
            &std::fs::read(reports.join(format!("stage_{id}_lifecycle_metrics.json"))).unwrap(),
        )
        .unwrap();
        let p99 = stage["successes"]["latency"]["time_to_first_token"]["p99"]
            .as_f64()
            .unwrap();
        assert_eq!(
            probe["passed"].as_bool(),
            Some(p99 <= 0.1),
            "{probe:#} p99 {p99}"
        );
    }
    assert!(!reports.join("slo_verdict.json").exists());
    assert!(said.contains("SLO search: "), "{said}");
}
