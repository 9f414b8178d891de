//! A worker's idle connections. Checked out for one exchange, returned only after a complete
//! response: a connection whose exchange failed or was cancelled is dropped, never reused in an
//! unknown state.
//!
//! Taken in [`Rotation`] order: mostly the newest, whose memory is hot in the CPU's caches
//! (round-robin over all of them cost 8% more CPU per request at 5,000 req/s), and every so
//! often the longest idle, so that every connection keeps being used:
//! - a server with a short keep-alive timeout (uvicorn, under vLLM, closes after 5 s) would
//!   otherwise close the idle ones, and a burst after a stall would pay a handshake per request;
//! - a connection allocates its buffers in its first exchanges. Used only in bursts,
//!   connections did that one burst at a time, and a run's memory grew with its length
//!   (100,000 vs 1 million requests: +1.1 MB, measured with hyper's connections).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::connection::Connection;
use super::connector::{ConnectError, Connector};
use crate::rotation::Rotation;

/// How long opening the connections ahead of the first request may take.
const PREWARM_WITHIN: Duration = Duration::from_secs(2);

/// What opening connections ahead of the first request gave.
#[derive(Debug, Clone, Default)]
pub struct Prewarmed {
    pub attempted: usize,
    pub opened: usize,
    /// The first connection's failure (resolver, TCP or TLS error), or the time-out.
    pub failure: Option<String>,
}

pub struct Pool {
    connector: Connector,
    idle: Mutex<Idle<Connection>>,
    /// Idle connections kept at most (`load.worker_max_tcp_connections`).
    max_idle: usize,
}

struct Idle<C> {
    /// Longest idle at the front.
    connections: VecDeque<C>,
    rotation: Rotation,
}

impl<C> Default for Idle<C> {
    fn default() -> Self {
        Idle {
            connections: VecDeque::new(),
            rotation: Rotation::default(),
        }
    }
}

impl<C> Idle<C> {
    fn take(&mut self) -> Option<C> {
        if self.rotation.oldest_next() {
            self.connections.pop_front()
        } else {
            self.connections.pop_back()
        }
    }
}

impl Pool {
    pub fn new(connector: Connector, max_idle: usize) -> Self {
        Pool {
            connector,
            idle: Mutex::default(),
            max_idle,
        }
    }

    /// An idle connection ready for a request, or a new one.
    pub async fn checkout(&self) -> Result<Connection, ConnectError> {
        loop {
            let candidate = self.idle.lock().expect("pool lock").take();
            let Some(mut connection) = candidate else {
                break;
            };
            // Closed by the server while idle: discard and try the next one.
            if !connection.closed_while_idle() {
                return Ok(connection);
            }
        }
        self.connector.connect().await
    }

    /// Opens up to `count` connections at once and keeps them idle (see [`open_ahead`]).
    pub async fn prewarm(&self, count: usize) -> Prewarmed {
        let count = count.min(self.max_idle);
        open_ahead(
            count,
            || self.connector.connect(),
            |connection| self.checkin(connection),
        )
        .await
    }

    /// Keeps `connection` for reuse if its last exchange left it usable.
    pub fn checkin(&self, mut connection: Connection) {
        if !connection.reusable() {
            return;
        }
        connection.idle();
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.connections.len() < self.max_idle {
            idle.connections.push_back(connection);
        }
    }
}

/// Opens `count` connections at once with `open`, handing each to `keep`, and gives up on
/// those still opening after [`PREWARM_WITHIN`]. Connections that fail are left for the
/// requests to report; the first failure is kept to say why when none opened.
pub(super) async fn open_ahead<C, E, F>(
    count: usize,
    open: impl Fn() -> F,
    mut keep: impl FnMut(C),
) -> Prewarmed
where
    E: std::fmt::Display,
    F: Future<Output = Result<C, E>>,
{
    let mut opening: FuturesUnordered<_> = (0..count).map(|_| open()).collect();
    let mut prewarmed = Prewarmed {
        attempted: count,
        opened: 0,
        failure: None,
    };
    let deadline = tokio::time::sleep(PREWARM_WITHIN);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = opening.next() => match next {
                None => break,
                Some(Ok(connection)) => {
                    keep(connection);
                    prewarmed.opened += 1;
                }
                Some(Err(e)) => {
                    prewarmed.failure.get_or_insert_with(|| e.to_string());
                }
            },
            _ = &mut deadline => {
                prewarmed.failure.get_or_insert_with(|| {
                    format!("no connection opened within {} s", PREWARM_WITHIN.as_secs())
                });
                break;
            }
        }
    }
    prewarmed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkouts_take_the_newest_connection_and_every_sixteenth_the_longest_idle() {
        let mut idle = Idle::default();
        idle.connections.extend(0..100);
        let taken: Vec<u32> = (0..32).map(|_| idle.take().unwrap()).collect();
        let newest_15 = (85..100).rev();
        let next_15 = (70..85).rev();
        let expected: Vec<u32> = newest_15.chain([0]).chain(next_15).chain([1]).collect();
        assert_eq!(taken, expected);
    }

    #[test]
    fn a_returned_connection_is_the_next_one_taken() {
        let mut idle = Idle::default();
        idle.connections.extend([1, 2, 3]);
        let first = idle.take().unwrap();
        idle.connections.push_back(first);
        assert_eq!(idle.take(), Some(first));
        assert_eq!(idle.connections, [1, 2]);
    }

    #[test]
    fn an_empty_pool_has_nothing_to_take() {
        let mut idle: Idle<u32> = Idle::default();
        assert_eq!(idle.take(), None);
    }
}
