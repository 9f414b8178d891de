//! inference-perf's Prometheus client: each figure's PromQL at each window's evaluation time,
//! through the HTTP API's instant queries.

use futures::StreamExt;
use ibench_core::config::PrometheusMetrics;
use ibench_core::error_text::with_causes;
use ibench_core::server_metrics::promql::queries;
use ibench_core::server_metrics::{MetricValue, ServerMetrics, round6};
use serde_json::Value;

use super::google_managed::GoogleManaged;
use super::measured::{Measured, QueryWindow, everything_failed};

/// Queries in flight at once against the Prometheus server.
const CONCURRENT_QUERIES: usize = 8;
/// Distinct failures listed per report; the rest are counted.
const LISTED_FAILURES: usize = 5;

pub struct PrometheusQueries {
    http: reqwest::Client,
    /// `{url}/api/v1/query`, or where Google Managed Prometheus answers once known.
    base_url: Option<String>,
    google: Option<GoogleManaged>,
    scrape_interval: f64,
    measured: Measured,
}

enum Answer {
    Value(f64),
    /// The query matched no series.
    Empty,
}

impl PrometheusQueries {
    pub fn new(
        config: &PrometheusMetrics,
        measured: Measured,
    ) -> Result<PrometheusQueries, String> {
        let http = crate::http::reqwest_builder(&Default::default())?
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build the Prometheus HTTP client: {e}"))?;
        Ok(PrometheusQueries {
            base_url: config
                .url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            google: config.google_managed.then(GoogleManaged::from_environment),
            http,
            scrape_interval: config.scrape_interval as f64,
            measured,
        })
    }

    pub fn scrape_interval(&self) -> f64 {
        self.scrape_interval
    }

    /// One report's figures per window, in order.
    pub async fn measure_all(&self, windows: &[(String, QueryWindow)]) -> Vec<ServerMetrics> {
        if let Some(why) = self.measured.nothing_known() {
            return everything_failed(windows.len(), why);
        }
        let (base_url, bearer) = match self.endpoint().await {
            Ok(endpoint) => endpoint,
            Err(why) => return everything_failed(windows.len(), why),
        };
        let mut reports = Vec::with_capacity(windows.len());
        for (_, window) in windows {
            reports.push(self.measure(&base_url, bearer.as_deref(), *window).await);
        }
        reports
    }

    async fn endpoint(&self) -> Result<(String, Option<String>), String> {
        match (&self.base_url, &self.google) {
            (Some(url), _) => Ok((url.clone(), None)),
            (None, Some(google)) => {
                let (url, token) = google.endpoint(&self.http).await?;
                Ok((url, Some(token)))
            }
            (None, None) => Err("metrics.prometheus has neither url nor google_managed".into()),
        }
    }

    async fn measure(
        &self,
        base_url: &str,
        bearer: Option<&str>,
        window: QueryWindow,
    ) -> ServerMetrics {
        let jobs: Vec<(usize, String)> = self
            .measured
            .specs
            .iter()
            .enumerate()
            .flat_map(|(i, spec)| {
                queries(spec, window.duration, &self.measured.filters)
                    .into_iter()
                    .map(move |q| (i, q))
            })
            .collect();
        let total = jobs.len();
        let answers: Vec<(usize, String, Result<Answer, String>)> = futures::stream::iter(jobs)
            .map(|(i, query)| async move {
                let answer = self.query(base_url, bearer, &query, window.eval_time).await;
                (i, query, answer)
            })
            .buffered(CONCURRENT_QUERIES)
            .collect()
            .await;
        let mut results: Vec<Vec<f64>> = vec![Vec::new(); self.measured.specs.len()];
        let mut failures: Vec<String> = Vec::new();
        let (mut failed, mut empty) = (0, 0);
        for (i, query, answer) in answers {
            results[i].push(match answer {
                Ok(Answer::Value(v)) => round6(v),
                Ok(Answer::Empty) => {
                    empty += 1;
                    0.0
                }
                Err(why) => {
                    failed += 1;
                    let message = format!("{why} (query: {query})");
                    if failures.len() < LISTED_FAILURES
                        && !failures.iter().any(|f| f.starts_with(&why))
                    {
                        failures.push(message);
                    }
                    0.0
                }
            });
        }
        let mut metrics = ServerMetrics::default();
        for (spec, values) in self.measured.specs.iter().zip(&results) {
            metrics
                .values
                .insert(spec.field, MetricValue::from_results(spec.kind, values));
        }
        if failed > 0 {
            metrics.errors.push(format!(
                "{failed} of {total} queries to {base_url} failed; their figures read 0"
            ));
            metrics.errors.extend(failures);
        } else if empty == total {
            metrics.errors.push(format!(
                "none of {total} queries to {base_url} matched a series: check that Prometheus scrapes the model server and that the filters {:?} match its labels",
                self.measured.filters
            ));
        }
        metrics
    }

    async fn query(
        &self,
        base_url: &str,
        bearer: Option<&str>,
        query: &str,
        time: f64,
    ) -> Result<Answer, String> {
        let mut url = url::Url::parse(&format!("{base_url}/api/v1/query"))
            .map_err(|e| format!("{base_url} is not a URL: {e}"))?;
        url.query_pairs_mut()
            .append_pair("query", query)
            .append_pair("time", &time.to_string());
        let mut request = self.http.get(url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach Prometheus: {}", with_causes(&e)))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| format!("reading Prometheus' answer: {}", with_causes(&e)))?;
        let parsed: Value = serde_json::from_str(&body).map_err(|_| {
            let start: String = body.chars().take(80).collect();
            format!("HTTP {status}: not a Prometheus API answer: {start:?}")
        })?;
        if parsed["status"] != "success" {
            return Err(format!(
                "HTTP {status}: {} {}",
                parsed["errorType"].as_str().unwrap_or("error"),
                parsed["error"].as_str().unwrap_or("(no message)")
            ));
        }
        first_value(&parsed["data"])
    }
}

/// The first sample's value: inference-perf reads `result[0].value[1]`.
fn first_value(data: &Value) -> Result<Answer, String> {
    let value = match data["resultType"].as_str() {
        Some("scalar") => &data["result"][1],
        _ => match data["result"].get(0) {
            None => return Ok(Answer::Empty),
            Some(first) => &first["value"][1],
        },
    };
    let text = value
        .as_str()
        .ok_or_else(|| format!("unexpected query result {data}"))?;
    text.parse::<f64>()
        .map(Answer::Value)
        .map_err(|_| format!("query result {text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_samples_value_or_empty() {
        let vector = json!({"resultType": "vector", "result": [
            {"metric": {}, "value": [1.0, "2.5"]}, {"metric": {}, "value": [1.0, "9"]}]});
        assert!(matches!(first_value(&vector), Ok(Answer::Value(v)) if v == 2.5));
        let empty = json!({"resultType": "vector", "result": []});
        assert!(matches!(first_value(&empty), Ok(Answer::Empty)));
        let scalar = json!({"resultType": "scalar", "result": [1.0, "NaN"]});
        assert!(matches!(first_value(&scalar), Ok(Answer::Value(v)) if v.is_nan()));
    }
}
