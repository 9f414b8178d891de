//! Containers whose image is an unpacked root file system ([`ImageProgram::Rootfs`]): the
//! steps their child runs before `exec` (see `mount_ns`), and their environment.
//!
//! In a private mount namespace the image's root file system is bind-mounted at a staging
//! directory of the container; the Pod's directory (kubeconfig, logs) is bind-mounted at its
//! own path inside it, on a tmpfs over the top directory of that path (`/tmp` for the harness's
//! directories), so the environment the kubelet built (`KUBECONFIG`) holds inside the image; the
//! root is remounted read-only when the container asks for `readOnlyRootFilesystem`; the staging
//! directory becomes `/`; the process changes to the image's working directory and becomes the
//! image's user. The image's files on the host never change. Volume mounts are not supported
//! for such containers (the container fails with `CreateContainerConfigError`).
//!
//! [`ImageProgram::Rootfs`]: crate::ImageProgram::Rootfs

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use k8s_openapi::api::core::v1::{Container, Pod};
use nix::errno::Errno;
use nix::mount::MsFlags;

use super::mount_ns::{Op, Step};
use super::pod_env::Env;
use crate::oci_image::ImageRootfs;

fn c_path(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("path {} contains a NUL byte", path.display()))
}

/// A non-recursive bind mount: the Pod directory holds the staging directory, whose mount
/// must not be copied into the image.
fn bind(source: CString, target: CString, what: String) -> Step {
    Step::new(
        Op::Mount {
            source: Some(source),
            target,
            fstype: None,
            flags: MsFlags::MS_BIND,
            data: None,
        },
        what,
    )
}

/// Why a container cannot run from `image`, checked as the kubelet checks `runAsNonRoot`.
pub(crate) fn check(image: &ImageRootfs, pod: &Pod, container: &Container) -> Result<(), String> {
    // Projected volumes (the service-account token every Pod gets) are not mounted by the
    // process kubelet at all (the token is in the kubeconfig): only other mounts are refused.
    let projected: Vec<&str> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter(|v| v.projected.is_some())
        .map(|v| v.name.as_str())
        .collect();
    if container
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| !projected.contains(&m.name.as_str()))
    {
        return Err(format!(
            "container {:?} runs from an image root file system ({}); the process kubelet does not mount volumes into those",
            container.name,
            image.rootfs.display()
        ));
    }
    let non_root = container
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_non_root)
        .or_else(|| {
            pod.spec
                .as_ref()?
                .security_context
                .as_ref()?
                .run_as_non_root
        });
    if non_root == Some(true) && image.config.uid == 0 {
        return Err(format!(
            "container has runAsNonRoot and image will run as root (user {:?})",
            image.config.user
        ));
    }
    Ok(())
}

/// Checks that `container` can run from `image` and prepares its start: the staging
/// directory, the Pod's kubeconfig readable by the image's user (the kubelet makes a service
/// account token readable by the container), and the child's steps.
pub(crate) fn prepare(
    image: &ImageRootfs,
    pod: &Pod,
    container: &Container,
    staging: &Path,
    pod_dir: &Path,
) -> Result<Vec<Step>, String> {
    check(image, pod, container)?;
    std::fs::create_dir_all(staging)
        .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    let kubeconfig = pod_dir.join("kubeconfig");
    if kubeconfig.exists() {
        std::os::unix::fs::chown(&kubeconfig, Some(image.config.uid), Some(image.config.gid))
            .map_err(|e| {
                format!(
                    "cannot give {} to the image's user: {e}",
                    kubeconfig.display()
                )
            })?;
    }
    steps(image, container, staging, pod_dir)
}

