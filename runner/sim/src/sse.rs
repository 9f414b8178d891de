//! Server-sent event framing of the streamed responses (`data: <json>\n\n`, then `[DONE]`;
//! Anthropic's with `event: <type>` lines and no `[DONE]`).

use serde::Serialize;

pub(crate) fn event(out: &mut Vec<u8>, data: &impl Serialize) {
    out.extend_from_slice(b"data: ");
    super::body::write_json(out, data);
    out.extend_from_slice(b"\n\n");
}

/// An event with its type named in an `event:` line (Anthropic's streams).
pub(crate) fn named_event(out: &mut Vec<u8>, name: &str, data: &impl Serialize) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    event(out, data);
}

pub(crate) fn done(out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: [DONE]\n\n");
}

/// An event whose data is not JSON (unterminated string), for the `malformed` fault.
pub(crate) fn malformed(out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: {\"id\": \"malformed\n\n");
}
