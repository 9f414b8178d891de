//! Which changes of a run's ConfigMaps call for a reconcile.

use std::hash::{DefaultHasher, Hash, Hasher};

use ibench_core::protocol;
use k8s_openapi::api::core::v1::ConfigMap;

/// A ConfigMap's contents without a runner's progress, hashed: a change of anything else
/// (ready, results, a breaker trip, the start signal) triggers a reconcile, progress alone does
/// not. Progress writes arrive steadily, up to `--progress-writes-per-second`, and every trigger
/// restarts the controller's debounce: as triggers they postpone every reconcile until they
/// stop (100 runners' status showed no progress through a whole 30 s stage). An active run's
/// requeue reads progress from the cache instead, once per status interval.
pub fn without_progress(cm: &ConfigMap) -> Option<u64> {
    let mut hasher = DefaultHasher::new();
    cm.data
        .iter()
        .flatten()
        .filter(|(key, _)| key.as_str() != protocol::PROGRESS_KEY)
        .for_each(|entry| entry.hash(&mut hasher));
    cm.binary_data
        .iter()
        .flatten()
        .for_each(|(key, value)| (key, &value.0).hash(&mut hasher));
    Some(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn config_map(entries: &[(&str, &str)]) -> ConfigMap {
        ConfigMap {
            data: Some(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn progress_alone_is_no_trigger_but_any_other_change_is() {
        let ready = config_map(&[
            (protocol::STATE_KEY, "ready"),
            (protocol::PROGRESS_KEY, r#"{"sent":1}"#),
        ]);
        let later = config_map(&[
            (protocol::STATE_KEY, "ready"),
            (protocol::PROGRESS_KEY, r#"{"sent":9}"#),
        ]);
        assert_eq!(without_progress(&ready), without_progress(&later));
        let done = config_map(&[
            (protocol::STATE_KEY, "done"),
            (protocol::PROGRESS_KEY, r#"{"sent":9}"#),
        ]);
        assert_ne!(without_progress(&later), without_progress(&done));
        let mut with_metrics = done.clone();
        with_metrics.binary_data =
            Some([(protocol::METRICS_KEY.to_string(), ByteString(vec![1]))].into());
        assert_ne!(without_progress(&done), without_progress(&with_metrics));
    }
}
