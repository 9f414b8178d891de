//! A real S3 server: SeaweedFS's `weed mini` (master, volume server, filer and S3 gateway in one
//! process) on free loopback ports, with one access-key identity, so that requests signed with
//! other credentials and anonymous requests get 403.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};

use super::binaries::ObjectStoreBinaries;
use super::client;
use super::server::{self, ServerDir, ServerProcess};
use super::sigv4::{self, Identity};
use crate::error::{Error, Result};
use crate::ports::free_port;

const SERVER: &str = "S3 (SeaweedFS)";
const REGION: &str = "us-east-1";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Created and deleted again by the readiness probe: the first write is what proves every part
/// of SeaweedFS up (the filer registered with the master, a volume allocated).
const PROBE_BUCKET: &str = "ibench-readiness-probe";

/// The ports of one `weed mini`; every gRPC port is also the name of a Unix socket SeaweedFS
/// creates in /tmp (`/tmp/seaweedfs-<service>-grpc-<port>.sock`, not configurable).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ports {
    master: u16,
    master_grpc: u16,
    volume: u16,
    volume_grpc: u16,
    filer: u16,
    filer_grpc: u16,
    s3: u16,
    s3_grpc: u16,
    admin: u16,
    admin_grpc: u16,
}

impl Ports {
    fn pick() -> Result<Ports> {
        Ok(Ports {
            master: free_port()?,
            master_grpc: free_port()?,
            volume: free_port()?,
            volume_grpc: free_port()?,
            filer: free_port()?,
            filer_grpc: free_port()?,
            s3: free_port()?,
            s3_grpc: free_port()?,
            admin: free_port()?,
            admin_grpc: free_port()?,
        })
    }

    /// A killed SeaweedFS leaves them behind.
    fn remove_grpc_sockets(&self) {
        for (service, port) in [
            ("master", self.master_grpc),
            ("volume", self.volume_grpc),
            ("filer", self.filer_grpc),
            ("s3", self.s3_grpc),
            ("admin", self.admin_grpc),
        ] {
            let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{service}-grpc-{port}.sock"));
        }
    }
}

/// A running S3 server. Dropping it stops the process and removes its directory; the process
/// also dies with the test binary if it is never dropped.
pub struct S3Server {
    process: ServerProcess,
    ports: Ports,
    endpoint: String,
    access_key: String,
    secret_key: String,
    startup: Duration,
    buckets: AtomicU64,
    stopped: AtomicBool,
    dir: ServerDir,
}

