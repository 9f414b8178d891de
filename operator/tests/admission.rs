//! Admission on the real apiserver: the CRD's schema and CEL rules (generated from the Rust
//! types) reject invalid benchmarks with messages that name the field.

mod common;

use common::*;
use kube::api::PostParams;
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "server": {"baseUrl": "http://127.0.0.1:9", "modelName": "m"},
        "load": {"type": "constant", "stages": [{"rate": 10.0, "duration": 5}]},
    })
}

/// `spec` with the value at `pointer` set (added when the last segment is a new key).
fn with(mut spec: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    match spec
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{parent}"))
    {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().expect("an index")] = value,
        other => panic!("{parent} is {other}"),
    }
    spec
}

#[tokio::test]
async fn invalid_benchmarks_are_rejected_with_the_field_named() {
    let cp = cluster().await;
    let ns = cp.namespace("admission").await.expect("namespace");
    let client = cp.client();
    let cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "splits-do-not-sum-to-one",
            with(
                base(),
                "/load",
                json!({"type": "constant", "stages": [{"rate": 10.0, "duration": 5}],
                "loraTrafficSplit": [{"name": "a", "split": 0.5}, {"name": "b", "split": 0.4}]}),
            ),
            &["spec.load.loraTrafficSplit", "sum to 1.0"],
        ),
        (
            "concurrent-with-rate",
            with(
                base(),
                "/load",
                json!({"type": "concurrent", "stages": [{"rate": 5.0, "numRequests": 10, "concurrencyLevel": 2}]}),
            ),
            &[
                "spec.load.stages",
                "rate and duration: not allowed with load.type concurrent",
            ],
        ),
        (
            "rate-zero",
            with(base(), "/load/stages/0/rate", json!(0.0)),
            &["spec.load.stages", "rate: must be set and > 0"],
        ),
        (
            "duration-zero",
            with(base(), "/load/stages/0/duration", json!(0)),
            &["spec.load.stages", "duration: must be set and > 0"],
        ),
        (
            "rate-without-duration",
            with(base(), "/load/stages/0", json!({"rate": 3.0})),
            &["spec.load.stages", "duration: must be set"],
        ),
        (
            "concurrent-without-level",
            with(
                base(),
                "/load",
                json!({"type": "concurrent", "stages": [{"numRequests": 10}]}),
            ),
            &[
                "spec.load.stages",
                "numRequests and concurrencyLevel: must be set",
            ],
        ),
        (
            "requests-on-a-rate-stage",
            with(base(), "/load/stages/0/numRequests", json!(10)),
            &["spec.load.stages", "only allowed with load.type concurrent"],
        ),
        (
            "sweep-with-concurrent",
            with(
                base(),
                "/load",
                json!({"type": "concurrent", "stages": [{"numRequests": 10, "concurrencyLevel": 2}],
                "sweep": {"type": "linear"}}),
            ),
            &["spec.load.sweep", "only with load.type constant or poisson"],
        ),
        (
            "sweep-with-two-runners",
            json!({"server": {"baseUrl": "http://127.0.0.1:9", "modelName": "m"},
                "load": {"type": "constant", "sweep": {"type": "linear"}}, "runners": {"parallelism": 2}}),
            &[
                "spec.load.sweep",
                "a sweep runs in one runner; not allowed with runners.parallelism > 1",
            ],
        ),
        (
            "sweep-and-stages",
            with(base(), "/load/sweep", json!({"type": "linear"})),
            &["spec.load.stages", "a sweep generates the stages"],
        ),
        (
            "dataset-file",
            with(
                base(),
                "/data",
                json!({"type": "shareGPT", "path": "/data/sharegpt.json"}),
            ),
            &[
                "spec.data.path",
                "runner pods cannot see the files of your machine",
            ],
        ),
        (
            "unknown-load-type",
            with(base(), "/load/type", json!("poison")),
            &["spec.load.type", "Unsupported value"],
        ),
        (
            "too-many-runners",
            with(base(), "/runners", json!({"parallelism": 1001})),
            &["spec.runners.parallelism", "1000"],
        ),
        (
            "inline-api-key",
            with(base(), "/server/apiKey", json!("sk-123")),
            &["spec.server", "apiKeySecretRef"],
        ),
        (
            "per-request-records",
            with(
                base(),
                "/report",
                json!({"requestLifecycle": {"perRequest": true}}),
            ),
            &[
                "spec.report.requestLifecycle.perRequest",
                "configure storage",
            ],
        ),
        (
            "prometheus-url-and-google-managed",
            with(
                base(),
                "/metrics",
                json!({"type": "prometheus", "prometheus": {"url": "http://p:9090", "googleManaged": true}}),
            ),
            &[
                "spec.metrics.prometheus",
                "set exactly one of url (a Prometheus server) or googleManaged: true",
            ],
        ),
        (
            "prometheus-neither-url-nor-google-managed",
            with(
                base(),
                "/metrics",
                json!({"type": "prometheus", "prometheus": {"scrapeInterval": 5}}),
            ),
            &["spec.metrics.prometheus", "set exactly one of url"],
        ),
        (
            "scrape-pods-service-and-selector",
            with(
                base(),
                "/metrics",
                json!({"type": "scrape", "scrape": {"pods": {"service": "vllm", "selector": {"app": "vllm"}, "port": 8000}}}),
            ),
            &[
                "spec.metrics.scrape.pods",
                "set exactly one of service (a Service's pods) or selector (pod labels)",
            ],
        ),
        (
            "scrape-pods-and-urls",
            with(
                base(),
                "/metrics",
                json!({"type": "scrape", "scrape": {"urls": ["http://127.0.0.1:9/metrics"], "pods": {"service": "vllm", "port": 8000}}}),
            ),
            &["spec.metrics.scrape.pods", "not both"],
        ),
        (
            "scrape-pods-port-zero",
            with(
                base(),
                "/metrics",
                json!({"type": "scrape", "scrape": {"pods": {"service": "vllm", "port": 0}}}),
            ),
            &[
                "spec.metrics.scrape.pods.port",
                "should be greater than or equal to 1",
            ],
        ),
        (
            "breaker-not-defined",
            {
                let mut s = base();
                s["load"]["circuitBreakers"] = json!(["timeouts"]);
                s["circuitBreakers"] =
                    json!([{"name": "errors", "metrics": {"matches": ["error"]}, "triggers": []}]);
                s
            },
            &[
                "spec.load.circuitBreakers",
                "every name must be a breaker of spec.circuitBreakers",
            ],
        ),
        (
            "breaker-trigger-type",
            with(
                base(),
                "/circuitBreakers",
                json!([{"name": "errors", "metrics": {"matches": ["error"]}, "triggers": [{"type": "sometimes", "threshold": 1}]}]),
            ),
            &[
                "spec.circuitBreakers[0].triggers[0].type",
                "Unsupported value",
            ],
        ),
        (
            "slo-search-sharded",
            {
                let mut s = base();
                s["load"] =
                    json!({"type": "constant", "sloSearch": {"minRate": 50.0, "maxRate": 200.0}});
                s["report"] = json!({"slo": {"thresholds": [{"metric": "time_to_first_token", "stat": "p99", "max": 0.1}]}});
                s["runners"] = json!({"parallelism": 2});
                s
            },
            &["spec.load.sloSearch", "runs in one runner"],
        ),
        (
            "metrics-unknown-type",
            with(base(), "/metrics", json!({"type": "graphite"})),
            &["spec.metrics.type", "Unsupported value"],
        ),
        (
            "missing-server",
            {
                let mut s = base();
                s.as_object_mut().unwrap().remove("server");
                s
            },
            &["spec.server", "Required value"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, spec, expected) in &cases {
        match create_raw(&client, &ns, name, spec.clone()).await {
            Ok(()) => failures.push(format!("{name}: accepted")),
            Err(kube::Error::Api(status)) => {
                let message = &status.message;
                if status.code != 422 || !expected.iter().all(|e| message.contains(e)) {
                    failures.push(format!(
                        "{name}: {} {message:?}, expected {expected:?}",
                        status.code
                    ));
                } else {
                    eprintln!("{name}: {message}");
                }
            }
            Err(other) => failures.push(format!("{name}: {other}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn valid_benchmarks_are_stored_with_schema_defaults() {
    let cp = cluster().await;
    let ns = cp.namespace("admission-ok").await.expect("namespace");
    let client = cp.client();
    let mut spec = base();
    spec["load"]["loraTrafficSplit"] = json!([{"name": "a", "split": 0.1}, {"name": "b", "split": 0.2}, {"name": "c", "split": 0.7}]);
    spec["api"] = json!({"headers": {"X-Tenant_ID": "t1"}});
    let created = create_benchmark(&client, &ns, "ok", spec)
        .await
        .expect("a valid benchmark is accepted");
    // Defaults come from the schema (the runner's own defaults), so GitOps diffs stay clean.
    assert_eq!(created.spec.runners.parallelism, 1);
    assert_eq!(created.spec.load.0.worker_max_concurrency, 100);
    assert!(created.spec.report.0.request_lifecycle.per_adapter);
    assert_eq!(
        created.spec.api.0.headers.as_ref().unwrap()["X-Tenant_ID"],
        "t1",
        "map keys are not renamed"
    );
    let api: kube::Api<ibench_operator::crd::InferenceBenchmark> =
        kube::Api::namespaced(client.clone(), &ns);
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    for (name, spec) in [
        (
            "concurrent",
            json!({"server": {"baseUrl": "http://127.0.0.1:9"},
                "load": {"type": "concurrent", "stages": [{"numRequests": 100, "concurrencyLevel": 4}]}}),
        ),
        (
            "circuit-breaker",
            json!({"server": {"baseUrl": "http://127.0.0.1:9"},
                "load": {"stages": [{"rate": 1.0, "duration": 1}], "circuitBreakers": ["timeouts"]},
                "circuitBreakers": [{"name": "timeouts", "metrics": {"matches": ["error"], "rules": ["error.error_type == 'TimeoutError'"]},
                    "triggers": [{"type": "consecutive", "threshold": 10}, {"type": "rate_over_window", "windowSec": 5, "threshold": 0.5, "minSamples": 20}]}]}),
        ),
        (
            "slo-search",
            json!({"server": {"baseUrl": "http://127.0.0.1:9"},
                "load": {"type": "poisson", "sloSearch": {"minRate": 50.0, "maxRate": 200.0, "stageDuration": 10.0}},
                "report": {"slo": {"thresholds": [{"metric": "time_to_first_token", "stat": "p99", "max": 0.1}]}}}),
        ),
        (
            "sweep-in-one-runner",
            json!({"server": {"baseUrl": "http://127.0.0.1:9"}, "load": {"type": "poisson", "sweep": {"type": "geometric"}}}),
        ),
    ] {
        let object = serde_json::from_value(
            json!({"apiVersion": "inferencebench.dev/v1alpha1", "kind": "InferenceBenchmark",
            "metadata": {"name": name}, "spec": spec}),
        )
        .unwrap();
        api.create(&dry, &object)
            .await
            .unwrap_or_else(|e| panic!("{name} is valid: {e}"));
    }
}
