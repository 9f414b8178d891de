//! The real-server matrix's Python programs, from a virtualenv of pinned PyPI packages built by
//! `build-python-servers.sh` and cached outside the clone: OpenAI-compatible model servers
//! (uvicorn + FastAPI as under vLLM and SGLang, and two asyncio servers at the edges of HTTP/1.x
//! framing, see `python/`) on free loopback ports, and httpx as the reference client whose
//! latencies a runner's are compared with.
//!
//! `tests/run.sh` builds the virtualenv once and exports [`PYTHON_SERVERS_VENV_ENV`]; a plain
//! `cargo test` without it runs the script itself (a warm cache answers at once).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;

use crate::binaries::locate_venv;
use crate::error::{Error, Result};
use crate::object_stores::client;
use crate::object_stores::server::{self, ServerDir, ServerProcess};
use crate::ports::free_port;

/// Environment variable naming the virtualenv.
pub const PYTHON_SERVERS_VENV_ENV: &str = "IBENCH_PYTHON_SERVERS_VENV";

const BUILD_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/build-python-servers.sh");
const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python");
/// uvicorn starts in about a second; a loaded 2-core machine takes several.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The reference client's run plus its interpreter's start, with room for a loaded machine.
const REFERENCE_SLACK: Duration = Duration::from_secs(60);

/// The virtualenv.
#[derive(Debug, Clone)]
pub struct PythonServers {
    venv: PathBuf,
}

impl PythonServers {
    /// The virtualenv named by [`PYTHON_SERVERS_VENV_ENV`], else the one the script builds or
    /// finds in its cache; computed once per process.
    pub fn locate() -> Result<PythonServers> {
        static LOCATED: OnceLock<std::result::Result<PythonServers, String>> = OnceLock::new();
        LOCATED
            .get_or_init(|| {
                let venv = locate_venv(
                    PYTHON_SERVERS_VENV_ENV,
                    BUILD_SCRIPT,
                    "a cold install from PyPI takes about ten seconds",
                )?;
                Ok(PythonServers { venv })
            })
            .clone()
            .map_err(Error::ServerBinaries)
    }

    fn python(&self) -> Command {
        let mut command = Command::new(self.venv.join("bin/python"));
        command.env("PYTHONUNBUFFERED", "1");
        command
    }
}

/// A program of `python/`, by its absolute path: servers run in directories of their own.
fn program(name: &str) -> PathBuf {
    PathBuf::from(PROGRAMS).join(name)
}

/// Which server [`ModelServer::start`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelServerKind {
    /// uvicorn (httptools, uvloop, default 5 s keep-alive) serving a FastAPI app in vLLM's shapes.
    Uvicorn,
    /// HTTP/1.0 answers with `Connection: close`, bodies ending with the connection.
    Http10,
    /// HTTP/1.1 chunked bodies of one-byte chunks, every byte written on its own.
    OneByteChunks,
}

impl ModelServerKind {
    fn name(self) -> &'static str {
        match self {
            ModelServerKind::Uvicorn => "uvicorn",
            ModelServerKind::Http10 => "http10",
            ModelServerKind::OneByteChunks => "one-byte-chunks",
        }
    }
}

/// What a model server counted: completions asked for and completions sent to their end.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServedCount {
    pub received: u64,
    pub completed: u64,
    /// Each completion's ms from the request read to its first event written and to its last
    /// byte, in the order they finished; only servers whose latency is their CPU share (one-byte
    /// chunks) list them.
    #[serde(default)]
    pub timings_ms: Vec<[f64; 2]>,
}

/// An OpenAI-compatible model server (`/v1/completions`, `/v1/chat/completions`, `/v1/models`,
/// and `GET /count`) whose model is `matrix-model` and whose every completion is `max_tokens`
/// words. Dropping it stops the process and removes its directory.
pub struct ModelServer {
    process: ServerProcess,
    port: u16,
    dir: ServerDir,
}

