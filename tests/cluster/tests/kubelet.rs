//! The process kubelet: unknown images, the container environment, deletion, restarts, and
//! Deployments with garbage collection.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PropagationPolicy};
use serde_json::json;

fn host_pod(name: &str, script: &str, restart_policy: &str) -> serde_json::Value {
    json!({
        "metadata": { "name": name, "labels": { "app": "env-check" } },
        "spec": {
            "restartPolicy": restart_policy,
            "containers": [{ "name": "main", "image": HOST_IMAGE, "command": ["sh", "-c"], "args": [script] }],
        },
    })
}

#[tokio::test]
async fn node_is_registered_ready() {
    let cp = cluster().await;
    let node = Api::<Node>::all(cp.client())
        .get(cp.node_name())
        .await
        .unwrap();
    let conditions = node.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        "{conditions:?}"
    );
}

#[tokio::test]
async fn unknown_image_fails_the_pod_with_a_clear_reason() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("unknown-image").await);
    let _: Pod = create(cp, &ns, json!({
        "metadata": { "name": "nginx" },
        "spec": { "restartPolicy": "Never", "containers": [{ "name": "web", "image": "docker.io/library/nginx:1.27" }] },
    }))
    .await;
    let pods: Api<Pod> = Api::namespaced(cp.client(), &ns);
    let pod = ok(cp
        .wait_for(&pods, "nginx", Duration::from_secs(30), |p| {
            pod_phase(p) == "Failed"
        })
        .await);
    let status = pod.status.unwrap();
    assert_eq!(status.reason.as_deref(), Some("ImageNotMapped"));
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains("docker.io/library/nginx:1.27") && message.contains(INDEX_WRITER_IMAGE),
        "{message}"
    );
}

#[tokio::test]
async fn container_environment_follows_the_pod_spec() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("env").await);
    let _: ConfigMap = create(cp, &ns, json!({ "metadata": { "name": "settings" }, "data": { "color": "blue", "BULK": "from-envfrom" } })).await;
    let _: Secret = create(
        cp,
        &ns,
        json!({ "metadata": { "name": "creds" }, "stringData": { "password": "hunter2" } }),
    )
    .await;
    let script = r#"echo "name=$POD_NAME ns=$(POD_NS) uid=${POD_UID:+set} app=$APP color=$COLOR pw=$PASSWORD bulk=$CFG_BULK opt=${OPTIONAL:-unset} greeting=$GREETING arg=$(GREETING)" 'escaped=$$(GREETING)' "svc=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT cpu=$CPU"; test -s "$KUBECONFIG""#;
    let mut pod = host_pod("env", script, "Never");
    pod["spec"]["containers"][0]["envFrom"] =
        json!([{ "prefix": "CFG_", "configMapRef": { "name": "settings" } }]);
    pod["spec"]["containers"][0]["env"] = json!([
        { "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
        { "name": "POD_NS", "valueFrom": { "fieldRef": { "fieldPath": "metadata.namespace" } } },
        { "name": "POD_UID", "valueFrom": { "fieldRef": { "fieldPath": "metadata.uid" } } },
        { "name": "APP", "valueFrom": { "fieldRef": { "fieldPath": "metadata.labels['app']" } } },
        { "name": "COLOR", "valueFrom": { "configMapKeyRef": { "name": "settings", "key": "color" } } },
        { "name": "PASSWORD", "valueFrom": { "secretKeyRef": { "name": "creds", "key": "password" } } },
        { "name": "OPTIONAL", "valueFrom": { "configMapKeyRef": { "name": "missing", "key": "x", "optional": true } } },
        { "name": "GREETING", "value": "hello-$(COLOR)" },
        { "name": "CPU", "valueFrom": { "resourceFieldRef": { "resource": "limits.cpu", "divisor": "1m" } } },
    ]);
    pod["spec"]["containers"][0]["resources"] = json!({ "limits": { "cpu": "250m" } });
    let _: Pod = create(cp, &ns, pod).await;
    let pods: Api<Pod> = Api::namespaced(cp.client(), &ns);
    let pod = ok(cp
        .wait_for(&pods, "env", Duration::from_secs(30), |p| {
            matches!(pod_phase(p), "Succeeded" | "Failed")
        })
        .await);
    let log = cp.container_log(&ns, "env", "main").unwrap_or_default();
    assert_eq!(
        pod_phase(&pod),
        "Succeeded",
        "{log}\n{}",
        cp.diagnostics(&ns).await
    );
    let expected = format!(
        "name=env ns={ns} uid=set app=env-check color=blue pw=hunter2 bulk=from-envfrom opt=unset greeting=hello-blue arg=hello-blue escaped=$(GREETING) svc=127.0.0.1:{} cpu=250",
        cp.api_port()
    );
    assert_eq!(log.trim(), expected);
}

