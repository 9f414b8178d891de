//! What the engine needs to know besides the plan: the target, the request body, how work is
//! split over workers and runners, and what to record.

use std::sync::Arc;

use ibench_core::metrics::RecordOptions;
use ibench_core::plan::Shard;
use ibench_core::report::{PerRequestEntry, RecordShape};

use crate::body::BodyTemplate;
use crate::breaker::BreakerWatch;
use crate::http::TargetSettings;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub target: TargetSettings,
    pub body: BodyTemplate,
    /// Model name for requests without a LoRA adapter.
    pub model: String,
    pub num_workers: usize,
    /// In-flight cap per worker for open-loop stages.
    pub worker_max_concurrency: usize,
    /// This runner's share of the plan (the whole plan when running alone).
    pub shard: Shard,
    pub record: RecordOptions,
    pub per_request: Option<PerRequestOutput>,
    /// Run workers with real-time scheduling (`load.worker_realtime_priority`).
    pub realtime: bool,
    /// Refuse to start when no connection to the target opens (`load.fail_fast`).
    pub fail_fast: bool,
    /// The circuit breakers the run enables (`load.circuit_breakers`).
    pub breakers: Option<Arc<BreakerWatch>>,
}

/// Where each request's record goes, and what it keeps.
#[derive(Debug, Clone)]
pub struct PerRequestOutput {
    pub sender: std::sync::mpsc::SyncSender<PerRequestEntry>,
    pub shape: RecordShape,
}
