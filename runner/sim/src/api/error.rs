//! Error answers in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::body::{Body, JSON, full, write_json};
use crate::capacity::QueueFull;
use crate::faults::{Fault, InvalidFault};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("The model `{0}` does not exist.")]
    ModelNotFound(String),
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
    #[error("injected fault {}", .0.as_str())]
    Injected(Fault),
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("method not allowed for {0}")]
    MethodNotAllowed(String),
}

impl From<InvalidFault> for ApiError {
    fn from(e: InvalidFault) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorInfo<'a>,
}

#[derive(Serialize)]
struct ErrorInfo<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'static str>,
    code: u16,
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::ModelNotFound(_) | ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::QueueFull(_) | ApiError::Injected(Fault::Error429) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Injected(Fault::Error503) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Injected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// vLLM's error type names.
    fn kind(&self) -> &'static str {
        match self.status() {
            StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::METHOD_NOT_ALLOWED => "BadRequestError",
            StatusCode::NOT_FOUND => "NotFoundError",
            StatusCode::TOO_MANY_REQUESTS => "RateLimitError",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailableError",
            _ => "InternalServerError",
        }
    }

    pub fn response(&self) -> Response<Body> {
        let message = self.to_string();
        let param = matches!(self, ApiError::ModelNotFound(_)).then_some("model");
        let status = self.status();
        let mut out = Vec::with_capacity(128 + message.len());
        write_json(
            &mut out,
            &ErrorBody {
                error: ErrorInfo {
                    message: &message,
                    kind: self.kind(),
                    param,
                    code: status.as_u16(),
                },
            },
        );
        full(status, JSON, out)
    }
}
