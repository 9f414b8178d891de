//! Object storage errors in words a user can act on: the status behind them and the fix.

use ibench_core::error_text;

const MAX_CHARS: usize = 400;

/// `error` with its whole cause chain, led by what it most likely means.
pub fn describe(error: &object_store::Error) -> String {
    let chain = error_text::one_line(&error_text::with_causes(error), MAX_CHARS);
    let hint = match error {
        object_store::Error::NotFound { .. } => "not found (404)",
        object_store::Error::PermissionDenied { .. } => {
            "access denied (403): check the credentials and the bucket's permissions"
        }
        object_store::Error::Unauthenticated { .. } => {
            "not authenticated (401): check the credentials"
        }
        _ if chain.contains("NoSuchBucket") => "the bucket does not exist",
        _ if chain.contains("403")
            || chain.contains("AccessDenied")
            || chain.contains("SignatureDoesNotMatch")
            || chain.contains("InvalidAccessKeyId") =>
        {
            "access denied (403): check the credentials and the bucket's permissions"
        }
        _ if chain.contains("404") => "not found (404)",
        _ if chain.contains("onnection refused")
            || chain.contains("dns error")
            || chain.contains("error sending request") =>
        {
            "endpoint unreachable"
        }
        _ => return chain,
    };
    format!("{hint} ({chain})")
}
