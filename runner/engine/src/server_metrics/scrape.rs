//! Scrapes of the model servers' `/metrics` at a fixed interval during the run, without a
//! Prometheus server; the figures come from the samples (see `ibench_core::server_metrics::window`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ibench_core::config::ScrapeMetrics;
use ibench_core::error_text::with_causes;
use ibench_core::metrics::StageInfo;
use ibench_core::report::ReportFile;
use ibench_core::server_metrics::exposition::{Sample, parse};
use ibench_core::server_metrics::matchers::{Matcher, parse_all};
use ibench_core::server_metrics::timeseries::{SeriesStore, timeseries_report};
use ibench_core::server_metrics::window::{Window, figures};
use ibench_core::server_metrics::{MetricKind, ServerMetrics};
use tokio_util::sync::CancellationToken;

use super::measured::{Measured, QueryWindow, everything_failed, unix_now};

/// Longest wait for one target's answer, whatever the interval.
const MAX_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest `/metrics` body read: vLLM's is tens of kilobytes.
const MAX_BODY_BYTES: usize = 16 << 20;

pub struct Scraper {
    interval: f64,
    urls: Vec<String>,
    matchers: Vec<Matcher>,
    measured: Measured,
    shared: Arc<Mutex<Shared>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    store: SeriesStore,
    /// Per target: failed scrapes, attempts, and the first failure.
    failures: Vec<(u64, u64, Option<String>)>,
}

impl Scraper {
    pub fn start(
        config: &ScrapeMetrics,
        measured: Measured,
        base_url: &str,
    ) -> Result<Scraper, String> {
        let urls = if config.urls.is_empty() {
            vec![format!("{}/metrics", base_url.trim_end_matches('/'))]
        } else {
            config.urls.clone()
        };
        let instances = urls.iter().map(|u| instance(u)).collect::<Vec<_>>();
        // The model's filter and the user's, as the Prometheus queries would apply them.
        let matchers = parse_all(&measured.filters)?;
        let interval = config.interval_seconds();
        let http = crate::http::reqwest_builder()?
            .timeout(Duration::from_secs_f64(interval.max(1.0)).min(MAX_SCRAPE_TIMEOUT))
            .build()
            .map_err(|e| format!("cannot build the scrape HTTP client: {e}"))?;
        let shared = Arc::new(Mutex::new(Shared {
            store: SeriesStore::new(instances),
            failures: vec![(0, 0, None); urls.len()],
        }));
        let keep = stored_names(&measured);
        let stop = CancellationToken::new();
        let task = tokio::spawn(scrape_loop(
            http,
            urls.clone(),
            Duration::from_secs_f64(interval),
            keep,
            shared.clone(),
            stop.clone(),
        ));
        Ok(Scraper {
            interval,
            urls,
            matchers,
            measured,
            shared,
            stop,
            task,
        })
    }

    pub fn interval(&self) -> f64 {
        self.interval
    }

    /// Stops scraping; the figures of each window, and the time series file.
    pub async fn finish(
        self,
        windows: &[(String, QueryWindow)],
        stages: &[StageInfo],
    ) -> (Vec<ServerMetrics>, Vec<ReportFile>) {
        self.stop.cancel();
        let _ = self.task.await;
        let shared = std::mem::take(&mut *self.shared.lock().expect("scrape state"));
        let mut errors: Vec<String> = Vec::new();
        for (url, (failed, attempts, first)) in self.urls.iter().zip(&shared.failures) {
            if *failed > 0 {
                errors.push(format!(
                    "{url}: {failed} of {attempts} scrapes failed; first: {}",
                    first.as_deref().unwrap_or("?")
                ));
            }
        }
        if let Some(why) = self.measured.nothing_known() {
            errors.insert(0, why);
        } else if shared.store.ticks.iter().any(|t| !t.answered.is_empty())
            && stored_names(&self.measured)
                .iter()
                .all(|name| shared.store.select(name, &self.matchers).is_empty())
        {
            errors.push(format!(
                "no scraped series is one of the server's known metrics with labels matching {:?}: check server.type and metrics.scrape.filters",
                self.measured.filters
            ));
        }
        let stage_windows: Vec<(usize, f64, f64)> =
            stages.iter().map(|s| (s.id, s.start, s.end)).collect();
        let timeseries = ReportFile {
            name: "server_metrics_timeseries".into(),
            contents: timeseries_report(
                &shared.store,
                self.measured.specs,
                &self.matchers,
                &stage_windows,
                &errors,
            ),
        };
        if self.measured.specs.is_empty() {
            return (
                everything_failed(windows.len(), errors.join("; ")),
                vec![timeseries],
            );
        }
        let metrics = windows
            .iter()
            .map(|(_, w)| {
                let window = Window {
                    start: w.eval_time - w.duration,
                    end: w.eval_time,
                };
                let mut metrics = ServerMetrics {
                    errors: errors.clone(),
                    ..ServerMetrics::default()
                };
                for spec in self.measured.specs {
                    metrics.values.insert(
                        spec.field,
                        figures(&shared.store, spec, &self.matchers, window),
                    );
                }
                metrics
            })
            .collect();
        (metrics, vec![timeseries])
    }
}

/// `host:port` of a URL, as Prometheus labels a target's series `instance`.
fn instance(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .unwrap_or_else(|| url.to_string())
}

/// The sample names the reports read; the rest of each scrape is dropped on arrival.
fn stored_names(measured: &Measured) -> HashSet<String> {
    let mut names = HashSet::new();
    for spec in measured.specs {
        match spec.kind {
            MetricKind::Gauge => {
                names.insert(spec.name.to_string());
            }
            MetricKind::Counter => {
                let base = spec.name.strip_suffix("_total").unwrap_or(spec.name);
                names.insert(base.to_string());
                names.insert(format!("{base}_total"));
            }
            MetricKind::Histogram => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{}{suffix}", spec.name));
                }
            }
        }
    }
    names
}

async fn scrape_loop(
    http: reqwest::Client,
    urls: Vec<String>,
    interval: Duration,
    keep: HashSet<String>,
    shared: Arc<Mutex<Shared>>,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let time = unix_now();
        let answers =
            futures::future::join_all(urls.iter().map(|url| scrape_one(&http, url))).await;
        let mut shared = shared.lock().expect("scrape state");
        let mut samples: Vec<Option<Vec<Sample>>> = Vec::with_capacity(answers.len());
        for (i, answer) in answers.into_iter().enumerate() {
            let failures = &mut shared.failures[i];
            failures.1 += 1;
            match answer {
                Ok(s) => samples.push(Some(s)),
                Err(why) => {
                    failures.0 += 1;
                    failures.2.get_or_insert(why);
                    samples.push(None);
                }
            }
        }
        shared
            .store
            .record(time, samples, &|name| keep.contains(name));
    }
}

async fn scrape_one(http: &reqwest::Client, url: &str) -> Result<Vec<Sample>, String> {
    let response = http
        .get(url)
        .header("Accept", "text/plain;version=0.0.4")
        .send()
        .await
        .map_err(|e| with_causes(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(format!("the body is larger than {MAX_BODY_BYTES} bytes"));
    }
    let body = response.text().await.map_err(|e| with_causes(&e))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(format!("the body is larger than {MAX_BODY_BYTES} bytes"));
    }
    parse(&body)
}
