//! The Helm chart (charts/inference-bench) with the real `helm` binary: lint, rendering,
//! schema, server-side dry-run and Pod Security admission on the real API server, an install
//! that watches chosen namespaces only, and the Argo CD health check. The run of the operator
//! issue's end-to-end benchmark under the chart's cluster-wide RBAC is in `chart_rbac.rs`.

mod common;
mod manifests;

use common::*;
use ibench_operator::crd::{self, InferenceBenchmark};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Pod, ResourceRequirements};
use k8s_openapi::api::rbac::v1::Role;
use kube::Api;
use kube::api::PostParams;
use manifests::*;
use serde_json::{Value, json};

#[test]
fn chart_crds_are_the_repository_crds() {
    let repo = chart_dir().join("../..");
    let names = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let ours = names(&repo.join("crds"));
    assert!(!ours.is_empty());
    assert_eq!(
        names(&chart_dir().join("crds")),
        ours,
        "charts/inference-bench/crds/ holds exactly crds/"
    );
    for name in &ours {
        let read = |dir: &str| std::fs::read(repo.join(dir).join(name)).expect("CRD file");
        assert!(
            read("crds") == read("charts/inference-bench/crds"),
            "charts/inference-bench/crds/{name} differs from crds/{name}: cp crds/* charts/inference-bench/crds/"
        );
    }
}

#[test]
fn chart_app_version_is_the_workspace_version() {
    let chart: Value = serde_yaml::from_str(
        &std::fs::read_to_string(chart_dir().join("Chart.yaml")).expect("Chart.yaml"),
    )
    .expect("YAML");
    // The default image tags are the appVersion, and the images are built from this workspace.
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
}

