//! A real Google Cloud Storage server: fake-gcs-server over plain HTTP on a free loopback port,
//! objects on disk in its private directory. It checks no credentials. Google's clients and
//! `ibench` reach it as `STORAGE_EMULATOR_HOST`; object_store alone, through a service-account
//! key whose `gcs_base_url` points here and whose `disable_oauth` skips fetching a token
//! (object_store's own tests run against fake-gcs-server the same way).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::gcp::{GoogleCloudStorage, GoogleCloudStorageBuilder, GoogleConfigKey};

use super::binaries::ObjectStoreBinaries;
use super::client;
use super::server::{self, ServerDir, ServerProcess};
use crate::error::{Error, Result};
use crate::ports::free_port;

const SERVER: &str = "GCS (fake-gcs-server)";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A running GCS server. Dropping it stops the process and removes its directory; the process
/// also dies with the test binary if it is never dropped.
pub struct GcsServer {
    process: ServerProcess,
    port: u16,
    endpoint: String,
    service_account_key: String,
    service_account_path: PathBuf,
    startup: Duration,
    buckets: AtomicU64,
    stopped: AtomicBool,
    dir: ServerDir,
}

impl std::fmt::Debug for GcsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsServer")
            .field("endpoint", &self.endpoint)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl GcsServer {
    /// Starts a dedicated server (well under a second). Tests that only need their own bucket
    /// can share one per test binary through [`crate::shared_gcs`] and [`GcsServer::bucket`].
    pub async fn start() -> Result<GcsServer> {
        let binaries = tokio::task::spawn_blocking(ObjectStoreBinaries::locate)
            .await
            .map_err(|e| Error::ServerBinaries(format!("locating binaries panicked: {e}")))??;
        let started = Instant::now();
        let dir = ServerDir::create("gcs")?;
        let root = dir.path().to_path_buf();
        let (process, port) = server::launch(
            "fake-gcs-server",
            dir.path(),
            server::READY_TIMEOUT,
            &["address already in use"],
            |_| {
                let port = free_port()?;
                Ok((fake_gcs_command(&binaries, &root.join("data"), port), port))
            },
            |port| client::probe_get(*port, "/storage/v1/b", REQUEST_TIMEOUT),
        )
        .await?;
        let endpoint = format!("http://{}", client::host(port));
        let service_account_key = service_account_key(&endpoint);
        let service_account_path = root.join("service-account.json");
        std::fs::write(&service_account_path, &service_account_key).map_err(Error::io(format!(
            "writing {}",
            service_account_path.display()
        )))?;
        let server = GcsServer {
            process,
            port,
            endpoint,
            service_account_key,
            service_account_path,
            startup: started.elapsed(),
            buckets: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            dir,
        };
        tracing::info!(startup = ?server.startup, endpoint = %server.endpoint, dir = %server.dir.path().display(), "GCS server ready");
        eprintln!(
            "ibench-testcluster: GCS server (fake-gcs-server) ready in {:.1} s at {} [{}]",
            server.startup.as_secs_f64(),
            server.endpoint,
            server.dir.path().display()
        );
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`: both the JSON API (`/storage/v1/...`) and the XML API
    /// (`/<bucket>/<object>`), which object_store uses for objects.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A service-account key (JSON) for object_store: `gcs_base_url` = [`Self::endpoint`],
    /// `disable_oauth` = true, placeholders for the fields it requires but then does not use.
    pub fn service_account_key(&self) -> &str {
        &self.service_account_key
    }

    /// The same key as a file, for `GOOGLE_SERVICE_ACCOUNT` (object_store refuses a path and a
    /// key together).
    pub fn service_account_path(&self) -> &Path {
        &self.service_account_path
    }

    /// What a process needs to reach this server: `STORAGE_EMULATOR_HOST` (Google's clients,
    /// `ibench`) and the service-account key for object_store's
    /// `GoogleCloudStorageBuilder::from_env` (which reads every `GOOGLE_*` variable, lower-cased,
    /// as a config key). Add the bucket in the URL (`gs://<bucket>/...`) or as `GOOGLE_BUCKET`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("STORAGE_EMULATOR_HOST", self.endpoint.clone()),
            (
                "GOOGLE_SERVICE_ACCOUNT_KEY",
                self.service_account_key.clone(),
            ),
        ]
    }

    /// An object_store client for `bucket`, configured from [`Self::env`] as
    /// `GoogleCloudStorageBuilder::from_env` would be. It reads and lists; its writes go
    /// through the XML API, which fake-gcs-server does not implement (use [`Self::put_object`]).
    pub fn store(&self, bucket: &str) -> Result<GoogleCloudStorage> {
        crate::install_crypto_provider();
        let mut builder = GoogleCloudStorageBuilder::new().with_bucket_name(bucket);
        for (key, value) in self.env() {
            if let Ok(key) = key.to_ascii_lowercase().parse::<GoogleConfigKey>() {
                builder = builder.with_config(key, value);
            }
        }
        builder.build().map_err(Error::store_client)
    }

    /// Creates bucket `name` (JSON API `buckets.insert`).
    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        let failed = |detail| Error::ServerRequest {
            server: SERVER.into(),
            what: format!("creating bucket {name}"),
            detail,
        };
        server::check_bucket_name(name).map_err(failed)?;
        let body = serde_json::to_vec(&serde_json::json!({ "name": name }))?;
        let response = client::send(
            self.port,
            http::Method::POST,
            "/storage/v1/b",
            &[("content-type", "application/json".to_string())],
            Bytes::from(body),
            REQUEST_TIMEOUT,
        )
        .await
        .map_err(failed)?;
        if !response.status.is_success() {
            return Err(failed(format!(
                "HTTP {}: {}",
                response.status,
                response.text()
            )));
        }
        Ok(())
    }

    /// Uploads an object through the JSON API (`objects.insert`, `uploadType=media`).
    ///
    /// fake-gcs-server does not implement the XML API's object uploads, which object_store's
    /// `put` and `put_multipart` use (they get HTTP 400 "invalid uploadType"); objects that a
    /// test reads through object_store are written with this instead.
    pub async fn put_object(&self, bucket: &str, name: &str, data: impl Into<Bytes>) -> Result<()> {
        let failed = |detail| Error::ServerRequest {
            server: SERVER.into(),
            what: format!("uploading {bucket}/{name}"),
            detail,
        };
        server::check_bucket_name(bucket).map_err(failed)?;
        let path = format!(
            "/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
            percent_encode(name)
        );
        let response = client::send(
            self.port,
            http::Method::POST,
            &path,
            &[("content-type", "application/octet-stream".to_string())],
            data.into(),
            REQUEST_TIMEOUT,
        )
        .await
        .map_err(failed)?;
        if !response.status.is_success() {
            return Err(failed(format!(
                "HTTP {}: {}",
                response.status,
                response.text()
            )));
        }
        Ok(())
    }

    /// Creates a bucket `<prefix>-<n>-<random>` no other test uses, and returns its name.
    pub async fn bucket(&self, prefix: &str) -> Result<String> {
        let name = server::unique_bucket_name(prefix, self.buckets.fetch_add(1, Ordering::Relaxed));
        self.create_bucket(&name).await?;
        Ok(name)
    }

    /// The server's private directory (`fake-gcs-server.log`, `service-account.json`, data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of fake-gcs-server's log, for a failing test's message.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// Time from launch to answering the JSON API.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Stops the process. Idempotent, needs no runtime.
    pub(crate) fn stop_blocking(&self) {
        if !self.stopped.swap(true, Ordering::SeqCst) {
            self.process.stop_blocking();
        }
    }

    /// Stops and removes the directory; for the shared server, which is never dropped.
    pub(crate) fn stop_and_clean_blocking(&self) {
        self.stop_blocking();
        self.dir.remove_blocking();
    }
}

