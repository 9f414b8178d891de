//! `ibench run` with object storage, against real S3 and GCS servers built by the test harness
//! (SeaweedFS, fake-gcs-server): report files uploaded byte for byte, input files fetched from URLs, and every
//! bad bucket or input refused before the first request.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use ibench_sim::SimConfig;
use ibench_testcluster::{OversizedObjectServer, S3Server, shared_gcs, shared_s3};
use ibench_testkit as common;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// Every object under `prefix`, by key.
async fn objects(store: &dyn ObjectStore, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let listed: Vec<_> = store
        .list(Some(&ObjectPath::from(prefix)))
        .try_collect()
        .await
        .unwrap();
    let mut out = Vec::new();
    for meta in listed {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.push((meta.location.to_string(), bytes.to_vec()));
    }
    out.sort();
    out
}

/// `ibench run` with the S3 server's keys in its environment, as a user's shell or a pod's
/// `envFrom` would give them, and `extra_env`.
fn run_with_credentials(
    config: &Path,
    s3: &S3Server,
    secret: &str,
    extra_env: &[(&str, &str)],
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ibench"))
        .args(["run", "--config"])
        .arg(config)
        .env("AWS_ACCESS_KEY_ID", s3.access_key())
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .envs(extra_env.iter().copied())
        .output()
        .unwrap()
}

/// The files `ibench run` writes reach the S3 and GCS buckets byte for byte, under
/// inference-perf's names; the GCS emulator is named the way Google's clients name one
/// (`STORAGE_EMULATOR_HOST`, nothing else).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_reach_s3_and_gcs_byte_for_byte() {
    let (s3, gcs) = (shared_s3().await, shared_gcs().await);
    let s3_bucket = s3.bucket("cli-reports").await.unwrap();
    let gcs_bucket = gcs.bucket("cli-reports").await.unwrap();
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("reports");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  base_url: {}\nload:\n  stages:\n  - rate: 40\n    duration: 2\n  - rate: 60\n    duration: 1\nreport:\n  request_lifecycle:\n    per_stage: true\n    per_request: true\nstorage:\n  local_storage:\n    path: {}\n    report_file_prefix: local-\n  simple_storage_service:\n    bucket_name: {s3_bucket}\n    path: team/{{timestamp}}\n    report_file_prefix: s3-\n    endpoint_url: {}\n    region_name: {}\n    addressing_style: path\n  google_cloud_storage:\n    bucket_name: {gcs_bucket}\n    path: gcs/run\n    report_file_prefix: g-\n",
            sim.base_url(),
            local.display(),
            s3.endpoint(),
            s3.region(),
        ),
    )
    .unwrap();
    let output = run_with_credentials(
        &config,
        s3,
        s3.secret_key(),
        &[("STORAGE_EMULATOR_HOST", gcs.endpoint())],
    );
    assert!(output.status.success(), "{}", common::output_text(&output));
    for bucket in [
        format!("s3://{s3_bucket}/team/"),
        format!("gs://{gcs_bucket}/gcs/run/g-"),
    ] {
        assert!(
            common::output_text(&output).contains(&bucket),
            "{bucket} not in {}",
            common::output_text(&output)
        );
    }

    let mut written: Vec<(String, Vec<u8>)> = std::fs::read_dir(&local)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            let name = name.strip_prefix("local-").unwrap().to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    written.sort();
    let names: Vec<&str> = written.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "config.yaml",
            "inference-perf.partial.stage_0.yaml",
            "inference-perf.partial.stage_1.yaml",
            "per_request_lifecycle_metrics.json",
            "stage_0_lifecycle_metrics.json",
            "stage_1_lifecycle_metrics.json",
            "summary_lifecycle_metrics.json",
            "validation.json",
        ]
    );
    let records: Vec<serde_json::Value> = serde_json::from_slice(&written[3].1).unwrap();
    assert_eq!(
        records.len(),
        140,
        "every request is in the per-request file"
    );

    let in_s3 = objects(&s3.store(&s3_bucket).unwrap(), "team").await;
    let in_gcs = objects(&gcs.store(&gcs_bucket).unwrap(), "gcs").await;
    for (bucket, objects) in [("S3", &in_s3), ("GCS", &in_gcs)] {
        assert_eq!(
            objects.len(),
            written.len(),
            "{bucket}: exactly the files written locally"
        );
    }
    for (((key, bytes), (gcs_key, gcs_bytes)), (name, expected)) in
        in_s3.iter().zip(&in_gcs).zip(&written)
    {
        assert!(
            key.starts_with("team/2") && key.ends_with(&format!("/s3-{name}")),
            "{key} for {name}"
        );
        assert_eq!(gcs_key, &format!("gcs/run/g-{name}"));
        assert!(bytes == expected, "{key} differs from the local file");
        assert!(
            gcs_bytes == expected,
            "{gcs_key} differs from the local file"
        );
    }
}

