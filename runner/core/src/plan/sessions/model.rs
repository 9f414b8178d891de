//! Which model a session's call asks, and how long it waits for the calls before it: the
//! session data types' `use_static_model`, `static_model_name`, `model_mapping` and
//! `predecessor_wait_timeout_sec`.
//!
//! inference-perf 0.7.0 works out a model per call (Weka only: the static name, else the
//! mapped one, else the recorded one) and then sends `server.model_name` whatever it is; here
//! the keys do what they say. A call whose recorded model is not mapped asks
//! `server.model_name`, which is what inference-perf sends for it, so that a partial mapping
//! never sends a recorded name the server may not serve.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ReplayKeys;

/// The models calls ask, each name allocated once and shared by every call asking it.
#[derive(Debug, Clone)]
pub(super) struct Models {
    every: Option<Arc<str>>,
    mapped: BTreeMap<String, Arc<str>>,
}

impl Models {
    /// No model chosen: every call asks `server.model_name`.
    #[cfg(test)]
    pub(super) const NONE: Models = Models {
        every: None,
        mapped: BTreeMap::new(),
    };

    pub(super) fn new(keys: ReplayKeys) -> Self {
        if keys.use_static_model {
            return Models {
                every: Some(keys.static_model_name.into()),
                mapped: BTreeMap::new(),
            };
        }
        let mapped = keys
            .model_mapping
            .into_iter()
            .flatten()
            .map(|(recorded, target)| (recorded.clone(), Arc::from(target.as_str())))
            .collect();
        Models {
            every: None,
            mapped,
        }
    }

    /// The model of a call recorded as asking `recorded`; `None`: `server.model_name`.
    pub(super) fn of(&self, recorded: &str) -> Option<Arc<str>> {
        self.every
            .clone()
            .or_else(|| self.mapped.get(recorded).cloned())
    }
}

/// How long a call waits for its predecessors; `None` (`0`): as long as it takes.
pub(super) fn predecessor_wait(keys: ReplayKeys) -> Option<Duration> {
    let seconds = keys.predecessor_wait_timeout_sec;
    (seconds > 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'a>(
        use_static_model: bool,
        static_model_name: &'a str,
        mapping: Option<&'a BTreeMap<String, String>>,
    ) -> ReplayKeys<'a> {
        ReplayKeys {
            use_static_model,
            static_model_name,
            model_mapping: mapping,
            predecessor_wait_timeout_sec: 0.0,
        }
    }

    #[test]
    fn a_static_model_wins_then_the_mapping_then_the_server_model() {
        let mapping = BTreeMap::from([("gpt-4".to_string(), "llama".to_string())]);
        let fixed = Models::new(keys(true, "static", Some(&mapping)));
        assert_eq!(fixed.of("gpt-4").as_deref(), Some("static"));
        assert_eq!(fixed.of("other").as_deref(), Some("static"));
        let mapped = Models::new(keys(false, "", Some(&mapping)));
        assert_eq!(mapped.of("gpt-4").as_deref(), Some("llama"));
        assert_eq!(mapped.of("other"), None, "unmapped: server.model_name");
        assert_eq!(Models::new(keys(false, "", None)).of("gpt-4"), None);
        // One allocation per name, shared by its calls.
        let (a, b) = (mapped.of("gpt-4").unwrap(), mapped.of("gpt-4").unwrap());
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn a_zero_wait_has_no_limit() {
        let mut k = keys(false, "", None);
        assert_eq!(predecessor_wait(k), None);
        k.predecessor_wait_timeout_sec = 2.5;
        assert_eq!(predecessor_wait(k), Some(Duration::from_millis(2500)));
    }
}
