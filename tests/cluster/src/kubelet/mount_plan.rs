//! A container's `volumeMounts` turned into the steps its child runs before `exec` (see
//! `mount_ns`), computed in the kubelet where allocation and file-system inspection are free.
//!
//! The child gets a private mount namespace (propagation private, so nothing leaks to the host
//! or to other Pods), then each volume is bind-mounted at its `mountPath`, shallowest first so
//! that nested mount points are created inside the outer volume (as runc does), and the
//! read-only ones are remounted read-only last.
//!
//! Mount points must exist, but the host's file system must not change. A `mountPath` that
//! exists on the host is mounted over directly. For one that does not (`/inputs`), its nearest
//! existing ancestor `A` is *shadowed* in the namespace: a tmpfs gets one bind mount (or
//! symlink) per entry of `A`, so it looks like `A`, and is moved over `A` (for `/`: made the
//! root with chroot). The missing directories are then created in that tmpfs. Processes see
//! the host's tree plus the mount points; the host sees nothing.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use k8s_openapi::api::core::v1::Container;
use nix::errno::Errno;
use nix::mount::MsFlags;

use super::mount_ns::{Op, Step};
use super::pod_env::{self, Env};
use super::volumes::{Lookup, Volumes};

/// A container mount that cannot be made; the container does not start
/// (`CreateContainerConfigError`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct MountError(String);

/// One bind mount of a container.
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    /// Absolute, normalised path in the container.
    target: PathBuf,
    /// Host path, symlinks resolved.
    source: PathBuf,
    is_dir: bool,
    read_only: bool,
    volume: String,
}

/// The steps for `container`'s mounts, or `None` when it mounts nothing (then it runs without
/// a namespace of its own). `staging` is a directory of this container under the Pod's
/// directory for the shadowing tmpfs mounts; `workdir` is the container's working directory.
pub(crate) fn plan(
    container: &Container,
    volumes: &Volumes,
    env: &Env,
    staging: &Path,
    workdir: &Path,
) -> Result<Option<Vec<Step>>, MountError> {
    let mounts = resolve(container, volumes, env)?;
    if mounts.is_empty() {
        return Ok(None);
    }
    steps(mounts, staging, workdir).map(Some)
}

fn resolve(container: &Container, volumes: &Volumes, env: &Env) -> Result<Vec<Mount>, MountError> {
    let mut mounts = Vec::new();
    for m in container.volume_mounts.iter().flatten() {
        let volume = match volumes.get(&m.name) {
            Lookup::Ready(v) => v,
            Lookup::Skipped => continue,
            Lookup::Unknown => {
                return Err(MountError(format!(
                    "volumeMount {:?}: the Pod has no volume of that name",
                    m.name
                )));
            }
        };
        let target = container_path(&m.mount_path)?;
        let sub_path = match (&m.sub_path, &m.sub_path_expr) {
            (Some(p), _) if !p.is_empty() => p.clone(),
            (_, Some(expr)) if !expr.is_empty() => pod_env::expand_in(expr, env),
            _ => String::new(),
        };
        let source = source_path(&volume.path, &sub_path, volume.read_only, &m.name)?;
        let is_dir = std::fs::metadata(&source)
            .map_err(|e| MountError(format!("volume {:?}: {}: {e}", m.name, source.display())))?
            .is_dir();
        mounts.push(Mount {
            target,
            source,
            is_dir,
            read_only: m.read_only == Some(true) || volume.read_only,
            volume: m.name.clone(),
        });
    }
    Ok(mounts)
}

/// `mount_path` as an absolute path without `.` or `..`.
fn container_path(mount_path: &str) -> Result<PathBuf, MountError> {
    let mut path = PathBuf::from("/");
    for c in Path::new(mount_path).components() {
        match c {
            Component::Normal(part) => path.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(MountError(format!(
                    "mountPath {mount_path:?} must not contain '..'"
                )));
            }
        }
    }
    if path == Path::new("/") {
        return Err(MountError("mountPath \"/\" is not supported".into()));
    }
    Ok(path)
}

