//! The `InferenceBenchmark` resource (`inferencebench.dev/v1alpha1`).
//!
//! `spec` holds the runner's own config sections ([`Camel`]-wrapped runner types) plus what only
//! Kubernetes needs (runners, run id, deadline, TTL). Admission checks come from the schema of
//! those types plus the CEL rules below; the operator checks everything again
//! ([`crate::validate`]).

mod camel;
mod status;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use camel::{Camel, camel, camel_path, resource_terms};
pub use status::*;

use ibench_core::config::{
    ApiConfig, CircuitBreakerConfig, DataConfig, InputsConfig, LoadConfig, MetricsConfig,
    ReportConfig, ServerConfig, StorageConfig, TokenizerConfig,
};

pub const GROUP: &str = "inferencebench.dev";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "inferencebench.dev/v1alpha1";
pub const KIND: &str = "InferenceBenchmark";
pub const MAX_PARALLELISM: i32 = 1000;

/// A benchmark of an OpenAI-compatible inference server. Each generation of the spec is one
/// run; results land in `status` and in the ConfigMap `<name>-report`.
// Each `printcolumn(...)` has its own `type_`/`description`; clippy reads them as one list.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    doc = "A benchmark of an OpenAI-compatible inference server, run by ibench-operator as an Indexed Job of ibench runners.",
    group = "inferencebench.dev",
    version = "v1alpha1",
    kind = "InferenceBenchmark",
    plural = "inferencebenchmarks",
    shortname = "ibench",
    category = "benchmarks",
    namespaced,
    status = "InferenceBenchmarkStatus",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Requested",
        type_ = "number",
        json_path = ".status.summary.requestedRate",
        description = "Requested rate, requests per second"
    ),
    printcolumn(
        name = "Achieved",
        type_ = "number",
        json_path = ".status.summary.achievedRate",
        description = "Achieved send rate, requests per second"
    ),
    printcolumn(
        name = "Delay-P99",
        type_ = "number",
        json_path = ".status.summary.scheduleDelayP99Ms",
        description = "99th percentile of the delay between a request's planned and actual send time, milliseconds"
    ),
    printcolumn(
        name = "SLO",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"SLOMet\")].status",
        description = "Whether the run met spec.report.slo's objectives (True, False, Unknown)"
    ),
    printcolumn(
        name = "Runners",
        type_ = "integer",
        json_path = ".spec.runners.parallelism",
        priority = 1
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Succeeded\")].reason",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
// A sweep measures the saturation of one client with closed-loop probes; split over runners the
// probes would each see a fraction of the load (the runner refuses it too: SweepSharded).
#[x_kube(validation = Rule::new("!has(self.load.sweep) || !has(self.runners) || !has(self.runners.parallelism) || self.runners.parallelism == 1").message("load.sweep: a sweep runs in one runner; not allowed with runners.parallelism > 1").field_path(".load.sweep"))]
#[x_kube(validation = Rule::new("!has(self.load.sloSearch) || !has(self.runners) || !has(self.runners.parallelism) || self.runners.parallelism == 1").message("load.sloSearch: a search decides each probe from the one before, so it runs in one runner; not allowed with runners.parallelism > 1").field_path(".load.sloSearch"))]
#[x_kube(validation = Rule::new("!(has(self.data) && has(self.data.path)) || self.data.path.matches('^(s3|gs|https?)://') || (has(self.files) && self.files.exists(f, self.data.path == f.path || self.data.path.startsWith(f.path + '/')))").message("data.path: runner pods cannot see the files of your machine; give an s3://, gs:// or https:// URL, or mount the file with spec.files (a ConfigMap, Secret or PersistentVolumeClaim at this path)").field_path(".data.path"))]
#[x_kube(validation = Rule::new("!(has(self.data) && has(self.data.corpusFilePath)) || self.data.corpusFilePath.matches('^(s3|gs|https?)://') || (has(self.files) && self.files.exists(f, self.data.corpusFilePath == f.path || self.data.corpusFilePath.startsWith(f.path + '/')))").message("data.corpusFilePath: runner pods cannot see the files of your machine; give an s3://, gs:// or https:// URL, or mount the file with spec.files (a ConfigMap, Secret or PersistentVolumeClaim at this path)").field_path(".data.corpusFilePath"))]
#[x_kube(validation = Rule::new("!(has(self.data) && has(self.data.trace) && has(self.data.trace.file)) || self.data.trace.file.matches('^(s3|gs|https?)://') || (has(self.files) && self.files.exists(f, self.data.trace.file == f.path || self.data.trace.file.startsWith(f.path + '/')))").message("data.trace.file: runner pods cannot see the files of your machine; give an s3://, gs:// or https:// URL, or mount the file with spec.files (a ConfigMap, Secret or PersistentVolumeClaim at this path)").field_path(".data.trace.file"))]
#[x_kube(validation = Rule::new("!(has(self.load) && has(self.load.trace) && has(self.load.trace.file)) || self.load.trace.file.matches('^(s3|gs|https?)://') || (has(self.files) && self.files.exists(f, self.load.trace.file == f.path || self.load.trace.file.startsWith(f.path + '/')))").message("load.trace.file: runner pods cannot see the files of your machine; give an s3://, gs:// or https:// URL, or mount the file with spec.files (a ConfigMap, Secret or PersistentVolumeClaim at this path)").field_path(".load.trace.file"))]
#[x_kube(validation = Rule::new("!(has(self.tokenizer) && has(self.tokenizer.pretrainedModelNameOrPath)) || self.tokenizer.pretrainedModelNameOrPath.matches('^(s3|gs|https?)://') || (has(self.files) && self.files.exists(f, self.tokenizer.pretrainedModelNameOrPath == f.path || self.tokenizer.pretrainedModelNameOrPath.startsWith(f.path + '/')))").message("tokenizer.pretrainedModelNameOrPath: runner pods cannot see the files of your machine; give an s3://, gs:// or https:// URL, or mount the file with spec.files (a ConfigMap, Secret or PersistentVolumeClaim at this path)").field_path(".tokenizer.pretrainedModelNameOrPath"))]
#[x_kube(validation = Rule::new("!has(self.report) || !has(self.report.requestLifecycle) || !has(self.report.requestLifecycle.perRequest) || !self.report.requestLifecycle.perRequest || (has(self.storage) && (has(self.storage.googleCloudStorage) || has(self.storage.simpleStorageService)))").message("report.requestLifecycle.perRequest: per-request records do not fit in Kubernetes objects; configure storage.googleCloudStorage or storage.simpleStorageService, where each runner streams its records").field_path(".report.requestLifecycle.perRequest"))]
#[x_kube(validation = Rule::new("!has(self.load.circuitBreakers) || self.load.circuitBreakers.all(n, has(self.circuitBreakers) && self.circuitBreakers.exists(b, b.name == n))").message("load.circuitBreakers: every name must be a breaker of spec.circuitBreakers; define it there or remove it").field_path(".load.circuitBreakers"))]
#[serde(rename_all = "camelCase")]
pub struct InferenceBenchmarkSpec {
    /// The model server to benchmark (runner config `server`).
    #[x_kube(validation = Rule::new("!has(self.apiKey)").message("server.apiKey: not allowed in a resource, where anyone who can read it would see the key; store the key in a Secret and set server.apiKeySecretRef"))]
    pub server: Camel<ServerConfig>,
    /// Request format (runner config `api`).
    #[serde(default)]
    pub api: Camel<ApiConfig>,
    /// Prompt and output lengths (runner config `data`).
    #[serde(default)]
    pub data: Camel<DataConfig>,
    /// Load stages, LoRA traffic split and worker settings (runner config `load`).
    #[x_kube(
        validation = Rule::new("has(self.sweep) || has(self.sloSearch) || (has(self.stages) && size(self.stages) > 0)").message("load.stages: at least one stage is required (or load.sweep, or load.sloSearch)").field_path(".stages"),
        validation = Rule::new("!has(self.sweep) || !has(self.stages) || size(self.stages) == 0").message("load.stages: a sweep generates the stages; remove load.stages or load.sweep").field_path(".stages"),
        validation = Rule::new("self.type == 'concurrent' || self.type == 'trace_session_replay' || self.stages.all(s, has(s.rate) && s.rate > 0.0)").message("load.stages[*].rate: must be set and > 0 (requests per second) for rate-based load types").field_path(".stages"),
        validation = Rule::new("self.type == 'concurrent' || self.type == 'trace_session_replay' || self.stages.all(s, has(s.duration) && s.duration > 0)").message("load.stages[*].duration: must be set and > 0 (seconds) for rate-based load types").field_path(".stages"),
        validation = Rule::new("self.type == 'concurrent' || self.stages.all(s, !has(s.numRequests) && !has(s.concurrencyLevel))").message("load.stages[*].numRequests and concurrencyLevel: only allowed with load.type concurrent").field_path(".stages"),
        validation = Rule::new("self.type != 'concurrent' || self.stages.all(s, !has(s.rate) && !has(s.duration))").message("load.stages[*].rate and duration: not allowed with load.type concurrent; use numRequests and concurrencyLevel").field_path(".stages"),
        validation = Rule::new("self.type != 'concurrent' || self.stages.all(s, has(s.numRequests) && s.numRequests > 0 && has(s.concurrencyLevel) && s.concurrencyLevel > 0)").message("load.stages[*].numRequests and concurrencyLevel: must be set and > 0 with load.type concurrent").field_path(".stages"),
        validation = Rule::new("!has(self.sweep) || self.type == 'constant' || self.type == 'poisson'").message("load.sweep: only with load.type constant or poisson").field_path(".sweep"),
        validation = Rule::new("!has(self.loraTrafficSplit) || (self.loraTrafficSplit.map(s, s.split).sum() > 0.999999999 && self.loraTrafficSplit.map(s, s.split).sum() < 1.000000001)").message("load.loraTrafficSplit: the splits must sum to 1.0").field_path(".loraTrafficSplit"),
    )]
    pub load: Camel<LoadConfig>,
    /// Which report files to produce (runner config `report`).
    #[serde(default)]
    pub report: Camel<ReportConfig>,
    /// Buckets for the merged report files and the per-request records (runner config
    /// `storage`: `googleCloudStorage`, `simpleStorageService`). Each run's objects go under
    /// `{path}/{run}/`; `{timestamp}` in `path` is the benchmark's creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("!has(self.localStorage)").message("storage.localStorage: a runner pod's disk goes away with it; use storage.googleCloudStorage or storage.simpleStorageService (the merged report is also in the ConfigMap <name>-report)").field_path(".localStorage"))]
    pub storage: Option<Camel<StorageConfig>>,
    /// Secret whose keys are environment variables for the buckets: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), or `GOOGLE_SERVICE_ACCOUNT_KEY` (the
    /// service account's JSON; `STORAGE_EMULATOR_HOST` for a GCS emulator). Given to runner pods with `envFrom` and read by the operator for
    /// the merged reports; without it, both use their ambient identity (IRSA, Workload Identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_secret_ref: Option<LocalSecretRef>,
    /// Custom tokenizer (runner config `tokenizer`): a `tokenizer.json` from `files` or a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<Camel<TokenizerConfig>>,
    /// How input files named by URL are fetched and which SHA-256 each input must have
    /// (runner config `inputs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Camel<InputsConfig>>,
    /// The model server's own metrics, per stage (runner config `metrics`): PromQL queries to a
    /// Prometheus server (`type: prometheus`), or scrapes of the server during the run
    /// (`type: scrape`; `scrape.pods` follows every pod behind a Service or labels). Files in
    /// the report, each stage's figures in `status.stages[*].server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(
        validation = Rule::new("!has(self.prometheus) || has(self.prometheus.url) != (has(self.prometheus.googleManaged) && self.prometheus.googleManaged)").message("metrics.prometheus: set exactly one of url (a Prometheus server) or googleManaged: true").field_path(".prometheus"),
        validation = Rule::new("!has(self.scrape) || !has(self.scrape.pods) || has(self.scrape.pods.service) != has(self.scrape.pods.selector)").message("metrics.scrape.pods: set exactly one of service (a Service's pods) or selector (pod labels)").field_path(".scrape.pods"),
        validation = Rule::new("!has(self.scrape) || !has(self.scrape.pods) || !has(self.scrape.urls)").message("metrics.scrape.pods: set either urls (fixed endpoints) or pods (found through the Kubernetes API), not both").field_path(".scrape.pods"),
    )]
    pub metrics: Option<Camel<MetricsConfig>>,
    /// Named circuit breakers (runner config `circuit_breakers`, inference-perf's), enabled by
    /// name in `load.circuitBreakers`. Each runner feeds its finished requests to them; when
    /// one trips on any runner, the operator stops every runner (condition `Succeeded=False`,
    /// reason `CircuitBreakerTripped`), and the report says which breaker, where and when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub circuit_breakers: Vec<Camel<CircuitBreakerConfig>>,
    /// Files from ConfigMaps, Secrets and PersistentVolumeClaims, mounted read-only into every
    /// runner pod at `path`, for the config fields that name files (`data.path`,
    /// `data.corpusFilePath`, `data.trace.file`, `load.trace.file`,
    /// `tokenizer.pretrainedModelNameOrPath`, and the TLS files `server.caCertPath`,
    /// `server.certPath`, `server.keyPath`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.all(f, (has(f.configMap) ? 1 : 0) + (has(f.secret) ? 1 : 0) + (has(f.persistentVolumeClaim) ? 1 : 0) == 1)").message("files[*]: set exactly one of configMap, secret and persistentVolumeClaim"))]
    pub files: Vec<InputFileSource>,
    /// Runner pods.
    #[serde(default)]
    pub runners: RunnersSpec,
    /// Change to run an unchanged benchmark again (any change of the spec starts a new run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub run_id: Option<String>,
    /// Seconds the run may take from the creation of its runner Job; then it fails with reason
    /// DeadlineExceeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,
    /// The share of sent requests that may fail before the run fails (reason TooManyFailures;
    /// AllRequestsFailed when every one did): 0 fails on any failure, 1 never. Unset: only a
    /// run whose every request failed fails. A run that planned no request fails either way
    /// (NothingSent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_failure_ratio: Option<f64>,
    /// Seconds after which a finished runner Job (and its pods) is deleted. The benchmark and
    /// its report are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
}

