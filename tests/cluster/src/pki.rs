//! Certificates and keys for one control plane, generated in process (no openssl needed).
//!
//! ECDSA P-256 everywhere: fast to generate, accepted by Go's TLS stack, by the apiserver's
//! service-account signer (ES256) and by rustls.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// The admin identity: `system:masters` bypasses RBAC, as for cluster-admin in a real cluster.
pub(crate) const ADMIN_USER: &str = "ibench-admin";
const ADMIN_GROUP: &str = "system:masters";

/// Files and PEM data of one control plane's PKI.
#[derive(Debug, Clone)]
pub(crate) struct Pki {
    pub ca_pem: String,
    pub ca_cert: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
    /// Private key that signs service-account tokens.
    pub sa_signing_key: PathBuf,
    /// Its public half, which the apiserver uses to verify them.
    pub sa_public_key: PathBuf,
    /// Serving certificate and PKCS#8 key (DER) of the process kubelet's log endpoint; the
    /// apiserver verifies it against the CA.
    pub kubelet_cert_der: Vec<u8>,
    pub kubelet_key_der: Vec<u8>,
}

impl Pki {
    pub(crate) fn generate(dir: &Path) -> Result<Pki> {
        fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;

        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ibench-testcluster-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let ca = Issuer::new(ca_params, ca_key);

        // Names a client may use for the apiserver: loopback only, plus the in-cluster names so
        // tools that derive the host from the service name still verify.
        let serving_key = KeyPair::generate()?;
        let mut serving = CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
        ])?;
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving.signed_by(&serving_key, &ca)?;

        let admin_key = KeyPair::generate()?;
        let mut admin = CertificateParams::new(Vec::<String>::new())?;
        admin
            .distinguished_name
            .push(DnType::CommonName, ADMIN_USER);
        admin
            .distinguished_name
            .push(DnType::OrganizationName, ADMIN_GROUP);
        admin.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_cert = admin.signed_by(&admin_key, &ca)?;

        let sa_key = KeyPair::generate()?;

        let kubelet_key = KeyPair::generate()?;
        let mut kubelet =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
        kubelet
            .distinguished_name
            .push(DnType::CommonName, "ibench-process-kubelet");
        kubelet.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        kubelet.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let kubelet_cert = kubelet.signed_by(&kubelet_key, &ca)?;

        let write = |name: &str, contents: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            fs::write(&path, contents).map_err(Error::io(format!("writing {}", path.display())))?;
            Ok(path)
        };
        let ca_pem = ca_cert.pem();
        Ok(Pki {
            ca_cert: write("ca.crt", &ca_pem)?,
            ca_pem,
            serving_cert: write("apiserver.crt", &serving_cert.pem())?,
            serving_key: write("apiserver.key", &serving_key.serialize_pem())?,
            admin_cert_pem: admin_cert.pem(),
            admin_key_pem: admin_key.serialize_pem(),
            sa_signing_key: write("sa.key", &sa_key.serialize_pem())?,
            sa_public_key: write("sa.pub", &sa_key.public_key_pem())?,
            kubelet_cert_der: kubelet_cert.der().to_vec(),
            kubelet_key_der: kubelet_key.serialize_der(),
        })
    }
}
