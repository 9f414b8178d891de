//! Rules of the `metrics` section: one source of server metrics, fully described.

use super::error::Issue;
use super::types::{Config, MetricsType, ScrapePods};
use crate::server_metrics::matchers::parse_all;

/// Longest scrape interval accepted: beyond it a stage has too few scrapes to describe.
const MAX_SCRAPE_INTERVAL_SECONDS: f64 = 3600.0;

pub(super) fn validate(config: &Config, issues: &mut Vec<Issue>) {
    let Some(metrics) = &config.metrics else {
        return;
    };
    match metrics.metrics_type {
        MetricsType::Prometheus => match &metrics.prometheus {
            None => issues.push(Issue::new(
                "metrics.prometheus",
                "required with metrics.type prometheus: set url (or google_managed: true)",
            )),
            Some(p) => {
                match (&p.url, p.google_managed) {
                    (Some(_), true) | (None, false) => issues.push(Issue::new(
                        "metrics.prometheus",
                        "set exactly one of url (a Prometheus server) or google_managed: true",
                    )),
                    _ => {}
                }
                super::validate::endpoint_url(p.url.as_deref(), "metrics.prometheus.url", issues);
                if p.scrape_interval < 1 {
                    issues.push(Issue::new(
                        "metrics.prometheus.scrape_interval",
                        format!(
                            "must be >= 1 (seconds between the Prometheus server's scrapes), got {}",
                            p.scrape_interval
                        ),
                    ));
                }
                filters(&p.filters, "metrics.prometheus.filters", issues);
            }
        },
        MetricsType::Scrape => {
            let scrape = metrics.scrape.clone().unwrap_or_default();
            for (i, url) in scrape.urls.iter().enumerate() {
                super::validate::endpoint_url(
                    Some(url),
                    &format!("metrics.scrape.urls[{i}]"),
                    issues,
                );
            }
            let interval = scrape.interval_seconds();
            if !(interval > 0.0 && interval <= MAX_SCRAPE_INTERVAL_SECONDS) {
                issues.push(Issue::new(
                    "metrics.scrape.interval",
                    format!(
                        "must be > 0 and <= {MAX_SCRAPE_INTERVAL_SECONDS} seconds, got {interval}"
                    ),
                ));
            }
            filters(&scrape.filters, "metrics.scrape.filters", issues);
            if let Some(pods) = &scrape.pods {
                scrape_pods(pods, !scrape.urls.is_empty(), issues);
            }
        }
        MetricsType::Default => {}
    }
    let stray = [
        (
            "prometheus",
            metrics.prometheus.is_some(),
            MetricsType::Prometheus,
        ),
        ("scrape", metrics.scrape.is_some(), MetricsType::Scrape),
    ];
    for (section, set, wanted) in stray {
        if set && metrics.metrics_type != wanted && metrics.metrics_type != MetricsType::Default {
            issues.push(Issue::new(
                format!("metrics.{section}"),
                format!("only read with metrics.type {section}; remove it or change the type"),
            ));
        }
    }
}

fn scrape_pods(pods: &ScrapePods, with_urls: bool, issues: &mut Vec<Issue>) {
    if with_urls {
        issues.push(Issue::new(
            "metrics.scrape.pods",
            "set either urls (fixed endpoints) or pods (found through the Kubernetes API), not both",
        ));
    }
    match (&pods.service, pods.selector.is_empty()) {
        (Some(_), false) | (None, true) => issues.push(Issue::new(
            "metrics.scrape.pods",
            "set exactly one of service (a Service's pods) or selector (pod labels)",
        )),
        (Some(service), true) if service.is_empty() => issues.push(Issue::new(
            "metrics.scrape.pods.service",
            "must name a Service in the benchmark's namespace",
        )),
        _ => {}
    }
    if !(1..=65535).contains(&pods.port) {
        issues.push(Issue::new(
            "metrics.scrape.pods.port",
            "must be the pods' metrics port, 1 to 65535",
        ));
    }
    if let Some(path) = &pods.path
        && !path.starts_with('/')
    {
        issues.push(Issue::new(
            "metrics.scrape.pods.path",
            format!("must start with '/' (e.g. /metrics), got {path:?}"),
        ));
    }
}

/// `metrics.scrape.pods` needs the Kubernetes API and a runner inside the cluster: the CLI
/// names the fix rather than scraping nothing.
pub(super) fn pods_outside_the_operator(config: &Config) -> Option<Issue> {
    config
        .metrics
        .as_ref()?
        .scrape
        .as_ref()?
        .pods
        .as_ref()
        .map(|_| {
            Issue::new(
                "metrics.scrape.pods",
                "only under the operator (an InferenceBenchmark's spec.metrics); from the command line list the endpoints in metrics.scrape.urls",
            )
        })
}

fn filters(filters: &[String], path: &str, issues: &mut Vec<Issue>) {
    for (i, text) in filters.iter().enumerate() {
        if let Err(e) = parse_all(std::slice::from_ref(text)) {
            issues.push(Issue::new(format!("{path}[{i}]"), e));
        }
    }
}
