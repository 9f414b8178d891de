//! Pure builders of the objects a run needs. Every object carries the benchmark as its
//! controlling owner (deleted with it) and deterministic name and labels, and is applied with
//! server-side apply, so building it again and applying it again changes nothing.

mod job;
mod owner;
mod rbac;
mod report;

use std::collections::BTreeMap;

use ibench_core::metrics::BreakerTrip;
use ibench_core::protocol::{self, StartSignal};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};

pub use job::{CONTAINER, job};
pub use owner::Owner;
pub use rbac::{role, role_binding, service_account};
pub use report::{MAX_REPORT_BYTES, RunReport, report_files, report_map};

use crate::naming::{Component, RunNames};
use crate::validate::RunSpec;

/// One object to apply.
// A run has a handful of these (plus one small ConfigMap per runner), built once per reconcile:
// boxing the Job would save nothing worth the indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Child {
    ServiceAccount(ServiceAccount),
    Role(Role),
    RoleBinding(RoleBinding),
    ConfigMap(ConfigMap),
    Job(Job),
}

impl Child {
    pub fn kind(&self) -> &'static str {
        match self {
            Child::ServiceAccount(_) => "ServiceAccount",
            Child::Role(_) => "Role",
            Child::RoleBinding(_) => "RoleBinding",
            Child::ConfigMap(_) => "ConfigMap",
            Child::Job(_) => "Job",
        }
    }

    pub fn name(&self) -> &str {
        let meta = match self {
            Child::ServiceAccount(o) => &o.metadata,
            Child::Role(o) => &o.metadata,
            Child::RoleBinding(o) => &o.metadata,
            Child::ConfigMap(o) => &o.metadata,
            Child::Job(o) => &o.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }

    /// When to apply this object: every object of a step exists before the next step starts.
    /// The API server resolves a RoleBinding's Role to check that its creator holds what the
    /// Role grants (RBAC escalation prevention), so a binding sent alongside its Role may
    /// be refused with NotFound; a Job's pods need everything else.
    pub fn apply_step(&self) -> usize {
        match self {
            Child::ServiceAccount(_) | Child::Role(_) | Child::ConfigMap(_) => 0,
            Child::RoleBinding(_) => 1,
            Child::Job(_) => 2,
        }
    }
}

/// Everything a run needs before its pods start, the Job last: its pods need the others.
pub fn run_objects(owner: &Owner, run: &RunSpec, progress_seconds: f64) -> Vec<Child> {
    let mut children = vec![
        Child::ServiceAccount(service_account(owner, run)),
        Child::Role(role(owner, run)),
        Child::RoleBinding(role_binding(owner, run)),
        Child::ConfigMap(config_map(owner, run, None, None)),
    ];
    children.extend(
        (0..run.parallelism)
            .map(|index| Child::ConfigMap(result_map(owner, &run.names, run.generation, index))),
    );
    children.push(Child::Job(job(owner, run, progress_seconds)));
    children
}

/// The runners' config, with the start signal once there is one.
pub fn config_map(
    owner: &Owner,
    run: &RunSpec,
    signal: Option<&StartSignal>,
    stop: Option<&BreakerTrip>,
) -> ConfigMap {
    let mut data = BTreeMap::from([(protocol::CONFIG_KEY.to_string(), run.config_yaml.clone())]);
    if let Some(trip) = stop {
        data.insert(
            protocol::STOP_KEY.to_string(),
            serde_json::to_string(trip).expect("a trip serialises"),
        );
    }
    match signal {
        Some(StartSignal::StartAt(at)) => {
            data.insert(
                protocol::START_AT_KEY.to_string(),
                protocol::format_start_at(*at),
            );
        }
        Some(StartSignal::Abort(reason)) => {
            data.insert(protocol::ABORT_KEY.to_string(), reason.clone());
        }
        None => {}
    }
    ConfigMap {
        metadata: owner.child_meta(
            run.names.config_map(),
            Some(run.generation),
            Component::RunConfig,
        ),
        data: Some(data),
        ..Default::default()
    }
}