/// The host path a mount binds: the volume, or its `sub_path` inside it. A missing subPath of
/// a writable volume is created as a directory, as the kubelet does; the result must stay
/// inside the volume after resolving symlinks.
fn source_path(
    volume: &Path,
    sub_path: &str,
    read_only: bool,
    name: &str,
) -> Result<PathBuf, MountError> {
    let canonical = |p: &Path| {
        p.canonicalize()
            .map_err(|e| MountError(format!("volume {name:?}: {}: {e}", p.display())))
    };
    let root = canonical(volume)?;
    if sub_path.is_empty() {
        return Ok(root);
    }
    let relative = Path::new(sub_path);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(MountError(format!(
            "subPath {sub_path:?} of volume {name:?} must be relative without '..'"
        )));
    }
    let path = root.join(relative);
    if !path.exists() {
        if read_only {
            return Err(MountError(format!(
                "subPath {sub_path:?} does not exist in volume {name:?}"
            )));
        }
        std::fs::create_dir_all(&path).map_err(|e| {
            MountError(format!(
                "creating subPath {sub_path:?} of volume {name:?}: {e}"
            ))
        })?;
    }
    let resolved = canonical(&path)?;
    if !resolved.starts_with(&root) {
        return Err(MountError(format!(
            "subPath {sub_path:?} of volume {name:?} leads outside the volume"
        )));
    }
    Ok(resolved)
}

fn c_path(path: &Path) -> Result<CString, MountError> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| MountError(format!("path {} contains a NUL byte", path.display())))
}

fn steps(mut mounts: Vec<Mount>, staging: &Path, workdir: &Path) -> Result<Vec<Step>, MountError> {
    mounts.sort_by_key(|m| m.target.components().count());
    let mut steps = vec![
        Step::new(
            Op::Unshare,
            "creating a mount namespace for the volume mounts (the process kubelet needs root, CAP_SYS_ADMIN, for them)",
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
    ];

    // Ancestors to shadow, shallowest first, so a deeper one is shadowed inside the new tree.
    let mut shadows = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let nested = mounts[..i]
            .iter()
            .any(|outer| m.target.starts_with(&outer.target));
        if nested || m.target.exists() {
            continue;
        }
        let ancestor = m
            .target
            .ancestors()
            .skip(1)
            .find(|a| a.exists())
            .unwrap_or(Path::new("/"));
        let ancestor = ancestor
            .canonicalize()
            .map_err(|e| MountError(format!("resolving {}: {e}", ancestor.display())))?;
        shadows.insert((ancestor.components().count(), ancestor));
    }
    for (i, (_, ancestor)) in shadows.iter().enumerate() {
        steps.extend(shadow(ancestor, &staging.join(i.to_string()))?);
    }

    for m in &mounts {
        let what = format!("mounting volume {:?} at {}", m.volume, m.target.display());
        let mut parents: Vec<&Path> = m.target.ancestors().skip(1).collect();
        parents.reverse();
        for parent in parents.into_iter().skip(1) {
            steps.push(
                Step::new(
                    Op::Mkdir(c_path(parent)?),
                    format!("{what}: creating {}", parent.display()),
                )
                .tolerating(Errno::EEXIST),
            );
        }
        let point = c_path(&m.target)?;
        let create = if m.is_dir {
            Op::Mkdir(point.clone())
        } else {
            Op::CreateFile(point.clone())
        };
        steps.push(
            Step::new(create, format!("{what}: creating the mount point"))
                .tolerating(Errno::EEXIST),
        );
        steps.push(Step::new(
            Op::Mount {
                source: Some(c_path(&m.source)?),
                target: point,
                fstype: None,
                flags: MsFlags::MS_BIND | MsFlags::MS_REC,
                data: None,
            },
            what,
        ));
    }
    for m in mounts.iter().filter(|m| m.read_only) {
        steps.push(Step::new(
            Op::Mount {
                source: None,
                target: c_path(&m.target)?,
                fstype: None,
                flags: MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                data: None,
            },
            format!(
                "making volume {:?} at {} read-only",
                m.volume,
                m.target.display()
            ),
        ));
    }
    steps.push(Step::new(
        Op::Chdir(c_path(workdir)?),
        format!("entering {}", workdir.display()),
    ));
    Ok(steps)
}

