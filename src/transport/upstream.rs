//! The boundary going up: what a transport reports to the engine. Transports depend on this file only, never on the
//! engine.

use std::rc::{Rc, Weak};

use crate::text::Text;
use crate::Error;

/// What a transport reports to the engine (going up). Implemented by the engine (and by a link shared across tabs,
/// which relays); a transport holds it as a [`WeakUp`]: a trait object, so that each transport is compiled once
/// whoever it reports to.
pub(crate) trait Upstream: 'static {
    /// The connection opened.
    fn opened(self: Rc<Self>);
    /// An event arrived.
    fn event(self: Rc<Self>, event: &Received<'_>);
    /// An error that does not end the connection (the fetch decoder refusing an oversized event).
    #[cfg_attr(not(feature = "fetch"), allow(dead_code))]
    fn error(self: Rc<Self>, error: &Error);
    /// Bytes arrived, whatever they hold (comments included): a sign of life for the heartbeat watchdog (fetch).
    #[cfg_attr(not(feature = "fetch"), allow(dead_code))]
    fn alive(self: Rc<Self>);
    /// The connection ended (or, for `EventSource`, dropped while the browser reconnects by itself).
    fn ended(self: Rc<Self>, end: Ended);
}

/// One received event, as its transport has it: the data, id and origin stay JS strings where the transport got them
/// so (`EventSource`) until Rust code reads them.
pub(crate) struct Received<'a> {
    pub event_type: &'a str,
    pub data: Text<'a>,
    /// The last event id as the stream has set it (it persists across events without an `id`).
    pub last_event_id: Text<'a>,
    pub origin: Text<'a>,
}

/// How a transport reaches what it reports to: never keeping it alive.
pub(crate) type WeakUp = Weak<dyn Upstream>;

/// How a connection ended.
#[derive(Clone)]
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
