//! Live counters of the running stage, shared by the workers and whoever displays progress
//! (a terminal line, log lines, or the operator's status).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use ibench_core::plan::StagePlan;

#[derive(Debug, Default)]
pub struct Progress {
    stage: AtomicUsize,
    sweep_probe: AtomicBool,
    planned: AtomicU64,
    sent: AtomicU64,
    in_flight: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    started: Mutex<Option<Instant>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub stage: usize,
    /// The stage is a sweep's probe, numbered apart from the benchmark's stages.
    pub sweep_probe: bool,
    pub planned: u64,
    pub sent: u64,
    pub in_flight: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Requests sent per second since the stage started.
    pub send_rate: f64,
}

impl Progress {
    pub(crate) fn start_stage(&self, stage: &StagePlan, planned: u64, at: Instant) {
        self.stage.store(stage.id, Relaxed);
        self.sweep_probe.store(stage.is_sweep_probe(), Relaxed);
        self.planned.store(planned, Relaxed);
        for counter in [
            &self.sent,
            &self.in_flight,
            &self.succeeded,
            &self.failed,
            &self.cancelled,
        ] {
            counter.store(0, Relaxed);
        }
        *self.started.lock().expect("progress lock") = Some(at);
    }

    pub(crate) fn sent(&self) {
        self.sent.fetch_add(1, Relaxed);
        self.in_flight.fetch_add(1, Relaxed);
    }

    pub(crate) fn finished(&self, succeeded: bool, cancelled: bool) {
        self.in_flight.fetch_sub(1, Relaxed);
        let counter = if cancelled {
            &self.cancelled
        } else if succeeded {
            &self.succeeded
        } else {
            &self.failed
        };
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn not_sent(&self, count: u64) {
        self.cancelled.fetch_add(count, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let sent = self.sent.load(Relaxed);
        let elapsed = self
            .started
            .lock()
            .expect("progress lock")
            .and_then(|t| Instant::now().checked_duration_since(t))
            .map_or(0.0, |d| d.as_secs_f64());
        Snapshot {
            stage: self.stage.load(Relaxed),
            sweep_probe: self.sweep_probe.load(Relaxed),
            planned: self.planned.load(Relaxed),
            sent,
            in_flight: self.in_flight.load(Relaxed),
            succeeded: self.succeeded.load(Relaxed),
            failed: self.failed.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            send_rate: if elapsed > 0.0 {
                sent as f64 / elapsed
            } else {
                0.0
            },
        }
    }
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.sweep_probe {
            "sweep probe"
        } else {
            "stage"
        };
        write!(f, "{kind} {}", self.stage)?;
        write!(
            f,
            ": sent {}/{}, in flight {}, {:.1} req/s, ok {}, errors {}, cancelled {}",
            self.sent,
            self.planned,
            self.in_flight,
            self.send_rate,
            self.succeeded,
            self.failed,
            self.cancelled
        )
    }
}
