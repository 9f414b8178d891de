//! The model server's metrics next to a run (`metrics`): started before the load, read after
//! it. A failure here never fails the run; it is printed and written into the reports.

use ibench_core::config::{MetricsType, PrometheusReport, ResolvedConfig};
use ibench_core::metrics::{RunMetrics, StageInfo};
use ibench_core::report::ReportFile;
use ibench_engine::{Collector, FindTargets, Measured};

use crate::out::say;

/// `pods` finds the targets of `metrics.scrape.pods` (runners under the operator).
pub fn start(
    resolved: &ResolvedConfig,
    model: &str,
    pods: Option<Box<dyn FindTargets>>,
) -> Option<Collector> {
    let config = &resolved.config;
    let metrics = config.metrics.as_ref()?;
    let server = config.server.as_ref()?;
    let user_filters = match metrics.metrics_type {
        MetricsType::Scrape => metrics.scrape.as_ref().map(|s| s.filters.clone()),
        _ => metrics.prometheus.as_ref().map(|p| p.filters.clone()),
    }
    .unwrap_or_default();
    let measured = Measured::new(server.server_type, model, &user_filters);
    match Collector::start(metrics, measured, &server.base_url, pods) {
        Ok(collector) => collector,
        Err(e) => {
            eprintln!("server metrics: {e}; the run goes on without them");
            None
        }
    }
}

pub async fn finish(
    collector: Collector,
    report: &PrometheusReport,
    run_start: f64,
    run: &RunMetrics,
) -> Vec<ReportFile> {
    say!(
        "Reading the server's metrics ({:.0} s after the last stage, so its last requests are counted)",
        collector.settle_seconds()
    );
    let stages: Vec<StageInfo> = run.stages.iter().map(|s| s.info.clone()).collect();
    let files = collector.finish(report, run_start, &stages).await;
    let mut reported = std::collections::BTreeSet::new();
    for file in &files {
        for error in file.contents["errors"].as_array().into_iter().flatten() {
            if let Some(text) = error.as_str()
                && reported.insert(text.to_string())
            {
                eprintln!("server metrics: {text}");
            }
        }
    }
    files
}
