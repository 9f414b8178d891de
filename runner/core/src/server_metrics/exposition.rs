//! The Prometheus text format, read with `openmetrics-parser` and flattened to samples named as
//! Prometheus stores them (`x_bucket{le=…}`, `x_sum`, `x_count`), which is what the queries of
//! [`promql`](super::promql) select.

use std::collections::BTreeMap;

use openmetrics_parser::{PrometheusValue, prometheus::parse_prometheus};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of a `/metrics` body; an error says where the body stops being the Prometheus
/// text format (a login page or a JSON error are the usual causes).
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    // The grammar wants every line, the last one included, to end with a newline.
    let owned;
    let text = if text.ends_with('\n') {
        text
    } else {
        owned = format!("{text}\n");
        &owned
    };
    let exposition = parse_prometheus(text).map_err(|e| {
        let first_line: String = text.lines().next().unwrap_or("").chars().take(80).collect();
        format!("not the Prometheus text format ({e:?}); it begins {first_line:?}")
    })?;
    let mut samples = Vec::new();
    for (family_name, family) in &exposition.families {
        for sample in family.iter_samples() {
            let labels: BTreeMap<String, String> = sample
                .get_labelset()
                .map(|set| set.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let mut push = |suffix: &str, labels: BTreeMap<String, String>, value: f64| {
                samples.push(Sample {
                    name: format!("{family_name}{suffix}"),
                    labels,
                    value,
                })
            };
            match &sample.value {
                PrometheusValue::Unknown(n) | PrometheusValue::Gauge(n) => {
                    push("", labels, n.as_f64())
                }
                PrometheusValue::Counter(c) => push("", labels, c.value.as_f64()),
                PrometheusValue::Histogram(h) => {
                    for bucket in &h.buckets {
                        let mut with_le = labels.clone();
                        with_le.insert("le".into(), format_bound(bucket.upper_bound));
                        push("_bucket", with_le, bucket.count.as_f64());
                    }
                    if let Some(sum) = h.sum {
                        push("_sum", labels.clone(), sum.as_f64());
                    }
                    if let Some(count) = h.count {
                        push("_count", labels, count as f64);
                    }
                }
                PrometheusValue::Summary(s) => {
                    if let Some(sum) = s.sum {
                        push("_sum", labels.clone(), sum.as_f64());
                    }
                    if let Some(count) = s.count {
                        push("_count", labels, count as f64);
                    }
                }
            }
        }
    }
    Ok(samples)
}

fn format_bound(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".into()
    } else {
        bound.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VLLM_LIKE: &str = "\
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine=\"0\",model_name=\"m, \\\"x\\\"\"} 3.0
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{finished_reason=\"stop\",model_name=\"m\"} 7.0
vllm:request_success_total{finished_reason=\"length\",model_name=\"m\"} 5.0
# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le=\"0.3\",model_name=\"m\"} 2.0
vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 12.0
vllm:e2e_request_latency_seconds_count{model_name=\"m\"} 12.0
vllm:e2e_request_latency_seconds_sum{model_name=\"m\"} 4.5";

    fn value(samples: &[Sample], name: &str, label: (&str, &str)) -> f64 {
        samples
            .iter()
            .find(|s| s.name == name && s.labels.get(label.0).map(String::as_str) == Some(label.1))
            .unwrap_or_else(|| panic!("no {name} with {label:?} in {samples:?}"))
            .value
    }

    #[test]
    fn names_with_colons_histograms_and_escaped_labels() {
        let samples = parse(VLLM_LIKE).unwrap();
        assert_eq!(
            value(
                &samples,
                "vllm:num_requests_waiting",
                ("model_name", "m, \"x\"")
            ),
            3.0
        );
        assert_eq!(
            value(
                &samples,
                "vllm:request_success_total",
                ("finished_reason", "length")
            ),
            5.0
        );
        let e2e = "vllm:e2e_request_latency_seconds";
        assert_eq!(
            value(&samples, &format!("{e2e}_bucket"), ("le", "0.3")),
            2.0
        );
        assert_eq!(
            value(&samples, &format!("{e2e}_bucket"), ("le", "+Inf")),
            12.0
        );
        assert_eq!(
            value(&samples, &format!("{e2e}_sum"), ("model_name", "m")),
            4.5
        );
        assert_eq!(
            value(&samples, &format!("{e2e}_count"), ("model_name", "m")),
            12.0
        );
        assert_eq!(samples.len(), 7);
    }

    #[test]
    fn a_body_that_is_not_prometheus_text_is_named() {
        let e = parse("<html><body>Sign in</body></html>").unwrap_err();
        assert!(e.contains("not the Prometheus text format"), "{e}");
        assert!(e.contains("<html>"), "{e}");
    }
}
