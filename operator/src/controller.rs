//! Wiring: watches (benchmarks, and the Jobs, ConfigMaps and pods the operator made, each into a
//! cache), and a thin reconcile that observes, plans and executes the plan.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt, future};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::core::error_boundary::DeserializeGuard;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use crate::Settings;
use crate::apply::{self, ApplyError};
use crate::crd::{InferenceBenchmark, InferenceBenchmarkStatus};
use crate::naming;
use crate::observe::Stores;
use crate::plan::{self, Plan};
use crate::telemetry::Metrics;
use crate::triggers;

pub struct Context {
    pub client: Client,
    pub stores: Stores,
    pub settings: Settings,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// When each benchmark's status was last written, to space out progress-only updates.
    last_status_write: Mutex<HashMap<(String, String), Instant>>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the resource cannot be read: {0}")]
    InvalidObject(String),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl Error {
    fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidObject(_) => "invalid_object",
            Error::Apply(ApplyError::Apply { .. }) => "apply",
            Error::Apply(ApplyError::Status(_)) => "status",
            Error::Apply(ApplyError::Delete { .. }) => "delete",
        }
    }
}

/// Where the operator looks for benchmarks: every namespace, or some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Cluster,
    Namespace(String),
}

fn api<K>(client: &Client, scope: &Scope) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    match scope {
        Scope::Cluster => Api::all(client.clone()),
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
    }
}

/// Readiness: every watch of every scope has listed its objects once.
///
/// It is read off the watch events (`InitDone`), not with `Store::wait_until_ready`: kube's
/// store readiness wakes a single waiter, and the controller already waits on its own store, so
/// a second waiter could sleep forever, or take the wake-up from the controller.
struct Syncs {
    pending: AtomicUsize,
    ready: Arc<AtomicBool>,
}

impl Syncs {
    /// A watch of `api` into a cache, counted as one more watch to wait for.
    fn reflect<K>(
        self: &Arc<Self>,
        api: Api<K>,
        config: watcher::Config,
    ) -> (
        Store<K>,
        impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + use<K>,
    )
    where
        K: Resource<DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        let (store, writer) = reflector::store::<K>();
        self.pending.fetch_add(1, Ordering::Relaxed);
        let syncs = self.clone();
        let mut synced = false;
        let events = reflector::reflector(writer, watcher(api, config))
            .default_backoff()
            .inspect(move |event| {
                // A watch lists again after losing its place; only its first list counts.
                if !synced && matches!(event, Ok(watcher::Event::InitDone)) {
                    synced = true;
                    if syncs.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                        syncs.ready.store(true, Ordering::Relaxed);
                        tracing::info!("caches synced; ready");
                    }
                }
            });
        (store, events)
    }
}

/// Runs one controller per scope until shutdown (SIGTERM or Ctrl-C). `ready` is set once every
/// cache has synced.
pub async fn run(
    client: Client,
    settings: Settings,
    scopes: Vec<Scope>,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
) {
    let reporter = Reporter {
        controller: naming::MANAGED_BY.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let mut controllers = Vec::new();
    let syncs = Arc::new(Syncs {
        pending: AtomicUsize::new(0),
        ready,
    });
    for scope in scopes {
        let selector = naming::watched_selector();
        let children = watcher::Config::default().labels(&selector).any_semantic();
        let (jobs, job_events) = syncs.reflect(api::<Job>(&client, &scope), children.clone());
        let (config_maps, config_map_events) =
            syncs.reflect(api::<ConfigMap>(&client, &scope), children.clone());
        let (pods, pod_events) = syncs.reflect(api::<Pod>(&client, &scope), children);
        let (benchmarks, benchmark_events) = syncs.reflect(
            api::<DeserializeGuard<InferenceBenchmark>>(&client, &scope),
            watcher::Config::default().any_semantic(),
        );
        let stores = Stores {
            jobs,
            config_maps,
            pods,
        };
        let context = Arc::new(Context {
            client: client.clone(),
            stores,
            settings: settings.clone(),
            recorder: recorder.clone(),
            metrics: metrics.clone(),
            last_status_write: Mutex::default(),
        });
        let controller = Controller::for_stream(benchmark_events.applied_objects(), benchmarks)
            .owns_stream(job_events.touched_objects())
            .owns_stream(
                config_map_events
                    .touched_objects()
                    .predicate_filter(triggers::without_progress, Default::default()),
            )
            .watches_stream(pod_events.touched_objects(), |pod| {
                let name = pod.annotations().get(naming::ANNOTATION_BENCHMARK)?;
                Some(ObjectRef::new(name).within(&pod.namespace()?))
            })
            .with_config(
                ControllerConfig::default()
                    .concurrency(16)
                    .debounce(Duration::from_millis(500)),
            );
        controllers.push(
            controller
                .shutdown_on_signal()
                .run(reconcile, error_policy, context)
                .for_each(|result| {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "reconcile not completed");
                    }
                    future::ready(())
                }),
        );
    }
    future::join_all(controllers).await;
}

