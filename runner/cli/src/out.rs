//! Standard output that may be closed early (`ibench run ... | head -1`): the run goes on and
//! its reports are still written. `println!` panics when stdout is a closed pipe (Rust ignores
//! SIGPIPE, so the write fails with EPIPE), which exited 101 after the run.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout is found closed: nothing more is written to it.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout unless it has been closed; other write errors are logged once.
pub fn print(text: &str) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::warn!(error = %e, "cannot write to stdout; output continues in the report files only");
        }
    }
}

/// [`print`] with a newline, like `println!`.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::print(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use say;
