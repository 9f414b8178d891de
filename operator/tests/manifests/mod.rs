//! Helpers of the tests of what the repository ships for Kubernetes (`chart.rs`,
//! `chart_rbac.rs`, `examples.rs`): the real `helm` binary that tests/cluster/build.sh builds
//! next to the control plane, manifests as objects, their APIs through discovery, and the
//! chart's Argo CD health check run in Lua 5.1 (the dialect of Argo CD's gopher-lua).
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use std::time::{Duration, Instant};

use ibench::sim::SimServer;
use ibench_operator::crd::{InferenceBenchmark, Phase};
use ibench_testcluster::ControlPlane;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::Api;
use kube::api::{DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::discovery::{self, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::common::is_finished;

/// How long a benchmark run of these tests may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

pub const RELEASE: &str = "ibench";
/// The operator image of the chart's values; tests map it to the `ibench-operator` binary.
pub const OPERATOR_IMAGE: &str = "ghcr.io/inference-bench/ibench-operator";

pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/inference-bench")
}

/// The helm CLI built with the control plane (never a second way).
pub fn helm_binary() -> PathBuf {
    let binaries = ibench_testcluster::Binaries::locate().unwrap_or_else(|e| panic!("control-plane binaries: {e}"));
    binaries.helm().unwrap_or_else(|| panic!("no helm in {} (tests/cluster/build.sh builds it)", binaries.dir().display()))
}

/// Helm's own state (repository cache, config) in a directory of this test process rather
/// than the user's home.
fn helm_home() -> &'static Path {
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    HOME.get_or_init(|| tempfile::Builder::new().prefix("ibench-helm-").tempdir().expect("helm home")).path()
}

pub struct HelmOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl HelmOutput {
    /// stdout of a command that must succeed.
    pub fn expect_success(self, what: &str) -> String {
        assert!(self.success, "{what} failed:\n{}\n{}", self.stdout, self.stderr);
        self.stdout
    }
}

/// Runs `helm args...`.
pub fn helm(args: &[&str]) -> HelmOutput {
    let home = helm_home();
    let output = Command::new(helm_binary())
        .args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("running helm");
    HelmOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `--set` arguments for `helm`.
pub fn set_args(values: &[&str]) -> Vec<String> {
    values.iter().flat_map(|v| ["--set".to_string(), v.to_string()]).collect()
}

/// `helm template` of the chart as release [`RELEASE`] in `namespace`: the YAML text.
pub fn template(namespace: &str, values: &[&str]) -> String {
    let chart = chart_dir();
    let mut args = vec!["template", RELEASE, chart.to_str().expect("UTF-8 path"), "--namespace", namespace];
    let sets = set_args(values);
    args.extend(sets.iter().map(String::as_str));
    helm(&args).expect_success(&format!("helm template with {values:?}"))
}

/// The objects of a multi-document YAML stream (empty documents left out).
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("YAML does not parse: {e}\n{yaml}")))
        .filter(|v| !v.is_null())
        .collect()
}

/// The API of `object` (its apiVersion and kind resolved through discovery); namespaced
/// objects without a namespace go to `default_namespace`.
pub async fn api_for(client: &kube::Client, object: &Value, default_namespace: &str) -> Api<DynamicObject> {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, object["kind"].as_str().expect("kind"));
    let (resource, capabilities) =
        discovery::pinned_kind(client, &gvk).await.unwrap_or_else(|e| panic!("{gvk:?} is not served: {e}"));
    match capabilities.scope {
        Scope::Namespaced => {
            let namespace = object["metadata"]["namespace"].as_str().unwrap_or(default_namespace);
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    }
}

/// Server-side apply of `object`: the API server validates and admits it (schema, CEL,
/// admission plugins; unknown fields are errors) and, unless `dry_run`, stores it.
pub async fn apply(client: &kube::Client, object: &Value, default_namespace: &str, dry_run: bool) -> Result<DynamicObject, kube::Error> {
    let api = api_for(client, object, default_namespace).await;
    let name = object["metadata"]["name"].as_str().expect("metadata.name");
    let mut params = PatchParams::apply("ibench-manifest-tests").validation_strict();
    params.dry_run = dry_run;
    api.patch(name, &params, &Patch::Apply(object)).await
}

/// Evaluates the chart's Argo CD health check on `object` as Argo CD does (the object as the
/// global `obj`, the script's return value the health): `(status, message)`.
pub fn argocd_health(object: &Value) -> (String, String) {
    let script = std::fs::read_to_string(chart_dir().join("files/argocd-health.lua")).expect("the health check");
    let lua = mlua::Lua::new();
    // Absent and null fields are both nil in Argo CD (it converts the unstructured object).
    let options = mlua::serde::SerializeOptions::new().serialize_none_to_null(false).serialize_unit_to_null(false);
    let obj = mlua::LuaSerdeExt::to_value_with(&lua, object, options).expect("object to Lua");
    lua.globals().set("obj", obj).expect("global obj");
    let health: mlua::Table = lua.load(&script).set_name("argocd-health.lua").eval().unwrap_or_else(|e| panic!("health check on {object}: {e}"));
    (health.get("status").expect("hs.status"), health.get("message").expect("hs.message"))
}

/// A namespace for the release, where Pod Security admission enforces "restricted".
pub async fn restricted_namespace(cp: &ControlPlane, prefix: &str) -> String {
    let ns = cp.namespace(prefix).await.expect("namespace");
    let labels = json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}});
    Api::<Namespace>::all(cp.client()).patch(&ns, &PatchParams::default(), &Patch::Merge(&labels)).await.expect("labelling the namespace");
    ns
}