/// The child's steps: `pod_dir` (holding the kubeconfig) visible at its own path inside the
/// image, `staging` (a directory of this container on the host) the new root.
pub(crate) fn steps(
    image: &ImageRootfs,
    container: &Container,
    staging: &Path,
    pod_dir: &Path,
) -> Result<Vec<Step>, String> {
    let read_only = container
        .security_context
        .as_ref()
        .and_then(|s| s.read_only_root_filesystem)
        == Some(true);
    let parts: Vec<&std::ffi::OsStr> = pod_dir
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p),
            _ => None,
        })
        .collect();
    let Some((top, below)) = parts.split_first() else {
        return Err(format!(
            "the Pod directory {} cannot be mounted into an image",
            pod_dir.display()
        ));
    };
    let staging_c = c_path(staging)?;
    let mut steps = vec![
        Step::new(
            Op::Unshare,
            "creating a mount namespace for the image root file system (the process kubelet needs root, CAP_SYS_ADMIN, for it)",
        ),
        Step::new(
            Op::Mount {
                source: None,
                target: c"/".into(),
                fstype: None,
                flags: MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                data: None,
            },
            "making mount propagation private",
        ),
        bind(
            c_path(&image.rootfs)?,
            staging_c.clone(),
            format!(
                "bind-mounting the image root file system {} at {}",
                image.rootfs.display(),
                staging.display()
            ),
        ),
    ];
    // The Pod directory's top ancestor becomes a tmpfs inside the image (the image's own
    // directory there, if any, is hidden), holding the path down to the Pod directory.
    let mut path = staging.join(top);
    steps.push(
        Step::new(
            Op::Mkdir(c_path(&path)?),
            format!(
                "creating /{} in the image for the Pod directory",
                Path::new(top).display()
            ),
        )
        .tolerating(Errno::EEXIST),
    );
    steps.push(Step::new(
        Op::Mount {
            source: Some(c"tmpfs".into()),
            target: c_path(&path)?,
            fstype: Some(c"tmpfs".into()),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            data: Some(c"mode=1777".into()),
        },
        format!(
            "mounting a tmpfs at /{} in the image",
            Path::new(top).display()
        ),
    ));
    for part in below {
        path.push(part);
        steps.push(Step::new(
            Op::Mkdir(c_path(&path)?),
            format!("creating {} in the image", path.display()),
        ));
    }
    steps.push(bind(
        c_path(pod_dir)?,
        c_path(&path)?,
        format!(
            "bind-mounting the Pod directory {} into the image",
            pod_dir.display()
        ),
    ));
    if read_only {
        steps.push(Step::new(
            Op::Mount {
                source: None,
                target: staging_c.clone(),
                fstype: None,
                flags: MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                data: None,
            },
            "remounting the image root file system read-only (readOnlyRootFilesystem)",
        ));
    }
    steps.push(Step::new(
        Op::SwitchRoot(staging_c),
        "making the image root file system the root",
    ));
    let workdir = match image.config.working_dir.as_str() {
        "" => "/",
        dir => dir,
    };
    steps.push(Step::new(
        Op::Chdir(c_path(Path::new(workdir))?),
        format!("changing to the image's working directory {workdir}"),
    ));
    steps.push(Step::new(
        Op::SetIds {
            uid: image.config.uid,
            gid: image.config.gid,
        },
        format!("becoming the image's user {}", image.config.user),
    ));
    Ok(steps)
}

