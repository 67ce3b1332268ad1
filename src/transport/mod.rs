//! How a source reaches the server: the browser's `EventSource`, or `fetch` with a request of your own.
//!
//! [`Transport`] is the user's choice. Inside the crate each transport sits behind one small boundary that the
//! engine ([`crate::source`]) owns:
//!
//! ```text
//!                 engine (source/engine.rs)
//!   down: connect · listen · disconnect ·        ▲ up: opened · event · error · ended
//!         close · ready_state                    │     (the `Upstream` trait, upstream.rs)
//!                        ▼                       │
//!                 Link (link.rs) ────────────────┘
//!          ┌─────────────┴──────────────┐
//!   event_source.rs               fetch.rs (feature `fetch`)
//!   browser EventSource           fetch + ReadableStream + sse-codec
//! ```
//!
//! A transport never imports the engine: it reports through a `Weak` to any [`Upstream`], so a listener or a read
//! task never keeps a source alive. What only one transport needs stays in it: the `lastEventId` query parameter and
//! the browser's error semantics in `event_source.rs`; the reconnection time (`retry:`), the staleness of a read task
//! and the HTTP checks in `fetch.rs`.

/// The transport of a source. Everything else — handlers, terminal rules, readyState, close reasons, the reconnect
/// policy — works the same over both.
///
/// ```
/// use typed_eventsource::Transport;
/// assert!(matches!(Transport::default(), Transport::EventSource));
/// ```
///
/// `Transport::Fetch` and `FetchRequest` need the `fetch` feature (`features = ["fetch"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// The browser's [`EventSource`]: GET only, no headers; the browser parses and reconnects.
    ///
    /// [`EventSource`]: https://developer.mozilla.org/en-US/docs/Web/API/EventSource
    #[default]
    EventSource,
    /// [`fetch`] + `ReadableStream`, parsed by the spec-exact `sse-codec` decoder: any method, headers (an
    /// `Authorization` header instead of a token in the URL) and body; reconnects as the spec says, sending
    /// `Last-Event-ID` as a header and honouring `retry:`; a 204 stops it; errors carry the HTTP status and content
    /// type.
    ///
    /// [`fetch`]: https://developer.mozilla.org/en-US/docs/Web/API/Fetch_API
    #[cfg(feature = "fetch")]
    Fetch(FetchRequest),
}

#[cfg(all(target_arch = "wasm32", feature = "js", feature = "fetch"))]
pub(crate) use request::Prepared;
#[cfg(feature = "fetch")]
pub use request::{FetchRequest, RequestAttempt};

#[cfg(feature = "fetch")]
impl From<FetchRequest> for Transport {
    /// The fetch transport with this request.
    ///
    /// ```
    /// use typed_eventsource::{FetchRequest, Transport};
    /// assert!(matches!(Transport::from(FetchRequest::new()), Transport::Fetch(_)));
    /// ```
    fn from(request: FetchRequest) -> Self {
        Transport::Fetch(request)
    }
}

mod request;

#[cfg(target_arch = "wasm32")]
mod event_source;
#[cfg(all(target_arch = "wasm32", feature = "fetch"))]
mod fetch;
#[cfg(target_arch = "wasm32")]
mod link;
#[cfg(target_arch = "wasm32")]
mod upstream;
#[cfg(target_arch = "wasm32")]
pub(crate) use link::Link;
#[cfg(all(target_arch = "wasm32", feature = "share"))]
pub(crate) use link::SharedTransport;
#[cfg(target_arch = "wasm32")]
pub(crate) use upstream::{Ended, Received, Upstream, WeakUp};
