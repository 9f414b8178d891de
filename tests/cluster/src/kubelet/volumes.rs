//! A Pod's volumes on the process kubelet: each becomes a host directory (or file) that
//! container mounts bind from (see `mount_plan`).
//!
//! * `configMap` and `secret`: the payload (all keys, or `items` mapped to paths, with
//!   `defaultMode`/`mode`) is written under the Pod's directory by `volume_files`; a missing
//!   object is an empty volume when `optional`, else the Pod waits for it. Always read-only.
//! * `emptyDir`: a fresh directory under the Pod's directory (`medium` and `sizeLimit` are
//!   ignored).
//! * `hostPath`: the host path, after the check or creation its `type` asks for.
//! * `persistentVolumeClaim`: the claim must be `Bound` (by kube-controller-manager's
//!   persistentvolume-binder) to a PersistentVolume that names it; `hostPath` and `local`
//!   PersistentVolumes are host paths.
//! * `projected` (the service-account token volume the admission plugin adds to every Pod) is
//!   left out together with its mounts; the token reaches the Pod through `KUBECONFIG`.
//!
//! Anything else fails the Pod with `UnsupportedVolume`.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{
    ConfigMap, KeyToPath, PersistentVolume, PersistentVolumeClaim, Pod, Secret,
    Volume as VolumeSpec,
};
use kube::{Api, Client, ResourceExt};

use super::volume_files::{self, Payload};

/// The file mode of ConfigMap and Secret files without `defaultMode` (0644), as in the API.
const DEFAULT_MODE: i32 = 0o644;

/// A volume ready to be mounted.
#[derive(Debug, Clone)]
pub(crate) struct Volume {
    /// Host path that mounts bind from (a `subPath` is below it).
    pub path: PathBuf,
    /// ConfigMap and Secret volumes, and claims with `readOnly`, are read-only in every mount.
    pub read_only: bool,
}

/// What a container mount finds under a volume name.
pub(crate) enum Lookup<'a> {
    Ready(&'a Volume),
    /// A volume the process kubelet leaves out; its mounts are skipped.
    Skipped,
    Unknown,
}

/// The volumes of one Pod, set up one by one; a volume set up once stays set up while others
/// are retried.
#[derive(Debug, Default)]
pub(crate) struct Volumes {
    ready: BTreeMap<String, Volume>,
    skipped: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum VolumeError {
    /// May heal: a missing ConfigMap or Secret, an unbound claim, an API error.
    #[error("MountVolume.SetUp failed for volume {volume:?}: {message}")]
    NotReady { volume: String, message: String },
    /// Never heals: the process kubelet cannot provide this kind of volume.
    #[error("volume {volume:?}: {message}")]
    Unsupported { volume: String, message: String },
}

impl Volumes {
    pub(crate) fn get(&self, name: &str) -> Lookup<'_> {
        match self.ready.get(name) {
            Some(v) => Lookup::Ready(v),
            None if self.skipped.contains(name) => Lookup::Skipped,
            None => Lookup::Unknown,
        }
    }

    /// Sets up every volume of `pod` not set up yet; ConfigMap, Secret and emptyDir contents go
    /// to `<dir>/<volume name>`.
    pub(crate) async fn set_up(
        &mut self,
        client: &Client,
        pod: &Pod,
        dir: &Path,
    ) -> Result<(), VolumeError> {
        let namespace = pod.namespace().unwrap_or_default();
        for spec in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            if self.ready.contains_key(&spec.name) || self.skipped.contains(&spec.name) {
                continue;
            }
            if spec.projected.is_some() {
                self.skipped.insert(spec.name.clone());
                continue;
            }
            let volume = set_up_one(client, &namespace, spec, &dir.join(&spec.name)).await?;
            tracing::debug!(pod = %pod.name_any(), volume = %spec.name, path = %volume.path.display(), "volume ready");
            self.ready.insert(spec.name.clone(), volume);
        }
        Ok(())
    }
}

