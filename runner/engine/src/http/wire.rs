//! HTTP/1.1 on the wire for one exchange: the request's bytes out; the response's head and
//! body framing in. httparse reads heads and chunk sizes; this module only decides what they
//! mean (RFC 9112 §6: how a response body ends, and whether the connection may be reused).

use std::io::Write;

use ::http::header::{HeaderMap, HeaderName, HeaderValue};
use httparse::Status;

/// Most headers a response head may carry.
const MAX_HEADERS: usize = 64;

/// Longest response head read before giving up on the server; also the longest trailer line.
pub(super) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Longest chunk-size line (size and extensions): a line that never ends must not grow the
/// read buffer without bound.
const MAX_CHUNK_LINE: usize = 4 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("invalid response head: {0}")]
    Head(httparse::Error),
    #[error("response head longer than {MAX_HEAD_BYTES} bytes")]
    HeadTooLong,
    #[error("invalid content-length {0:?}")]
    ContentLength(String),
    #[error("invalid chunked body: {0}")]
    Chunk(&'static str),
}

/// The part of every request to one endpoint that never changes: the request line and the
/// headers of a POST to `path`. Encoded once per target, not once per request.
pub fn request_head(path: &str, headers: &HeaderMap) -> Vec<u8> {
    let mut head = Vec::new();
    head.extend_from_slice(b"POST ");
    head.extend_from_slice(path.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head
}

/// What one request adds to its target's: headers of its own (a session's), and the response
/// header whose value it wants back.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    pub headers: &'a [(HeaderName, HeaderValue)],
    pub wanted: Option<&'a HeaderName>,
}

/// A request with `head` (from [`request_head`]), its own `headers`, the body's length and
/// `body`, into `out`.
pub fn encode_request(
    out: &mut Vec<u8>,
    head: &[u8],
    headers: &[(HeaderName, HeaderValue)],
    body: &[u8],
) {
    out.clear();
    out.extend_from_slice(head);
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let _ = write!(out, "content-length: {}\r\n\r\n", body.len());
    out.extend_from_slice(body);
}

/// How the response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    /// Neither length nor chunked: the body is everything until the server closes.
    UntilClose,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub framing: Framing,
    /// The server lets the connection carry another request after this response.
    pub keep_alive: bool,
    /// Bytes the head took.
    pub len: usize,
    /// The value of the header asked for, if the response has it.
    pub wanted: Option<String>,
}

/// The response head at the start of `buf`, or `None` while it is incomplete; with the value
/// of header `wanted`.
pub fn parse_head(buf: &[u8], wanted: Option<&HeaderName>) -> Result<Option<Head>, WireError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf).map_err(WireError::Head)? {
        // Too long whatever the reads that brought it: the same answer for any split.
        Status::Complete(len) if len > MAX_HEAD_BYTES => return Err(WireError::HeadTooLong),
        Status::Complete(len) => len,
        Status::Partial if buf.len() > MAX_HEAD_BYTES => return Err(WireError::HeadTooLong),
        Status::Partial => return Ok(None),
    };
    let status = response.code.unwrap_or_default();
    let mut keep_alive = response.version == Some(1);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoded = false;
    let mut wanted_value = None;
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or_default().trim();
        if wanted.is_some_and(|w| header.name.eq_ignore_ascii_case(w.as_str())) {
            wanted_value = Some(value.to_owned());
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = value
                .parse()
                .map_err(|_| WireError::ContentLength(value.to_owned()))?;
            if length.is_some_and(|earlier| earlier != parsed) {
                return Err(WireError::ContentLength(value.to_owned()));
            }
            length = Some(parsed);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoded = true;
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && response.version == Some(0) {
                    keep_alive = true;
                }
            }
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if transfer_encoded {
        // A transfer coding other than chunked last: only the close ends the body.
        Framing::UntilClose
    } else if let Some(length) = length {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    if framing == Framing::UntilClose {
        keep_alive = false;
    }
    Ok(Some(Head {
        status,
        framing,
        keep_alive,
        len,
        wanted: wanted_value,
    }))
}

/// Whether `buf` starts with a complete final (non-1xx) response head, after any interim ones.
pub fn has_final_head(buf: &[u8]) -> Result<bool, WireError> {
    let mut start = 0;
    // Each interim head takes at least a status line's bytes: the loop ends within `buf`.
    while let Some(head) = parse_head(&buf[start..], None)? {
        if !(100..200).contains(&head.status) {
            return Ok(true);
        }
        start += head.len;
    }
    Ok(false)
}

/// Where a response body stands between reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Length(u64),
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Inside a chunk, with this much data left.
    ChunkData(u64),
    /// Expecting the CRLF after a chunk's data.
    ChunkEnd,
    /// After the last chunk: trailer lines, then an empty line.
    Trailers,
    UntilClose,
    Done,
}

