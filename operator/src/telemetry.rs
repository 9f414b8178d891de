//! Operator metrics (Prometheus text format) and the HTTP endpoints `/metrics`, `/healthz` and
//! `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tiny_http::{Header, Method, Response, Server};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or `error`.
    pub result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// What failed: `apply`, `status`, `delete` or `invalid_object`.
    pub error: String,
}

pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    duration: Histogram,
    status_writes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("ibench_operator");
        let reconciles = Family::<ResultLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let duration = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        let status_writes = Counter::default();
        registry.register(
            "reconciles",
            "Reconciles of InferenceBenchmarks, by result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles, by what failed",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time of one reconcile",
            duration.clone(),
        );
        registry.register(
            "status_writes",
            "Status updates written",
            status_writes.clone(),
        );
        Metrics {
            registry,
            reconciles,
            errors,
            duration,
            status_writes,
        }
    }
}

impl Metrics {
    pub fn reconciled(&self, took: Duration, error: Option<&str>) {
        self.duration.observe(took.as_secs_f64());
        let result = if error.is_some() { "error" } else { "ok" };
        self.reconciles
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
        if let Some(error) = error {
            self.errors
                .get_or_create(&ErrorLabels {
                    error: error.into(),
                })
                .inc();
        }
    }

    pub fn status_written(&self) {
        self.status_writes.inc();
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String");
        text
    }
}

/// What the endpoints report.
#[derive(Clone)]
pub struct Health {
    pub metrics: Arc<Metrics>,
    /// Set once the watch caches hold the cluster's state.
    pub ready: Arc<AtomicBool>,
}

/// What `/metrics`, `/healthz` and `/readyz` answer: status, content type and body.
fn respond(health: &Health, method: &Method, path: &str) -> (u16, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let path = path.split_once('?').map_or(path, |(path, _query)| path);
    let known = ["/metrics", "/healthz", "/readyz"].contains(&path);
    if !known {
        return (404, TEXT, "not found".into());
    }
    if !matches!(method, Method::Get | Method::Head) {
        return (405, TEXT, "method not allowed".into());
    }
    match path {
        "/metrics" => (
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            health.metrics.encode(),
        ),
        "/readyz" if !health.ready.load(Ordering::Relaxed) => {
            (503, TEXT, "watch caches not synced yet".into())
        }
        _ => (200, TEXT, "ok".into()),
    }
}

/// Serves the endpoints on `address` until the process ends; returns the bound address.
///
/// Probes and a scrape every few seconds need no async server: one thread answers them in
/// turn (tiny_http reads each request on a connection thread of its own).
pub fn serve(address: SocketAddr, health: Health) -> std::io::Result<SocketAddr> {
    let server = Server::http(address).map_err(std::io::Error::other)?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("bound to a Unix socket, not an IP address"))?;
    std::thread::Builder::new()
        .name("telemetry".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let (status, content_type, body) =
                    respond(&health, request.method(), request.url());
                let header =
                    Header::from_bytes("Content-Type", content_type).expect("a valid header");
                let response = Response::from_string(body)
                    .with_status_code(status)
                    .with_header(header);
                if let Err(e) = request.respond(response) {
                    tracing::debug!(error = %e, "telemetry response not delivered");
                }
            }
        })?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_exposed_with_the_prefix() {
        let metrics = Metrics::default();
        metrics.reconciled(Duration::from_millis(3), None);
        metrics.reconciled(Duration::from_millis(30), Some("apply"));
        metrics.status_written();
        let text = metrics.encode();
        assert!(
            text.contains("ibench_operator_reconciles_total{result=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ibench_operator_reconciles_total{result=\"error\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ibench_operator_reconcile_errors_total{error=\"apply\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("ibench_operator_reconcile_duration_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains("ibench_operator_status_writes_total 1"),
            "{text}"
        );
    }

    #[test]
    fn endpoints_answer_by_path_method_and_readiness() {
        let health = Health {
            metrics: Arc::new(Metrics::default()),
            ready: Arc::new(AtomicBool::new(false)),
        };
        let get = |path: &str| respond(&health, &Method::Get, path);
        assert_eq!(get("/healthz").0, 200);
        assert_eq!(
            get("/readyz"),
            (
                503,
                "text/plain; charset=utf-8",
                "watch caches not synced yet".into()
            )
        );
        health.ready.store(true, Ordering::Relaxed);
        assert_eq!(get("/readyz").0, 200);
        let (status, content_type, body) = get("/metrics?x=1");
        assert_eq!(status, 200);
        assert!(content_type.starts_with("application/openmetrics-text"));
        assert!(
            body.contains("ibench_operator_status_writes_total"),
            "{body}"
        );
        assert_eq!(get("/nothing").0, 404);
        assert_eq!(respond(&health, &Method::Post, "/metrics").0, 405);
        assert_eq!(respond(&health, &Method::Head, "/healthz").0, 200);
    }
}
