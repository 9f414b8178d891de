//! Rules of `circuit_breakers` and `load.circuit_breakers`: unique names, expressions that
//! compile, triggers with the fields their type needs, and only defined breakers enabled.

use std::collections::HashSet;

use super::error::Issue;
use super::types::{BreakerTrigger, BreakerTriggerKind, Config};

pub(super) fn validate(config: &Config, issues: &mut Vec<Issue>) {
    let mut names = HashSet::new();
    for (i, breaker) in config.circuit_breakers.iter().enumerate() {
        let path = format!("circuit_breakers[{i}]");
        if breaker.name.trim().is_empty() {
            issues.push(Issue::new(
                format!("{path}.name"),
                "name the breaker, to enable it in load.circuit_breakers",
            ));
        } else if !names.insert(breaker.name.as_str()) {
            issues.push(Issue::new(
                format!("{path}.name"),
                format!(
                    "{:?} names another breaker too; names must be unique",
                    breaker.name
                ),
            ));
        }
        if breaker.metrics.matches.is_empty() {
            issues.push(Issue::new(
                format!("{path}.metrics.matches"),
                "list at least one JMESPath expression selecting the records to watch, e.g. error",
            ));
        }
        for (list, expressions) in [
            ("matches", &breaker.metrics.matches),
            ("rules", &breaker.metrics.rules),
        ] {
            for (j, expression) in expressions.iter().enumerate() {
                if let Err(e) = jmespath::compile(expression) {
                    issues.push(Issue::new(
                        format!("{path}.metrics.{list}[{j}]"),
                        format!("not a JMESPath expression: {e}"),
                    ));
                }
            }
        }
        for (j, trigger) in breaker.triggers.iter().enumerate() {
            trigger_rules(trigger, &format!("{path}.triggers[{j}]"), issues);
        }
    }
    for (i, name) in config.load.circuit_breakers.iter().enumerate() {
        if !names.contains(name.as_str()) {
            let defined: Vec<&str> = config
                .circuit_breakers
                .iter()
                .map(|b| b.name.as_str())
                .collect();
            issues.push(Issue::new(
                format!("load.circuit_breakers[{i}]"),
                format!(
                    "no breaker named {name:?} in circuit_breakers (defined: {defined:?}); define it there or remove it"
                ),
            ));
        }
    }
}

fn trigger_rules(trigger: &BreakerTrigger, path: &str, issues: &mut Vec<Issue>) {
    let threshold = trigger.threshold;
    match trigger.kind {
        BreakerTriggerKind::Consecutive => {
            if !(threshold >= 1.0 && threshold.fract() == 0.0 && threshold <= 1e9) {
                issues.push(Issue::new(
                    format!("{path}.threshold"),
                    format!("{threshold} is not a whole number of consecutive hits >= 1"),
                ));
            }
            for (key, set) in [
                ("window_sec", trigger.window_sec.is_some()),
                ("min_samples", trigger.min_samples.is_some()),
            ] {
                if set {
                    issues.push(Issue::new(
                        format!("{path}.{key}"),
                        "only for type rate_over_window; remove it",
                    ));
                }
            }
        }
        BreakerTriggerKind::RateOverWindow => {
            if !(0.0..=1.0).contains(&threshold) {
                issues.push(Issue::new(
                    format!("{path}.threshold"),
                    format!("{threshold} is not a hit rate from 0 to 1"),
                ));
            }
            match trigger.window_sec {
                None => issues.push(Issue::new(
                    format!("{path}.window_sec"),
                    "required for rate_over_window: the seconds of records the rate is taken over",
                )),
                Some(w) if !(w > 0.0 && w.is_finite()) => issues.push(Issue::new(
                    format!("{path}.window_sec"),
                    format!("{w} is not a number of seconds > 0"),
                )),
                Some(_) => {}
            }
            if trigger.min_samples.is_some_and(|m| m < 0) {
                issues.push(Issue::new(format!("{path}.min_samples"), "must be >= 0"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::config::from_document;

    fn issues(document: serde_json::Value) -> Vec<String> {
        match from_document(document) {
            Ok(_) => vec![],
            Err(set) => set.issues().iter().map(ToString::to_string).collect(),
        }
    }

    fn with_breakers(breakers: serde_json::Value, enabled: serde_json::Value) -> serde_json::Value {
        json!({
            "server": {"base_url": "http://127.0.0.1:8000"},
            "load": {"stages": [{"rate": 2, "duration": 1}], "circuit_breakers": enabled},
            "circuit_breakers": breakers,
        })
    }

    #[test]
    fn inference_perf_breakers_are_accepted() {
        let found = issues(with_breakers(
            json!([
                {"name": "timeouts", "metrics": {"matches": ["error"], "rules": ["error.error_type == 'TimeoutError'"]},
                 "triggers": [{"type": "consecutive", "threshold": 10}]},
                {"name": "errors", "metrics": {"matches": ["`true`"], "rules": ["error"]},
                 "triggers": [{"type": "rate_over_window", "window_sec": 5, "threshold": 0.5, "min_samples": 20}]},
            ]),
            json!(["timeouts", "errors"]),
        ));
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn every_mistake_names_its_field() {
        let found = issues(with_breakers(
            json!([
                {"name": "a", "metrics": {"matches": []}, "triggers": [{"type": "consecutive", "threshold": 2.5, "window_sec": 1}]},
                {"name": "a", "metrics": {"matches": ["error.["], "rules": ["foo =="]},
                 "triggers": [{"type": "rate_over_window", "threshold": 2}]},
            ]),
            json!(["a", "nope"]),
        ));
        let starts = [
            "circuit_breakers[0].metrics.matches: list at least one",
            "circuit_breakers[0].triggers[0].threshold: 2.5 is not a whole number",
            "circuit_breakers[0].triggers[0].window_sec: only for type rate_over_window",
            "circuit_breakers[1].name: \"a\" names another breaker too",
            "circuit_breakers[1].metrics.matches[0]: not a JMESPath expression",
            "circuit_breakers[1].metrics.rules[0]: not a JMESPath expression",
            "circuit_breakers[1].triggers[0].threshold: 2 is not a hit rate from 0 to 1",
            "circuit_breakers[1].triggers[0].window_sec: required for rate_over_window",
            "load.circuit_breakers[1]: no breaker named \"nope\" in circuit_breakers (defined: [\"a\", \"a\"])",
        ];
        for start in starts {
            assert!(
                found.iter().any(|f| f.starts_with(start)),
                "{start:?} not in {found:#?}"
            );
        }
        assert_eq!(found.len(), starts.len(), "{found:#?}");
    }

    #[test]
    fn an_unknown_trigger_type_is_refused() {
        let found = issues(with_breakers(
            json!([{"name": "a", "metrics": {"matches": ["error"]}, "triggers": [{"type": "sometimes", "threshold": 1}]}]),
            json!(["a"]),
        ));
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("circuit_breakers[0].triggers[0].type")),
            "{found:?}"
        );
    }
}
