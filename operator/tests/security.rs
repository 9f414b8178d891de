//! What runner pods may do (their run's ConfigMaps, nothing else) and where the API key goes
//! (the runner's environment, nowhere else).

mod common;

use std::time::Duration;

use common::*;
use ibench_operator::crd::{CONDITION_SUCCEEDED, InferenceBenchmark, Phase};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Secret};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde_json::json;

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn running(ib: &InferenceBenchmark) -> bool {
    ib.status.as_ref().is_some_and(|s| {
        s.observed_generation == ib.metadata.generation && s.phase == Some(Phase::Running)
    })
}

async fn client_for(path: &std::path::Path) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).expect("service-account kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

fn status_code<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(kube::Error::Api(status)) => status.code,
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_token_reaches_only_its_own_runs_config_maps() {
    let (cp, ns, client, sim, operator) = setup("runner-rbac").await;
    for name in ["alpha", "beta"] {
        create_benchmark(&client, &ns, name, spec(&sim.base_url(), "m", 2.0, 300, 2))
            .await
            .expect("created");
    }
    for name in ["alpha", "beta"] {
        wait_benchmark(cp, &operator, &ns, name, RUN_TIMEOUT, running).await;
    }

    // The identity alpha's runner pods have.
    let kubeconfig = cp
        .service_account_kubeconfig(&ns, "alpha-g1-runner")
        .await
        .expect("a token for alpha's runners");
    let runner = client_for(&kubeconfig).await;
    let config_maps: Api<ConfigMap> = Api::namespaced(runner.clone(), &ns);
    assert_eq!(
        status_code(config_maps.get("alpha-g1-config").await),
        200,
        "its own config"
    );
    assert_eq!(
        status_code(config_maps.get("alpha-g1-r1").await),
        200,
        "its own results"
    );
    let probe = json!({"metadata": {"annotations": {"probe": "x"}}});
    assert_eq!(
        status_code(
            config_maps
                .patch(
                    "alpha-g1-r1",
                    &PatchParams::default(),
                    &Patch::Merge(&probe)
                )
                .await
        ),
        200
    );

    assert_eq!(
        status_code(config_maps.get("beta-g1-config").await),
        403,
        "another run's config"
    );
    assert_eq!(
        status_code(config_maps.get("beta-g1-r0").await),
        403,
        "another run's results"
    );
    assert_eq!(
        status_code(
            config_maps
                .patch("beta-g1-r0", &PatchParams::default(), &Patch::Merge(&probe))
                .await
        ),
        403
    );
    assert_eq!(
        status_code(
            config_maps
                .patch(
                    "alpha-g1-config",
                    &PatchParams::default(),
                    &Patch::Merge(&probe)
                )
                .await
        ),
        403,
        "its start signal is the operator's"
    );
    assert_eq!(
        status_code(config_maps.list(&ListParams::default()).await),
        403
    );
    let unrelated = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("x".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        status_code(config_maps.create(&PostParams::default(), &unrelated).await),
        403
    );
    let lists = [
        ("Secrets", list_status::<Secret>(&runner, &ns).await),
        ("Pods", list_status::<Pod>(&runner, &ns).await),
        ("Jobs", list_status::<Job>(&runner, &ns).await),
        (
            "InferenceBenchmarks",
            list_status::<InferenceBenchmark>(&runner, &ns).await,
        ),
    ];
    assert!(lists.iter().all(|(_, code)| *code == 403), "{lists:?}");
}

/// The answer to listing the `K`s of `ns`.
async fn list_status<K>(client: &Client, ns: &str) -> u16
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    status_code(
        Api::<K>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await,
    )
}

