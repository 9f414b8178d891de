//! Object storage errors in words a user can act on: the status behind them and the fix.

use std::error::Error as _;

const MAX_CHARS: usize = 400;

/// `error` with its whole cause chain, led by what it most likely means.
pub fn describe(error: &object_store::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    // Bounded: cause chains are short, but a cyclic one must not hang the report.
    for _ in 0..8 {
        let Some(cause) = source else { break };
        let text = cause.to_string();
        if !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = cause.source();
    }
    // Servers put whole HTML pages in error bodies: one line, and short, is enough to act on.
    let mut chain = chain.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = chain.char_indices().nth(MAX_CHARS) {
        chain.truncate(cut);
        chain.push('…');
    }
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
