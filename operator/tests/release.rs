//! The release workflow (`.github/workflows/release.yml`, issue 23), which cannot run here (no
//! Docker daemon, no registry): actionlint (pinned, built from the Go module proxy by
//! `tests/tools/build-actionlint.sh`, with shellcheck for the `run:` scripts) finds nothing in
//! any workflow, and the release publishes what the chart and manifests pull: both images for
//! amd64 and arm64 under ghcr.io/inference-bench, signed, with an SBOM, the chart as an OCI
//! artifact, at the workspace version, which the chart's version and appVersion follow.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_yaml::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn actionlint() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let script = repo().join("tests/tools/build-actionlint.sh");
        let output = Command::new(&script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "{} failed (output above)",
            script.display()
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
    })
}

/// Runs actionlint on `files` from `dir`; returns (success, output).
fn lint(dir: &Path, files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(actionlint())
        .args(["-no-color", "-shellcheck", "shellcheck"])
        .args(files)
        .current_dir(dir)
        .output()
        .expect("actionlint runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn workflows() -> Vec<PathBuf> {
    let dir = repo().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn actionlint_finds_nothing_in_the_workflows() {
    let files = workflows();
    assert!(
        files.iter().any(|f| f.ends_with("release.yml")),
        "{files:?}"
    );
    let (ok, output) = lint(&repo(), &files);
    assert!(
        ok,
        "actionlint found problems in .github/workflows:\n{output}"
    );
}

#[test]
fn actionlint_reports_a_broken_workflow() {
    // The lint is live: an unknown output, an unknown runner label's typo and an unquoted
    // shell variable (shellcheck) are all found.
    let dir = tempfile::tempdir().expect("temporary directory");
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    let broken = workflows.join("broken.yml");
    std::fs::write(
        &broken,
        r#"on: {push: {tags: ["v*"]}}
jobs:
  a:
    runs-on: ubuntu-24.04
    steps:
      - run: echo ${{ steps.nope.outputs.version }}
      - run: cp $1 $2
"#,
    )
    .unwrap();
    let (ok, output) = lint(dir.path(), &[broken]);
    assert!(!ok, "actionlint accepted a broken workflow:\n{output}");
    assert!(output.contains("steps.nope"), "{output}");
    assert!(
        output.contains("SC2086"),
        "shellcheck did not run:\n{output}"
    );
}

fn yaml(path: &str) -> Value {
    let path = repo().join(path);
    serde_yaml::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `run:` script and `uses:` of a job, joined, to look for the commands a release needs.
fn job_text(job: &Value) -> String {
    job["steps"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|s| serde_yaml::to_string(s).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_release_publishes_signed_multi_arch_images_an_sbom_and_the_chart_at_the_workspace_version() {
    let workflow = yaml(".github/workflows/release.yml");
    // serde_yaml reads the key `on` as a string (YAML 1.2), not as `true`.
    assert_eq!(
        workflow["on"]["push"]["tags"],
        serde_yaml::from_str::<Value>(r#"["v*"]"#).unwrap()
    );
    let jobs = &workflow["jobs"];

    let version = job_text(&jobs["version"]);
    for needle in [
        "charts/inference-bench/Chart.yaml",
        ".appVersion",
        "cargo metadata",
        "TAG",
    ] {
        assert!(
            version.contains(needle),
            "the version job does not use {needle}:\n{version}"
        );
    }

    let matrix = &jobs["build"]["strategy"]["matrix"];
    let list = |v: &Value| -> Vec<String> {
        v.as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(list(&matrix["arch"]), ["amd64", "arm64"]);
    assert_eq!(list(&matrix["image"]), ["ibench", "ibench-operator"]);
    // Each image comes from the Dockerfile stage of that name.
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    for include in matrix["include"].as_sequence().unwrap() {
        if let Some(target) = include["target"].as_str() {
            assert!(
                text.contains(&format!(" AS {target}\n")),
                "no Dockerfile stage {target}"
            );
        }
    }
    assert_eq!(
        workflow["env"]["REGISTRY"].as_str(),
        Some("ghcr.io/inference-bench")
    );

    let publish = &jobs["publish"];
    assert_eq!(publish["permissions"]["id-token"].as_str(), Some("write"));
    let steps = job_text(publish);
    for needle in [
        "sigstore/cosign-installer",
        "cosign sign --yes",
        "anchore/sbom-action",
        "cosign attest --yes --type spdxjson",
        "cosign verify",
        "imagetools create",
    ] {
        assert!(
            steps.contains(needle),
            "the publish job lacks {needle}:\n{steps}"
        );
    }

    let chart = job_text(&jobs["chart"]);
    assert!(
        chart.contains(
            "helm push \"dist/inference-bench-$VERSION.tgz\" oci://ghcr.io/inference-bench/charts"
        ),
        "{chart}"
    );

    // What the chart and the plain manifest pull is what the release pushes, at this version.
    let values = yaml("charts/inference-bench/values.yaml");
    assert_eq!(
        values["image"]["repository"].as_str(),
        Some("ghcr.io/inference-bench/ibench-operator")
    );
    assert_eq!(
        values["runner"]["image"]["repository"].as_str(),
        Some("ghcr.io/inference-bench/ibench")
    );
    let chart_yaml = yaml("charts/inference-bench/Chart.yaml");
    assert_eq!(
        chart_yaml["version"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        chart_yaml["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let manifest = std::fs::read_to_string(repo().join("deploy/operator.yaml")).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert!(manifest.contains(&format!(
        "ghcr.io/inference-bench/ibench-operator:{version}"
    )));
    assert!(manifest.contains(&format!("ghcr.io/inference-bench/ibench:{version}")));
}
