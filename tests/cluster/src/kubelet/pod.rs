//! One Pod's life on the process kubelet: token, volumes, environment, mounts, init
//! containers, containers (with the Pod's restart policy), status reports, and the end of a
//! deletion.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use tokio::sync::{mpsc, watch};

use super::ctx::{Ctx, NODE_IP, force_delete, pod_ip};
use super::logs_server;
use super::mount_ns::{self, Step};
use super::mount_plan;
use super::pod_env::{self, Env};
use super::rootfs;
use super::status::{self, ContainerState, ContainerStatus, Phase, now};
use super::volumes::{VolumeError, Volumes};
use crate::images::Unrunnable;
use crate::kubeconfig::{self, Credentials};
use crate::process::{self, Process};
use crate::token::{self, BoundPod};

/// Bounds on retries of things the real kubelet would retry forever; a test that depends on
/// them healing later than this is better off failing with a clear message.
const CONFIG_RETRIES: u32 = 60;
const CONFIG_RETRY_DELAY: Duration = Duration::from_secs(1);
const MAX_RESTARTS: i32 = 50;
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(10);
/// Lifetime of a Pod's service-account token; far longer than any test.
const TOKEN_SECONDS: i64 = 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    fn of(pod: &Pod) -> Self {
        match pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        }
    }
    fn restarts_after(self, exit_code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// Cancellation: `Some(grace)` once the Pod is being deleted.
type Cancel = watch::Receiver<Option<Duration>>;

struct PodRun {
    ctx: Arc<Ctx>,
    pod: Pod,
    api: Api<Pod>,
    key: String,
    dir: PathBuf,
    start_time: String,
    init: Vec<ContainerStatus>,
    containers: Vec<ContainerStatus>,
}

pub(super) async fn run(ctx: Arc<Ctx>, pod: Pod, mut cancel: Cancel, finished: Arc<AtomicBool>) {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let dir = ctx.cfg.pods_dir.join(&ns).join(&name);
    let spec = pod.spec.clone().unwrap_or_default();
    let waiting = |c: &Container| {
        ContainerStatus::waiting(
            &c.name,
            c.image.as_deref().unwrap_or(""),
            "ContainerCreating",
            "",
        )
    };
    let mut run = PodRun {
        api: Api::namespaced(ctx.client.clone(), &ns),
        key: format!("{ns}/{name}"),
        dir,
        start_time: now(),
        init: spec.init_containers.iter().flatten().map(waiting).collect(),
        containers: spec.containers.iter().map(waiting).collect(),
        ctx,
        pod,
    };
    let deleted = run.lifecycle(&mut cancel).await;
    finished.store(true, Ordering::SeqCst);
    // A deletion that arrived after the last container ended still needs finishing.
    if deleted || cancel.borrow().is_some() {
        force_delete(run.ctx.client.clone(), run.pod.clone()).await;
    }
}

impl PodRun {
    /// Runs the Pod to its end. Returns true when it ended because the Pod is being deleted.
    async fn lifecycle(&mut self, cancel: &mut Cancel) -> bool {
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            self.fail(
                "ContainerCreateError",
                &format!("cannot create {}: {e}", self.dir.display()),
            )
            .await;
            return false;
        }
        tracing::info!(pod = %self.key, "starting pod");
        let spec = self.pod.spec.clone().unwrap_or_default();
        let policy = RestartPolicy::of(&self.pod);

        if spec
            .init_containers
            .iter()
            .flatten()
            .any(|c| c.restart_policy.as_deref() == Some("Always"))
        {
            self.fail("UnsupportedPodSpec", "sidecar init containers (restartPolicy: Always) are not supported by the process kubelet").await;
            return false;
        }
        // Resolve every image first: a Pod that cannot run fails before anything starts.
        let mut init_argv = Vec::new();
        for c in spec.init_containers.iter().flatten() {
            match self.argv(c) {
                Ok(argv) => init_argv.push(argv),
                Err(u) => return self.unrunnable(u).await,
            }
        }
        let mut argv = Vec::new();
        for c in &spec.containers {
            match self.argv(c) {
                Ok(a) => argv.push(a),
                Err(u) => return self.unrunnable(u).await,
            }
        }

        let base = match self.base_env(cancel).await {
            Ok(base) => base,
            Err(Stop::Deleted) => return self.finish_deleted().await,
            Err(Stop::Failed(reason, message)) => {
                self.fail(reason, &message).await;
                return false;
            }
        };
        let volumes = match self.volumes(cancel).await {
            Ok(volumes) => Arc::new(volumes),
            Err(Stop::Deleted) => return self.finish_deleted().await,
            Err(Stop::Failed(reason, message)) => {
                self.fail(reason, &message).await;
                return false;
            }
        };

        // Init containers: one at a time, each to success.
        let init_containers: Vec<Container> = spec.init_containers.clone().unwrap_or_default();
        for (i, c) in init_containers.iter().enumerate() {
            self.patch(Phase::Pending, None).await;
            let (tx, mut rx) = mpsc::unbounded_channel();
            // Init containers never restart after success; on failure only if the Pod would.
            let init_policy = if policy == RestartPolicy::Never {
                RestartPolicy::Never
            } else {
                RestartPolicy::OnFailure
            };
            let task = tokio::spawn(run_container(
                self.ctx.clone(),
                self.pod.clone(),
                c.clone(),
                init_argv[i].clone(),
                base.clone(),
                volumes.clone(),
                init_policy,
                self.dir.clone(),
                i,
                tx,
                cancel.clone(),
            ));
            while let Some((_, st)) = rx.recv().await {
                self.init[i] = st;
                self.patch(Phase::Pending, None).await;
            }
            let _ = task.await;
            if cancel.borrow().is_some() {
                return self.finish_deleted().await;
            }
            if self.init[i].exit_code() != Some(0) {
                self.patch(Phase::Failed, None).await;
                return false;
            }
        }

        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for (i, c) in spec.containers.iter().enumerate() {
            tasks.push(tokio::spawn(run_container(
                self.ctx.clone(),
                self.pod.clone(),
                c.clone(),
                argv[i].clone(),
                base.clone(),
                volumes.clone(),
                policy,
                self.dir.clone(),
                i,
                tx.clone(),
                cancel.clone(),
            )));
        }
        drop(tx);
        while let Some((i, st)) = rx.recv().await {
            self.containers[i] = st;
            let any_alive = self.containers.iter().any(|c| c.exit_code().is_none());
            if any_alive {
                self.patch(Phase::Running, None).await;
            }
        }
        for t in tasks {
            let _ = t.await;
        }
        if cancel.borrow().is_some() {
            return self.finish_deleted().await;
        }
        let ok = self.containers.iter().all(|c| c.exit_code() == Some(0));
        tracing::info!(pod = %self.key, ok, "pod finished");
        self.patch(if ok { Phase::Succeeded } else { Phase::Failed }, None)
            .await;
        false
    }

    fn argv(&self, c: &Container) -> Result<Vec<String>, Unrunnable> {
        self.ctx.cfg.images.argv(
            c.image.as_deref().unwrap_or(""),
            c.command.as_deref().unwrap_or(&[]),
            c.args.as_deref().unwrap_or(&[]),
        )
    }

    async fn unrunnable(&mut self, u: Unrunnable) -> bool {
        tracing::warn!(pod = %self.key, reason = u.reason, message = %u.message, "pod cannot run");
        self.fail(u.reason, &u.message).await;
        false
    }

    /// Ends the Pod as Failed before any container ran.
    async fn fail(&mut self, reason: &str, message: &str) {
        let finished = now();
        for c in self.init.iter_mut().chain(self.containers.iter_mut()) {
            if c.exit_code().is_none() {
                c.state = ContainerState::Terminated {
                    exit_code: 128,
                    reason: reason.to_string(),
                    message: Some(message.to_string()),
                    started_at: None,
                    finished_at: finished.clone(),
                    pid: None,
                };
            }
        }
        self.patch(Phase::Failed, Some((reason, message))).await;
    }

    /// Final status of a Pod whose containers were stopped by its deletion.
    async fn finish_deleted(&mut self) -> bool {
        let ok = self.containers.iter().all(|c| c.exit_code() == Some(0));
        self.patch(if ok { Phase::Succeeded } else { Phase::Failed }, None)
            .await;
        true
    }

    async fn patch(&self, phase: Phase, reason: Option<(&str, &str)>) {
        let body = status::pod_status(
            &pod_ip(&self.pod),
            phase,
            reason,
            &self.start_time,
            &self.init,
            &self.containers,
        );
        match self
            .api
            .patch_status(
                &self.pod.name_any(),
                &PatchParams::default(),
                &Patch::Strategic(&body),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => tracing::warn!(pod = %self.key, error = %e, ?phase, "status patch failed"),
        }
    }

    /// Variables every container gets before its own `envFrom`/`env`: the in-cluster service
    /// variables pointing at the loopback apiserver, and a kubeconfig with the Pod's token.
    async fn base_env(&mut self, cancel: &mut Cancel) -> Result<Env, Stop> {
        let cfg = &self.ctx.cfg;
        let port = cfg.api_port.to_string();
        let mut env: Env = vec![
            (
                "PATH".into(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
            ),
            ("HOME".into(), self.dir.display().to_string()),
            ("HOSTNAME".into(), self.pod.name_any()),
            ("KUBERNETES_SERVICE_HOST".into(), NODE_IP.into()),
            ("KUBERNETES_SERVICE_PORT".into(), port.clone()),
            ("KUBERNETES_SERVICE_PORT_HTTPS".into(), port.clone()),
            ("KUBERNETES_PORT".into(), format!("tcp://{NODE_IP}:{port}")),
        ];
        // Debugging and coverage aids pass through from the test process.
        for name in ["RUST_BACKTRACE", "LLVM_PROFILE_FILE"] {
            if let Ok(v) = std::env::var(name) {
                env.push((name.into(), v));
            }
        }
        let spec = self.pod.spec.clone().unwrap_or_default();
        if spec.automount_service_account_token == Some(false) {
            return Ok(env);
        }
        let sa = spec
            .service_account_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into());
        let ns = self.pod.namespace().unwrap_or_default();
        let uid = self.pod.uid().unwrap_or_default();
        let name = self.pod.name_any();
        let mut last_error = String::new();
        for attempt in 0..CONFIG_RETRIES {
            match token::request(
                &self.ctx.client,
                &ns,
                &sa,
                TOKEN_SECONDS,
                Some(BoundPod {
                    name: &name,
                    uid: &uid,
                }),
            )
            .await
            {
                Ok(token) => {
                    let path = self.dir.join("kubeconfig");
                    kubeconfig::write(
                        &path,
                        &cfg.server_url,
                        &cfg.ca_pem,
                        &format!("system:serviceaccount:{ns}:{sa}"),
                        Credentials::Token(&token),
                        Some(&ns),
                    )
                    .map_err(|e| Stop::Failed("ServiceAccountTokenFailed", e.to_string()))?;
                    env.push(("KUBECONFIG".into(), path.display().to_string()));
                    return Ok(env);
                }
                Err(e) => {
                    last_error = e.to_string();
                    if attempt == 0 {
                        for c in self.containers.iter_mut() {
                            c.state = ContainerState::Waiting {
                                reason: "ContainerCreating".into(),
                                message: format!("service account token: {last_error}"),
                            };
                        }
                        self.patch(Phase::Pending, None).await;
                    }
                }
            }
            if sleep_or_cancel(CONFIG_RETRY_DELAY, cancel).await {
                return Err(Stop::Deleted);
            }
        }
        Err(Stop::Failed(
            "ServiceAccountTokenFailed",
            format!("TokenRequest for service account {ns}/{sa} kept failing: {last_error}"),
        ))
    }

    /// Sets up the Pod's volumes before any container starts, as the kubelet does. A missing
    /// ConfigMap or Secret or an unbound claim keeps every container waiting in
    /// `ContainerCreating` with the reason as message, retried (bounded, then the Pod fails).
    async fn volumes(&mut self, cancel: &mut Cancel) -> Result<Volumes, Stop> {
        let dir = pod_state_dir(&self.dir, &self.pod).join("volumes");
        let mut volumes = Volumes::default();
        let mut last_error = String::new();
        for _ in 0..CONFIG_RETRIES {
            match volumes.set_up(&self.ctx.client, &self.pod, &dir).await {
                Ok(()) => {
                    if !last_error.is_empty() {
                        self.all_creating("");
                    }
                    return Ok(volumes);
                }
                Err(e @ VolumeError::Unsupported { .. }) => {
                    return Err(Stop::Failed("UnsupportedVolume", e.to_string()));
                }
                Err(e @ VolumeError::NotReady { .. }) => {
                    let message = e.to_string();
                    if message != last_error {
                        tracing::info!(pod = %self.key, %message, "waiting for a volume");
                        self.all_creating(&message);
                        self.patch(Phase::Pending, None).await;
                        last_error = message;
                    }
                }
            }
            if sleep_or_cancel(CONFIG_RETRY_DELAY, cancel).await {
                return Err(Stop::Deleted);
            }
        }
        Err(Stop::Failed("FailedMount", last_error))
    }

    /// Every container (init ones too) waiting in `ContainerCreating` with `message`.
    fn all_creating(&mut self, message: &str) {
        for c in self.init.iter_mut().chain(self.containers.iter_mut()) {
            c.state = ContainerState::Waiting {
                reason: "ContainerCreating".into(),
                message: message.into(),
            };
        }
    }
}

