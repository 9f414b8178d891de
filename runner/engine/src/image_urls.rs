//! Images a dataset gives by URL are fetched by the model server, not the runner: one that does
//! not answer would fail every request carrying it, an hour into a run. So before the first
//! request each distinct URL is asked once, with a GET (as the server fetches it; a signed URL
//! may refuse HEAD) read no further than its status, a bounded time and a few redirects. The
//! runner's network is not the server's: this catches a dead link or a typo, not a firewall
//! only the server is behind.

use std::time::Duration;

use futures::TryStreamExt;
use ibench_core::plan::RemoteImage;

use crate::http::TlsOptions;

/// How long one URL may take to answer (connection, TLS, redirects, the status line).
const TIMEOUT: Duration = Duration::from_secs(10);
/// URLs asked at once.
const CONCURRENCY: usize = 8;
/// Redirects followed, as a browser or an HTTP library does for an image link.
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ImageUrlError {
    #[error(
        "data.path: {file} row {row}: column {column:?}: the image URL {url} answers HTTP {status}; the model server fetches it and would fail every request that carries it; fix the URL, or give the image's bytes instead"
    )]
    Status {
        file: String,
        row: usize,
        column: String,
        url: String,
        status: reqwest::StatusCode,
    },
    #[error(
        "data.path: {file} row {row}: column {column:?}: the image URL {url} cannot be fetched: {reason}; the model server fetches it and would fail every request that carries it; fix the URL, or give the image's bytes instead"
    )]
    Unreachable {
        file: String,
        row: usize,
        column: String,
        url: String,
        reason: String,
    },
    #[error("cannot check the dataset's image URLs: {0}")]
    Client(String),
}

/// Asks every image URL; the first that does not answer with a success stops the checks.
pub async fn check(images: &[RemoteImage]) -> Result<(), ImageUrlError> {
    check_within(images, TIMEOUT).await
}

async fn check_within(images: &[RemoteImage], timeout: Duration) -> Result<(), ImageUrlError> {
    if images.is_empty() {
        return Ok(());
    }
    let client = crate::http::reqwest_builder(&TlsOptions::default())
        .map_err(ImageUrlError::Client)?
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .build()
        .map_err(|e| ImageUrlError::Client(e.to_string()))?;
    futures::stream::iter(images.iter().map(Ok))
        .try_for_each_concurrent(CONCURRENCY, |image| ask(&client, image, timeout))
        .await
}

async fn ask(
    client: &reqwest::Client,
    image: &RemoteImage,
    timeout: Duration,
) -> Result<(), ImageUrlError> {
    // The body is never read: dropping the response closes its connection.
    match client.get(&*image.url).send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(ImageUrlError::Status {
            file: image.file.clone(),
            row: image.row,
            column: image.column.clone(),
            url: image.url.to_string(),
            status: response.status(),
        }),
        Err(e) => Err(ImageUrlError::Unreachable {
            file: image.file.clone(),
            row: image.row,
            column: image.column.clone(),
            url: image.url.to_string(),
            reason: if e.is_timeout() {
                format!("no answer within {} s", timeout.as_secs_f64())
            } else {
                ibench_core::error_text::with_causes(&e)
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(url: &str) -> RemoteImage {
        RemoteImage {
            url: url.into(),
            file: "/data/arena.jsonl".into(),
            row: 7,
            column: "images[0].path".into(),
        }
    }

    #[tokio::test]
    async fn a_url_nothing_answers_is_refused_naming_where_the_dataset_gives_it() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/cat.png");
        let error = check(&[image(&url)]).await.unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "data.path: /data/arena.jsonl row 7: column \"images[0].path\": the image URL {url} cannot be fetched: "
            )) && error.contains("Connection refused")
                && error.ends_with("give the image's bytes instead"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_url_that_does_not_answer_in_time_is_refused_after_the_timeout() {
        // Accepted by the kernel's backlog, never answered.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/slow.png", listener.local_addr().unwrap());
        let timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let error = check_within(&[image(&url)], timeout)
            .await
            .unwrap_err()
            .to_string();
        let took = started.elapsed();
        assert!(error.contains("no answer within 0.3 s"), "{error}");
        assert!(took >= timeout && took < Duration::from_secs(5), "{took:?}");
    }
}
