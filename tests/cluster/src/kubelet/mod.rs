//! A "process kubelet": one fake Node whose Pods run as local processes.
//!
//! It replaces both kube-scheduler (it binds every unbound Pod to its Node) and the kubelet (it
//! sets up volumes, runs each container's program, reports status, and finishes deletions). See
//! the crate README for what it does not do (images, most volume types, probes, resource
//! limits, networking).
//!
//! Parts: `node` registers the Node; `pod` runs one Pod's life, using `pod_env` for container
//! environments, `volumes` (with `volume_files` for ConfigMap/Secret contents) for the Pod's
//! volumes, `mount_plan` to turn a container's `volumeMounts` into mount steps and `mount_ns`
//! to run those steps in the container's private mount namespace between fork and exec;
//! `status` shapes status documents; `logs_server` serves container logs; `ctx` holds what
//! they share.
//!
//! It runs on its own thread and Tokio runtime: a control plane outlives the test (and its
//! runtime) that started it when it is shared by a whole test binary.

mod ctx;
mod logs_server;
mod mount_ns;
mod mount_plan;
mod node;
mod pod;
pub(crate) mod pod_env;
mod rootfs;
pub(crate) mod status;
mod volume_files;
mod volumes;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::{oneshot, watch};

use ctx::{Ctx, force_delete};
pub(crate) use ctx::{KubeletConfig, NODE_IP, ProcessRegistry};

use crate::error::{Error, Result};

/// Longest time a deleted Pod's processes get between SIGTERM and SIGKILL, whatever its
/// grace period says; tests should not wait 30 s for a stubborn process.
const MAX_TERMINATION_GRACE: Duration = Duration::from_secs(10);

/// Handle to a running kubelet thread.
pub(crate) struct Kubelet {
    shutdown: watch::Sender<bool>,
    processes: Arc<ProcessRegistry>,
    stopped: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Kubelet {
    /// Starts the kubelet thread and returns once its Node is registered.
    pub(crate) async fn start(cfg: KubeletConfig) -> Result<Kubelet> {
        let processes = Arc::new(ProcessRegistry::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel::<Result<()>>();
        let (stopped_tx, stopped_rx) = mpsc::channel();
        let thread_processes = processes.clone();
        let ctx_processes = processes.clone();
        thread::Builder::new()
            .name("ibench-kubelet".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("ibench-kubelet-rt")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::io("starting the kubelet runtime")(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let client = match Client::try_from(cfg.client_config.clone()) {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.into()));
                            return;
                        }
                    };
                    let logs = match start_logs_server(&cfg).await {
                        Ok(port) => port,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    if let Err(e) = node::register(&client, &cfg.node_name, logs).await {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                    tracing::info!(node = %cfg.node_name, "process kubelet registered its node");
                    let _ = ready_tx.send(Ok(()));
                    let ctx = Arc::new(Ctx {
                        cfg,
                        client,
                        processes: ctx_processes,
                    });
                    run(ctx, shutdown_rx).await;
                });
                thread_processes.kill_all_blocking();
                runtime.shutdown_timeout(Duration::from_secs(2));
                let _ = stopped_tx.send(());
            })
            .map_err(Error::io("starting the kubelet thread"))?;
        let ready = tokio::time::timeout(Duration::from_secs(30), ready_rx).await;
        match ready {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(_)) => {
                return Err(Error::Kubelet(
                    "the kubelet thread died during startup".into(),
                ));
            }
            Err(_) => {
                let _ = shutdown.send(true);
                return Err(Error::Timeout {
                    what: "the process kubelet to register its node".into(),
                    after: Duration::from_secs(30),
                    details: String::new(),
                });
            }
        }
        Ok(Kubelet {
            shutdown,
            processes,
            stopped: Mutex::new(Some(stopped_rx)),
        })
    }

    /// Kills every Pod process and stops the kubelet thread (bounded wait). Idempotent.
    pub(crate) fn stop_blocking(&self) {
        let _ = self.shutdown.send(true);
        self.processes.kill_all_blocking();
        if let Some(stopped) = self
            .stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = stopped.recv_timeout(Duration::from_secs(5));
        }
    }
}

