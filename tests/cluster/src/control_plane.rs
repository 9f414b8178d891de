//! One complete control plane: etcd, kube-apiserver, kube-controller-manager and the process
//! kubelet, in a private temporary directory on private loopback ports.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Namespace, Pod, ServiceAccount};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::binaries::Binaries;
use crate::component::{Component, log_tail};
use crate::error::{Error, Result};
use crate::images::{ImageProgram, ImageTable};
use crate::kubeconfig::{self, Credentials};
use crate::kubelet::{Kubelet, KubeletConfig};
use crate::pki::{ADMIN_USER, Pki};
use crate::{apiserver, controller_manager, etcd, ports, token};

/// Set to keep a control plane's directory (logs, certificates, Pod logs) after it stops.
pub const KEEP_DIR_ENV: &str = "IBENCH_TESTCLUSTER_KEEP";

/// Prefix of every private directory of this crate (control planes and object-storage servers),
/// so one sweep removes those of dead test binaries.
pub(crate) const DIR_PREFIX: &str = "ibench-testcluster-";
const PORT_ATTEMPTS: u32 = 3;

/// How to start a [`ControlPlane`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Binaries to run; `None` = [`Binaries::locate`].
    pub binaries: Option<Binaries>,
    /// kube-controller-manager `--controllers`.
    pub controllers: Vec<String>,
    /// Initial image → program table of the process kubelet (more via [`ControlPlane::map_image`]).
    pub images: Vec<(String, ImageProgram)>,
    /// Name of the process kubelet's Node.
    pub node_name: String,
    /// Bound on start-to-ready.
    pub ready_timeout: Duration,
    /// Further kube-apiserver flags, after the harness's own (e.g. an audit log or more
    /// admission plugins).
    pub apiserver_args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            binaries: None,
            controllers: controller_manager::DEFAULT_CONTROLLERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            images: Vec::new(),
            node_name: "ibench-process-node".into(),
            ready_timeout: Duration::from_secs(90),
            apiserver_args: Vec::new(),
        }
    }
}

/// A running control plane. Dropping it stops every process it started and removes its
/// directory; its processes also die with the test binary if it is never dropped.
pub struct ControlPlane {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    binaries: Binaries,
    pki: Pki,
    api_port: u16,
    server_url: String,
    kubeconfig_path: PathBuf,
    config: kube::Config,
    images: Arc<ImageTable>,
    node_name: String,
    etcd: Component,
    apiserver: Component,
    controller_manager: Component,
    kubelet: Kubelet,
    startup: Duration,
    stopped: AtomicBool,
    names: AtomicU64,
}

impl Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("server_url", &self.server_url)
            .field("dir", &self.root)
            .finish_non_exhaustive()
    }
}

struct Core {
    etcd: Component,
    apiserver: Component,
    api_port: u16,
    server_url: String,
    config: kube::Config,
}

impl ControlPlane {
    /// Starts a dedicated control plane with default [`Options`]. Most tests should share one
    /// per test binary via [`crate::shared`] instead (start-up costs seconds).
    pub async fn start() -> Result<ControlPlane> {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Result<ControlPlane> {
        let binaries = match options.binaries.clone() {
            Some(b) => b,
            None => tokio::task::spawn_blocking(Binaries::locate)
                .await
                .map_err(|e| Error::Binaries(format!("locating binaries panicked: {e}")))??,
        };
        let started = Instant::now();
        sweep_stale_dirs();
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .map_err(Error::io("creating the control-plane directory"))?;
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("owner.pid"), std::process::id().to_string())
            .map_err(Error::io("writing owner.pid"))?;
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs).map_err(Error::io("creating the log directory"))?;
        let pki = Pki::generate(&root.join("pki"))?;
        let kubeconfig_path = root.join("admin.kubeconfig");

        let mut attempt = 1;
        let core = loop {
            match start_core(
                &binaries,
                &pki,
                &root,
                &kubeconfig_path,
                &options.apiserver_args,
                started + options.ready_timeout,
            )
            .await
            {
                Ok(core) => break core,
                Err(Error::ComponentExited { log_tail, .. })
                    if attempt < PORT_ATTEMPTS && log_tail.contains("address already in use") =>
                {
                    tracing::warn!(
                        attempt,
                        "a loopback port was taken before a component bound it; retrying with new ports"
                    );
                    attempt += 1;
                    let _ = std::fs::remove_dir_all(root.join("etcd"));
                }
                Err(e) => return Err(e),
            }
        };
        let apiserver_ready = started.elapsed();

        let controller_manager = Component::start(
            "kube-controller-manager",
            controller_manager::command(
                &binaries,
                &kubeconfig_path,
                &pki.ca_cert,
                &options.controllers,
            ),
            &logs,
        )?;