/// The long flags of `ibench-operator run`, from its own help.
fn operator_flags() -> Vec<String> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ibench-operator"))
        .args(["run", "--help"])
        .output()
        .expect("ibench-operator");
    let help = String::from_utf8_lossy(&output.stdout).into_owned();
    help.split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| {
            w.trim_end_matches(',')
                .split(['=', '[', '<'])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn args(objects: &[Value]) -> Vec<String> {
    operator_container(objects)["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect()
}

fn flag<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
    args.iter()
        .filter_map(|a| a.strip_prefix(&format!("{name}=")))
        .collect()
}

fn rules(object: &Value) -> &Value {
    &object["rules"]
}

#[test]
fn chart_lints_and_renders_a_restricted_least_privilege_operator() {
    let chart = chart_dir();
    let chart = chart.to_str().expect("UTF-8");
    let variants: [&[&str]; 3] = [
        &[],
        &[
            "watchNamespaces={team-a,team-b}",
            "runner.resources.requests.cpu=2",
            "runner.resources.limits.memory=1Gi",
            "logFormat=text",
            "logFilter=debug",
        ],
        &[
            "metrics.serviceMonitor.enabled=true",
            "metrics.serviceMonitor.labels.release=prometheus",
        ],
    ];
    let known_flags = operator_flags();
    assert!(
        known_flags.contains(&"--runner-image".to_string()),
        "{known_flags:?}"
    );
    for values in variants {
        let mut lint = vec!["lint", "--strict", chart];
        let sets = set_args(values);
        lint.extend(sets.iter().map(String::as_str));
        let out = helm(&lint).expect_success(&format!("helm lint --strict {values:?}"));
        assert!(out.contains("0 chart(s) failed"), "{out}");
        // Every flag the chart passes is one the operator has.
        for arg in args(&documents(&template("ibench-system", values)))
            .iter()
            .skip(1)
        {
            let name = arg.split('=').next().unwrap_or_default();
            assert!(
                known_flags.iter().any(|f| f == name),
                "the chart passes {arg}, which ibench-operator run does not know ({known_flags:?})"
            );
        }
    }

    // Defaults: one operator, cluster-wide RBAC, restricted pod security, probes.
    let objects = documents(&template("ibench-system", &[]));
    let mut found = kinds(&objects);
    found.sort();
    assert_eq!(
        found,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Service",
            "ServiceAccount"
        ]
    );
    let deployment = only(&objects, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = operator_container(&objects);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "metrics"})
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "metrics"})
    );
    assert_eq!(
        container["ports"][0],
        json!({"name": "metrics", "containerPort": 8080, "protocol": "TCP"})
    );
    assert!(
        container["resources"]["requests"]["memory"].is_string()
            && container["resources"]["limits"]["memory"].is_string(),
        "{container}"
    );
    let defaults = args(&objects);
    assert_eq!(flag(&defaults, "--metrics-address"), ["0.0.0.0:8080"]);
    assert_eq!(
        flag(&defaults, "--runner-image"),
        [format!(
            "ghcr.io/inference-bench/ibench:{}",
            env!("CARGO_PKG_VERSION")
        )]
    );
    assert_eq!(flag(&defaults, "--log-format"), ["json"]);
    assert!(
        flag(&defaults, "--namespace").is_empty()
            && flag(&defaults, "--runner-resources").is_empty(),
        "{defaults:?}"
    );
    assert_eq!(
        container["image"],
        format!("{OPERATOR_IMAGE}:{}", env!("CARGO_PKG_VERSION"))
    );
    let service_account = only(&objects, "ServiceAccount")["metadata"]["name"].clone();
    assert_eq!(pod["serviceAccountName"], service_account);
    let binding = only(&objects, "ClusterRoleBinding");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": service_account, "namespace": "ibench-system"}])
    );
    assert_eq!(
        binding["roleRef"]["name"],
        only(&objects, "ClusterRole")["metadata"]["name"]
    );
    // The metrics Service selects the operator pod, and not the runner pods, which the
    // operator labels app.kubernetes.io/name=inference-bench too.
    let service = only(&objects, "Service");
    let pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .expect("pod labels");
    let selector = service["spec"]["selector"].as_object().expect("selector");
    assert!(
        selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)),
        "{selector:?} vs {pod_labels:?}"
    );
    assert!(
        selector.contains_key("app.kubernetes.io/instance")
            && selector.contains_key("app.kubernetes.io/component")
    );
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");

    // Watching namespaces: a Role and RoleBinding in each, the same rules, nothing cluster-wide.
    let namespaced = documents(&template("ibench-system", variants[1]));
    assert!(
        !kinds(&namespaced).iter().any(|k| k.starts_with("Cluster")),
        "{:?}",
        kinds(&namespaced)
    );
    for kind in ["Role", "RoleBinding"] {
        let mut namespaces: Vec<&str> = namespaced
            .iter()
            .filter(|o| o["kind"] == kind)
            .map(|o| o["metadata"]["namespace"].as_str().expect("namespace"))
            .collect();
        namespaces.sort();
        assert_eq!(namespaces, ["team-a", "team-b"], "{kind}");
    }
    for role in namespaced.iter().filter(|o| o["kind"] == "Role") {
        assert_eq!(rules(role), rules(only(&objects, "ClusterRole")));
    }
    let args_ns = args(&namespaced);
    assert_eq!(flag(&args_ns, "--namespace"), ["team-a", "team-b"]);
    assert_eq!(flag(&args_ns, "--log-format"), ["text"]);
    let resources: ResourceRequirements =
        serde_json::from_str(flag(&args_ns, "--runner-resources")[0])
            .expect("Kubernetes ResourceRequirements");
    assert_eq!(
        resources
            .requests
            .as_ref()
            .and_then(|r| r.get("cpu"))
            .map(|q| q.0.as_str()),
        Some("2")
    );
    assert_eq!(
        resources
            .limits
            .as_ref()
            .and_then(|r| r.get("memory"))
            .map(|q| q.0.as_str()),
        Some("1Gi")
    );
    assert_eq!(
        operator_container(&namespaced)["env"][1],
        json!({"name": "RUST_LOG", "value": "debug"})
    );

    // The ServiceMonitor scrapes the metrics Service's port.
    let monitored = documents(&template("ibench-system", variants[2]));
    let monitor = only(&monitored, "ServiceMonitor");
    let service = only(&monitored, "Service");
    let service_labels = service["metadata"]["labels"].as_object().expect("labels");
    let wanted = monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    assert!(
        wanted.iter().all(|(k, v)| service_labels.get(k) == Some(v)),
        "{wanted:?} vs {service_labels:?}"
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    // ... and it refuses to render without that Service.
    let mut args = vec![
        "template",
        "x",
        chart,
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.service.enabled=false",
    ];
    let refused = helm(&args);
    assert!(
        !refused.success && refused.stderr.contains("needs metrics.service.enabled"),
        "{}",
        refused.stderr
    );
    args.truncate(3);
    assert!(helm(&args).success);
}

