//! The project's container images as tests see them: built by `images/build.sh` (OCI image
//! layouts, no container engine), read (manifest, config, size), unpacked into a root file
//! system with `umoci raw unpack`, and run from it as a container runtime would: chrooted into
//! the root file system, as the image's numeric user, with the image's environment, working
//! directory and entrypoint. The process kubelet runs Pods from such root file systems too
//! ([`crate::ImageProgram::Rootfs`], [`crate::ControlPlane::map_image_rootfs`]).
//!
//! No isolation beyond the chroot and the user: the process shares the host's network, PID
//! namespace and kernel. Running needs root (chroot and setuid), as the kubelet's mounts do.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// Where `images/build.sh` writes the images when set (else its default, under
/// `~/.cache/inference-bench/images`).
pub const IMAGES_DIR_ENV: &str = "IBENCH_IMAGES_DIR";

/// The workspace version: the tag `images/build.sh` gives both images.
pub const IMAGE_TAG: &str = env!("CARGO_PKG_VERSION");

/// An error of building, reading, unpacking or running an image, with what was attempted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ImageError(String);

fn err(message: impl Into<String>) -> ImageError {
    ImageError(message.into())
}

/// The repository's root (this crate is `tests/cluster`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `images/build.sh` once per process (it is cached by its inputs, so a warm run only
/// asks cargo whether the release binaries are fresh) and returns the directory holding the
/// `ibench` and `ibench-operator` image layouts. Its output goes to this process's stderr, so a
/// test shows why a build failed.
pub fn build_images() -> Result<&'static Path, ImageError> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let script = repo_root().join("images/build.sh");
            let mut command = build_command();
            let start = std::time::Instant::now();
            let output = command
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !output.status.success() {
                return Err(format!(
                    "{} failed ({}); its output is above",
                    script.display(),
                    output.status
                ));
            }
            let stdout = String::from_utf8_lossy(&output.stdout);
            let dir = stdout.lines().last().unwrap_or_default().trim().to_string();
            eprintln!(
                "images/build.sh: images in {dir} ({:.1} s)",
                start.elapsed().as_secs_f64()
            );
            Ok(PathBuf::from(dir))
        })
        .as_deref()
        .map_err(|e| err(e.clone()))
}

/// `images/build.sh` with the environment of a shell rather than of a test: the variables
/// cargo sets for a test process would make build scripts that read them (ring's) run again in
/// the script's release build, every time. Writes to `$IBENCH_IMAGES_DIR` when set.
pub fn build_command() -> Command {
    let mut command = Command::new(repo_root().join("images/build.sh"));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_for_tests) {
            command.env_remove(&name);
        }
    }
    command.env_remove("LD_LIBRARY_PATH");
    if let Some(dir) = std::env::var_os(IMAGES_DIR_ENV) {
        command.arg(dir);
    }
    command
}

fn set_by_cargo_for_tests(name: &str) -> bool {
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_", "CARGO_CFG_"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || matches!(
            name,
            "CARGO"
                | "CARGO_CRATE_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// The image `name` (`ibench` or `ibench-operator`) built by [`build_images`].
pub fn built_image(name: &str) -> Result<OciImage, ImageError> {
    OciImage::open(&build_images()?.join(name), IMAGE_TAG)
}

/// What a container runtime reads from an image's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    /// `config.User` as written (`65532:65532`).
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `config.Env`, in order.
    pub env: Vec<(String, String)>,
    pub working_dir: String,
    pub exposed_ports: Vec<String>,
    pub os: String,
    pub architecture: String,
}

