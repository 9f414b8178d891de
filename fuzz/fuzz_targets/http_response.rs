//! Any bytes as a server's response, in any reads: the connection ends in the same answer or
//! labelled failure as when they arrive at once, never panics, and keeps its read buffer
//! within its bound.
#![no_main]

use ibench_engine::replay::assert_reads_do_not_matter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // The first bytes choose the read sizes (1 to 64 bytes), the rest is the response.
    let (sizes, wire) = input.split_at(input.len().min(4));
    let reads: Vec<usize> = sizes.iter().map(|&size| usize::from(size % 64) + 1).collect();
    assert_reads_do_not_matter(wire, &reads);
});
