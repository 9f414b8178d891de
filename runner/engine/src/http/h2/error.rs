//! Why an HTTP/2 request could not be sent or answered, and whether to try it again.

use std::time::Duration;

use crate::http::connector::ConnectError;

#[derive(Debug, thiserror::Error)]
pub enum H2Error {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(
        "{address} did not negotiate HTTP/2 (ALPN h2) in the TLS handshake: {how}; set server.http_version: \"1.1\" for this server"
    )]
    NotNegotiated { address: String, how: String },
    #[error(
        "{address} does not speak HTTP/2 over cleartext (h2c with prior knowledge): {source}; use https:// if it speaks HTTP/2 only over TLS, or server.http_version: \"1.1\""
    )]
    NoCleartext { address: String, source: h2::Error },
    #[error("{address} did not answer an HTTP/2 PING within {} s", within.as_secs())]
    Silent { address: String, within: Duration },
    #[error("HTTP/2: {0}")]
    Protocol(h2::Error),
}

impl H2Error {
    /// Whether the request may be sent again (`load.request_retries`): it failed before any
    /// byte of a response, for a reason a new attempt may not meet (refused, reset, GOAWAY).
    /// A server that does not speak HTTP/2 will not start to; nor do h2's own protocol errors
    /// go away.
    pub fn retryable(&self) -> bool {
        match self {
            H2Error::Connect(e) => matches!(e, ConnectError::Tcp { .. }),
            H2Error::Protocol(e) => !e.is_library(),
            H2Error::NotNegotiated { .. } | H2Error::NoCleartext { .. } => false,
            H2Error::Silent { .. } => true,
        }
    }
}
