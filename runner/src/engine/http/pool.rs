//! A worker's idle connections. Checked out for one exchange, returned only after a complete
//! response: a connection whose exchange failed or was cancelled is dropped, never reused in an
//! unknown state.

use std::sync::Mutex;

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

    pub fn checkin(&self, sender: Sender) {
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < self.max_idle && !sender.is_closed() {
            idle.push(sender);
        }
    }
}