/// A runner's result ConfigMap, empty: the operator owns its metadata, the runner its data.
pub fn result_map(owner: &Owner, names: &RunNames, generation: i64, index: u32) -> ConfigMap {
    ConfigMap {
        metadata: owner.child_meta(
            names.result_map(index),
            Some(generation),
            Component::RunnerResults,
        ),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming;
    use crate::test_support::{owner, run_spec};

    #[test]
    fn bindings_are_applied_after_their_roles_and_jobs_after_everything() {
        let children = run_objects(&owner(), &run_spec(3), 5.0);
        let step_of = |kind: &str| -> Vec<usize> {
            children
                .iter()
                .filter(|c| c.kind() == kind)
                .map(Child::apply_step)
                .collect()
        };
        let (roles, bindings, jobs) = (step_of("Role"), step_of("RoleBinding"), step_of("Job"));
        assert!(!roles.is_empty() && !bindings.is_empty() && !jobs.is_empty());
        assert!(bindings.iter().all(|b| roles.iter().all(|r| r < b)));
        for child in children.iter().filter(|c| c.kind() != "Job") {
            assert!(
                jobs.iter().all(|j| child.apply_step() < *j),
                "{} must exist before the Job's pods start",
                child.kind()
            );
        }
    }

    #[test]
    fn run_objects_come_in_dependency_order_and_are_owned() {
        let owner = owner();
        let run = run_spec(3);
        let children = run_objects(&owner, &run, 5.0);
        let kinds: Vec<&str> = children.iter().map(Child::kind).collect();
        assert_eq!(
            kinds,
            [
                "ServiceAccount",
                "Role",
                "RoleBinding",
                "ConfigMap",
                "ConfigMap",
                "ConfigMap",
                "ConfigMap",
                "Job"
            ]
        );
        let names: Vec<&str> = children.iter().map(Child::name).collect();
        assert_eq!(
            names,
            [
                "bench-g1-runner",
                "bench-g1-runner",
                "bench-g1-runner",
                "bench-g1-config",
                "bench-g1-r0",
                "bench-g1-r1",
                "bench-g1-r2",
                "bench-g1"
            ]
        );
        for child in &children {
            let Child::ConfigMap(cm) = child else {
                continue;
            };
            let refs = cm.metadata.owner_references.as_ref().unwrap();
            assert_eq!(refs[0].controller, Some(true));
            assert_eq!(refs[0].uid, owner.uid);
            assert_eq!(
                cm.metadata.labels.as_ref().unwrap()[naming::LABEL_GENERATION],
                "1"
            );
        }
        assert_eq!(run_objects(&owner, &run, 5.0), children, "deterministic");
    }

    #[test]
    fn config_map_carries_the_config_and_the_signal() {
        let owner = owner();
        let run = run_spec(1);
        let plain = config_map(&owner, &run, None, None);
        assert_eq!(
            plain.data.as_ref().unwrap().keys().collect::<Vec<_>>(),
            [protocol::CONFIG_KEY]
        );
        let started = config_map(
            &owner,
            &run,
            Some(&StartSignal::StartAt(1764300000.5)),
            None,
        );
        assert_eq!(
            started.data.as_ref().unwrap()[protocol::START_AT_KEY],
            "1764300000.500"
        );
        assert_eq!(
            protocol::start_signal(started.data.as_ref()).unwrap(),
            Some(StartSignal::StartAt(1764300000.5))
        );
        let aborted = config_map(
            &owner,
            &run,
            Some(&StartSignal::Abort("runner 0 failed".into())),
            None,
        );
        assert_eq!(
            protocol::start_signal(aborted.data.as_ref()).unwrap(),
            Some(StartSignal::Abort("runner 0 failed".into()))
        );
        let trip = BreakerTrip {
            name: "timeouts".into(),
            stage_id: 1,
            time: 1764300003.25,
            runner: Some(2),
        };
        let stopped = config_map(
            &owner,
            &run,
            Some(&StartSignal::StartAt(1764300000.5)),
            Some(&trip),
        );
        assert_eq!(protocol::stop_signal(stopped.data.as_ref()), Some(trip));
        assert_eq!(
            protocol::start_signal(stopped.data.as_ref()).unwrap(),
            Some(StartSignal::StartAt(1764300000.5)),
            "the start time stays"
        );
        assert_eq!(protocol::stop_signal(started.data.as_ref()), None);
        let results = result_map(&owner, &run.names, 1, 0);
        assert!(
            results.data.is_none() && results.binary_data.is_none(),
            "the runner owns the data"
        );
    }
}
