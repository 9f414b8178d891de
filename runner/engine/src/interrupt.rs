//! How a run is stopped from outside: first no more sends, then, when the in-flight requests
//! have had their teardown grace or the caller loses patience, no more waiting for them.

use tokio_util::sync::CancellationToken;

/// A run's two stop levels. Stopping ends sending at once; the requests in flight then get
/// the stage's teardown grace, unless the run is aborted, which cancels them at once.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    stop: CancellationToken,
    abort: CancellationToken,
}

impl Interrupt {
    /// Stopping and aborting as one: in-flight requests are cancelled as soon as `cancel` is.
    pub fn immediate(cancel: &CancellationToken) -> Self {
        Interrupt {
            stop: cancel.clone(),
            abort: cancel.clone(),
        }
    }

    /// Stopped or aborted with this one, and stoppable alone (the run's own stop, such as a
    /// tripped circuit breaker, is no signal from outside).
    pub(crate) fn child(&self) -> Self {
        Interrupt {
            stop: self.stop.child_token(),
            abort: self.abort.child_token(),
        }
    }

    /// No more sends; in-flight requests have the teardown grace.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Cancels the in-flight requests too.
    pub fn abort(&self) {
        self.stop.cancel();
        self.abort.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    pub fn stopped(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }

    pub fn aborted(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.abort.cancelled()
    }

    pub(crate) fn abort_token(&self) -> &CancellationToken {
        &self.abort
    }

    pub(crate) fn stop_token(&self) -> &CancellationToken {
        &self.stop
    }
}
