//! inference-perf's circuit breakers: each finished request's record, in inference-perf's
//! shape ([`peer_record`]), is matched by the breakers' JMESPath expressions, and their
//! triggers decide whether the hits say the server is broken. Pure: the engine feeds records
//! and acts on a trip.

mod record;
mod trigger;

use jmespath::{Expression, Rcvar, Variable};

use crate::config::{CircuitBreakerConfig, Config};
use trigger::Trigger;

pub use record::peer_record;

#[derive(Debug, thiserror::Error)]
pub enum BreakerError {
    #[error("{path}: not a JMESPath expression: {source}")]
    Expression {
        path: String,
        source: Box<jmespath::JmespathError>,
    },
    #[error(
        "load.circuit_breakers: no breaker named {0:?} in circuit_breakers; define it there or remove it"
    )]
    Unknown(String),
}

/// The breakers a run enables (`load.circuit_breakers`), in that order.
pub struct Breakers {
    breakers: Vec<Breaker>,
}

struct Breaker {
    name: String,
    matches: Vec<Expression<'static>>,
    rules: Vec<Expression<'static>>,
    triggers: Vec<Trigger>,
    open: bool,
}

impl Breakers {
    /// `None` when the run enables no breaker.
    pub fn enabled(config: &Config) -> Result<Option<Breakers>, BreakerError> {
        if config.load.circuit_breakers.is_empty() {
            return Ok(None);
        }
        let breakers = config
            .load
            .circuit_breakers
            .iter()
            .map(|name| {
                let (i, breaker) = config
                    .circuit_breakers
                    .iter()
                    .enumerate()
                    .find(|(_, b)| &b.name == name)
                    .ok_or_else(|| BreakerError::Unknown(name.clone()))?;
                Breaker::compile(i, breaker)
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(Breakers { breakers }))
    }

    /// Feeds one finished request's record, at Unix time `now`: the name of the first enabled
    /// breaker that is open afterwards (open breakers stay open).
    pub fn feed(&mut self, record: serde_json::Value, now: f64) -> Option<&str> {
        let data = Rcvar::new(Variable::try_from(record).ok()?);
        for breaker in &mut self.breakers {
            breaker.feed(&data, now);
        }
        self.breakers
            .iter()
            .find(|b| b.open)
            .map(|b| b.name.as_str())
    }
}

impl Breaker {
    fn compile(index: usize, config: &CircuitBreakerConfig) -> Result<Self, BreakerError> {
        let compile = |list: &str, expressions: &[String]| {
            expressions
                .iter()
                .enumerate()
                .map(|(j, e)| {
                    jmespath::compile(e).map_err(|source| BreakerError::Expression {
                        path: format!("circuit_breakers[{index}].metrics.{list}[{j}]"),
                        source: Box::new(source),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Breaker {
            name: config.name.clone(),
            matches: compile("matches", &config.metrics.matches)?,
            rules: compile("rules", &config.metrics.rules)?,
            triggers: config.triggers.iter().map(Trigger::new).collect(),
            open: false,
        })
    }

    /// A watched record (any `matches` true) is a hit when any rule is true, or there are
    /// none; every trigger sees it.
    fn feed(&mut self, data: &Rcvar, now: f64) {
        if !any_true(&self.matches, data) {
            return;
        }
        let hit = self.rules.is_empty() || any_true(&self.rules, data);
        for trigger in &mut self.triggers {
            if trigger.update(hit, now) {
                self.open = true;
            }
        }
    }
}

/// inference-perf evaluates with Python's `bool()` of the result and takes an expression that
/// fails at run time (e.g. comparing a string with `<`) as false.
fn any_true(expressions: &[Expression<'static>], data: &Rcvar) -> bool {
    expressions
        .iter()
        .any(|e| e.search(data).is_ok_and(|result| python_truthy(&result)))
}

/// Python's truth: unlike JMESPath's own, a zero is false.
fn python_truthy(value: &Variable) -> bool {
    match value {
        Variable::Null => false,
        Variable::Bool(b) => *b,
        Variable::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Variable::String(s) => !s.is_empty(),
        Variable::Array(a) => !a.is_empty(),
        Variable::Object(o) => !o.is_empty(),
        Variable::Expref(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::from_document;

    fn breakers(breakers: serde_json::Value, enabled: &[&str]) -> Breakers {
        let config = from_document(json!({
            "server": {"base_url": "http://127.0.0.1:8000"},
            "load": {"stages": [{"rate": 2, "duration": 1}], "circuit_breakers": enabled},
            "circuit_breakers": breakers,
        }))
        .expect("valid");
        Breakers::enabled(&config).unwrap().expect("enabled")
    }

    fn timeout() -> serde_json::Value {
        json!({"stage_id": 0, "error": {"error_type": "TimeoutError", "error_msg": "Request timed out"}})
    }

    fn success(output_tokens: u64) -> serde_json::Value {
        json!({"stage_id": 0, "info": {"response_metrics": {"output_tokens": output_tokens}}})
    }

    #[test]
    fn consecutive_trips_on_the_nth_hit_in_a_row_and_stays_open() {
        let mut set = breakers(
            json!([{"name": "timeouts", "metrics": {"matches": ["error"], "rules": ["error.error_type == 'TimeoutError'"]},
                    "triggers": [{"type": "consecutive", "threshold": 3}]}]),
            &["timeouts"],
        );
        assert_eq!(set.feed(timeout(), 1.0), None);
        assert_eq!(set.feed(timeout(), 2.0), None);
        // A success is not watched (no error): the run of hits goes on.
        assert_eq!(set.feed(success(10), 2.5), None);
        // A watched miss (another error) resets it.
        let http = json!({"error": {"error_type": "HTTP Error 500", "error_msg": "x"}});
        assert_eq!(set.feed(http, 3.0), None);
        assert_eq!(set.feed(timeout(), 4.0), None);
        assert_eq!(set.feed(timeout(), 5.0), None);
        assert_eq!(set.feed(timeout(), 6.0), Some("timeouts"));
        assert_eq!(set.feed(success(10), 7.0), Some("timeouts"), "stays open");
    }

    #[test]
    fn rate_over_window_waits_for_min_samples_and_forgets_old_records() {
        let mut set = breakers(
            json!([{"name": "errors", "metrics": {"matches": ["`true`"], "rules": ["error"]},
                    "triggers": [{"type": "rate_over_window", "window_sec": 10, "threshold": 0.5, "min_samples": 4}]}]),
            &["errors"],
        );
        // Three failures: a rate of 1, but fewer than 4 samples.
        for t in 0..3 {
            assert_eq!(set.feed(timeout(), f64::from(t)), None);
        }
        // Long after: the old failures left the window; 1 of 4 is under 0.5.
        for t in 20..23 {
            assert_eq!(set.feed(success(5), f64::from(t)), None);
        }
        assert_eq!(set.feed(timeout(), 23.0), None);
        // 2 of 5 (20..24): 0.4; 3 of 6: 0.5 trips.
        assert_eq!(set.feed(timeout(), 24.0), None);
        assert_eq!(set.feed(timeout(), 25.0), Some("errors"));
    }

    #[test]
    fn expressions_are_judged_as_python_judges_them() {
        let mut set = breakers(
            json!([{"name": "empty", "metrics": {"matches": ["info.response_metrics.output_tokens"]},
                    "triggers": [{"type": "consecutive", "threshold": 1}]},
                   {"name": "broken", "metrics": {"matches": ["error.error_type < `3`"]},
                    "triggers": [{"type": "consecutive", "threshold": 1}]}]),
            &["broken", "empty"],
        );
        // Zero output tokens is false in Python (true in JMESPath); a comparison of a string
        // with `<` is false (an error in Python, null here), never a hit.
        assert_eq!(set.feed(success(0), 1.0), None);
        assert_eq!(set.feed(timeout(), 2.0), None);
        assert_eq!(set.feed(success(1), 3.0), Some("empty"));
    }

    #[test]
    fn only_enabled_breakers_are_built_in_their_order() {
        let config = from_document(json!({
            "server": {"base_url": "http://127.0.0.1:8000"},
            "load": {"stages": [{"rate": 2, "duration": 1}]},
            "circuit_breakers": [{"name": "a", "metrics": {"matches": ["error"]}, "triggers": []}],
        }))
        .unwrap();
        assert!(Breakers::enabled(&config).unwrap().is_none());
    }
}
