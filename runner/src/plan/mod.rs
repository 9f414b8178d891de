//! The request plan: for every stage, which requests exist, when each is sent, and what it asks
//! for — all derived from the config and one seed, independent of how the work is split.

mod arrivals;
mod data;
mod lora;
pub mod rng;
mod sampling;
mod shard;
pub mod trace;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use arrivals::{Arrival, Arrivals};
pub use data::{DEFAULT_MAX_TOKENS, DataPlan, RequestData};
pub use lora::LoraTable;
pub use shard::{Shard, even_split};
pub use trace::{TraceError, TraceRow};

use crate::config::{LoadType, ResolvedConfig};

#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub stages: Vec<StagePlan>,
    /// Pause between stages.
    pub interval: Duration,
    /// How long a rate stage's requests may run past the end of sending.
    pub teardown_grace: Duration,
    pub data: DataPlan,
    pub lora: Option<LoraTable>,
}

#[derive(Debug, Clone)]
pub struct StagePlan {
    pub id: usize,
    pub load: StageLoad,
}

#[derive(Debug, Clone)]
pub enum StageLoad {
    /// Open loop: requests at planned times (`constant`, `poisson`, `trace_replay`).
    Rate {
        rate: f64,
        duration: f64,
        arrivals: Arrivals,
    },
    /// Closed loop: `num_requests` with `level` in flight.
    Concurrent { num_requests: u64, level: u64 },
}

impl StagePlan {
    /// Requests in the whole stage (all pods and workers).
    pub fn total_requests(&self) -> u64 {
        match &self.load {
            StageLoad::Rate { arrivals, .. } => arrivals.count(),
            StageLoad::Concurrent { num_requests, .. } => *num_requests,
        }
    }

    /// `load_summary.requested_rate`; for concurrent stages inference-perf reports
    /// `num_requests` there, and so do we, for report compatibility.
    pub fn requested_rate(&self) -> f64 {
        match &self.load {
            StageLoad::Rate { rate, .. } => *rate,
            StageLoad::Concurrent { num_requests, .. } => *num_requests as f64,
        }
    }

    pub fn concurrency(&self) -> Option<u64> {
        match &self.load {
            StageLoad::Rate { .. } => None,
            StageLoad::Concurrent { level, .. } => Some(*level),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Trace(#[from] TraceError),
}

impl Plan {
    /// Builds the plan of a validated, resolved config. Trace files are read here, once.
    pub fn build(resolved: &ResolvedConfig) -> Result<Self, PlanError> {
        let config = &resolved.config;
        let load = &config.load;
        let mut traces: HashMap<PathBuf, Arc<[TraceRow]>> = HashMap::new();
        let mut read_trace = |file: &str| -> Result<Arc<[TraceRow]>, TraceError> {
            let path = PathBuf::from(file);
            if let Some(rows) = traces.get(&path) {
                return Ok(rows.clone());
            }
            let rows: Arc<[TraceRow]> = trace::read(&path)?.into();
            traces.insert(path, rows.clone());
            Ok(rows)
        };
        let data_rows = config
            .data
            .trace
            .as_ref()
            .map(|t| read_trace(&t.file))
            .transpose()?;
        let load_offsets: Option<Arc<[f64]>> = match &load.trace {
            Some(t) if load.load_type == LoadType::TraceReplay => {
                Some(read_trace(&t.file)?.iter().map(|r| r.offset).collect())
            }
            _ => None,
        };

        let stages = load
            .stages
            .iter()
            .enumerate()
            .map(|(id, stage)| {
                let rate = stage.rate.unwrap_or_default();
                let duration = stage.duration.unwrap_or_default() as f64;
                let load = match load.load_type {
                    LoadType::Constant => StageLoad::Rate {
                        rate,
                        duration,
                        arrivals: Arrivals::constant(rate, duration),
                    },
                    LoadType::Poisson => StageLoad::Rate {
                        rate,
                        duration,
                        arrivals: Arrivals::poisson(rate, duration, resolved.seed, id as u64),
                    },
                    LoadType::TraceReplay => {
                        let offsets = load_offsets.clone().expect("validated: load.trace present");
                        // With token counts from a trace every row is replayed; otherwise the
                        // first rate × duration rows (inference-perf's rule).
                        let count = if data_rows.is_some() {
                            offsets.len() as u64
                        } else {
                            (rate * duration + 1e-9).floor() as u64
                        };
                        StageLoad::Rate {
                            rate,
                            duration,
                            arrivals: Arrivals::trace(offsets, count),
                        }
                    }
                    LoadType::Concurrent => StageLoad::Concurrent {
                        num_requests: stage.num_requests.unwrap_or_default() as u64,
                        level: stage.concurrency_level.unwrap_or_default() as u64,
                    },
                };
                StagePlan { id, load }
            })
            .collect();

        Ok(Plan {
            seed: resolved.seed,
            stages,
            interval: Duration::from_secs_f64(load.interval),
            teardown_grace: Duration::from_secs_f64(load.stage_teardown_grace_seconds),
            data: DataPlan::new(config, data_rows),
            lora: load.lora_traffic_split.as_deref().map(LoraTable::new),
        })
    }
}
