//! Where a response body comes from: an HTTP/1.1 connection or an HTTP/2 stream. The reading
//! of bodies (size limit, error bodies, SSE events and their timing) is written once, over
//! this.

use std::future::Future;

use super::connection::{Connection, HttpError};

/// A response body, piece by piece as it arrives.
pub trait BodySource {
    type Error: std::fmt::Display;

    /// The next piece of the body; `None` once it is complete. A piece is consumed (and an
    /// HTTP/2 stream's flow-control window given back for it) at the next call.
    fn data(&mut self) -> impl Future<Output = Result<Option<&[u8]>, Self::Error>> + Send;
}

impl BodySource for Connection {
    type Error = HttpError;

    fn data(&mut self) -> impl Future<Output = Result<Option<&[u8]>, HttpError>> + Send {
        Connection::data(self)
    }
}
