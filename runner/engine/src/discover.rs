//! `GET /v1/models`: the default model name, and a check that LoRA adapters exist.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoverError {
    #[error("GET {url} failed: {reason}")]
    Request { url: String, reason: String },
    #[error("GET {url} returned no models")]
    Empty { url: String },
}

/// Model ids the server lists, in its order.
pub async fn list_models(
    base_url: &str,
    api_key: Option<&str>,
    headers: &[(String, String)],
) -> Result<Vec<String>, DiscoverError> {
    let url = format!("{}/v1/models", base_url.trim_end_matches('/'));
    let fail = |reason: String| DiscoverError::Request {
        url: url.clone(),
        reason,
    };
    let client = crate::http::reqwest_builder()
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
    let response = request
        .send()
        .await
        .map_err(|e| fail(ibench_core::error_text::with_causes(&e)))?;
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
        let error = list_models(&format!("http://127.0.0.1:{port}"), None, &[])
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