impl ImageConfig {
    /// Reads an OCI image config (the JSON blob a manifest's `config` names).
    pub fn from_json(json: &Value) -> Result<ImageConfig, ImageError> {
        let config = &json["config"];
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let user = config["User"].as_str().unwrap_or_default().to_string();
        // Only numeric users: Kubernetes can check runAsNonRoot only for those, and a name
        // would need the image's /etc/passwd.
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u.parse::<u32>(), g.parse::<u32>()),
            None => (user.parse::<u32>(), user.parse::<u32>()),
        };
        let (Ok(uid), Ok(gid)) = (uid, gid) else {
            return Err(err(format!(
                "image user {user:?} is not numeric uid[:gid] (an empty user means root)"
            )));
        };
        let env = strings(&config["Env"])
            .into_iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv, String::new()),
            })
            .collect();
        let mut exposed_ports: Vec<String> = config["ExposedPorts"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        exposed_ports.sort();
        Ok(ImageConfig {
            user,
            uid,
            gid,
            entrypoint: strings(&config["Entrypoint"]),
            cmd: strings(&config["Cmd"]),
            env,
            working_dir: config["WorkingDir"].as_str().unwrap_or("/").to_string(),
            exposed_ports,
            os: json["os"].as_str().unwrap_or_default().to_string(),
            architecture: json["architecture"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// The value of `name` in the image's environment.
    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One image of an OCI image layout, by tag.
#[derive(Debug, Clone)]
pub struct OciImage {
    pub layout: PathBuf,
    pub tag: String,
    /// `sha256:…` of the manifest.
    pub manifest_digest: String,
    pub config: ImageConfig,
    /// Compressed layers + config + manifest: what a registry stores and a node pulls.
    pub compressed_size: u64,
    /// The layers' media types and sizes, in order.
    pub layers: Vec<(String, u64)>,
}

impl OciImage {
    /// Reads the image tagged `tag` (`org.opencontainers.image.ref.name`) in `layout`.
    pub fn open(layout: &Path, tag: &str) -> Result<OciImage, ImageError> {
        let read_json = |path: PathBuf| -> Result<Value, ImageError> {
            let text = std::fs::read(&path)
                .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
            serde_json::from_slice(&text)
                .map_err(|e| err(format!("{} is not JSON: {e}", path.display())))
        };
        let blob = |digest: &str| -> PathBuf {
            let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
            layout.join("blobs").join(algorithm).join(hex)
        };
        let index = read_json(layout.join("index.json"))?;
        let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        let descriptor = manifests
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str() == Some(tag))
            .ok_or_else(|| {
                let tags: Vec<&str> = manifests
                    .iter()
                    .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
                    .collect();
                err(format!(
                    "{} has no image tagged {tag:?} (tags: {tags:?})",
                    layout.display()
                ))
            })?;
        let manifest_digest = descriptor["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let manifest = read_json(blob(&manifest_digest))?;
        let config_digest = manifest["config"]["digest"].as_str().unwrap_or_default();
        let config = ImageConfig::from_json(&read_json(blob(config_digest))?)?;
        let layers: Vec<(String, u64)> = manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                (
                    l["mediaType"].as_str().unwrap_or_default().to_string(),
                    l["size"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        let compressed_size = layers.iter().map(|(_, size)| size).sum::<u64>()
            + manifest["config"]["size"].as_u64().unwrap_or(0)
            + descriptor["size"].as_u64().unwrap_or(0);
        Ok(OciImage {
            layout: layout.to_path_buf(),
            tag: tag.to_string(),
            manifest_digest,
            config,
            compressed_size,
            layers,
        })
    }

    /// Unpacks the image's layers into `dest` (which must not exist yet), as root: file
    /// owners and modes as in the image.
    pub fn unpack(&self, dest: &Path) -> Result<ImageRootfs, ImageError> {
        let image = format!("{}:{}", self.layout.display(), self.tag);
        let output = Command::new("umoci")
            .args(["raw", "unpack", "--image", &image])
            .arg(dest)
            .output()
            .map_err(|e| {
                err(format!(
                    "cannot run umoci (images/build.sh installs it): {e}"
                ))
            })?;
        if !output.status.success() {
            return Err(err(format!(
                "umoci raw unpack --image {image} {} failed ({}): {}",
                dest.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(ImageRootfs {
            rootfs: dest.to_path_buf(),
            config: self.config.clone(),
        })
    }
}

/// An unpacked image: its root file system and its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRootfs {
    pub rootfs: PathBuf,
    pub config: ImageConfig,
}

impl ImageRootfs {
    /// The file `path` (absolute in the image) on this machine.
    pub fn host_path(&self, path: &str) -> PathBuf {
        self.rootfs.join(path.trim_start_matches('/'))
    }

    /// `program` as an absolute path in the image: itself when it has a slash, else looked up
    /// in the image's `PATH` (in the image's file system, symlinks resolved inside it).
    pub fn resolve(&self, program: &str) -> Option<String> {
        let candidates: Vec<String> = if program.contains('/') {
            vec![program.to_string()]
        } else {
            self.config
                .env_var("PATH")
                .unwrap_or("/usr/local/bin:/usr/bin:/bin")
                .split(':')
                .filter(|dir| dir.starts_with('/'))
                .map(|dir| format!("{}/{program}", dir.trim_end_matches('/')))
                .collect()
        };
        candidates.into_iter().find(|path| self.is_executable(path))
    }

    fn is_executable(&self, path: &str) -> bool {
        use std::os::unix::fs::PermissionsExt;
        let mut current = PathBuf::from("/");
        let mut parts: Vec<String> = path
            .split('/')
            .filter(|p| !p.is_empty())
            .rev()
            .map(str::to_string)
            .collect();
        // Follows symlinks as the kernel would inside a chroot (at most 40 of them).
        let mut links = 0;
        while let Some(part) = parts.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    current.pop();
                    continue;
                }
                _ => current.push(&part),
            }
            let host = self
                .rootfs
                .join(current.strip_prefix("/").unwrap_or(&current));
            let Ok(meta) = std::fs::symlink_metadata(&host) else {
                return false;
            };
            if meta.file_type().is_symlink() {
                links += 1;
                let Ok(target) = std::fs::read_link(&host) else {
                    return false;
                };
                if links > 40 {
                    return false;
                }
                current.pop();
                if target.is_absolute() {
                    current = PathBuf::from("/");
                }
                let target = target.to_string_lossy().into_owned();
                parts.extend(
                    target
                        .split('/')
                        .filter(|p| !p.is_empty())
                        .rev()
                        .map(str::to_string),
                );
            } else if parts.is_empty() {
                return meta.is_file() && meta.permissions().mode() & 0o111 != 0;
            }
        }
        false
    }

    /// The home directory of the image's user in the image's `/etc/passwd`, as a container
    /// runtime sets `HOME`.
    pub fn home(&self) -> Option<String> {
        let passwd = std::fs::read_to_string(self.host_path("/etc/passwd")).ok()?;
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 7 && fields[2] == self.config.uid.to_string())
                .then(|| fields[5].to_string())
        })
    }

    /// Bytes of the files in the root file system (what the image takes unpacked on a node).
    pub fn size_bytes(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) if m.is_file() => m.len(),
                    _ => 0,
                })
                .sum()
        }
        walk(&self.rootfs)
    }

    /// The image's argv for `args` as a runtime builds it: entrypoint + `args`, or entrypoint
    /// + the image's `Cmd` when `args` is empty; the program resolved in the image.
    pub fn argv(&self, args: &[&str]) -> Result<Vec<String>, ImageError> {
        let mut argv = self.config.entrypoint.clone();
        if args.is_empty() {
            argv.extend(self.config.cmd.iter().cloned());
        } else {
            argv.extend(args.iter().map(|a| a.to_string()));
        }
        let Some(first) = argv.first_mut() else {
            return Err(err("the image has neither entrypoint nor command"));
        };
        *first = self.resolve(first).ok_or_else(|| {
            err(format!(
                "{first:?} is not an executable file in the image (PATH {:?})",
                self.config.env_var("PATH")
            ))
        })?;
        Ok(argv)
    }

    /// A command running the image with `args` (see [`ImageRootfs::argv`]): in a chroot of the
    /// root file system, in the image's working directory, as the image's user and group (no
    /// supplementary groups), with the image's environment plus `HOME` from its `/etc/passwd`.
    pub fn command(&self, args: &[&str]) -> Result<Command, ImageError> {
        let argv = self.argv(args)?;
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).env_clear();
        if let Some(home) = self.home() {
            command.env("HOME", home);
        }
        command.envs(self.config.env.iter().map(|(k, v)| (k, v)));
        let steps = ChrootSteps::new(&self.rootfs, &self.config)?;
        // SAFETY: `ChrootSteps::apply` makes only async-signal-safe syscalls on data prepared
        // before the fork.
        unsafe {
            command.pre_exec(move || steps.apply());
        }
        Ok(command)
    }
}

