//! `ibench validate` and `ibench run` agree: over generated configs, mixing good values with
//! the bad input users write (absurd floats, missing files, bad headers, unwritable report
//! paths, impossible schedules), `validate` accepts a config exactly when `run` goes on to send
//! its requests, and neither panics. The binary against the simulator over loopback.

use std::path::Path;
use std::process::{Command, Output};

use ibench_sim::SimConfig;
use ibench_testkit as common;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// One generated config, as YAML fragments.
#[derive(Debug, Clone)]
struct Case {
    load_type: &'static str,
    rate: &'static str,
    duration: &'static str,
    extra_load: &'static str,
    data: &'static str,
    headers: &'static str,
    reports: &'static str,
}

/// Mostly good values (so that whole configs are often valid), sometimes bad ones.
fn pick(
    good: &[&'static str],
    bad: &[&'static str],
) -> impl Strategy<Value = &'static str> + use<> {
    prop_oneof![
        5 => prop::sample::select(good.to_vec()),
        1 => prop::sample::select(bad.to_vec()),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec!["constant", "poisson", "trace_replay", "concurrent"]),
        pick(&["20"], &["0", "-1", "1e12", ".nan"]),
        pick(&["1"], &["0", "1000000000000000000", "1.5", "604801"]),
        pick(
            &["", "  request_timeout: 5"],
            &[
                "  request_timeout: 1e300",
                "  request_timeout: -1",
                "  stage_teardown_grace_seconds: .inf",
                "  interval: 1e100",
                "  num_workers: 100000",
                "  worker_max_concurrency: 0",
                "  lift_limits: true\n  worker_max_concurrency: 100000000\n  worker_max_tcp_connections: 100000000",
            ],
        ),
        pick(
            &[
                "data: {type: mock}",
                "data: {type: random, input_distribution: {min: 1, max: 20, mean: 10, std_dev: 2}, output_distribution: {min: 1, max: 5, mean: 3, std_dev: 1}}",
                "data: {type: shareGPT, path: SHAREGPT}",
                "data: {type: shared_prefix, shared_prefix: {num_groups: 2, num_prompts_per_group: 2, system_prompt_len: 5, question_len: 5, output_len: 3}}",
            ],
            &[
                "data: {type: random, input_distribution: {min: 1, max: 1000000000, mean: 10, std_dev: 2}, output_distribution: {min: 1, max: 5, mean: 3, std_dev: 1}}",
                "data: {type: synthetic, corpus_file_path: MISSING, input_distribution: {min: 1, max: 20, mean: 10, std_dev: 2}, output_distribution: {min: 1, max: 5, mean: 3, std_dev: 1}}",
                "data: {type: shareGPT, path: MISSING}",
                "data: {type: shareGPT, path: CONFIG}",
                "tokenizer: {pretrained_model_name_or_path: MISSING}",
                "tokenizer: {pretrained_model_name_or_path: CONFIG}",
            ],
        ),
        pick(
            &["", "api: {headers: {x-tenant: a}}"],
            &[
                "api: {headers: {\"bad header\": a}}",
                "api: {headers: {content-length: \"5\"}}",
                "api: {headers: {x-tenant: \"a\\nb\"}}",
            ],
        ),
        pick(&["REPORTS"], &["/proc/x", "FILE", "FILE/reports"]),
    )
        .prop_map(
            |(load_type, rate, duration, extra_load, data, headers, reports)| Case {
                load_type,
                rate,
                duration,
                extra_load,
                data,
                headers,
                reports,
            },
        )
}

fn write(dir: &Path, base_url: &str, case: &Case) -> std::path::PathBuf {
    let trace = dir.join("trace.csv");
    std::fs::write(&trace, "TIMESTAMP,ContextTokens,GeneratedTokens\n2024-01-01 00:00:00.0,5,2\n2024-01-01 00:00:00.5,5,2\n").unwrap();
    let share_gpt = dir.join("sharegpt.json");
    std::fs::write(
        &share_gpt,
        r#"[{"conversations": [{"from": "human", "value": "hello there"}, {"from": "gpt", "value": "hi"}]}]"#,
    )
    .unwrap();
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let config = dir.join("config.yaml");
    let stage = if case.load_type == "concurrent" {
        format!("{{num_requests: {}, concurrency_level: 1}}", case.duration)
    } else {
        format!("{{rate: {}, duration: {}}}", case.rate, case.duration)
    };
    let trace_line = if case.load_type == "trace_replay" {
        "  trace: {file: TRACE}\n"
    } else {
        ""
    };
    let path = |p: &Path| p.display().to_string();
    let text = format!(
        "server:\n  type: vllm\n  base_url: {base_url}\nload:\n  type: {}\n  stages: [{stage}]\n  num_workers: 1\n{trace_line}{}\n{}\n{}\nstorage:\n  local_storage:\n    path: {}\n",
        case.load_type, case.extra_load, case.data, case.headers, case.reports,
    )
    .replace("MISSING", &path(&dir.join("missing")))
    .replace("TRACE", &path(&trace))
    .replace("SHAREGPT", &path(&share_gpt))
    .replace("CONFIG", &path(&config))
    .replace("REPORTS", &path(&dir.join("reports")))
    .replace("FILE", &path(&file));
    std::fs::write(&config, text).unwrap();
    config
}

fn ibench(command: &str, config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ibench"))
        .args([command, "--config"])
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn validate_accepts_exactly_the_configs_that_run_sends() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime.block_on(common::sim(SimConfig::default()));
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let (accepted, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner
        .run(&case(), |case| {
            let dir = tempfile::tempdir().unwrap();
            let config = write(dir.path(), &sim.base_url(), &case);
            let validate = ibench("validate", &config);
            let before = sim.stats().requests_received;
            let run = ibench("run", &config);
            let sent = sim.stats().requests_received > before;
            let (validate_err, run_err) = (
                String::from_utf8_lossy(&validate.stderr).into_owned(),
                String::from_utf8_lossy(&run.stderr).into_owned(),
            );
            for (command, output, stderr) in [
                ("validate", &validate, &validate_err),
                ("run", &run, &run_err),
            ] {
                prop_assert!(
                    output.status.code().is_some_and(|c| c <= 1) && !stderr.contains("panicked"),
                    "{} exited {:?}: {}",
                    command,
                    output.status,
                    stderr
                );
            }
            prop_assert_eq!(
                validate.status.success(),
                sent,
                "validate: {}\nrun: {}",
                validate_err,
                run_err
            );
            if sent {
                accepted.set(accepted.get() + 1);
            } else {
                // What refused the config is said, naming a field or file.
                prop_assert!(!validate_err.trim().is_empty());
                refused.set(refused.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    let (accepted, refused) = (accepted.get(), refused.get());
    println!("{accepted} configs accepted and sent, {refused} refused by both");
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}
