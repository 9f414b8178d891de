//! Any bytes as an event stream, pushed in any pieces: the same events as pushed at once,
//! never a panic.
#![no_main]

use ibench_engine::SseDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // The first bytes choose where the stream is cut, the rest is the stream.
    let (cuts, bytes) = input.split_at(input.len().min(4));
    let mut ends: Vec<usize> = cuts
        .iter()
        .map(|&cut| usize::from(cut) * bytes.len() / 255)
        .collect();
    ends.sort_unstable();
    assert_eq!(
        SseDecoder::events_in_pieces(bytes, &ends),
        SseDecoder::events_in_pieces(bytes, &[])
    );
});
