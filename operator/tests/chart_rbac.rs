//! The operator issue's end-to-end benchmark (parallelism 2, constant 40 req/s for 10 s, two
//! LoRA adapters 50/50, against the simulator on loopback), run by the operator that
//! `helm install` of the chart starts, under exactly the chart's cluster-wide RBAC: the
//! process kubelet runs the chart's Deployment with a token of the chart's ServiceAccount.
//!
//! A dedicated control plane writes an audit log of every request made by a ServiceAccount and
//! enables the OwnerReferencesPermissionEnforcement admission plugin (as OpenShift does). The
//! log shows that no request of the operator was refused, and that every verb of every rule
//! of the chart was needed: used by a request, implied by one (a server-side apply that
//! creates needs `create`; a child with a blocking owner reference needs `update` on the
//! owner's finalizers), or granted on to the runners' Roles (RBAC lets one grant only what
//! one holds). Removing any rule or verb therefore refuses a request of this run; verbs that
//! the run cannot provoke carry an `untested(<verb>)` reason in templates/_rbac.tpl.

mod common;
mod manifests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;
use ibench_operator::crd::{self, InferenceBenchmark};
use ibench_testcluster::{ControlPlane, Options};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use manifests::*;
use serde_json::{Value, json};

/// Only ServiceAccounts' requests: the operator's (and the runners'); roles with their bodies,
/// to see what the operator grants.
const AUDIT_POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Request
    userGroups: ["system:serviceaccounts"]
    resources: [{group: rbac.authorization.k8s.io, resources: [roles]}]
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
"#;

/// One permission: API group, resource (with `/subresource`), verb.
type Permission = (String, String, String);

fn permission(group: &str, resource: &str, verb: &str) -> Permission {
    (group.to_string(), resource.to_string(), verb.to_string())
}

/// What the audit log says about `user`'s requests.
#[derive(Debug, Default)]
struct Audit {
    /// Every permission a request needed.
    needed: BTreeSet<Permission>,
    /// What the Roles the user created or patched grant.
    granted_on: BTreeSet<Permission>,
    /// Requests refused with 403.
    refused: Vec<String>,
}

fn read_audit(log: &Path, user: &str) -> Audit {
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let mut audit = Audit::default();
    for line in text.lines() {
        let event: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("audit line {line:?}: {e}"));
        if event["user"]["username"] != user {
            continue;
        }
        let verb = event["verb"].as_str().unwrap_or_default();
        let code = event["responseStatus"]["code"].as_i64().unwrap_or_default();
        let object = &event["objectRef"];
        if code == 403 {
            audit.refused.push(format!(
                "{verb} {} {}: {}",
                event["requestURI"], object, event["responseStatus"]["message"]
            ));
        }
        let Some(resource) = object["resource"].as_str() else {
            continue;
        };
        let resource = match object["subresource"].as_str() {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource.to_string(),
        };
        let group = object["apiGroup"].as_str().unwrap_or_default();
        audit.needed.insert(permission(group, &resource, verb));
        // Server-side apply of an object that did not exist creates it, which the API server
        // authorises as `create` too.
        if verb == "patch" && code == 201 {
            audit.needed.insert(permission(group, &resource, "create"));
        }
        if resource == "roles" {
            for rule in event["requestObject"]["rules"]
                .as_array()
                .into_iter()
                .flatten()
            {
                for group in rule["apiGroups"].as_array().into_iter().flatten() {
                    for resource in rule["resources"].as_array().into_iter().flatten() {
                        for verb in rule["verbs"].as_array().into_iter().flatten() {
                            let text = |v: &Value| v.as_str().expect("string").to_string();
                            audit
                                .granted_on
                                .insert((text(group), text(resource), text(verb)));
                        }
                    }
                }
            }
        }
    }
    audit
}