#[test]
fn bad_values_are_rejected_by_the_schema() {
    let chart = chart_dir();
    let chart = chart.to_str().expect("UTF-8");
    // Each bad value, and where the schema's complaint points.
    let cases = [
        ("replicaCount=-1", "/replicaCount"),
        ("replicaCount=2", "/replicaCount"),
        ("bogus=1", "additional properties 'bogus' not allowed"),
        ("image.tagg=1.0", "additional properties 'tagg' not allowed"),
        ("logFormat=xml", "/logFormat"),
        ("watchNamespaces={Team_A}", "/watchNamespaces/0"),
        (
            "runner.resources.requests.cpu=lots",
            "/runner/resources/requests/cpu",
        ),
        ("runner.progressSeconds=0", "/runner/progressSeconds"),
        ("runner.progressSeconds=0.0", "/runner/progressSeconds"),
        ("metrics.port=70000", "/metrics/port"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
    ];
    for (value, complaint) in cases {
        for command in ["lint", "template"] {
            let out = helm(&[command, chart, "--set", value]);
            let text = format!("{}{}", out.stdout, out.stderr);
            assert!(!out.success, "helm {command} --set {value} passed:\n{text}");
            assert!(
                text.contains(complaint),
                "helm {command} --set {value}: expected {complaint:?} in\n{text}"
            );
        }
    }
    // The values themselves, and good overrides of the same keys, pass.
    for value in [
        "replicaCount=0",
        "logFormat=text",
        "watchNamespaces={team-a}",
        "runner.resources.requests.cpu=500m",
        "runner.progressSeconds=0.5",
    ] {
        let out = helm(&["lint", "--strict", chart, "--set", value]);
        assert!(
            out.success,
            "helm lint --set {value}:\n{}{}",
            out.stdout, out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_chart_passes_server_side_dry_run_and_restricted_pod_security() {
    let cp = cluster().await;
    let client = cp.client();
    let release_ns = restricted_namespace(cp, "chart-dry-run").await;
    let (team_a, team_b) = (
        cp.namespace("team-a").await.expect("ns"),
        cp.namespace("team-b").await.expect("ns"),
    );
    let watch = format!("watchNamespaces={{{team_a},{team_b}}}");
    for values in [
        vec![],
        vec![watch.as_str(), "runner.resources.requests.cpu=1"],
    ] {
        let objects = documents(&template(&release_ns, &values));
        for object in &objects {
            let applied = apply(&client, object, &release_ns, true)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{} {} refused: {e}",
                        object["kind"], object["metadata"]["name"]
                    )
                });
            assert_eq!(
                applied.metadata.name.as_deref(),
                object["metadata"]["name"].as_str()
            );
        }
    }
    // For real: the ServiceAccount (the operator pod below names it) and the per-namespace RBAC.
    let objects = documents(&template(&release_ns, &[watch.as_str()]));
    for object in objects.iter().filter(|o| {
        ["ServiceAccount", "Role", "RoleBinding"].contains(&o["kind"].as_str().unwrap_or_default())
    }) {
        apply(&client, object, &release_ns, false)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", object["kind"]));
    }

    // Pod Security admission judges pods, not Deployments: the operator pod the Deployment
    // would create is admitted in the restricted namespace ...
    let objects = documents(&template(&release_ns, &[]));
    let template = &only(&objects, "Deployment")["spec"]["template"];
    let pod_of = |spec: &Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "operator-pod", "namespace": release_ns, "labels": template["metadata"]["labels"]}, "spec": spec});
    let pods: Api<Pod> = Api::namespaced(client.clone(), &release_ns);
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let pod: Pod = serde_json::from_value(pod_of(&template["spec"])).expect("a pod");
    pods.create(&dry_run, &pod)
        .await
        .unwrap_or_else(|e| panic!("the operator pod violates the restricted profile: {e}"));
    // ... and the same pod with any of the chart's hardening undone is refused.
    for (field, weaker) in [
        ("/securityContext/allowPrivilegeEscalation", json!(true)),
        ("/securityContext/capabilities/drop", json!([])),
        ("/securityContext/runAsNonRoot", json!(false)),
    ] {
        let mut spec = template["spec"].clone();
        let target = if field == "/securityContext/runAsNonRoot" {
            &mut spec
        } else {
            &mut spec["containers"][0]
        };
        *target.pointer_mut(field).expect("field rendered") = weaker;
        let pod: Pod = serde_json::from_value(pod_of(&spec)).expect("a pod");
        match pods.create(&dry_run, &pod).await {
            Err(kube::Error::Api(status)) => assert!(
                status.message.contains("violates PodSecurity"),
                "{field}: {status:?}"
            ),
            other => panic!("{field} weakened, yet admitted: {other:?}"),
        }
    }
}

