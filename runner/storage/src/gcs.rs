//! Google Cloud Storage with writes through the JSON API (`uploadType=media` for whole objects,
//! resumable sessions for streamed ones), reads and listings through object_store.
//!
//! object_store writes through the XML API (`PUT /bucket/object`, XML multipart uploads).
//! Google's own client libraries, inference-perf's among them, write through the JSON API, and
//! so the GCS emulators implement that one: fake-gcs-server answers an XML `PUT` with
//! "400 invalid uploadType". Writing the way Google's clients do works against the real service
//! and an emulator alike. Authentication stays object_store's (its token providers, cached).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::gcp::GoogleCloudStorage;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use reqwest::header::{AUTHORIZATION, CONTENT_RANGE, LOCATION};
use reqwest::{Method, StatusCode, Url};
use tokio::sync::watch;

const STORE: &str = "GCS";
/// Every chunk of a resumable upload but the last must be a multiple of this (GCS's rule).
const CHUNK_QUANTUM: usize = 256 << 10;
/// A whole-object write is retried this many times on a dropped connection, 429 or 5xx: it
/// replaces the object whole, so repeating it is safe.
const MEDIA_ATTEMPTS: u32 = 3;
/// Longest an error body is kept in a message.
const MAX_BODY_CHARS: usize = 300;

#[derive(Debug, thiserror::Error)]
enum GcsError {
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("{method} {url}: {source}")]
    Request {
        method: Method,
        url: String,
        source: reqwest::Error,
    },
    #[error("starting a resumable upload at {url}: the reply named no session (Location header)")]
    NoSession { url: String },
    #[error("an earlier part of this upload failed")]
    EarlierPartFailed,
}

/// What a reply to a write means to object_store's callers: a 404 is a missing bucket, 401
/// and 403 are the credentials.
fn to_object_store(error: GcsError, path: &str) -> object_store::Error {
    let source = Box::new(error);
    match &*source {
        GcsError::Status { status, .. } if *status == StatusCode::NOT_FOUND => {
            object_store::Error::NotFound {
                path: path.to_string(),
                source,
            }
        }
        GcsError::Status { status, .. } if *status == StatusCode::FORBIDDEN => {
            object_store::Error::PermissionDenied {
                path: path.to_string(),
                source,
            }
        }
        GcsError::Status { status, .. } if *status == StatusCode::UNAUTHORIZED => {
            object_store::Error::Unauthenticated {
                path: path.to_string(),
                source,
            }
        }
        _ => object_store::Error::Generic {
            store: STORE,
            source,
        },
    }
}

/// One bucket: object_store's client for reads, the JSON API for writes.
#[derive(Debug)]
pub(crate) struct GcsBucket {
    reads: GoogleCloudStorage,
    writes: Arc<Writer>,
}

#[derive(Debug)]
struct Writer {
    http: reqwest::Client,
    /// `{base}/upload/storage/v1/b/{bucket}/o`.
    uploads_url: Url,
    /// An emulator takes no credentials (as with Google's clients under STORAGE_EMULATOR_HOST).
    anonymous: bool,
    reads: GoogleCloudStorage,
}