async fn set_up_one(
    client: &Client,
    namespace: &str,
    spec: &VolumeSpec,
    dir: &Path,
) -> Result<Volume, VolumeError> {
    let not_ready = |message: String| VolumeError::NotReady {
        volume: spec.name.clone(),
        message,
    };
    let written = |payload: Payload| -> Result<Volume, VolumeError> {
        volume_files::write(dir, &payload)
            .map_err(|e| not_ready(format!("writing {}: {e}", dir.display())))?;
        Ok(Volume {
            path: dir.to_path_buf(),
            read_only: true,
        })
    };
    if let Some(source) = &spec.config_map {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let found = api
            .get_opt(&source.name)
            .await
            .map_err(|e| not_ready(format!("reading configmap {:?}: {e}", source.name)))?;
        let data = found.map(|cm| {
            let mut data: BTreeMap<String, Vec<u8>> = cm
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            data.extend(
                cm.binary_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0)),
            );
            data
        });
        let payload = payload(
            "configmap",
            &source.name,
            data,
            source.items.as_deref(),
            source.default_mode,
            source.optional == Some(true),
        )
        .map_err(not_ready)?;
        return written(payload);
    }
    if let Some(source) = &spec.secret {
        let name = source.secret_name.clone().unwrap_or_default();
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let found = api
            .get_opt(&name)
            .await
            .map_err(|e| not_ready(format!("reading secret {name:?}: {e}")))?;
        let data = found.map(|s| {
            let mut data: BTreeMap<String, Vec<u8>> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            // stringData is write-only in the API, but harmless to honour.
            data.extend(
                s.string_data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes())),
            );
            data
        });
        let payload = payload(
            "secret",
            &name,
            data,
            source.items.as_deref(),
            source.default_mode,
            source.optional == Some(true),
        )
        .map_err(not_ready)?;
        return written(payload);
    }
    if spec.empty_dir.is_some() {
        std::fs::create_dir_all(dir)
            .map_err(|e| not_ready(format!("creating {}: {e}", dir.display())))?;
        return Ok(Volume {
            path: dir.to_path_buf(),
            read_only: false,
        });
    }
    if let Some(source) = &spec.host_path {
        let path = PathBuf::from(&source.path);
        check_host_path(&path, source.type_.as_deref()).map_err(not_ready)?;
        return Ok(Volume {
            path,
            read_only: false,
        });
    }
    if let Some(source) = &spec.persistent_volume_claim {
        let path = claimed_path(client, namespace, &source.claim_name)
            .await
            .map_err(|e| match e {
                ClaimError::NotReady(message) => not_ready(message),
                ClaimError::Unsupported(message) => VolumeError::Unsupported {
                    volume: spec.name.clone(),
                    message,
                },
            })?;
        return Ok(Volume {
            path,
            read_only: source.read_only == Some(true),
        });
    }
    Err(VolumeError::Unsupported {
        volume: spec.name.clone(),
        message: format!(
            "{} volumes are not supported by the process kubelet (configMap, secret, emptyDir, hostPath and persistentVolumeClaim are)",
            kind_of(spec)
        ),
    })
}

/// The volume type's field name (`nfs`, `csi`, ...), for messages.
fn kind_of(spec: &VolumeSpec) -> String {
    match serde_json::to_value(spec) {
        Ok(serde_json::Value::Object(fields)) => fields
            .keys()
            .find(|k| k.as_str() != "name")
            .cloned()
            .unwrap_or_else(|| "typeless".into()),
        _ => "unknown".into(),
    }
}

/// The files of a ConfigMap or Secret volume: every key, or only `items` at their paths.
/// `data` is `None` when the object does not exist.
fn payload(
    kind: &str,
    name: &str,
    data: Option<BTreeMap<String, Vec<u8>>>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Payload, String> {
    let default_mode = default_mode.unwrap_or(DEFAULT_MODE) as u32;
    let Some(mut data) = data else {
        return if optional {
            Ok(Payload::new())
        } else {
            Err(format!("{kind} {name:?} not found"))
        };
    };
    let Some(items) = items else {
        return Ok(data
            .into_iter()
            .map(|(k, v)| (k, (v, default_mode)))
            .collect());
    };
    let mut payload = Payload::new();
    for item in items {
        match data.remove(&item.key) {
            Some(bytes) => {
                let mode = item.mode.map_or(default_mode, |m| m as u32);
                payload.insert(item.path.clone(), (bytes, mode));
            }
            None if optional => {}
            None => {
                return Err(format!(
                    "{kind} {name:?} has no key {:?} (named in items)",
                    item.key
                ));
            }
        }
    }
    Ok(payload)
}

/// Checks (or creates) a hostPath the way its `type` asks.
fn check_host_path(path: &Path, kind: Option<&str>) -> Result<(), String> {
    let file_type = || {
        std::fs::metadata(path)
            .map(|m| m.file_type())
            .map_err(|e| format!("hostPath type check failed: {}: {e}", path.display()))
    };
    let expect = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "hostPath type check failed: {} is not a {what}",
                path.display()
            ))
        }
    };
    match kind.unwrap_or("") {
        "" => Ok(()),
        "DirectoryOrCreate" => std::fs::create_dir_all(path)
            .map_err(|e| format!("creating hostPath {}: {e}", path.display())),
        "Directory" => expect(file_type()?.is_dir(), "directory"),
        "FileOrCreate" => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| format!("creating hostPath {}: {e}", path.display())),
        "File" => expect(file_type()?.is_file(), "file"),
        "Socket" => expect(file_type()?.is_socket(), "socket"),
        "CharDevice" => expect(file_type()?.is_char_device(), "character device"),
        "BlockDevice" => expect(file_type()?.is_block_device(), "block device"),
        other => Err(format!("unknown hostPath type {other:?}")),
    }
}