fn ready_benchmark_spec(base_url: &str) -> Value {
    spec(base_url, "base-model", 5.0, 2, 1)
}

/// Whether the operator's identity may `verb` `resource` in `namespace`.
async fn allowed(
    client: &kube::Client,
    user: &str,
    verb: &str,
    resource: &str,
    group: &str,
    namespace: Option<&str>,
) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.into()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                group: Some(group.into()),
                namespace: namespace.map(Into::into),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SubjectAccessReview");
    answer.status.is_some_and(|s| s.allowed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_watching_one_namespace_runs_its_benchmarks_with_roles_only() {
    let cp = cluster().await;
    let client = cp.client();
    cp.map_image(OPERATOR_IMAGE, env!("CARGO_BIN_EXE_ibench-operator"));
    let release_ns = restricted_namespace(cp, "chart-ns").await;
    let watched = restricted_namespace(cp, "chart-watched").await;
    let other = cp.namespace("chart-unwatched").await.expect("namespace");
    let port = free_port().to_string();
    let mut values = test_values(&port);
    values.push(format!("watchNamespaces={{{watched}}}"));
    install(cp, &release_ns, &values);
    // The operator's identity: a Role in the watched namespace, nothing elsewhere.
    let user = format!("system:serviceaccount:{release_ns}:{RELEASE}-inference-bench");
    assert!(allowed(&client, &user, "list", "jobs", "batch", Some(&watched)).await);
    assert!(!allowed(&client, &user, "list", "jobs", "batch", Some(&other)).await);
    assert!(
        !allowed(&client, &user, "list", "jobs", "batch", None).await,
        "no cluster-wide permission"
    );
    assert!(
        Api::<Role>::namespaced(client.clone(), &watched)
            .get_opt(&format!("{RELEASE}-inference-bench"))
            .await
            .expect("get")
            .is_some()
    );

    // The operator pod (run by the process kubelet from the chart's Deployment) gets ready.
    wait_ready(cp, &release_ns, &port).await;

    let sim = simulator("base-model", &[]).await;
    create_benchmark(
        &client,
        &watched,
        "ok",
        ready_benchmark_spec(&sim.base_url()),
    )
    .await
    .expect("created");
    let mut broken = ready_benchmark_spec(&sim.base_url());
    broken["runners"]["image"] = json!("registry.invalid/not-a-runner:1");
    create_benchmark(&client, &watched, "broken", broken)
        .await
        .expect("created");
    create_benchmark(
        &client,
        &other,
        "ignored",
        ready_benchmark_spec(&sim.base_url()),
    )
    .await
    .expect("created");
    let benchmarks = |ns: &str| Api::<InferenceBenchmark>::namespaced(client.clone(), ns);
    let fresh = benchmarks(&other).get("ignored").await.expect("get");
    assert_eq!(
        argocd_health(&serde_json::to_value(&fresh).expect("JSON")).0,
        "Progressing",
        "no status yet"
    );

    let ok = finished(cp, &watched, "ok", &release_ns).await;
    assert_eq!(
        condition(&ok, crd::CONDITION_SUCCEEDED).map(|c| c.status.as_str()),
        Some("True"),
        "{:#?}",
        ok.status
    );
    assert_eq!(
        argocd_health(&serde_json::to_value(&ok).expect("JSON")).0,
        "Healthy"
    );
    assert_eq!(sim.stats().requests_received, 10, "2 s at 5 req/s");
    let broken = finished(cp, &watched, "broken", &release_ns).await;
    assert_eq!(
        condition(&broken, crd::CONDITION_SUCCEEDED).map(|c| c.status.as_str()),
        Some("False"),
        "{:#?}",
        broken.status
    );
    let (health, message) = argocd_health(&serde_json::to_value(&broken).expect("JSON"));
    assert_eq!(health, "Degraded", "{message}");
    assert!(message.contains("RunnerFailed"), "{message}");

    // The benchmark outside the watched namespace was never touched.
    let ignored = benchmarks(&other).get("ignored").await.expect("get");
    assert!(ignored.status.is_none(), "{:?}", ignored.status);
    let log = operator_log(cp, &release_ns).await;
    assert!(
        log.lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "JSON logs:\n{log}"
    );
    assert!(!log.contains("forbidden"), "a request was refused:\n{log}");

    // Uninstalling removes the operator's permissions.
    let kubeconfig = cp.kubeconfig_path().to_str().expect("UTF-8");
    helm(&[
        "uninstall",
        RELEASE,
        "--namespace",
        &release_ns,
        "--kubeconfig",
        kubeconfig,
        "--wait",
    ])
    .expect_success("helm uninstall");
    assert!(
        Api::<Role>::namespaced(client.clone(), &watched)
            .get_opt(&format!("{RELEASE}-inference-bench"))
            .await
            .expect("get")
            .is_none()
    );
    sim.shutdown().await;
}

#[test]
fn argocd_health_follows_the_succeeded_and_slo_met_conditions_of_the_current_generation() {
    let condition = |type_: &str, status: &str, reason: &str, message: &str| json!({"type": type_, "status": status, "reason": reason, "message": message, "observedGeneration": 2, "lastTransitionTime": "2026-01-01T00:00:00Z"});
    // Statuses in the shape of the operator's own type (they round-trip through it).
    let benchmark = |generation: i64, conditions: Vec<Value>| {
        let object = json!({
            "apiVersion": crd::API_VERSION, "kind": crd::KIND,
            "metadata": {"name": "b", "namespace": "ns", "generation": 2},
            "spec": {"server": {"baseUrl": "http://x"}, "load": {"stages": [{"rate": 1.0, "duration": 1}]}},
            "status": {"observedGeneration": generation, "conditions": conditions},
        });
        let typed: InferenceBenchmark =
            serde_json::from_value(object).expect("the operator's shape");
        argocd_health(&serde_json::to_value(typed).expect("JSON"))
    };
    let accepted = condition("Accepted", "True", "Validated", "");
    let cases = [
        (
            1,
            vec![condition("Succeeded", "True", "Completed", "done")],
            "Progressing",
            "generation 2",
        ),
        (
            2,
            vec![
                accepted.clone(),
                condition("Running", "True", "RunnersActive", "2/2 runners active"),
                condition("Succeeded", "Unknown", "InProgress", ""),
            ],
            "Progressing",
            "2/2 runners active",
        ),
        (
            2,
            vec![
                accepted.clone(),
                condition("Succeeded", "True", "Completed", "400 requests"),
            ],
            "Healthy",
            "Completed: 400 requests",
        ),
        (
            2,
            vec![
                accepted.clone(),
                condition("Succeeded", "False", "DeadlineExceeded", "after 600 s"),
            ],
            "Degraded",
            "DeadlineExceeded: after 600 s",
        ),
        (
            2,
            vec![
                condition(
                    "Accepted",
                    "False",
                    "InvalidSpec",
                    "spec.load.stages[0].rate: must be > 0",
                ),
                condition("Succeeded", "False", "InvalidSpec", ""),
            ],
            "Degraded",
            "InvalidSpec: spec.load.stages[0].rate",
        ),
        (
            2,
            vec![
                accepted.clone(),
                condition("Succeeded", "True", "Completed", "400 requests"),
                condition(
                    "SLOMet",
                    "False",
                    "ObjectivesMissed",
                    "1 of 4 SLO checks failed: stage_0: time_to_first_token p99 = 0.61 > max 0.5",
                ),
            ],
            "Degraded",
            "ObjectivesMissed: 1 of 4 SLO checks failed: stage_0: time_to_first_token p99",
        ),
        (
            2,
            vec![
                accepted.clone(),
                condition("Succeeded", "True", "Completed", "400 requests"),
                condition("SLOMet", "True", "ObjectivesMet", "all 4 SLO checks passed"),
            ],
            "Healthy",
            "Completed: 400 requests",
        ),
        (
            2,
            vec![
                accepted.clone(),
                condition("Running", "True", "Running", "stage 0: 10/40 requests sent"),
                condition("Succeeded", "Unknown", "InProgress", ""),
                condition("SLOMet", "Unknown", "InProgress", ""),
            ],
            "Progressing",
            "stage 0: 10/40 requests sent",
        ),
    ];
    for (generation, conditions, status, message) in cases {
        let (health, text) = benchmark(generation, conditions.clone());
        assert_eq!(health, status, "{conditions:?}: {text}");
        assert!(
            text.contains(message),
            "{conditions:?}: {text:?} lacks {message:?}"
        );
    }
    let (health, _) = argocd_health(&json!({"metadata": {"name": "b", "generation": 1}}));
    assert_eq!(health, "Progressing", "no status yet");
}