impl Drop for GcsServer {
    /// The directory (a field) is removed after this.
    fn drop(&mut self) {
        self.stop_blocking();
    }
}

fn fake_gcs_command(binaries: &ObjectStoreBinaries, data: &Path, port: u16) -> Command {
    let host = client::host(port);
    let mut c = Command::new(binaries.fake_gcs_server());
    c.env_clear();
    c.arg("-scheme")
        .arg("http")
        .arg("-host")
        .arg("127.0.0.1")
        .arg("-port")
        .arg(port.to_string())
        // Requests whose Host is the public host are XML API requests (`/<bucket>/<object>`),
        // which is how object_store reads and writes objects.
        .arg("-public-host")
        .arg(&host)
        // Upload sessions hand out URLs on this address instead of storage.googleapis.com.
        .arg("-external-url")
        .arg(format!("http://{host}"))
        .arg("-backend")
        .arg("filesystem")
        .arg("-filesystem-root")
        .arg(data)
        .arg("-log-level")
        .arg("warn");
    c
}

fn service_account_key(endpoint: &str) -> String {
    serde_json::json!({
        "gcs_base_url": endpoint,
        "disable_oauth": true,
        "client_email": "ibench-test@example.invalid",
        "private_key": "",
        "private_key_id": "",
    })
    .to_string()
}

/// Every byte but RFC 3986's unreserved characters as `%XX`, for a query parameter.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
