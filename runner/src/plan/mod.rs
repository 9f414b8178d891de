//! The request plan: for every stage, which requests exist, when each is sent, and what it asks
//! for — all derived from the config and one seed, independent of how the work is split.

mod arrivals;
mod data;
mod lora;
pub mod rng;
mod sampling;
mod shard;
mod share_gpt;
pub mod trace;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use arrivals::{Arrival, Arrivals};
pub use data::{DEFAULT_CORPUS, DEFAULT_MAX_TOKENS, DataError, DataPlan, RequestData, Round};
pub use lora::LoraTable;
pub use shard::{Routing, Shard, even_split};
pub use share_gpt::ShareGptError;
pub use trace::{TraceError, TraceRow};

use crate::config::{LoadType, ResolvedConfig};
use crate::tokenize::{Tokenizer, TokenizerError};

#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    /// The configured stages; empty with a sweep, which generates its own.
    pub stages: Vec<Arc<StagePlan>>,
    pub load_type: LoadType,
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
    /// Probes run by a sweep to find saturation: cut off after a time limit, their completion
    /// times kept, and left out of the reports.
    pub probe: Option<ProbeLimits>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeLimits {
    /// Seconds after the stage start when whatever is still running is cancelled.
    pub time_limit: f64,
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
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Data(#[from] DataError),
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

        let trace_count = data_rows.as_ref().map(|rows| rows.len() as u64);
        let stages = load
            .stages
            .iter()
            .enumerate()
            .map(|(id, stage)| {
                let load = match load.load_type {
                    LoadType::Concurrent => StageLoad::Concurrent {
                        num_requests: stage.num_requests.unwrap_or_default() as u64,
                        level: stage.concurrency_level.unwrap_or_default() as u64,
                    },
                    LoadType::TraceReplay => {
                        let offsets = load_offsets.clone().expect("validated: load.trace present");
                        let (rate, duration) = (
                            stage.rate.unwrap_or_default(),
                            stage.duration.unwrap_or_default() as f64,
                        );
                        // With token counts from a trace every row is replayed; otherwise the
                        // first rate × duration rows (inference-perf's rule).
                        let count = trace_count.unwrap_or((rate * duration + 1e-9).floor() as u64);
                        StageLoad::Rate {
                            rate,
                            duration,
                            arrivals: Arrivals::trace(offsets, count),
                        }
                    }
                    LoadType::Constant | LoadType::Poisson => rate_load(
                        load.load_type,
                        stage.rate.unwrap_or_default(),
                        stage.duration.unwrap_or_default() as f64,
                        resolved.seed,
                        id,
                    ),
                };
                Arc::new(StagePlan {
                    id,
                    load,
                    probe: None,
                })
            })
            .collect();

        let tokenizer = Tokenizer::load(
            config
                .tokenizer
                .as_ref()
                .and_then(|t| t.pretrained_model_name_or_path.as_deref()),
        )?;
        Ok(Plan {
            seed: resolved.seed,
            stages,
            interval: Duration::from_secs_f64(load.interval),
            teardown_grace: Duration::from_secs_f64(load.stage_teardown_grace_seconds),
            load_type: load.load_type,
            data: DataPlan::new(config, resolved.seed, tokenizer, data_rows)?,
            lora: load.lora_traffic_split.as_deref().map(LoraTable::new),
        })
    }
}

/// An open-loop stage of `constant` or `poisson` arrivals (also what a sweep generates).
pub fn rate_load(
    load_type: LoadType,
    rate: f64,
    duration: f64,
    seed: u64,
    stage: usize,
) -> StageLoad {
    let arrivals = match load_type {
        LoadType::Poisson => Arrivals::poisson(rate, duration, seed, stage as u64),
        _ => Arrivals::constant(rate, duration),
    };
    StageLoad::Rate {
        rate,
        duration,
        arrivals,
    }
}
