//! An HTTP origin that announces an object far over any sane size and never sends it: a few
//! bytes of body, then silence. A client that trusts the body to end (or buffers it) hangs or
//! runs out of memory; one that checks the announced size refuses it at once.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// Connections answered before the server stops accepting: every test's few clients and their
/// retries, bounded.
const MAX_CONNECTIONS: usize = 64;
/// How long each connection is held open after the first bytes.
const HOLD: Duration = Duration::from_secs(60);

/// Stops accepting when dropped (connections already held end after [`HOLD`]).
pub struct OversizedObjectServer {
    port: u16,
    task: JoinHandle<()>,
}

impl OversizedObjectServer {
    /// Answers every request `200 OK` with `Content-Length: announced_bytes` and the body
    /// `TIMESTAMP,`.
    pub async fn start(announced_bytes: u64) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::io("binding the oversized-object server"))?;
        let port = listener
            .local_addr()
            .map_err(Error::io("the oversized-object server's address"))?
            .port();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {announced_bytes}\r\nContent-Type: text/csv\r\n\r\nTIMESTAMP,"
        );
        let task = tokio::spawn(async move {
            for _ in 0..MAX_CONNECTIONS {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let head = head.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = socket.read(&mut request).await;
                    let _ = socket.write_all(head.as_bytes()).await;
                    tokio::time::sleep(HOLD).await;
                });
            }
        });
        Ok(OversizedObjectServer { port, task })
    }

    /// `http://127.0.0.1:<port>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }
}

impl Drop for OversizedObjectServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
