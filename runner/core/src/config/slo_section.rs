//! Rules of `report.slo`: every threshold names what it bounds, in a unit it can be met in.

use super::error::Issue;
use super::types::{Config, SloMetric, SloStat};

pub(super) fn validate(config: &Config, issues: &mut Vec<Issue>) {
    let Some(slo) = &config.report.slo else {
        return;
    };
    if slo.thresholds.is_empty() {
        issues.push(Issue::new(
            "report.slo.thresholds",
            "list at least one threshold, e.g. {metric: time_to_first_token, stat: p99, max: 0.5}",
        ));
    }
    for (i, threshold) in slo.thresholds.iter().enumerate() {
        let path = format!("report.slo.thresholds[{i}]");
        let metric = threshold.metric;
        match (&threshold.stat, metric.is_distribution()) {
            (None, true) => issues.push(Issue::new(
                format!("{path}.stat"),
                "required for a distribution: mean, median or a percentile such as p99",
            )),
            (Some(stat), true) if SloStat::parse(stat).is_none() => issues.push(Issue::new(
                format!("{path}.stat"),
                format!("{stat:?} is not mean, median or p<percentile> (0 < percentile <= 100)"),
            )),
            (Some(_), false) => issues.push(Issue::new(
                format!("{path}.stat"),
                "only for a latency distribution; remove it",
            )),
            _ => {}
        }
        match (threshold.min, threshold.max) {
            (None, None) => issues.push(Issue::new(
                path.clone(),
                "set max, min or both: the bound the metric must stay within",
            )),
            (Some(min), Some(max)) if min > max => issues.push(Issue::new(
                path.clone(),
                format!("min {min} is above max {max}: no value can meet it"),
            )),
            _ => {}
        }
        for (key, bound) in [("min", threshold.min), ("max", threshold.max)] {
            if bound.is_some_and(|b| !b.is_finite() || b < 0.0) {
                issues.push(Issue::new(
                    format!("{path}.{key}"),
                    "must be a finite number >= 0",
                ));
            }
        }
        if metric == SloMetric::GoodputRatio && config.report.goodput.is_none() {
            issues.push(Issue::new(
                format!("{path}.metric"),
                "goodput_ratio needs report.goodput.constraints (what a good request is)",
            ));
        }
    }
}