/// Steps that put a tmpfs looking like `ancestor` over it, using the empty directory
/// `staging` (created here, under the Pod's directory) to assemble it.
fn shadow(ancestor: &Path, staging: &Path) -> Result<Vec<Step>, MountError> {
    let io = |what: &str, path: &Path| {
        let what = what.to_string();
        let path = path.display().to_string();
        move |e: std::io::Error| MountError(format!("{what} {path}: {e}"))
    };
    std::fs::create_dir_all(staging).map_err(io("creating", staging))?;
    let meta = std::fs::metadata(ancestor).map_err(io("reading", ancestor))?;
    let what = format!(
        "shadowing {} to create mount points in it",
        ancestor.display()
    );
    let staging_c = c_path(staging)?;
    let mut steps = vec![Step::new(
        Op::Mount {
            source: Some(c"tmpfs".into()),
            target: staging_c.clone(),
            fstype: Some(c"tmpfs".into()),
            flags: MsFlags::empty(),
            data: Some(
                CString::new(format!(
                    "mode={:o},uid={},gid={}",
                    meta.mode() & 0o7777,
                    meta.uid(),
                    meta.gid()
                ))
                .map_err(|_| MountError("tmpfs options".into()))?,
            ),
        },
        format!("{what}: mounting a tmpfs"),
    )];
    let mut entries: Vec<_> = std::fs::read_dir(ancestor)
        .map_err(io("listing", ancestor))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    entries.sort();
    for name in entries {
        let from = ancestor.join(&name);
        let to = staging.join(&name);
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue; // gone since the listing
        };
        let to_c = c_path(&to)?;
        if meta.file_type().is_symlink() {
            let Ok(target) = std::fs::read_link(&from) else {
                continue;
            };
            steps.push(Step::new(
                Op::Symlink {
                    target: c_path(&target)?,
                    link: to_c,
                },
                format!("{what}: copying the symlink {}", from.display()),
            ));
            continue;
        }
        let point = if meta.is_dir() {
            Op::Mkdir(to_c.clone())
        } else {
            Op::CreateFile(to_c.clone())
        };
        steps.push(Step::new(
            point,
            format!("{what}: creating {}", to.display()),
        ));
        steps.push(
            Step::new(
                Op::Mount {
                    source: Some(c_path(&from)?),
                    target: to_c,
                    fstype: None,
                    flags: MsFlags::MS_BIND | MsFlags::MS_REC,
                    data: None,
                },
                format!("{what}: binding {}", from.display()),
            )
            // Removed since the listing: then it is not there in the shadow either.
            .tolerating(Errno::ENOENT),
        );
    }
    // The recursive binds copied the staging tmpfs into itself when it lies under the
    // ancestor; detach that copy so the tree shows an empty staging directory as on the host.
    if let Ok(inside) = staging.strip_prefix(ancestor) {
        steps.push(
            Step::new(
                Op::Detach(c_path(&staging.join(inside))?),
                format!("{what}: detaching the copy of the staging mount"),
            )
            .tolerating(Errno::ENOENT),
        );
    }
    let finish = if ancestor == Path::new("/") {
        Op::SwitchRoot(staging_c)
    } else {
        Op::Mount {
            source: Some(staging_c),
            target: c_path(ancestor)?,
            fstype: None,
            flags: MsFlags::MS_MOVE,
            data: None,
        }
    };
    steps.push(Step::new(
        finish,
        format!("{what}: moving the tmpfs over it"),
    ));
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(target: &str, source: &Path, read_only: bool) -> Mount {
        Mount {
            target: target.into(),
            source: source.to_path_buf(),
            is_dir: true,
            read_only,
            volume: "v".into(),
        }
    }

    fn ops(steps: &[Step]) -> Vec<String> {
        steps.iter().map(|s| format!("{:?}", s.op)).collect()
    }

    #[test]
    fn mount_paths_are_normalised() {
        assert_eq!(container_path("inputs/").unwrap(), Path::new("/inputs"));
        assert_eq!(container_path("/a/./b").unwrap(), Path::new("/a/b"));
        assert!(container_path("/a/../b").is_err());
        assert!(container_path("/").is_err());
    }

    #[test]
    fn sub_paths_stay_inside_their_volume() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("vol");
        std::fs::create_dir(&volume).unwrap();
        std::os::unix::fs::symlink("/etc", volume.join("out")).unwrap();
        assert!(source_path(&volume, "out", false, "v").is_err());
        assert!(source_path(&volume, "../vol", false, "v").is_err());
        assert!(source_path(&volume, "missing", true, "v").is_err());
        let created = source_path(&volume, "new/dir", false, "v").unwrap();
        assert!(created.is_dir() && created.starts_with(volume.canonicalize().unwrap()));
    }

    #[test]
    fn existing_mount_points_need_no_shadow() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("there");
        std::fs::create_dir(&target).unwrap();
        let steps = steps(
            vec![mount(target.to_str().unwrap(), dir.path(), true)],
            &dir.path().join("staging"),
            dir.path(),
        )
        .unwrap();
        let ops = ops(&steps);
        assert!(
            !ops.iter()
                .any(|o| o.contains("tmpfs") || o.contains("SwitchRoot")),
            "{ops:?}"
        );
        assert!(ops.iter().any(|o| o.contains("MS_RDONLY")), "{ops:?}");
        assert!(ops.last().unwrap().starts_with("Chdir"), "{ops:?}");
    }

    #[test]
    fn missing_mount_points_shadow_their_nearest_ancestor_once() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let staging = base.join("staging");
        let steps = steps(
            vec![
                mount(base.join("a/b/deep").to_str().unwrap(), &base, false),
                mount(base.join("a/other").to_str().unwrap(), &base, false),
                // Nested in the first: created inside that volume, no shadow of its own.
                mount(base.join("a/b/deep/inner").to_str().unwrap(), &base, false),
            ],
            &staging,
            &base,
        )
        .unwrap();
        let ops = ops(&steps);
        let tmpfs: Vec<&String> = ops.iter().filter(|o| o.contains("\"tmpfs\"")).collect();
        assert_eq!(tmpfs.len(), 1, "{ops:?}");
        // The staging directory lies under the ancestor: its copy is detached.
        assert!(ops.iter().any(|o| o.starts_with("Detach")), "{ops:?}");
        let moved = format!(
            "target: {:?}",
            CString::new(base.as_os_str().as_bytes()).unwrap()
        );
        assert!(
            ops.iter()
                .any(|o| o.contains("MS_MOVE") && o.contains(&moved)),
            "{ops:?}"
        );
        // Shallowest mount first; the nested one after the one it is nested in.
        let position = |needle: &str| {
            ops.iter()
                .position(|o| o.starts_with("Mount") && o.contains("MS_BIND") && o.contains(needle))
                .unwrap()
        };
        assert!(position("a/other\"") < position("a/b/deep\""));
        assert!(position("a/b/deep\"") < position("deep/inner\""));
        assert!(
            !base.join("a").exists(),
            "planning must not touch the mount points"
        );
    }

    #[test]
    fn a_missing_top_level_directory_shadows_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let steps = steps(
            vec![mount("/ibench-testcluster-never-there/x", dir.path(), true)],
            &dir.path().join("staging"),
            dir.path(),
        )
        .unwrap();
        let ops = ops(&steps);
        assert!(ops.iter().any(|o| o.starts_with("SwitchRoot")), "{ops:?}");
        assert!(ops.iter().any(|o| o.contains("\"/usr\"")), "{ops:?}");
        assert!(!Path::new("/ibench-testcluster-never-there").exists());
    }
}
