//! HTTP/2 for the load (`server.http_version: "2"`) against `ibench sim` on loopback: h2c with
//! prior knowledge and ALPN `h2` over TLS, streamed and whole answers, every request a success
//! that the server saw arrive over HTTP/2, with the tokens HTTP/1.1 counts; servers that do not
//! speak HTTP/2 refused before the first request, with the fix. nginx (`listen … http2`) as a
//! third-party HTTP/2 server.

use std::path::Path;
use std::process::{Command, Output};

use ibench_sim::{SimConfig, SimServer, SimTls};
use ibench_testkit as common;
use ibench_testkit::pki::{Pki, ibench_run_without_machine_trust, write_pki};
use serde_json::Value;

/// Requests of each run: 20 req/s for a second.
const REQUESTS: u64 = 20;

/// `ibench run` of [`REQUESTS`] against `base_url` with `server` and `load` keys added and
/// `api.streaming: stream`; its reports in `dir/name`.
fn run(dir: &Path, name: &str, base_url: &str, server: &str, load: &str, stream: bool) -> Output {
    let reports = dir.join(name);
    let config = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &config,
        format!(
            "server:\n  type: vllm\n  base_url: {base_url}\n{server}api:\n  streaming: {stream}\nload:\n  stages: [{{rate: {REQUESTS}, duration: 1}}]\n{load}storage:\n  local_storage:\n    path: {}\n",
            reports.display()
        ),
    )
    .unwrap();
    ibench_run_without_machine_trust(env!("CARGO_BIN_EXE_ibench"), &config)
        .output()
        .unwrap()
}

/// The summary of a run that succeeded, every request of it.
fn succeeded(dir: &Path, name: &str, output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{name}: {}",
        common::output_text(output)
    );
    let text =
        std::fs::read_to_string(dir.join(name).join("summary_lifecycle_metrics.json")).unwrap();
    let summary: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        summary["load_summary"]["count"], REQUESTS,
        "{name}: {summary}"
    );
    assert_eq!(summary["successes"]["count"], REQUESTS, "{name}: {summary}");
    summary
}

/// Output tokens the client counted over all successes.
fn output_tokens(summary: &Value) -> u64 {
    let mean = summary["successes"]["output_len"]["mean"].as_f64().unwrap();
    (mean * REQUESTS as f64).round() as u64
}

