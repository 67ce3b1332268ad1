//! The README's Rust snippet, verbatim, run as a test; a second test checks that every ```rust block of README.md is
//! in this file line for line (whitespace around each line aside), so the README cannot drift from what compiles.
// The snippet shows calls and their results without using every one.
#![allow(unused)]

use sse_codec::DecodeError;

#[test]
#[rustfmt::skip]
fn the_readme_snippet_runs() -> Result<(), DecodeError> {
    use sse_codec::{Decoder, Event};

    let mut decoder = Decoder::new();                      // or Decoder::with_max_event_size(1 << 20)
    for chunk in [&b"id: 1\nda"[..], b"ta: hello\n\n"] {    // chunks as the transport receives them
        for item in decoder.feed(chunk) {                  // Events<'_>: Iterator<Item = Result<Event, DecodeError>>
            let event: Event = item?;                      // Event { event, data, last_event_id }: all String
            // (an Err is DecodeError::EventTooLarge, only with a limit; decoding can go on after it)
        }
    }
    let leftovers = decoder.finish();                      // end of body: unfinished event discarded
    decoder.last_event_id();                               // &str: send as Last-Event-ID when reconnecting
    decoder.retry();                                       // Option<u64>: reconnection time from `retry:`
    assert_eq!(decoder.last_event_id(), "1");
    assert!(leftovers.is_empty());
    Ok(())
}

/// The lines of each block fenced with ```rust.
fn rust_blocks(markdown: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim()) {
            (None, "```rust") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => block.push(line.trim()),
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "a ```rust block of the README is not closed");
    blocks
}

#[test]
fn every_rust_block_of_the_readme_is_here() {
    let this_file: Vec<&str> = include_str!("readme.rs").lines().map(str::trim).collect();
    let blocks = rust_blocks(include_str!("../README.md"));
    assert!(!blocks.is_empty(), "no ```rust block found in README.md");
    for block in blocks {
        assert!(
            this_file.windows(block.len()).any(|window| window == block.as_slice()),
            "this ```rust block of codec/README.md is not in codec/tests/readme.rs (copy it there, verbatim, so that \
             it is built and run):\n{}",
            block.join("\n")
        );
    }
}
