//! Scrapes of the model servers' `/metrics` at a fixed interval during the run, without a
//! Prometheus server; the figures come from the samples (see `ibench_core::server_metrics::window`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use ibench_core::config::ScrapeMetrics;
use ibench_core::error_text::with_causes;
use ibench_core::metrics::StageInfo;
use ibench_core::report::ReportFile;
use ibench_core::server_metrics::ServerMetrics;
use ibench_core::server_metrics::exposition::{Sample, parse};
use ibench_core::server_metrics::matchers::{Matcher, parse_all};
use ibench_core::server_metrics::timeseries::{SeriesStore, TIMESERIES_FILE, timeseries_report};
use ibench_core::server_metrics::window::{Window, figures};
use tokio_util::sync::CancellationToken;

use super::measured::{Measured, QueryWindow, everything_failed, unix_now};

/// Longest wait for one target's answer, whatever the interval.
const MAX_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest `/metrics` body read: vLLM's is tens of kilobytes.
const MAX_BODY_BYTES: usize = 16 << 20;

/// Finds the metrics URLs to scrape, asked before every round: the model server's pods under
/// the operator, which may come and go during a run.
pub trait FindTargets: Send + 'static {
    fn find(&mut self) -> BoxFuture<'_, Result<Vec<String>, String>>;
}

/// Where the scrapes go.
enum ScrapeTargets {
    Fixed(Vec<String>),
    Found(Box<dyn FindTargets>),
}

pub struct Scraper {
    interval: f64,
    matchers: Vec<Matcher>,
    measured: Measured,
    shared: Arc<Mutex<Shared>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    store: SeriesStore,
    /// Per target of the store: its URL, failed scrapes, attempts, and the first failure.
    targets: Vec<TargetRecord>,
    /// Rounds whose targets could not be found, of all rounds, and the first reason.
    finding: TargetRecord,
}

#[derive(Default, Clone)]
struct TargetRecord {
    url: String,
    failed: u64,
    attempts: u64,
    first_failure: Option<String>,
}

impl TargetRecord {
    fn count(&mut self, outcome: Result<(), String>) {
        self.attempts += 1;
        if let Err(why) = outcome {
            self.failed += 1;
            self.first_failure.get_or_insert(why);
        }
    }
}

impl Scraper {
    /// `pods` finds the targets of `metrics.scrape.pods`; without it the targets are
    /// `metrics.scrape.urls`, else the model server's own `/metrics`.
    pub fn start(
        config: &ScrapeMetrics,
        measured: Measured,
        base_url: &str,
        pods: Option<Box<dyn FindTargets>>,
    ) -> Result<Scraper, String> {
        let targets = match (pods, &config.pods) {
            (Some(finder), _) => ScrapeTargets::Found(finder),
            (None, Some(_)) => {
                return Err(
                    "metrics.scrape.pods needs the Kubernetes API (the operator's runners)".into(),
                );
            }
            (None, None) if config.urls.is_empty() => {
                ScrapeTargets::Fixed(vec![format!("{}/metrics", base_url.trim_end_matches('/'))])
            }
            (None, None) => ScrapeTargets::Fixed(config.urls.clone()),
        };
        // The model's filter and the user's, as the Prometheus queries would apply them.
        let matchers = parse_all(&measured.filters)?;
        let interval = config.interval_seconds();
        let http = crate::http::reqwest_builder(&Default::default())?
            .timeout(Duration::from_secs_f64(interval.max(1.0)).min(MAX_SCRAPE_TIMEOUT))
            .build()
            .map_err(|e| format!("cannot build the scrape HTTP client: {e}"))?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let keep = stored_names(&measured);
        let stop = CancellationToken::new();
        let task = tokio::spawn(scrape_loop(
            http,
            targets,
            Duration::from_secs_f64(interval),
            keep,
            shared.clone(),
            stop.clone(),
        ));
        Ok(Scraper {
            interval,
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
        if shared.finding.failed > 0 {
            errors.push(format!(
                "finding the targets failed in {} of {} rounds; first: {}",
                shared.finding.failed,
                shared.finding.attempts,
                shared.finding.first_failure.as_deref().unwrap_or("?")
            ));
        }
        for target in &shared.targets {
            if target.failed > 0 {
                errors.push(format!(
                    "{}: {} of {} scrapes failed; first: {}",
                    target.url,
                    target.failed,
                    target.attempts,
                    target.first_failure.as_deref().unwrap_or("?")
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
            name: TIMESERIES_FILE.into(),
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
    measured
        .specs
        .iter()
        .flat_map(|spec| spec.sample_names())
        .collect()
}

async fn scrape_loop(
    http: reqwest::Client,
    mut targets: ScrapeTargets,
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
        let urls = match &mut targets {
            ScrapeTargets::Fixed(urls) => Ok(urls.clone()),
            ScrapeTargets::Found(finder) => tokio::select! {
                _ = stop.cancelled() => return,
                found = finder.find() => found,
            },
        };
        let urls = match urls {
            Ok(urls) => {
                shared.lock().expect("scrape state").finding.count(Ok(()));
                urls
            }
            Err(why) => {
                // A round without targets still marks the time: the plot shows the gap.
                let mut shared = shared.lock().expect("scrape state");
                shared.finding.count(Err(why));
                shared.store.record(time, Vec::new(), &|_| false);
                continue;
            }
        };
        let answers =
            futures::future::join_all(urls.iter().map(|url| scrape_one(&http, url))).await;
        let mut shared = shared.lock().expect("scrape state");
        let mut samples: Vec<Option<Vec<Sample>>> = vec![None; shared.store.targets.len()];
        for (url, answer) in urls.iter().zip(answers) {
            let target = shared.store.target(&instance(url));
            if target == shared.targets.len() {
                shared.targets.push(TargetRecord {
                    url: url.clone(),
                    ..TargetRecord::default()
                });
            }
            samples.resize(shared.store.targets.len(), None);
            let outcome = match answer {
                Ok(answer) => {
                    samples[target] = Some(answer);
                    Ok(())
                }
                Err(why) => Err(why),
            };
            shared.targets[target].count(outcome);
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
