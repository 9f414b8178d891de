//! The API server is the real one: version, structural-schema and CEL validation.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::{Api, ResourceExt};
use serde_json::json;

#[tokio::test]
async fn version_reports_the_built_release() {
    let cp = cluster().await;
    let info = cp.client().apiserver_version().await.unwrap();
    assert_eq!(info.git_version, "v1.37.2");
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "37"));
}

fn crd(
    group: &str,
    plural: &str,
    kind: &str,
    schema: serde_json::Value,
) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.{group}") },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": { "plural": plural, "singular": kind.to_lowercase(), "kind": kind },
            "versions": [{ "name": "v1", "served": true, "storage": true, "schema": { "openAPIV3Schema": schema } }],
        },
    }))
    .unwrap()
}

#[tokio::test]
async fn non_structural_crd_schema_is_rejected() {
    let cp = cluster().await;
    let api: Api<CustomResourceDefinition> = Api::all(cp.client());
    // `spec` has properties but no type: not a structural schema.
    let bad = crd(
        "nonstructural.ibench.test",
        "gadgets",
        "Gadget",
        json!({
            "type": "object",
            "properties": { "spec": { "properties": { "size": { "type": "integer" } } } },
        }),
    );
    let err = api
        .create(&PostParams::default(), &bad)
        .await
        .expect_err("a non-structural schema must be rejected");
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status
            .message
            .contains("properties[spec].type: Required value"),
        "unexpected message: {}",
        status.message
    );
}

#[tokio::test]
async fn cel_rules_in_a_crd_are_enforced() {
    let cp = cluster().await;
    let group = "cel.ibench.test";
    let api: Api<CustomResourceDefinition> = Api::all(cp.client());
    let schema = json!({
        "type": "object",
        "properties": { "spec": {
            "type": "object",
            "properties": { "replicas": { "type": "integer" } },
            "x-kubernetes-validations": [{ "rule": "self.replicas <= 10", "message": "at most 10 replicas" }],
        }},
    });
    api.create(
        &PostParams::default(),
        &crd(group, "widgets", "Widget", schema),
    )
    .await
    .unwrap();
    ok(cp
        .wait_for(
            &api,
            &format!("widgets.{group}"),
            Duration::from_secs(30),
            |c| {
                c.status
                    .iter()
                    .flat_map(|s| s.conditions.iter().flatten())
                    .any(|c| c.type_ == "Established" && c.status == "True")
            },
        )
        .await);

    let ns = ok(cp.namespace("cel").await);
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, "v1", "Widget"));
    let widgets: Api<DynamicObject> = Api::namespaced_with(cp.client(), &ns, &resource);
    let widget = |name: &str, replicas: i64| {
        DynamicObject::new(name, &resource).data(json!({ "spec": { "replicas": replicas } }))
    };
    // Discovery of a new CRD takes a moment to reach the handler chain; retry briefly.
    let mut created = None;
    for _ in 0..50 {
        match widgets
            .create(&PostParams::default(), &widget("ok", 3))
            .await
        {
            Ok(w) => {
                created = Some(w);
                break;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("creating a valid widget: {e}"),
        }
    }
    assert_eq!(
        created.expect("the CRD never became served").name_any(),
        "ok"
    );
    let err = widgets
        .create(&PostParams::default(), &widget("too-big", 11))
        .await
        .expect_err("CEL rule must reject");
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("at most 10 replicas"),
        "{}",
        status.message
    );
}
