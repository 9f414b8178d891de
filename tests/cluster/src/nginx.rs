//! nginx as a gateway in front of a model server, as deployments put one: `proxy_buffering off`
//! (tokens pass as they come), HTTP/1.1 keep-alive to the upstream, and a short keep-alive
//! timeout on both sides, so idle connections are closed in the middle of a run; plain HTTP or
//! TLS, with or without a client certificate required.
//!
//! The binary is Debian's (`install-nginx.sh` installs `nginx-light` when missing, which
//! `tests/run.sh` runs and exports as [`NGINX_ENV`]); each gateway runs in the foreground with
//! its own prefix directory (configuration, pid file, logs, temporary files).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::binaries::{is_executable, run_build_script};
use crate::error::{Error, Result};
use crate::object_stores::client;
use crate::object_stores::server::{self, ServerDir, ServerProcess};
use crate::ports::free_port;

/// Environment variable naming the nginx binary.
pub const NGINX_ENV: &str = "IBENCH_NGINX";

const INSTALL_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/install-nginx.sh");
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The nginx binary named by [`NGINX_ENV`], else the one `install-nginx.sh` finds or installs;
/// for tests that run nginx with a configuration of their own.
pub fn nginx_binary() -> Result<PathBuf> {
    static LOCATED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    LOCATED
        .get_or_init(|| {
            let nginx = match std::env::var_os(NGINX_ENV) {
                Some(path) if !path.is_empty() => PathBuf::from(path),
                _ => run_build_script(INSTALL_SCRIPT, NGINX_ENV, "apt-get takes a minute")?,
            };
            if is_executable(&nginx) {
                Ok(nginx)
            } else {
                Err(format!("{} is not an executable", nginx.display()))
            }
        })
        .clone()
        .map_err(Error::ServerBinaries)
}

/// TLS of a gateway: its certificate and key (PEM), and the CA its clients' certificates must
/// chain to when it requires them (`ssl_verify_client on`).
#[derive(Debug, Clone)]
pub struct GatewayTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// One line of a gateway's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub method: String,
    pub status: u16,
    /// nginx's serial number of the client connection that carried the request.
    pub connection: u64,
}

/// A running gateway. Dropping it stops nginx and removes its directory.
pub struct Nginx {
    process: ServerProcess,
    port: u16,
    tls: bool,
    dir: ServerDir,
}

impl Nginx {
    /// A gateway to `127.0.0.1:upstream_port` closing connections idle for
    /// `keepalive_timeout_ms`, on either side; returns once it accepts connections.
    pub async fn gateway(
        upstream_port: u16,
        keepalive_timeout_ms: u32,
        tls: Option<GatewayTls>,
    ) -> Result<Nginx> {
        let nginx = tokio::task::spawn_blocking(nginx_binary)
            .await
            .map_err(|e| Error::ServerBinaries(format!("locating nginx panicked: {e}")))??;
        let dir = ServerDir::create("nginx")?;
        let root = dir.path().to_path_buf();
        let (process, port) = server::launch(
            "nginx",
            dir.path(),
            READY_TIMEOUT,
            &["Address already in use"],
            |_| {
                let port = free_port()?;
                let conf = root.join("nginx.conf");
                let text = config(&root, port, upstream_port, keepalive_timeout_ms, &tls);
                std::fs::write(&conf, text)
                    .map_err(Error::io(format!("writing {}", conf.display())))?;
                let mut command = Command::new(&nginx);
                command.arg("-p").arg(&root).arg("-c").arg(&conf);
                command.args(["-g", "daemon off;"]);
                Ok((command, port))
            },
            |port| accepts(*port),
        )
        .await?;
        Ok(Nginx {
            process,
            port,
            tls: tls.is_some(),
            dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http(s)://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", client::host(self.port))
    }

    /// Every request it has logged so far (nginx writes a line when a request ends).
    pub fn access_log(&self) -> Result<Vec<Access>> {
        let path = self.dir.path().join("access.log");
        let text = std::fs::read_to_string(&path)
            .map_err(Error::io(format!("reading {}", path.display())))?;
        text.lines()
            .map(|line| {
                let mut fields = line.split_whitespace();
                let method = fields.next();
                let mut numbers = fields.map(str::parse);
                match (method, numbers.next(), numbers.next()) {
                    (Some(method), Some(Ok(status)), Some(Ok(connection))) => Ok(Access {
                        method: method.into(),
                        status: status as u16,
                        connection,
                    }),
                    _ => Err(Error::ServerRequest {
                        server: "nginx".into(),
                        what: format!("reading {}", path.display()),
                        detail: format!("unexpected line {line:?}"),
                    }),
                }
            })
            .collect()
    }

    /// The last lines of its error log.
    pub fn error_log_tail(&self, lines: usize) -> String {
        crate::component::log_tail(&self.dir.path().join("error.log"), lines)
            + "\n"
            + &self.process.log_tail(lines)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.process.stop_blocking();
        self.dir.remove_blocking();
    }
}

/// nginx is ready when its port accepts a connection (the master binds before forking the
/// worker, which then accepts what queued).
async fn accepts(port: u16) -> std::result::Result<(), String> {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map(drop)
        .map_err(|e| format!("connecting to 127.0.0.1:{port}: {e}"))
}

fn config(
    root: &std::path::Path,
    port: u16,
    upstream_port: u16,
    keepalive_timeout_ms: u32,
    tls: &Option<GatewayTls>,
) -> String {
    let root = root.display();
    // Workers run as the master's user when it is root (else `user` is ignored with a
    // warning): the default, nobody, cannot enter the private directory.
    // SAFETY: geteuid has no preconditions.
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;"
    } else {
        ""
    };
    let (listen, tls_lines) = match tls {
        None => ("", String::new()),
        Some(tls) => {
            let mut lines = format!(
                "ssl_certificate {};\n    ssl_certificate_key {};\n",
                tls.cert.display(),
                tls.key.display()
            );
            if let Some(ca) = &tls.client_ca {
                lines += &format!(
                    "    ssl_client_certificate {};\n    ssl_verify_client on;\n",
                    ca.display()
                );
            }
            (" ssl", lines)
        }
    };
    format!(
        "{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 1024; }}
http {{
  log_format matrix '$request_method $status $connection';
  access_log {root}/access.log matrix;
  client_body_temp_path {root}/client_body;
  proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  keepalive_timeout {keepalive_timeout_ms}ms;
  upstream model {{
    server 127.0.0.1:{upstream_port};
    keepalive 16;
    keepalive_timeout {keepalive_timeout_ms}ms;
  }}
  server {{
    listen 127.0.0.1:{port}{listen};
    {tls_lines}
    location / {{
      proxy_pass http://model;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_buffering off;
    }}
  }}
}}
"
    )
}
