//! Harness of the operator's integration tests: the shared real control plane with the CRD
//! installed, the `ibench` runner binary mapped as the runner image, the operator binary run as
//! a child process per test (so it can be killed and restarted), and the simulator on loopback.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ibench_operator::crd::{self, InferenceBenchmark};
use ibench_sim::{LatencyConfig, LoraConfig, SimConfig, SimServer};
use ibench_testcluster::ControlPlane;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::Value;
use tokio::sync::OnceCell;

/// The image benchmarks run with; the process kubelet maps it to the `ibench` binary.
pub const RUNNER_IMAGE: &str = "ghcr.io/inference-bench/ibench";

/// The control plane with the CRD installed and the runner image mapped.
pub async fn cluster() -> &'static ControlPlane {
    static READY: OnceCell<()> = OnceCell::const_new();
    ibench_testcluster::init_test_logging();
    let cp = ibench_testcluster::shared().await;
    READY
        .get_or_init(|| async {
            cp.map_image(RUNNER_IMAGE, ibench_binary());
            install_crd(&cp.client()).await;
        })
        .await;
    cp
}

/// Applies the committed CRD file (what users apply) and waits until it is served.
async fn install_crd(client: &Client) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crds/inferencebenchmarks.inferencebench.dev.yaml"
    );
    let text = std::fs::read_to_string(path).expect("the committed CRD");
    let crd: CustomResourceDefinition = serde_yaml::from_str(&text).expect("the CRD parses");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.metadata.name.clone().expect("named");
    api.patch(
        &name,
        &PatchParams::apply("ibench-operator-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("the apiserver refuses the CRD: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let current = api.get(&name).await.expect("reading the CRD");
        let established = current
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "CRD not established: {:?}",
            current.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Discovery can lag behind Established by a moment.
    let benchmarks: Api<InferenceBenchmark> = Api::all(client.clone());
    while benchmarks
        .list(&ListParams::default().limit(1))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "InferenceBenchmarks are not served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `ibench` binary of this build. Cargo only gives tests the binaries of their own package,
/// so this asks cargo for the workspace's test build (`cargo test --workspace --no-run`, in the
/// profile and target directory of this test): under `tests/run.sh` that build has just been
/// made, so nothing compiles again (`cargo build` would resolve other features and profile
/// settings and compile the whole dependency tree a second time). Once per test binary.
///
/// The variables cargo sets for a test process (this package's name, manifest, …) are removed:
/// build scripts that read them, like ring's, would otherwise run again for this cargo and
/// everything above them would be compiled again, here and in the next outer build.
pub fn ibench_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("target/<profile>/deps/<test>");
            let target_dir = profile_dir.parent().expect("target directory");
            let profile: &[&str] = match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") | None => &[],
                Some("release") => &["--release"],
                Some(other) => &["--profile", other],
            };
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut command = Command::new(cargo);
            for (name, _) in std::env::vars_os() {
                if name.to_str().is_some_and(set_by_cargo_for_tests) {
                    command.env_remove(&name);
                }
            }
            let output = command
                .args([
                    "test",
                    "--workspace",
                    "--no-run",
                    "--message-format=json-render-diagnostics",
                ])
                .args(profile)
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .stderr(Stdio::inherit())
                .output()
                .expect("running cargo for the ibench binary");
            assert!(
                output.status.success(),
                "building the workspace's tests failed"
            );
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|m| {
                    m["reason"] == "compiler-artifact"
                        && m["target"]["name"] == "ibench"
                        && m["target"]["kind"] == serde_json::json!(["bin"])
                        && m["profile"]["test"] == false
                })
                .and_then(|m| m["executable"].as_str().map(PathBuf::from))
                .expect("cargo built the ibench binary")
        })
        .clone()
}