/// Starts the container-log endpoint on a free loopback port and returns the port.
async fn start_logs_server(cfg: &KubeletConfig) -> Result<u16> {
    let listener = tokio::net::TcpListener::bind((NODE_IP, 0))
        .await
        .map_err(Error::io("binding the kubelet log endpoint"))?;
    let port = listener
        .local_addr()
        .map_err(Error::io("reading the kubelet log endpoint port"))?
        .port();
    let tls = logs_server::tls_config(&cfg.serving_cert_der, &cfg.serving_key_der)
        .map_err(|e| Error::Kubelet(format!("log endpoint TLS configuration: {e}")))?;
    tokio::spawn(logs_server::serve(listener, tls, cfg.pods_dir.clone()));
    Ok(port)
}

struct Worker {
    cancel: watch::Sender<Option<Duration>>,
    finished: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    workers: HashMap<String, Worker>,
    binding: HashSet<String>,
    deleting: HashSet<String>,
}

async fn run(ctx: Arc<Ctx>, mut shutdown: watch::Receiver<bool>) {
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let mut events = watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut state = State::default();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            event = events.next() => match event {
                None => break,
                Some(Err(e)) => tracing::warn!(error = %e, "pod watch error (retrying)"),
                Some(Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod))) => on_pod(&ctx, &mut state, pod),
                Some(Ok(watcher::Event::Delete(pod))) => on_gone(&mut state, &pod),
                Some(Ok(_)) => {}
            },
        }
    }
    for worker in state.workers.values() {
        let _ = worker.cancel.send(Some(Duration::ZERO));
    }
}

fn on_pod(ctx: &Arc<Ctx>, state: &mut State, pod: Pod) {
    let uid = pod.uid().unwrap_or_default();
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    if node.is_empty() {
        // Unbound Pods are deleted at once by the apiserver, so only live ones reach here.
        if pod.metadata.deletion_timestamp.is_none() && state.binding.insert(uid) {
            tokio::spawn(bind(ctx.clone(), pod));
        }
        return;
    }
    if node != ctx.cfg.node_name {
        return;
    }
    if pod.metadata.deletion_timestamp.is_some() {
        let grace = pod
            .metadata
            .deletion_grace_period_seconds
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or(Duration::ZERO)
            .min(MAX_TERMINATION_GRACE);
        match state.workers.get(&uid) {
            // The worker kills its processes, writes the final status and deletes the Pod.
            Some(w) if !w.finished.load(Ordering::SeqCst) => {
                let _ = w.cancel.send(Some(grace));
            }
            _ => {
                if state.deleting.insert(uid) {
                    tokio::spawn(force_delete(ctx.client.clone(), pod));
                }
            }
        }
        return;
    }
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    if !state.workers.contains_key(&uid) && (phase.is_empty() || phase == "Pending") {
        let (cancel, cancel_rx) = watch::channel(None);
        let finished = Arc::new(AtomicBool::new(false));
        state.workers.insert(
            uid,
            Worker {
                cancel,
                finished: finished.clone(),
            },
        );
        tokio::spawn(pod::run(ctx.clone(), pod, cancel_rx, finished));
    }
}

fn on_gone(state: &mut State, pod: &Pod) {
    let uid = pod.uid().unwrap_or_default();
    state.binding.remove(&uid);
    state.deleting.remove(&uid);
    if let Some(worker) = state.workers.remove(&uid) {
        // Deleted without us seeing a deletionTimestamp (e.g. during a watch gap): stop at once.
        let _ = worker.cancel.send(Some(Duration::ZERO));
    }
}

/// Binds an unscheduled Pod to our Node through the binding subresource, as a scheduler does.
async fn bind(ctx: Arc<Ctx>, pod: Pod) {
    let (ns, name) = (pod.namespace().unwrap_or_default(), pod.name_any());
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            uid: pod.uid(),
            ..Default::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(ctx.cfg.node_name.clone()),
            ..Default::default()
        },
    };
    for attempt in 0..5u32 {
        match api
            .create_subresource::<Binding, serde_json::Value>(
                "binding",
                &name,
                &PostParams::default(),
                &binding,
            )
            .await
        {
            Ok(_) => return,
            // Already bound, or gone: nothing to do.
            Err(kube::Error::Api(s)) if matches!(s.code, 404 | 409) => return,
            Err(e) => {
                tracing::warn!(pod = %format!("{ns}/{name}"), attempt, error = %e, "binding failed");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
}