async fn reconcile(
    guard: Arc<DeserializeGuard<InferenceBenchmark>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_inner(&guard, &ctx).await;
    ctx.metrics.reconciled(
        started.elapsed(),
        result.as_ref().err().map(Error::metric_label),
    );
    result
}

async fn reconcile_inner(
    guard: &DeserializeGuard<InferenceBenchmark>,
    ctx: &Context,
) -> Result<Action, Error> {
    let ib = match &guard.0 {
        Ok(ib) => ib,
        Err(invalid) => {
            tracing::warn!(name = ?invalid.metadata.name, namespace = ?invalid.metadata.namespace, error = %invalid.error, "cannot read an InferenceBenchmark");
            let reference = k8s_openapi::api::core::v1::ObjectReference {
                api_version: Some(crate::crd::API_VERSION.into()),
                kind: Some(crate::crd::KIND.into()),
                name: invalid.metadata.name.clone(),
                namespace: invalid.metadata.namespace.clone(),
                uid: invalid.metadata.uid.clone(),
                ..Default::default()
            };
            publish(
                ctx,
                &reference,
                &plan::Event {
                    warning: true,
                    reason: "InvalidObject",
                    note: invalid.error.clone(),
                },
            )
            .await;
            return Err(Error::InvalidObject(invalid.error.clone()));
        }
    };
    if ib.metadata.deletion_timestamp.is_some() {
        // Children go with it through their owner references.
        return Ok(Action::await_change());
    }
    let (name, namespace, uid) = (
        ib.name_any(),
        ib.namespace().unwrap_or_default(),
        ib.uid().unwrap_or_default(),
    );
    let observed = ctx.stores.observe(&namespace, &uid);
    let mut plan = plan::plan(ib, &observed, &ctx.settings, jiff::Timestamp::now());
    tracing::debug!(%namespace, %name, apply = plan.apply.len(), delete = plan.delete.len(), phase = ?plan.status.phase, "reconciling");

    apply::apply_all(&ctx.client, &namespace, &plan.apply).await?;
    if let Some(upload) = plan.upload.take()
        && let Err(e) = crate::upload::upload(&ctx.client, &namespace, &upload).await
    {
        plan::upload_failed(&mut plan, e.to_string(), jiff::Timestamp::now());
    }
    let mut requeue = plan.requeue;
    match status_write(ctx, ib, &plan) {
        StatusWrite::Now => {
            apply::write_status(&ctx.client, &namespace, &name, &plan.status).await?;
            ctx.metrics.status_written();
            ctx.last_status_write
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((namespace.clone(), name.clone()), Instant::now());
        }
        StatusWrite::Later(wait) => requeue = Some(requeue.map_or(wait, |r| r.min(wait))),
        StatusWrite::Unchanged => {}
    }
    apply::delete_all(&ctx.client, &namespace, &uid, &plan.delete).await?;
    if !plan.events.is_empty() {
        let reference = ib.object_ref(&());
        for event in &plan.events {
            publish(ctx, &reference, event).await;
        }
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

enum StatusWrite {
    Now,
    /// Only progress changed, and the last write was recent.
    Later(Duration),
    Unchanged,
}

fn status_write(ctx: &Context, ib: &InferenceBenchmark, plan: &Plan) -> StatusWrite {
    let current = ib.status.clone().unwrap_or_default();
    if current == plan.status {
        return StatusWrite::Unchanged;
    }
    let without_progress = |s: &InferenceBenchmarkStatus| InferenceBenchmarkStatus {
        progress: None,
        ..s.clone()
    };
    if without_progress(&current) != without_progress(&plan.status) {
        return StatusWrite::Now;
    }
    let key = (ib.namespace().unwrap_or_default(), ib.name_any());
    let last = ctx
        .last_status_write
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .copied();
    match last.map(|t| t.elapsed()) {
        Some(since) if since < ctx.settings.status_interval => {
            StatusWrite::Later(ctx.settings.status_interval - since)
        }
        _ => StatusWrite::Now,
    }
}

async fn publish(
    ctx: &Context,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    event: &plan::Event,
) {
    let event = KubeEvent {
        type_: if event.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: event.reason.into(),
        note: Some(crate::status::conditions::truncate(&event.note, 1000)),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, reference).await {
        tracing::warn!(error = %e, reason = %event.reason, "cannot publish an event");
    }
}

fn error_policy(
    guard: Arc<DeserializeGuard<InferenceBenchmark>>,
    error: &Error,
    _ctx: Arc<Context>,
) -> Action {
    match error {
        // Nothing to retry until the object changes.
        Error::InvalidObject(_) => Action::await_change(),
        Error::Apply(e) if e.is_conflict() => Action::requeue(Duration::from_millis(500)),
        Error::Apply(e) => {
            let name = guard.0.as_ref().ok().map(|ib| ib.name_any());
            tracing::warn!(?name, error = %e, "reconcile failed; retrying");
            Action::requeue(Duration::from_secs(5))
        }
    }
}
