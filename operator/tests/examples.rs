//! The examples under configs/: every runner config passes `ibench validate` and runs (briefly)
//! against the simulator with the real `ibench` binary; every manifest under configs/kubernetes/
//! passes a server-side dry-run create on the real API server with the CRD installed, and each
//! InferenceBenchmark there is accepted by the operator and describes the same benchmark as
//! the runner config of the same name.

mod common;
mod manifests;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ibench_core::config::{Config, LoadType};
use ibench_operator::crd::InferenceBenchmark;
use manifests::{api_for, apply, documents};
use serde_json::Value;

/// `configs/*.yaml` (runner configs) or `configs/kubernetes/*.yaml` (manifests), sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

fn runner_configs() -> Vec<PathBuf> {
    yaml_files(&repo().join("configs"))
}

fn manifests() -> Vec<PathBuf> {
    yaml_files(&repo().join("configs/kubernetes"))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .expect("file name")
        .to_string()
}

fn load_config(path: &Path) -> Config {
    ibench_core::config::load_file(path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `--set` overrides that shorten a config to a few seconds without changing its kind: rate
/// stages last 1 s, closed-loop stages send twice their concurrency, no pause between stages.
/// A trace replay keeps its timing (the example trace lasts 6 s).
fn shortened(config: &Config) -> Vec<String> {
    let mut overrides = vec!["load.interval=0".to_string()];
    for (i, stage) in config.load.stages.iter().enumerate() {
        match config.load.load_type {
            LoadType::Constant | LoadType::Poisson => {
                overrides.push(format!("load.stages[{i}].duration=1"))
            }
            LoadType::Concurrent => {
                let level = stage.concurrency_level.expect("validated");
                let requests = stage.num_requests.expect("validated").min(2 * level);
                overrides.push(format!("load.stages[{i}].num_requests={requests}"));
            }
            // Trace and session replays keep their timing (the example sessions last 1.5 s).
            LoadType::TraceReplay | LoadType::TraceSessionReplay => {}
        }
    }
    overrides
}

fn ibench(args: &[&str], overrides: &[String]) -> std::process::Output {
    let mut command = Command::new(ibench_binary());
    command.args(args).current_dir(repo());
    for value in overrides {
        command.args(["--set", value]);
    }
    command.output().expect("running ibench")
}

fn report_file(dir: &Path, suffix: &str) -> Value {
    let found = walk(dir)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(suffix));
    let path =
        found.unwrap_or_else(|| panic!("no *{suffix} under {}: {:?}", dir.display(), walk(dir)));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("report file"))
        .expect("report JSON")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_runner_config_passes_ibench_validate() {
    let configs = runner_configs();
    let names: BTreeSet<String> = configs.iter().map(|p| stem(p)).collect();
    for expected in [
        "quickstart",
        "poisson-stages",
        "concurrent",
        "trace-replay",
        "multi-lora",
    ] {
        assert!(
            names.contains(expected),
            "configs/{expected}.yaml missing: {names:?}"
        );
    }
    for path in &configs {
        let output = ibench(
            &["validate", "--config", path.to_str().expect("UTF-8")],
            &[],
        );
        assert!(
            output.status.success(),
            "ibench validate {}:\n{}{}",
            path.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // The check is real: a broken copy of a config fails it.
    let output = ibench(
        &["validate", "--config", "configs/quickstart.yaml"],
        &["load.stages[0].rat=5".into()],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success() && text.contains("load.stages[0].rat"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runner_config_runs_against_the_simulator() {
    let mut runs = Vec::new();
    for path in runner_configs() {
        runs.push(tokio::spawn(async move {
            let config = load_config(&path);
            let adapters: Vec<String> = config
                .load
                .lora_traffic_split
                .iter()
                .flatten()
                .map(|s| s.name.clone())
                .collect();
            let adapter_names: Vec<&str> = adapters.iter().map(String::as_str).collect();
            let sim = simulator("example-model", &adapter_names).await;
            let reports = tempfile::tempdir().expect("report directory");
            let mut overrides = shortened(&config);
            overrides.push(format!("server.base_url={}", sim.base_url()));
            overrides.push(format!(
                "storage.local_storage.path={}",
                reports.path().display()
            ));
            let config_arg = path.to_str().expect("UTF-8").to_string();
            let output = tokio::task::spawn_blocking(move || {
                ibench(&["run", "--config", &config_arg], &overrides)
            })
            .await
            .expect("ibench run");
            let log = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                output.status.success(),
                "ibench run {}:\n{log}",
                path.display()
            );

            let summary = report_file(reports.path(), "summary_lifecycle_metrics.json");
            let validation = report_file(reports.path(), "validation.json");
            let errors = ibench_testkit::validation_errors(&validation);
            assert!(
                errors.is_empty(),
                "{}: the reports do not check out: {errors:?}",
                path.display()
            );
            let received = sim.stats().requests_received;
            let count = summary["load_summary"]["count"].as_u64();
            assert!(
                received > 0,
                "{}: the simulator received nothing\n{log}",
                path.display()
            );
            assert_eq!(
                count,
                Some(received),
                "{}: every request sent is reported\n{summary:#}",
                path.display()
            );
            assert_eq!(
                summary["successes"]["count"].as_u64(),
                Some(received),
                "{}: all succeeded\n{summary:#}",
                path.display()
            );
            for adapter in &adapters {
                let file = report_file(
                    reports.path(),
                    &format!("adapter_{adapter}_lifecycle_metrics.json"),
                );
                let sent = sim.stats().requests_by_model.get(adapter).copied();
                assert_eq!(
                    file["load_summary"]["count"].as_u64(),
                    sent,
                    "{}: adapter {adapter}",
                    path.display()
                );
            }
            sim.shutdown().await;
            stem(&path)
        }));
    }
    let mut ran = Vec::new();
    for run in runs {
        ran.push(
            run.await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())),
        );
    }
    assert_eq!(ran.len(), runner_configs().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_manifest_passes_a_server_side_dry_run_and_matches_its_runner_config() {
    let cp = cluster().await;
    let ns = cp.namespace("examples").await.expect("namespace");
    let client = cp.client();
    let mut benchmarks = BTreeSet::new();
    for path in manifests() {
        let objects = documents(&std::fs::read_to_string(&path).expect("manifest"));
        assert!(!objects.is_empty(), "{} is empty", path.display());
        for object in objects {
            let name = object["metadata"]["name"]
                .as_str()
                .expect("named")
                .to_string();
            apply(&client, &object, &ns, true)
                .await
                .unwrap_or_else(|e| {
                    panic!("{}: {name} refused by the API server: {e}", path.display())
                });
            // Dry run: nothing was stored.
            let api = api_for(&client, &object, &ns).await;
            assert!(
                api.get_opt(&name).await.expect("get").is_none(),
                "{name} was created by a dry run"
            );

            if object["kind"] == ibench_operator::crd::KIND {
                check_benchmark(&path, object);
                benchmarks.insert(stem(&path));
            }
        }
    }
    // Every runner config has its resource, and every resource its config.
    let expected: BTreeSet<String> = runner_configs().iter().map(|p| stem(p)).collect();
    assert_eq!(
        benchmarks, expected,
        "configs/kubernetes/<name>.yaml for each configs/<name>.yaml"
    );
}

/// The operator accepts the benchmark, and the runner config it would give its runners is the
/// runner config of the same name, but for where the server is, where reports go and where
/// the input files are (a pod mounts them elsewhere).
fn check_benchmark(path: &Path, object: Value) {
    let mut ib: InferenceBenchmark =
        serde_json::from_value(object).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ib.metadata.namespace = Some("examples".into());
    ib.metadata.uid = Some("00000000-0000-0000-0000-000000000001".into());
    ib.metadata.generation = Some(1);
    let run = ibench_operator::validate::run_spec(&ib, &ibench_operator::Settings::default())
        .unwrap_or_else(|issues| {
            panic!(
                "{}: the operator refuses it: {}",
                path.display(),
                ibench_operator::validate::describe(&issues)
            )
        });
    let from_operator: Config =
        ibench_core::config::from_document(serde_yaml::from_str(&run.config_yaml).expect("YAML"))
            .expect("the runner accepts it");

    let runner_path = path
        .parent()
        .and_then(Path::parent)
        .expect("configs/")
        .join(format!("{}.yaml", stem(path)));
    let from_file = load_config(&runner_path);
    let comparable = |config: &Config, seed: Option<i64>| {
        let mut config = config.clone();
        config.storage = Default::default();
        for (_, file) in ibench_core::config::input_files_mut(&mut config) {
            file.clear();
        }
        config.load.base_seed = seed;
        let server = config.server.as_mut().expect("server");
        server.base_url.clear();
        server.model_name = None;
        server.api_key = None;
        serde_json::to_value(config).expect("JSON")
    };
    // The operator fixes a seed when the spec has none; compare what the spec says.
    let seed = from_file.load.base_seed;
    assert_eq!(
        comparable(&from_operator, seed),
        comparable(&from_file, seed),
        "{} and {} describe different benchmarks",
        path.display(),
        runner_path.display()
    );
}
