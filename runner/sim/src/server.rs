//! The listener, routing, the server's own runtime and its shutdown.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsAcceptor;

use super::api::{self, Abandoned, ApiError, Kind};
use super::app::{App, shutting_down};
use super::body::{Body, JSON, full};
use super::config::{SimConfig, SimConfigError};
use super::idle::{Timeouts, Verdict, Watch, Watched};
use super::stats::{RecordedRequest, SimStats};

/// How long a shutdown waits for responses in progress before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Config(#[from] SimConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the simulator runtime: {0}")]
    Runtime(std::io::Error),
}

/// A running simulator. It serves on its own runtime and threads (`SimConfig::threads`), so a
/// test's client never shares a thread with it; dropping it (or [`SimServer::shutdown`]) stops it.
pub struct SimServer {
    addr: SocketAddr,
    app: Arc<App>,
    shutdown: watch::Sender<bool>,
    stopped: Option<oneshot::Receiver<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimServer {
    /// Validates `config`, binds (port `None`: a free one) and starts serving.
    pub async fn start(config: SimConfig) -> Result<SimServer, SimError> {
        Self::start_with_park_hook(config, || {}).await
    }

    /// [`SimServer::start`], calling `on_park` on a server thread each time it runs out of work.
    ///
    /// A process that links its own allocator uses it to tidy each thread's heap: memory freed
    /// by another thread (a closed connection's buffers, dropped wherever its task last ran) is
    /// only taken back by the thread that owns it, and only when that thread allocates or
    /// collects.
    pub async fn start_with_park_hook(
        config: SimConfig,
        on_park: impl Fn() + Send + Sync + 'static,
    ) -> Result<SimServer, SimError> {
        config.validate()?;
        // Before the runtime: an error returned after it would drop it inside the caller's.
        let tls = config
            .tls
            .as_ref()
            .map(|tls| tls.acceptor(config.http1_only))
            .transpose()
            .map_err(SimConfigError::Invalid)?;
        let addr = SocketAddr::new(config.host, config.port.unwrap_or(0));
        let bind = |source| SimError::Bind { addr, source };
        let std_listener = StdListener::bind(addr).map_err(bind)?;
        std_listener.set_nonblocking(true).map_err(bind)?;
        let addr = std_listener.local_addr().map_err(bind)?;
        let runtime = match config.threads {
            1 => tokio::runtime::Builder::new_current_thread(),
            n => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(n).thread_name("ibench-sim-worker");
                builder
            }
        }
        .on_thread_park(on_park)
        .enable_all()
        .build()
        .map_err(SimError::Runtime)?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(bind)?
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let app = Arc::new(App::new(config, shutdown_rx));
        let (stopped_tx, stopped) = oneshot::channel();
        let serving = app.clone();
        let thread = std::thread::Builder::new()
            .name("ibench-sim".into())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, serving, tls));
                runtime.shutdown_timeout(Duration::from_millis(100));
                let _ = stopped_tx.send(());
            })
            .map_err(SimError::Runtime)?;
        tracing::info!(%addr, model = %app.config.model, seed = app.seed, "simulator listening");
        Ok(SimServer {
            addr,
            app,
            shutdown,
            stopped: Some(stopped),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port` (`https://` with TLS), without a trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.app.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    pub fn config(&self) -> &SimConfig {
        &self.app.config
    }

    /// The seed in use (the configured one, or the one drawn at start).
    pub fn seed(&self) -> u64 {
        self.app.seed
    }

    /// Exact counters since start.
    pub fn stats(&self) -> SimStats {
        self.app.stats()
    }

    /// The recorded requests in arrival order (empty unless `record_requests` is set).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.app.stats.requests()
    }

    /// The `/metrics` text as it would be served now.
    pub fn metrics_text(&self) -> String {
        self.app.metrics_text()
    }

    /// Stops accepting, lets responses in progress finish (at most 2 s), and waits for the end.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(stopped) = self.stopped.take() {
            let _ = stopped.await;
        }
        self.join();
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.join();
    }
}