/// chroot, chdir and the image user, prepared before the fork.
struct ChrootSteps {
    root: CString,
    workdir: CString,
    uid: u32,
    gid: u32,
}

impl ChrootSteps {
    fn new(rootfs: &Path, config: &ImageConfig) -> Result<ChrootSteps, ImageError> {
        let c = |bytes: &[u8]| CString::new(bytes).map_err(|_| err("path with a NUL byte"));
        let workdir = if config.working_dir.is_empty() {
            "/"
        } else {
            &config.working_dir
        };
        Ok(ChrootSteps {
            root: c(rootfs.as_os_str().as_bytes())?,
            workdir: c(workdir.as_bytes())?,
            uid: config.uid,
            gid: config.gid,
        })
    }

    fn apply(&self) -> io::Result<()> {
        let check = |rc: libc::c_int| {
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        // SAFETY: plain syscalls on NUL-terminated strings owned by `self`.
        unsafe {
            check(libc::chroot(self.root.as_ptr()))?;
            check(libc::chdir(self.workdir.as_ptr()))?;
            check(libc::setgroups(1, &self.gid))?;
            check(libc::setgid(self.gid))?;
            check(libc::setuid(self.uid))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_reads_numeric_users_and_refuses_names() {
        let config = ImageConfig::from_json(&json!({
            "os": "linux", "architecture": "amd64",
            "config": {"User": "65532:65533", "Entrypoint": ["ibench"], "Cmd": ["run"],
                       "Env": ["PATH=/usr/bin:/bin", "A=b=c"], "WorkingDir": "/home/nonroot",
                       "ExposedPorts": {"8080/tcp": {}}}
        }))
        .unwrap();
        assert_eq!((config.uid, config.gid), (65532, 65533));
        assert_eq!(config.env_var("A"), Some("b=c"));
        assert_eq!(config.exposed_ports, vec!["8080/tcp".to_string()]);
        assert_eq!(
            ImageConfig::from_json(&json!({"config": {"User": "7"}}))
                .map(|c| (c.uid, c.gid))
                .unwrap(),
            (7, 7)
        );
        let named = ImageConfig::from_json(&json!({"config": {"User": "nonroot"}})).unwrap_err();
        assert!(named.to_string().contains("not numeric"), "{named}");
    }

    #[test]
    fn programs_resolve_in_the_image_not_on_the_host() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        let tool = root.join("usr/local/bin/tool");
        std::fs::write(&tool, "").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(root.join("usr/lib/data"), "").unwrap();
        // An absolute link inside the image points into the image.
        symlink("/usr/local/bin/tool", root.join("usr/lib/alias")).unwrap();
        let image = ImageRootfs {
            rootfs: root.to_path_buf(),
            config: ImageConfig::from_json(&json!({"config": {
                "User": "1:1", "Entrypoint": ["tool"],
                "Env": ["PATH=/usr/local/bin:/usr/lib"]}}))
            .unwrap(),
        };
        assert_eq!(
            image.resolve("tool").as_deref(),
            Some("/usr/local/bin/tool")
        );
        assert_eq!(image.resolve("alias").as_deref(), Some("/usr/lib/alias"));
        // Not executable, or only on the host.
        assert_eq!(image.resolve("data"), None);
        assert_eq!(image.resolve("sh"), None);
        assert_eq!(image.resolve("/bin/sh"), None);
        assert_eq!(
            image.argv(&["--version"]).unwrap(),
            vec!["/usr/local/bin/tool", "--version"]
        );
    }
}
