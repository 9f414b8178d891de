//! TLS of the runner's clients: ring as the crypto provider (one for the whole workspace, so
//! rustls never has to guess); servers verified against Mozilla's roots, the system's trust
//! store (`SSL_CERT_FILE`, `SSL_CERT_DIR`, `/etc/ssl/certs`: where a cluster's private CA is
//! usually installed) and `server.ca_cert_path`; a client certificate from `server.cert_path`
//! and `server.key_path` (mutual TLS); and no verification at all only when
//! `server.insecure_skip_tls_verify` asks for it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ibench_core::config::ServerConfig;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How the runner trusts the target and proves itself to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsOptions {
    /// PEM certificates trusted besides the bundled and system roots.
    pub ca_cert_path: Option<PathBuf>,
    /// PEM certificate chain and private key presented to servers that ask for one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Any server certificate is accepted.
    pub insecure: bool,
}

impl TlsOptions {
    pub fn of_server(server: &ServerConfig) -> Self {
        TlsOptions {
            ca_cert_path: server.ca_cert_path.as_ref().map(PathBuf::from),
            client_cert: server
                .cert_path
                .as_ref()
                .zip(server.key_path.as_ref())
                .map(|(cert, key)| (PathBuf::from(cert), PathBuf::from(key))),
            insecure: server.insecure_skip_tls_verify,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{field}: cannot read PEM from {path}: {reason}")]
    Pem {
        field: &'static str,
        path: String,
        reason: String,
    },
    #[error("{field}: {path} holds no {what} (a PEM block such as -----BEGIN {marker}-----)")]
    Empty {
        field: &'static str,
        path: String,
        what: &'static str,
        marker: &'static str,
    },
    #[error("server.cert_path, server.key_path: the client certificate cannot be used: {0}")]
    ClientAuth(String),
    #[error("TLS setup: {0}")]
    Setup(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(tokio_rustls::rustls::crypto::ring::default_provider())
}

/// The system's trust store, read once per process (a few hundred files); what cannot be
/// read is left out: the bundled roots still apply.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::debug!("system trust store: {error}");
        }
        found.certs
    })
}

fn certificates(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = path.display().to_string();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Pem {
            field,
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            field,
            path: shown,
            what: "certificate",
            marker: "CERTIFICATE",
        });
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let shown = path.display().to_string();
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        tokio_rustls::rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            field: "server.key_path",
            path: shown,
            what: "private key",
            marker: "PRIVATE KEY",
        },
        other => TlsError::Pem {
            field: "server.key_path",
            path: shown,
            reason: other.to_string(),
        },
    })
}

/// The client configuration `options` describe.
pub fn client_config(options: &TlsOptions) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let builder = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
    } else {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        roots.add_parsable_certificates(system_roots().iter().cloned());
        if let Some(path) = &options.ca_cert_path {
            for cert in certificates("server.ca_cert_path", path)? {
                roots.add(cert).map_err(|e| TlsError::Pem {
                    field: "server.ca_cert_path",
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
        }
        builder.with_root_certificates(roots)
    };
    match &options.client_cert {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => builder
            .with_client_auth_cert(certificates("server.cert_path", cert)?, private_key(key)?)
            .map_err(|e| TlsError::ClientAuth(e.to_string())),
    }
}

/// `server.insecure_skip_tls_verify`: accepts any certificate for any name, while still
/// checking that the server holds the key of the certificate it sent.
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