/// A trace read from `s3://`, with its digest pinned; then the same run with a wrong digest,
/// and with inputs and buckets that cannot work: each refused before any request, naming the
/// URL and the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_from_urls_and_bad_buckets_fail_before_the_first_request() {
    let s3 = shared_s3().await;
    let bucket = s3.bucket("cli-inputs").await.unwrap();
    let trace = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/traces/conversation-sample.csv"
    ))
    .unwrap();
    s3.store(&bucket)
        .unwrap()
        .put(
            &ObjectPath::from("traces/day1.csv"),
            PutPayload::from(trace.clone()),
        )
        .await
        .unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &trace)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("s3://{bucket}/traces/day1.csv");
    let write = |extra: &str, sha: &str| {
        let path = dir.path().join("config.yaml");
        std::fs::write(
            &path,
            format!(
                "server:\n  base_url: {}\ndata:\n  type: random\n  trace:\n    file: {url}\nload:\n  type: trace_replay\n  trace:\n    file: {url}\n  stages:\n  - rate: 8\n    duration: 6\ninputs:\n  s3:\n    endpoint_url: {}\n    region_name: {}\n  sha256:\n    {url}: {sha}\nstorage:\n  local_storage:\n    path: {}\n{extra}",
                sim.base_url(),
                s3.endpoint(),
                s3.region(),
                dir.path().join("reports").display(),
            ),
        )
        .unwrap();
        path
    };

    let output = run_with_credentials(&write("", &digest), s3, s3.secret_key(), &[]);
    assert!(output.status.success(), "{}", common::output_text(&output));
    let out = common::output_text(&output);
    assert!(
        out.contains(&format!(
            "Input load.trace.file: {url} ({} bytes, sha256 {digest})",
            trace.len()
        )),
        "{out}"
    );
    let rows = trace.iter().filter(|b| **b == b'\n').count() - 1;
    assert!(
        out.contains(&format!("\"count\": {rows}")),
        "every trace row is sent: {out}"
    );

    let wrong = "0".repeat(64);
    let cases: Vec<(&str, String, String, String)> = vec![
        (
            "digest mismatch",
            String::new(),
            wrong.clone(),
            format!(
                "data.trace.file: {url} has SHA-256 {digest}, but inputs.sha256 expects {wrong}"
            ),
        ),
        (
            "wrong credentials",
            String::new(),
            digest.clone(),
            format!("cannot fetch {url}: access denied (403)"),
        ),
        (
            "missing report bucket",
            format!(
                "  simple_storage_service:\n    bucket_name: no-such-bucket-x\n    endpoint_url: {}\n    region_name: {}\n",
                s3.endpoint(),
                s3.region()
            ),
            digest.clone(),
            "s3://no-such-bucket-x/".to_string(),
        ),
        (
            "unreachable endpoint",
            "  simple_storage_service:\n    bucket_name: b\n    endpoint_url: http://127.0.0.1:9\n"
                .to_string(),
            digest.clone(),
            "s3://b/".to_string(),
        ),
    ];
    for (what, extra, sha, needle) in cases {
        let secret = if what == "wrong credentials" {
            "not-the-secret"
        } else {
            s3.secret_key()
        };
        let started = Instant::now();
        let output = run_with_credentials(&write(&extra, &sha), s3, secret, &[]);
        let out = common::output_text(&output);
        assert!(!output.status.success(), "{what}: {out}");
        assert!(
            out.contains(&needle),
            "{what}: expected {needle:?} in\n{out}"
        );
        assert!(
            !out.contains("START_SUMMARY"),
            "{what}: nothing may run: {out}"
        );
        assert!(
            !out.contains(s3.secret_key()) && !out.contains("not-the-secret"),
            "{what}: a credential in the output"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what} took {:?}",
            started.elapsed()
        );
    }
}

/// An object over `inputs.max_bytes` is refused from its announced size, before its body is
/// read: a server announcing 4 GiB sends a few bytes and then nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_over_the_size_limit_is_refused_unread() {
    let server = OversizedObjectServer::start(1 << 32).await.unwrap();
    let sim = common::sim(SimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("traces/huge.csv");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!("server:\n  base_url: {}\nload:\n  type: trace_replay\n  trace:\n    file: {url}\n  stages:\n  - rate: 1\n    duration: 1\ninputs:\n  max_bytes: 104857600\n", sim.base_url()),
    )
    .unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_ibench"))
        .args(["run", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out = common::output_text(&output);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "load.trace.file: {url} is 4294967296 bytes, more than inputs.max_bytes (104857600)"
        )),
        "{out}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
