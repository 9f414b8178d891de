//! The process kubelet: unknown images, the container environment, volumes and mounts,
//! deletion, restarts, and Deployments with garbage collection.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Node, PersistentVolume, PersistentVolumeClaim, Pod, Secret,
};
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

/// Waits (bounded) for the Pod to end and returns it with its container's log; panics with
/// the diagnostics unless it succeeded.
async fn run_to_success(cp: &ibench_testcluster::ControlPlane, ns: &str, name: &str) -> String {
    let pods: Api<Pod> = Api::namespaced(cp.client(), ns);
    let pod = ok(cp
        .wait_for(&pods, name, Duration::from_secs(60), |p| {
            matches!(pod_phase(p), "Succeeded" | "Failed")
        })
        .await);
    let log = cp.container_log(ns, name, "main").unwrap_or_default();
    assert_eq!(
        pod_phase(&pod),
        "Succeeded",
        "{log}\n{}",
        cp.diagnostics(ns).await
    );
    log
}

/// Messages of the Pod's waiting containers.
fn waiting_messages(pod: &Pod) -> String {
    pod.status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.message.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A mount point that does not exist on the host, which the kubelet must not create there.
const INPUTS: &str = "/inputs";

#[tokio::test]
async fn config_map_key_is_mounted_read_only_at_a_sub_path() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("cm-subpath").await);
    let _: ConfigMap = create(
        cp,
        &ns,
        json!({
            "metadata": { "name": "trace" },
            "data": { "trace.csv": "input,output\n10,20\n", "other.json": "{}" },
        }),
    )
    .await;
    let script = r#"cat /inputs/trace.csv; ls -A /inputs; if echo x >> /inputs/trace.csv; then echo WRITABLE; fi"#;
    let mut pod = host_pod("reader", script, "Never");
    pod["spec"]["volumes"] = json!([{ "name": "inputs", "configMap": { "name": "trace" } }]);
    pod["spec"]["containers"][0]["volumeMounts"] = json!([
        { "name": "inputs", "mountPath": "/inputs/trace.csv", "subPath": "trace.csv" },
    ]);
    let _: Pod = create(cp, &ns, pod).await;
    let log = run_to_success(cp, &ns, "reader").await;
    assert!(log.starts_with("input,output\n10,20\ntrace.csv\n"), "{log}");
    // A ConfigMap volume is read-only even without `readOnly` on the mount.
    assert!(
        log.contains("Read-only file system") && !log.contains("WRITABLE"),
        "{log}"
    );
    assert!(
        !std::path::Path::new(INPUTS).exists(),
        "{INPUTS} was created on the host"
    );
}

#[tokio::test]
async fn secret_items_map_keys_to_paths_with_the_default_mode() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("secret-items").await);
    let _: Secret = create(
        cp,
        &ns,
        json!({
            "metadata": { "name": "creds" },
            "stringData": { "token": "s3cret", "unused": "never mounted" },
        }),
    )
    .await;
    // /var/run/ibench-optional: a missing mount point below an existing directory (/run).
    let script = r#"cat /etc/ibench/creds/auth/token; echo; stat -c %a /etc/ibench/creds/auth/token; ls -A /etc/ibench/creds; ls /var/run/ibench-optional | wc -l"#;
    let mut pod = host_pod("secret", script, "Never");
    pod["spec"]["volumes"] = json!([
        { "name": "creds", "secret": {
            "secretName": "creds",
            "defaultMode": 0o400,
            "items": [{ "key": "token", "path": "auth/token" }],
        } },
        { "name": "optional", "secret": { "secretName": "absent", "optional": true } },
    ]);
    pod["spec"]["containers"][0]["volumeMounts"] = json!([
        { "name": "creds", "mountPath": "/etc/ibench/creds" },
        { "name": "optional", "mountPath": "/var/run/ibench-optional" },
    ]);
    let _: Pod = create(cp, &ns, pod).await;
    let log = run_to_success(cp, &ns, "secret").await;
    // The atomic writer's layout: `..data`, its timestamped target, and the top-level links.
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[..2], ["s3cret", "400"], "{log}");
    assert!(lines[2].starts_with("..20"), "{log}");
    assert_eq!(lines[3..], ["..data", "auth", "0"], "{log}");
    assert!(!std::path::Path::new("/etc/ibench").exists());
    assert!(!std::path::Path::new("/run/ibench-optional").exists());
}

