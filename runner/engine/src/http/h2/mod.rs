//! HTTP/2 for the load (`server.http_version: "2"`), through the `h2` crate: `http://` targets
//! with prior knowledge (h2c), `https://` ones after ALPN selects `h2`. Each request is a
//! stream on one of the worker's connections ([`pool`]); its response body is read through
//! the same [`BodySource`] as HTTP/1.1's, so sizes, errors and token timing are accounted
//! alike.

mod error;
mod handshake;
mod pool;

use ::http::header::{self, HeaderMap, HeaderValue};
use ::http::{Method, Request, Uri};
use bytes::Bytes;
use h2::RecvStream;

use super::body::BodySource;
use super::connector::Connector;
use super::pool::Prewarmed;
use super::wire::Extras;
pub use error::H2Error;
use pool::{Assigned, H2Pool};

/// A worker's HTTP/2 connections and the parts of every request that never change.
pub struct Http2 {
    pool: H2Pool,
    uri: Uri,
    /// Without `host`: HTTP/2 carries it as the `:authority` of `uri`.
    headers: HeaderMap,
}

/// Headers that mean something for one HTTP/1.1 connection only: HTTP/2 forbids them
/// (RFC 9113 §8.2.2) and h2 refuses to send a request carrying one.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "transfer-encoding",
];

/// Why `name: value` cannot be sent over HTTP/2, if it cannot.
pub fn refused_header(name: &str, value: &str) -> Option<&'static str> {
    let te_other_than_trailers =
        name.eq_ignore_ascii_case("te") && !value.eq_ignore_ascii_case("trailers");
    (te_other_than_trailers || CONNECTION_SPECIFIC.iter().any(|c| name.eq_ignore_ascii_case(c)))
        .then_some(
            "a connection-specific header, which HTTP/2 forbids; remove it from api.headers or set server.http_version: \"1.1\"",
        )
}

impl Http2 {
    /// Requests to `path` (and query) of `connector`'s server, with `headers` (whose `host`
    /// becomes the `:authority`).
    pub fn new(
        connector: Connector,
        max_connections: usize,
        scheme: &str,
        path: &str,
        mut headers: HeaderMap,
    ) -> Result<Self, String> {
        let authority = headers
            .remove(header::HOST)
            .ok_or("no host")?
            .to_str()
            .map_err(|e| e.to_string())?
            .to_owned();
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query(path)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Http2 {
            pool: H2Pool::new(connector, max_connections),
            uri,
            headers,
        })
    }

    pub async fn prewarm(&self, concurrency: usize) -> Prewarmed {
        self.pool.prewarm(concurrency).await
    }

    /// Sends a POST of `body` with `extras`' headers on a stream; returns the response status,
    /// the header `extras` wants, and the body.
    pub async fn send(
        &self,
        body: &[u8],
        extras: Extras<'_>,
    ) -> Result<(u16, Option<String>, Stream), H2Error> {
        let (mut send, assigned) = self.pool.checkout().await?;
        let mut request = Request::new(());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        let headers = request.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        for (name, value) in extras.headers {
            headers.insert(name, value.clone());
        }
        let (response, mut outgoing) = send
            .send_request(request, body.is_empty())
            .map_err(H2Error::Protocol)?;
        if !body.is_empty() {
            // Buffered by h2 and sent as the server's flow-control window allows.
            outgoing
                .send_data(Bytes::copy_from_slice(body), true)
                .map_err(H2Error::Protocol)?;
        }
        let response = response.await.map_err(H2Error::Protocol)?;
        let status = response.status().as_u16();
        let wanted = extras
            .wanted
            .and_then(|name| response.headers().get(name))
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim().to_owned());
        Ok((
            status,
            wanted,
            Stream {
                body: response.into_body(),
                lent: 0,
                piece: Bytes::new(),
                _assigned: assigned,
            },
        ))
    }
}

/// A response body arriving on an HTTP/2 stream. The stream keeps its place on the
/// connection until this is dropped (an unfinished stream is reset then).
pub struct Stream {
    body: RecvStream,
    piece: Bytes,
    /// Bytes of `piece` whose window is given back at the next read.
    lent: usize,
    _assigned: Assigned,
}

impl BodySource for Stream {
    type Error = H2Error;

    async fn data(&mut self) -> Result<Option<&[u8]>, H2Error> {
        let consumed = std::mem::take(&mut self.lent);
        if consumed > 0 {
            // The window given back, the server may send that much more.
            let _ = self.body.flow_control().release_capacity(consumed);
        }
        // Empty DATA frames carry nothing to read; the request's time-out bounds them.
        loop {
            match self.body.data().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(H2Error::Protocol(e)),
                Some(Ok(piece)) if piece.is_empty() => continue,
                Some(Ok(piece)) => {
                    self.lent = piece.len();
                    self.piece = piece;
                    return Ok(Some(&self.piece));
                }
            }
        }
    }
}