        let images = Arc::new(ImageTable::default());
        for (image, program) in &options.images {
            images.insert(image, program.clone());
        }
        let pods_dir = root.join("pods");
        let kubelet = Kubelet::start(KubeletConfig {
            node_name: options.node_name.clone(),
            api_port: core.api_port,
            server_url: core.server_url.clone(),
            ca_pem: pki.ca_pem.clone(),
            pods_dir,
            images: images.clone(),
            client_config: core.config.clone(),
            serving_cert_der: pki.kubelet_cert_der.clone(),
            serving_key_der: pki.kubelet_key_der.clone(),
        })
        .await?;

        let mut cp = ControlPlane {
            dir: Some(dir),
            root,
            binaries,
            pki,
            api_port: core.api_port,
            server_url: core.server_url,
            kubeconfig_path,
            config: core.config,
            images,
            node_name: options.node_name,
            etcd: core.etcd,
            apiserver: core.apiserver,
            controller_manager,
            kubelet,
            startup: Duration::ZERO,
            stopped: AtomicBool::new(false),
            names: AtomicU64::new(0),
        };
        // The controller-manager is up once it has created the default ServiceAccount.
        let deadline = started + options.ready_timeout;
        cp.wait_for_service_account("default", "default", deadline)
            .await?;
        let startup = started.elapsed();
        tracing::info!(?startup, ?apiserver_ready, url = %cp.server_url, dir = %cp.root.display(), "control plane ready");
        eprintln!(
            "ibench-testcluster: control plane ready in {:.1} s (apiserver ready after {:.1} s) at {} [{}]",
            startup.as_secs_f64(),
            apiserver_ready.as_secs_f64(),
            cp.server_url,
            cp.root.display()
        );
        cp.startup = startup;
        Ok(cp)
    }

    /// A new client for the admin identity (`system:masters`). Call it from the runtime that
    /// uses it: a kube client is bound to the Tokio runtime it was created in.
    pub fn client(&self) -> Client {
        Client::try_from(self.config.clone()).expect("a kube client from a valid kubeconfig")
    }

    /// The client configuration behind [`Self::client`].
    pub fn config(&self) -> &kube::Config {
        &self.config
    }

    /// Admin kubeconfig for processes (kubectl, helm, the operator binary).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    pub fn api_port(&self) -> u16 {
        self.api_port
    }

    /// PEM of the CA that signed the apiserver's serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.pki.ca_pem
    }

    /// The control plane's private directory (logs/, pods/, pki/).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// Name of the process kubelet's Node.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// Time from launching etcd to a ready control plane (apiserver /readyz ok, controller-manager
    /// working, Node registered).
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Process ids of etcd, kube-apiserver and kube-controller-manager (for teardown checks).
    pub fn component_pids(&self) -> Vec<(String, u32)> {
        [&self.etcd, &self.apiserver, &self.controller_manager]
            .iter()
            .map(|c| (c.process.name().to_string(), c.process.pid()))
            .collect()
    }

    /// Makes Pods with `image` (any tag) run `program` (see [`ImageProgram::Binary`]).
    pub fn map_image(&self, image: &str, program: impl Into<PathBuf>) {
        self.images
            .insert(image, ImageProgram::Binary(program.into()));
    }

    /// Makes Pods with `image` (any tag) run from the unpacked image `rootfs` (see
    /// [`ImageProgram::Rootfs`], [`crate::oci_image`]).
    pub fn map_image_rootfs(&self, image: &str, rootfs: crate::oci_image::ImageRootfs) {
        self.images.insert(image, ImageProgram::Rootfs(rootfs));
    }

    /// Makes Pods with `image` run their `command` as a host command (see
    /// [`ImageProgram::HostCommand`]).
    pub fn map_host_image(&self, image: &str) {
        self.images.insert(image, ImageProgram::HostCommand);
    }

    /// Creates a fresh namespace `<prefix>-<n>-<random>` and waits until its `default`
    /// ServiceAccount exists (Pods that name no ServiceAccount need it).
    pub async fn namespace(&self, prefix: &str) -> Result<String> {
        let mut clean: String = prefix
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        clean.truncate(40);
        let clean = clean.trim_matches('-');
        let n = self.names.fetch_add(1, Ordering::Relaxed);
        let suffix: u32 = rand::random::<u32>() % 0x10_0000;
        let name = format!(
            "{}-{n}-{suffix:05x}",
            if clean.is_empty() { "test" } else { clean }
        );
        let api: Api<Namespace> = Api::all(self.client());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { "ibench.dev/test-namespace": "true" } }
        }))?;
        api.create(&PostParams::default(), &ns).await?;
        self.wait_for_service_account(&name, "default", Instant::now() + Duration::from_secs(30))
            .await?;
        Ok(name)
    }

    /// A token for `namespace/service_account` from the TokenRequest API (1 h, default audience).
    pub async fn service_account_token(
        &self,
        namespace: &str,
        service_account: &str,
    ) -> Result<String> {
        token::request(&self.client(), namespace, service_account, 3600, None).await
    }

    /// A kubeconfig authenticating as `namespace/service_account`, for running a process under
    /// that identity outside a Pod.
    pub async fn service_account_kubeconfig(
        &self,
        namespace: &str,
        service_account: &str,
    ) -> Result<PathBuf> {
        let token = self
            .service_account_token(namespace, service_account)
            .await?;
        let dir = self.root.join("kubeconfigs");
        std::fs::create_dir_all(&dir).map_err(Error::io("creating kubeconfigs/"))?;
        let path = dir.join(format!("{namespace}.{service_account}.kubeconfig"));
        let user = format!("system:serviceaccount:{namespace}:{service_account}");
        kubeconfig::write(
            &path,
            &self.server_url,
            &self.pki.ca_pem,
            &user,
            Credentials::Token(&token),
            Some(namespace),
        )?;
        Ok(path)
    }

    /// Output (stdout and stderr) of a container run by the process kubelet, if it started.
    pub fn container_log(&self, namespace: &str, pod: &str, container: &str) -> Option<String> {
        let path = self
            .root
            .join("pods")
            .join(namespace)
            .join(pod)
            .join(format!("{container}.log"));
        std::fs::read(path)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// The last `lines` lines of each component's log.
    pub fn component_logs(&self, lines: usize) -> String {
        [&self.etcd, &self.apiserver, &self.controller_manager]
            .iter()
            .map(|c| {
                format!(
                    "--- {} ({}) ---\n{}",
                    c.process.name(),
                    c.log.display(),
                    log_tail(&c.log, lines)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Pods (phase, reasons, container states and logs) and events of `namespace`, for a
    /// failing test's message.
    pub async fn diagnostics(&self, namespace: &str) -> String {
        use std::fmt::Write;
        let client = self.client();
        let mut out = format!("=== diagnostics for namespace {namespace} ===\n");
        match Api::<Pod>::namespaced(client.clone(), namespace)
            .list(&ListParams::default())
            .await
        {
            Ok(pods) => {
                for pod in pods {
                    let status = pod.status.clone().unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "pod {} phase={} reason={} message={} node={}",
                        pod.name_any(),
                        status.phase.as_deref().unwrap_or("-"),
                        status.reason.as_deref().unwrap_or("-"),
                        status.message.as_deref().unwrap_or("-"),
                        pod.spec
                            .as_ref()
                            .and_then(|s| s.node_name.as_deref())
                            .unwrap_or("-"),
                    );
                    for cs in status.container_statuses.iter().flatten() {
                        let _ = writeln!(
                            out,
                            "  container {}: {}",
                            cs.name,
                            serde_json::to_string(&cs.state).unwrap_or_default()
                        );
                    }
                    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
                        if let Some(log) = self.container_log(namespace, &pod.name_any(), &c.name) {
                            let tail: Vec<&str> = log.lines().collect();
                            let _ = writeln!(
                                out,
                                "  log {}:\n    {}",
                                c.name,
                                tail[tail.len().saturating_sub(20)..].join("\n    ")
                            );
                        }
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(out, "(cannot list pods: {e})");
            }
        }
        if let Ok(events) = Api::<Event>::namespaced(client, namespace)
            .list(&ListParams::default())
            .await
        {
            for e in events {
                let _ = writeln!(
                    out,
                    "event {} {}/{}: {} {}",
                    e.type_.as_deref().unwrap_or("-"),
                    e.involved_object.kind.as_deref().unwrap_or("-"),
                    e.involved_object.name.as_deref().unwrap_or("-"),
                    e.reason.as_deref().unwrap_or("-"),
                    e.message.as_deref().unwrap_or("-"),
                );
            }
        }
        out.push_str(&self.component_logs(15));
        out
    }

    /// Polls `name` until `condition` holds, at most `timeout`. A timeout error carries the last
    /// seen object and, for namespaced objects, the namespace's diagnostics.
    pub async fn wait_for<K>(
        &self,
        api: &Api<K>,
        name: &str,
        timeout: Duration,
        condition: impl Fn(&K) -> bool,
    ) -> Result<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + serde::Serialize,
        K::DynamicType: Default,
    {
        let deadline = Instant::now() + timeout;
        let mut last: Option<K> = None;
        let mut last_error = None;
        while Instant::now() < deadline {
            match api.get_opt(name).await {
                Ok(Some(obj)) if condition(&obj) => return Ok(obj),
                Ok(found) => last = found.or(last),
                Err(e) => last_error = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let details = if let Some(obj) = &last {
            let mut details = format!(
                "\nlast seen:\n{}",
                serde_yaml::to_string(obj).unwrap_or_default()
            );
            if let Some(ns) = obj.namespace() {
                details.push_str(&self.diagnostics(&ns).await);
            }
            details
        } else {
            format!(
                "\nnever found (last error: {})",
                last_error.unwrap_or_else(|| "none".into())
            )
        };
        Err(Error::Timeout {
            what: format!("{} {name}", K::kind(&Default::default())),
            after: timeout,
            details,
        })
    }

    async fn wait_for_service_account(
        &self,
        namespace: &str,
        name: &str,
        deadline: Instant,
    ) -> Result<()> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client(), namespace);
        while Instant::now() < deadline {
            self.controller_manager.check_alive()?;
            if let Ok(Some(_)) = api.get_opt(name).await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::Timeout {
            what: format!("ServiceAccount {namespace}/{name} (created by the controller-manager)"),
            after: Duration::from_secs(0),
            details: format!("\n{}", self.component_logs(30)),
        })
    }

    /// Stops everything (bounded) without removing the directory. Idempotent, needs no runtime.
    pub(crate) fn stop_blocking(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        self.kubelet.stop_blocking();
        self.controller_manager.stop_blocking();
        self.apiserver.stop_blocking();
        self.etcd.stop_blocking();
    }

    /// Stops and removes the directory unless [`KEEP_DIR_ENV`] is set; for the shared instance,
    /// which is never dropped.
    pub(crate) fn stop_and_clean_blocking(&self) {
        self.stop_blocking();
        if std::env::var_os(KEEP_DIR_ENV).is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop_blocking();
        if let Some(dir) = self.dir.take()
            && std::env::var_os(KEEP_DIR_ENV).is_some()
        {
            eprintln!("ibench-testcluster: keeping {}", dir.keep().display());
        }
    }
}

async fn start_core(
    binaries: &Binaries,
    pki: &Pki,
    root: &Path,
    kubeconfig_path: &Path,
    apiserver_args: &[String],
    deadline: Instant,
) -> Result<Core> {
    let logs = root.join("logs");
    let etcd_ports = etcd::EtcdPorts {
        client: ports::free_port()?,
        peer: ports::free_port()?,
    };
    let api_port = ports::free_port()?;
    let etcd = Component::start(
        "etcd",
        etcd::command(binaries, &root.join("etcd"), &etcd_ports),
        &logs,
    )?;
    let mut apiserver_command = apiserver::command(
        binaries,
        pki,
        &root.join("apiserver-certs"),
        api_port,
        &etcd_ports.client_url(),
    );
    apiserver_command.args(apiserver_args);
    let apiserver = Component::start("kube-apiserver", apiserver_command, &logs)?;
    let server_url = format!("https://127.0.0.1:{api_port}");
    kubeconfig::write(
        kubeconfig_path,
        &server_url,
        &pki.ca_pem,
        ADMIN_USER,
        Credentials::ClientCert {
            cert_pem: &pki.admin_cert_pem,
            key_pem: &pki.admin_key_pem,
        },
        None,
    )?;
    let config = kubeconfig::load(kubeconfig_path).await?;
    let client = Client::try_from(config.clone())?;
    let mut last;
    loop {
        etcd.check_alive()?;
        apiserver.check_alive()?;
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .expect("a static request");
        match client.request_text(request).await {
            Ok(body) if body.trim() == "ok" => break,
            Ok(body) => last = body,
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            let verbose = http::Request::get("/readyz?verbose")
                .body(Vec::new())
                .expect("a static request");
            let verbose = client
                .request_text(verbose)
                .await
                .unwrap_or_else(|e| e.to_string());
            return Err(Error::Timeout {
                what: "kube-apiserver /readyz".into(),
                after: Duration::ZERO,
                details: format!(
                    "\nlast answer: {last}\n{verbose}\n--- kube-apiserver ---\n{}\n--- etcd ---\n{}",
                    log_tail(&apiserver.log, 30),
                    log_tail(&etcd.log, 15)
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Core {
        etcd,
        apiserver,
        api_port,
        server_url,
        config,
    })
}

/// Removes directories of control planes and object-storage servers whose test binary died
/// without cleaning up (their processes died with it, through PDEATHSIG).
pub(crate) fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten().take(10_000) {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let Ok(pid) = std::fs::read_to_string(path.join("owner.pid")) else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<i32>() else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            tracing::debug!(dir = %path.display(), "removing a stale control-plane directory");
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}
