//! How a source reaches the server: the browser's `EventSource`, or `fetch` with a request of your own.
//!
//! [`Transport`] is the user's choice. Inside the crate each transport sits behind one small boundary that the
//! engine ([`crate::source`]) owns:
//!
//! ```text
//!             engine (source/engine.rs)
//!    connect · listen · close · ready_state      ▲ opened · event · error · ended
//!                        ▼                        │   (the `Upstream` trait)
//!                  Link (this module)  ───────────┘
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

#[cfg(feature = "fetch")]
pub use request::FetchRequest;
#[cfg_attr(not(all(target_arch = "wasm32", feature = "fetch")), allow(unused_imports))]
pub(crate) use request::is_event_stream;

mod request;

#[cfg(target_arch = "wasm32")]
mod event_source;
#[cfg(all(target_arch = "wasm32", feature = "fetch"))]
mod fetch;
#[cfg(target_arch = "wasm32")]
pub(crate) use link::{Ended, Link, Upstream};

/// The boundary between the engine and the transports.
#[cfg(target_arch = "wasm32")]
mod link {
    use std::rc::{Rc, Weak};

    use super::event_source::EventSourceLink;
    #[cfg(feature = "fetch")]
    use super::fetch::FetchLink;
    use super::Transport;
    use crate::{Error, ReadyState};

    /// What a transport reports to the engine (going up). Implemented by the engine; a transport holds it by `Weak`.
    pub(crate) trait Upstream: Sized + 'static {
        /// The connection opened.
        fn opened(self: &Rc<Self>);
        /// An event arrived (`last_event_id` as the stream has set it, persisting across events without an id).
        fn event(self: &Rc<Self>, event_type: &str, data: &str, last_event_id: &str, origin: String);
        /// An error that does not end the connection (the fetch decoder refusing an oversized event).
        #[cfg_attr(not(feature = "fetch"), allow(dead_code))]
        fn error(self: &Rc<Self>, error: &Error);
        /// The connection ended (or, for `EventSource`, dropped while the browser reconnects by itself).
        fn ended(self: &Rc<Self>, end: Ended);
    }

    /// How a connection ended.
    pub(crate) enum Ended {
        /// It dropped and the transport reconnects by itself (the browser's `EventSource`).
        Reconnecting,
        /// It dropped or the body ended: the engine reconnects after `retry_ms`, as the spec says (fetch).
        #[cfg(feature = "fetch")]
        Lost {
            /// The reconnection time: the server's last `retry:`, or the default.
            retry_ms: u32,
        },
        /// The transport gave up: a status other than 200, a wrong content type, an unreachable server. The engine's
        /// reconnect policy may re-open it.
        Failed {
            /// What is known of the failure.
            message: String,
            /// The HTTP status, when known.
            status: Option<u16>,
            /// The content type, when known.
            content_type: Option<String>,
        },
        /// 204 No Content: the server asks the client to stop; no re-open.
        #[cfg(feature = "fetch")]
        NoContent,
    }

    /// The transport of one source, across its connections (going down: connect, listen, close, ready_state). The only
    /// place that tells the transports apart.
    pub(crate) enum Link {
        EventSource(EventSourceLink),
        #[cfg(feature = "fetch")]
        Fetch(FetchLink),
    }

    impl Link {
        /// The link for `transport`, not yet connected.
        pub fn new(transport: Transport) -> Link {
            match transport {
                Transport::EventSource => Link::EventSource(EventSourceLink::default()),
                #[cfg(feature = "fetch")]
                Transport::Fetch(request) => Link::Fetch(FetchLink::new(request)),
            }
        }

        /// Opens a new connection in place of the current one (which is closed first). `event_types` are those to
        /// listen for, attached before anything can be delivered.
        pub fn connect<U: Upstream>(
            &mut self,
            url: &str,
            with_credentials: bool,
            last_event_id: &str,
            event_types: Vec<Rc<str>>,
            up: &Weak<U>,
        ) -> Result<(), Error> {
            match self {
                Link::EventSource(link) => link.connect(url, with_credentials, last_event_id, event_types, up),
                #[cfg(feature = "fetch")]
                Link::Fetch(link) => link.connect(url, with_credentials, last_event_id, up),
            }
        }

        /// Listens for one more event type on the current connection (fetch delivers every type anyway).
        pub fn listen<U: Upstream>(&mut self, event_type: Rc<str>, up: &Weak<U>) {
            match self {
                Link::EventSource(link) => link.listen(event_type, up),
                #[cfg(feature = "fetch")]
                Link::Fetch(_) => {}
            }
        }

        /// Drops the current connection, if any (closing the `EventSource`, aborting the fetch).
        pub fn disconnect(&mut self) {
            match self {
                Link::EventSource(link) => link.disconnect(),
                #[cfg(feature = "fetch")]
                Link::Fetch(link) => link.disconnect(),
            }
        }

        /// Closes the current connection for good, if any, and returns the state the transport then reads.
        pub fn close(&mut self) -> ReadyState {
            match self {
                Link::EventSource(link) => link.close(),
                #[cfg(feature = "fetch")]
                Link::Fetch(link) => link.close(),
            }
        }

        /// The transport's readyState: `Connecting` while no connection is open.
        pub fn ready_state(&self) -> ReadyState {
            match self {
                Link::EventSource(link) => link.ready_state(),
                #[cfg(feature = "fetch")]
                Link::Fetch(link) => link.ready_state(),
            }
        }
    }
}