impl ModelServer {
    /// Starts a `kind` server whose first token comes after `ttft_ms` and each next after
    /// `itl_ms`; returns once it answers.
    pub async fn start(kind: ModelServerKind, ttft_ms: u32, itl_ms: u32) -> Result<ModelServer> {
        let python = tokio::task::spawn_blocking(PythonServers::locate)
            .await
            .map_err(|e| {
                Error::ServerBinaries(format!("locating the virtualenv panicked: {e}"))
            })??;
        let dir = ServerDir::create(kind.name())?;
        let (process, port) = server::launch(
            kind.name(),
            dir.path(),
            READY_TIMEOUT,
            &["address already in use", "Address already in use"],
            |_| {
                let port = free_port()?;
                let mut command = python.python();
                command
                    .env("IBENCH_TTFT_MS", ttft_ms.to_string())
                    .env("IBENCH_ITL_MS", itl_ms.to_string());
                match kind {
                    ModelServerKind::Uvicorn => {
                        command.args(["-m", "uvicorn", "openai_server:app", "--app-dir"]);
                        command
                            .arg(PROGRAMS)
                            .args(["--host", "127.0.0.1", "--port"]);
                        command
                            .arg(port.to_string())
                            .args(["--log-level", "warning"]);
                    }
                    ModelServerKind::Http10 | ModelServerKind::OneByteChunks => {
                        command.arg(program("raw_server.py")).arg(kind.name());
                        command.arg(port.to_string());
                    }
                }
                Ok((command, port))
            },
            |port| client::probe_get(*port, "/count", REQUEST_TIMEOUT),
        )
        .await?;
        Ok(ModelServer { process, port, dir })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", client::host(self.port))
    }

    /// What it has counted so far.
    pub async fn count(&self) -> Result<ServedCount> {
        let response = client::send(
            self.port,
            http::Method::GET,
            "/count",
            &[],
            bytes::Bytes::new(),
            REQUEST_TIMEOUT,
        )
        .await
        .map_err(|detail| self.failed("GET /count", detail))?;
        serde_json::from_slice(&response.body)
            .map_err(|e| self.failed("GET /count", format!("{e}: {}", response.text())))
    }

    /// The last lines of its log (tracebacks, uvicorn's warnings).
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    fn failed(&self, what: &str, detail: String) -> Error {
        Error::ServerRequest {
            server: format!("{} ({})", self.process.log_path().display(), self.port),
            what: what.into(),
            detail,
        }
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.process.stop_blocking();
        self.dir.remove_blocking();
    }
}

/// TLS settings of the reference client: the CA that signed the server's certificate, and a
/// client certificate and key for servers that require one.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    pub ca: PathBuf,
    pub cert_and_key: Option<(PathBuf, PathBuf)>,
}

/// A load for the reference client: `count` streamed completions (chat if `chat`) of
/// `max_tokens` each, sent `1/rate` s apart whatever the answers, each prompt 10 words.
#[derive(Debug, Clone)]
pub struct ReferenceLoad {
    pub base_url: String,
    pub rate: f64,
    pub count: u32,
    pub chat: bool,
    pub max_tokens: u32,
    pub model: String,
    pub tls: Option<ClientTls>,
}

/// The 50th and 90th percentiles of a latency, in seconds (none without a success).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

/// What the reference client measured.
#[derive(Debug, Clone, Deserialize)]
pub struct ReferenceRun {
    pub sent: u64,
    pub ok: u64,
    pub failures: Vec<String>,
    /// Send to the end of the body.
    pub latency: Percentiles,
    /// Send to the first chunk with text.
    pub ttft: Percentiles,
}

/// Runs httpx (`python/reference_client.py`) with `load`, bounded in time.
pub async fn reference_client(load: &ReferenceLoad) -> Result<ReferenceRun> {
    let python = tokio::task::spawn_blocking(PythonServers::locate)
        .await
        .map_err(|e| Error::ServerBinaries(format!("locating the virtualenv panicked: {e}")))??;
    let mut command = tokio::process::Command::from(python.python());
    command
        .arg(program("reference_client.py"))
        .args(["--url", &load.base_url, "--rate", &load.rate.to_string()])
        .args(["--count", &load.count.to_string()])
        .args(["--max-tokens", &load.max_tokens.to_string()])
        .args(["--model", &load.model])
        .kill_on_drop(true);
    if load.chat {
        command.arg("--chat");
    }
    if let Some(tls) = &load.tls {
        command.arg("--ca").arg(&tls.ca);
        if let Some((cert, key)) = &tls.cert_and_key {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
    }
    let limit = Duration::from_secs_f64(f64::from(load.count) / load.rate) + REFERENCE_SLACK;
    let failed = |detail: String| Error::ServerRequest {
        server: "reference client (httpx)".into(),
        what: format!("{} requests to {}", load.count, load.base_url),
        detail,
    };
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| failed(format!("not done within {limit:?}")))?
        .map_err(|e| failed(format!("cannot run it: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(failed(format!(
            "{}: {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    serde_json::from_str(stdout.trim()).map_err(|e| failed(format!("{e}: {stdout}")))
}
