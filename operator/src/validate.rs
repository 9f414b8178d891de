//! From a benchmark's spec to what one run needs, checking everything admission checks (and the
//! runner's own rules) again: a resource stored before a CRD upgrade, or by a server without
//! CEL, must end as `Accepted=False` with the reason, never as a crash loop.

use ibench_core::config::{
    Config, Issue, LoadType, LocalStorage, ReportConfig, ScrapePods, SecretKeyRef, StorageConfig,
    input_files,
};
use ibench_core::object_url::ObjectUrl;

use crate::Settings;
use crate::crd::{InferenceBenchmark, InputFileSource, MAX_PARALLELISM, RunnersSpec, camel_path};
use crate::naming::{RunNames, stable_hash};

/// Everything one run (one generation of the spec) is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub generation: i64,
    pub names: RunNames,
    pub run_id: Option<String>,
    pub parallelism: u32,
    pub image: String,
    /// Pod placement and resources (`spec.runners`).
    pub runners: RunnersSpec,
    /// The runner config, snake_case YAML without secrets, seed fixed: what every runner
    /// reads, so that all of them build the same global plan.
    pub config_yaml: String,
    pub api_key: Option<SecretKeyRef>,
    /// The buckets, paths resolved (as in `config_yaml`).
    pub storage: StorageConfig,
    /// The Secret with the buckets' credentials, for runners (`envFrom`) and the operator.
    pub storage_secret: Option<String>,
    /// Mounted read-only into every runner pod.
    pub files: Vec<InputFileSource>,
    /// Some input file is a URL: runners need room to download it.
    pub fetches_inputs: bool,
    /// Which report files to write, and goodput objectives.
    pub report: ReportConfig,
    /// `load.slo_search`: the run searches for the highest rate meeting `report.slo` (whose
    /// verdict file it replaces, so `report.slo` is unset here).
    pub slo_search: bool,
    /// The model server's pods that runner 0 scrapes (`metrics.scrape.pods`): its Role may
    /// then read them.
    pub scrape_pods: Option<ScrapePods>,
    pub active_deadline_seconds: Option<i64>,
    pub ttl_seconds_after_finished: Option<i32>,
    /// `spec.maxFailureRatio`.
    pub max_failure_ratio: Option<f64>,
    /// How long a runner pod may take to stop: the requests in flight have the teardown grace,
    /// then the runner delivers what it measured.
    pub termination_grace_seconds: i64,
}

/// Time a stopped runner is given, after the teardown grace, to write its results.
const RESULTS_DELIVERY_SECONDS: i64 = 30;

