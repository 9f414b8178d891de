//! A worker's idle connections. Checked out for one exchange, returned only after a complete
//! response: a connection whose exchange failed or was cancelled is dropped, never reused in an
//! unknown state.

use std::sync::Mutex;
use std::time::Duration;

use super::connector::{ConnectError, Connector, Sender};

pub struct Pool {
    connector: Connector,
    idle: Mutex<Vec<Sender>>,
    /// Idle connections kept at most (`load.worker_max_tcp_connections`).
    max_idle: usize,
}

impl Pool {
    pub fn new(connector: Connector, max_idle: usize) -> Self {
        Pool {
            connector,
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// An idle connection ready for a request, or a new one.
    pub async fn checkout(&self) -> Result<Sender, ConnectError> {
        loop {
            let candidate = self.idle.lock().expect("pool lock").pop();
            let Some(mut sender) = candidate else { break };
            // Closed by the server while idle: discard and try the next one.
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        self.connector.connect().await
    }

    /// Opens up to `count` connections at once and keeps them idle, giving up after `within`.
    /// Connections that fail are left for the requests to report.
    pub async fn prewarm(&self, count: usize, within: Duration) {
        let count = count.min(self.max_idle);
        let opened = futures::future::join_all((0..count).map(|_| self.connector.connect()));
        if let Ok(results) = tokio::time::timeout(within, opened).await {
            for sender in results.into_iter().flatten() {
                self.checkin(sender);
            }
        }
    }

    pub fn checkin(&self, sender: Sender) {
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < self.max_idle && !sender.is_closed() {
            idle.push(sender);
        }
    }
}
