//! Real object-storage servers for tests, built from Go modules (`build-object-stores.sh`): S3
//! from SeaweedFS (`weed mini`, with an access-key identity) and Google Cloud Storage from
//! fake-gcs-server, each on free loopback ports with its data in a private directory.

mod binaries;
mod client;
mod gcs;
mod s3;
mod server;
mod shared;
mod sigv4;

pub use binaries::{OBJECT_STORE_BIN_ENV, ObjectStoreBinaries};
pub use gcs::GcsServer;
pub use s3::S3Server;
pub use shared::{shared_gcs, shared_s3, try_shared_gcs, try_shared_s3};
