//! Child processes that cannot outlive the test binary.
//!
//! Every child gets `PR_SET_PDEATHSIG=SIGKILL`, so the kernel kills it when its parent dies even
//! if no destructor runs (a shared control plane lives in a static, and statics are never
//! dropped; a test binary can also be killed outright). The signal fires when the *thread* that
//! forked the child exits, and libtest runs every test on its own short-lived thread, so all
//! children are forked by one dedicated thread that lives as long as the process.
//!
//! Each child leads its own process group, so stopping it also stops whatever it forked.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;
use tokio::sync::watch;

struct SpawnRequest {
    command: Command,
    reply: mpsc::Sender<io::Result<Child>>,
}

fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("ibench-testcluster-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with the process.
                for mut request in rx {
                    let _ = request.reply.send(request.command.spawn());
                }
            })
            .expect("cannot start the process spawner thread");
        Mutex::new(tx)
    })
}

/// A running (or finished) child process and its process group.
#[derive(Clone)]
pub(crate) struct Process {
    name: String,
    pid: Pid,
    state: Arc<Mutex<Option<ExitStatus>>>,
    exited: watch::Receiver<Option<ExitStatus>>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.name, self.pid)
    }
}

/// Opens `log` for appending and wires it to both stdout and stderr of `command`.
pub(crate) fn redirect_output(command: &mut Command, log: &Path) -> io::Result<()> {
    let file = File::options().create(true).append(true).open(log)?;
    command.stdin(Stdio::null());
    command.stdout(file.try_clone()?);
    command.stderr(file);
    Ok(())
}

impl Process {
    /// Spawns `command` from the long-lived spawner thread. Blocks only for the fork/exec.
    pub(crate) fn spawn(name: impl Into<String>, mut command: Command) -> io::Result<Process> {
        let name = name.into();
        let parent = std::process::id() as i32;
        // SAFETY: only async-signal-safe calls (prctl, getppid, setpgid) run between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl; then nobody would kill us.
                if libc::getppid() != parent {
                    return Err(io::Error::other("parent exited during spawn"));
                }
                if libc::setpgid(0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let (reply_tx, reply_rx) = mpsc::channel();
        spawner()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(SpawnRequest {
                command,
                reply: reply_tx,
            })
            .map_err(|_| io::Error::other("process spawner thread is gone"))?;
        let child = reply_rx
            .recv()
            .map_err(|_| io::Error::other("process spawner thread dropped the request"))??;
        let pid = Pid::from_raw(child.id() as i32);
        let state = Arc::new(Mutex::new(None));
        let (tx, exited) = watch::channel(None);
        let reaper_state = state.clone();
        thread::Builder::new()
            .name(format!("reap-{pid}"))
            .spawn(move || reap(child, pid, reaper_state, tx))?;
        tracing::debug!(%name, %pid, "spawned");
        Ok(Process {
            name,
            pid,
            state,
            exited,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The exit status, if the process has already been reaped.
    pub(crate) fn try_status(&self) -> Option<ExitStatus> {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Signals the whole process group unless the leader is already reaped (its pid, and with
    /// it the group id, could then belong to an unrelated process).
    pub(crate) fn signal(&self, signal: Signal) {
        let reaped = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if reaped.is_none() {
            let _ = killpg(self.pid, signal);
        }
    }

    pub(crate) async fn wait(&self) -> ExitStatus {
        let mut rx = self.exited.clone();
        let status = rx.wait_for(|s| s.is_some()).await.map(|s| *s);
        match status {
            Ok(Some(s)) => s,
            // The reaper always sends before it exits; this arm only satisfies the types.
            _ => self
                .try_status()
                .unwrap_or_else(|| std::os::unix::process::ExitStatusExt::from_raw(9)),
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once the process is reaped.
    pub(crate) async fn terminate(&self, grace: Duration) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        if let Ok(status) = tokio::time::timeout(grace, self.wait()).await {
            return status;
        }
        self.signal(Signal::SIGKILL);
        self.wait().await
    }

    /// SIGKILL and wait (bounded) without needing an async runtime; used by Drop and atexit.
    pub(crate) fn kill_blocking(&self, limit: Duration) -> Option<ExitStatus> {
        self.signal(Signal::SIGKILL);
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

fn reap(
    mut child: Child,
    pid: Pid,
    state: Arc<Mutex<Option<ExitStatus>>>,
    tx: watch::Sender<Option<ExitStatus>>,
) {
    // Wait without reaping first, so `signal` can never hit a recycled pid: the zombie keeps
    // the pid reserved until we reap it below while holding the state lock.
    for _ in 0..1_000_000 {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Err(nix::errno::Errno::EINTR) => continue,
            _ => break,
        }
    }
    let mut guard = state.lock().unwrap_or_else(|p| p.into_inner());
    let status = child
        .wait()
        .unwrap_or_else(|_| std::os::unix::process::ExitStatusExt::from_raw(255 << 8));
    *guard = Some(status);
    drop(guard);
    let _ = tx.send(Some(status));
}

/// Human-readable exit status ("exit code 3", "signal 9").
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown exit status".into(),
    }
}

/// Kubernetes convention: 128 + signal number for signal deaths.
pub(crate) fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(9))
}
