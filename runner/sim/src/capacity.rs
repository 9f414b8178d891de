//! Admission control like vLLM's scheduler: at most `max_num_seqs` requests run at once, the
//! rest wait in FIFO order in a queue that may be bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
pub(crate) struct Capacity {
    /// Fair (FIFO) semaphore of running slots; `None` when unlimited.
    slots: Option<Arc<Semaphore>>,
    max_waiting: Option<usize>,
    running: AtomicUsize,
    waiting: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
#[error("the waiting queue is full ({0} requests)")]
pub(crate) struct QueueFull(pub usize);

/// Result of admission: a slot now, or a place in the queue.
pub(crate) enum Admission {
    Running(Slot),
    Queued(Queued),
}

/// A request waiting for a slot; leaving the queue (dropping this) updates the gauge.
pub(crate) struct Queued {
    capacity: Arc<Capacity>,
    slots: Arc<Semaphore>,
}

/// A running request; releases its slot when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    capacity: Arc<Capacity>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Capacity {
    pub fn new(max_num_seqs: Option<usize>, max_waiting: Option<usize>) -> Arc<Capacity> {
        Arc::new(Capacity {
            slots: max_num_seqs.map(|n| Arc::new(Semaphore::new(n))),
            max_waiting,
            running: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
        })
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub fn admit(self: &Arc<Self>) -> Result<Admission, QueueFull> {
        let Some(slots) = &self.slots else {
            return Ok(Admission::Running(self.start(None)));
        };
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return Ok(Admission::Running(self.start(Some(permit))));
        }
        let before = self.waiting.fetch_add(1, Ordering::Relaxed);
        if let Some(max) = self.max_waiting.filter(|max| before >= *max) {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(QueueFull(max));
        }
        Ok(Admission::Queued(Queued {
            capacity: self.clone(),
            slots: slots.clone(),
        }))
    }

    fn start(self: &Arc<Self>, permit: Option<OwnedSemaphorePermit>) -> Slot {
        self.running.fetch_add(1, Ordering::Relaxed);
        Slot {
            capacity: self.clone(),
            _permit: permit,
        }
    }
}

impl Admission {
    pub async fn slot(self) -> Slot {
        match self {
            Admission::Running(slot) => slot,
            Admission::Queued(queued) => queued.wait().await,
        }
    }
}

impl Queued {
    async fn wait(self) -> Slot {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        // Count as running before leaving the queue so that running + waiting never dips.
        self.capacity.start(Some(permit))
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.capacity.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.capacity.running.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn third_request_waits_and_a_bounded_queue_rejects() {
        let cap = Capacity::new(Some(2), Some(1));
        let a = cap.admit().unwrap().slot().await;
        let _b = cap.admit().unwrap().slot().await;
        let queued = cap.admit().unwrap();
        assert!(matches!(queued, Admission::Queued(_)));
        assert_eq!((cap.running(), cap.waiting()), (2, 1));
        assert!(cap.admit().is_err());
        let waiter = tokio::spawn(queued.slot());
        tokio::task::yield_now().await;
        drop(a);
        let _c = waiter.await.unwrap();
        assert_eq!((cap.running(), cap.waiting()), (2, 0));
    }

    #[tokio::test]
    async fn unlimited_capacity_counts_running() {
        let cap = Capacity::new(None, None);
        let slots: Vec<_> = (0..5).map(|_| cap.admit().unwrap()).collect();
        assert_eq!(cap.running(), 5);
        drop(slots);
        assert_eq!(cap.running(), 0);
    }
}
