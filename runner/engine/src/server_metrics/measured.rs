//! What the collectors share: what is measured, over which windows, and how a failure that
//! concerns every window is reported.

use ibench_core::config::ServerType;
use ibench_core::server_metrics::{MetricSpec, ServerMetrics, catalog, filters};

/// inference-perf waits one scrape interval and this much more after the load before it
/// queries, so the last requests are in the server's counters and Prometheus has scraped them.
pub const SETTLE_SECONDS: f64 = 2.0;

/// The window a report covers: `duration` seconds ending at `eval_time` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryWindow {
    pub eval_time: f64,
    pub duration: f64,
}

/// What is being measured: the server type's metrics, filtered to the model.
#[derive(Debug, Clone)]
pub struct Measured {
    pub server: ServerType,
    pub specs: &'static [MetricSpec],
    pub filters: Vec<String>,
}

impl Measured {
    pub fn new(server: ServerType, model: &str, user_filters: &[String]) -> Measured {
        Measured {
            server,
            specs: catalog(server),
            filters: filters(server, model, user_filters),
        }
    }

    /// Why nothing can be measured, if so.
    pub(super) fn nothing_known(&self) -> Option<String> {
        self.specs.is_empty().then(|| {
            format!(
                "server.type {:?} exports no metrics this tool knows; set server.type to vllm, sglang or tgi",
                format!("{:?}", self.server).to_lowercase()
            )
        })
    }
}

/// One measurement that failed for every window: the cause alone, for the report.
pub(super) fn everything_failed(windows: usize, why: String) -> Vec<ServerMetrics> {
    (0..windows)
        .map(|_| ServerMetrics {
            errors: vec![why.clone()],
            ..ServerMetrics::default()
        })
        .collect()
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