async fn https_sim(pki: &Pki, http1_only: bool) -> SimServer {
    common::sim(SimConfig {
        tls: Some(SimTls {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
            client_ca: None,
        }),
        http1_only,
        ..Default::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_h2c_and_tls_succeeds_with_the_tokens_of_http1() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path());
    let plain = common::sim(SimConfig::default()).await;
    let tls = https_sim(&pki, false).await;
    let trusted = format!("  ca_cert_path: {}\n", pki.ca.display());
    for (sim, server) in [(&plain, ""), (&tls, trusted.as_str())] {
        for stream in [true, false] {
            let mut tokens = Vec::new();
            for version in ["1.1", "2"] {
                let name = format!("{}-{stream}-{version}", &sim.base_url()[..5]);
                let before = sim.stats();
                let keys = format!("{server}  http_version: \"{version}\"\n");
                let output = run(dir.path(), &name, &sim.base_url(), &keys, "", stream);
                let summary = succeeded(dir.path(), &name, &output);
                let after = sim.stats();
                let over_http2 = after.requests_http2 - before.requests_http2;
                assert_eq!(
                    over_http2,
                    if version == "2" { REQUESTS } else { 0 },
                    "{name}: requests the server saw over HTTP/2"
                );
                assert_eq!(
                    output_tokens(&summary),
                    after.completion_tokens - before.completion_tokens,
                    "{name}: the client counts the tokens the server sent"
                );
                if stream {
                    let itl = &summary["successes"]["latency"]["inter_token_latency"];
                    assert!(
                        itl["median"].as_f64().is_some_and(|ms| ms > 0.0),
                        "{name}: streamed tokens are timed one by one: {itl}"
                    );
                }
                tokens.push(output_tokens(&summary));
                let echo =
                    std::fs::read_to_string(dir.path().join(&name).join("config.yaml")).unwrap();
                assert_eq!(
                    echo.contains("http_version: '2'"),
                    version == "2",
                    "{name}: config.yaml records the version asked for: {echo}"
                );
            }
            assert_eq!(tokens[0], tokens[1], "HTTP/1.1 and HTTP/2 count alike");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_speak_http2_is_refused_before_the_first_request_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path());
    let tls = https_sim(&pki, true).await;
    let plain = common::sim(SimConfig {
        http1_only: true,
        ..Default::default()
    })
    .await;
    let trusted = format!("  ca_cert_path: {}\n  http_version: 2\n", pki.ca.display());
    for (name, sim, server, expected) in [
        (
            "alpn",
            &tls,
            trusted.as_str(),
            "did not negotiate HTTP/2 (ALPN h2) in the TLS handshake: it refused h2",
        ),
        (
            "h2c",
            &plain,
            "  http_version: 2\n",
            "does not speak HTTP/2 over cleartext (h2c with prior knowledge)",
        ),
    ] {
        let output = run(dir.path(), name, &sim.base_url(), server, "", true);
        let text = common::output_text(&output);
        assert!(!output.status.success(), "{name}: {text}");
        assert!(
            text.contains(expected) && text.contains("server.http_version: \"1.1\""),
            "{name}: expected {expected:?} and the fix in {text}"
        );
        assert_eq!(sim.stats().requests_received, 0, "{name}");
    }

    // Without fail_fast, every request fails with the same cause.
    let name = "each-request";
    let output = run(
        dir.path(),
        name,
        &tls.base_url(),
        &trusted,
        "  fail_fast: false\n",
        false,
    );
    let text = common::output_text(&output);
    assert!(!output.status.success(), "every request failed: {text}");
    let summary =
        std::fs::read_to_string(dir.path().join(name).join("summary_lifecycle_metrics.json"))
            .unwrap();
    let summary: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["failures"]["count"], REQUESTS, "{summary}");
    assert!(text.contains("did not negotiate HTTP/2"), "{text}");
    assert_eq!(tls.stats().requests_received, 0);
}

/// An nginx process serving a static completion over HTTP/2 only, stopped when dropped.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_serves_the_load_over_http2_as_a_third_party_server() {
    let dir = tempfile::tempdir().unwrap();
    let pki = write_pki(dir.path());
    let (h2c, tls) = (free_port(), free_port());
    let work = dir.path();
    let log = work.join("protocols.log");
    let answer = r#"{"id":"cmpl-1","object":"text_completion","created":0,"model":"static","choices":[{"index":0,"text":"one two three","finish_reason":"length"}]}"#;
    let config = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\nevents {{ worker_connections 256; }}\nhttp {{\n  log_format protocol '$server_protocol';\n  access_log {log} protocol;\n  client_body_temp_path {work};\n  server {{\n    listen 127.0.0.1:{h2c} http2;\n    listen 127.0.0.1:{tls} ssl http2;\n    ssl_certificate {cert};\n    ssl_certificate_key {key};\n    location / {{ default_type application/json; return 200 '{answer}'; }}\n  }}\n}}\n",
        work = work.display(),
        log = log.display(),
        cert = pki.server_cert.display(),
        key = pki.server_key.display(),
    );
    std::fs::write(work.join("nginx.conf"), config).unwrap();
    let _nginx = Nginx(
        Command::new(ibench_testcluster::nginx_binary().unwrap_or_else(|e| panic!("{e}")))
            .arg("-p")
            .arg(work)
            .arg("-c")
            .arg(work.join("nginx.conf"))
            .spawn()
            .unwrap(),
    );
    assert!(
        common::wait_until(std::time::Duration::from_secs(5), async || {
            std::net::TcpStream::connect(("127.0.0.1", tls)).is_ok()
        })
        .await,
        "nginx listens: {}",
        std::fs::read_to_string(work.join("error.log")).unwrap_or_default()
    );
    let trusted = format!(
        "  model_name: static\n  http_version: 2\n  ca_cert_path: {}\n",
        pki.ca.display()
    );
    for (name, url, server) in [
        (
            "nginx-h2c",
            format!("http://127.0.0.1:{h2c}"),
            "  model_name: static\n  http_version: 2\n",
        ),
        (
            "nginx-tls",
            format!("https://localhost:{tls}"),
            trusted.as_str(),
        ),
    ] {
        let output = run(work, name, &url, server, "", false);
        let summary = succeeded(work, name, &output);
        assert_eq!(output_tokens(&summary), 3 * REQUESTS, "{name}: {summary}");
    }
    let protocols = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        protocols.lines().filter(|p| *p == "HTTP/2.0").count() as u64,
        2 * REQUESTS,
        "every request over HTTP/2: {protocols}"
    );
}
