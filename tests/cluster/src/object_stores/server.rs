//! What the object-storage servers share: a private directory swept when its test binary dies, a
//! logged child process that dies with the test binary, start-up retried when another process
//! took a probed port first, and a readiness wait bounded in time.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::component::{Component, log_tail};
use crate::control_plane::{DIR_PREFIX, KEEP_DIR_ENV, sweep_stale_dirs};
use crate::error::{Error, Result};
use crate::process;

/// How long a server may take from launch to answering its readiness probe; SeaweedFS needs
/// about 5 s on an idle machine, far more on a loaded 2-core one.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(90);
const PORT_ATTEMPTS: u32 = 3;
const PROBE_INTERVAL: Duration = Duration::from_millis(100);
const LOG_TAIL_LINES: usize = 30;

/// A server's private directory: `<tmp>/ibench-testcluster-<kind>-XXXX/`, with `owner.pid` so a
/// later start sweeps it if this test binary dies without cleaning up.
pub(crate) struct ServerDir {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
}

impl ServerDir {
    pub(crate) fn create(kind: &str) -> Result<ServerDir> {
        sweep_stale_dirs();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{kind}-"))
            .tempdir()
            .map_err(Error::io(format!("creating the {kind} directory")))?;
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("owner.pid"), std::process::id().to_string())
            .map_err(Error::io("writing owner.pid"))?;
        Ok(ServerDir {
            dir: Some(dir),
            root,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.root
    }

    /// Removes the directory unless [`KEEP_DIR_ENV`] is set; for shared servers, which are
    /// never dropped.
    pub(crate) fn remove_blocking(&self) {
        if std::env::var_os(KEEP_DIR_ENV).is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

impl Drop for ServerDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take()
            && std::env::var_os(KEEP_DIR_ENV).is_some()
        {
            eprintln!("ibench-testcluster: keeping {}", dir.keep().display());
        }
    }
}

/// A running server process; dropping it kills it.
pub(crate) struct ServerProcess {
    component: Component,
}

impl ServerProcess {
    pub(crate) fn pid(&self) -> u32 {
        self.component.process.pid()
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.component.log
    }

    pub(crate) fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.component.log, lines)
    }

    /// SIGKILL, bounded; the servers keep nothing worth a graceful shutdown (SeaweedFS's takes
    /// seconds).
    pub(crate) fn stop_blocking(&self) {
        self.component.stop_blocking();
    }

    fn exited(&self) -> Option<Error> {
        self.component
            .process
            .try_status()
            .map(|status| Error::ServerExited {
                server: self.component.process.name().to_string(),
                status: process::describe(status),
                log_tail: self.log_tail(LOG_TAIL_LINES),
            })
    }
}

