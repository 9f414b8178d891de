{{/*
The operator's permissions: exactly what it uses, nothing more. The same rules go into the
ClusterRole (all namespaces) or into a Role per watched namespace.

Each verb is needed by a request the operator makes in the chart's end-to-end test, which
runs the operator with these rules only and checks the API server's audit log (see
operator/tests/chart_rbac.rs): no request is refused, and every verb below is used, is granted on
to the runners' Roles, or is marked `untested(<verb>)` with the reason. Kubernetes only lets
the operator create a Role granting what the operator holds itself (RBAC escalation
prevention), hence the runner-facing verbs on configmaps.
*/}}
{{- define "inference-bench.rules" -}}
# Benchmarks are read from the watch cache; the operator never writes their spec.
- apiGroups: [inferencebench.dev]
  resources: [inferencebenchmarks]
  verbs: [list, watch]
# Status: server-side apply on the status subresource.
- apiGroups: [inferencebench.dev]
  resources: [inferencebenchmarks/status]
  verbs: [patch]
# Every child names its benchmark as controlling owner with blockOwnerDeletion; where the
# OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift; the test cluster
# enables it) that needs update on the owner's finalizers.
- apiGroups: [inferencebench.dev]
  resources: [inferencebenchmarks/finalizers]
  verbs: [update]
# Runner Jobs: watched; server-side apply (a patch, which needs create when it creates the Job);
# deleted when a spec change supersedes a running run.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, watch, create, patch, delete]
# Runner pods: watched, to report which runner failed and why.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
# Run config, runner results and report ConfigMaps: watched, applied, and deleted as a
# collection when a run is finished. get, watch and patch are also granted to the runners.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, patch, deletecollection]
# The per-run identity of the runner pods, deleted when the run is finished.
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [create, patch, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [create, patch, delete]
# The buckets' credentials named by spec.storageSecretRef, read to upload a finished run's
# merged report (used in memory, never copied into an object, event or log).
# untested(get): the chart's end-to-end run has no object storage; operator/tests/object_storage.rs
# runs the operator with a bucket Secret.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
# Events of a run's start, completion and failure.
# untested(patch): kube's event Recorder patches an event it already published (a series)
# when the same event recurs, which some runs provoke and others do not.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
