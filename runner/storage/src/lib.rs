//! Files in and reports out through object storage, for `ibench run` and the operator's runs:
//! input files a config names by URL are fetched (bounded in size and time, checked against
//! SHA-256 digests) before the first request ([`fetch`]); report files go to the configured S3
//! and Google Cloud Storage buckets ([`upload`]), the per-request records streamed as they are
//! written ([`sink`]). Credentials come from the environment or the ambient identity, never
//! from a config.

mod describe;
pub mod digest;
pub mod fetch;
mod gcs;
pub mod sink;
mod store;
pub mod upload;

pub use fetch::{FetchedInput, InputError, fetch_inputs};
pub use sink::ObjectSink;
pub use store::Credentials;
pub use upload::{ReportBuckets, UploadError};
