//! The images of `images/build.sh` (issue 23): each is built (cached by its inputs), unpacked
//! and run from its own root file system, chrooted and as the image's user, the way a container
//! runtime would start it: `ibench --version`, `ibench sim` answering `/health`,
//! `ibench-operator crd` printing the committed CRD. Each runs as a numeric non-root user,
//! holds no shell, is smaller than 40 MB, and is configured as the Dockerfile's stage of the
//! same name (user, entrypoint, command, ports, binary path; environment and working directory
//! of its distroless base).
//!
//! Needs root (chroot, setuid), like the process kubelet's mounts.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use ibench_testcluster::oci_image::{
    IMAGE_TAG, ImageRootfs, OciImage, build_command, build_images, built_image,
};

/// What a node pulls: the budget that decides how fast a runner pod starts on a cold node.
const MAX_COMPRESSED_BYTES: u64 = 25 * 1000 * 1000;
/// What a node stores. The runner carries an H.264 encoder (video requests) and a Python
/// expression parser (trace filters), so unpacked it is ~46 MB, of which ~7 MB are the
/// symbols kept for readable backtraces; this catches bloat, not those.
const MAX_UNPACKED_BYTES: u64 = 55 * 1000 * 1000;
const NONROOT: u32 = 65532;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The image `name`, unpacked into a fresh directory (kept alive by the returned guard).
fn unpacked(name: &str) -> (OciImage, ImageRootfs, tempfile::TempDir) {
    let image = built_image(name).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let rootfs = image
        .unpack(&dir.path().join("rootfs"))
        .unwrap_or_else(|e| panic!("{e}"));
    (image, rootfs, dir)
}

/// The instructions of the Dockerfile's stage `stage`, as (instruction, arguments) pairs.
fn dockerfile_stage(stage: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let mut current = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (instruction, args) = line.split_once(' ').unwrap_or((line, ""));
        let instruction = instruction.to_ascii_uppercase();
        if instruction == "FROM" {
            current = args
                .rsplit_once(" AS ")
                .map(|(_, name)| name.trim().to_string())
                .unwrap_or_default();
        }
        if current == stage {
            out.push((instruction, args.trim().to_string()));
        }
    }
    assert!(!out.is_empty(), "Dockerfile has no stage {stage:?}");
    out
}

fn instruction<'a>(stage: &'a [(String, String)], name: &str) -> Option<&'a str> {
    stage
        .iter()
        .rev()
        .find(|(i, _)| i == name)
        .map(|(_, a)| a.as_str())
}

fn json_list(text: Option<&str>) -> Vec<String> {
    text.map(|t| serde_json::from_str(t).unwrap_or_else(|e| panic!("{t:?} is not exec form: {e}")))
        .unwrap_or_default()
}

/// What every image must be: numeric non-root user, no shell, small, and the Dockerfile's stage
/// `stage` (its distroless base's environment and working directory included).
fn check_image(name: &str, stage: &str, image: &OciImage, rootfs: &ImageRootfs) {
    let config = &image.config;
    let size = rootfs.size_bytes();
    eprintln!(
        "image {name}:{IMAGE_TAG}: {:.1} MB unpacked, {:.1} MB compressed ({} layer(s)), {} {}/{}, user {}, manifest {}",
        size as f64 / 1e6,
        image.compressed_size as f64 / 1e6,
        image.layers.len(),
        image.layout.display(),
        config.os,
        config.architecture,
        config.user,
        image.manifest_digest
    );
    assert!(
        size < MAX_UNPACKED_BYTES && image.compressed_size < MAX_COMPRESSED_BYTES,
        "image {name} is {size} bytes unpacked (at most {MAX_UNPACKED_BYTES}), {} compressed (at most {MAX_COMPRESSED_BYTES})",
        image.compressed_size
    );

    // Non-root, numerically (Kubernetes checks runAsNonRoot only on numeric users).
    assert_eq!((config.uid, config.gid), (NONROOT, NONROOT), "{config:?}");
    assert_eq!(config.os, "linux");

    // No shell, nor anything else to run but the program.
    for shell in ["sh", "bash", "dash", "ash", "busybox"] {
        assert_eq!(rootfs.resolve(shell), None, "image {name} holds {shell}");
    }
    for path in ["/bin/sh", "/usr/bin/sh", "/bin/bash"] {
        assert!(
            std::fs::symlink_metadata(rootfs.host_path(path)).is_err(),
            "image {name} holds {path}"
        );
    }
    let mut executables = Vec::new();
    collect_executables(&rootfs.rootfs, &rootfs.rootfs, &mut executables);
    executables.retain(|p| !p.starts_with("/usr/lib") && !p.starts_with("/lib"));
    assert_eq!(
        executables,
        vec![format!("/usr/local/bin/{name}")],
        "image {name} holds executables other than its program (libraries aside)"
    );

    // The Dockerfile's stage: same user, entrypoint, command, ports, binary path.
    let stage = dockerfile_stage(stage);
    assert_eq!(Some(config.user.as_str()), instruction(&stage, "USER"));
    assert_eq!(
        config.entrypoint,
        json_list(instruction(&stage, "ENTRYPOINT"))
    );
    assert_eq!(config.cmd, json_list(instruction(&stage, "CMD")));
    let exposed: Vec<String> = instruction(&stage, "EXPOSE")
        .map(|p| p.split_whitespace().map(|p| format!("{p}/tcp")).collect())
        .unwrap_or_default();
    assert_eq!(config.exposed_ports, exposed);
    let from = instruction(&stage, "FROM").unwrap_or_default();
    assert!(
        from.starts_with("gcr.io/distroless/cc-debian12:nonroot"),
        "the Dockerfile's {name} base changed ({from}): align images/build.sh and this test"
    );
    let copy = instruction(&stage, "COPY").unwrap_or_default();
    assert!(copy.ends_with(&format!(" /usr/local/bin/{name}")), "{copy}");
    // gcr.io/distroless/cc-debian12:nonroot's config, which the Dockerfile's images inherit.
    assert_eq!(config.working_dir, "/home/nonroot");
    assert_eq!(
        config.env_var("PATH"),
        Some("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    );
    assert_eq!(
        config.env_var("SSL_CERT_FILE"),
        Some("/etc/ssl/certs/ca-certificates.crt")
    );
    let certs = std::fs::read_to_string(rootfs.host_path("/etc/ssl/certs/ca-certificates.crt"))
        .expect("CA certificates in the image");
    assert!(certs.matches("BEGIN CERTIFICATE").count() > 50);
    let passwd = std::fs::read_to_string(rootfs.host_path("/etc/passwd")).expect("/etc/passwd");
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    assert_eq!(rootfs.home().as_deref(), Some("/home/nonroot"));

    // The archive for `kind load image-archive` / `k3d image import` names the image in full.
    let archive = image
        .layout
        .with_file_name(format!("{name}-{IMAGE_TAG}.oci.tar"));
    let index = std::process::Command::new("tar")
        .arg("-xOf")
        .arg(&archive)
        .arg("index.json")
        .output()
        .expect("tar");
    assert!(
        index.status.success(),
        "{}: {}",
        archive.display(),
        String::from_utf8_lossy(&index.stderr)
    );
    let index: serde_json::Value = serde_json::from_slice(&index.stdout).expect("index.json");
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        format!("ghcr.io/inference-bench/{name}:{IMAGE_TAG}")
    );
    assert_eq!(
        index["manifests"][0]["digest"],
        image.manifest_digest.as_str()
    );
}

/// Regular files with an execute bit, as absolute paths in the image.
fn collect_executables(root: &Path, dir: &Path, out: &mut Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let meta = entry.metadata().expect("metadata");
        if meta.is_dir() {
            collect_executables(root, &entry.path(), out);
        } else if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            let path = entry.path();
            out.push(format!("/{}", path.strip_prefix(root).unwrap().display()));
        }
    }
    out.sort();
}

