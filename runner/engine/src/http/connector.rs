//! Opens connections to the target: TCP, plus TLS for `https://` targets.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_util::either::Either;

use super::connection::{Connection, Io};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect to {address}: {source}")]
    Tcp {
        address: String,
        source: std::io::Error,
    },
    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        host: String,
        source: std::io::Error,
    },
}

#[derive(Clone)]
pub struct Connector {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Connector({}:{}, tls: {})",
            self.host,
            self.port,
            self.tls.is_some()
        )
    }
}

impl Connector {
    /// For `url`'s scheme, host and port; HTTPS with `tls`.
    pub fn new(url: &reqwest::Url, tls: Option<&Arc<ClientConfig>>) -> Result<Self, String> {
        let host = url
            .host_str()
            .ok_or("URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().ok_or("URL has no port")?;
        let tls = match url.scheme() {
            "http" => None,
            "https" => {
                let name = ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
                let tls = tls.ok_or("https:// needs a TLS configuration")?;
                Some((TlsConnector::from(tls.clone()), name))
            }
            other => return Err(format!("unsupported scheme {other}")),
        };
        Ok(Connector { host, port, tls })
    }

    /// A new HTTP/1.1 connection.
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        self.open().await.map(Connection::new)
    }

    /// `host:port`, as errors name it.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A new socket: TCP, and the TLS handshake for `https://`.
    pub async fn open(&self) -> Result<Io, ConnectError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| ConnectError::Tcp {
                address: self.address(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let io = match &self.tls {
            None => Either::Left(tcp),
            Some((connector, name)) => Either::Right(
                connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|source| ConnectError::Tls {
                        host: self.host.clone(),
                        source,
                    })?,
            ),
        };
        Ok(io)
    }
}
