//! One HTTP/1.1 connection, driven by the request that holds it.
//!
//! hyper's client connection runs as a task of its own, fed through channels: each request
//! woke three tasks and crossed two channels, and at a few thousand requests a second, with
//! every wake-up finding cold caches, that machinery cost about 12 µs of CPU per request
//! (interleaved runs against nginx: 5,000 req/s 68 → 56 µs, 10,000 req/s 65 → 53 µs). Here the
//! request's own task writes the request and reads the response straight from the socket.

use std::io;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use super::wire::{self, Body, WireError};

pub(super) type Io = Either<TcpStream, TlsStream<TcpStream>>;

/// Room made in the read buffer before each read.
const READ_SIZE: usize = 8 * 1024;

/// A connection idle at least this long is checked for a close by the server before reuse.
/// Servers close idle connections after their keep-alive timeout (uvicorn 5 s, nginx 75 s,
/// configurable far lower) and announce other closes with `Connection: close`; the connections
/// a steady load keeps reusing within this time skip the check, which costs a syscall.
const CHECK_IDLE_AFTER: Duration = Duration::from_millis(5);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("connection closed by the server before the response was complete")]
    Closed,
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Wire(#[from] WireError),
}

pub struct Connection {
    io: Io,
    /// The request being sent, head and body.
    out: Vec<u8>,
    /// Bytes read and not yet consumed.
    buf: BytesMut,
    /// Body data handed out by the last `data` call, consumed at the next call.
    lent: usize,
    body: Body,
    keep_alive: bool,
    idle_since: Instant,
}

impl Connection {
    pub(super) fn new(io: Io) -> Self {
        Connection {
            io,
            out: Vec::new(),
            buf: BytesMut::new(),
            lent: 0,
            body: Body::Done,
            keep_alive: true,
            idle_since: Instant::now(),
        }
    }

    /// Sends `body` after `head` (from [`wire::request_head`]) and reads the response head;
    /// returns its status. Interim (1xx) responses are skipped.
    pub async fn send(&mut self, head: &[u8], body: &[u8]) -> Result<u16, HttpError> {
        wire::encode_request(&mut self.out, head, body);
        self.io.write_all(&self.out).await?;
        self.io.flush().await?;
        loop {
            if let Some(head) = wire::parse_head(&self.buf)? {
                self.buf.advance(head.len);
                if (100..200).contains(&head.status) {
                    continue;
                }
                self.body = Body::new(head.framing);
                self.keep_alive = head.keep_alive;
                return Ok(head.status);
            }
            if self.read().await? == 0 {
                return Err(HttpError::Closed);
            }
        }
    }

    /// The next piece of the response body, as it arrives; `None` once the body is complete.
    pub async fn data(&mut self) -> Result<Option<&[u8]>, HttpError> {
        self.buf.advance(std::mem::take(&mut self.lent));
        let len = loop {
            let decoded = self.body.decode(&self.buf)?;
            self.buf.advance(decoded.skip);
            if decoded.data > 0 {
                break decoded.data;
            }
            if decoded.done {
                return Ok(None);
            }
            if self.read().await? == 0 {
                return if self.body == Body::UntilClose {
                    self.body = Body::Done;
                    Ok(None)
                } else {
                    Err(HttpError::Closed)
                };
            }
        };
        self.lent = len;
        Ok(Some(&self.buf[..len]))
    }

    /// Whether it may carry another request: its last response ended cleanly, nothing
    /// followed it, and the server did not ask to close.
    pub fn reusable(&self) -> bool {
        self.keep_alive && self.body == Body::Done && self.lent == 0 && self.buf.is_empty()
    }

    /// Whether no byte of a response has arrived: a failed send could not have reached a
    /// server that answered.
    pub fn received_nothing(&self) -> bool {
        self.buf.is_empty()
    }

    /// Marks the start of an idle spell (back in the pool).
    pub fn idle(&mut self) {
        self.idle_since = Instant::now();
    }

    /// Whether the server closed it (or sent something unasked) while it was idle. Never
    /// waits: a connection with nothing to read is open.
    pub fn closed_while_idle(&mut self) -> bool {
        if self.idle_since.elapsed() < CHECK_IDLE_AFTER {
            return false;
        }
        let mut byte = [0u8; 1];
        self.io.read(&mut byte).now_or_never().is_some()
    }

    async fn read(&mut self) -> io::Result<usize> {
        self.buf.reserve(READ_SIZE);
        self.io.read_buf(&mut self.buf).await
    }
}
