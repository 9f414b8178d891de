//! A real Prometheus server scraping given targets at a fixed interval, on a free loopback
//! port with its storage in a private directory; built with the object-storage servers
//! (`build-object-stores.sh`) and started the same way.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::binaries::ObjectStoreBinaries;
use super::client;
use super::server::{self, ServerDir, ServerProcess};
use crate::error::{Error, Result};
use crate::ports::free_port;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for every target's first successful scrape.
const TARGETS_UP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running Prometheus. Dropping it stops the process and removes its directory.
pub struct PrometheusServer {
    process: ServerProcess,
    port: u16,
    url: String,
    dir: ServerDir,
}

impl std::fmt::Debug for PrometheusServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl PrometheusServer {
    /// Starts Prometheus scraping `targets` (`host:port`, path `/metrics`) every
    /// `scrape_interval_seconds`, and returns once each target has been scraped successfully.
    pub async fn start(
        targets: &[String],
        scrape_interval_seconds: u32,
    ) -> Result<PrometheusServer> {
        let binaries = tokio::task::spawn_blocking(ObjectStoreBinaries::locate)
            .await
            .map_err(|e| Error::ServerBinaries(format!("locating binaries panicked: {e}")))??;
        let started = Instant::now();
        let dir = ServerDir::create("prometheus")?;
        let root = dir.path().to_path_buf();
        let config = root.join("prometheus.yml");
        std::fs::write(&config, scrape_config(targets, scrape_interval_seconds))
            .map_err(Error::io(format!("writing {}", config.display())))?;
        let (process, port) = server::launch(
            "prometheus",
            dir.path(),
            server::READY_TIMEOUT,
            &["address already in use"],
            |_| {
                let port = free_port()?;
                Ok((prometheus_command(&binaries, &root, port), port))
            },
            |port| client::probe_get(*port, "/-/ready", REQUEST_TIMEOUT),
        )
        .await?;
        let server = PrometheusServer {
            process,
            port,
            url: format!("http://{}", client::host(port)),
            dir,
        };
        server.wait_targets_up(targets.len()).await?;
        eprintln!(
            "ibench-testcluster: Prometheus ready in {:.1} s at {}, scraping {targets:?} every {scrape_interval_seconds} s [{}]",
            started.elapsed().as_secs_f64(),
            server.url,
            server.dir.path().display()
        );
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`, the base of the HTTP API (`/api/v1/query`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The value of an instant PromQL query at `time` (Unix seconds), if it returned a sample.
    pub async fn query(&self, promql: &str, time: f64) -> Result<Option<f64>> {
        let path = format!("/api/v1/query?query={}&time={time}", url_escape(promql));
        let response = client::send(
            self.port,
            http::Method::GET,
            &path,
            &[],
            Bytes::new(),
            REQUEST_TIMEOUT,
        )
        .await
        .map_err(|e| self.failed(format!("query {promql}: {e}")))?;
        let body: serde_json::Value = serde_json::from_slice(&response.body).map_err(|e| {
            self.failed(format!(
                "query {promql}: not JSON ({e}): {}",
                response.text()
            ))
        })?;
        if body["status"] != "success" {
            return Err(self.failed(format!("query {promql}: {body}")));
        }
        Ok(body["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok()))
    }

    async fn wait_targets_up(&self, targets: usize) -> Result<()> {
        let deadline = Instant::now() + TARGETS_UP_TIMEOUT;
        let mut last = None;
        while Instant::now() < deadline {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            last = self.query("sum(up)", now).await?;
            if last == Some(targets as f64) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(self.failed(format!(
            "{targets} targets not all up within {TARGETS_UP_TIMEOUT:?} (sum(up) = {last:?})"
        )))
    }

    fn failed(&self, why: String) -> Error {
        Error::ServerExited {
            server: "prometheus".into(),
            status: why,
            log_tail: self.process.log_tail(30),
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        self.process.stop_blocking();
        self.dir.remove_blocking();
    }
}

fn scrape_config(targets: &[String], interval: u32) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "global:\n  scrape_interval: {interval}s\n  evaluation_interval: {interval}s\nscrape_configs:\n  - job_name: model-server\n    scrape_timeout: {interval}s\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    )
}

fn prometheus_command(binaries: &ObjectStoreBinaries, root: &Path, port: u16) -> Command {
    let mut c = Command::new(binaries.prometheus());
    c.env_clear();
    c.arg(format!(
        "--config.file={}",
        root.join("prometheus.yml").display()
    ))
    .arg(format!(
        "--storage.tsdb.path={}",
        root.join("data").display()
    ))
    .arg(format!("--web.listen-address={}", client::host(port)))
    .arg("--log.level=warn");
    c
}

/// Percent-encodes a query parameter's value.
fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