/// Where a Pod's volumes and mount staging directories live: by UID, so that a later Pod of
/// the same name starts from empty volumes.
fn pod_state_dir(dir: &Path, pod: &Pod) -> PathBuf {
    dir.join(pod.uid().unwrap_or_default())
}

enum Stop {
    Deleted,
    Failed(&'static str, String),
}

/// Sleeps unless the Pod is deleted first; returns true on deletion.
async fn sleep_or_cancel(duration: Duration, cancel: &mut Cancel) -> bool {
    if cancel.borrow().is_some() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(duration) => cancel.borrow().is_some(),
        _ = cancel.changed() => true,
    }
}

/// Runs one container until it ends for good under `policy`, reporting each state change, and
/// marks the end for `follow` readers of its log.
#[allow(clippy::too_many_arguments)]
async fn run_container(
    ctx: Arc<Ctx>,
    pod: Pod,
    container: Container,
    argv: Vec<String>,
    base: Env,
    volumes: Arc<Volumes>,
    policy: RestartPolicy,
    dir: PathBuf,
    index: usize,
    report: mpsc::UnboundedSender<(usize, ContainerStatus)>,
    cancel: Cancel,
) {
    let done = logs_server::done_marker(&dir, &container.name);
    let _ = std::fs::remove_file(&done);
    run_container_until_done(
        ctx, pod, container, argv, base, volumes, policy, dir, index, report, cancel,
    )
    .await;
    let _ = std::fs::write(&done, b"");
}

