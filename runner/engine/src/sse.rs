//! Server-sent events framing: the `data` of each event, whatever the API.

use std::borrow::Cow;
use std::ops::Range;

/// Splits a byte stream into SSE events and yields each event's `data` payload, as the
/// event-stream format reads them: lines end in LF, CRLF or a lone CR, and a blank line ends
/// the event (a CR last in what has arrived waits to see whether an LF follows).
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    /// Where the first line not yet read starts.
    start: usize,
    /// The data lines of the event being read.
    data: EventData,
}

/// An event's data: one line is left where it is in the buffer (every streamed chunk of an
/// OpenAI-style server), several are joined by `\n`.
#[derive(Debug, Default)]
enum EventData {
    #[default]
    None,
    Line(Range<usize>),
    Joined(String),
}

impl SseDecoder {
    pub fn push(&mut self, bytes: &[u8]) {
        // The data line of an event still open is about to leave the buffer.
        if let EventData::Line(line) = &self.data {
            self.data =
                EventData::Joined(String::from_utf8_lossy(&self.buffer[line.clone()]).into());
        }
        self.buffer.drain(..std::mem::take(&mut self.start));
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete event's data (data lines joined by `\n`), if one has arrived.
    pub fn next_data(&mut self) -> Option<Cow<'_, str>> {
        // Each turn reads one complete line of the buffer: bounded by its length.
        loop {
            let line_start = self.start;
            let rest = &self.buffer[line_start..];
            let end = memchr::memchr2(b'\n', b'\r', rest)?;
            let next = match (rest[end], rest.get(end + 1)) {
                (b'\r', None) => return None,
                (b'\r', Some(b'\n')) => end + 2,
                _ => end + 1,
            };
            let line = &rest[..end];
            self.start += next;
            if line.is_empty() {
                match std::mem::take(&mut self.data) {
                    EventData::None => continue,
                    EventData::Line(line) => {
                        return Some(String::from_utf8_lossy(&self.buffer[line]));
                    }
                    EventData::Joined(data) => return Some(Cow::Owned(data)),
                }
            }
            let (field, value) = match memchr::memchr(b':', line) {
                Some(colon) => {
                    let value = colon + 1 + usize::from(line.get(colon + 1) == Some(&b' '));
                    (&line[..colon], line_start + value..line_start + end)
                }
                None => (line, line_start + end..line_start + end),
            };
            if field == b"data" {
                self.data = match std::mem::take(&mut self.data) {
                    EventData::None => EventData::Line(value),
                    EventData::Line(first) => {
                        let mut data = String::from_utf8_lossy(&self.buffer[first]).into_owned();
                        data.push('\n');
                        data.push_str(&String::from_utf8_lossy(&self.buffer[value]));
                        EventData::Joined(data)
                    }
                    EventData::Joined(mut data) => {
                        data.push('\n');
                        data.push_str(&String::from_utf8_lossy(&self.buffer[value]));
                        EventData::Joined(data)
                    }
                };
            }
        }
    }

    /// Every event of `bytes` pushed in pieces ending at `ends` (sorted, within the bytes),
    /// then the rest.
    #[cfg(any(test, fuzzing))]
    pub fn events_in_pieces(bytes: &[u8], ends: &[usize]) -> Vec<String> {
        let (mut decoder, mut events, mut from) = (SseDecoder::default(), Vec::new(), 0);
        for &end in ends.iter().chain([&bytes.len()]) {
            decoder.push(&bytes[from..end]);
            from = end;
            events.extend(std::iter::from_fn(|| {
                decoder.next_data().map(Cow::into_owned)
            }));
        }
        events
    }

    /// Bytes held for lines not yet complete.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.buffer.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// All events of `bytes` pushed in pieces cut at `cuts` (indices into the bytes).
    fn decode(bytes: &[u8], cuts: &[prop::sample::Index]) -> Vec<String> {
        let mut ends: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
        ends.sort_unstable();
        SseDecoder::events_in_pieces(bytes, &ends)
    }

    /// A line of an event: a data field, a comment or another field.
    #[derive(Debug, Clone)]
    enum Line {
        Data(String),
        Comment(String),
        Field(&'static str, String),
    }

    fn line() -> impl Strategy<Value = Line> {
        let text = "[^\r\n]{0,12}";
        prop_oneof![
            3 => text.prop_map(Line::Data),
            1 => text.prop_map(Line::Comment),
            1 => (prop::sample::select(vec!["event", "id", "retry", "dat"]), text)
                .prop_map(|(name, value)| Line::Field(name, value)),
        ]
    }

    /// Events as lines with any of the three line endings, and the data each must yield.
    fn stream() -> impl Strategy<Value = (Vec<u8>, Vec<String>)> {
        let ending = prop::sample::select(vec!["\n", "\r\n", "\r"]);
        vec((vec((line(), ending.clone()), 0..4), ending), 0..6).prop_map(|events| {
            let (mut bytes, mut expected) = (String::new(), Vec::new());
            let mut previous = "";
            for (lines, blank_ending) in events {
                let mut data: Option<String> = None;
                for (line, ending) in lines {
                    match line {
                        Line::Data(value) => {
                            bytes += &format!("data: {value}");
                            data = Some(match data {
                                Some(before) => format!("{before}\n{value}"),
                                None => value,
                            });
                        }
                        Line::Comment(text) => bytes += &format!(":{text}"),
                        Line::Field(name, value) => bytes += &format!("{name}: {value}"),
                    }
                    bytes += ending;
                    previous = ending;
                }
                // After a lone CR, an LF would join it as one CRLF, not end a blank line.
                let blank = if previous == "\r" && blank_ending == "\n" {
                    "\r\n"
                } else {
                    blank_ending
                };
                bytes += blank;
                previous = blank;
                expected.extend(data);
            }
            // A lone CR last waits for a byte that would tell whether it is a CRLF; a stream
            // never ends there (its body ends after [DONE]'s blank line).
            if previous == "\r" {
                bytes.push('\n');
            }
            (bytes.into_bytes(), expected)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_split_of_an_event_stream_yields_its_events(
            (bytes, expected) in stream(),
            cuts in vec(any::<prop::sample::Index>(), 0..8),
        ) {
            prop_assert_eq!(decode(&bytes, &cuts), expected);
        }

        #[test]
        fn arbitrary_bytes_yield_the_same_events_whatever_the_reads(
            bytes in vec(prop::sample::select(b"data: x\r\n:{}".to_vec()), 0..200),
            cuts in vec(any::<prop::sample::Index>(), 0..8),
        ) {
            prop_assert_eq!(decode(&bytes, &cuts), decode(&bytes, &[]));
        }
    }

    #[test]
    fn events_split_across_and_within_reads() {
        let mut decoder = SseDecoder::default();
        decoder.push(b"data: {\"a\":1}\n\ndata: {\"b\"");
        assert_eq!(decoder.next_data().as_deref(), Some("{\"a\":1}"));
        assert_eq!(decoder.next_data(), None);
        decoder.push(b":2}\r\n\r\n: comment\n\ndata: [DONE]\n\n");
        assert_eq!(decoder.next_data().as_deref(), Some("{\"b\":2}"));
        assert_eq!(decoder.next_data().as_deref(), Some("[DONE]"));
        assert_eq!(decoder.next_data(), None);
        assert_eq!(decoder.held(), 0);
    }
}
