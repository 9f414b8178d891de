//! State shared by every request of one server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use tokio::sync::watch;

use super::capacity::Capacity;
use super::config::SimConfig;
use super::faults::FaultPicker;
use super::kv::KvCache;
use super::latency::LatencyModel;
use super::lora::LoraCache;
use super::metrics::{Gauges, Metrics};
use super::models::ServedModels;
use super::stats::{SimStats, Stats};

pub(crate) struct App {
    pub config: SimConfig,
    pub models: ServedModels,
    pub latency: LatencyModel,
    pub faults: FaultPicker,
    pub capacity: Arc<Capacity>,
    pub kv: Arc<KvCache>,
    pub loras: LoraCache,
    pub metrics: Metrics,
    pub stats: Arc<Stats>,
    pub seed: u64,
    pub started: Instant,
    /// The `/v1/models` answer, fixed for the server's life.
    pub models_json: Bytes,
    /// Becomes true when the server shuts down; ends hung requests.
    pub shutdown: watch::Receiver<bool>,
    next_seq: AtomicU64,
    first_request: OnceLock<Instant>,
}

/// The independent random streams of one request, so that e.g. a fault forced by header does
/// not change the request's text or timing.
pub(crate) struct RequestRngs {
    pub fault: Pcg64Mcg,
    pub content: Pcg64Mcg,
    pub timing: Pcg64Mcg,
}

impl App {
    pub fn new(config: SimConfig, shutdown: watch::Receiver<bool>) -> App {
        let seed = config.seed.unwrap_or_else(rand::random);
        let models = ServedModels::new(&config);
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        App {
            models_json: models.list(created, config.max_model_len),
            latency: LatencyModel::new(&config.latency),
            faults: FaultPicker::new(&config.faults),
            capacity: Capacity::new(config.max_num_seqs, config.max_waiting),
            loras: LoraCache::new(config.max_loras),
            kv: KvCache::new(config.kv_cache_tokens()),
            metrics: Metrics::new(config.metrics_dialect),
            stats: Stats::new(models.names().len(), config.record_requests),
            models,
            seed,
            started: Instant::now(),
            shutdown,
            next_seq: AtomicU64::new(0),
            first_request: OnceLock::new(),
            config,
        }
    }

    /// Whether drawn faults apply to request `seq`: `faults.after_ms` after the first API
    /// request, and only to every `faults.every`-th.
    pub fn faults_due(&self, seq: u64) -> bool {
        let faults = &self.config.faults;
        let first = *self.first_request.get_or_init(Instant::now);
        first.elapsed() >= Duration::from_millis(faults.after_ms)
            && seq.is_multiple_of(faults.every.max(1))
    }

    /// Arrival sequence number of a new API request.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Random streams of request `seq`, a pure function of (seed, seq).
    pub fn rngs(&self, seq: u64) -> RequestRngs {
        let stream = |n: u64| {
            Pcg64Mcg::seed_from_u64(splitmix64(
                self.seed ^ splitmix64(seq.wrapping_mul(4).wrapping_add(n)),
            ))
        };
        RequestRngs {
            fault: stream(0),
            content: stream(1),
            timing: stream(2),
        }
    }

    pub fn metrics_text(&self) -> String {
        self.metrics.render(
            self.models.base(),
            Gauges {
                running: self.capacity.running(),
                waiting: self.capacity.waiting(),
                kv_usage: self.kv.usage(),
            },
        )
    }

    pub fn stats(&self) -> SimStats {
        let m = &self.metrics;
        self.stats.snapshot(
            self.models.names(),
            m.completed(),
            m.prompt_tokens(),
            m.generation_tokens(),
        )
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Resolves once shutdown has been requested (at once if it already was).
pub(crate) async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    // The guard returned by `wait_for` must not live across an await of the caller.
    let _ = shutdown.wait_for(|down| *down).await;
}
