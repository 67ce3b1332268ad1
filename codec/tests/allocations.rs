//! `Frame::to_bytes` sizes its buffer before writing: one allocation per event, with little slack. A server encodes
//! every published event once and keeps the bytes (replay buffers, the store), so a wrong size hint costs a
//! reallocation and a copy per event, or memory per stored event.
//!
//! One test in this file on purpose: the counting allocator is process-wide, and tests of one binary run on threads.

use sse_codec::Frame;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn to_bytes_allocates_once_with_at_most_64_bytes_of_slack() {
    let long = "x".repeat(5_000);
    let frames = [
        Frame::message("{\"n\":1}"),
        Frame::message("a").id("7"),
        Frame::message("{\"user\":\"alice\",\"text\":\"hello there\"}").event("note").id("0123456789abcdef-42"),
        Frame::message(&long).event("job-progress").id("0123456789abcdef-4242424242"),
        Frame::message(&long[..40]).id(&long[..300]),
        Frame::message("").event(&long[..200]),
    ];
    for frame in &frames {
        let region = Region::new(GLOBAL);
        let bytes = frame.to_bytes().expect("a valid frame");
        let change = region.change();
        assert_eq!(
            (change.allocations, change.reallocations),
            (1, 0),
            "allocations and reallocations encoding {frame:?} ({} bytes)",
            bytes.len()
        );
        assert!(
            bytes.capacity() <= bytes.len() + 64,
            "{} bytes reserved for {} encoded ({frame:?})",
            bytes.capacity(),
            bytes.len()
        );
    }
}