/// `helm install` of the chart as [`RELEASE`] into `namespace` of the control plane, waiting
/// until Helm sees it ready.
pub fn install(cp: &ControlPlane, namespace: &str, values: &[String]) {
    let kubeconfig = cp.kubeconfig_path().to_str().expect("UTF-8");
    let chart = chart_dir();
    let mut args = vec!["install", RELEASE, chart.to_str().expect("UTF-8"), "--namespace", namespace, "--kubeconfig", kubeconfig];
    args.extend(["--wait", "--timeout", "90s"]);
    let sets = set_args(&values.iter().map(String::as_str).collect::<Vec<_>>());
    args.extend(sets.iter().map(String::as_str));
    helm(&args).expect_success("helm install");
}

/// What the operator pod of the release in `release_ns` printed (the process kubelet keeps it).
pub async fn operator_log(cp: &ControlPlane, release_ns: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(cp.client(), release_ns);
    let list = pods.list(&ListParams::default().labels("app.kubernetes.io/component=operator")).await.expect("pods");
    let pod = list.items.first().and_then(|p| p.metadata.name.clone()).unwrap_or_default();
    cp.container_log(release_ns, &pod, "operator").unwrap_or_default()
}

/// Waits for the benchmark's run to end; on timeout panics with diagnostics and the operator's log.
pub async fn finished(cp: &ControlPlane, ns: &str, name: &str, release_ns: &str) -> InferenceBenchmark {
    let api: Api<InferenceBenchmark> = Api::namespaced(cp.client(), ns);
    match cp.wait_for(&api, name, RUN_TIMEOUT, is_finished).await {
        Ok(ib) => ib,
        Err(e) => panic!("{e}\n--- operator ---\n{}", operator_log(cp, release_ns).await),
    }
}

/// Waits until the installed operator's `/readyz` (on `port` of this machine: the process
/// kubelet runs pods on the host) answers 200.
pub async fn wait_ready(cp: &ControlPlane, release_ns: &str, port: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await
            && response.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "the operator never got ready:\n{}\n{}", operator_log(cp, release_ns).await, cp.diagnostics(release_ns).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The operator issue's end-to-end benchmark: parallelism 2, constant 40 req/s for 10 s, LoRA
/// adapters `lora-a` and `lora-b` 50/50, with per adapter-stage reports.
pub fn lora_e2e_spec(base_url: &str) -> Value {
    let mut spec = crate::common::spec(base_url, "base-model", 40.0, 10, 2);
    spec["load"]["loraTrafficSplit"] = json!([{"name": "lora-a", "split": 0.5}, {"name": "lora-b", "split": 0.5}]);
    spec["report"] = json!({"requestLifecycle": {"perAdapterStage": true}});
    spec
}

fn report_json(cm: &ConfigMap, key: &str) -> Value {
    let text = cm.data.as_ref().and_then(|d| d.get(key)).unwrap_or_else(|| panic!("report has no {key}: {:?}", cm.data.as_ref().map(|d| d.keys().collect::<Vec<_>>())));
    serde_json::from_str(text).expect("report files are JSON")
}

/// The end-to-end benchmark `name` succeeded as the operator issue requires: achieved rate
/// 40 ± 2, both adapters in the status, and the report's count equal to what the simulator
/// received (nothing lost, nothing doubled).
pub async fn check_lora_e2e(client: &kube::Client, ns: &str, name: &str, ib: &InferenceBenchmark, sim: &SimServer) {
    let status = ib.status.clone().expect("status");
    let context = || format!("status: {status:#?}\nsimulator: {:?}", sim.stats());
    assert_eq!(status.phase, Some(Phase::Succeeded), "{}", context());
    assert_eq!(status.observed_generation, Some(1));
    let summary = status.summary.clone().expect("summary");
    let achieved = summary.achieved_rate.expect("achieved rate");
    assert!((38.0..=42.0).contains(&achieved), "achieved {achieved} req/s, wanted 40 ± 2\n{}", context());
    assert_eq!(summary.requested_rate, Some(40.0));
    let adapters: Vec<&str> = status.adapters.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(adapters, ["lora-a", "lora-b"], "{}", context());
    assert!(status.adapters.iter().all(|a| a.requests > 100 && a.request_latency_p50_ms.is_some() && a.ttft_p99_ms.is_some()), "{}", context());
    let runners = status.runners.clone().expect("runners");
    assert_eq!((runners.desired, runners.succeeded, runners.failed), (2, 2, 0), "{}", context());

    let report: ConfigMap = Api::namespaced(client.clone(), ns).get(&format!("{name}-report")).await.expect("report ConfigMap");
    let received = sim.stats();
    let summary_file = report_json(&report, "summary_lifecycle_metrics.json");
    assert_eq!(summary_file["load_summary"]["count"].as_u64(), Some(received.requests_received), "{}", context());
    assert_eq!(received.requests_received, 400, "10 s at 40 req/s; {}", context());
    assert_eq!(summary_file["successes"]["count"].as_u64(), Some(400));
    for adapter in ["lora-a", "lora-b"] {
        let file = report_json(&report, &format!("adapter_{adapter}_lifecycle_metrics.json"));
        assert_eq!(file["load_summary"]["count"].as_u64(), received.requests_by_model.get(adapter).copied(), "{adapter}: {}", context());
        report_json(&report, &format!("adapter_{adapter}_stage_0_lifecycle_metrics.json"));
    }
}