/// Runs the image with `args` to its end; returns stdout, panicking with its output on failure.
fn run(rootfs: &ImageRootfs, args: &[&str]) -> String {
    let output = rootfs
        .command(args)
        .unwrap_or_else(|e| panic!("{e}"))
        .output()
        .unwrap_or_else(|e| panic!("cannot start the image with {args:?}: {e}"));
    assert!(
        output.status.success(),
        "{args:?} in the image: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Kills the child when the test ends, passing or not.
struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// The effective uid and gid of a running process.
fn process_ids(pid: u32) -> (u32, u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let field = |name: &str| -> u32 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    (field("Uid:"), field("Gid:"))
}

#[test]
fn ibench_image_runs_the_runner_and_the_simulator_as_non_root_without_a_shell() {
    let start = Instant::now();
    let (image, rootfs, _dir) = unpacked("ibench");
    check_image("ibench", "ibench", &image, &rootfs);

    let version = run(&rootfs, &["--version"]);
    assert_eq!(version.trim(), format!("ibench {IMAGE_TAG}"));

    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut command = rootfs
        .command(&["sim", "--port", &port.to_string()])
        .unwrap_or_else(|e| panic!("{e}"));
    let sim = KillOnDrop(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ibench sim from the image"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let response = loop {
        match http_get(port, "/health") {
            Ok(response) => break response,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("ibench sim from the image does not answer on port {port}: {e}"),
        }
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(process_ids(sim.0.id()), (NONROOT, NONROOT));
    let models = http_get(port, "/v1/models").expect("/v1/models");
    assert!(models.starts_with("HTTP/1.1 200"), "{models}");
    eprintln!(
        "ibench image: built, unpacked and checked in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn operator_image_prints_the_committed_crd_as_non_root_without_a_shell() {
    let (image, rootfs, _dir) = unpacked("ibench-operator");
    check_image("ibench-operator", "operator", &image, &rootfs);

    let crd = run(&rootfs, &["crd"]);
    let committed =
        std::fs::read_to_string(repo().join("crds/inferencebenchmarks.inferencebench.dev.yaml"))
            .expect("the committed CRD");
    assert!(
        crd == committed,
        "ibench-operator crd in the image differs from crds/inferencebenchmarks.inferencebench.dev.yaml"
    );
    let version = run(&rootfs, &["--version"]);
    assert_eq!(version.trim(), format!("ibench-operator {IMAGE_TAG}"));
}

#[test]
fn the_images_are_built_once_for_the_same_inputs() {
    build_images().unwrap_or_else(|e| panic!("{e}"));
    let before = built_image("ibench").unwrap_or_else(|e| panic!("{e}"));
    // A second run of the script (not the process's memo) finds everything up to date.
    let output = build_command().output().expect("images/build.sh");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("ibench:") && log.contains("up to date"),
        "{log}"
    );
    assert!(
        !log.contains("built in"),
        "rebuilt although nothing changed:\n{log}"
    );
    let after = built_image("ibench").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(before.manifest_digest, after.manifest_digest);
}