#[tokio::test]
async fn claim_bound_to_a_host_path_volume_is_read_only_when_mounted_so() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("pvc").await);
    let data = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..1_500_000u32)
        .map(|i| b"0123456789abcdef"[(i % 16) as usize])
        .collect();
    std::fs::write(data.path().join("big.bin"), &big).unwrap();
    // claimRef reserves the volume for this claim: other tests' claims cannot take it.
    let pv_name = format!("{ns}-data");
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": { "name": pv_name },
        "spec": {
            "capacity": { "storage": "1Gi" },
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": { "path": data.path(), "type": "Directory" },
            "claimRef": { "namespace": ns, "name": "data" },
        },
    }))
    .unwrap();
    let pvs: Api<PersistentVolume> = Api::all(cp.client());
    pvs.create(&Default::default(), &pv).await.unwrap();
    let _: PersistentVolumeClaim = create(
        cp,
        &ns,
        json!({
            "metadata": { "name": "data" },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "resources": { "requests": { "storage": "1Gi" } },
            },
        }),
    )
    .await;
    let script = r#"wc -c < /data/big.bin; tail -c 4 /data/big.bin; echo; if touch /data/new; then echo WRITABLE; fi"#;
    let mut pod = host_pod("claimant", script, "Never");
    pod["spec"]["volumes"] =
        json!([{ "name": "data", "persistentVolumeClaim": { "claimName": "data" } }]);
    pod["spec"]["containers"][0]["volumeMounts"] =
        json!([{ "name": "data", "mountPath": "/data", "readOnly": true }]);
    let _: Pod = create(cp, &ns, pod).await;
    let log = run_to_success(cp, &ns, "claimant").await;
    assert!(log.starts_with("1500000\ncdef\n"), "{log}");
    assert!(
        log.contains("Read-only file system") && !log.contains("WRITABLE"),
        "{log}"
    );
    assert!(!data.path().join("new").exists());
    assert!(!std::path::Path::new("/data").exists());
}

#[tokio::test]
async fn claim_bound_to_a_local_volume_is_writable_with_a_created_sub_path() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("pvc-local").await);
    let data = tempfile::tempdir().unwrap();
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": { "name": format!("{ns}-results") },
        "spec": {
            "capacity": { "storage": "1Gi" },
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "local": { "path": data.path() },
            "nodeAffinity": { "required": { "nodeSelectorTerms": [{ "matchExpressions": [
                { "key": "kubernetes.io/hostname", "operator": "In", "values": [cp.node_name()] },
            ] }] } },
            "claimRef": { "namespace": ns, "name": "results" },
        },
    }))
    .unwrap();
    let pvs: Api<PersistentVolume> = Api::all(cp.client());
    pvs.create(&Default::default(), &pv).await.unwrap();
    let _: PersistentVolumeClaim = create(
        cp,
        &ns,
        json!({
            "metadata": { "name": "results" },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "resources": { "requests": { "storage": "1Gi" } },
            },
        }),
    )
    .await;
    let mut pod = host_pod("writer", "echo done > /results/report.txt", "Never");
    pod["spec"]["volumes"] =
        json!([{ "name": "results", "persistentVolumeClaim": { "claimName": "results" } }]);
    pod["spec"]["containers"][0]["volumeMounts"] = json!([
        { "name": "results", "mountPath": "/results", "subPathExpr": "runs/$(POD_NAME)" },
    ]);
    pod["spec"]["containers"][0]["env"] = json!([
        { "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
    ]);
    let _: Pod = create(cp, &ns, pod).await;
    run_to_success(cp, &ns, "writer").await;
    assert_eq!(
        std::fs::read_to_string(data.path().join("runs/writer/report.txt")).unwrap(),
        "done\n"
    );
    assert!(!std::path::Path::new("/results").exists());
}

#[tokio::test]
async fn pods_mounting_different_config_maps_at_one_path_see_their_own() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("same-path").await);
    // Both Pods share a host directory to prove that they ran at the same time.
    let sync = tempfile::tempdir().unwrap();
    for name in ["one", "two"] {
        let _: ConfigMap = create(
            cp,
            &ns,
            json!({ "metadata": { "name": name }, "data": { "name": name } }),
        )
        .await;
    }
    for (me, other) in [("one", "two"), ("two", "one")] {
        let script = format!(
            r#"cat /inputs/name; echo; touch /sync/{me}; i=0; while [ ! -e /sync/{other} ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i+1)); done; test -e /sync/{other} && cat /inputs/name"#
        );
        let mut pod = host_pod(me, &script, "Never");
        pod["spec"]["volumes"] = json!([
            { "name": "inputs", "configMap": { "name": me } },
            { "name": "sync", "hostPath": { "path": sync.path(), "type": "Directory" } },
        ]);
        pod["spec"]["containers"][0]["volumeMounts"] = json!([
            { "name": "inputs", "mountPath": INPUTS },
            { "name": "sync", "mountPath": "/sync" },
        ]);
        let _: Pod = create(cp, &ns, pod).await;
    }
    for name in ["one", "two"] {
        let log = run_to_success(cp, &ns, name).await;
        assert_eq!(log, format!("{name}\n{name}"), "{name}");
    }
    assert!(!std::path::Path::new(INPUTS).exists());
}