#[tokio::test]
async fn missing_config_map_keeps_the_container_waiting_until_it_appears() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("late-config").await);
    let mut pod = host_pod("late", "echo value=$V", "Never");
    pod["spec"]["containers"][0]["env"] = json!([{ "name": "V", "valueFrom": { "configMapKeyRef": { "name": "late", "key": "v" } } }]);
    let _: Pod = create(cp, &ns, pod).await;
    let pods: Api<Pod> = Api::namespaced(cp.client(), &ns);
    let waiting = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .and_then(|w| w.reason.as_deref())
                        == Some("CreateContainerConfigError")
                })
            })
    };
    ok(cp
        .wait_for(&pods, "late", Duration::from_secs(30), waiting)
        .await);
    let _: ConfigMap = create(
        cp,
        &ns,
        json!({ "metadata": { "name": "late" }, "data": { "v": "arrived" } }),
    )
    .await;
    ok(cp
        .wait_for(&pods, "late", Duration::from_secs(30), |p| {
            pod_phase(p) == "Succeeded"
        })
        .await);
    assert_eq!(
        cp.container_log(&ns, "late", "main")
            .unwrap_or_default()
            .trim(),
        "value=arrived"
    );
}

#[tokio::test]
async fn deleting_a_running_pod_stops_its_process() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("delete").await);
    let _: Pod = create(
        cp,
        &ns,
        host_pod("sleeper", "echo started; exec sleep 300", "Never"),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(cp.client(), &ns);
    ok(cp
        .wait_for(&pods, "sleeper", Duration::from_secs(30), |p| {
            pod_phase(p) == "Running"
        })
        .await);
    pods.delete("sleeper", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while pods.get_opt("sleeper").await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "pod still exists\n{}",
            cp.diagnostics(&ns).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn on_failure_restarts_until_success() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("restart").await);
    // Fails on the first run, succeeds on the second (the marker file survives in $HOME).
    let script = r#"if [ -e "$HOME/ran" ]; then echo second; exit 0; fi; touch "$HOME/ran"; echo first; exit 7"#;
    let _: Pod = create(cp, &ns, host_pod("flaky", script, "OnFailure")).await;
    let pods: Api<Pod> = Api::namespaced(cp.client(), &ns);
    let pod = ok(cp
        .wait_for(&pods, "flaky", Duration::from_secs(30), |p| {
            matches!(pod_phase(p), "Succeeded" | "Failed")
        })
        .await);
    assert_eq!(pod_phase(&pod), "Succeeded");
    let cs = &pod.status.unwrap().container_statuses.unwrap()[0];
    assert_eq!(cs.restart_count, 1);
    assert_eq!(
        cs.last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| t.exit_code),
        Some(7)
    );
    assert_eq!(
        cp.container_log(&ns, "flaky", "main").unwrap_or_default(),
        "first\nsecond\n"
    );
}

#[tokio::test]
async fn deployment_becomes_available_and_is_garbage_collected() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("deploy").await);
    let _: Deployment = create(cp, &ns, json!({
        "metadata": { "name": "web" },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": { "containers": [{ "name": "web", "image": HOST_IMAGE, "command": ["sleep", "3600"] }] },
            },
        },
    }))
    .await;
    let deployments: Api<Deployment> = Api::namespaced(cp.client(), &ns);
    ok(cp
        .wait_for(&deployments, "web", Duration::from_secs(60), |d| {
            d.status.as_ref().and_then(|s| s.available_replicas) == Some(2)
        })
        .await);

    let foreground = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..Default::default()
    };
    deployments.delete("web", &foreground).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(cp.client(), &ns);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let remaining = pods.list(&ListParams::default()).await.unwrap().items.len();
        let deployment = deployments.get_opt("web").await.unwrap();
        if remaining == 0 && deployment.is_none() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{remaining} pods left\n{}",
            cp.diagnostics(&ns).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn pod_logs_are_served_through_the_api() {
    use futures::AsyncReadExt;
    use kube::api::LogParams;

    let cp = cluster().await;
    let ns = ok(cp.namespace("logs").await);
    let _: Pod = create(
        cp,
        &ns,
        host_pod("talker", "echo one; echo two; sleep 1; echo three", "Never"),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(cp.client(), &ns);
    ok(cp
        .wait_for(&pods, "talker", Duration::from_secs(30), |p| {
            pod_phase(p) != "Pending"
        })
        .await);

    // follow=true streams until the container ends.
    let follow = LogParams {
        follow: true,
        ..Default::default()
    };
    let mut stream = pods.log_stream("talker", &follow).await.unwrap();
    let mut followed = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        stream.read_to_string(&mut followed),
    )
    .await
    .expect("follow ended")
    .unwrap();
    assert_eq!(followed, "one\ntwo\nthree\n");

    ok(cp
        .wait_for(&pods, "talker", Duration::from_secs(30), |p| {
            pod_phase(p) == "Succeeded"
        })
        .await);
    let last = pods
        .logs(
            "talker",
            &LogParams {
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(last, "three\n");
}