/// The operator with exactly the permissions `deploy/operator.yaml` gives it runs a benchmark to
/// the end: its ClusterRole is all it needs (events, status, every child kind, the runners'
/// Role, which it may only grant because it holds those permissions itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_manifest_grants_the_operator_what_it_needs() {
    let cp = cluster().await;
    let client = cp.client();
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/operator.yaml"
    ))
    .expect("deploy/operator.yaml");
    let mut identity = None;
    for document in serde_yaml::Deserializer::from_str(&manifest) {
        let object: kube::api::DynamicObject =
            serde::Deserialize::deserialize(document).expect("a Kubernetes object");
        let kind = object
            .types
            .as_ref()
            .map(|t| t.kind.clone())
            .unwrap_or_default();
        if kind == "Deployment" {
            continue; // the operator runs here as a process, not from its image
        }
        if kind == "ServiceAccount" {
            identity = Some((
                object.metadata.namespace.clone().unwrap(),
                object.metadata.name.clone().unwrap(),
            ));
        }
        let (group, version) = match object.types.as_ref().unwrap().api_version.split_once('/') {
            Some((group, version)) => (group.to_string(), version.to_string()),
            None => (
                String::new(),
                object.types.as_ref().unwrap().api_version.clone(),
            ),
        };
        let gvk = kube::api::GroupVersionKind::gvk(&group, &version, &kind);
        let (resource, capabilities) = kube::discovery::pinned_kind(&client, &gvk)
            .await
            .expect("a served kind");
        let api: Api<kube::api::DynamicObject> =
            match (capabilities.scope, &object.metadata.namespace) {
                (kube::discovery::Scope::Namespaced, Some(ns)) => {
                    Api::namespaced_with(client.clone(), ns, &resource)
                }
                _ => Api::all_with(client.clone(), &resource),
            };
        let name = object.metadata.name.clone().unwrap();
        api.patch(
            &name,
            &PatchParams::apply("ibench-operator-tests").force(),
            &Patch::Apply(&object),
        )
        .await
        .unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
    }
    let (sa_namespace, sa) = identity.expect("the manifest has the operator's ServiceAccount");
    let kubeconfig = cp
        .service_account_kubeconfig(&sa_namespace, &sa)
        .await
        .expect("a token for the operator");

    let ns = cp.namespace("least-privilege").await.expect("namespace");
    let sim = simulator("m", &[]).await;
    let operator = Operator::start_as(cp, &kubeconfig, &ns, &[]);
    create_benchmark(
        &client,
        &ns,
        "small",
        spec(&sim.base_url(), "m", 10.0, 2, 2),
    )
    .await
    .expect("created");
    let ib = wait_benchmark(cp, &operator, &ns, "small", RUN_TIMEOUT, is_finished).await;
    let succeeded = condition(&ib, CONDITION_SUCCEEDED).expect("a Succeeded condition");
    assert_eq!(
        succeeded.status,
        "True",
        "{succeeded:?}
{}",
        operator.log_tail(40)
    );
    assert!(
        !operator.log().contains("Forbidden") && !operator.log().contains("forbidden"),
        "{}",
        operator.log_tail(40)
    );
    assert_eq!(sim.stats().requests_received, 20);
}

/// Every process whose environment has `IBENCH_RUN=<run>`, with its `IBENCH_API_KEY`.
fn runner_environment_keys(run: &str) -> Vec<Option<String>> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            entry.file_name().to_str()?.parse::<u32>().ok()?;
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            let vars: Vec<String> = environ
                .split(|b| *b == 0)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect();
            vars.iter()
                .any(|v| *v == format!("IBENCH_RUN={run}"))
                .then(|| {
                    vars.iter()
                        .find_map(|v| v.strip_prefix("IBENCH_API_KEY=").map(str::to_string))
                })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_is_only_in_the_runner_environment() {
    let (cp, ns, client, sim, operator) = setup("api-key").await;
    let key = format!("sk-test-{:016x}", rand::random::<u64>());
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "model-server"}, "stringData": {"token": key}}),
    )
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let mut spec = spec(&sim.base_url(), "m", 2.0, 300, 2);
    spec["server"]["apiKeySecretRef"] = json!({"name": "model-server", "key": "token"});
    create_benchmark(&client, &ns, "keyed", spec)
        .await
        .expect("created");
    wait_benchmark(cp, &operator, &ns, "keyed", RUN_TIMEOUT, running).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let keys = runner_environment_keys("keyed-g1");
    assert_eq!(keys.len(), 2, "two runner processes: {keys:?}");
    assert!(
        keys.iter().all(|k| k.as_deref() == Some(key.as_str())),
        "each runner has the key in its environment"
    );

    let mut places: Vec<(String, String)> = Vec::new();
    for cm in Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
    {
        places.push((
            format!("ConfigMap {}", cm.metadata.name.clone().unwrap_or_default()),
            serde_json::to_string(&cm).unwrap(),
        ));
    }
    let ib = Api::<InferenceBenchmark>::namespaced(client.clone(), &ns)
        .get("keyed")
        .await
        .unwrap();
    places.push((
        "the InferenceBenchmark".into(),
        serde_json::to_string(&ib).unwrap(),
    ));
    for event in Api::<Event>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
    {
        places.push(("an Event".into(), serde_json::to_string(&event).unwrap()));
    }
    for job in Api::<Job>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
    {
        places.push(("the Job".into(), serde_json::to_string(&job).unwrap()));
    }
    for pod in Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
    {
        let name = pod.metadata.name.clone().unwrap_or_default();
        places.push((format!("Pod {name}"), serde_json::to_string(&pod).unwrap()));
        places.push((
            format!("log of {name}"),
            cp.container_log(&ns, &name, "runner").unwrap_or_default(),
        ));
    }
    places.push(("the operator log".into(), operator.log()));
    let leaks: Vec<&str> = places
        .iter()
        .filter(|(_, text)| text.contains(&key))
        .map(|(place, _)| place.as_str())
        .collect();
    assert!(leaks.is_empty(), "the API key leaked into {leaks:?}");
    assert!(places.len() > 8, "looked in {} places", places.len());
}
