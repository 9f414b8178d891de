//! The process kubelet's replacement for container images: a table from image name to a
//! program on this machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use crate::oci_image::ImageRootfs;

/// What a mapped image runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageProgram {
    /// The image's entrypoint is this binary. A Pod with an empty `command` runs it with `args`;
    /// a `command` whose first element names the entrypoint (its file name, with or without a
    /// directory) runs it too. Any other `command` fails the Pod: it would need the image's
    /// file system.
    Binary(PathBuf),
    /// `command` (with `args`) runs as a host command looked up in `PATH`, for test Pods that
    /// need a shell or `sleep` (e.g. image `busybox`).
    HostCommand,
    /// An unpacked image (see [`crate::oci_image`]): the container runs from the image's root
    /// file system, chrooted into it as the image's user, with the image's environment, as a
    /// container runtime would. An empty `command` runs the image's entrypoint with `args` (or
    /// its `Cmd`); a `command` runs if its program is an executable of the image (looked up in
    /// the image's `PATH`), else the Pod fails with `CommandNotFound`.
    Rootfs(ImageRootfs),
}

/// Why a container cannot be started; becomes the Pod's status reason and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unrunnable {
    pub reason: &'static str,
    pub message: String,
}

/// Image name without tag or digest: `ghcr.io/x/ibench:1.0@sha256:…` → `ghcr.io/x/ibench`.
pub fn image_key(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(name, _)| name);
    match image.rfind(':') {
        // A colon before the last slash belongs to a registry port, not a tag.
        Some(colon) if !image[colon..].contains('/') => &image[..colon],
        _ => image,
    }
}

/// Image → program table shared by a control plane's handle and its kubelet.
#[derive(Debug, Default)]
pub(crate) struct ImageTable {
    programs: RwLock<BTreeMap<String, ImageProgram>>,
}

impl ImageTable {
    pub(crate) fn insert(&self, image: &str, program: ImageProgram) {
        self.programs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(image_key(image).to_string(), program);
    }

    fn known(&self) -> String {
        let programs = self.programs.read().unwrap_or_else(|p| p.into_inner());
        if programs.is_empty() {
            return "none".into();
        }
        programs
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The unpacked image `image` runs from, when it is mapped to one.
    pub(crate) fn rootfs(&self, image: &str) -> Option<ImageRootfs> {
        match self
            .programs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(image_key(image))
        {
            Some(ImageProgram::Rootfs(rootfs)) => Some(rootfs.clone()),
            _ => None,
        }
    }

    /// The argv (before `$(VAR)` expansion) for a container, or why it cannot run.
    pub(crate) fn argv(
        &self,
        image: &str,
        command: &[String],
        args: &[String],
    ) -> Result<Vec<String>, Unrunnable> {
        let program = self
            .programs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(image_key(image))
            .cloned();
        let Some(program) = program else {
            return Err(Unrunnable {
                reason: "ImageNotMapped",
                message: format!(
                    "image {image:?} is not mapped to a local program by the process kubelet (known images: {})",
                    self.known()
                ),
            });
        };
        match program {
            ImageProgram::Binary(path) => {
                let entrypoint = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let rest: &[String] = match command.split_first() {
                    None => &[],
                    Some((first, rest)) if file_name(first) == entrypoint => rest,
                    Some((first, _)) => {
                        return Err(Unrunnable {
                            reason: "CommandNotMapped",
                            message: format!(
                                "image {image:?} maps only its entrypoint {entrypoint:?} ({}); command {first:?} would need the image's file system",
                                path.display()
                            ),
                        });
                    }
                };
                Ok(std::iter::once(path.to_string_lossy().into_owned())
                    .chain(rest.iter().cloned())
                    .chain(args.iter().cloned())
                    .collect())
            }
            ImageProgram::HostCommand => {
                if command.is_empty() {
                    return Err(Unrunnable {
                        reason: "NoCommand",
                        message: format!(
                            "image {image:?} runs host commands, but the container has no command"
                        ),
                    });
                }
                Ok(command.iter().chain(args).cloned().collect())
            }
            ImageProgram::Rootfs(rootfs) => {
                let config = &rootfs.config;
                let mut argv: Vec<String> = if command.is_empty() {
                    let rest = if args.is_empty() { &config.cmd } else { args };
                    config.entrypoint.iter().chain(rest).cloned().collect()
                } else {
                    command.iter().chain(args).cloned().collect()
                };
                let Some(first) = argv.first_mut() else {
                    return Err(Unrunnable {
                        reason: "NoCommand",
                        message: format!(
                            "image {image:?} has no entrypoint and the container no command"
                        ),
                    });
                };
                *first = rootfs.resolve(first).ok_or_else(|| Unrunnable {
                    reason: "CommandNotFound",
                    message: format!(
                        "executable {first:?} not found in image {image:?} (PATH {:?}, root file system {})",
                        config.env_var("PATH").unwrap_or_default(),
                        rootfs.rootfs.display()
                    ),
                })?;
                Ok(argv)
            }
        }
    }
}

fn file_name(s: &str) -> String {
    Path::new(s)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn image_key_strips_tag_and_digest_but_not_registry_port() {
        assert_eq!(image_key("ghcr.io/x/ibench:1.0"), "ghcr.io/x/ibench");
        assert_eq!(image_key("ghcr.io/x/ibench@sha256:abc"), "ghcr.io/x/ibench");
        assert_eq!(image_key("localhost:5000/ibench"), "localhost:5000/ibench");
        assert_eq!(
            image_key("localhost:5000/ibench:v2"),
            "localhost:5000/ibench"
        );
        assert_eq!(image_key("busybox"), "busybox");
    }

    #[test]
    fn binary_images_map_empty_and_entrypoint_commands() {
        let table = ImageTable::default();
        table.insert(
            "ibench:latest",
            ImageProgram::Binary("/opt/bin/ibench".into()),
        );
        assert_eq!(
            table.argv("ibench:1", &[], &strings(&["run"])).unwrap(),
            strings(&["/opt/bin/ibench", "run"])
        );
        assert_eq!(
            table
                .argv(
                    "ibench",
                    &strings(&["/usr/local/bin/ibench", "a"]),
                    &strings(&["b"])
                )
                .unwrap(),
            strings(&["/opt/bin/ibench", "a", "b"])
        );
        assert_eq!(
            table
                .argv("ibench", &strings(&["sh"]), &[])
                .unwrap_err()
                .reason,
            "CommandNotMapped"
        );
        let err = table.argv("nginx:1.27", &[], &[]).unwrap_err();
        assert_eq!(err.reason, "ImageNotMapped");
        assert!(
            err.message.contains("nginx:1.27") && err.message.contains("ibench"),
            "{}",
            err.message
        );
    }

    #[test]
    fn host_images_need_a_command() {
        let table = ImageTable::default();
        table.insert("busybox", ImageProgram::HostCommand);
        assert_eq!(
            table
                .argv("busybox", &strings(&["sh", "-c"]), &strings(&["exit 0"]))
                .unwrap(),
            strings(&["sh", "-c", "exit 0"])
        );
        assert_eq!(
            table.argv("busybox", &[], &[]).unwrap_err().reason,
            "NoCommand"
        );
    }
}
