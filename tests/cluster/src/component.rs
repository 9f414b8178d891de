//! A control-plane process with its log file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::process::{self, Process};

pub(crate) struct Component {
    pub process: Process,
    pub log: PathBuf,
}

impl Component {
    pub(crate) fn start(name: &str, mut command: Command, log_dir: &Path) -> Result<Component> {
        let log = log_dir.join(format!("{name}.log"));
        process::redirect_output(&mut command, &log)
            .map_err(Error::io(format!("opening {}", log.display())))?;
        tracing::debug!(component = name, ?command, "starting");
        let process =
            Process::spawn(name, command).map_err(Error::io(format!("starting {name}")))?;
        Ok(Component { process, log })
    }

    /// `Err(ComponentExited)` if the process is gone.
    pub(crate) fn check_alive(&self) -> Result<()> {
        match self.process.try_status() {
            None => Ok(()),
            Some(status) => Err(Error::ComponentExited {
                component: self.process.name().to_string(),
                status: process::describe(status),
                log_tail: log_tail(&self.log, 30),
            }),
        }
    }

    pub(crate) fn stop_blocking(&self) {
        self.process.kill_blocking(Duration::from_secs(5));
    }
}

/// The last `lines` lines of a log file (or a note that it cannot be read).
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

impl Drop for Component {
    /// Also covers a start-up that fails half-way: whatever was started stops.
    fn drop(&mut self) {
        self.stop_blocking();
    }
}
