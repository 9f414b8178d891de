//! Jobs run by the real Job controller, Pods run by the process kubelet, API access through
//! each Pod's own service-account token under real RBAC.

mod common;

use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use serde_json::json;

fn indexed_job(
    name: &str,
    service_account: &str,
    completions: i32,
    backoff_limit: i32,
) -> serde_json::Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name },
        "spec": {
            "completionMode": "Indexed",
            "completions": completions,
            "parallelism": completions,
            "backoffLimit": backoff_limit,
            "template": { "spec": {
                "serviceAccountName": service_account,
                "restartPolicy": "Never",
                "containers": [{
                    "name": "writer",
                    "image": format!("{INDEX_WRITER_IMAGE}:test"),
                    "args": ["indices"],
                    "env": [
                        { "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
                        { "name": "POD_NAMESPACE", "valueFrom": { "fieldRef": { "fieldPath": "metadata.namespace" } } },
                    ],
                }],
            }},
        },
    })
}

#[tokio::test]
async fn indexed_job_writes_every_index_through_its_service_account() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("indexed-job").await);
    let _: ConfigMap = create(cp, &ns, json!({ "metadata": { "name": "indices" } })).await;
    let _: ServiceAccount = create(cp, &ns, json!({ "metadata": { "name": "writer" } })).await;
    // create cannot be limited by resourceNames, so the ConfigMap exists and only it is writable.
    let _: Role = create(cp, &ns, json!({
        "metadata": { "name": "indices-writer" },
        "rules": [{ "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["indices"], "verbs": ["get", "patch"] }],
    }))
    .await;
    let _: RoleBinding = create(cp, &ns, json!({
        "metadata": { "name": "indices-writer" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "indices-writer" },
        "subjects": [{ "kind": "ServiceAccount", "name": "writer", "namespace": ns }],
    }))
    .await;
    let _: Job = create(cp, &ns, indexed_job("writers", "writer", 3, 1)).await;

    let jobs: Api<Job> = Api::namespaced(cp.client(), &ns);
    let job = ok(cp
        .wait_for(&jobs, "writers", JOB_TIMEOUT, |j| {
            job_condition(j, "Complete") || job_condition(j, "Failed")
        })
        .await);
    assert!(
        job_condition(&job, "Complete"),
        "job did not complete: {:?}\n{}",
        job.status,
        cp.diagnostics(&ns).await
    );
    assert_eq!(job.status.as_ref().and_then(|s| s.succeeded), Some(3));

    let cm = Api::<ConfigMap>::namespaced(cp.client(), &ns)
        .get("indices")
        .await
        .unwrap();
    let data = cm.data.unwrap_or_default();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["index-0", "index-1", "index-2"],
        "{}",
        cp.diagnostics(&ns).await
    );
    // Each index was written by a different Pod of the Job (the value is the writer's name).
    let writers: std::collections::BTreeSet<&String> = data.values().collect();
    assert_eq!(writers.len(), 3, "{data:?}");
    for pod in job_pods(cp, &ns, "writers").await {
        assert_eq!(pod_phase(&pod), "Succeeded");
        assert!(
            data.values().any(|v| Some(v) == pod.metadata.name.as_ref()),
            "pod {:?} wrote nothing",
            pod.metadata.name
        );
    }
}

#[tokio::test]
async fn service_account_without_a_role_is_denied_and_the_pod_fails() {
    let cp = cluster().await;
    let ns = ok(cp.namespace("rbac-denied").await);
    let _: ConfigMap = create(cp, &ns, json!({ "metadata": { "name": "indices" } })).await;
    let _: ServiceAccount = create(cp, &ns, json!({ "metadata": { "name": "nobody" } })).await;
    let _: Job = create(cp, &ns, indexed_job("denied", "nobody", 1, 0)).await;

    let jobs: Api<Job> = Api::namespaced(cp.client(), &ns);
    let job = ok(cp
        .wait_for(&jobs, "denied", JOB_TIMEOUT, |j| {
            job_condition(j, "Complete") || job_condition(j, "Failed")
        })
        .await);
    assert!(
        job_condition(&job, "Failed"),
        "job should fail: {:?}",
        job.status
    );

    let pods = job_pods(cp, &ns, "denied").await;
    assert_eq!(pods.len(), 1, "backoffLimit 0 means exactly one pod");
    let pod = &pods[0];
    assert_eq!(pod_phase(pod), "Failed");
    let terminated = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c[0].state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .cloned();
    assert_eq!(
        terminated.map(|t| t.exit_code),
        Some(3),
        "index-writer exits 3 on 403"
    );
    let log = cp
        .container_log(&ns, pod.metadata.name.as_deref().unwrap(), "writer")
        .unwrap_or_default();
    assert!(
        log.contains("\"code\":403") && log.contains(&format!("system:serviceaccount:{ns}:nobody")),
        "log: {log}"
    );

    let cm = Api::<ConfigMap>::namespaced(cp.client(), &ns)
        .get("indices")
        .await
        .unwrap();
    assert!(cm.data.unwrap_or_default().is_empty());
}