/// The run of the benchmark's current generation, or every problem found (paths as in the
/// resource: `spec.load.stages[0].rate`).
pub fn run_spec(ib: &InferenceBenchmark, settings: &Settings) -> Result<RunSpec, Vec<Issue>> {
    let spec = &ib.spec;
    let generation = ib.metadata.generation.unwrap_or(1);
    let uid = ib.metadata.uid.as_deref().unwrap_or_default();
    let mut issues = Vec::new();

    let mut server = spec.server.0.clone();
    let api_key = server.api_key_secret_ref.take();
    if server.api_key.is_some() {
        issues.push(Issue::new(
            "server.api_key",
            "not allowed in a resource; store the key in a Secret and set server.apiKeySecretRef",
        ));
    }
    if let Some(secret) = &api_key {
        for (field, value) in [("name", &secret.name), ("key", &secret.key)] {
            if value.is_empty() {
                issues.push(Issue::new(
                    format!("server.api_key_secret_ref.{field}"),
                    "must not be empty",
                ));
            }
        }
    }
    let mut config = Config {
        api: spec.api.0.clone(),
        data: spec.data.0.clone(),
        load: spec.load.0.clone(),
        report: spec.report.0.clone(),
        storage: spec
            .storage
            .as_ref()
            .map(|s| s.0.clone())
            .unwrap_or_default(),
        server: Some(server),
        tokenizer: spec.tokenizer.as_ref().map(|t| t.0.clone()),
        inputs: spec.inputs.as_ref().map(|i| i.0.clone()),
        metrics: spec.metrics.as_ref().map(|m| m.0.clone()),
        circuit_breakers: spec.circuit_breakers.iter().map(|b| b.0.clone()).collect(),
    };
    if config.storage.local_storage != LocalStorage::default() {
        issues.push(Issue::new(
            "storage.local_storage",
            "a runner pod's disk goes away with it; use storage.google_cloud_storage or storage.simple_storage_service",
        ));
    }
    if config.report.request_lifecycle.per_request && !config.storage.has_object_storage() {
        issues.push(Issue::new(
            "report.request_lifecycle.per_request",
            "per-request records do not fit in Kubernetes objects; configure storage.google_cloud_storage or storage.simple_storage_service, where each runner streams its records",
        ));
    }
    files(&spec.files, &config, &mut issues);
    issues.extend(ibench_core::config::apply_slo_headers(&mut config));
    issues.extend(ibench_core::config::validate(&config));

    let parallelism = spec.runners.parallelism;
    if !(1..=MAX_PARALLELISM).contains(&parallelism) {
        issues.push(Issue::new(
            "runners.parallelism",
            format!("must be within [1, {MAX_PARALLELISM}], got {parallelism}"),
        ));
    }
    if config.load.sweep.is_some() && parallelism > 1 {
        issues.push(Issue::new(
            "load.sweep",
            format!(
                "a sweep runs in one runner; not allowed with runners.parallelism {parallelism}"
            ),
        ));
    }
    if config.load.slo_search.is_some() && parallelism > 1 {
        issues.push(Issue::new(
            "load.slo_search",
            format!(
                "a search decides each probe from the one before, so it runs in one runner; not allowed with runners.parallelism {parallelism}"
            ),
        ));
    }
    if config.load.load_type == LoadType::Concurrent {
        // Each runner keeps its share of the concurrency in flight; a runner with no share
        // could never send its requests.
        for (i, stage) in config.load.stages.iter().enumerate() {
            if let Some(level) = stage.concurrency_level
                && level < i64::from(parallelism)
            {
                issues.push(Issue::new(
                    format!("load.stages[{i}].concurrency_level"),
                    format!("must be at least runners.parallelism ({parallelism}): every runner needs one request in flight"),
                ));
            }
        }
    }
    if spec
        .max_failure_ratio
        .is_some_and(|r| !(0.0..=1.0).contains(&r))
    {
        issues.push(Issue::new(
            "max_failure_ratio",
            "must be between 0 (any failed request fails the run) and 1 (failures never do)",
        ));
    }
    if spec.active_deadline_seconds.is_some_and(|s| s < 1) {
        issues.push(Issue::new("active_deadline_seconds", "must be >= 1"));
    }
    if spec.ttl_seconds_after_finished.is_some_and(|s| s < 0) {
        issues.push(Issue::new("ttl_seconds_after_finished", "must be >= 0"));
    }
    if !issues.is_empty() {
        return Err(issues
            .into_iter()
            .map(|i| Issue::new(format!("spec.{}", camel_path(&i.path)), i.message))
            .collect());
    }

    // Every runner must draw the same plan: fix the seed here, from the run's identity, so a
    // restarted operator writes the same config.
    if config.load.base_seed.is_none() {
        let identity = format!("{uid}/{generation}");
        config.load.base_seed = Some((stable_hash(identity.as_bytes()) >> 1) as i64);
    }
    let names = RunNames::new(&ib.metadata.name.clone().unwrap_or_default(), generation);
    let created = ib
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0);
    resolve_bucket_paths(&mut config.storage, created, names.run());
    Ok(RunSpec {
        generation,
        names,
        run_id: spec.run_id.clone(),
        parallelism: parallelism as u32,
        image: spec
            .runners
            .image
            .clone()
            .unwrap_or_else(|| settings.runner_image.clone()),
        runners: RunnersSpec {
            resources: spec
                .runners
                .resources
                .clone()
                .or_else(|| settings.runner_resources.clone()),
            ..spec.runners.clone()
        },
        storage: config.storage.clone(),
        storage_secret: spec.storage_secret_ref.as_ref().map(|r| r.name.clone()),
        files: spec.files.clone(),
        fetches_inputs: input_files(&config)
            .iter()
            .any(|(_, value)| matches!(ObjectUrl::parse(value), Ok(Some(_)))),
        config_yaml: ibench_core::config::echo_yaml(&config),
        api_key,
        report: config.lifecycle_report(),
        slo_search: config.load.slo_search.is_some(),
        scrape_pods: config
            .metrics
            .as_ref()
            .and_then(|m| m.scrape.as_ref())
            .and_then(|s| s.pods.clone()),
        active_deadline_seconds: spec.active_deadline_seconds,
        max_failure_ratio: spec.max_failure_ratio,
        ttl_seconds_after_finished: spec.ttl_seconds_after_finished,
        termination_grace_seconds: spec.load.0.stage_teardown_grace_seconds.ceil() as i64
            + RESULTS_DELIVERY_SECONDS,
    })
}

