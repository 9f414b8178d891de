//! Trace files: when each request is sent and how long its prompt and answer are. A malformed
//! row is an error naming its line: skipping it would silently send a different workload.

mod azure;
mod mooncake;

use std::path::Path;

use crate::config::{TraceConfig, TraceFormat};

#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    /// Seconds after the earliest row.
    pub offset: f64,
    pub context_tokens: u32,
    pub generated_tokens: u32,
    /// Mooncake: the prompt's blocks; rows with the same leading ids share that prompt prefix.
    /// Empty otherwise (a prompt of its own).
    pub hash_ids: Box<[u64]>,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot read trace {path}: {source}")]
    Read { path: String, source: csv::Error },
    #[error("cannot read trace {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("trace {path}, line {line}: {reason}")]
    Row {
        path: String,
        line: u64,
        reason: String,
    },
    #[error("trace {path} has no rows")]
    Empty { path: String },
}

/// The rows of `trace` in the order they are sent.
pub fn read(trace: &TraceConfig) -> Result<Vec<TraceRow>, TraceError> {
    let path = Path::new(&trace.file);
    match trace.format {
        TraceFormat::AzurePublicDataset => azure::read(path),
        TraceFormat::Mooncake => mooncake::read(path, trace.block_size()),
    }
}
