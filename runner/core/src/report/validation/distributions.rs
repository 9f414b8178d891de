//! Every distribution block of a report (an object with a numeric `min` and `max`): its mean
//! and percentiles inside [min, max], percentiles in rank order, no negative minimum.

use serde_json::Value;

use super::findings::{Finding, Severity};
use super::numbers::{approx_le, float_repr, number, percentile_rank, python_str, walk};

/// The findings of every block in `root` (a report file `report`), for check `check`. A
/// negative minimum under a path containing one of `negative_ok` is a warning (a request
/// sent a little before its scheduled time), elsewhere an error.
pub fn distribution_findings(
    report: &str,
    root: &Value,
    check: &str,
    negative_ok: &[&str],
) -> Vec<Finding> {
    let mut found = Vec::new();
    walk(root, String::new(), &mut |path, node| {
        if number(node.get("min")).is_some() && number(node.get("max")).is_some() {
            found.push((path.to_string(), node));
        }
    });
    let mut findings = Vec::new();
    let mut add = |severity, message| {
        findings.push(Finding::new(check, severity, message, Some(report)));
    };
    for (path, block) in found {
        let (low, high) = (
            number(block.get("min")).unwrap_or_default(),
            number(block.get("max")).unwrap_or_default(),
        );
        let (low_text, high_text) = (float_repr(low), float_repr(high));
        if !approx_le(low, high) {
            add(
                Severity::Error,
                format!("{path}: min {low_text} > max {high_text}"),
            );
        }
        if low < 0.0 {
            let severity = if negative_ok.iter().any(|ok| path.contains(ok)) {
                Severity::Warning
            } else {
                Severity::Error
            };
            add(severity, format!("{path}: negative minimum {low_text}"));
        }
        let inside = |v: f64| approx_le(low, v) && approx_le(v, high);
        let mut ranked = Vec::new();
        for (key, value) in block.as_object().into_iter().flatten() {
            let Some(v) = number(Some(value)) else {
                continue;
            };
            if key == "mean" && !inside(v) {
                add(
                    Severity::Error,
                    format!(
                        "{path}: mean {} outside [min, max] = [{low_text}, {high_text}]",
                        python_str(value)
                    ),
                );
            }
            if let Some(rank) = percentile_rank(key) {
                if !inside(v) {
                    add(
                        Severity::Error,
                        format!(
                            "{path}.{key}: {} outside [min, max] = [{low_text}, {high_text}]",
                            python_str(value)
                        ),
                    );
                }
                ranked.push((rank, key.as_str(), v));
            }
        }
        ranked.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(a.1.cmp(b.1))
                .then(a.2.total_cmp(&b.2))
        });
        for pair in ranked.windows(2) {
            let ((_, key_a, a), (_, key_b, b)) = (pair[0], pair[1]);
            if !approx_le(a, b) {
                add(
                    Severity::Error,
                    format!(
                        "{path}: percentile ordering violated: {key_a}={} > {key_b}={}",
                        float_repr(a),
                        float_repr(b)
                    ),
                );
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(root: &Value, negative_ok: &[&str]) -> Vec<(Severity, String)> {
        distribution_findings("f.json", root, "x.distributions", negative_ok)
            .into_iter()
            .map(|f| (f.severity, f.message))
            .collect()
    }

    #[test]
    fn a_consistent_block_has_no_finding() {
        let root = json!({"a": {"min": 1, "max": 3, "mean": 2.0, "median": 2, "p90": 2.9}});
        assert!(messages(&root, &[]).is_empty());
    }

    #[test]
    fn each_rule_in_python_order_and_format() {
        let root = json!({
            "successes": {"latency": {"ttft": {
                "mean": 5, "min": 2, "median": 1.5, "p90": 1.2, "max": 3,
            }}},
            "load_summary": {"schedule_delay": {"min": -0.001, "max": 0.01}},
            "items": [{"min": 4.0, "max": 3.0}],
        });
        assert_eq!(
            messages(&root, &["schedule_delay"]),
            vec![
                (
                    Severity::Error,
                    "successes.latency.ttft: mean 5 outside [min, max] = [2.0, 3.0]".into()
                ),
                (
                    Severity::Error,
                    "successes.latency.ttft.median: 1.5 outside [min, max] = [2.0, 3.0]".into()
                ),
                (
                    Severity::Error,
                    "successes.latency.ttft.p90: 1.2 outside [min, max] = [2.0, 3.0]".into()
                ),
                (
                    Severity::Error,
                    "successes.latency.ttft: percentile ordering violated: median=1.5 > p90=1.2"
                        .into()
                ),
                (
                    Severity::Warning,
                    "load_summary.schedule_delay: negative minimum -0.001".into()
                ),
                (Severity::Error, "items[0]: min 4.0 > max 3.0".into()),
            ]
        );
        assert_eq!(
            messages(&json!({"d": {"min": -1, "max": 1}}), &[]),
            vec![(Severity::Error, "d: negative minimum -1.0".into())]
        );
    }
}
