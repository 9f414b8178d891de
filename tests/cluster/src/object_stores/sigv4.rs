//! AWS Signature Version 4 for the harness's own S3 requests (creating buckets, the readiness
//! probe). Only what those need: no query string, and paths of characters that need no
//! percent-encoding (callers check), so the path is its own canonical form.

use chrono::{DateTime, Utc};
use ring::{digest, hmac};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SIGNED_HEADERS: &str = "host;x-amz-content-sha256;x-amz-date";

pub(crate) struct Identity<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
}

/// The headers that sign a request: `x-amz-date`, `x-amz-content-sha256` and `authorization`.
pub(crate) fn sign(
    identity: &Identity<'_>,
    method: &http::Method,
    host: &str,
    path: &str,
    payload: &[u8],
    now: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = now.format("%Y%m%d").to_string();
    let payload_hash = hex(digest::digest(&digest::SHA256, payload).as_ref());
    let canonical_request = format!(
        "{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n\n{SIGNED_HEADERS}\n{payload_hash}"
    );
    let scope = format!("{date}/{}/s3/aws4_request", identity.region);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
    );
    let mut key = format!("AWS4{}", identity.secret_key).into_bytes();
    for part in [date.as_str(), identity.region, "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}",
        identity.access_key
    );
    vec![
        ("x-amz-date", amz_date),
        ("x-amz-content-sha256", payload_hash),
        ("authorization", authorization),
    ]
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documentation's example identity and request (GET /test.txt on examplebucket, 24 May
    /// 2013) without its Range header; the expected signature comes from an independent signer
    /// (botocore's `S3SigV4Auth`) given the same inputs.
    #[test]
    fn signature_matches_an_independent_signer() {
        let identity = Identity {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
        };
        let now = DateTime::parse_from_rfc3339("2013-05-24T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let headers = sign(
            &identity,
            &http::Method::GET,
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            b"",
            now,
        );
        assert_eq!(
            headers,
            [
                ("x-amz-date", "20130524T000000Z".to_string()),
                (
                    "x-amz-content-sha256",
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_string()
                ),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
                     SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
                     Signature=df548e2ce037944d03f3e68682813b093763996d597cf890ca3d9037fd231eb4"
                        .to_string()
                ),
            ]
        );
    }
}