/// Launches a server and waits until `probe` succeeds, at most `ready_timeout` in all.
///
/// `command(attempt)` builds the command line with fresh ports for each attempt: a probed free
/// port can be taken by another process before the server binds it, which the server reports
/// with one of `port_taken` in its log before exiting; then it starts again with new ports.
/// `probe` answers `Err(why not yet)` until the server is ready.
pub(crate) async fn launch<P, F>(
    name: &str,
    dir: &Path,
    ready_timeout: Duration,
    port_taken: &[&str],
    mut command: impl FnMut(u32) -> Result<(Command, P)>,
    mut probe: impl FnMut(&P) -> F,
) -> Result<(ServerProcess, P)>
where
    F: Future<Output = std::result::Result<(), String>>,
{
    let deadline = Instant::now() + ready_timeout;
    let mut attempt = 1;
    loop {
        let (mut cmd, ports) = command(attempt)?;
        cmd.current_dir(dir);
        let server = ServerProcess {
            component: Component::start(name, cmd, dir)?,
        };
        match wait_ready(&server, name, deadline, || probe(&ports)).await {
            Ok(()) => return Ok((server, ports)),
            Err(Error::ServerExited { log_tail, .. })
                if attempt < PORT_ATTEMPTS && port_taken.iter().any(|m| log_tail.contains(m)) =>
            {
                tracing::warn!(
                    server = name,
                    attempt,
                    "a loopback port was taken before the server bound it; retrying with new ports"
                );
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn wait_ready<F>(
    server: &ServerProcess,
    name: &str,
    deadline: Instant,
    mut probe: impl FnMut() -> F,
) -> Result<()>
where
    F: Future<Output = std::result::Result<(), String>>,
{
    let started = Instant::now();
    let mut last = String::from("no probe answered yet");
    // Bounded by the deadline; the count only guards against a clock that does not advance.
    for _ in 0..100_000 {
        if let Some(exited) = server.exited() {
            return Err(exited);
        }
        match probe().await {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
    if let Some(exited) = server.exited() {
        return Err(exited);
    }
    Err(Error::Timeout {
        what: format!("{name} to become ready"),
        after: started.elapsed(),
        details: format!(
            "\nlast probe: {last}\n--- {name} log ({}) ---\n{}",
            server.log_path().display(),
            server.log_tail(LOG_TAIL_LINES)
        ),
    })
}

/// `<prefix>-<n>-<random>`: a bucket name no other test of this binary uses, valid for S3 and
/// GCS (3-63 characters of lowercase letters, digits and dashes, starting and ending with a
/// letter or digit).
pub(crate) fn unique_bucket_name(prefix: &str, n: u64) -> String {
    let mut clean: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    clean.truncate(40);
    let clean = clean.trim_matches('-');
    let suffix: u32 = rand::random::<u32>() % 0x10_0000;
    format!(
        "{}-{n}-{suffix:05x}",
        if clean.is_empty() { "test" } else { clean }
    )
}

/// Bucket names the harness's own requests can put in a path unencoded, and which both S3 and
/// GCS accept.
pub(crate) fn check_bucket_name(name: &str) -> std::result::Result<(), String> {
    let valid = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid bucket name {name:?}: use 3-63 lowercase letters, digits, '-' or '.', \
             starting and ending with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn launch_shell(script: &str, ready_timeout: Duration) -> Result<()> {
        let dir = ServerDir::create("launch-test")?;
        let launched = launch(
            "test-server",
            dir.path(),
            ready_timeout,
            &["port taken"],
            |_| {
                let mut c = Command::new("sh");
                c.arg("-c").arg(script);
                Ok((c, ()))
            },
            |_| async { Err("never ready".to_string()) },
        )
        .await;
        let (server, ()) = launched?;
        server.stop_blocking();
        Ok(())
    }

    #[tokio::test]
    async fn a_server_that_exits_is_reported_with_its_status_and_log() {
        let error = launch_shell(
            "echo first words; echo last words >&2; exit 3",
            READY_TIMEOUT,
        )
        .await
        .unwrap_err();
        let Error::ServerExited {
            server,
            status,
            log_tail,
        } = &error
        else {
            panic!("expected ServerExited, got {error}");
        };
        assert_eq!(server, "test-server");
        assert_eq!(status, "exit code 3");
        assert_eq!(log_tail, "first words\nlast words");
    }

    #[tokio::test]
    async fn a_server_that_never_gets_ready_times_out_with_the_last_probe_and_its_log() {
        let started = Instant::now();
        let error = launch_shell("echo still starting; sleep 30", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        let text = error.to_string();
        assert!(matches!(error, Error::Timeout { .. }), "{text}");
        for expected in [
            "test-server to become ready",
            "last probe: never ready",
            "still starting",
        ] {
            assert!(text.contains(expected), "{expected:?} not in: {text}");
        }
    }

    #[tokio::test]
    async fn a_port_taken_before_the_server_bound_it_is_retried_then_reported() {
        let error = launch_shell("echo port taken; exit 1", READY_TIMEOUT)
            .await
            .unwrap_err();
        let Error::ServerExited { log_tail, .. } = &error else {
            panic!("expected ServerExited, got {error}");
        };
        // One log file across attempts: each attempt appended its line.
        assert_eq!(
            log_tail.lines().count(),
            PORT_ATTEMPTS as usize,
            "{log_tail}"
        );
    }

    #[test]
    fn bucket_names() {
        let name = unique_bucket_name("My Test_Bucket!", 7);
        assert!(name.starts_with("my-test-bucket-7-"), "{name}");
        check_bucket_name(&name).unwrap();
        assert!(unique_bucket_name("--", 0).starts_with("test-0-"));
        for bad in [
            "ab",
            "Upper",
            "-dash",
            "dash-",
            "under_score",
            &"x".repeat(64),
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
