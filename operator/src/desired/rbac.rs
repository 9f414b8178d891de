//! Per-run identity of the runner pods: a ServiceAccount whose Role allows reading the run's
//! config ConfigMap and writing the run's result ConfigMaps, by name, and nothing else.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::owner::Owner;
use crate::naming::Component;
use crate::validate::RunSpec;

pub fn service_account(owner: &Owner, run: &RunSpec) -> ServiceAccount {
    ServiceAccount {
        metadata: owner.child_meta(run.names.rbac(), Some(run.generation), Component::Runner),
        ..Default::default()
    }
}

pub fn role(owner: &Owner, run: &RunSpec) -> Role {
    let rule = |verbs: &[&str], names: Vec<String>| PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["configmaps".into()]),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        resource_names: Some(names),
        ..Default::default()
    };
    let mut rules = vec![
        // `watch` with a `metadata.name` field selector is authorised per name.
        rule(&["get", "watch"], vec![run.names.config_map()]),
        rule(
            &["get", "patch"],
            (0..run.parallelism)
                .map(|i| run.names.result_map(i))
                .collect(),
        ),
    ];
    // Runner 0 finds the model server's pods before each scrape: their IPs from a list (which
    // cannot be narrowed by name), the selector from the one Service named.
    if let Some(pods) = &run.scrape_pods {
        rules.push(PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["pods".into()]),
            verbs: vec!["list".into()],
            ..Default::default()
        });
        if let Some(service) = &pods.service {
            rules.push(PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["services".into()]),
                verbs: vec!["get".into()],
                resource_names: Some(vec![service.clone()]),
                ..Default::default()
            });
        }
    }
    Role {
        metadata: owner.child_meta(run.names.rbac(), Some(run.generation), Component::Runner),
        rules: Some(rules),
    }
}

pub fn role_binding(owner: &Owner, run: &RunSpec) -> RoleBinding {
    RoleBinding {
        metadata: owner.child_meta(run.names.rbac(), Some(run.generation), Component::Runner),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: run.names.rbac(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: run.names.rbac(),
            namespace: Some(owner.namespace.clone()),
            ..Default::default()
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{owner, run_spec};

    #[test]
    fn scraping_pods_adds_listing_pods_and_reading_only_the_named_service() {
        let mut run = run_spec(1);
        run.scrape_pods = Some(ibench_core::config::ScrapePods {
            service: Some("vllm".into()),
            port: 8000,
            ..Default::default()
        });
        let rules = role(&owner(), &run).rules.unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[2].resources.as_deref().unwrap(), ["pods"]);
        assert_eq!(rules[2].verbs, ["list"]);
        assert_eq!(rules[3].resources.as_deref().unwrap(), ["services"]);
        assert_eq!(rules[3].verbs, ["get"]);
        assert_eq!(rules[3].resource_names.as_deref().unwrap(), ["vllm"]);
        run.scrape_pods.as_mut().unwrap().service = None;
        assert_eq!(role(&owner(), &run).rules.unwrap().len(), 3);
    }

    #[test]
    fn role_names_exactly_this_runs_config_maps() {
        let role = role(&owner(), &run_spec(2));
        let rules = role.rules.unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].verbs, ["get", "watch"]);
        assert_eq!(
            rules[0].resource_names.as_deref().unwrap(),
            ["bench-g1-config"]
        );
        assert_eq!(rules[1].verbs, ["get", "patch"]);
        assert_eq!(
            rules[1].resource_names.as_deref().unwrap(),
            ["bench-g1-r0", "bench-g1-r1"]
        );
        for rule in &rules {
            assert_eq!(rule.resources.as_deref().unwrap(), ["configmaps"]);
            assert!(
                !rule
                    .verbs
                    .iter()
                    .any(|v| v == "list" || v == "create" || v == "delete")
            );
        }
    }

    #[test]
    fn binding_ties_the_runs_service_account_to_its_role() {
        let owner = owner();
        let run = run_spec(1);
        let binding = role_binding(&owner, &run);
        assert_eq!(binding.role_ref.name, "bench-g1-runner");
        let subject = &binding.subjects.unwrap()[0];
        assert_eq!(
            (subject.kind.as_str(), subject.name.as_str()),
            ("ServiceAccount", "bench-g1-runner")
        );
        assert_eq!(subject.namespace.as_deref(), Some(owner.namespace.as_str()));
        assert_eq!(
            service_account(&owner, &run).metadata.name.as_deref(),
            Some("bench-g1-runner")
        );
    }
}
