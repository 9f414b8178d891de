//! The run's circuit breakers, shared by the worker threads: each finished request is fed to
//! them, and the first trip (or a trip reported by another runner) stops the run once.

use std::sync::{Mutex, OnceLock};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use ibench_core::breakers::Breakers;
use ibench_core::metrics::BreakerTrip;

pub struct BreakerWatch {
    breakers: Mutex<Breakers>,
    trip: OnceLock<BreakerTrip>,
    tripped: CancellationToken,
}

impl std::fmt::Debug for BreakerWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakerWatch")
            .field("trip", &self.trip.get())
            .finish_non_exhaustive()
    }
}

impl BreakerWatch {
    pub fn new(breakers: Breakers) -> Self {
        BreakerWatch {
            breakers: Mutex::new(breakers),
            trip: OnceLock::new(),
            tripped: CancellationToken::new(),
        }
    }

    /// Feeds one finished request of stage `stage_id` at Unix time `now`; `record` builds its
    /// inference-perf record, only while nothing has tripped.
    pub(crate) fn feed(
        &self,
        stage_id: usize,
        now: f64,
        record: impl FnOnce() -> serde_json::Value,
    ) {
        if self.trip.get().is_some() {
            return;
        }
        let record = record();
        let mut breakers = self.breakers.lock().expect("breakers lock");
        if let Some(name) = breakers.feed(record, now) {
            let name = name.to_string();
            drop(breakers);
            self.trip(BreakerTrip {
                name,
                stage_id,
                time: now,
                runner: None,
            });
        }
    }

    /// Records `trip` and stops the run, unless a breaker tripped already (the first one is
    /// the cause). Also how a trip on another runner stops this one.
    pub fn trip(&self, trip: BreakerTrip) {
        if self.trip.set(trip).is_ok() {
            self.tripped.cancel();
        }
    }

    /// Resolves once a breaker trips.
    pub fn tripped(&self) -> WaitForCancellationFuture<'_> {
        self.tripped.cancelled()
    }

    pub fn trip_info(&self) -> Option<&BreakerTrip> {
        self.trip.get()
    }
}
