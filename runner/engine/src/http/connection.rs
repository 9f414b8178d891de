//! One HTTP/1.1 connection, driven by the request that holds it.
//!
//! hyper's client connection runs as a task of its own, fed through channels: each request
//! woke three tasks and crossed two channels, and at a few thousand requests a second, with
//! every wake-up finding cold caches, that machinery cost about 12 µs of CPU per request
//! (interleaved runs against nginx: 5,000 req/s 68 → 56 µs, 10,000 req/s 65 → 53 µs). Here the
//! request's own task writes the request and reads the response straight from the socket.

use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use futures::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use super::wire::{self, Body, Extras, WireError};

pub(super) type Io = Either<TcpStream, TlsStream<TcpStream>>;

/// Room made in the read buffer before each read.
pub(super) const READ_SIZE: usize = 8 * 1024;

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

/// Generic over its byte stream only so that property tests and the fuzzer drive this very
/// code with replayed reads; the load path uses [`Io`].
pub struct Connection<I = Io> {
    io: I,
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

impl<I: AsyncRead + AsyncWrite + Unpin> Connection<I> {
    pub(super) fn new(io: I) -> Self {
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

    /// Sends `body` after `head` (from [`wire::request_head`]) and `extras`' headers, and reads
    /// the response head; returns its status and the header `extras` wants. Interim (1xx)
    /// responses are skipped.
    pub async fn send(
        &mut self,
        head: &[u8],
        body: &[u8],
        extras: Extras<'_>,
    ) -> Result<(u16, Option<String>), HttpError> {
        wire::encode_request(&mut self.out, head, extras.headers, body);
        let whole_request_sent = match self.write_request().await {
            Ok(whole) => whole,
            Err(e) => {
                // A server that answered and closed before taking the whole request (a 413 on
                // a long body) has its answer waiting here: that is the outcome, not the
                // broken pipe. One read without waiting tells.
                if let Some(Ok(_)) = self.read().now_or_never() {}
                if self.buf.is_empty() {
                    return Err(e);
                }
                false
            }
        };
        loop {
            if let Some(head) = wire::parse_head(&self.buf, extras.wanted)? {
                self.buf.advance(head.len);
                if (100..200).contains(&head.status) {
                    continue;
                }
                self.body = Body::new(head.framing);
                // The rest of an unsent body would be read as the next request.
                self.keep_alive = head.keep_alive && whole_request_sent;
                return Ok((head.status, head.wanted));
            }
            if self.read().await? == 0 {
                return Err(HttpError::Closed);
            }
        }
    }

    /// Writes the request out, reading whenever the server stops taking it: a server may
    /// answer (413, 401) before it reads a long body and then never read the rest, which
    /// would leave the write blocked until the request times out. Returns whether the whole
    /// request went out (otherwise a final response head is in the buffer).
    async fn write_request(&mut self) -> Result<bool, HttpError> {
        let Connection { io, out, buf, .. } = self;
        let mut written = 0;
        // Each turn writes, or reads what the server sent: bounded by the request's length
        // and by the head limit `has_final_head` enforces on what is read.
        std::future::poll_fn(|cx| {
            loop {
                let mut io = Pin::new(&mut *io);
                let step = if written < out.len() {
                    io.as_mut().poll_write(cx, &out[written..])
                } else {
                    io.as_mut().poll_flush(cx).map_ok(|()| 0)
                };
                match step {
                    Poll::Ready(Ok(0)) if written < out.len() => {
                        return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
                    }
                    Poll::Ready(Ok(0)) => return Poll::Ready(Ok(true)),
                    Poll::Ready(Ok(n)) => {
                        written += n;
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                    Poll::Pending => {}
                }
                buf.reserve(READ_SIZE);
                match tokio_util::io::poll_read_buf(io, cx, buf) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(HttpError::Closed)),
                    Poll::Ready(Ok(_)) => {
                        if wire::has_final_head(buf)? {
                            return Poll::Ready(Ok(false));
                        }
                    }
                }
            }
        })
        .await
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

    /// The read buffer's allocation: what the limits on heads and chunk lines bound.
    #[cfg(any(test, fuzzing))]
    pub(super) fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    async fn read(&mut self) -> io::Result<usize> {
        self.buf.reserve(READ_SIZE);
        self.io.read_buf(&mut self.buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpSocket};

    const ANSWER: &[u8] =
        b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 17\r\n\r\n{\"error\":\"large\"}";

    /// Far beyond what the client's send buffer (4 MiB at most here) and the server's
    /// shrunken receive buffer hold together: writing it blocks unless the server reads.
    const BODY_LEN: usize = 32 << 20;

    /// A server that reads a request's head only, answers 413 at once, then (`drain`) reads
    /// and drops the rest as nginx's lingering close does, or reads nothing more.
    async fn answers_before_reading_the_body(drain: bool) -> std::net::SocketAddr {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener: TcpListener = socket.listen(8).unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut chunk = [0u8; 1024];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "client closed before its head");
                seen.extend_from_slice(&chunk[..n]);
            }
            stream.write_all(ANSWER).await.unwrap();
            let mut drained = 0;
            while drain && drained < BODY_LEN {
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
            // Held open (never read, when not draining) until the client is done.
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        addr
    }

    #[tokio::test]
    async fn a_response_sent_before_the_body_is_read_is_the_outcome_not_a_blocked_write() {
        for drain in [false, true] {
            let addr = answers_before_reading_the_body(drain).await;
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut connection = Connection::new(stream);
            let body = vec![b'x'; BODY_LEN];
            let head = b"POST /v1/completions HTTP/1.1\r\nhost: x\r\n";
            let status = tokio::time::timeout(
                Duration::from_secs(10),
                connection.send(head, &body, Extras::default()),
            )
            .await
            .unwrap_or_else(|_| panic!("drain {drain}: write still blocked after 10 s"))
            .unwrap_or_else(|e| panic!("drain {drain}: {e}"));
            assert_eq!(status, (413, None), "drain {drain}");
            let data = connection.data().await.unwrap().unwrap().to_vec();
            assert_eq!(data, b"{\"error\":\"large\"}", "drain {drain}");
            assert!(connection.data().await.unwrap().is_none(), "drain {drain}");
            assert!(
                !connection.reusable(),
                "drain {drain}: the unsent rest of the body would be read as a request"
            );
        }
    }
}
