//! TLS against `ibench sim` serving HTTPS with certificates of a private CA made by the test:
//! trusted through `server.ca_cert_path` or the system's trust store (`SSL_CERT_FILE`),
//! refused otherwise with the cause; mutual TLS with `server.cert_path`/`key_path`; no
//! verification only when `server.insecure_skip_tls_verify` asks, with a warning; and bad
//! input named by its field.

use std::path::Path;
use std::process::Output;

use ibench_sim::{SimConfig, SimServer, SimTls};
use ibench_testkit as common;
use ibench_testkit::pki::{Pki, ibench_run_without_machine_trust, write_pki};
use serde_json::Value;

async fn https_sim(pki: &Pki, client_ca: bool) -> SimServer {
    common::sim(SimConfig {
        tls: Some(SimTls {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
            client_ca: client_ca.then(|| pki.ca.clone()),
        }),
        ..Default::default()
    })
    .await
}

/// `ibench run` at 20 req/s for a second against `base_url`, with `server` keys added, and
/// the environment variables `env` set; its reports in `dir/name`.
fn run(dir: &Path, name: &str, base_url: &str, server: &str, env: &[(&str, &Path)]) -> Output {
    let reports = dir.join(name);
    let config = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &config,
        format!(
            "server:\n  type: vllm\n  base_url: {base_url}\n{server}load:\n  stages: [{{rate: 20, duration: 1}}]\nstorage:\n  local_storage:\n    path: {}\n",
            reports.display()
        ),
    )
    .unwrap();
    let mut command = ibench_run_without_machine_trust(env!("CARGO_BIN_EXE_ibench"), &config);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// The successes of a run's summary, which must be every request it sent.
fn successes(dir: &Path, name: &str) -> u64 {
    let text =
        std::fs::read_to_string(dir.join(name).join("summary_lifecycle_metrics.json")).unwrap();
    let summary: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        summary["load_summary"]["count"], summary["successes"]["count"],
        "{name}: {summary}"
    );
    summary["successes"]["count"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_by_path_or_by_the_system_store_and_refused_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path());
    let sim = https_sim(&pki, false).await;
    let url = sim.base_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let output = run(dir.path(), "untrusted", &url, "", &[]);
    let text = common::output_text(&output);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("TLS") && text.contains("UnknownIssuer"),
        "the cause is named: {text}"
    );
    assert_eq!(sim.stats().requests_received, 0);

    let by_path = format!("  ca_cert_path: {}\n", pki.ca.display());
    let output = run(dir.path(), "by-path", &url, &by_path, &[]);
    assert!(output.status.success(), "{}", common::output_text(&output));
    let sent = successes(dir.path(), "by-path");
    assert_eq!(sent, 20);

    let output = run(
        dir.path(),
        "system-store",
        &url,
        "",
        &[("SSL_CERT_FILE", &pki.ca)],
    );
    assert!(output.status.success(), "{}", common::output_text(&output));
    assert_eq!(successes(dir.path(), "system-store"), 20);

    let output = run(
        dir.path(),
        "insecure",
        &url,
        "  insecure_skip_tls_verify: true\n",
        &[],
    );
    let text = common::output_text(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("insecure_skip_tls_verify: the server's certificate is not verified"),
        "{text}"
    );
    assert_eq!(successes(dir.path(), "insecure"), 20);
    let echo = std::fs::read_to_string(dir.path().join("insecure/config.yaml")).unwrap();
    assert!(
        echo.contains("insecure_skip_tls_verify: true"),
        "the report's config says so: {echo}"
    );
    assert_eq!(sim.stats().requests_received, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_presents_the_client_certificate_when_the_server_requires_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path());
    let sim = https_sim(&pki, true).await;
    let url = sim.base_url();
    let trusted = format!("  ca_cert_path: {}\n", pki.ca.display());

    let output = run(dir.path(), "no-client-cert", &url, &trusted, &[]);
    let text = common::output_text(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("TLS"), "{text}");

    let with_cert = format!(
        "{trusted}  cert_path: {}\n  key_path: {}\n",
        pki.client_cert.display(),
        pki.client_key.display()
    );
    let output = run(dir.path(), "client-cert", &url, &with_cert, &[]);
    assert!(output.status.success(), "{}", common::output_text(&output));
    assert_eq!(successes(dir.path(), "client-cert"), 20);
    assert_eq!(sim.stats().requests_received, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_settings_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path());
    let sim = https_sim(&pki, false).await;
    let url = sim.base_url();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "just text\n").unwrap();
    for (name, base_url, server, expected) in [
        (
            "cert-without-key",
            url.as_str(),
            format!("  cert_path: {}\n", pki.client_cert.display()),
            "server.key_path: required with server.cert_path",
        ),
        (
            "no-pem",
            url.as_str(),
            format!("  ca_cert_path: {}\n", not_pem.display()),
            "server.ca_cert_path:",
        ),
        (
            "key-not-a-key",
            url.as_str(),
            format!(
                "  cert_path: {}\n  key_path: {}\n",
                pki.client_cert.display(),
                pki.ca.display()
            ),
            "server.key_path:",
        ),
        (
            "plain-http",
            "http://127.0.0.1:9",
            format!("  ca_cert_path: {}\n", pki.ca.display()),
            "server.ca_cert_path: not used: server.base_url is http://",
        ),
    ] {
        let output = run(dir.path(), name, base_url, &server, &[]);
        let text = common::output_text(&output);
        assert!(!output.status.success(), "{name}: {text}");
        assert!(
            text.contains(expected),
            "{name}: expected {expected:?} in {text}"
        );
    }
    assert_eq!(sim.stats().requests_received, 0);
}