impl GcsBucket {
    /// `base_url` is the service's or an emulator's origin (`https://storage.googleapis.com`).
    pub(crate) fn new(
        reads: GoogleCloudStorage,
        base_url: &str,
        bucket: &str,
        anonymous: bool,
    ) -> Result<Self, object_store::Error> {
        let configure = |detail: String| object_store::Error::Generic {
            store: STORE,
            source: detail.into(),
        };
        let uploads_url = Url::parse(&format!(
            "{}/upload/storage/v1/b/{bucket}/o",
            base_url.trim_end_matches('/')
        ))
        .map_err(|e| configure(format!("GCS base URL {base_url:?}: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // A chunk is at most a part (8 MiB): minutes mean the connection is gone.
            .timeout(Duration::from_secs(300))
            // A resumable upload's "308 Resume Incomplete" is an answer, not a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| configure(format!("HTTP client: {e}")))?;
        Ok(GcsBucket {
            writes: Arc::new(Writer {
                http,
                uploads_url,
                anonymous,
                reads: reads.clone(),
            }),
            reads,
        })
    }
}

impl Writer {
    async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, object_store::Error> {
        if self.anonymous {
            return Ok(request);
        }
        let credential = self.reads.credentials().get_credential().await?;
        Ok(if credential.bearer.is_empty() {
            request
        } else {
            request.header(AUTHORIZATION, format!("Bearer {}", credential.bearer))
        })
    }

    /// Sends `request`; a reply outside 2xx (and 308, a resumable upload's "continue") is an
    /// error carrying the start of its body.
    async fn send(
        &self,
        method: Method,
        url: Url,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, GcsErrorOr> {
        let request = self
            .authorize(build(self.http.request(method.clone(), url.clone())))
            .await
            .map_err(GcsErrorOr::Store)?;
        let response = request.send().await.map_err(|source| {
            GcsErrorOr::Gcs(GcsError::Request {
                method: method.clone(),
                url: url.to_string(),
                source,
            })
        })?;
        let status = response.status();
        if status.is_success() || status == StatusCode::PERMANENT_REDIRECT {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let body = ibench_core::error_text::one_line(&body, MAX_BODY_CHARS);
        Err(GcsErrorOr::Gcs(GcsError::Status {
            method,
            url: url.to_string(),
            status,
            body,
        }))
    }

    fn upload_url(&self, upload_type: &str, location: &Path) -> Url {
        let mut url = self.uploads_url.clone();
        url.query_pairs_mut()
            .append_pair("uploadType", upload_type)
            .append_pair("name", location.as_ref());
        url
    }

    async fn put_media(&self, location: &Path, body: Bytes) -> Result<(), object_store::Error> {
        let url = self.upload_url("media", location);
        let mut attempt = 1;
        loop {
            let sent = self
                .send(Method::POST, url.clone(), |r| {
                    r.header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                        .body(body.clone())
                })
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(e) if attempt < MEDIA_ATTEMPTS && e.is_transient() => {
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e.into_object_store(location.as_ref())),
            }
        }
    }

    /// Opens a resumable session: its URL takes the object's bytes in order, chunk by chunk.
    async fn start_session(&self, location: &Path) -> Result<Url, object_store::Error> {
        let url = self.upload_url("resumable", location);
        let response = self
            .send(Method::POST, url.clone(), |r| r.body(Bytes::new()))
            .await
            .map_err(|e| e.into_object_store(location.as_ref()))?;
        response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Url::parse(v).ok())
            .ok_or_else(|| {
                to_object_store(
                    GcsError::NoSession {
                        url: url.to_string(),
                    },
                    location.as_ref(),
                )
            })
    }
}

/// A failed request, or object_store failing to produce the credentials for it.
enum GcsErrorOr {
    Gcs(GcsError),
    Store(object_store::Error),
}

impl GcsErrorOr {
    fn is_transient(&self) -> bool {
        match self {
            GcsErrorOr::Gcs(GcsError::Status { status, .. }) => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            GcsErrorOr::Gcs(GcsError::Request { source, .. }) => {
                source.is_connect() || source.is_timeout()
            }
            _ => false,
        }
    }

    fn into_object_store(self, path: &str) -> object_store::Error {
        match self {
            GcsErrorOr::Gcs(e) => to_object_store(e, path),
            GcsErrorOr::Store(e) => e,
        }
    }
}

impl std::fmt::Display for GcsBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (writes: {})", self.reads, self.writes.uploads_url)
    }
}

#[async_trait]
impl ObjectStore for GcsBucket {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult, object_store::Error> {
        if !matches!(opts.mode, PutMode::Overwrite) {
            return Err(object_store::Error::NotImplemented {
                operation: "conditional put".into(),
                implementer: self.to_string(),
            });
        }
        self.writes
            .put_media(location, Bytes::from(payload))
            .await?;
        Ok(written())
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        _opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>, object_store::Error> {
        let session = self.writes.start_session(location).await?;
        let (progress, _) = watch::channel(Progress::Sent(0));
        Ok(Box::new(ResumableUpload {
            shared: Arc::new(Session {
                writer: self.writes.clone(),
                url: session,
                path: location.to_string(),
                progress,
            }),
            next_offset: 0,
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> Result<GetResult, object_store::Error> {
        self.reads.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path, object_store::Error>>,
    ) -> BoxStream<'static, Result<Path, object_store::Error>> {
        self.reads.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> BoxStream<'static, Result<ObjectMeta, object_store::Error>> {
        self.reads.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> Result<ListResult, object_store::Error> {
        self.reads.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> Result<(), object_store::Error> {
        self.reads.copy_opts(from, to, options).await
    }
}

/// What a write returns: the object's etag and generation are in the reply's JSON, which
/// nothing here reads.
fn written() -> PutResult {
    PutResult {
        e_tag: None,
        version: None,
        extensions: Default::default(),
    }
}

/// How far a resumable upload has got: bytes the service holds, in order.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Progress {
    Sent(u64),
    /// The final chunk went: the object exists.
    Finalized(u64),
    Failed,
}

#[derive(Debug)]
struct Session {
    writer: Arc<Writer>,
    url: Url,
    path: String,
    progress: watch::Sender<Progress>,
}

impl Session {
    /// Waits until every byte before `offset` is sent: parts are sent concurrently by
    /// object_store's writers, but a session takes its bytes in order.
    async fn wait_for(&self, offset: u64) -> Result<Progress, object_store::Error> {
        let mut progress = self.progress.subscribe();
        let reached = progress
            .wait_for(|p| match p {
                Progress::Sent(at) | Progress::Finalized(at) => *at >= offset,
                Progress::Failed => true,
            })
            .await
            .map(|p| *p)
            .unwrap_or(Progress::Failed);
        match reached {
            Progress::Failed => Err(to_object_store(GcsError::EarlierPartFailed, &self.path)),
            reached => Ok(reached),
        }
    }

    async fn put_chunk(
        &self,
        start: u64,
        data: Bytes,
        total: Option<u64>,
    ) -> Result<(), object_store::Error> {
        let range = match (data.len(), total) {
            (0, Some(total)) => format!("bytes */{total}"),
            (len, total) => {
                let end = start + len as u64 - 1;
                let total = total.map_or("*".to_string(), |t| t.to_string());
                format!("bytes {start}-{end}/{total}")
            }
        };
        let sent = self
            .writer
            .send(Method::PUT, self.url.clone(), |r| {
                r.header(CONTENT_RANGE, range).body(data.clone())
            })
            .await;
        let end = start + data.len() as u64;
        match sent {
            Ok(_) => {
                self.progress.send_replace(match total {
                    Some(_) => Progress::Finalized(end),
                    None => Progress::Sent(end),
                });
                Ok(())
            }
            Err(e) => {
                self.progress.send_replace(Progress::Failed);
                Err(e.into_object_store(&self.path))
            }
        }
    }
}

#[derive(Debug)]
struct ResumableUpload {
    shared: Arc<Session>,
    next_offset: u64,
}

#[async_trait]
impl MultipartUpload for ResumableUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let data = Bytes::from(data);
        let start = self.next_offset;
        self.next_offset += data.len() as u64;
        // Only the last part may be short of the quantum; such a part ends the object.
        let total = (data.len() % CHUNK_QUANTUM != 0).then_some(self.next_offset);
        let session = self.shared.clone();
        Box::pin(async move {
            if data.is_empty() {
                return Ok(());
            }
            session.wait_for(start).await?;
            session.put_chunk(start, data, total).await
        })
    }

    async fn complete(&mut self) -> Result<PutResult, object_store::Error> {
        let end = self.next_offset;
        if let Progress::Sent(_) = self.shared.wait_for(end).await? {
            // Every part was a whole number of quanta: an empty chunk states the size.
            self.shared.put_chunk(end, Bytes::new(), Some(end)).await?;
        }
        Ok(written())
    }

    async fn abort(&mut self) -> Result<(), object_store::Error> {
        // GCS answers a cancelled session with 499, which `send` reports as an error; the
        // session is gone either way, and an unfinished one expires within a week regardless.
        let _ = self
            .shared
            .writer
            .send(Method::DELETE, self.shared.url.clone(), |r| r)
            .await;
        Ok(())
    }
}
