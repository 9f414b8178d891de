//! Opening one HTTP/2 connection: TCP (and TLS with ALPN `h2`), the HTTP/2 handshake, its
//! connection task, and a PING answered, so that a server that does not speak HTTP/2 is told
//! apart from one that fails a request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio_rustls::rustls;
use tokio_util::either::Either;

use super::error::H2Error;
use crate::http::connector::{ConnectError, Connector};

/// Flow-control windows far above a completion's pieces: a stream is never held back waiting
/// for a WINDOW_UPDATE while the body is read as it arrives (h2's default is 64 KiB for the
/// stream and the whole connection alike).
const STREAM_WINDOW: u32 = 1 << 20;
const CONNECTION_WINDOW: u32 = 16 << 20;

/// How long the server may take to answer the first PING.
const PING_WITHIN: Duration = Duration::from_secs(5);

/// An open HTTP/2 connection: requests go through `send`; `closed` is set once its
/// connection task has ended (the server closed it, sent GOAWAY, or the socket failed).
pub(super) struct Opened {
    pub send: SendRequest<Bytes>,
    pub closed: Arc<AtomicBool>,
}

/// A TLS server that speaks none of the protocols offered (here only h2) may end the
/// handshake with this alert (RFC 7301 §3.2), rustls among them.
fn refused_alpn(error: &ConnectError) -> bool {
    let ConnectError::Tls { source, .. } = error else {
        return false;
    };
    source
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .is_some_and(|e| {
            *e == rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)
        })
}

pub(super) async fn open(connector: &Connector) -> Result<Opened, H2Error> {
    let not_negotiated = |how: String| H2Error::NotNegotiated {
        address: connector.address(),
        how,
    };
    let io = match connector.open().await {
        Ok(io) => io,
        Err(e) if refused_alpn(&e) => {
            return Err(not_negotiated(
                "it refused h2 with a no_application_protocol alert".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if let Either::Right(tls) = &io {
        match tls.get_ref().1.alpn_protocol() {
            Some(b"h2") => {}
            Some(other) => {
                return Err(not_negotiated(format!(
                    "it selected {}",
                    String::from_utf8_lossy(other)
                )));
            }
            None => return Err(not_negotiated("it selected no protocol".into())),
        }
    }
    let cleartext = matches!(io, Either::Left(_));
    let not_h2 = |source: h2::Error| {
        if cleartext {
            H2Error::NoCleartext {
                address: connector.address(),
                source,
            }
        } else {
            H2Error::Protocol(source)
        }
    };
    let (send, mut connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(not_h2)?;
    let mut ping = connection.ping_pong().expect("taken once, here");
    let closed = Arc::new(AtomicBool::new(false));
    let ended = closed.clone();
    // The connection's frames are read and written by a task of its own: every stream on it
    // makes progress whichever request's task runs. It ends when the server closes the
    // connection or when the pool drops the last handle to it.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("HTTP/2 connection ended: {e}");
        }
        ended.store(true, Ordering::Relaxed);
    });
    match tokio::time::timeout(PING_WITHIN, ping.ping(h2::Ping::opaque())).await {
        Ok(Ok(_)) => Ok(Opened { send, closed }),
        Ok(Err(e)) => Err(not_h2(e)),
        Err(_) => Err(H2Error::Silent {
            address: connector.address(),
            within: PING_WITHIN,
        }),
    }
}
