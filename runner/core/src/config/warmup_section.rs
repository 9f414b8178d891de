//! Rules of `load.warmup`: one bound (a duration or a request count) that the first stage's
//! load type can use, and a first stage to take the rate from.

use super::error::Issue;
use super::types::{Config, LoadType};

/// The longest warm-up: a typo such as 36000 for 3600 should not hold a server for 10 hours.
const MAX_WARMUP_SECONDS: f64 = 3600.0;

pub(super) fn validate(config: &Config, issues: &mut Vec<Issue>) {
    let load = &config.load;
    let Some(warmup) = &load.warmup else {
        return;
    };
    if load.sweep.is_some() {
        issues.push(Issue::new(
            "load.warmup",
            "not with load.sweep, whose burst and probes come first; remove one",
        ));
    }
    match (warmup.duration, warmup.requests) {
        (Some(_), Some(_)) | (None, None) => issues.push(Issue::new(
            "load.warmup",
            "set exactly one of duration (seconds) or requests",
        )),
        (Some(seconds), None) => {
            if load.load_type == LoadType::Concurrent {
                issues.push(Issue::new(
                    "load.warmup.duration",
                    "a concurrent load is counted in requests; set load.warmup.requests",
                ));
            } else if !(seconds > 0.0 && seconds <= MAX_WARMUP_SECONDS) {
                issues.push(Issue::new(
                    "load.warmup.duration",
                    format!("{seconds} is not a number of seconds from 0 to {MAX_WARMUP_SECONDS}"),
                ));
            }
        }
        (None, Some(requests)) => {
            let rate = load.stages.first().and_then(|s| s.rate).unwrap_or(0.0);
            let too_long = load.load_type != LoadType::Concurrent
                && rate > 0.0
                && requests as f64 / rate > MAX_WARMUP_SECONDS;
            if requests < 1 || too_long {
                issues.push(Issue::new(
                    "load.warmup.requests",
                    format!(
                        "{requests} is not a request count >= 1 that the first stage's rate sends within {MAX_WARMUP_SECONDS} s"
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::config::from_document;

    fn issues(load: serde_json::Value) -> Vec<String> {
        match from_document(json!({"server": {"base_url": "http://127.0.0.1:8000"}, "load": load}))
        {
            Ok(_) => vec![],
            Err(set) => set.issues().iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_warmup_has_one_bound_its_load_type_can_use() {
        let stages = json!([{"rate": 10, "duration": 5}]);
        assert!(issues(json!({"stages": stages, "warmup": {"duration": 2}})).is_empty());
        assert!(issues(json!({"stages": stages, "warmup": {"requests": 20}})).is_empty());
        let cases = [
            (
                json!({"stages": stages, "warmup": {}}),
                "load.warmup: set exactly one",
            ),
            (
                json!({"stages": stages, "warmup": {"duration": 2, "requests": 3}}),
                "load.warmup: set exactly one",
            ),
            (
                json!({"stages": stages, "warmup": {"duration": 0}}),
                "load.warmup.duration: 0 is not",
            ),
            (
                json!({"stages": stages, "warmup": {"requests": 0}}),
                "load.warmup.requests: 0 is not",
            ),
            (
                json!({"stages": stages, "warmup": {"requests": 100000}}),
                "load.warmup.requests: 100000 is not",
            ),
            (
                json!({"type": "concurrent", "stages": [{"num_requests": 10, "concurrency_level": 2}], "warmup": {"duration": 2}}),
                "load.warmup.duration: a concurrent load is counted in requests",
            ),
            (
                json!({"sweep": {"type": "linear"}, "warmup": {"requests": 5}}),
                "load.warmup: not with load.sweep",
            ),
        ];
        for (load, expected) in cases {
            let found = issues(load.clone());
            assert!(
                found.iter().any(|f| f.starts_with(expected)),
                "{load}: {found:?}"
            );
        }
        assert!(issues(json!({"type": "concurrent", "stages": [{"num_requests": 10, "concurrency_level": 2}], "warmup": {"requests": 4}})).is_empty());
    }
}
