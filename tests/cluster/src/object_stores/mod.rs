//! Real object-storage servers for tests, built from Go modules (`build-object-stores.sh`): S3
//! from SeaweedFS (`weed mini`, with an access-key identity) and Google Cloud Storage from
//! fake-gcs-server, each on free loopback ports with its data in a private directory.

mod binaries;
pub(crate) mod client;
mod gcs;
mod oversized;
mod prometheus;
mod s3;
pub(crate) mod server;
mod shared;
mod sigv4;

pub use binaries::{OBJECT_STORE_BIN_ENV, ObjectStoreBinaries};
pub use gcs::GcsServer;
pub use oversized::OversizedObjectServer;
pub use prometheus::PrometheusServer;
pub use s3::S3Server;
pub use shared::{shared_gcs, shared_s3, try_shared_gcs, try_shared_s3};

/// Deterministic bytes with no short cycle, for objects whose parts must land in order: no
/// chunking or offset error leaves them intact.
pub fn pseudo_random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