enum ClaimError {
    NotReady(String),
    Unsupported(String),
}

/// The host path of the PersistentVolume bound to claim `name`, checked both ways as the
/// kubelet does: the claim is Bound to the volume and the volume's claimRef is this claim.
async fn claimed_path(client: &Client, namespace: &str, name: &str) -> Result<PathBuf, ClaimError> {
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let claim = claims
        .get_opt(name)
        .await
        .map_err(|e| ClaimError::NotReady(format!("reading persistentvolumeclaim {name:?}: {e}")))?
        .ok_or_else(|| ClaimError::NotReady(format!("persistentvolumeclaim {name:?} not found")))?;
    let phase = claim
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".into());
    let volume_name = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default();
    if phase != "Bound" || volume_name.is_empty() {
        return Err(ClaimError::NotReady(format!(
            "persistentvolumeclaim {name:?} is not bound (phase {phase})"
        )));
    }
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let volume = volumes
        .get_opt(&volume_name)
        .await
        .map_err(|e| {
            ClaimError::NotReady(format!("reading persistentvolume {volume_name:?}: {e}"))
        })?
        .ok_or_else(|| {
            ClaimError::NotReady(format!(
                "persistentvolume {volume_name:?} of claim {name:?} not found"
            ))
        })?;
    let spec = volume.spec.unwrap_or_default();
    let claim_ref_uid = spec.claim_ref.as_ref().and_then(|r| r.uid.clone());
    if claim_ref_uid.is_none() || claim_ref_uid != claim.metadata.uid {
        return Err(ClaimError::NotReady(format!(
            "persistentvolume {volume_name:?} is not bound to claim {name:?}"
        )));
    }
    if let Some(host) = &spec.host_path {
        let path = PathBuf::from(&host.path);
        check_host_path(&path, host.type_.as_deref()).map_err(ClaimError::NotReady)?;
        return Ok(path);
    }
    if let Some(local) = &spec.local {
        let path = PathBuf::from(&local.path);
        if !path.exists() {
            return Err(ClaimError::NotReady(format!(
                "local persistentvolume {volume_name:?}: {} does not exist",
                path.display()
            )));
        }
        return Ok(path);
    }
    Err(ClaimError::Unsupported(format!(
        "persistentvolume {volume_name:?} is neither hostPath nor local, the only kinds the process kubelet mounts"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Option<BTreeMap<String, Vec<u8>>> {
        Some(
            [
                ("a".to_string(), b"1".to_vec()),
                ("b".to_string(), b"2".to_vec()),
            ]
            .into(),
        )
    }

    fn item(key: &str, path: &str, mode: Option<i32>) -> KeyToPath {
        KeyToPath {
            key: key.into(),
            path: path.into(),
            mode,
            ..Default::default()
        }
    }

    #[test]
    fn all_keys_without_items() {
        let p = payload("configmap", "c", data(), None, Some(0o600), false).unwrap();
        assert_eq!(p["a"], (b"1".to_vec(), 0o600));
        assert_eq!(p["b"], (b"2".to_vec(), 0o600));
    }

    #[test]
    fn items_map_keys_to_paths_with_modes() {
        let items = [item("b", "dir/b.txt", Some(0o400))];
        let p = payload("secret", "s", data(), Some(&items), None, false).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p["dir/b.txt"], (b"2".to_vec(), 0o400));
    }

    #[test]
    fn missing_objects_and_keys() {
        let err = payload("configmap", "gone", None, None, None, false).unwrap_err();
        assert!(err.contains("configmap \"gone\" not found"), "{err}");
        assert!(
            payload("configmap", "gone", None, None, None, true)
                .unwrap()
                .is_empty()
        );
        let items = [item("zzz", "z", None)];
        let err = payload("secret", "s", data(), Some(&items), None, false).unwrap_err();
        assert!(err.contains("\"zzz\""), "{err}");
        assert!(
            payload("secret", "s", data(), Some(&items), None, true)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn host_path_types() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert!(check_host_path(dir.path(), Some("Directory")).is_ok());
        assert!(check_host_path(&file, Some("File")).is_ok());
        let err = check_host_path(&file, Some("Directory")).unwrap_err();
        assert!(err.contains("is not a directory"), "{err}");
        let created = dir.path().join("new/deeper");
        check_host_path(&created, Some("DirectoryOrCreate")).unwrap();
        assert!(created.is_dir());
        assert!(check_host_path(&dir.path().join("missing"), Some("File")).is_err());
    }

    #[test]
    fn unsupported_kinds_are_named() {
        let spec: VolumeSpec = serde_json::from_value(serde_json::json!({
            "name": "n", "nfs": { "server": "s", "path": "/" }
        }))
        .unwrap();
        assert_eq!(kind_of(&spec), "nfs");
    }
}
