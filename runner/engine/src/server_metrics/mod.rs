//! The model server's own metrics over a run, collected next to the load: PromQL queries to a
//! Prometheus server after the run (inference-perf's `metrics.type: prometheus`), or scrapes of
//! the servers' `/metrics` during it (`metrics.type: scrape`). Either way the load is never
//! held up or failed by them: what cannot be measured is written into the report files.

mod google_managed;
mod measured;
mod prometheus;
mod scrape;

use std::time::Duration;

use ibench_core::config::{MetricsConfig, MetricsType, PrometheusReport};
use ibench_core::metrics::StageInfo;
use ibench_core::report::ReportFile;
use ibench_core::server_metrics::summary::summarize;

pub use measured::{Measured, QueryWindow, SETTLE_SECONDS, unix_now};
pub use prometheus::PrometheusQueries;
pub use scrape::{FindTargets, Scraper};

/// A collector started before the load and finished after it.
pub enum Collector {
    Prometheus(PrometheusQueries),
    Scrape(Scraper),
}

impl Collector {
    /// The collector `metrics` asks for, if any; `base_url` is the model server's, `pods`
    /// finds the targets of `metrics.scrape.pods`.
    pub fn start(
        metrics: &MetricsConfig,
        measured: Measured,
        base_url: &str,
        pods: Option<Box<dyn FindTargets>>,
    ) -> Result<Option<Collector>, String> {
        match metrics.metrics_type {
            MetricsType::Default => Ok(None),
            MetricsType::Prometheus => {
                let config = metrics.prometheus.clone().unwrap_or_default();
                Ok(Some(Collector::Prometheus(PrometheusQueries::new(
                    &config, measured,
                )?)))
            }
            MetricsType::Scrape => {
                let config = metrics.scrape.clone().unwrap_or_default();
                Ok(Some(Collector::Scrape(Scraper::start(
                    &config, measured, base_url, pods,
                )?)))
            }
        }
    }

    /// How long after a stage its last requests are surely in the figures: inference-perf's
    /// scrape interval plus [`SETTLE_SECONDS`] for a Prometheus server; one scrape interval
    /// when the runner scrapes (a scrape falls in every interval). A stage's window ends
    /// this long after it, and the reports wait this long after the load.
    pub fn settle_seconds(&self) -> f64 {
        match self {
            Collector::Prometheus(p) => p.scrape_interval() + SETTLE_SECONDS,
            Collector::Scrape(s) => s.interval(),
        }
    }

    /// The report files of a finished run: `run_start` is when the load began (Unix seconds).
    pub async fn finish(
        self,
        report: &PrometheusReport,
        run_start: f64,
        stages: &[StageInfo],
    ) -> Vec<ReportFile> {
        let settle = self.settle_seconds();
        tokio::time::sleep(Duration::from_secs_f64(settle)).await;
        let now = measured::unix_now();
        let mut windows: Vec<(String, QueryWindow)> = Vec::new();
        if report.summary {
            windows.push((
                "summary_prometheus_metrics".into(),
                QueryWindow {
                    eval_time: now,
                    duration: now - run_start,
                },
            ));
        }
        if report.per_stage {
            for stage in stages {
                let eval_time = stage.end + settle;
                windows.push((
                    format!("stage_{}_prometheus_metrics", stage.id),
                    QueryWindow {
                        eval_time,
                        duration: eval_time - stage.start,
                    },
                ));
            }
        }
        let (results, extra) = match self {
            Collector::Prometheus(p) => (p.measure_all(&windows).await, Vec::new()),
            Collector::Scrape(s) => s.finish(&windows, stages).await,
        };
        windows
            .into_iter()
            .zip(results)
            .map(|((name, _), metrics)| ReportFile {
                name,
                contents: summarize(&metrics),
            })
            .chain(extra)
            .collect()
    }
}