/// A Secret in the benchmark's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalSecretRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// One file or directory for the runner pods, from exactly one source.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InputFileSource {
    /// Absolute path in the runner pods: the path the config gives (a ConfigMap or Secret key
    /// is this file; a claim is mounted here as a directory, or as a file with `subPath`).
    #[schemars(length(min = 2, max = 1024), regex(pattern = r"^/.*[^/]$"))]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<KeySource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<KeySource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<ClaimSource>,
}

/// A key of a ConfigMap or Secret in the benchmark's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeySource {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A PersistentVolumeClaim in the benchmark's namespace, mounted read-only (every runner pod
/// mounts it: use a ReadOnlyMany or ReadWriteMany claim when runners spread over nodes).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimSource {
    #[schemars(length(min = 1, max = 253))]
    pub claim_name: String,
    /// File or directory within the volume (default: its root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub sub_path: Option<String>,
}

/// The runner pods of each run: one Indexed Job with `parallelism` pods, pod `k` sending the
/// requests `i` with `i mod parallelism = k` of one global plan.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunnersSpec {
    /// Number of runner pods (1-1000).
    #[serde(default = "default_parallelism")]
    #[schemars(range(min = 1, max = 1000))]
    pub parallelism: i32,
    /// Runner image (runs `ibench agent`); default: the operator's `--runner-image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 64))]
    pub node_selector: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub tolerations: Option<Vec<Toleration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
}