/// Every file the config names must reach the runner pods: fetched from a URL, or mounted
/// from `spec.files`.
fn files(sources: &[InputFileSource], config: &Config, issues: &mut Vec<Issue>) {
    for (i, source) in sources.iter().enumerate() {
        let set = [
            source.config_map.is_some(),
            source.secret.is_some(),
            source.persistent_volume_claim.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            issues.push(Issue::new(
                format!("files[{i}]"),
                "set exactly one of config_map, secret and persistent_volume_claim",
            ));
        }
        if !source.path.starts_with('/') || source.path.ends_with('/') {
            issues.push(Issue::new(
                format!("files[{i}].path"),
                format!(
                    "{:?} must be an absolute path, not ending in /",
                    source.path
                ),
            ));
        }
        if sources[..i].iter().any(|other| other.path == source.path) {
            issues.push(Issue::new(
                format!("files[{i}].path"),
                format!("{} is mounted twice", source.path),
            ));
        }
    }
    for (field, value) in input_files(config) {
        let fetched = matches!(ObjectUrl::parse(&value), Ok(Some(_)) | Err(_));
        let mounted = sources.iter().any(|s| {
            value == s.path
                || value
                    .strip_prefix(&s.path)
                    .is_some_and(|rest| rest.starts_with('/'))
        });
        if !fetched && !mounted {
            issues.push(Issue::new(
                field,
                format!("{value}: runner pods cannot see the files of your machine; give an s3://, gs:// or https:// URL, or mount the file with files (a ConfigMap, Secret or PersistentVolumeClaim at this path)"),
            ));
        }
    }
}

/// Runners and the operator must agree on where objects go, and runs must not overwrite each
/// other: `{timestamp}` is the benchmark's creation time (the same for every reconcile), and
/// each run writes below its own name.
fn resolve_bucket_paths(storage: &mut StorageConfig, created: jiff::Timestamp, run: &str) {
    let timestamp = created.strftime("%Y%m%d-%H%M%S").to_string();
    let resolve = |path: &mut Option<String>| {
        let base = match path.as_deref() {
            Some(p) => p.replace("{timestamp}", &timestamp),
            None => format!("reports-{timestamp}"),
        };
        let base = base.trim_end_matches('/');
        *path = Some(if base.is_empty() {
            run.to_string()
        } else {
            format!("{base}/{run}")
        });
    };
    if let Some(gcs) = &mut storage.google_cloud_storage {
        resolve(&mut gcs.path);
    }
    if let Some(s3) = &mut storage.simple_storage_service {
        resolve(&mut s3.path);
    }
}

