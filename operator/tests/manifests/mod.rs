//! Helpers of the tests of what the repository ships for Kubernetes (`chart.rs`,
//! `chart_rbac.rs`, `examples.rs`): the real `helm` binary that tests/cluster/build.sh builds
//! next to the control plane, manifests as objects, their APIs through discovery, and the
//! chart's Argo CD health check run in Lua 5.1 (the dialect of Argo CD's gopher-lua).
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use std::time::{Duration, Instant};

use ibench_operator::crd::InferenceBenchmark;
use ibench_testcluster::ControlPlane;
use k8s_openapi::api::core::v1::{Namespace, Pod};
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
    let binaries = ibench_testcluster::Binaries::locate()
        .unwrap_or_else(|e| panic!("control-plane binaries: {e}"));
    binaries.helm().unwrap_or_else(|| {
        panic!(
            "no helm in {} (tests/cluster/build.sh builds it)",
            binaries.dir().display()
        )
    })
}

/// Helm's own state (repository cache, config) in a directory of this test process rather
/// than the user's home.
fn helm_home() -> &'static Path {
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    HOME.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("ibench-helm-")
            .tempdir()
            .expect("helm home")
    })
    .path()
}

pub struct HelmOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl HelmOutput {
    /// stdout of a command that must succeed.
    pub fn expect_success(self, what: &str) -> String {
        assert!(
            self.success,
            "{what} failed:\n{}\n{}",
            self.stdout, self.stderr
        );
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
    values
        .iter()
        .flat_map(|v| ["--set".to_string(), v.to_string()])
        .collect()
}

/// `helm template` of the chart as release [`RELEASE`] in `namespace`: the YAML text.
pub fn template(namespace: &str, values: &[&str]) -> String {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        RELEASE,
        chart.to_str().expect("UTF-8 path"),
        "--namespace",
        namespace,
    ];
    let sets = set_args(values);
    args.extend(sets.iter().map(String::as_str));
    helm(&args).expect_success(&format!("helm template with {values:?}"))
}

/// The objects of a multi-document YAML stream (empty documents left out).
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| {
            Value::deserialize(doc).unwrap_or_else(|e| panic!("YAML does not parse: {e}\n{yaml}"))
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// The API of `object` (its apiVersion and kind resolved through discovery); namespaced
/// objects without a namespace go to `default_namespace`.
pub async fn api_for(
    client: &kube::Client,
    object: &Value,
    default_namespace: &str,
) -> Api<DynamicObject> {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, object["kind"].as_str().expect("kind"));
    let (resource, capabilities) = discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("{gvk:?} is not served: {e}"));
    match capabilities.scope {
        Scope::Namespaced => {
            let namespace = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or(default_namespace);
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    }
}

/// Server-side apply of `object`: the API server validates and admits it (schema, CEL,
/// admission plugins; unknown fields are errors) and, unless `dry_run`, stores it.
pub async fn apply(
    client: &kube::Client,
    object: &Value,
    default_namespace: &str,
    dry_run: bool,
) -> Result<DynamicObject, kube::Error> {
    let api = api_for(client, object, default_namespace).await;
    let name = object["metadata"]["name"].as_str().expect("metadata.name");
    let mut params = PatchParams::apply("ibench-manifest-tests").validation_strict();
    params.dry_run = dry_run;
    api.patch(name, &params, &Patch::Apply(object)).await
}

/// The one object of `kind` (panics unless exactly one).
pub fn only<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
    found[0]
}

/// The kinds of `objects`, in order.
pub fn kinds(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The operator container of the rendered Deployment.
pub fn operator_container(objects: &[Value]) -> &Value {
    &only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

/// Evaluates the chart's Argo CD health check on `object` as Argo CD does (the object as the
/// global `obj`, the script's return value the health): `(status, message)`.
pub fn argocd_health(object: &Value) -> (String, String) {
    let script = std::fs::read_to_string(chart_dir().join("files/argocd-health.lua"))
        .expect("the health check");
    let lua = mlua::Lua::new();
    // Absent and null fields are both nil in Argo CD (it converts the unstructured object).
    let options = mlua::serde::SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    let obj = mlua::LuaSerdeExt::to_value_with(&lua, object, options).expect("object to Lua");
    lua.globals().set("obj", obj).expect("global obj");
    let health: mlua::Table = lua
        .load(&script)
        .set_name("argocd-health.lua")
        .eval()
        .unwrap_or_else(|e| panic!("health check on {object}: {e}"));
    (
        health.get("status").expect("hs.status"),
        health.get("message").expect("hs.message"),
    )
}

/// A namespace for the release, where Pod Security admission enforces "restricted".
pub async fn restricted_namespace(cp: &ControlPlane, prefix: &str) -> String {
    let ns = cp.namespace(prefix).await.expect("namespace");
    let labels = json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}});
    Api::<Namespace>::all(cp.client())
        .patch(&ns, &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .expect("labelling the namespace");
    ns
}

/// Values of a test install: the operator's endpoints on `port` of this machine (the process
/// kubelet runs pods on the host), the runner image the tests map to `ibench`, and the short
/// intervals of the operator tests' own operator (`common::Operator`).
pub fn test_values(port: &str) -> Vec<String> {
    vec![
        format!("metrics.port={port}"),
        format!("runner.image.repository={}", crate::common::RUNNER_IMAGE),
        "runner.image.tag=test".into(),
        "runner.progressSeconds=1".into(),
        "runner.startLeadSeconds=1".into(),
        "statusIntervalSeconds=1".into(),
    ]
}

/// `helm install` of the chart as [`RELEASE`] into `namespace` of the control plane, waiting
/// until Helm sees it ready.
pub fn install(cp: &ControlPlane, namespace: &str, values: &[String]) {
    let kubeconfig = cp.kubeconfig_path().to_str().expect("UTF-8");
    let chart = chart_dir();
    let mut args = vec![
        "install",
        RELEASE,
        chart.to_str().expect("UTF-8"),
        "--namespace",
        namespace,
        "--kubeconfig",
        kubeconfig,
    ];
    args.extend(["--wait", "--timeout", "90s"]);
    let sets = set_args(&values.iter().map(String::as_str).collect::<Vec<_>>());
    args.extend(sets.iter().map(String::as_str));
    helm(&args).expect_success("helm install");
}

/// What the operator pod of the release in `release_ns` printed (the process kubelet keeps it).
pub async fn operator_log(cp: &ControlPlane, release_ns: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(cp.client(), release_ns);
    let list = pods
        .list(&ListParams::default().labels("app.kubernetes.io/component=operator"))
        .await
        .expect("pods");
    let pod = list
        .items
        .first()
        .and_then(|p| p.metadata.name.clone())
        .unwrap_or_default();
    cp.container_log(release_ns, &pod, "operator")
        .unwrap_or_default()
}

/// Waits for the benchmark's run to end; on timeout panics with diagnostics and the operator's log.
pub async fn finished(
    cp: &ControlPlane,
    ns: &str,
    name: &str,
    release_ns: &str,
) -> InferenceBenchmark {
    let api: Api<InferenceBenchmark> = Api::namespaced(cp.client(), ns);
    match cp.wait_for(&api, name, RUN_TIMEOUT, is_finished).await {
        Ok(ib) => ib,
        Err(e) => panic!(
            "{e}\n--- operator ---\n{}",
            operator_log(cp, release_ns).await
        ),
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
        assert!(
            Instant::now() < deadline,
            "the operator never got ready:\n{}\n{}",
            operator_log(cp, release_ns).await,
            cp.diagnostics(release_ns).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