#[tokio::test]
async fn empty_dir_is_shared_by_the_containers_of_a_pod() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("empty-dir").await);
    let mut pod = host_pod("scratch", "cat /scratch/greeting", "Never");
    pod["spec"]["volumes"] = json!([{ "name": "scratch", "emptyDir": {} }]);
    pod["spec"]["initContainers"] = json!([{
        "name": "init", "image": HOST_IMAGE, "command": ["sh", "-c", "echo hello > /scratch/greeting"],
        "volumeMounts": [{ "name": "scratch", "mountPath": "/scratch" }],
    }]);
    pod["spec"]["containers"][0]["volumeMounts"] =
        json!([{ "name": "scratch", "mountPath": "/scratch", "readOnly": true }]);
    let _: Pod = create(cp, &ns, pod).await;
    assert_eq!(run_to_success(cp, &ns, "scratch").await, "hello\n");
}

#[tokio::test]
async fn missing_config_map_volume_keeps_the_pod_pending_until_it_appears() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("cm-missing").await);
    let mut pod = host_pod("waiting", "cat /inputs/v", "Never");
    pod["spec"]["volumes"] = json!([{ "name": "inputs", "configMap": { "name": "late-inputs" } }]);
    pod["spec"]["containers"][0]["volumeMounts"] =
        json!([{ "name": "inputs", "mountPath": INPUTS }]);
    let _: Pod = create(cp, &ns, pod).await;
    let pods: Api<Pod> = Api::namespaced(cp.client(), &ns);
    let pod = ok(cp
        .wait_for(&pods, "waiting", Duration::from_secs(30), |p| {
            waiting_messages(p).contains("configmap \"late-inputs\" not found")
        })
        .await);
    assert_eq!(pod_phase(&pod), "Pending");
    assert!(
        cp.diagnostics(&ns).await.contains("late-inputs"),
        "{}",
        cp.diagnostics(&ns).await
    );
    let _: ConfigMap = create(
        cp,
        &ns,
        json!({ "metadata": { "name": "late-inputs" }, "data": { "v": "arrived" } }),
    )
    .await;
    assert_eq!(run_to_success(cp, &ns, "waiting").await, "arrived");
}

#[tokio::test]
async fn unbound_claim_keeps_the_pod_pending() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("pvc-unbound").await);
    let _: PersistentVolumeClaim = create(
        cp,
        &ns,
        json!({
            "metadata": { "name": "nothing" },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "resources": { "requests": { "storage": "1Pi" } },
            },
        }),
    )
    .await;
    let mut pod = host_pod("stuck", "true", "Never");
    pod["spec"]["volumes"] =
        json!([{ "name": "d", "persistentVolumeClaim": { "claimName": "nothing" } }]);
    pod["spec"]["containers"][0]["volumeMounts"] = json!([{ "name": "d", "mountPath": "/d" }]);
    let _: Pod = create(cp, &ns, pod).await;
    let pods: Api<Pod> = Api::namespaced(cp.client(), &ns);
    let pod = ok(cp
        .wait_for(&pods, "stuck", Duration::from_secs(30), |p| {
            waiting_messages(p).contains("persistentvolumeclaim \"nothing\" is not bound")
        })
        .await);
    assert_eq!(pod_phase(&pod), "Pending");
}

#[tokio::test]
async fn unsupported_volume_fails_the_pod_with_a_clear_reason() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("nfs").await);
    let mut pod = host_pod("nfs", "true", "Never");
    pod["spec"]["volumes"] =
        json!([{ "name": "share", "nfs": { "server": "nfs.example", "path": "/" } }]);
    let _: Pod = create(cp, &ns, pod).await;
    let pods: Api<Pod> = Api::namespaced(cp.client(), &ns);
    let pod = ok(cp
        .wait_for(&pods, "nfs", Duration::from_secs(30), |p| {
            pod_phase(p) == "Failed"
        })
        .await);
    let status = pod.status.unwrap();
    assert_eq!(status.reason.as_deref(), Some("UnsupportedVolume"));
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains("\"share\"") && message.contains("nfs"),
        "{message}"
    );
}

#[tokio::test]
async fn a_mount_that_cannot_be_made_fails_the_container_naming_the_volume() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("bad-mount").await);
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    // A file cannot be mounted over a directory.
    let mut pod = host_pod("bad", "true", "Never");
    pod["spec"]["volumes"] = json!([{ "name": "f", "hostPath": { "path": file, "type": "File" } }]);
    pod["spec"]["containers"][0]["volumeMounts"] =
        json!([{ "name": "f", "mountPath": host.path() }]);
    let _: Pod = create(cp, &ns, pod).await;
    let pods: Api<Pod> = Api::namespaced(cp.client(), &ns);
    let pod = ok(cp
        .wait_for(&pods, "bad", Duration::from_secs(30), |p| {
            pod_phase(p) == "Failed"
        })
        .await);
    let terminated = pod.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .and_then(|s| s.terminated)
        .unwrap();
    assert_eq!(terminated.reason.as_deref(), Some("StartError"));
    let message = terminated.message.unwrap_or_default();
    let expected = format!(
        "mounting volume \"f\" at {}: Not a directory",
        host.path().display()
    );
    assert!(message.contains(&expected), "{message}");
}
