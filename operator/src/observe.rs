//! What exists of a benchmark's children, as seen in the operator's watch caches.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::Store;

use crate::naming;

/// A benchmark's Jobs, run ConfigMaps and runner pods.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub jobs: Vec<Arc<Job>>,
    pub config_maps: Vec<Arc<ConfigMap>>,
    pub pods: Vec<Arc<Pod>>,
}

/// The watch caches of the operator's children.
#[derive(Clone)]
pub struct Stores {
    pub jobs: Store<Job>,
    pub config_maps: Store<ConfigMap>,
    pub pods: Store<Pod>,
}

impl Stores {
    /// The children of the benchmark with `uid` in `namespace`.
    pub fn observe(&self, namespace: &str, uid: &str) -> Observed {
        let mine = |meta: &ObjectMeta| {
            meta.namespace.as_deref() == Some(namespace)
                && meta
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(naming::LABEL_BENCHMARK_UID))
                    .map(String::as_str)
                    == Some(uid)
        };
        Observed {
            jobs: self
                .jobs
                .state()
                .into_iter()
                .filter(|o| mine(&o.metadata))
                .collect(),
            config_maps: self
                .config_maps
                .state()
                .into_iter()
                .filter(|o| mine(&o.metadata))
                .collect(),
            pods: self
                .pods
                .state()
                .into_iter()
                .filter(|o| mine(&o.metadata))
                .collect(),
        }
    }
}

pub fn generation_label(meta: &ObjectMeta) -> Option<i64> {
    meta.labels
        .as_ref()?
        .get(naming::LABEL_GENERATION)?
        .parse()
        .ok()
}

impl Observed {
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs
            .iter()
            .map(Arc::as_ref)
            .find(|j| j.metadata.name.as_deref() == Some(name))
    }

    pub fn config_map(&self, name: &str) -> Option<&ConfigMap> {
        self.config_maps
            .iter()
            .map(Arc::as_ref)
            .find(|c| c.metadata.name.as_deref() == Some(name))
    }

    /// Pods of the Job `job`.
    pub fn pods_of(&self, job: &str) -> Vec<&Pod> {
        self.pods
            .iter()
            .map(Arc::as_ref)
            .filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("batch.kubernetes.io/job-name"))
                    .map(String::as_str)
                    == Some(job)
            })
            .collect()
    }

    /// Generations other than `current` that still have a Job or ConfigMaps.
    pub fn other_generations(&self, current: i64) -> BTreeSet<i64> {
        self.jobs
            .iter()
            .map(|j| &j.metadata)
            .chain(self.config_maps.iter().map(|c| &c.metadata))
            .filter_map(generation_label)
            .filter(|g| *g != current)
            .collect()
    }

    /// Whether generation `generation` still has run ConfigMaps.
    pub fn has_config_maps_of(&self, generation: i64) -> bool {
        self.config_maps
            .iter()
            .any(|c| generation_label(&c.metadata) == Some(generation))
    }
}
