//! The one kubelet API we serve: `GET /containerLogs/{namespace}/{pod}/{container}`, which the
//! apiserver proxies for `pods/log` (kube's `Api::<Pod>::logs`/`log_stream`, `kubectl logs`).
//! HTTPS on 127.0.0.1 with a certificate from the control plane's CA, as the apiserver checks it.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Longest a `follow=true` request streams; tests never follow a container longer.
const MAX_FOLLOW: Duration = Duration::from_secs(600);
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Marker written next to a container's log once it has ended for good; `follow` stops there.
pub(crate) fn done_marker(pod_dir: &Path, container: &str) -> PathBuf {
    pod_dir.join(format!("{container}.done"))
}

pub(crate) fn tls_config(cert_der: &[u8], key_der: &[u8]) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert_der.to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.to_vec())),
        )
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// Accepts connections until the runtime shuts down.
pub(crate) async fn serve(listener: TcpListener, tls: Arc<ServerConfig>, pods_dir: PathBuf) {
    let acceptor = TlsAcceptor::from(tls);
    let pods_dir = Arc::new(pods_dir);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let pods_dir = pods_dir.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = service_fn(move |req| handle(req, pods_dir.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.into())).boxed());
    *response.status_mut() = status;
    response
}

#[derive(Debug, Default)]
struct LogQuery {
    follow: bool,
    tail_lines: Option<usize>,
    limit_bytes: Option<usize>,
}

fn parse_query(query: Option<&str>) -> LogQuery {
    let mut q = LogQuery::default();
    for pair in query.unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "follow" => q.follow = value == "true" || value == "1",
            "tailLines" => q.tail_lines = value.parse().ok(),
            "limitBytes" => q.limit_bytes = value.parse().ok(),
            _ => {}
        }
    }
    q
}

fn tail(bytes: &[u8], lines: Option<usize>) -> &[u8] {
    let Some(n) = lines else { return bytes };
    if n == 0 {
        return &[];
    }
    // Skip a trailing newline so it does not count as an empty last line.
    let end = if bytes.ends_with(b"\n") {
        bytes.len() - 1
    } else {
        bytes.len()
    };
    let mut seen = 0;
    for i in (0..end).rev() {
        if bytes[i] == b'\n' {
            seen += 1;
            if seen == n {
                return &bytes[i + 1..];
            }
        }
    }
    bytes
}

async fn handle(
    req: Request<Incoming>,
    pods_dir: Arc<PathBuf>,
) -> Result<Response<Body>, Infallible> {
    if req.method() != Method::GET {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served"));
    }
    let parts: Vec<&str> = req
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .collect();
    let [kind, ns, pod, container] = parts[..] else {
        return Ok(text(
            StatusCode::NOT_FOUND,
            "the process kubelet serves only /containerLogs/{ns}/{pod}/{container}",
        ));
    };
    if kind != "containerLogs"
        || [ns, pod, container]
            .iter()
            .any(|s| s.is_empty() || s.contains(".."))
    {
        return Ok(text(
            StatusCode::NOT_FOUND,
            "the process kubelet serves only /containerLogs/{ns}/{pod}/{container}",
        ));
    }
    let query = parse_query(req.uri().query());
    let pod_dir = pods_dir.join(ns).join(pod);
    let log = pod_dir.join(format!("{container}.log"));
    let Ok(contents) = tokio::fs::read(&log).await else {
        return Ok(text(
            StatusCode::NOT_FOUND,
            format!("container {container:?} in pod {ns}/{pod} has not started"),
        ));
    };
    let mut first = tail(&contents, query.tail_lines).to_vec();
    if let Some(limit) = query.limit_bytes {
        first.truncate(limit);
    }
    if !query.follow {
        return Ok(text(
            StatusCode::OK,
            String::from_utf8_lossy(&first).into_owned(),
        ));
    }

    // Follow: send what is there, then whatever is appended until the container has ended.
    let state = (
        Some(first),
        contents.len(),
        log,
        done_marker(&pod_dir, container),
        Instant::now() + MAX_FOLLOW,
    );
    let stream =
        futures::stream::unfold(state, |(first, offset, log, done, deadline)| async move {
            if let Some(first) = first {
                return Some((
                    Ok(Frame::data(Bytes::from(first))),
                    (None, offset, log, done, deadline),
                ));
            }
            while Instant::now() < deadline {
                // Check the marker before reading, so bytes written just before it are not lost.
                let finished = done.exists();
                let Ok(contents) = tokio::fs::read(&log).await else {
                    return None;
                };
                if contents.len() > offset {
                    let chunk = Bytes::copy_from_slice(&contents[offset..]);
                    return Some((
                        Ok(Frame::data(chunk)),
                        (None, contents.len(), log, done, deadline),
                    ));
                }
                if finished {
                    return None;
                }
                tokio::time::sleep(FOLLOW_POLL).await;
            }
            None
        });
    let mut response = Response::new(StreamBody::new(stream).boxed());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_counts_lines_from_the_end() {
        assert_eq!(tail(b"a\nb\nc\n", Some(2)), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", Some(1)), b"c");
        assert_eq!(tail(b"a\nb\n", Some(5)), b"a\nb\n");
        assert_eq!(tail(b"a\nb\n", Some(0)), b"");
        assert_eq!(tail(b"a\nb\n", None), b"a\nb\n");
    }

    #[test]
    fn query_parsing() {
        let q = parse_query(Some(
            "follow=true&tailLines=3&limitBytes=10&timestamps=false",
        ));
        assert!(q.follow);
        assert_eq!((q.tail_lines, q.limit_bytes), (Some(3), Some(10)));
    }
}
