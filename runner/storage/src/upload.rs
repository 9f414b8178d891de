//! Report files to the buckets of `storage.google_cloud_storage` and
//! `storage.simple_storage_service`, named like inference-perf names them:
//! `{path}/{report_file_prefix}{file}`. Unlike there, the bytes are the ones written locally,
//! an object of the same name is replaced (inference-perf keeps it, so a fixed `path` silently
//! keeps an older run's files), and a failed upload is an error, not a log line.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use ibench_core::config::StorageConfig;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::describe::describe;
use crate::sink::ObjectSink;
use crate::store::{self, Credentials};

/// Files above this go up in parts, read from disk part by part.
const SINGLE_PUT_LIMIT: u64 = 16 << 20;
/// S3's smallest part is 5 MiB; larger parts mean fewer requests for big files.
pub(crate) const PART_SIZE: usize = 8 << 20;
/// Parts in flight per upload: bounds memory at `PART_SIZE` times this.
pub(crate) const PARTS_IN_FLIGHT: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{section}: {cause}")]
    Configure {
        section: &'static str,
        cause: String,
    },
    #[error("{url}: {cause}")]
    Object { url: String, cause: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

struct Destination {
    /// `s3://bucket` or `gs://bucket`.
    bucket_url: String,
    /// `{path}/{report_file_prefix}`, without a leading slash.
    key_prefix: String,
    store: Arc<dyn ObjectStore>,
}

impl Destination {
    fn key(&self, name: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{name}", self.key_prefix))
    }

    fn url(&self, name: &str) -> String {
        format!("{}/{}{name}", self.bucket_url, self.key_prefix)
    }

    fn error(&self, name: &str, e: &object_store::Error) -> UploadError {
        UploadError::Object {
            url: self.url(name),
            cause: describe(e),
        }
    }
}

/// The buckets a run's reports go to; empty when only local storage is configured.
pub struct ReportBuckets {
    destinations: Vec<Destination>,
}

fn key_prefix(path: Option<&str>, report_file_prefix: Option<&str>) -> String {
    let path = path.unwrap_or_default().trim_matches('/');
    let file_prefix = report_file_prefix.unwrap_or_default();
    if path.is_empty() {
        file_prefix.to_string()
    } else {
        format!("{path}/{file_prefix}")
    }
}

impl ReportBuckets {
    /// From a resolved config (paths with `{timestamp}` replaced), credentials from the
    /// environment.
    pub fn new(storage: &StorageConfig) -> Result<Self, UploadError> {
        Self::with_credentials(storage, None)
    }

    /// As [`new`](Self::new), with the credentials' variables given (e.g. a Secret's data).
    pub fn with_credentials(
        storage: &StorageConfig,
        credentials: Option<&Credentials>,
    ) -> Result<Self, UploadError> {
        let mut destinations = Vec::new();
        if let Some(gcs) = &storage.google_cloud_storage {
            destinations.push(Destination {
                bucket_url: format!("gs://{}", gcs.bucket_name),
                key_prefix: key_prefix(gcs.path.as_deref(), gcs.report_file_prefix.as_deref()),
                store: store::gcs_bucket(&gcs.bucket_name, credentials).map_err(|e| {
                    UploadError::Configure {
                        section: "storage.google_cloud_storage",
                        cause: describe(&e),
                    }
                })?,
            });
        }
        if let Some(s3) = &storage.simple_storage_service {
            destinations.push(Destination {
                bucket_url: format!("s3://{}", s3.bucket_name),
                key_prefix: key_prefix(s3.path.as_deref(), s3.report_file_prefix.as_deref()),
                store: store::s3_bucket(&s3.bucket_name, s3.endpoint(), credentials).map_err(
                    |e| UploadError::Configure {
                        section: "storage.simple_storage_service",
                        cause: describe(&e),
                    },
                )?,
            });
        }
        Ok(ReportBuckets { destinations })
    }

    pub fn is_empty(&self) -> bool {
        self.destinations.is_empty()
    }

    /// Where `name` lands, one URL per bucket.
    pub fn urls(&self, name: &str) -> Vec<String> {
        self.destinations.iter().map(|d| d.url(name)).collect()
    }

    /// Proves before the run that each bucket exists and answers these credentials, by listing
    /// the run's folder: a wrong key or a missing bucket found after an hour of load would lose
    /// the reports. (A listing, not a probe write: it leaves nothing behind, and every store and
    /// emulator answers it alike.)
    pub async fn check(&self) -> Result<(), UploadError> {
        for d in &self.destinations {
            let folder = ObjectPath::from(d.key_prefix.trim_end_matches('/'));
            d.store
                .list_with_delimiter(Some(&folder))
                .await
                .map_err(|e| d.error("", &e))?;
        }
        Ok(())
    }

    /// Uploads `bytes` as `name` to every bucket; returns the object URLs.
    pub async fn upload_bytes(&self, name: &str, bytes: Bytes) -> Result<Vec<String>, UploadError> {
        for d in &self.destinations {
            let key = d.key(name);
            d.store
                .put(&key, PutPayload::from_bytes(bytes.clone()))
                .await
                .map_err(|e| d.error(name, &e))?;
        }
        Ok(self.urls(name))
    }

    /// Uploads the local file `path` as `name`; large files go up in parts, never whole in
    /// memory.
    pub async fn upload_file(&self, name: &str, path: &Path) -> Result<Vec<String>, UploadError> {
        let read_error = |e: std::io::Error| UploadError::Read {
            path: path.display().to_string(),
            source: e,
        };
        let size = tokio::fs::metadata(path).await.map_err(read_error)?.len();
        if size <= SINGLE_PUT_LIMIT {
            let bytes = tokio::fs::read(path).await.map_err(read_error)?;
            return self.upload_bytes(name, Bytes::from(bytes)).await;
        }
        for d in &self.destinations {
            let key = d.key(name);
            let upload = d
                .store
                .put_multipart(&key)
                .await
                .map_err(|e| d.error(name, &e))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut file = tokio::fs::File::open(path).await.map_err(read_error)?;
            let mut buffer = vec![0u8; PART_SIZE];
            loop {
                let n = file.read(&mut buffer).await.map_err(read_error)?;
                if n == 0 {
                    break;
                }
                writer.write(&buffer[..n]);
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| d.error(name, &e))?;
            }
            writer.finish().await.map_err(|e| d.error(name, &e))?;
        }
        Ok(self.urls(name))
    }

    /// A writer that streams `name` into every bucket as it is written (see [`ObjectSink`]).
    pub async fn sink(&self, name: &str) -> Result<ObjectSink, UploadError> {
        let mut parts = Vec::new();
        for d in &self.destinations {
            let upload = d
                .store
                .put_multipart(&d.key(name))
                .await
                .map_err(|e| d.error(name, &e))?;
            parts.push((
                d.url(name),
                WriteMultipart::new_with_chunk_size(upload, PART_SIZE),
            ));
        }
        Ok(ObjectSink::new(parts, tokio::runtime::Handle::current()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_inference_perf() {
        assert_eq!(key_prefix(Some("runs/1"), Some("a-")), "runs/1/a-");
        assert_eq!(key_prefix(Some("/runs/1/"), None), "runs/1/");
        assert_eq!(key_prefix(None, Some("a-")), "a-");
        assert_eq!(key_prefix(Some(""), None), "");
    }
}