#[allow(clippy::too_many_arguments)]
async fn run_container_until_done(
    ctx: Arc<Ctx>,
    pod: Pod,
    container: Container,
    argv: Vec<String>,
    base: Env,
    volumes: Arc<Volumes>,
    policy: RestartPolicy,
    dir: PathBuf,
    index: usize,
    report: mpsc::UnboundedSender<(usize, ContainerStatus)>,
    mut cancel: Cancel,
) {
    let image = container.image.clone().unwrap_or_default();
    let mut st = ContainerStatus::waiting(&container.name, &image, "ContainerCreating", "");
    st.program = argv.first().cloned().unwrap_or_default();
    let key = format!("{}/{}", pod.uid().unwrap_or_default(), container.name);
    let pod_key = format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any());
    let send = |st: &ContainerStatus| {
        let _ = report.send((index, st.clone()));
    };

    for _ in 0..=MAX_RESTARTS {
        // The environment is read anew for every start, as the kubelet does.
        let mut env = None;
        for attempt in 0..CONFIG_RETRIES {
            match pod_env::container_env(&ctx.client, &pod, &container, base.clone()).await {
                Ok(e) => {
                    env = Some(e);
                    break;
                }
                Err(e) if !e.retryable || attempt + 1 == CONFIG_RETRIES => {
                    st.state = terminated(
                        128,
                        "CreateContainerConfigError",
                        Some(e.message),
                        None,
                        None,
                    );
                    send(&st);
                    return;
                }
                Err(e) => {
                    if attempt == 0 {
                        st.state = ContainerState::Waiting {
                            reason: "CreateContainerConfigError".into(),
                            message: e.message,
                        };
                        send(&st);
                    }
                    if sleep_or_cancel(CONFIG_RETRY_DELAY, &mut cancel).await {
                        st.state = terminated(
                            137,
                            "ContainerStatusUnknown",
                            Some("deleted before it started".into()),
                            None,
                            None,
                        );
                        send(&st);
                        return;
                    }
                }
            }
        }
        let Some(env) = env else { return };
        let argv = pod_env::expand_argv(&argv, &env);
        let staging = pod_state_dir(&dir, &pod)
            .join("mounts")
            .join(&container.name);
        // An image mapped to a root file system runs from it, with the image's environment.
        let image_rootfs = ctx.cfg.images.rootfs(&image);
        let env = match &image_rootfs {
            Some(rootfs) => rootfs::env(rootfs, &env),
            None => env,
        };
        let mounts = match &image_rootfs {
            Some(rootfs) => rootfs::prepare(rootfs, &pod, &container, &staging, &dir).map(Some),
            None => mount_plan::plan(&container, &volumes, &env, &staging, &dir)
                .map_err(|e| e.to_string()),
        };
        let mounts = match mounts {
            Ok(mounts) => mounts,
            Err(e) => {
                st.state = terminated(128, "CreateContainerConfigError", Some(e), None, None);
                send(&st);
                return;
            }
        };

        let started_at = now();
        let process = match spawn(&pod_key, &container.name, &argv, &env, &dir, mounts).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(pod = %pod_key, container = %container.name, error = %e, "container failed to start");
                st.state = terminated(
                    128,
                    "StartError",
                    Some(format!("cannot start {:?}: {e}", argv.first())),
                    Some(started_at),
                    None,
                );
                send(&st);
                if !policy.restarts_after(128)
                    || sleep_or_cancel(backoff(st.restart_count), &mut cancel).await
                {
                    return;
                }
                st.restart_count += 1;
                continue;
            }
        };
        ctx.processes.insert(key.clone(), process.clone());
        st.state = ContainerState::Running {
            started_at: started_at.clone(),
            pid: process.pid(),
        };
        send(&st);

        let (exit, deleted) = if cancel.borrow().is_some() {
            (process.terminate(Duration::ZERO).await, true)
        } else {
            tokio::select! {
                status = process.wait() => (status, false),
                _ = cancel.changed() => {
                    let grace = cancel.borrow().unwrap_or(Duration::ZERO);
                    (process.terminate(grace).await, true)
                }
            }
        };
        ctx.processes.remove(&key);
        let code = process::exit_code(exit);
        tracing::info!(pod = %pod_key, container = %container.name, status = %process::describe(exit), "container exited");
        let reason = if code == 0 { "Completed" } else { "Error" };
        st.state = terminated(code, reason, None, Some(started_at), Some(process.pid()));
        if deleted || !policy.restarts_after(code) || st.restart_count >= MAX_RESTARTS {
            send(&st);
            return;
        }
        st.last_state = Some(st.state.clone());
        st.state = ContainerState::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: format!("back-off restarting container {}", container.name),
        };
        send(&st);
        if sleep_or_cancel(backoff(st.restart_count), &mut cancel).await {
            st.state = st.last_state.clone().unwrap_or(st.state);
            send(&st);
            return;
        }
        st.restart_count += 1;
    }
}

