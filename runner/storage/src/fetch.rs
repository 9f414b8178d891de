//! Input files before the first request: object URLs are downloaded into a local directory
//! (bounded in size and time) and the config pointed at the copies; every file, local or
//! fetched, gets its SHA-256, checked against `inputs.sha256` and reported, so that all runners
//! of a run can be shown to plan from the same bytes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use ibench_core::config::{Config, InputsConfig, input_files_mut};
use ibench_core::object_url::ObjectUrl;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use tokio::io::AsyncWriteExt;

use crate::describe::describe;
use crate::digest::{Sha256, file_sha256};
use crate::store;

/// One input file as the run reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedInput {
    /// Config field, e.g. `load.trace.file`.
    pub field: &'static str,
    /// The value the config gives (URL or local path).
    pub source: String,
    /// Where the run reads it.
    pub local: PathBuf,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{field}: cannot fetch {url}: {cause}")]
    Fetch {
        field: &'static str,
        url: String,
        cause: String,
    },
    #[error("{field}: cannot fetch {url}: no complete answer within {seconds} s (inputs.timeout)")]
    Timeout {
        field: &'static str,
        url: String,
        seconds: f64,
    },
    #[error(
        "{field}: {url} is {size} bytes, more than inputs.max_bytes ({limit}); raise inputs.max_bytes if you mean to read it"
    )]
    TooLarge {
        field: &'static str,
        url: String,
        size: u64,
        limit: u64,
    },
    #[error("{field}: {source_name} has SHA-256 {actual}, but inputs.sha256 expects {expected}")]
    Digest {
        field: &'static str,
        source_name: String,
        actual: String,
        expected: String,
    },
    #[error("{field}: cannot read {path}: {source}")]
    Read {
        field: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{field}: cannot store the copy of {url} in {dir}: {source}")]
    Write {
        field: &'static str,
        url: String,
        dir: String,
        source: std::io::Error,
    },
}

/// Fetches every input URL of `config` into `dir` and points the config at the copies; returns
/// what was read, in [`input_files_mut`]'s order.
pub async fn fetch_inputs(
    config: &mut Config,
    dir: &Path,
) -> Result<Vec<FetchedInput>, InputError> {
    let options = config.inputs.clone().unwrap_or_default();
    let mut fetched: Vec<FetchedInput> = Vec::new();
    for (i, (field, value)) in input_files_mut(config).into_iter().enumerate() {
        let source = value.clone();
        // A trace read for both arrivals and lengths is fetched once.
        if let Some(same) = fetched.iter().find(|f| f.source == source) {
            let input = FetchedInput {
                field,
                ..same.clone()
            };
            *value = input.local.to_string_lossy().into_owned();
            fetched.push(input);
            continue;
        }
        let input = match ObjectUrl::parse(&source) {
            Ok(Some(url)) => {
                let local = dir.join(format!("{i}-{}", url.file_name()));
                download(field, &url, &local, &options).await?
            }
            // Validation has named a malformed URL already; read it as a path then fails.
            Ok(None) | Err(_) => local_file(field, &source).await?,
        };
        if let Some(expected) = options.sha256.get(&source)
            && *expected != input.sha256
        {
            return Err(InputError::Digest {
                field,
                source_name: source,
                actual: input.sha256,
                expected: expected.clone(),
            });
        }
        *value = input.local.to_string_lossy().into_owned();
        fetched.push(input);
    }
    Ok(fetched)
}

/// A local input's digest. A tokenizer may be given as the directory holding `tokenizer.json`:
/// that file is what is read, so that is what is hashed.
async fn local_file(field: &'static str, source: &str) -> Result<FetchedInput, InputError> {
    let mut path = PathBuf::from(source);
    if path.is_dir() {
        path.push("tokenizer.json");
    }
    let hashed = path.clone();
    let (sha256, bytes) = tokio::task::spawn_blocking(move || file_sha256(&hashed))
        .await
        .expect("hashing does not panic")
        .map_err(|e| InputError::Read {
            field,
            path: path.display().to_string(),
            source: e,
        })?;
    Ok(FetchedInput {
        field,
        source: source.to_string(),
        local: PathBuf::from(source),
        bytes,
        sha256,
    })
}

async fn download(
    field: &'static str,
    url: &ObjectUrl,
    local: &Path,
    options: &InputsConfig,
) -> Result<FetchedInput, InputError> {
    let seconds = options.timeout;
    let limit = options.max_bytes.max(0) as u64;
    let fetch = async {
        let fail = |cause: String| InputError::Fetch {
            field,
            url: url.to_string(),
            cause,
        };
        let store = store::for_url(url, options.s3.as_ref()).map_err(|e| fail(describe(&e)))?;
        let result = store
            .get(&ObjectPath::from(url.key.as_str()))
            .await
            .map_err(|e| fail(describe(&e)))?;
        // The size is known before the body is read: refuse a 4 GiB object without reading it.
        if result.meta.size > limit {
            return Err(InputError::TooLarge {
                field,
                url: url.to_string(),
                size: result.meta.size,
                limit,
            });
        }
        let write_error = |e: std::io::Error| InputError::Write {
            field,
            url: url.to_string(),
            dir: local
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            source: e,
        };
        let mut file = tokio::fs::File::create(local).await.map_err(write_error)?;
        let mut hasher = Sha256::default();
        let mut bytes = 0u64;
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| fail(describe(&e)))?;
            bytes += chunk.len() as u64;
            // A server may send more than it announced (or announce nothing).
            if bytes > limit {
                return Err(InputError::TooLarge {
                    field,
                    url: url.to_string(),
                    size: bytes,
                    limit,
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(write_error)?;
        }
        file.flush().await.map_err(write_error)?;
        Ok(FetchedInput {
            field,
            source: url.to_string(),
            local: local.to_path_buf(),
            bytes,
            sha256: hasher.hex(),
        })
    };
    match tokio::time::timeout(Duration::from_secs_f64(seconds), fetch).await {
        Ok(result) => {
            if result.is_err() {
                let _ = tokio::fs::remove_file(local).await;
            }
            result
        }
        Err(_) => {
            let _ = tokio::fs::remove_file(local).await;
            Err(InputError::Timeout {
                field,
                url: url.to_string(),
                seconds,
            })
        }
    }
}