impl std::fmt::Debug for S3Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Server")
            .field("endpoint", &self.endpoint)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl S3Server {
    /// Starts a dedicated server (≈5 s). Tests that only need their own bucket should share one
    /// per test binary through [`crate::shared_s3`] and [`S3Server::bucket`].
    pub async fn start() -> Result<S3Server> {
        let binaries = tokio::task::spawn_blocking(ObjectStoreBinaries::locate)
            .await
            .map_err(|e| Error::ServerBinaries(format!("locating binaries panicked: {e}")))??;
        let started = Instant::now();
        let dir = ServerDir::create("s3")?;
        let access_key = format!("IBENCH{}", random_hex(7)).to_ascii_uppercase();
        let secret_key = random_hex(20);
        let config = dir.path().join("s3.json");
        write_identity(&config, &access_key, &secret_key)?;
        let identity = Identity {
            access_key: &access_key,
            secret_key: &secret_key,
            region: REGION,
        };
        let root = dir.path().to_path_buf();
        let mut tried = Vec::new();
        let launched = server::launch(
            "weed",
            dir.path(),
            server::READY_TIMEOUT,
            &["address already in use", "is not available"],
            |attempt| {
                let ports = Ports::pick()?;
                tried.push(ports);
                let data = root.join(format!("data-{attempt}"));
                std::fs::create_dir_all(&data)
                    .map_err(Error::io(format!("creating {}", data.display())))?;
                Ok((
                    weed_command(&binaries, &root, &data, &config, &ports),
                    ports,
                ))
            },
            |ports| probe(ports.s3, &identity),
        )
        .await;
        // Attempts that failed may have left their sockets in /tmp.
        for ports in tried {
            if launched.as_ref().map_or(true, |(_, used)| *used != ports) {
                ports.remove_grpc_sockets();
            }
        }
        let (process, ports) = launched?;
        let server = S3Server {
            process,
            ports,
            endpoint: format!("http://{}", client::host(ports.s3)),
            access_key,
            secret_key,
            startup: started.elapsed(),
            buckets: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            dir,
        };
        tracing::info!(startup = ?server.startup, endpoint = %server.endpoint, dir = %server.dir.path().display(), "S3 server ready");
        eprintln!(
            "ibench-testcluster: S3 server (SeaweedFS) ready in {:.1} s at {} [{}]",
            server.startup.as_secs_f64(),
            server.endpoint,
            server.dir.path().display()
        );
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`, path-style: buckets are the first path segment.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn port(&self) -> u16 {
        self.ports.s3
    }

    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The region requests are signed for (SeaweedFS accepts any).
    pub fn region(&self) -> &str {
        REGION
    }

    /// What a process needs to reach this server through object_store's
    /// `AmazonS3Builder::from_env` (which reads every `AWS_*` variable, lower-cased, as a config
    /// key): credentials, endpoint, region, and plain HTTP allowed. Add the bucket in the URL
    /// (`s3://<bucket>/...`) or as `AWS_BUCKET`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// An object_store client for `bucket`, configured from [`Self::env`] as
    /// `AmazonS3Builder::from_env` would be: for tests to put inputs and read what was written.
    pub fn store(&self, bucket: &str) -> Result<AmazonS3> {
        crate::install_crypto_provider();
        let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
        for (key, value) in self.env() {
            let key = key
                .to_ascii_lowercase()
                .parse()
                .map_err(Error::store_client)?;
            builder = builder.with_config(key, value);
        }
        builder.build().map_err(Error::store_client)
    }

    /// Creates bucket `name` (S3 CreateBucket, signed with this server's identity).
    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        let failed = |detail| Error::ServerRequest {
            server: SERVER.into(),
            what: format!("creating bucket {name}"),
            detail,
        };
        server::check_bucket_name(name).map_err(failed)?;
        let path = format!("/{name}");
        let response = signed(self.ports.s3, &self.identity(), http::Method::PUT, &path)
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

    /// The server's private directory (`weed.log`, `s3.json`, data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of SeaweedFS's log, for a failing test's message.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// Time from launch to a successful write.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    fn identity(&self) -> Identity<'_> {
        Identity {
            access_key: &self.access_key,
            secret_key: &self.secret_key,
            region: REGION,
        }
    }

    /// Stops the process and removes SeaweedFS's sockets in /tmp. Idempotent, needs no runtime.
    pub(crate) fn stop_blocking(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        self.process.stop_blocking();
        self.ports.remove_grpc_sockets();
    }

    /// Stops and removes the directory; for the shared server, which is never dropped.
    pub(crate) fn stop_and_clean_blocking(&self) {
        self.stop_blocking();
        self.dir.remove_blocking();
    }
}

impl Drop for S3Server {
    /// The directory (a field) is removed after this.
    fn drop(&mut self) {
        self.stop_blocking();
    }
}

