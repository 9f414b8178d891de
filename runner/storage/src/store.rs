//! One `ObjectStore` per bucket (or HTTP origin), configured from the environment the way the
//! clouds' own tools are (`AWS_*`, `GOOGLE_*`), plus what the config says about S3 endpoints.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Once};

use ibench_core::config::{AddressingStyle, S3Endpoint};
use ibench_core::object_url::{ObjectUrl, Scheme};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::{ClientOptions, ObjectStore};

use crate::gcs::GcsBucket;

const DEFAULT_GCS_BASE_URL: &str = "https://storage.googleapis.com";

/// The store holding `url`'s object.
pub fn for_url(
    url: &ObjectUrl,
    s3: Option<&S3Endpoint>,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    match url.scheme {
        Scheme::S3 => s3_bucket(&url.bucket, s3.cloned().unwrap_or_default(), None),
        Scheme::Gcs => gcs_bucket(&url.bucket, None),
        Scheme::Http => {
            install_tls_provider();
            let store = HttpBuilder::new()
                .with_url(url.bucket.clone())
                .with_client_options(ClientOptions::new().with_allow_http(true))
                .build()?;
            Ok(Arc::new(store))
        }
    }
}

/// Environment-style variables (`AWS_ACCESS_KEY_ID`, `GOOGLE_SERVICE_ACCOUNT_KEY`, …) to use
/// instead of the process's own environment, e.g. from a Secret.
pub type Credentials = BTreeMap<String, String>;

pub fn s3_bucket(
    bucket: &str,
    endpoint: S3Endpoint,
    credentials: Option<&Credentials>,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    install_tls_provider();
    let builder = match credentials {
        None => AmazonS3Builder::from_env(),
        Some(vars) => configured(
            AmazonS3Builder::new(),
            vars,
            "AWS_",
            |b, key: AmazonS3ConfigKey, v| b.with_config(key, v),
        ),
    };
    let mut builder = builder.with_bucket_name(bucket);
    if let Some(url) = &endpoint.endpoint_url {
        // A custom endpoint is usually an in-cluster store (MinIO, SeaweedFS) served over
        // plain HTTP; the URL's scheme is the user's explicit choice.
        builder = builder
            .with_endpoint(url)
            .with_allow_http(url.starts_with("http://"));
    }
    if let Some(region) = &endpoint.region_name {
        builder = builder.with_region(region);
    }
    match endpoint.addressing_style {
        Some(AddressingStyle::Virtual) => builder = builder.with_virtual_hosted_style_request(true),
        Some(AddressingStyle::Path) => builder = builder.with_virtual_hosted_style_request(false),
        Some(AddressingStyle::Auto) | None => {}
    }
    Ok(Arc::new(builder.build()?))
}

/// A bucket of Google Cloud Storage, or of the emulator named by `STORAGE_EMULATOR_HOST`; the
/// service's origin is `GOOGLE_BASE_URL` when set (a `gcs_base_url` in a service-account key
/// moves object_store's reads, not the writes).
pub fn gcs_bucket(
    bucket: &str,
    credentials: Option<&Credentials>,
) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    install_tls_provider();
    let builder = match credentials {
        None => GoogleCloudStorageBuilder::from_env(),
        Some(vars) => configured(
            GoogleCloudStorageBuilder::new(),
            vars,
            "GOOGLE_",
            |b, key: GoogleConfigKey, v| b.with_config(key, v),
        ),
    };
    let mut builder = builder.with_bucket_name(bucket);
    let var = |name: &str| match credentials {
        None => std::env::var(name).ok(),
        Some(vars) => vars.get(name).cloned(),
    };
    // Google's client libraries (inference-perf's too) talk to an emulator named by
    // STORAGE_EMULATOR_HOST, without credentials.
    let emulator = var("STORAGE_EMULATOR_HOST").map(|host| match host.contains("://") {
        true => host,
        false => format!("http://{host}"),
    });
    if let Some(url) = &emulator {
        builder = builder
            .with_base_url(url)
            .with_skip_signature(true)
            .with_client_options(ClientOptions::new().with_allow_http(true));
    }
    let base_url = emulator
        .clone()
        .or_else(|| var("GOOGLE_BASE_URL"))
        .unwrap_or_else(|| DEFAULT_GCS_BASE_URL.to_string());
    Ok(Arc::new(GcsBucket::new(
        builder.build()?,
        &base_url,
        bucket,
        emulator.is_some(),
    )?))
}

/// What the builders' `from_env` does, over `vars`: each `{PREFIX}NAME` the builder knows, as
/// its lowercase config key; others are ignored, as in the environment.
fn configured<B, K: FromStr>(
    builder: B,
    vars: &Credentials,
    prefix: &str,
    with: impl Fn(B, K, &str) -> B,
) -> B {
    vars.iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .fold(builder, |b, (name, value)| {
            match name.to_ascii_lowercase().parse::<K>() {
                Ok(key) => with(b, key, value),
                Err(_) => b,
            }
        })
}

/// object_store's HTTP client uses rustls without a built-in provider (the workspace's
/// choice): the process needs ring installed as the default once.
fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first, which serves as well.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    });
}
