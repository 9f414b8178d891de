//! A response replayed through [`Connection`] in reads of chosen sizes: the property tests'
//! and the fuzzer's way into the real wire code, without sockets or a runtime.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::connection::{Connection, READ_SIZE};
use super::wire::MAX_HEAD_BYTES;

/// A server that takes every request byte and answers with `data`, `reads[i]` bytes (at
/// least one) at the i-th read, cycling through `reads`; then closes.
struct Replay<'a> {
    data: &'a [u8],
    reads: &'a [usize],
    turn: usize,
}

impl AsyncRead for Replay<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let size = self
            .reads
            .get(self.turn % self.reads.len().max(1))
            .copied()
            .unwrap_or(usize::MAX)
            .max(1);
        let len = size.min(self.data.len()).min(out.remaining());
        let (now, later) = self.data.split_at(len);
        out.put_slice(now);
        self.data = later;
        self.turn += 1;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What the connection made of a replayed response.
#[derive(Debug, PartialEq, Eq)]
pub struct Replayed {
    /// Status and body data, or the error's text.
    pub outcome: Result<(u16, Vec<u8>), String>,
    /// Whether the connection could carry another request.
    pub reusable: bool,
    /// The largest the read buffer's allocation grew.
    pub buffer_capacity: usize,
}

/// The read buffer never needs more than a head (or a trailer line) and one read, twice
/// over for the doubling of a growing allocation.
pub const CAPACITY_BOUND: usize = 2 * (MAX_HEAD_BYTES + READ_SIZE);

/// Whatever the reads that bring `wire`, the connection reads the same answer or fails the
/// same way, and its buffer stays within [`CAPACITY_BOUND`]; panics otherwise.
pub fn assert_reads_do_not_matter(wire: &[u8], reads: &[usize]) {
    let split = replay(wire, reads);
    let whole = replay(wire, &[]);
    assert_eq!(split.outcome, whole.outcome, "reads {reads:?}");
    for capacity in [split.buffer_capacity, whole.buffer_capacity] {
        assert!(capacity <= CAPACITY_BOUND, "{capacity} bytes buffered");
    }
}

/// Sends a request on a connection whose server answers `data` in `reads`, and reads the
/// whole response.
pub fn replay(data: &[u8], reads: &[usize]) -> Replayed {
    let mut connection = Connection::new(Replay {
        data,
        reads,
        turn: 0,
    });
    let outcome = futures::executor::block_on(async {
        let (status, _) = connection
            .send(b"POST / HTTP/1.1\r\n", b"{}", Default::default())
            .await?;
        let mut body = Vec::new();
        // Each piece is at least a byte of `data`: bounded by its length.
        while let Some(piece) = connection.data().await? {
            body.extend_from_slice(piece);
        }
        Ok((status, body))
    })
    .map_err(|e: super::connection::HttpError| e.to_string());
    Replayed {
        outcome,
        reusable: connection.reusable(),
        buffer_capacity: connection.buffer_capacity(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// A valid response as a server may frame it, with the status, body and reusability a
    /// client must read from it.
    #[derive(Debug, Clone)]
    struct Valid {
        wire: Vec<u8>,
        status: u16,
        body: Vec<u8>,
        reusable: bool,
    }

    prop_compose! {
        fn valid()(
            interim in any::<bool>(),
            status in prop::sample::select(vec![200u16, 201, 400, 404, 413, 429, 500, 503]),
            body in vec(any::<u8>(), 0..600),
            framing in 0..3u8,
            chunk_sizes in vec(1usize..80, 1..6),
            upper_hex in any::<bool>(),
            extension in any::<bool>(),
            trailer in any::<bool>(),
            close in any::<bool>(),
            headers in vec(("x-[a-z]{1,8}", "[!-~]{0,20}"), 0..4),
        ) -> Valid {
            let mut wire = Vec::new();
            if interim {
                wire.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            wire.extend_from_slice(format!("HTTP/1.1 {status} Whatever\r\n").as_bytes());
            for (name, value) in &headers {
                wire.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
            if close {
                wire.extend_from_slice(b"Connection: close\r\n");
            }
            match framing {
                0 => {
                    wire.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                    wire.extend_from_slice(&body);
                }
                1 => {
                    wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                    let mut rest = &body[..];
                    for size in chunk_sizes.iter().cycle() {
                        if rest.is_empty() {
                            break;
                        }
                        let (chunk, later) = rest.split_at((*size).min(rest.len()));
                        let size = if upper_hex { format!("{:X}", chunk.len()) } else { format!("{:x}", chunk.len()) };
                        wire.extend_from_slice(size.as_bytes());
                        if extension {
                            wire.extend_from_slice(b";name=value");
                        }
                        wire.extend_from_slice(b"\r\n");
                        wire.extend_from_slice(chunk);
                        wire.extend_from_slice(b"\r\n");
                        rest = later;
                    }
                    wire.extend_from_slice(b"0\r\n");
                    if trailer {
                        wire.extend_from_slice(b"x-trailer: t\r\n");
                    }
                    wire.extend_from_slice(b"\r\n");
                }
                _ => {
                    wire.extend_from_slice(b"\r\n");
                    wire.extend_from_slice(&body);
                }
            }
            Valid { wire, status, body, reusable: framing < 2 && !close }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_split_of_a_valid_response_reads_the_same(response in valid(), reads in vec(1usize..64, 1..10)) {
            let replayed = replay(&response.wire, &reads);
            prop_assert_eq!(&replayed.outcome, &Ok((response.status, response.body.clone())));
            prop_assert_eq!(replayed.reusable, response.reusable);
            prop_assert!(replayed.buffer_capacity <= CAPACITY_BOUND);
        }

        #[test]
        fn arbitrary_bytes_end_in_the_same_answer_or_failure_whatever_the_reads(
            chunked_head in any::<bool>(),
            bytes in vec(any::<u8>(), 0..2048),
            reads in vec(1usize..64, 1..10),
        ) {
            // Behind a valid chunked head, the bytes exercise the body decoder as well.
            let mut wire = Vec::new();
            if chunked_head {
                wire.extend_from_slice(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            }
            wire.extend_from_slice(&bytes);
            assert_reads_do_not_matter(&wire, &reads);
        }
    }

    #[test]
    fn lines_that_never_end_are_failures_within_the_buffer_bound() {
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        for (endless, expected) in [
            (
                &b"5;ext="[..],
                "invalid chunked body: chunk-size line too long",
            ),
            (
                &b"0\r\nx-trailer: "[..],
                "invalid chunked body: trailer line too long",
            ),
            (&b""[..], "response head longer than 65536 bytes"),
        ] {
            let mut wire = if endless.is_empty() {
                b"HTTP/1.1 200 OK\r\nx-pad: ".to_vec()
            } else {
                chunked.to_vec()
            };
            wire.extend_from_slice(endless);
            wire.resize(wire.len() + (1 << 20), b'a');
            let replayed = replay(&wire, &[READ_SIZE]);
            assert_eq!(replayed.outcome, Err(expected.to_string()));
            assert!(
                replayed.buffer_capacity <= CAPACITY_BOUND,
                "{expected}: {} bytes buffered",
                replayed.buffer_capacity
            );
        }
    }
}
