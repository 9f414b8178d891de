//! The child side of a container's volume mounts: a list of mount steps that the forked child
//! runs in a private mount namespace between `fork` and `exec`.
//!
//! Between `fork` and `exec` of a multithreaded parent only async-signal-safe calls are allowed,
//! so every path is a `CString` built beforehand and each step is one or a few syscalls (nix
//! passes a `&CStr` straight through without allocating). A failing step writes its index and
//! errno to a pipe, so the parent can say which volume could not be mounted; `std` itself only
//! carries the errno back.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;

/// One syscall-sized action in the child.
#[derive(Debug)]
pub(crate) enum Op {
    /// Leaves the parent's mount namespace.
    Unshare,
    /// Creates a directory.
    Mkdir(CString),
    /// Creates an empty file to bind a file onto.
    CreateFile(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: MsFlags,
        data: Option<CString>,
    },
    /// Detaches a mount (and everything below it).
    Detach(CString),
    /// Makes a directory the new root: chdir into it, move it over `/`, chroot to it.
    SwitchRoot(CString),
    Chdir(CString),
    /// Becomes `uid`:`gid` with no supplementary groups (last: it drops the rights the steps
    /// before need). The spawner's own `pre_exec` (parent-death signal) runs after it, as
    /// changing the user clears that signal.
    SetIds {
        uid: u32,
        gid: u32,
    },
}

/// An [`Op`], the errno that counts as success (e.g. `EEXIST` for a directory that is there
/// already), and what it does in words for error messages.
#[derive(Debug)]
pub(crate) struct Step {
    pub op: Op,
    pub tolerate: Option<Errno>,
    pub what: String,
}

impl Step {
    pub(crate) fn new(op: Op, what: impl Into<String>) -> Step {
        Step {
            op,
            tolerate: None,
            what: what.into(),
        }
    }

    pub(crate) fn tolerating(mut self, errno: Errno) -> Step {
        self.tolerate = Some(errno);
        self
    }
}

/// Reads which step failed after a failed spawn.
pub(crate) struct FailureReport {
    read: OwnedFd,
    steps: Vec<String>,
}

impl FailureReport {
    /// Describes a spawn error: which step failed and why, or the error itself when no step
    /// failed (say, the program was not found).
    pub(crate) fn explain(&self, error: &io::Error) -> String {
        let mut buf = [0u8; 8];
        match nix::unistd::read(&self.read, &mut buf) {
            Ok(8) => {
                let index = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                let errno = Errno::from_raw(i32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]));
                let what = self.steps.get(index).map_or("mount setup", String::as_str);
                format!("{what}: {}", io::Error::from(errno))
            }
            _ => error.to_string(),
        }
    }
}

/// Makes `command` run `steps` in its child before `exec`.
pub(crate) fn install(command: &mut Command, steps: Vec<Step>) -> io::Result<FailureReport> {
    // Non-blocking: the parent reads only after the spawn has failed, by which time the child
    // has written everything it will ever write.
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    let report = FailureReport {
        read,
        steps: steps.iter().map(|s| s.what.clone()).collect(),
    };
    // SAFETY: `run` makes only async-signal-safe syscalls on data prepared before the fork.
    unsafe {
        command.pre_exec(move || run(&steps, &write));
    }
    Ok(report)
}

fn run(steps: &[Step], report: &OwnedFd) -> io::Result<()> {
    for (index, step) in steps.iter().enumerate() {
        match apply(&step.op) {
            Ok(()) => {}
            Err(e) if Some(e) == step.tolerate => {}
            Err(e) => {
                let mut buf = [0u8; 8];
                buf[..4].copy_from_slice(&(index as u32).to_le_bytes());
                buf[4..].copy_from_slice(&(e as i32).to_le_bytes());
                let _ = nix::unistd::write(report, &buf);
                return Err(io::Error::from_raw_os_error(e as i32));
            }
        }
    }
    Ok(())
}

fn apply(op: &Op) -> Result<(), Errno> {
    match op {
        Op::Unshare => nix::sched::unshare(CloneFlags::CLONE_NEWNS),
        Op::Mkdir(path) => nix::unistd::mkdir(path.as_c_str(), Mode::from_bits_truncate(0o755)),
        Op::CreateFile(path) => nix::fcntl::open(
            path.as_c_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop),
        Op::Symlink { target, link } => {
            nix::unistd::symlinkat(target.as_c_str(), AT_FDCWD, link.as_c_str())
        }
        Op::Mount {
            source,
            target,
            fstype,
            flags,
            data,
        } => nix::mount::mount(
            source.as_deref(),
            target.as_c_str(),
            fstype.as_deref(),
            *flags,
            data.as_deref(),
        ),
        Op::Detach(path) => nix::mount::umount2(path.as_c_str(), MntFlags::MNT_DETACH),
        Op::SwitchRoot(dir) => {
            let here: &CStr = c".";
            nix::unistd::chdir(dir.as_c_str())?;
            nix::mount::mount(
                Some(here),
                c"/",
                None::<&CStr>,
                MsFlags::MS_MOVE,
                None::<&CStr>,
            )?;
            nix::unistd::chroot(here)
        }
        Op::Chdir(dir) => nix::unistd::chdir(dir.as_c_str()),
        Op::SetIds { uid, gid } => {
            // SAFETY: plain syscalls; `gid` outlives the call.
            let rc = unsafe {
                if libc::setgroups(1, gid) != 0 || libc::setgid(*gid) != 0 {
                    -1
                } else {
                    libc::setuid(*uid)
                }
            };
            if rc == 0 { Ok(()) } else { Err(Errno::last()) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_step_is_named_in_the_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join("made");
        let path = |p: &std::path::Path| CString::new(p.to_str().unwrap()).unwrap();
        let steps = vec![
            Step::new(Op::Mkdir(path(&made)), "making a directory"),
            Step::new(Op::Mkdir(path(&made)), "making it again").tolerating(Errno::EEXIST),
            Step::new(
                Op::Mkdir(path(&dir.path().join("missing/child"))),
                "making a directory in a missing one",
            ),
            Step::new(Op::Mkdir(path(&dir.path().join("never"))), "never run"),
        ];
        let mut command = Command::new("true");
        let report = install(&mut command, steps).unwrap();
        let error = command.spawn().unwrap_err();
        assert_eq!(
            report.explain(&error),
            "making a directory in a missing one: No such file or directory (os error 2)"
        );
        assert!(made.is_dir());
        assert!(!dir.path().join("never").exists());
    }

    #[test]
    fn without_a_failing_step_the_spawn_error_speaks_for_itself() {
        let mut command = Command::new("/nonexistent/ibench-testcluster-program");
        let report = install(&mut command, Vec::new()).unwrap();
        let error = command.spawn().unwrap_err();
        assert_eq!(report.explain(&error), error.to_string());
    }
}
