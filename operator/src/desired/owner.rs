//! The benchmark as the controlling owner of every object of its runs.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use crate::crd::InferenceBenchmark;
use crate::naming::{self, Component};

/// The benchmark as parent of child objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub reference: OwnerReference,
}

impl Owner {
    /// `None` for an object the apiserver has not stored (no UID).
    pub fn of(ib: &InferenceBenchmark) -> Option<Owner> {
        Some(Owner {
            name: ib.metadata.name.clone()?,
            namespace: ib.metadata.namespace.clone()?,
            uid: ib.metadata.uid.clone()?,
            // Foreground deletion of a benchmark waits for its Jobs, ConfigMaps and RBAC to go.
            reference: OwnerReference {
                block_owner_deletion: Some(true),
                ..ib.controller_owner_ref(&())?
            },
        })
    }

    /// Metadata of a child: name, namespace, owner, labels (plus the benchmark's name).
    pub fn child_meta(
        &self,
        name: String,
        generation: Option<i64>,
        component: Component,
    ) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(naming::labels(&self.uid, generation, component)),
            annotations: Some(BTreeMap::from([(
                naming::ANNOTATION_BENCHMARK.to_string(),
                self.name.clone(),
            )])),
            owner_references: Some(vec![self.reference.clone()]),
            ..Default::default()
        }
    }
}