/// The container's environment over the image's: the image's variables first, then the
/// kubelet's (the Pod's win), except `PATH`, which the image sets (the kubelet's is the host's),
/// and `HOME`, the image user's home from the image's `/etc/passwd`, as a runtime sets it.
pub(crate) fn env(image: &ImageRootfs, env: &Env) -> Env {
    let mut out: Env = image.config.env.clone();
    let image_has = |name: &str| image.config.env.iter().any(|(k, _)| k == name);
    for (k, v) in env {
        if (k == "PATH" && image_has("PATH")) || k == "HOME" {
            continue;
        }
        out.push((k.clone(), v.clone()));
    }
    if let Some(home) = image.home() {
        out.push(("HOME".into(), home));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci_image::ImageConfig;
    use serde_json::json;

    fn image() -> ImageRootfs {
        ImageRootfs {
            rootfs: "/images/ibench".into(),
            config: ImageConfig::from_json(&json!({"config": {
                "User": "65532:65532", "Entrypoint": ["ibench"],
                "Env": ["PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
                "WorkingDir": "/home/nonroot"}}))
            .unwrap(),
        }
    }

    #[test]
    fn the_pod_directory_is_mounted_at_its_path_and_the_user_changes_last() {
        let container: Container = serde_json::from_value(json!({
            "name": "runner", "securityContext": {"readOnlyRootFilesystem": true}
        }))
        .unwrap();
        let steps = steps(
            &image(),
            &container,
            Path::new("/tmp/cp/pods/uid/mounts/runner"),
            Path::new("/tmp/cp/pods/ns/pod"),
        )
        .unwrap();
        let whats: Vec<&str> = steps.iter().map(|s| s.what.as_str()).collect();
        let at = |needle: &str| {
            whats
                .iter()
                .position(|w| w.contains(needle))
                .unwrap_or_else(|| panic!("no step {needle:?} in {whats:#?}"))
        };
        assert!(at("tmpfs at /tmp") < at("bind-mounting the Pod directory"));
        assert!(at("bind-mounting the Pod directory") < at("read-only"));
        assert!(at("read-only") < at("the root"));
        assert_eq!(at("becoming the image's user 65532:65532"), steps.len() - 1);
        assert!(
            whats.contains(
                &"creating /tmp/cp/pods/uid/mounts/runner/tmp/cp/pods/ns/pod in the image"
            )
        );
        // Without readOnlyRootFilesystem the root stays writable.
        let plain: Container = serde_json::from_value(json!({"name": "c"})).unwrap();
        let steps = super::steps(&image(), &plain, Path::new("/s"), Path::new("/tmp/p")).unwrap();
        assert!(!steps.iter().any(|s| s.what.contains("read-only")));
    }

    #[test]
    fn volumes_and_root_users_are_refused() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"securityContext": {"runAsNonRoot": true}, "containers": []}
        }))
        .unwrap();
        let with_mounts: Container = serde_json::from_value(json!({
            "name": "c", "volumeMounts": [{"name": "v", "mountPath": "/data"}]
        }))
        .unwrap();
        assert!(
            check(&image(), &pod, &with_mounts)
                .unwrap_err()
                .contains("does not mount volumes")
        );
        let plain: Container = serde_json::from_value(json!({"name": "c"})).unwrap();
        assert_eq!(check(&image(), &pod, &plain), Ok(()));
        let token_pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "volumes": [{"name": "kube-api-access", "projected": {"sources": []}}]}
        }))
        .unwrap();
        let token_mount: Container = serde_json::from_value(json!({
            "name": "c", "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
        }))
        .unwrap();
        assert_eq!(check(&image(), &token_pod, &token_mount), Ok(()));
        let mut root = image();
        root.config.uid = 0;
        root.config.user = "0".into();
        assert!(
            check(&root, &pod, &plain)
                .unwrap_err()
                .contains("runAsNonRoot")
        );
    }

    #[test]
    fn the_image_sets_path_and_home_the_pod_the_rest() {
        let env = env(
            &image(),
            &vec![
                ("PATH".into(), "/host/bin".into()),
                ("HOME".into(), "/tmp/cp/pods/ns/pod".into()),
                ("KUBECONFIG".into(), "/tmp/cp/pods/ns/pod/kubeconfig".into()),
                ("SSL_CERT_FILE".into(), "/custom.pem".into()),
            ],
        );
        let last = |name: &str| {
            env.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(last("PATH"), Some("/usr/local/bin"));
        assert_eq!(last("KUBECONFIG"), Some("/tmp/cp/pods/ns/pod/kubeconfig"));
        assert_eq!(last("SSL_CERT_FILE"), Some("/custom.pem"));
        // No /etc/passwd under the made-up root: no HOME rather than the host's.
        assert_eq!(last("HOME"), None);
    }
}