fn set_by_cargo_for_tests(name: &str) -> bool {
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_", "CARGO_CFG_"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || matches!(
            name,
            "CARGO"
                | "CARGO_CRATE_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// `ibench-operator run` as a child process watching one namespace.
pub struct Operator {
    child: Option<Child>,
    namespace: String,
    kubeconfig: PathBuf,
    log: PathBuf,
    pub metrics_address: String,
    extra: Vec<String>,
}

impl Operator {
    pub fn start(cp: &ControlPlane, namespace: &str) -> Operator {
        Self::start_with(cp, namespace, &[])
    }

    pub fn start_with(cp: &ControlPlane, namespace: &str, extra: &[&str]) -> Operator {
        Self::start_as(cp, cp.kubeconfig_path(), namespace, extra)
    }

    /// Under the identity of `kubeconfig`.
    pub fn start_as(
        cp: &ControlPlane,
        kubeconfig: &Path,
        namespace: &str,
        extra: &[&str],
    ) -> Operator {
        let log = cp.dir().join(format!("operator-{namespace}.log"));
        let mut operator = Operator {
            child: None,
            namespace: namespace.into(),
            kubeconfig: kubeconfig.to_path_buf(),
            log,
            metrics_address: String::new(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        operator.spawn();
        operator
    }

    fn spawn(&mut self) {
        let port = free_port();
        self.metrics_address = format!("127.0.0.1:{port}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("operator log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ibench-operator"))
            .args(["run", "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args([
                "--namespace",
                &self.namespace,
                "--runner-image",
                &format!("{RUNNER_IMAGE}:test"),
            ])
            .args([
                "--metrics-address",
                &self.metrics_address,
                "--log-format",
                "json",
            ])
            // Short intervals keep tests fast; a test that gives one of these flags sets its own.
            .args(
                [
                    ("--runner-progress-seconds", "1"),
                    ("--status-interval-seconds", "1"),
                    ("--start-lead-seconds", "1"),
                ]
                .into_iter()
                .filter(|(flag, _)| !self.extra.iter().any(|a| a == flag))
                .flat_map(|(flag, value)| [flag, value]),
            )
            .args(&self.extra)
            .env("RUST_LOG", "info,ibench_operator=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("starting ibench-operator");
        self.child = Some(child);
    }

    /// SIGKILL: no graceful shutdown, like a crashed or evicted operator.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        self.memory_kib("VmRSS:")
    }

    /// Peak resident set size in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.memory_kib("VmHWM:")
    }

    fn memory_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// CPU time used so far (user + system), seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()?)).ok()?;
        // Fields after the command, which is in parentheses and may hold spaces; utime and
        // stime are the 14th and 15th fields, in USER_HZ ticks (100 a second on Linux).
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
        Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
    }

    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub async fn http_get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("http://{}{path}", self.metrics_address))
            .await
            .expect("operator HTTP endpoint");
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    }

    /// Waits (bounded) for `/readyz` to answer 200.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) =
                reqwest::get(format!("http://{}/readyz", self.metrics_address)).await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "operator never became ready:\n{}",
                self.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("bound")
        .port()
}

/// A simulator serving `model` and the LoRA adapters `loras`, fast enough for tests.
pub async fn simulator(model: &str, loras: &[&str]) -> SimServer {
    let config = SimConfig {
        model: model.into(),
        loras: loras
            .iter()
            .map(|name| LoraConfig {
                name: name.to_string(),
                ttft_offset_ms: 0.0,
            })
            .collect(),
        latency: LatencyConfig {
            ttft_ms: 20.0,
            itl_ms: 2.0,
            ..Default::default()
        },
        threads: 1,
        ..Default::default()
    };
    SimServer::start(config)
        .await
        .expect("the simulator starts")
}

/// The repository's root (the workspace's).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// What most tests start with: the control plane, a fresh namespace `<prefix>-…`, an admin
/// client, a simulator serving the model `m` and an operator watching the namespace.
pub async fn setup(prefix: &str) -> (&'static ControlPlane, String, Client, SimServer, Operator) {
    let cp = cluster().await;
    let ns = cp.namespace(prefix).await.expect("namespace");
    let client = cp.client();
    let sim = simulator("m", &[]).await;
    let operator = Operator::start(cp, &ns);
    (cp, ns, client, sim, operator)
}

