//! Server-side metrics: what a model server exports ([`catalog`]), how inference-perf queries it
//! from Prometheus ([`promql`]), the same figures computed from scrapes of the server itself
//! ([`exposition`], [`window`]), and the report file both produce ([`summary`]).

pub mod catalog;
pub mod exposition;
pub mod matchers;
pub mod promql;
pub mod summary;
pub mod timeseries;
pub mod window;

use std::collections::BTreeMap;

pub use catalog::{Fleet, MetricKind, MetricSpec, catalog, filters};

/// One metric's figures over a window. A Prometheus query that fails or returns nothing gives
/// 0, as in inference-perf; the failure itself is kept in [`ServerMetrics::errors`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MetricValue {
    /// Counter: increase over the window.
    pub total: f64,
    /// Counter: mean per-second rate; gauge and histogram: mean.
    pub avg: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    /// Counter and histogram: events per second.
    pub per_second: f64,
}

impl MetricValue {
    /// The figures of a metric from its queries' results, in [`promql::queries`]'s order.
    pub fn from_results(kind: MetricKind, results: &[f64]) -> MetricValue {
        let at = |i: usize| results.get(i).copied().unwrap_or(0.0);
        match kind {
            MetricKind::Counter => MetricValue {
                total: at(0),
                avg: at(1),
                per_second: at(2),
                ..MetricValue::default()
            },
            MetricKind::Gauge => MetricValue {
                avg: at(0),
                median: at(1),
                p90: at(2),
                p99: at(3),
                ..MetricValue::default()
            },
            MetricKind::Histogram => MetricValue {
                avg: at(0),
                median: at(1),
                p90: at(2),
                p99: at(3),
                per_second: at(4),
                total: 0.0,
            },
        }
    }
}

/// The figures of one window (a stage, or the whole run), by report field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerMetrics {
    pub values: BTreeMap<&'static str, MetricValue>,
    /// What could not be measured, each naming the query or target and the cause.
    pub errors: Vec<String>,
}

impl ServerMetrics {
    pub fn get(&self, field: &str) -> MetricValue {
        self.values.get(field).copied().unwrap_or_default()
    }
}

/// inference-perf rounds each query result to 6 decimals.
pub fn round6(value: f64) -> f64 {
    if value.is_finite() {
        (value * 1e6).round() / 1e6
    } else {
        0.0
    }
}