/// One line for a condition message: every issue, `path: message`, separated by `; `.
pub fn describe(issues: &[Issue]) -> String {
    issues
        .iter()
        .map(Issue::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{benchmark, settings};
    use serde_json::json;

    fn issues(spec: serde_json::Value) -> Vec<String> {
        let ib = benchmark("b", spec);
        run_spec(&ib, &settings())
            .unwrap_err()
            .iter()
            .map(Issue::to_string)
            .collect()
    }

    fn valid_spec() -> serde_json::Value {
        json!({
            "server": {"baseUrl": "http://127.0.0.1:8000", "modelName": "m"},
            "load": {"type": "constant", "stages": [{"rate": 40.0, "duration": 10}],
                     "loraTrafficSplit": [{"name": "a", "split": 0.5}, {"name": "b", "split": 0.5}]},
            "runners": {"parallelism": 2},
        })
    }

    #[test]
    fn valid_spec_gives_a_deterministic_snake_case_config() {
        let ib = benchmark("bench", valid_spec());
        let run = run_spec(&ib, &settings()).unwrap();
        assert_eq!(run.parallelism, 2);
        assert_eq!(run.names.run(), "bench-g1");
        assert_eq!(run.image, settings().runner_image);
        assert!(
            run.config_yaml.contains("lora_traffic_split"),
            "{}",
            run.config_yaml
        );
        assert!(run.config_yaml.contains("base_seed"), "{}", run.config_yaml);
        assert!(!run.config_yaml.contains("loraTrafficSplit"));
        assert_eq!(
            run_spec(&ib, &settings()).unwrap(),
            run,
            "same resource, same run"
        );
        // The runner accepts exactly what the operator writes.
        let doc: serde_json::Value = serde_yaml::from_str(&run.config_yaml).unwrap();
        ibench_core::config::from_document(doc).unwrap();

        let mut other = benchmark("bench", valid_spec());
        other.metadata.generation = Some(2);
        assert_ne!(
            run_spec(&other, &settings()).unwrap().config_yaml,
            run.config_yaml,
            "new run, new seed"
        );
    }

    #[test]
    fn secret_reference_leaves_the_config_and_inline_keys_are_refused() {
        let mut spec = valid_spec();
        spec["server"]["apiKeySecretRef"] = json!({"name": "creds", "key": "token"});
        let run = run_spec(&benchmark("b", spec.clone()), &settings()).unwrap();
        assert_eq!(
            run.api_key,
            Some(SecretKeyRef {
                name: "creds".into(),
                key: "token".into()
            })
        );
        assert!(
            !run.config_yaml.contains("creds") && !run.config_yaml.contains("api_key"),
            "{}",
            run.config_yaml
        );

        spec["server"]["apiKey"] = json!("sk-123");
        assert_eq!(
            issues(spec),
            vec![
                "spec.server.apiKey: not allowed in a resource; store the key in a Secret and set server.apiKeySecretRef"
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_resource_path() {
        let mut spec = valid_spec();
        spec["load"]["loraTrafficSplit"][1]["split"] = json!(0.4);
        spec["load"]["stages"][0]["rate"] = json!(0.0);
        spec["report"] = json!({"requestLifecycle": {"perRequest": true}});
        let found = issues(spec);
        assert!(
            found
                .iter()
                .any(|i| i.starts_with("spec.load.stages[0].rate: must be > 0")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|i| i.starts_with("spec.load.loraTrafficSplit: splits must sum to 1.0")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|i| i.starts_with("spec.report.requestLifecycle.perRequest:")),
            "{found:?}"
        );
    }

    #[test]
    fn sweeps_run_in_one_runner_and_files_are_refused() {
        let mut spec = valid_spec();
        spec["load"]["stages"] = json!([]);
        spec["load"]["sweep"] = json!({"type": "linear"});
        let found = issues(spec.clone());
        assert!(found.iter().any(|i| i == "spec.load.sweep: a sweep runs in one runner; not allowed with runners.parallelism 2"), "{found:?}");
        spec["runners"]["parallelism"] = json!(1);
        run_spec(&benchmark("b", spec), &settings()).expect("a sweep with one runner is valid");

        let mut spec = valid_spec();
        spec["data"] = json!({"type": "shareGPT", "path": "/data/sharegpt.json"});
        let found = issues(spec.clone());
        assert!(
            found.iter().any(|i| i.starts_with(
                "spec.data.path: /data/sharegpt.json: runner pods cannot see the files of your machine"
            )),
            "{found:?}"
        );
        // Mounted (as the file itself, or under a mounted directory) or fetched: valid.
        for files in [
            json!([{"path": "/data/sharegpt.json", "configMap": {"name": "d", "key": "s.json"}}]),
            json!([{"path": "/data", "persistentVolumeClaim": {"claimName": "datasets"}}]),
        ] {
            let mut mounted = spec.clone();
            mounted["files"] = files;
            run_spec(&benchmark("b", mounted), &settings()).expect("a mounted file is valid");
        }
        spec["data"]["path"] = json!("gs://datasets/sharegpt.json");
        run_spec(&benchmark("b", spec), &settings()).expect("a URL is valid");
    }

    #[test]
    fn tls_files_come_from_mounted_secrets() {
        let mut spec = valid_spec();
        spec["server"] = json!({
            "baseUrl": "https://vllm.models:8000", "modelName": "m",
            "caCertPath": "/tls/ca.pem", "certPath": "/tls/client.pem", "keyPath": "/tls/client-key.pem",
        });
        let found = issues(spec.clone());
        for field in ["caCertPath", "certPath", "keyPath"] {
            assert!(
                found
                    .iter()
                    .any(|i| i.starts_with(&format!("spec.server.{field}: /tls/"))
                        && i.contains("runner pods cannot see the files")),
                "{field}: {found:?}"
            );
        }
        // A cert-manager Secret holds all three (ca.crt, tls.crt, tls.key).
        let key = |path: &str, key: &str| json!({"path": path, "secret": {"name": "vllm-client-tls", "key": key}});
        spec["files"] = json!([
            key("/tls/ca.pem", "ca.crt"),
            key("/tls/client.pem", "tls.crt"),
            key("/tls/client-key.pem", "tls.key"),
        ]);
        let run =
            run_spec(&benchmark("b", spec), &settings()).expect("mounted TLS files are valid");
        assert!(
            run.config_yaml.contains("ca_cert_path: /tls/ca.pem"),
            "{}",
            run.config_yaml
        );
        assert_eq!(run.files.len(), 3);
    }

    #[test]
    fn files_have_one_source_and_distinct_paths() {
        let mut spec = valid_spec();
        spec["files"] = json!([
            {"path": "/in/a", "configMap": {"name": "a", "key": "k"}, "secret": {"name": "s", "key": "k"}},
            {"path": "/in/b"},
            {"path": "/in/b", "secret": {"name": "s", "key": "k"}},
        ]);
        let found = issues(spec);
        for expected in [
            "spec.files[0]: set exactly one of",
            "spec.files[1]: set exactly one of",
            "spec.files[2].path: /in/b is mounted twice",
        ] {
            assert!(
                found.iter().any(|i| i.starts_with(expected)),
                "{expected}: {found:?}"
            );
        }
    }

    #[test]
    fn buckets_get_one_folder_per_run_and_allow_per_request_records() {
        let mut spec = valid_spec();
        spec["report"] = json!({"requestLifecycle": {"perRequest": true}});
        spec["storage"] = json!({
            "simpleStorageService": {"bucketName": "r", "path": "team/{timestamp}", "endpointUrl": "http://127.0.0.1:9000"},
            "googleCloudStorage": {"bucketName": "g"},
        });
        spec["storageSecretRef"] = json!({"name": "bucket-keys"});
        let mut ib = benchmark("b", spec.clone());
        ib.metadata.creation_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-12-05T04:05:06Z".parse().unwrap(),
            ));
        let run = run_spec(&ib, &settings()).expect("valid");
        let s3 = run.storage.simple_storage_service.as_ref().unwrap();
        assert_eq!(s3.path.as_deref(), Some("team/20261205-040506/b-g1"));
        let gcs = run.storage.google_cloud_storage.as_ref().unwrap();
        assert_eq!(gcs.path.as_deref(), Some("reports-20261205-040506/b-g1"));
        assert!(run.config_yaml.contains("path: team/20261205-040506/b-g1"));
        assert_eq!(run.storage_secret.as_deref(), Some("bucket-keys"));

        spec["storage"] = json!({"localStorage": {"path": "/out"}});
        let found = issues(spec);
        assert!(
            found
                .iter()
                .any(|i| i.starts_with("spec.storage.localStorage: a runner pod's disk goes away")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|i| i.starts_with(
                "spec.report.requestLifecycle.perRequest: per-request records do not fit"
            )),
            "{found:?}"
        );
    }

    #[test]
    fn runner_resources_default_to_the_operators_setting() {
        let requests = |cpu: &str| k8s_openapi::api::core::v1::ResourceRequirements {
            requests: Some(
                [(
                    "cpu".to_string(),
                    k8s_openapi::apimachinery::pkg::api::resource::Quantity(cpu.into()),
                )]
                .into(),
            ),
            ..Default::default()
        };
        let settings = Settings {
            runner_resources: Some(requests("2")),
            ..settings()
        };
        let run = run_spec(&benchmark("b", valid_spec()), &settings).unwrap();
        assert_eq!(run.runners.resources, Some(requests("2")));
        let mut spec = valid_spec();
        spec["runners"]["resources"] = json!({"requests": {"cpu": "500m"}});
        let run = run_spec(&benchmark("b", spec), &settings).unwrap();
        assert_eq!(
            run.runners.resources,
            Some(requests("500m")),
            "the benchmark's own resources win"
        );
    }

    #[test]
    fn concurrent_rules() {
        let mut spec = valid_spec();
        spec["load"] = json!({"type": "concurrent", "stages": [{"rate": 5.0, "numRequests": 10, "concurrencyLevel": 1}]});
        let found = issues(spec);
        assert!(
            found.iter().any(|i| i
                .starts_with("spec.load.stages[0].rate: not allowed with load.type concurrent")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|i| i.starts_with(
                "spec.load.stages[0].concurrencyLevel: must be at least runners.parallelism (2)"
            )),
            "{found:?}"
        );
    }
}
