//! Closes connections that hold the server without using it: idle between requests longer
//! than the idle timeout, or sending a request head more slowly than the header-read timeout
//! (slowloris). hyper's own header-read timeout also runs while a keep-alive connection waits
//! for its next request, so it cannot tell the two apart; this watches the socket instead.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// When to close an unused connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub idle: Duration,
    pub header_read: Duration,
}

/// One connection's use: when bytes last moved, since when a request head has been arriving,
/// and how many requests are being served.
pub struct Watch {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last read or write.
    last: AtomicU64,
    /// 1 + milliseconds after `epoch` of the first byte of a head not yet complete; 0: none.
    head_since: AtomicU64,
    busy: AtomicUsize,
    /// HTTP/2: frames (SETTINGS, WINDOW_UPDATE, PING) arrive between requests, so only the
    /// idle timeout applies; a slow head is a stream's problem, not the connection's.
    multiplexed: AtomicBool,
}

/// How an HTTP/2 connection starts (its preface, RFC 9113 §3.4); no HTTP/1.1 method does.
const HTTP2_PREFACE_START: &[u8] = b"PRI";

/// What to do with a connection now.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Keep { until: Instant },
    Close(&'static str),
}

/// Marks a request as being served while it lives.
pub struct Serving(Arc<Watch>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Relaxed);
    }
}

impl Watch {
    pub fn new() -> Arc<Self> {
        Arc::new(Watch {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            multiplexed: AtomicBool::new(false),
        })
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn touch(&self) {
        self.last.store(self.now(), Relaxed);
    }

    /// A request's head is complete and its response under way.
    pub fn serving(self: &Arc<Self>) -> Serving {
        self.busy.fetch_add(1, Relaxed);
        self.head_since.store(0, Relaxed);
        Serving(self.clone())
    }

    pub fn multiplexed(&self) -> bool {
        self.multiplexed.load(Relaxed)
    }

    fn read(&self) {
        let now = self.now();
        self.last.store(now, Relaxed);
        if self.busy.load(Relaxed) == 0 && self.head_since.load(Relaxed) == 0 && !self.multiplexed()
        {
            self.head_since.store(now + 1, Relaxed);
        }
    }

    pub fn verdict(&self, timeouts: Timeouts) -> Verdict {
        let now = self.now();
        let at = |ms: u64| self.epoch + Duration::from_millis(ms);
        if self.busy.load(Relaxed) > 0 {
            return Verdict::Keep {
                until: at(now) + timeouts.idle.min(timeouts.header_read),
            };
        }
        let (since, limit, reason) = match self.head_since.load(Relaxed) {
            0 => (self.last.load(Relaxed), timeouts.idle, "idle timeout"),
            started => (started - 1, timeouts.header_read, "header-read timeout"),
        };
        let deadline = since + limit.as_millis() as u64;
        if now >= deadline {
            Verdict::Close(reason)
        } else {
            Verdict::Keep {
                until: at(deadline),
            }
        }
    }
}

/// A socket whose reads and writes update its [`Watch`].
pub struct Watched<S> {
    io: S,
    watch: Arc<Watch>,
    /// Whether the first bytes were read (and looked at for the HTTP/2 preface).
    started: bool,
}

impl<S> Watched<S> {
    pub fn new(io: S, watch: Arc<Watch>) -> Self {
        Watched {
            io,
            watch,
            started: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            if !self.started {
                self.started = true;
                if buf.filled()[before..].starts_with(HTTP2_PREFACE_START) {
                    self.watch.multiplexed.store(true, Relaxed);
                }
            }
            self.watch.read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        idle: Duration::from_millis(40),
        header_read: Duration::from_millis(20),
    };

    #[test]
    fn idle_heads_and_requests_each_have_their_limit() {
        let watch = Watch::new();
        assert!(matches!(watch.verdict(TIMEOUTS), Verdict::Keep { .. }));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(watch.verdict(TIMEOUTS), Verdict::Close("idle timeout"));

        let watch = Watch::new();
        watch.read();
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(
            watch.verdict(TIMEOUTS),
            Verdict::Close("header-read timeout")
        );

        let watch = Watch::new();
        watch.read();
        let serving = watch.serving();
        std::thread::sleep(Duration::from_millis(50));
        assert!(matches!(watch.verdict(TIMEOUTS), Verdict::Keep { .. }));
        drop(serving);
        assert!(matches!(watch.verdict(TIMEOUTS), Verdict::Keep { .. }));
    }
}
