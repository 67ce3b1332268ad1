//! Server-sent events framing, written once and shared by everything in typed-eventsource that encodes or
//! decodes the `text/event-stream` format ([WHATWG HTML § 9.2]).
//!
//! The crate does no I/O: it turns events into bytes ([`encode`]) and bytes into events (the decoder).
//!
//! ```
//! use sse_codec::Frame;
//!
//! // A newline in the data can never inject a field or a second event: it becomes a second `data:` line.
//! let bytes = Frame::message("hello\nevent: admin").id("7").to_bytes().unwrap();
//! assert_eq!(bytes, b"id: 7\ndata: hello\ndata: event: admin\n\n");
//! ```
//!
//! [WHATWG HTML § 9.2]: https://html.spec.whatwg.org/multipage/server-sent-events.html
#![deny(missing_docs)]

mod encode;

pub use encode::{comment, encode_into, EncodeError, Frame};
