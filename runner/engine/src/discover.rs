//! `GET /v1/models`: the default model name, and a check that LoRA adapters exist.

use std::time::Duration;

use crate::http::TlsOptions;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoverError {
    #[error("GET {url} failed: {reason}")]
    Request { url: String, reason: String },
    #[error("GET {url} returned no models")]
    Empty { url: String },
    #[error(
        "GET {url}: the TLS handshake failed: {reason}; check server.ca_cert_path (the server's CA), server.cert_path and server.key_path (a client certificate) or server.insecure_skip_tls_verify"
    )]
    Tls { url: String, reason: String },
}

/// Whether TLS (not the network or the server's answer) failed somewhere in `error`'s causes.
/// An `io::Error` hides what it wraps from `source()`, so it is opened with `get_ref()`.
fn is_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<tokio_rustls::rustls::Error>() {
            return true;
        }
        cause = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    false
}

/// Model ids the server lists, in its order.
pub async fn list_models(
    base_url: &str,
    api_key: Option<&str>,
    headers: &[(String, String)],
    tls: &TlsOptions,
) -> Result<Vec<String>, DiscoverError> {
    let url = format!("{}/v1/models", base_url.trim_end_matches('/'));
    let fail = |reason: String| DiscoverError::Request {
        url: url.clone(),
        reason,
    };
    let client = crate::http::reqwest_builder(tls)
        .map_err(fail)?
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let mut request = client.get(&url);
    if let Some(key) = api_key {
        request = request.bearer_auth(key);
    }
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.map_err(|e| {
        let reason = ibench_core::error_text::with_causes(&e);
        if is_tls(&e) {
            DiscoverError::Tls {
                url: url.clone(),
                reason,
            }
        } else {
            fail(reason)
        }
    })?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| fail(format!("HTTP {status}: {e}")))?;
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}: {body}")));
    }
    let ids: Vec<String> = body["data"]
        .as_array()
        .map(|models| {
            models
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        Err(DiscoverError::Empty { url })
    } else {
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_named_as_such() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = list_models(
            &format!("http://127.0.0.1:{port}"),
            None,
            &[],
            &TlsOptions::default(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with(&format!("GET http://127.0.0.1:{port}/v1/models failed: "))
                && error.contains("Connection refused"),
            "{error}"
        );
    }
}