async fn accept_loop(listener: TcpListener, app: Arc<App>, tls: Option<TlsAcceptor>) {
    // HTTP/1.1, and HTTP/2 when a connection starts with its preface (prior knowledge, or
    // after ALPN chose h2); its streams are served as tasks of their own.
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true).header_read_timeout(None);
    if app.config.http1_only {
        builder = builder.http1_only();
    }
    let builder = Arc::new(builder);
    let timeouts = Timeouts {
        idle: Duration::from_millis(app.config.idle_timeout_ms),
        header_read: Duration::from_millis(app.config.header_read_timeout_ms),
    };
    let mut shutdown = app.shutdown.clone();
    // Every connection task holds a sender; the receiver sees `None` once all have ended.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutting_down(&mut shutdown) => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Served {
            app: app.clone(),
            builder: builder.clone(),
            timeouts,
            _open: open_tx.clone(),
        };
        match &tls {
            None => {
                tokio::spawn(connection.serve(stream));
            }
            Some(acceptor) => {
                let accepting = acceptor.accept(stream);
                tokio::spawn(async move {
                    // A client that never completes its handshake is treated like one that
                    // never sends its request head.
                    match tokio::time::timeout(timeouts.header_read, accepting).await {
                        Ok(Ok(stream)) => connection.serve(stream).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(open_tx);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, open_rx.recv()).await;
}

/// One accepted connection, served until it ends, goes idle or the server shuts down.
struct Served {
    app: Arc<App>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    timeouts: Timeouts,
    /// Held until the connection ends (see `accept_loop`).
    _open: mpsc::Sender<()>,
}

impl Served {
    async fn serve<S>(self, stream: S)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Served {
            app,
            builder,
            timeouts,
            _open,
        } = self;
        let mut shutdown = app.shutdown.clone();
        let watch = Watch::new();
        let serving = watch.clone();
        let service = service_fn(move |req| {
            let (app, serving) = (app.clone(), serving.serving());
            async move {
                let response = route(app, req).await;
                drop(serving);
                response
            }
        });
        let io = TokioIo::new(Watched::new(stream, watch.clone()));
        let conn = builder.serve_connection(io, service);
        let mut conn = std::pin::pin!(conn);
        let mut check = tokio::time::Instant::now() + timeouts.idle.min(timeouts.header_read);
        // Each turn ends the connection or moves the check to a later time.
        let result = loop {
            tokio::select! {
                result = conn.as_mut() => break Some(result),
                _ = shutting_down(&mut shutdown) => {
                    conn.as_mut().graceful_shutdown();
                    break Some(conn.await);
                }
                _ = tokio::time::sleep_until(check) => match watch.verdict(timeouts) {
                    Verdict::Keep { until } => check = until.into(),
                    // An HTTP/2 client is told with GOAWAY, so that it opens a new connection
                    // rather than sending a stream into the closing one.
                    Verdict::Close(reason) if watch.multiplexed() => {
                        tracing::debug!("closing an HTTP/2 connection: {reason}");
                        conn.as_mut().graceful_shutdown();
                        break tokio::time::timeout(DRAIN_TIMEOUT, conn.as_mut()).await.ok();
                    }
                    Verdict::Close(reason) => {
                        tracing::debug!("closing a connection: {reason}");
                        break None;
                    }
                },
            }
        };
        if let Some(Err(e)) = result {
            tracing::debug!("connection ended: {e}");
        }
    }
}

async fn route(app: Arc<App>, req: Request<Incoming>) -> Result<Response<Body>, Abandoned> {
    let path = req.uri().path();
    Ok(match (req.method(), path) {
        (&Method::POST, "/v1/completions") => return api::serve(app, Kind::Completion, req).await,
        (&Method::POST, "/v1/chat/completions") => return api::serve(app, Kind::Chat, req).await,
        (&Method::POST, "/v1/messages") => return api::serve(app, Kind::Messages, req).await,
        (&Method::GET, "/v1/models") => full(StatusCode::OK, JSON, app.models_json.clone()),
        (&Method::GET, "/health") => {
            full(StatusCode::OK, HeaderValue::from_static("text/plain"), "")
        }
        (&Method::GET, "/metrics") => full(
            StatusCode::OK,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            app.metrics_text(),
        ),
        (_, "/v1/completions" | "/v1/chat/completions" | "/v1/models" | "/health" | "/metrics") => {
            ApiError::MethodNotAllowed(format!("{} {path}", req.method())).response()
        }
        _ => ApiError::NoRoute(format!("{} {path}", req.method())).response(),
    })
}
