//! HTTPS for the simulator (`tls`): a server certificate, and optionally client certificates
//! required and verified against a CA, so that a private CA and mutual TLS can be tried
//! against it before a production endpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimTls {
    /// PEM certificate chain of the server.
    pub cert: PathBuf,
    /// PEM private key of `cert`.
    pub key: PathBuf,
    /// PEM CA certificates: when set, a client must present a certificate they signed.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// Why a TLS setting cannot be used, naming the setting and its file.
fn invalid(what: &str, path: &Path, reason: impl std::fmt::Display) -> String {
    format!("tls.{what} {}: {reason}", path.display())
}

fn certificates(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(what, path, e))?;
    if certs.is_empty() {
        return Err(invalid(what, path, "no PEM certificate"));
    }
    Ok(certs)
}

impl SimTls {
    /// Offers HTTP/2 in ALPN (preferred) unless `http1_only`.
    pub fn acceptor(&self, http1_only: bool) -> Result<TlsAcceptor, String> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls: {e}"))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in certificates("client_ca", path)? {
                    roots.add(cert).map_err(|e| invalid("client_ca", path, e))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| invalid("client_ca", path, e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let key =
            PrivateKeyDer::from_pem_file(&self.key).map_err(|e| invalid("key", &self.key, e))?;
        let mut config = builder
            .with_single_cert(certificates("cert", &self.cert)?, key)
            .map_err(|e| invalid("cert", &self.cert, e))?;
        config.alpn_protocols = if http1_only {
            vec![b"http/1.1".to_vec()]
        } else {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        };
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