fn default_parallelism() -> i32 {
    1
}

impl Default for RunnersSpec {
    fn default() -> Self {
        RunnersSpec {
            parallelism: default_parallelism(),
            image: None,
            resources: None,
            node_selector: None,
            tolerations: None,
            affinity: None,
        }
    }
}

/// The CustomResourceDefinition.
pub fn crd() -> CustomResourceDefinition {
    InferenceBenchmark::crd()
}

/// The CRD as committed in `crds/`.
pub fn crd_yaml() -> String {
    format!(
        "# Generated by `ibench-operator crd` from operator/src/crd; do not edit.\n{}",
        serde_yaml::to_string(&crd()).expect("the CRD serialises")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const COMMITTED: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crds/inferencebenchmarks.inferencebench.dev.yaml"
    );

    #[test]
    fn committed_crd_is_generated_from_the_types() {
        let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
        assert!(
            committed == crd_yaml(),
            "crds/inferencebenchmarks.inferencebench.dev.yaml is stale; regenerate it with\n  cargo run -p ibench-operator -- crd > crds/inferencebenchmarks.inferencebench.dev.yaml"
        );
    }

    fn schema() -> Value {
        let crd = serde_json::to_value(crd()).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }

    /// The apiserver's structural-schema rules (plus our own bounds), checked on every node.
    fn lint(node: &Value, path: &str, problems: &mut Vec<String>) {
        let Some(object) = node.as_object() else {
            return;
        };
        let special = object.contains_key("x-kubernetes-int-or-string")
            || object.contains_key("x-kubernetes-preserve-unknown-fields");
        if !object.contains_key("type") && !special {
            problems.push(format!("{path}: no type"));
        }
        if object
            .get("format")
            .and_then(Value::as_str)
            .is_some_and(|f| f.starts_with("uint"))
        {
            problems.push(format!("{path}: unsigned format"));
        }
        if object.get("additionalProperties") == Some(&Value::Bool(false)) {
            problems.push(format!("{path}: additionalProperties false"));
        }
        if object.contains_key("properties") && object.get("additionalProperties").is_some() {
            problems.push(format!("{path}: properties and additionalProperties"));
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for (i, sub) in object
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                for banned in [
                    "type",
                    "description",
                    "default",
                    "nullable",
                    "additionalProperties",
                ] {
                    if sub.get(banned).is_some() {
                        problems.push(format!("{path}.{key}[{i}]: {banned} inside a junction"));
                    }
                }
            }
        }
        if let Some(properties) = object.get("properties").and_then(Value::as_object) {
            for (name, sub) in properties {
                lint(sub, &format!("{path}.{name}"), problems);
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(sub) = object.get(key) {
                lint(sub, &format!("{path}[]"), problems);
            }
        }
    }

    #[test]
    fn schema_is_structural() {
        let mut problems = Vec::new();
        lint(&schema(), "", &mut problems);
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn lists_in_cel_rules_and_status_are_bounded() {
        let schema = schema();
        let spec = &schema["properties"]["spec"]["properties"];
        for (list, max) in [
            (&spec["load"]["properties"]["stages"], 256),
            (&spec["load"]["properties"]["loraTrafficSplit"], 256),
            (
                &schema["properties"]["status"]["properties"]["adapters"],
                MAX_STATUS_ADAPTERS,
            ),
            (
                &schema["properties"]["status"]["properties"]["conditions"],
                8,
            ),
        ] {
            assert_eq!(list["maxItems"], max, "{list:#}");
        }
        let conditions = &schema["properties"]["status"]["properties"]["conditions"];
        assert_eq!(conditions["x-kubernetes-list-type"], "map");
        assert_eq!(
            conditions["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"])
        );
        assert_eq!(
            spec["runners"]["properties"]["parallelism"]["maximum"],
            1000.0
        );
        assert_eq!(spec["runners"]["properties"]["parallelism"]["default"], 1);
    }

    #[test]
    fn resource_is_named_and_printed_as_documented() {
        let crd = crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("inferencebenchmarks.inferencebench.dev")
        );
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&["ibench".to_string()][..])
        );
        let version = &crd.spec.versions[0];
        assert!(version.subresources.as_ref().unwrap().status.is_some());
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .filter(|c| c.priority.is_none())
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            columns,
            ["Phase", "Requested", "Achieved", "Delay-P99", "SLO", "Age"]
        );
    }
}