/// One step of decoding: skip `skip` framing bytes, then `data` bytes of body follow.
/// Nothing to skip or deliver and not `done`: more input is needed.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub skip: usize,
    pub data: usize,
    pub done: bool,
}

impl Body {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Length(0) => Body::Done,
            Framing::Length(length) => Body::Length(length),
            Framing::Chunked => Body::ChunkSize,
            Framing::UntilClose => Body::UntilClose,
        }
    }

    /// Decodes from the start of `buf`, up to the next piece of body data.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded, WireError> {
        let mut skip = 0;
        loop {
            let rest = &buf[skip..];
            let step = |data: usize, done: bool| Decoded { skip, data, done };
            match *self {
                Body::Done => return Ok(step(0, true)),
                Body::UntilClose => return Ok(step(rest.len(), false)),
                Body::Length(left) | Body::ChunkData(left) => {
                    let data = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - data as u64;
                    *self = match (*self, left) {
                        (Body::Length(_), 0) => Body::Done,
                        (Body::Length(_), left) => Body::Length(left),
                        (_, 0) => Body::ChunkEnd,
                        (_, left) => Body::ChunkData(left),
                    };
                    return Ok(step(data, false));
                }
                Body::ChunkSize => match httparse::parse_chunk_size(rest) {
                    Ok(Status::Complete((used, 0))) => {
                        skip += used;
                        *self = Body::Trailers;
                    }
                    Ok(Status::Complete((used, size))) => {
                        skip += used;
                        *self = Body::ChunkData(size);
                    }
                    Ok(Status::Partial) if rest.len() > MAX_CHUNK_LINE => {
                        return Err(WireError::Chunk("chunk-size line too long"));
                    }
                    Ok(Status::Partial) => return Ok(step(0, false)),
                    Err(_) => return Err(WireError::Chunk("bad chunk-size line")),
                },
                Body::ChunkEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        skip += 2;
                        *self = Body::ChunkSize;
                    }
                    [] | [b'\r'] => return Ok(step(0, false)),
                    _ => return Err(WireError::Chunk("chunk data longer than its size")),
                },
                Body::Trailers => match rest.windows(2).position(|w| w == b"\r\n") {
                    Some(0) => {
                        skip += 2;
                        *self = Body::Done;
                    }
                    Some(line) => skip += line + 2,
                    None if rest.len() > MAX_HEAD_BYTES => {
                        return Err(WireError::Chunk("trailer line too long"));
                    }
                    None => return Ok(step(0, false)),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::http::header::{HeaderName, HeaderValue};

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes(), None).unwrap().unwrap()
    }

    /// All body data of `wire` fed `step` bytes at a time, and whether the body ended.
    fn decode_all(mut body: Body, wire: &[u8], step: usize) -> Result<(Vec<u8>, bool), WireError> {
        let (mut buf, mut fed, mut data) = (Vec::new(), 0, Vec::new());
        loop {
            let d = body.decode(&buf)?;
            data.extend_from_slice(&buf[d.skip..d.skip + d.data]);
            buf.drain(..d.skip + d.data);
            if d.done {
                return Ok((data, buf.is_empty() && fed == wire.len()));
            }
            if d.skip + d.data == 0 {
                if fed == wire.len() {
                    return Ok((data, false));
                }
                let next = (fed + step).min(wire.len());
                buf.extend_from_slice(&wire[fed..next]);
                fed = next;
            }
        }
    }

    #[test]
    fn a_request_is_its_head_its_headers_its_length_and_its_body() {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("host"),
            HeaderValue::from_static("127.0.0.1:8000"),
        );
        headers.insert(
            HeaderName::from_static("authorization"),
            HeaderValue::from_static("Bearer k"),
        );
        let mut out = vec![b'x'; 3];
        encode_request(
            &mut out,
            &request_head("/v1/completions", &headers),
            &[],
            b"{}",
        );
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "POST /v1/completions HTTP/1.1\r\nhost: 127.0.0.1:8000\r\nauthorization: Bearer k\r\ncontent-length: 2\r\n\r\n{}"
        );
        let own = [(
            HeaderName::from_static("x-session-id"),
            HeaderValue::from_static("user_session_3"),
        )];
        encode_request(&mut out, b"POST / HTTP/1.1\r\n", &own, b"{}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST / HTTP/1.1\r\nx-session-id: user_session_3\r\ncontent-length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn the_wanted_header_is_read_whatever_its_case() {
        let text = b"HTTP/1.1 200 OK\r\nX-Session-Token:  t-1 \r\nContent-Length: 0\r\n\r\n";
        let wanted = HeaderName::from_static("x-session-token");
        let head = parse_head(text, Some(&wanted)).unwrap().unwrap();
        assert_eq!(head.wanted.as_deref(), Some("t-1"));
        assert_eq!(parse_head(text, None).unwrap().unwrap().wanted, None);
    }

    #[test]
    fn a_head_is_parsed_only_once_complete() {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for cut in 0..text.len() - 5 {
            assert_eq!(
                parse_head(&text.as_bytes()[..cut], None),
                Ok(None),
                "cut at {cut}"
            );
        }
        assert_eq!(
            head(text),
            Head {
                status: 200,
                framing: Framing::Length(5),
                keep_alive: true,
                len: text.len() - 5,
                wanted: None,
            }
        );
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(
            head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n")
                .framing,
            Framing::Chunked
        );
        assert_eq!(
            head("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n").framing,
            Framing::Chunked
        );
        let gzip_only = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(
            (gzip_only.framing, gzip_only.keep_alive),
            (Framing::UntilClose, false)
        );
        let no_length = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(
            (no_length.framing, no_length.keep_alive),
            (Framing::UntilClose, false)
        );
        assert_eq!(
            head("HTTP/1.1 204 No Content\r\n\r\n").framing,
            Framing::Length(0)
        );
        assert_eq!(
            head("HTTP/1.1 100 Continue\r\n\r\n").framing,
            Framing::Length(0)
        );
        assert_eq!(
            parse_head(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                None
            ),
            Err(WireError::ContentLength("6".into()))
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", None),
            Err(WireError::ContentLength("-1".into()))
        );
        assert!(matches!(
            parse_head(b"HTTX/1.1 200 OK\r\n\r\n", None),
            Err(WireError::Head(_))
        ));
    }

    #[test]
    fn a_head_that_never_ends_is_an_error_not_a_growing_buffer() {
        let mut endless = b"HTTP/1.1 200 OK\r\nx-pad: ".to_vec();
        endless.resize(MAX_HEAD_BYTES, b'0');
        assert_eq!(parse_head(&endless, None), Ok(None));
        endless.push(b'0');
        assert_eq!(parse_head(&endless, None), Err(WireError::HeadTooLong));
    }

    #[test]
    fn connection_reuse_follows_version_and_connection_header() {
        assert!(head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(
            !head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive
        );
        assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(
            head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
                .keep_alive
        );
    }

    #[test]
    fn a_length_body_ends_at_its_length_whatever_the_reads() {
        for step in [1, 2, 5, 100] {
            let (data, ended) = decode_all(Body::new(Framing::Length(5)), b"hello", step).unwrap();
            assert_eq!(
                (data.as_slice(), ended),
                (&b"hello"[..], true),
                "step {step}"
            );
        }
        // Bytes after the body are left alone (and make the connection unusable).
        let mut body = Body::new(Framing::Length(2));
        assert_eq!(
            body.decode(b"hiXX"),
            Ok(Decoded {
                skip: 0,
                data: 2,
                done: false
            })
        );
        assert_eq!(
            body.decode(b"XX"),
            Ok(Decoded {
                skip: 0,
                data: 0,
                done: true
            })
        );
        assert_eq!(Body::new(Framing::Length(0)), Body::Done);
    }

    #[test]
    fn a_chunked_body_is_its_chunks_data_whatever_the_reads() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: x\r\n\r\n";
        for step in [1, 2, 3, 7, 1000] {
            let (data, ended) = decode_all(Body::new(Framing::Chunked), wire, step).unwrap();
            assert_eq!(
                (data.as_slice(), ended),
                (&b"hello world!"[..], true),
                "step {step}"
            );
        }
        let (data, ended) = decode_all(Body::new(Framing::Chunked), b"0\r\n\r\n", 1).unwrap();
        assert!(data.is_empty() && ended);
        // Cut mid-way: never reports the end.
        let (data, ended) =
            decode_all(Body::new(Framing::Chunked), b"5\r\nhello\r\n6\r\nwor", 4).unwrap();
        assert_eq!((data.as_slice(), ended), (&b"hellowor"[..], false));
    }

    #[test]
    fn a_malformed_chunked_body_is_an_error() {
        assert_eq!(
            decode_all(Body::new(Framing::Chunked), b"zz\r\n", 10),
            Err(WireError::Chunk("bad chunk-size line"))
        );
        assert_eq!(
            decode_all(Body::new(Framing::Chunked), b"2\r\nabc\r\n", 10),
            Err(WireError::Chunk("chunk data longer than its size"))
        );
    }

    #[test]
    fn a_body_until_close_takes_everything_and_never_ends_by_itself() {
        let mut body = Body::new(Framing::UntilClose);
        assert_eq!(
            body.decode(b"abc"),
            Ok(Decoded {
                skip: 0,
                data: 3,
                done: false
            })
        );
        assert_eq!(
            body.decode(b""),
            Ok(Decoded {
                skip: 0,
                data: 0,
                done: false
            })
        );
    }
}
