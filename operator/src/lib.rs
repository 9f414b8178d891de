//! `ibench-operator`: runs `InferenceBenchmark` resources as Indexed Jobs of `ibench agent`
//! runners and reports their merged results in the resource's status and a report ConfigMap.
//!
//! Reconcile = [`observe`] (watch caches) → [`plan`] (pure: [`validate`], [`desired`] objects,
//! [`status`]) → [`apply`] (server-side apply with one field manager). [`controller`] wires
//! it to the watches ([`triggers`]: which changes call for a reconcile); [`upload`] sends finished reports to object storage; [`telemetry`] serves
//! `/metrics`, `/healthz` and `/readyz`.

pub mod apply;
pub mod controller;
pub mod crd;
pub mod desired;
pub mod naming;
pub mod observe;
pub mod plan;
pub mod status;
pub mod telemetry;
pub mod triggers;
pub mod upload;
pub mod validate;

#[cfg(test)]
mod test_support;

use std::time::Duration;

/// Operator-wide settings (command-line flags).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Runner image when a benchmark names none.
    pub runner_image: String,
    /// Runner pod resources when a benchmark names none (`spec.runners.resources`).
    pub runner_resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
    /// Seconds between a runner's progress updates, at least (see [`Settings::progress_interval`]).
    pub progress_seconds: f64,
    /// Progress writes a second that all runners of a run make together, at most.
    pub progress_writes_per_second: f64,
    /// Least time between two status writes that only update progress.
    pub status_interval: Duration,
    /// Time from the last runner being ready to the start of stage 0 (plus 5 ms per runner),
    /// so that every runner has the start time before it comes.
    pub start_lead: Duration,
    /// How long results may lag behind a completed Job before the run fails for want of them.
    pub results_grace: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            runner_image: format!(
                "ghcr.io/inference-bench/ibench:{}",
                env!("CARGO_PKG_VERSION")
            ),
            runner_resources: None,
            progress_seconds: 5.0,
            progress_writes_per_second: 5.0,
            status_interval: Duration::from_secs(5),
            start_lead: Duration::from_secs(2),
            results_grace: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// Seconds between the progress updates of each of `runners` runners: the configured
    /// interval, stretched so that the run's runners together write at most
    /// `progress_writes_per_second` (every write is a write to etcd and an event to every
    /// watcher of ConfigMaps, the operator included). The runners stagger their writes over the
    /// interval (see [`ibench_core::protocol::ENV_PROGRESS_SECONDS`]).
    pub fn progress_interval(&self, runners: u32) -> f64 {
        self.progress_seconds
            .max(f64::from(runners) / self.progress_writes_per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_writes_stay_within_the_budget_at_any_parallelism() {
        let settings = Settings::default();
        assert_eq!(settings.progress_interval(1), 5.0);
        assert_eq!(settings.progress_interval(25), 5.0);
        assert_eq!(settings.progress_interval(100), 20.0);
        assert_eq!(settings.progress_interval(1000), 200.0);
        for runners in [1, 7, 26, 100, 333, 1000] {
            let rate = f64::from(runners) / settings.progress_interval(runners);
            assert!(
                rate <= settings.progress_writes_per_second,
                "{runners}: {rate}/s"
            );
        }
    }
}
