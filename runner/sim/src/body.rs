//! Response bodies: complete buffers, and streams that can be cut to simulate a dying server.

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

pub(crate) type Body = UnsyncBoxBody<Bytes, StreamCut>;

/// Ends a response body early; hyper then closes the connection without finishing the message.
#[derive(Debug, thiserror::Error)]
#[error("response cut by fault injection")]
pub(crate) struct StreamCut;

/// The error that cuts a body, after one yield: hyper writes and flushes what the body produced
/// so far when the body is pending, but drops it unsent if the error follows at once.
pub(crate) async fn cut() -> StreamCut {
    tokio::task::yield_now().await;
    StreamCut
}

pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(crate) const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");

pub(crate) fn full(
    status: StatusCode,
    content_type: HeaderValue,
    bytes: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(
        Full::new(bytes.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

pub(crate) fn write_json(out: &mut Vec<u8>, value: &impl Serialize) {
    // Our response types are plain structs and strings: serializing them into memory cannot fail.
    serde_json::to_writer(out, value).expect("response serialization");
}
