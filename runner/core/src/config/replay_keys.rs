//! The keys inference-perf 0.7.0's `SessionReplayConfig` gives every session data type
//! (`otel_trace_replay`, `weka_trace_replay`, `synthetic_agentic`) for which model a call asks
//! and how long it waits for the calls before it, with their rules.

use std::collections::BTreeMap;

use super::error::Issue;

/// inference-perf's default limit on waiting for predecessors: an hour.
pub(super) fn default_predecessor_wait_timeout_sec() -> f64 {
    3600.0
}

/// A session data section's model and predecessor-wait keys.
#[derive(Debug, Clone, Copy)]
pub struct ReplayKeys<'a> {
    pub use_static_model: bool,
    pub static_model_name: &'a str,
    pub model_mapping: Option<&'a BTreeMap<String, String>>,
    pub predecessor_wait_timeout_sec: f64,
}

/// Gives a session data section (with the four keys) its `replay_keys()`.
macro_rules! impl_replay_keys {
    ($config:ty) => {
        impl $config {
            /// Its model and predecessor-wait keys.
            pub fn replay_keys(&self) -> super::replay_keys::ReplayKeys<'_> {
                super::replay_keys::ReplayKeys {
                    use_static_model: self.use_static_model,
                    static_model_name: &self.static_model_name,
                    model_mapping: self.model_mapping.as_ref(),
                    predecessor_wait_timeout_sec: self.predecessor_wait_timeout_sec,
                }
            }
        }
    };
}
pub(super) use impl_replay_keys;

/// inference-perf's two rules on the model keys (its `validate_static_model`), its range of
/// the wait, and ours: a mapped or static name is a model a server can serve, not empty.
pub(super) fn validate(section: &str, keys: ReplayKeys, issues: &mut Vec<Issue>) {
    let at = |field: &str| format!("{section}.{field}");
    let mapping = keys.model_mapping.filter(|m| !m.is_empty());
    if keys.use_static_model && keys.static_model_name.is_empty() {
        issues.push(Issue::new(
            at("static_model_name"),
            "is required when use_static_model is true: name the model every call asks",
        ));
    }
    if !keys.use_static_model && !keys.static_model_name.is_empty() && mapping.is_none() {
        issues.push(Issue::new(
            at("static_model_name"),
            "is set but use_static_model is false (inference-perf requires use_static_model: \
             true or a model_mapping); set use_static_model: true, or remove static_model_name",
        ));
    }
    for (recorded, target) in keys.model_mapping.into_iter().flatten() {
        if target.trim().is_empty() {
            issues.push(Issue::new(
                format!("{}.{recorded}", at("model_mapping")),
                "maps to an empty model name; give the model its calls ask",
            ));
        }
    }
    let wait = keys.predecessor_wait_timeout_sec;
    if !wait.is_finite() || wait < 0.0 {
        issues.push(Issue::new(
            at("predecessor_wait_timeout_sec"),
            format!("must be >= 0 seconds (0: wait as long as it takes), got {wait}"),
        ));
    }
}
