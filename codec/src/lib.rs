//! Server-sent events framing, written once and shared by everything in typed-eventsource that encodes or
//! decodes the `text/event-stream` format ([WHATWG HTML § 9.2]).
//!
//! The crate does no I/O: it turns events into bytes ([`encode_into`], [`Frame`]) and bytes into events
//! ([`Decoder`], which follows the spec's parsing rules exactly, in linear time, with an optional size limit).
//!
//! ```
//! use sse_codec::Frame;
//!
//! // A newline in the data can never inject a field or a second event: it becomes a second `data:` line.
//! let bytes = Frame::message("hello\nevent: admin").id("7").to_bytes().unwrap();
//! assert_eq!(bytes, b"id: 7\ndata: hello\ndata: event: admin\n\n");
//! ```
//!
//! ```
//! use sse_codec::{Decoder, Frame};
//!
//! // Whatever the chunking, the decoder gives back what the encoder wrote (line ends in data become `\n`).
//! let bytes = Frame::message("a\r\nb").event("update").id("7").to_bytes().unwrap();
//! let mut decoder = Decoder::new();
//! let mut events = Vec::new();
//! for chunk in bytes.chunks(3) {
//!     events.extend(decoder.feed(chunk).map(Result::unwrap));
//! }
//! assert_eq!(events.len(), 1);
//! assert_eq!((events[0].event.as_str(), events[0].data.as_str()), ("update", "a\nb"));
//! assert_eq!(decoder.last_event_id(), "7");
//! ```
//!
//! [WHATWG HTML § 9.2]: https://html.spec.whatwg.org/multipage/server-sent-events.html
#![deny(missing_docs)]

mod decode;
mod encode;

pub use decode::{DecodeError, Decoder, Event, EventRef, Events};
pub use encode::{comment, encode_into, EncodeError, Frame};