/// Creates the benchmark `name` in `ns` from a spec.
pub async fn create_benchmark(
    client: &Client,
    ns: &str,
    name: &str,
    spec: Value,
) -> Result<InferenceBenchmark, kube::Error> {
    let object: InferenceBenchmark = serde_json::from_value(serde_json::json!({
        "apiVersion": crd::API_VERSION,
        "kind": crd::KIND,
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }))
    .expect("a well-formed benchmark");
    Api::<InferenceBenchmark>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &object)
        .await
}

/// Creates the benchmark from raw JSON, bypassing the Rust types (to send what a user might).
pub async fn create_raw(
    client: &Client,
    ns: &str,
    name: &str,
    spec: Value,
) -> Result<(), kube::Error> {
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &kube::api::ApiResource::erase::<InferenceBenchmark>(&()),
    );
    let object: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": crd::API_VERSION,
        "kind": crd::KIND,
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }))
    .expect("a well-formed object");
    api.create(&PostParams::default(), &object).await.map(drop)
}

pub fn condition<'a>(
    ib: &'a InferenceBenchmark,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    ib.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// `kubectl wait --for=condition=<condition>` (e.g. `SLOMet=false`), as a user or a CI
/// pipeline runs it; `None` without kubectl.
pub fn kubectl_wait(
    kubeconfig: &std::path::Path,
    ns: &str,
    name: &str,
    condition: &str,
    timeout: Duration,
) -> Option<Result<String, String>> {
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "-n",
            ns,
            "wait",
            &format!("ibench/{name}"),
            &format!("--for=condition={condition}"),
            &format!("--timeout={}s", timeout.as_secs()),
        ])
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(if output.status.success() {
        Ok(text)
    } else {
        Err(text)
    })
}

pub fn is_finished(ib: &InferenceBenchmark) -> bool {
    ib.status
        .as_ref()
        .is_some_and(|s| s.observed_generation == ib.metadata.generation)
        && condition(ib, crd::CONDITION_SUCCEEDED).is_some_and(|c| c.status != "Unknown")
}

/// Waits (bounded) for `condition` on the benchmark; on timeout panics with the benchmark, the
/// namespace's pods and events, and the operator's log.
pub async fn wait_benchmark(
    cp: &ControlPlane,
    operator: &Operator,
    ns: &str,
    name: &str,
    timeout: Duration,
    condition: impl Fn(&InferenceBenchmark) -> bool,
) -> InferenceBenchmark {
    let api: Api<InferenceBenchmark> = Api::namespaced(cp.client(), ns);
    match cp.wait_for(&api, name, timeout, condition).await {
        Ok(ib) => ib,
        Err(e) => panic!("{e}\n--- operator log ---\n{}", operator.log_tail(60)),
    }
}

pub async fn jobs(client: &Client, ns: &str) -> Vec<Job> {
    Api::<Job>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("listing jobs")
        .items
}

pub async fn config_maps(client: &Client, ns: &str) -> Vec<ConfigMap> {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("listing config maps")
        .items
}

/// The standard test benchmark: constant `rate` for `duration` s from `runners` pods.
pub fn spec(base_url: &str, model: &str, rate: f64, duration: i64, runners: i32) -> Value {
    serde_json::json!({
        "server": {"baseUrl": base_url, "modelName": model},
        "api": {"streaming": true},
        "load": {"type": "constant", "stages": [{"rate": rate, "duration": duration}], "stageTeardownGraceSeconds": 10.0},
        "runners": {"parallelism": runners},
    })
}