fn weed_command(
    binaries: &ObjectStoreBinaries,
    root: &Path,
    data: &Path,
    config: &Path,
    ports: &Ports,
) -> Command {
    let mut c = Command::new(binaries.weed());
    // A clean environment: SeaweedFS turns AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY into an
    // admin identity and WEED_* into configuration, and reads configuration files from $HOME.
    c.env_clear().env("HOME", root).env("TMPDIR", root);
    c.arg("mini")
        .arg(format!("-dir={}", data.display()))
        .arg("-ip=127.0.0.1")
        .arg("-ip.bind=127.0.0.1")
        .arg(format!("-master.port={}", ports.master))
        .arg(format!("-master.port.grpc={}", ports.master_grpc))
        .arg(format!("-volume.port={}", ports.volume))
        .arg(format!("-volume.port.grpc={}", ports.volume_grpc))
        .arg(format!("-filer.port={}", ports.filer))
        .arg(format!("-filer.port.grpc={}", ports.filer_grpc))
        .arg(format!(
            "-filer.localSocket={}",
            root.join("filer.sock").display()
        ))
        .arg(format!("-s3.port={}", ports.s3))
        .arg(format!("-s3.port.grpc={}", ports.s3_grpc))
        .arg(format!(
            "-s3.localSocket={}",
            root.join("s3.sock").display()
        ))
        .arg(format!("-s3.config={}", config.display()))
        // The admin server always runs in mini; only its UI can be turned off.
        .arg(format!("-admin.port={}", ports.admin))
        .arg(format!("-admin.port.grpc={}", ports.admin_grpc))
        .arg("-admin.port.legacy=0")
        .arg("-admin.ui=false")
        // Nothing but the S3 gateway and what it needs.
        .arg("-webdav=false")
        .arg("-s3.port.iceberg=0")
        .arg("-s3.port.lance=0")
        .arg("-s3.iam=false")
        // Otherwise a write to a missing bucket creates it, and tests could not see that error.
        .arg("-s3.autoCreateBucket=false")
        // The default reports to a public telemetry endpoint; tests reach loopback only.
        .arg("-master.telemetry=false")
        // Small volumes (allocated sparsely) and many of them: every bucket is a collection
        // with a volume of its own, and mini would size a few 1 GiB volumes from the free disk.
        .arg("-master.volumeSizeLimitMB=64")
        .arg("-volume.max=500")
        .arg("-volume.preStopSeconds=0");
    c
}

/// The identity file of `-s3.config`: one identity with every action. With an identity
/// configured, SeaweedFS refuses anonymous requests.
fn write_identity(path: &Path, access_key: &str, secret_key: &str) -> Result<()> {
    let config = serde_json::json!({
        "identities": [{
            "name": "ibench",
            "credentials": [{ "accessKey": access_key, "secretKey": secret_key }],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]
    });
    std::fs::write(path, serde_json::to_vec_pretty(&config)?)
        .map_err(Error::io(format!("writing {}", path.display())))
}

/// Ready once a bucket can be created and written to; both are undone.
async fn probe(port: u16, identity: &Identity<'_>) -> std::result::Result<(), String> {
    let object = format!("/{PROBE_BUCKET}/probe");
    for (method, path) in [
        (http::Method::PUT, format!("/{PROBE_BUCKET}")),
        (http::Method::PUT, object.clone()),
        (http::Method::DELETE, object),
        (http::Method::DELETE, format!("/{PROBE_BUCKET}")),
    ] {
        let response = signed(port, identity, method.clone(), &path).await?;
        // A bucket left by an earlier, interrupted probe is fine.
        let already_owned = response.status == http::StatusCode::CONFLICT
            && response.text().contains("BucketAlreadyOwnedByYou");
        if !response.status.is_success() && !already_owned {
            return Err(format!(
                "{method} {path}: HTTP {}: {}",
                response.status,
                response.text()
            ));
        }
    }
    Ok(())
}

/// A SigV4-signed request with an empty body.
async fn signed(
    port: u16,
    identity: &Identity<'_>,
    method: http::Method,
    path: &str,
) -> std::result::Result<client::Response, String> {
    let headers = sigv4::sign(
        identity,
        &method,
        &client::host(port),
        path,
        b"",
        chrono::Utc::now(),
    );
    client::send(port, method, path, &headers, Bytes::new(), REQUEST_TIMEOUT).await
}

fn random_hex(bytes: usize) -> String {
    let random: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    sigv4::hex(&random)
}
