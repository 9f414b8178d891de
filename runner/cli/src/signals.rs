//! `ibench run`'s answer to SIGINT, SIGTERM and SIGHUP: the first stops sending and gives the
//! requests in flight the teardown grace, a second cancels them at once. Reports are then
//! written as after a normal end: `timeout`, `docker stop`, CI cancellation and pod deletion
//! send SIGTERM, a closed terminal SIGHUP, and none of them should lose the run.

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use ibench_engine::Interrupt;
use tokio::signal::unix::{SignalKind, signal};

/// The signals that stop a run, with the exit code each one leaves.
const STOPPING: [(SignalKind, &str, u8); 3] = [
    (SignalKind::interrupt(), "SIGINT", 130),
    (SignalKind::hangup(), "SIGHUP", 130),
    // 128 + 15, as a shell reports a process killed by SIGTERM.
    (SignalKind::terminate(), "SIGTERM", 143),
];

/// Which signal stopped the run, once one has.
#[derive(Clone, Default)]
pub struct Stopped(Arc<OnceLock<(&'static str, u8)>>);

impl Stopped {
    /// The signal that stopped the run and the exit code it leaves.
    pub fn by(&self) -> Option<(&'static str, ExitCode)> {
        self.0
            .get()
            .map(|(name, code)| (*name, ExitCode::from(*code)))
    }
}

/// Installs the handlers (replacing the default, which kills the process) and stops or aborts
/// `interrupt` when the signals come.
pub fn watch(interrupt: Interrupt) -> std::io::Result<Stopped> {
    let mut streams = Vec::with_capacity(STOPPING.len());
    for (kind, name, code) in STOPPING {
        streams.push((signal(kind)?, name, code));
    }
    let stopped = Stopped::default();
    let first = stopped.clone();
    tokio::spawn(async move {
        // Two signals matter: the first stops, the second aborts; later ones find the run
        // already ending.
        for round in 0..2 {
            let (name, code) = next(&mut streams).await;
            if round == 0 {
                let _ = first.0.set((name, code));
                tracing::warn!(
                    signal = name,
                    "stopping: no more requests are sent; those in flight have the teardown \
                     grace (stage_teardown_grace_seconds) to finish; signal again to cancel them now"
                );
                interrupt.stop();
            } else {
                tracing::warn!(signal = name, "cancelling the requests in flight");
                interrupt.abort();
            }
        }
    });
    Ok(stopped)
}

/// The next of the signals, whichever comes first.
async fn next(
    streams: &mut [(tokio::signal::unix::Signal, &'static str, u8)],
) -> (&'static str, u8) {
    let waits = streams.iter_mut().map(|(stream, name, code)| {
        Box::pin(async move {
            stream.recv().await;
            (*name, *code)
        })
    });
    futures::future::select_all(waits).await.0
}