fn terminated(
    exit_code: i32,
    reason: &str,
    message: Option<String>,
    started_at: Option<String>,
    pid: Option<u32>,
) -> ContainerState {
    ContainerState::Terminated {
        exit_code,
        reason: reason.into(),
        message,
        started_at,
        finished_at: now(),
        pid,
    }
}

/// The kubelet's crash-loop back-off (10 s doubling to 5 min) shrunk for tests.
fn backoff(restarts: i32) -> Duration {
    (Duration::from_millis(500) * 2u32.saturating_pow(restarts.clamp(0, 16) as u32))
        .min(MAX_RESTART_BACKOFF)
}

/// Starts the container's process with only its own environment, in a mount namespace of its
/// own when it has `mounts`; output goes to `<pod dir>/<container>.log`.
async fn spawn(
    pod_key: &str,
    container: &str,
    argv: &[String],
    env: &Env,
    dir: &Path,
    mounts: Option<Vec<Step>>,
) -> std::io::Result<Process> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir);
    process::redirect_output(&mut command, &dir.join(format!("{container}.log")))?;
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    let _ = std::fs::write(
        dir.join(format!("{container}.command")),
        format!("argv: {argv:?}\nenv names: {names:?}\n"),
    );
    let report = match mounts {
        Some(steps) => Some(mount_ns::install(&mut command, steps)?),
        None => None,
    };
    let name = format!("{pod_key}/{container}");
    let spawned = tokio::task::spawn_blocking(move || Process::spawn(name, command))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    spawned.map_err(|e| match &report {
        Some(report) => std::io::Error::new(e.kind(), report.explain(&e)),
        None => e,
    })
}
