//! The run's runner Job: Indexed, one pod per runner, none ever retried (a retried runner would
//! send its share of the plan a second time).

use std::collections::BTreeMap;

use ibench_core::protocol;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvFromSource, EnvVar,
    EnvVarSource, KeyToPath, ObjectFieldSelector, PersistentVolumeClaimVolumeSource,
    PodSecurityContext, PodSpec, PodTemplateSpec, SeccompProfile, SecretEnvSource,
    SecretKeySelector, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::owner::Owner;
use crate::naming::{self, Component};
use crate::validate::RunSpec;

pub const CONTAINER: &str = "runner";

pub fn job(owner: &Owner, run: &RunSpec, progress_seconds: f64) -> Job {
    let count = run.parallelism as i32;
    let pod_labels = naming::labels(&owner.uid, Some(run.generation), Component::Runner);
    // Pods are owned by the Job; these say which benchmark and run they serve.
    let pod_annotations = BTreeMap::from([
        (naming::ANNOTATION_BENCHMARK.to_string(), owner.name.clone()),
        (
            naming::ANNOTATION_GENERATION.to_string(),
            run.generation.to_string(),
        ),
    ]);
    let value = |name: &str, value: String| EnvVar {
        name: name.into(),
        value: Some(value),
        value_from: None,
    };
    let field = |name: &str, path: &str| EnvVar {
        name: name.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                api_version: None,
            }),
            ..Default::default()
        }),
    };
    let mut env = vec![
        field(protocol::ENV_NAMESPACE, "metadata.namespace"),
        field(protocol::ENV_POD_NAME, "metadata.name"),
        value(protocol::ENV_RUN, run.names.run().to_string()),
        value(protocol::ENV_RUNNERS, run.parallelism.to_string()),
        value(protocol::ENV_PROGRESS_SECONDS, progress_seconds.to_string()),
    ];
    if run.fetches_inputs {
        env.push(value("TMPDIR", SCRATCH_PATH.to_string()));
    }
    if let Some(secret) = &run.api_key {
        // The key goes from the Secret straight into the runner's environment: it never
        // passes through the operator, a ConfigMap or the status.
        env.push(EnvVar {
            name: protocol::ENV_API_KEY.into(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: secret.name.clone(),
                    key: secret.key.clone(),
                    optional: Some(false),
                }),
                ..Default::default()
            }),
        });
    }
    let (volumes, volume_mounts) = volumes(run);
    let container = Container {
        name: CONTAINER.into(),
        image: Some(run.image.clone()),
        command: Some(vec!["ibench".into(), "agent".into()]),
        env: Some(env),
        // The bucket credentials reach the runner the way the API key does: Secret to
        // environment, never through the operator's objects.
        env_from: run.storage_secret.as_ref().map(|name| {
            vec![EnvFromSource {
                secret_ref: Some(SecretEnvSource {
                    name: name.clone(),
                    optional: Some(false),
                }),
                ..Default::default()
            }]
        }),
        volume_mounts: Some(volume_mounts),
        resources: run.runners.resources.clone(),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: None,
            }),
            ..Default::default()
        }),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    };
    Job {
        metadata: owner.child_meta(
            run.names.job().to_string(),
            Some(run.generation),
            Component::Runner,
        ),
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(count),
            parallelism: Some(count),
            // A failed runner fails its index for good, while the other runners finish and
            // still report; the Job then fails as a whole.
            backoff_limit_per_index: Some(0),
            active_deadline_seconds: run.active_deadline_seconds,
            ttl_seconds_after_finished: run.ttl_seconds_after_finished,
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(pod_annotations),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    termination_grace_period_seconds: Some(run.termination_grace_seconds),
                    service_account_name: Some(run.names.rbac()),
                    automount_service_account_token: Some(true),
                    enable_service_links: Some(false),
                    containers: vec![container],
                    volumes: Some(volumes),
                    node_selector: run.runners.node_selector.clone(),
                    tolerations: run.runners.tolerations.clone(),
                    affinity: run.runners.affinity.clone(),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            localhost_profile: None,
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// Where a runner keeps the inputs it fetches from URLs (its `TMPDIR`): the root filesystem is
/// read-only.
pub const SCRATCH_PATH: &str = "/var/tmp/ibench";

/// The pod's volumes and the runner's mounts: scratch space when inputs are fetched, plus each
/// of `spec.files`, read-only.
fn volumes(run: &RunSpec) -> (Vec<Volume>, Vec<VolumeMount>) {
    let (mut volumes, mut mounts) = (Vec::new(), Vec::new());
    if run.fetches_inputs {
        volumes.push(Volume {
            name: "scratch".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: "scratch".into(),
            mount_path: SCRATCH_PATH.into(),
            ..Default::default()
        });
    }
    for (i, file) in run.files.iter().enumerate() {
        let name = format!("file-{i}");
        let mut volume = Volume {
            name: name.clone(),
            ..Default::default()
        };
        // A key is projected as a file named after itself, mounted at `path` with subPath.
        let key_as_file = |key: &str| {
            vec![KeyToPath {
                key: key.to_string(),
                path: key.to_string(),
                ..Default::default()
            }]
        };
        let sub_path = if let Some(source) = &file.config_map {
            volume.config_map = Some(ConfigMapVolumeSource {
                name: source.name.clone(),
                items: Some(key_as_file(&source.key)),
                optional: Some(false),
                ..Default::default()
            });
            Some(source.key.clone())
        } else if let Some(source) = &file.secret {
            volume.secret = Some(SecretVolumeSource {
                secret_name: Some(source.name.clone()),
                items: Some(key_as_file(&source.key)),
                optional: Some(false),
                ..Default::default()
            });
            Some(source.key.clone())
        } else if let Some(claim) = &file.persistent_volume_claim {
            volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.claim_name.clone(),
                read_only: Some(true),
            });
            claim.sub_path.clone()
        } else {
            continue;
        };
        volumes.push(volume);
        mounts.push(VolumeMount {
            name,
            mount_path: file.path.clone(),
            sub_path,
            read_only: Some(true),
            ..Default::default()
        });
    }
    (volumes, mounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{owner, run_spec};
    use ibench_core::config::SecretKeyRef;

    fn env<'a>(job: &'a Job, name: &str) -> Option<&'a EnvVar> {
        let spec = job.spec.as_ref()?.template.spec.as_ref()?;
        spec.containers[0]
            .env
            .as_ref()?
            .iter()
            .find(|e| e.name == name)
    }

    #[test]
    fn indexed_never_retried_and_bounded() {
        let mut run = run_spec(4);
        run.active_deadline_seconds = Some(600);
        run.ttl_seconds_after_finished = Some(3600);
        let job = job(&owner(), &run, 5.0);
        let spec = job.spec.as_ref().unwrap();
        assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
        assert_eq!((spec.completions, spec.parallelism), (Some(4), Some(4)));
        assert_eq!(spec.backoff_limit_per_index, Some(0));
        assert_eq!(spec.active_deadline_seconds, Some(600));
        assert_eq!(spec.ttl_seconds_after_finished, Some(3600));
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.service_account_name.as_deref(), Some("bench-g1-runner"));
        assert_eq!(
            pod.containers[0].command.as_ref().unwrap(),
            &["ibench", "agent"]
        );
        assert_eq!(job.metadata.name.as_deref(), Some("bench-g1"));
        assert_eq!(
            env(&job, protocol::ENV_RUNNERS).unwrap().value.as_deref(),
            Some("4")
        );
        assert_eq!(
            env(&job, protocol::ENV_RUN).unwrap().value.as_deref(),
            Some("bench-g1")
        );
        let namespace = env(&job, protocol::ENV_NAMESPACE).unwrap();
        assert_eq!(
            namespace
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.namespace"
        );
        assert!(env(&job, protocol::ENV_API_KEY).is_none());
        let annotations = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap();
        assert_eq!(annotations[naming::ANNOTATION_BENCHMARK], "bench");
    }

    #[test]
    fn api_key_comes_from_the_secret_only() {
        let mut run = run_spec(1);
        run.api_key = Some(SecretKeyRef {
            name: "creds".into(),
            key: "token".into(),
        });
        let job = job(&owner(), &run, 5.0);
        let var = env(&job, protocol::ENV_API_KEY).unwrap();
        assert!(var.value.is_none());
        let selector = var
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (selector.name.as_str(), selector.key.as_str()),
            ("creds", "token")
        );
    }

    #[test]
    fn placement_is_passed_through() {
        let mut run = run_spec(1);
        run.runners.node_selector = Some([("pool".to_string(), "bench".to_string())].into());
        run.image = "registry.example/ibench:1.2".into();
        let job = job(&owner(), &run, 5.0);
        let pod = job.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.node_selector.unwrap()["pool"], "bench");
        assert_eq!(
            pod.containers[0].image.as_deref(),
            Some("registry.example/ibench:1.2")
        );
    }

    #[test]
    fn files_are_mounted_read_only_and_bucket_credentials_come_from_the_secret() {
        let mut spec = crate::test_support::valid_spec(2);
        spec["files"] = serde_json::json!([
            {"path": "/inputs/trace.csv", "configMap": {"name": "traces", "key": "day1.csv"}},
            {"path": "/inputs/tokenizer.json", "secret": {"name": "tok", "key": "tokenizer.json"}},
            {"path": "/datasets", "persistentVolumeClaim": {"claimName": "data", "subPath": "v2"}},
        ]);
        spec["data"] = serde_json::json!({"type": "shareGPT", "path": "s3://b/sharegpt.json"});
        spec["storage"] = serde_json::json!({"simpleStorageService": {"bucketName": "r"}});
        spec["storageSecretRef"] = serde_json::json!({"name": "bucket-keys"});
        let ib = crate::test_support::benchmark("bench", spec);
        let run = crate::validate::run_spec(&ib, &crate::test_support::settings()).unwrap();
        let job = job(&owner(), &run, 5.0);
        let pod = job.spec.unwrap().template.spec.unwrap();
        let container = &pod.containers[0];
        let mounts: Vec<(&str, Option<&str>, Option<bool>)> = container
            .volume_mounts
            .iter()
            .flatten()
            .map(|m| (m.mount_path.as_str(), m.sub_path.as_deref(), m.read_only))
            .collect();
        assert_eq!(
            mounts,
            [
                (SCRATCH_PATH, None, None),
                ("/inputs/trace.csv", Some("day1.csv"), Some(true)),
                ("/inputs/tokenizer.json", Some("tokenizer.json"), Some(true)),
                ("/datasets", Some("v2"), Some(true)),
            ]
        );
        let volumes = pod.volumes.unwrap();
        assert_eq!(
            volumes[1]
                .config_map
                .as_ref()
                .unwrap()
                .items
                .as_ref()
                .unwrap()[0]
                .key,
            "day1.csv"
        );
        assert_eq!(
            volumes[2].secret.as_ref().unwrap().secret_name.as_deref(),
            Some("tok")
        );
        let claim = volumes[3].persistent_volume_claim.as_ref().unwrap();
        assert_eq!(
            (claim.claim_name.as_str(), claim.read_only),
            ("data", Some(true))
        );
        let env_from = container.env_from.as_ref().unwrap();
        assert_eq!(env_from[0].secret_ref.as_ref().unwrap().name, "bucket-keys");
        let tmpdir = container.env.iter().flatten().find(|e| e.name == "TMPDIR");
        assert_eq!(tmpdir.and_then(|e| e.value.as_deref()), Some(SCRATCH_PATH));

        // Nothing fetched, nothing mounted: no volumes beyond what is asked for.
        let plain = job_for_spec(crate::test_support::valid_spec(1));
        let pod = plain.spec.unwrap().template.spec.unwrap();
        assert_eq!(pod.volumes, Some(vec![]));
        assert!(pod.containers[0].env_from.is_none());
    }

    fn job_for_spec(spec: serde_json::Value) -> Job {
        let ib = crate::test_support::benchmark("bench", spec);
        let run = crate::validate::run_spec(&ib, &crate::test_support::settings()).unwrap();
        job(&owner(), &run, 5.0)
    }
}
