//! A worker's HTTP/2 connections: requests are streams, packed onto the oldest connection with
//! a free stream (fewer connections, each busier: fewer wake-ups and frames per request); a
//! new connection is opened when all are at the server's SETTINGS_MAX_CONCURRENT_STREAMS,
//! up to `load.worker_max_tcp_connections`; past that, requests wait for a stream
//! (`SendRequest::ready`). A connection whose task has ended (server closed it, GOAWAY) is
//! dropped from the pool at the next checkout.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::sync::OnceCell;

use super::error::H2Error;
use super::handshake::{Opened, open};
use crate::http::connector::Connector;
use crate::http::pool::{Prewarmed, open_ahead};

/// Streams assumed per connection until it is open: RFC 9113 recommends servers allow at
/// least 100, and h2 assumes as much until the server's SETTINGS say otherwise.
const ASSUMED_STREAMS: usize = 100;

/// One connection, opening or open, and the requests assigned to it.
struct Slot {
    opened: OnceCell<Opened>,
    assigned: AtomicUsize,
}

impl Slot {
    fn new() -> Arc<Self> {
        Arc::new(Slot {
            opened: OnceCell::new(),
            assigned: AtomicUsize::new(0),
        })
    }

    fn closed(&self) -> bool {
        self.opened
            .get()
            .is_some_and(|o| o.closed.load(Ordering::Relaxed))
    }

    fn close(&self) {
        if let Some(opened) = self.opened.get() {
            opened.closed.store(true, Ordering::Relaxed);
        }
    }

    /// Streams the server allows at once on it.
    fn limit(&self) -> usize {
        self.opened
            .get()
            .map_or(ASSUMED_STREAMS, |o| o.send.current_max_send_streams())
    }
}

/// A request's claim on a connection's stream, released when dropped (the response read or
/// abandoned).
pub(super) struct Assigned(Arc<Slot>);

impl Drop for Assigned {
    fn drop(&mut self) {
        self.0.assigned.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(super) struct H2Pool {
    connector: Connector,
    /// Oldest first.
    slots: Mutex<Vec<Arc<Slot>>>,
    max_connections: usize,
}

/// Which connection a request goes to.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    Existing(usize),
    Open,
}

/// The first connection with a free stream; else a new one while fewer than `max` are open;
/// else the least busy. `loads` are (assigned, limit) per connection, oldest first.
fn choose(loads: &[(usize, usize)], max: usize) -> Choice {
    if let Some(free) = loads.iter().position(|(assigned, limit)| assigned < limit) {
        return Choice::Existing(free);
    }
    if loads.len() < max {
        return Choice::Open;
    }
    loads
        .iter()
        .enumerate()
        .min_by_key(|(_, (assigned, _))| *assigned)
        .map_or(Choice::Open, |(least, _)| Choice::Existing(least))
}

impl H2Pool {
    pub fn new(connector: Connector, max_connections: usize) -> Self {
        H2Pool {
            connector,
            slots: Mutex::default(),
            max_connections: max_connections.max(1),
        }
    }

    fn assign(&self) -> Assigned {
        let mut slots = self.slots.lock().expect("pool lock");
        slots.retain(|slot| !slot.closed());
        let loads: Vec<(usize, usize)> = slots
            .iter()
            .map(|s| (s.assigned.load(Ordering::Relaxed), s.limit()))
            .collect();
        let slot = match choose(&loads, self.max_connections) {
            Choice::Existing(index) => slots[index].clone(),
            Choice::Open => {
                slots.push(Slot::new());
                slots[slots.len() - 1].clone()
            }
        };
        slot.assigned.fetch_add(1, Ordering::Relaxed);
        Assigned(slot)
    }

    /// A stream's sender on a connection with room for it (waiting for room, or for the
    /// connection to open), and the claim that holds the stream. A connection found closed
    /// before anything was sent on it is left for the next one, once.
    pub async fn checkout(&self) -> Result<(SendRequest<Bytes>, Assigned), H2Error> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let assigned = self.assign();
            let slot = &assigned.0;
            // Requests assigned to a connection still opening wait for it; if the one opening
            // it gives up (its time-out), the next waiter opens it.
            let opened = slot
                .opened
                .get_or_try_init(|| open(&self.connector))
                .await?;
            match opened.send.clone().ready().await {
                Ok(send) => return Ok((send, assigned)),
                Err(e) => {
                    slot.close();
                    if attempts >= 2 {
                        return Err(H2Error::Protocol(e));
                    }
                }
            }
        }
    }

    /// Opens the connections `concurrency` requests in flight need at first (one per
    /// [`ASSUMED_STREAMS`], at most `load.worker_max_tcp_connections`).
    pub async fn prewarm(&self, concurrency: usize) -> Prewarmed {
        let count = concurrency
            .div_ceil(ASSUMED_STREAMS)
            .min(self.max_connections);
        open_ahead(
            count,
            || async {
                let slot = Slot::new();
                slot.opened
                    .get_or_try_init(|| open(&self.connector))
                    .await?;
                Ok::<_, H2Error>(slot)
            },
            |slot| self.slots.lock().expect("pool lock").push(slot),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_fill_the_oldest_connection_with_room_first() {
        assert_eq!(
            choose(&[(100, 100), (3, 100), (0, 100)], 8),
            Choice::Existing(1)
        );
        assert_eq!(choose(&[(0, 128)], 1), Choice::Existing(0));
    }

    #[test]
    fn a_new_connection_opens_only_when_all_are_full_and_the_limit_allows() {
        assert_eq!(choose(&[], 1), Choice::Open);
        assert_eq!(choose(&[(100, 100), (128, 128)], 3), Choice::Open);
        // At the limit: the least busy, where the request waits for a stream.
        assert_eq!(choose(&[(130, 100), (101, 100)], 2), Choice::Existing(1));
    }

    #[test]
    fn a_server_allowing_no_streams_yet_still_gets_requests_queued() {
        assert_eq!(choose(&[(0, 0)], 1), Choice::Existing(0));
    }
}