/// The operator issue's end-to-end benchmark: parallelism 2, constant 40 req/s for 10 s, LoRA
/// adapters `lora-a` and `lora-b` 50/50 of the model `base-model`, with per adapter-stage
/// reports.
pub fn lora_e2e_spec(base_url: &str) -> Value {
    let mut spec = spec(base_url, "base-model", 40.0, 10, 2);
    spec["load"]["loraTrafficSplit"] =
        serde_json::json!([{"name": "lora-a", "split": 0.5}, {"name": "lora-b", "split": 0.5}]);
    // The machine running the tests is shared and small: real-time worker threads keep the
    // send times on plan (at 40 req/s they are far from starving the simulator).
    spec["load"]["workerRealtimePriority"] = serde_json::json!(true);
    spec["report"] = serde_json::json!({"requestLifecycle": {"perAdapterStage": true}});
    spec
}

/// The report file `key` of a report ConfigMap, parsed.
pub fn report_json(cm: &ConfigMap, key: &str) -> Value {
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .unwrap_or_else(|| {
            panic!(
                "report has no {key}: {:?}",
                cm.data.as_ref().map(|d| d.keys().collect::<Vec<_>>())
            )
        });
    serde_json::from_str(text).expect("report files are JSON")
}

/// Checks that the end-to-end benchmark `name` ([`lora_e2e_spec`]) succeeded as the operator
/// issue requires: achieved rate 40 ± 2, both adapters in the status, both runners succeeded,
/// and the report's counts equal to what the simulator received (nothing lost, nothing
/// doubled). Returns the report ConfigMap for further checks.
pub async fn check_lora_e2e(
    client: &Client,
    ns: &str,
    name: &str,
    ib: &InferenceBenchmark,
    sim: &SimServer,
) -> ConfigMap {
    let status = ib.status.clone().expect("status");
    let context = || format!("status: {status:#?}\nsimulator: {:?}", sim.stats());
    assert_eq!(status.phase, Some(crd::Phase::Succeeded), "{}", context());
    assert_eq!(status.observed_generation, Some(1));
    let summary = status.summary.clone().expect("summary");
    let achieved = summary.achieved_rate.expect("achieved rate");
    assert!(
        (38.0..=42.0).contains(&achieved),
        "achieved {achieved} req/s, wanted 40 ± 2\n{}",
        context()
    );
    assert_eq!(summary.requested_rate, Some(40.0));
    let adapters: Vec<&str> = status.adapters.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(adapters, ["lora-a", "lora-b"], "{}", context());
    assert!(
        status.adapters.iter().all(|a| a.requests > 100
            && a.request_latency_p50_ms.is_some()
            && a.ttft_p99_ms.is_some()),
        "{}",
        context()
    );
    let runners = status.runners.clone().expect("runners");
    assert_eq!(
        (runners.desired, runners.succeeded, runners.failed),
        (2, 2, 0),
        "{}",
        context()
    );
    eprintln!(
        "E2E {ns}/{name}: achieved {achieved} req/s (requested 40), runners' start skew {:?} ms (error {:?} ms, clocks {:?} ms apart), schedule delay p99 {:?} ms",
        runners.start_skew_ms,
        runners.start_skew_error_ms,
        runners.clock_spread_ms,
        summary.schedule_delay_p99_ms
    );

    let report: ConfigMap = Api::namespaced(client.clone(), ns)
        .get(&format!("{name}-report"))
        .await
        .expect("report ConfigMap");
    let received = sim.stats();
    let summary_file = report_json(&report, "summary_lifecycle_metrics.json");
    assert_eq!(
        summary_file["load_summary"]["count"].as_u64(),
        Some(received.requests_received),
        "{}",
        context()
    );
    assert_eq!(
        received.requests_received,
        400,
        "10 s at 40 req/s; {}",
        context()
    );
    assert_eq!(summary_file["successes"]["count"].as_u64(), Some(400));
    for adapter in ["lora-a", "lora-b"] {
        let file = report_json(
            &report,
            &format!("adapter_{adapter}_lifecycle_metrics.json"),
        );
        assert_eq!(
            file["load_summary"]["count"].as_u64(),
            received.requests_by_model.get(adapter).copied(),
            "{adapter}: {}",
            context()
        );
        report_json(
            &report,
            &format!("adapter_{adapter}_stage_0_lifecycle_metrics.json"),
        );
    }
    report
}
