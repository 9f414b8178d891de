//! The few plain-HTTP requests the harness itself sends (readiness probes, bucket creation): one
//! request per connection to a loopback port, bounded in time. Tests talk to the servers through
//! object_store instead.

use std::net::Ipv4Addr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub(crate) struct Response {
    pub status: http::StatusCode,
    pub body: Bytes,
}

impl Response {
    /// The body as text, for error messages.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }
}

/// A request to `127.0.0.1:port`; `path` includes the query. `headers` come after `Host`.
pub(crate) async fn send(
    port: u16,
    method: http::Method,
    path: &str,
    headers: &[(&str, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<Response, String> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host(port));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Full::new(body))
        .map_err(|e| format!("building the request: {e}"))?;
    tokio::time::timeout(timeout, exchange(port, request))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

/// A readiness probe: `GET path` answers with a success status within `timeout`.
pub(crate) async fn probe_get(port: u16, path: &str, timeout: Duration) -> Result<(), String> {
    let response = send(port, http::Method::GET, path, &[], Bytes::new(), timeout).await?;
    if response.status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "GET {path}: HTTP {}: {}",
            response.status,
            response.text()
        ))
    }
}

/// The `Host` header (and SigV4's signed host) of a loopback server.
pub(crate) fn host(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

async fn exchange(port: u16, request: http::Request<Full<Bytes>>) -> Result<Response, String> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|e| format!("connecting to 127.0.0.1:{port}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    // The connection task ends with the exchange: the sender is dropped below.
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the response: {e}"))?
        .to_bytes();
    Ok(Response { status, body })
}
