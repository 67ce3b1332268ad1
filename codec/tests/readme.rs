//! The README's Rust snippet, verbatim, run as a test; a second test checks that every ```rust block of README.md is
//! in this file line for line (whitespace around each line aside), so the README cannot drift from what compiles.
// The snippet shows calls and their results without using every one.
#![allow(unused)]

use sse_codec::DecodeError;

#[path = "support/markdown.rs"]
mod markdown;

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

#[test]
fn every_rust_block_of_the_readme_is_here() {
    let missing = markdown::blocks_missing_from(include_str!("../README.md"), include_str!("readme.rs"));
    assert!(
        missing.is_empty(),
        "these ```rust blocks of codec/README.md are not in codec/tests/readme.rs (copy them there, verbatim, so \
         that they are built and run):\n{}",
        missing.join("\n---\n")
    );
}