/// The rules of the rendered ClusterRole, each with the comment lines just above it.
fn commented_rules(rendered: &str) -> Vec<(Value, String)> {
    let document = rendered
        .split("\n---")
        .find(|d| d.contains("\nkind: ClusterRole\n"))
        .expect("a ClusterRole");
    let rules = documents(document)[0]["rules"]
        .as_array()
        .expect("rules")
        .clone();
    let mut comments = Vec::new();
    let mut pending = String::new();
    let body = document.split_once("\nrules:\n").expect("rules:").1;
    for line in body.lines() {
        if let Some(comment) = line.trim_start().strip_prefix('#') {
            pending.push_str(comment);
            pending.push('\n');
        } else if line.starts_with("- ") {
            comments.push(std::mem::take(&mut pending));
        }
    }
    assert_eq!(
        comments.len(),
        rules.len(),
        "one comment block per rule:\n{body}"
    );
    rules.into_iter().zip(comments).collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_with_exactly_the_charts_rbac_runs_the_e2e_benchmark() {
    ibench_testcluster::init_test_logging();
    let dir = tempfile::tempdir().expect("temporary directory");
    let (policy, audit_log) = (
        dir.path().join("audit-policy.yaml"),
        dir.path().join("audit.log"),
    );
    std::fs::write(&policy, AUDIT_POLICY).expect("audit policy");
    let cp = ControlPlane::start_with(Options {
        apiserver_args: vec![
            format!("--audit-policy-file={}", policy.display()),
            format!("--audit-log-path={}", audit_log.display()),
            "--audit-log-mode=blocking".into(),
            "--enable-admission-plugins=OwnerReferencesPermissionEnforcement".into(),
        ],
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("control plane: {e}"));
    cp.map_image(OPERATOR_IMAGE, env!("CARGO_BIN_EXE_ibench-operator"));
    cp.map_image(RUNNER_IMAGE, ibench_binary());
    let client = cp.client();

    // helm install: the CRD from crds/, then the chart's objects; the operator pod runs the
    // operator binary with the Deployment's arguments and the ServiceAccount's token.
    let release_ns = restricted_namespace(&cp, "ibench-system").await;
    let port = free_port().to_string();
    let mut values = test_values(&port);
    values.push("logFilter=info\\,ibench_operator=debug".into());
    install(&cp, &release_ns, &values);
    wait_ready(&cp, &release_ns, &port).await;
    let rendered = template(
        &release_ns,
        &values.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let service_account = only(&documents(&rendered), "ServiceAccount")["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let user = format!("system:serviceaccount:{release_ns}:{service_account}");

    // The E2E benchmark, and one whose spec changes mid-run (the operator deletes the
    // superseded run's Job and starts the new one).
    let ns = restricted_namespace(&cp, "e2e").await;
    let sim = simulator("base-model", &["lora-a", "lora-b"]).await;
    let other_sim = simulator("base-model", &[]).await;
    create_benchmark(&client, &ns, "lora", lora_e2e_spec(&sim.base_url()))
        .await
        .expect("the benchmark is accepted");
    create_benchmark(
        &client,
        &ns,
        "changed",
        spec(&other_sim.base_url(), "base-model", 2.0, 300, 1),
    )
    .await
    .expect("accepted");
    let benchmarks: Api<InferenceBenchmark> = Api::namespaced(client.clone(), &ns);
    let health = |ib: &InferenceBenchmark| argocd_health(&serde_json::to_value(ib).expect("JSON"));
    assert_eq!(
        health(&benchmarks.get("lora").await.expect("get")).0,
        "Progressing"
    );

    let running = |ib: &InferenceBenchmark| {
        ib.status
            .as_ref()
            .is_some_and(|s| s.phase == Some(crd::Phase::Running))
    };
    let changed = cp
        .wait_for(&benchmarks, "changed", RUN_TIMEOUT, running)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(health(&changed).0, "Progressing", "a running benchmark");
    let shorter = json!({"spec": {"load": {"stages": [{"rate": 2.0, "duration": 2}]}}});
    benchmarks
        .patch("changed", &PatchParams::default(), &Patch::Merge(&shorter))
        .await
        .expect("spec change");

    let ib = finished(&cp, &ns, "lora", &release_ns).await;
    let (status, message) = health(&ib);
    assert_eq!(status, "Healthy", "{message}\n{:#?}", ib.status);
    check_lora_e2e(&client, &ns, "lora", &ib, &sim).await;
    let job: Job = Api::namespaced(client.clone(), &ns)
        .get("lora-g1")
        .await
        .expect("the run's Job");
    assert_eq!(job.spec.as_ref().and_then(|s| s.parallelism), Some(2));
    let owner = &job.metadata.owner_references.as_ref().expect("owned")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.block_owner_deletion),
        (crd::KIND, Some(true))
    );

    let changed = finished(&cp, &ns, "changed", &release_ns).await;
    let status = changed.status.clone().expect("status");
    assert_eq!(
        condition(&changed, crd::CONDITION_SUCCEEDED).map(|c| c.status.as_str()),
        Some("True"),
        "{status:#?}"
    );
    assert_eq!(status.observed_generation, Some(2));
    assert!(
        status
            .previous_runs
            .iter()
            .any(|r| r.generation == 1 && r.outcome == "Superseded"),
        "{status:#?}"
    );
    assert!(
        Api::<Job>::namespaced(client.clone(), &ns)
            .get_opt("changed-g1")
            .await
            .expect("get")
            .is_none(),
        "superseded Job deleted"
    );
    let events = Api::<Event>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("events")
        .items;
    let reasons: BTreeSet<&str> = events.iter().filter_map(|e| e.reason.as_deref()).collect();
    assert!(
        reasons.contains("Started") && reasons.contains("Succeeded"),
        "{reasons:?}"
    );
    sim.shutdown().await;
    other_sim.shutdown().await;

    // The audit log of the operator's requests against the chart's rules.
    let audit = read_audit(&audit_log, &user);
    assert!(
        audit.refused.is_empty(),
        "requests of the operator refused under the chart's RBAC:\n{}",
        audit.refused.join("\n")
    );
    assert!(
        audit
            .needed
            .contains(&permission("batch", "jobs", "create")),
        "the audit log lacks the operator's requests: {:?}",
        audit.needed
    );
    let mut needed = audit.needed.clone();
    // Every child names its benchmark with blockOwnerDeletion (the Job above shows it), which
    // OwnerReferencesPermissionEnforcement authorises as update on the owner's finalizers.
    needed.insert(permission(
        crd::GROUP,
        "inferencebenchmarks/finalizers",
        "update",
    ));
    let mut granted: BTreeMap<Permission, bool> = BTreeMap::new();
    let mut unneeded = Vec::new();
    for (rule, comment) in commented_rules(&rendered) {
        assert!(
            rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
            "{rule}"
        );
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    let p = permission(&group, &resource, &verb);
                    let justified = comment.contains(&format!("untested({verb})"));
                    let used = needed.contains(&p) || audit.granted_on.contains(&p);
                    if !used && !justified {
                        unneeded.push(p.clone());
                    }
                    granted.insert(p, justified);
                }
            }
        }
    }
    assert!(
        unneeded.is_empty(),
        "the chart grants what the operator never needed (remove it, or mark it untested(<verb>) with the reason): {unneeded:?}"
    );
    let missing: Vec<&Permission> = needed
        .iter()
        .chain(&audit.granted_on)
        .filter(|p| !granted.contains_key(*p))
        .collect();
    assert!(
        missing.is_empty(),
        "needed, yet not in the chart's rules: {missing:?}"
    );
}
