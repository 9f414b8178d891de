//! Rules of `load.slo_search`: objectives to search by, a bracket of rates, and probe stages
//! long enough for the objectives' percentiles.

use super::error::Issue;
use super::types::{Config, LoadType, SloStat};

/// Requests a probe needs per request beyond its highest percentile: a p99 from 100 requests
/// is one request's latency; 2 beyond it (200 requests) is the least that means anything.
const BEYOND_PERCENTILE: f64 = 2.0;

pub(super) fn validate(config: &Config, issues: &mut Vec<Issue>) {
    let load = &config.load;
    let Some(search) = &load.slo_search else {
        return;
    };
    let path = |field: &str| format!("load.slo_search.{field}");
    let Some(slo) = &config.report.slo else {
        issues.push(Issue::new(
            "load.slo_search",
            "needs report.slo: the objectives a rate must meet",
        ));
        return;
    };
    for (field, conflict) in [
        ("stages", !load.stages.is_empty()),
        ("sweep", load.sweep.is_some()),
        ("warmup", load.warmup.is_some()),
    ] {
        if conflict {
            issues.push(Issue::new(
                format!("load.{field}"),
                "not with load.slo_search, which generates its own stages; remove one",
            ));
        }
    }
    if !matches!(load.load_type, LoadType::Constant | LoadType::Poisson) {
        issues.push(Issue::new(
            "load.slo_search",
            "only with load.type constant or poisson",
        ));
    }
    if !(search.min_rate > 0.0 && search.min_rate.is_finite()) {
        issues.push(Issue::new(path("min_rate"), "must be a rate > 0"));
    }
    if !(search.max_rate > search.min_rate && search.max_rate.is_finite()) {
        issues.push(Issue::new(
            path("max_rate"),
            "must be a rate above min_rate",
        ));
    }
    if !(2..=32).contains(&search.max_probes) {
        issues.push(Issue::new(path("max_probes"), "must be from 2 to 32"));
    }
    if !(search.tolerance > 0.0 && search.tolerance < 1.0) {
        issues.push(Issue::new(path("tolerance"), "must be between 0 and 1"));
    }
    let highest = slo
        .thresholds
        .iter()
        .filter_map(|t| match t.stat.as_deref().and_then(SloStat::parse) {
            Some(SloStat::Percentile(p)) => Some(p),
            _ => None,
        })
        .fold(50.0, f64::max);
    let needed = (BEYOND_PERCENTILE / (1.0 - highest / 100.0)).ceil();
    let sent = search.min_rate * search.stage_duration;
    if !(search.stage_duration >= 1.0 && sent >= needed) {
        issues.push(Issue::new(
            path("stage_duration"),
            format!(
                "{} s at min_rate {} sends {sent:.0} requests; the p{highest} of the objectives needs at least {needed:.0}: make it at least {:.0} s",
                search.stage_duration,
                search.min_rate,
                (needed / search.min_rate).ceil().max(1.0)
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::config::from_document;

    fn issues(load: serde_json::Value, slo: bool) -> Vec<String> {
        let mut doc = json!({"server": {"base_url": "http://127.0.0.1:8000"}, "load": load});
        if slo {
            doc["report"] = json!({"slo": {"thresholds": [{"metric": "time_to_first_token", "stat": "p99", "max": 0.5}]}});
        }
        match from_document(doc) {
            Ok(_) => vec![],
            Err(set) => set.issues().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_search_needs_objectives_a_bracket_and_long_enough_probes() {
        let search = json!({"min_rate": 20, "max_rate": 200, "stage_duration": 10});
        assert_eq!(
            issues(json!({"slo_search": search}), true),
            Vec::<String>::new()
        );
        assert_eq!(
            issues(json!({"slo_search": search}), false),
            ["load.slo_search: needs report.slo: the objectives a rate must meet"]
        );
        let short = json!({"slo_search": {"min_rate": 20, "max_rate": 200, "stage_duration": 5}});
        assert_eq!(
            issues(short, true),
            [
                "load.slo_search.stage_duration: 5 s at min_rate 20 sends 100 requests; the p99 of the objectives needs at least 200: make it at least 10 s"
            ]
        );
        let found = issues(
            json!({"type": "concurrent", "stages": [{"num_requests": 1, "concurrency_level": 1}],
                   "slo_search": {"min_rate": 30, "max_rate": 20, "stage_duration": 10, "max_probes": 1, "tolerance": 0}}),
            true,
        );
        for expected in [
            "load.stages: not with load.slo_search",
            "load.slo_search: only with load.type constant or poisson",
            "load.slo_search.max_rate: must be a rate above min_rate",
            "load.slo_search.max_probes: must be from 2 to 32",
            "load.slo_search.tolerance: must be between 0 and 1",
        ] {
            assert!(
                found.iter().any(|f| f.starts_with(expected)),
                "{expected}: {found:#?}"
            );
        }
    }
}
