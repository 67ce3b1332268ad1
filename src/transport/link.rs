//! The boundary going down: what the engine asks of its transport ([`Link`]), and the only place that tells the
//! transports apart. A link shared across tabs (`src/share/`, feature `share`) is a third kind, behind a trait object
//! (`SharedTransport`) so that its code is linked only into apps that turn sharing on.

use std::fmt;
use std::rc::Rc;

use super::event_source::EventSourceLink;
#[cfg(feature = "fetch")]
use super::fetch::FetchLink;
use super::upstream::WeakUp;
use super::Transport;
use crate::{Error, ReadyState};

/// The transport of one source, across its connections (going down: connect, listen, close, ready_state). The only
/// place that tells the transports apart.
pub(crate) enum Link {
    EventSource(EventSourceLink),
    #[cfg(feature = "fetch")]
    Fetch(FetchLink),
    #[cfg(feature = "share")]
    /// One connection for every tab of the origin (`src/share/`): built only by `SourceOptions::share*`.
    Shared(Box<dyn SharedTransport>),
}

#[cfg(feature = "share")]
/// A link shared across tabs, as the engine sees it: the same calls as [`Link`].
pub(crate) trait SharedTransport {
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &mut self,
        url: &str,
        with_credentials: bool,
        last_event_id: &str,
        resume_param: Option<&str>,
        event_types: Vec<Rc<str>>,
        up: &WeakUp,
    ) -> Result<(), Error>;
    /// The server's `retry:` as the leading tab's transport knows it.
    fn server_retry(&self) -> Option<u32>;
    fn listen(&mut self, event_type: Rc<str>);
    fn disconnect(&mut self);
    fn close(&mut self) -> ReadyState;
    fn ready_state(&self) -> ReadyState;
    /// This tab's part in the sharing.
    fn role(&self) -> crate::ShareRole;
    /// Whether the transport sees every byte, comments included (fetch).
    fn sees_comments(&self) -> bool;
    /// The connection went silent: drop it, and tell the other tabs it is being re-established.
    fn went_silent(&mut self);
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Link::EventSource(_) => "Link::EventSource",
            #[cfg(feature = "fetch")]
            Link::Fetch(_) => "Link::Fetch",
            #[cfg(feature = "share")]
            Link::Shared(_) => "Link::Shared",
        })
    }
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
    /// listen for, attached before anything can be delivered; `resume_param` names the query parameter carrying
    /// `last_event_id` for `EventSource` (`None`: none; fetch sends the `Last-Event-ID` header instead).
    pub fn connect(
        &mut self,
        url: &str,
        with_credentials: bool,
        last_event_id: &str,
        resume_param: Option<&str>,
        event_types: Vec<Rc<str>>,
        up: &WeakUp,
    ) -> Result<(), Error> {
        match self {
            Link::EventSource(link) => {
                link.connect(url, with_credentials, last_event_id, resume_param, event_types, up)
            }
            #[cfg(feature = "fetch")]
            Link::Fetch(link) => link.connect(url, with_credentials, last_event_id, up),
            #[cfg(feature = "share")]
            Link::Shared(link) => link.connect(url, with_credentials, last_event_id, resume_param, event_types, up),
        }
    }

    /// Listens for one more event type on the current connection (fetch delivers every type anyway).
    pub fn listen(&mut self, event_type: Rc<str>, up: &WeakUp) {
        match self {
            Link::EventSource(link) => link.listen(event_type, up),
            #[cfg(feature = "fetch")]
            Link::Fetch(_) => {}
            #[cfg(feature = "share")]
            Link::Shared(link) => link.listen(event_type),
        }
    }

    /// Drops the current connection, if any (closing the `EventSource`, aborting the fetch).
    pub fn disconnect(&mut self) {
        match self {
            Link::EventSource(link) => link.disconnect(),
            #[cfg(feature = "fetch")]
            Link::Fetch(link) => link.disconnect(),
            #[cfg(feature = "share")]
            Link::Shared(link) => link.disconnect(),
        }
    }

    /// Whether the transport sees every byte, comments included (fetch; `EventSource` sees events only): the
    /// heartbeat watchdog's default applies from the start then.
    pub fn sees_comments(&self) -> bool {
        match self {
            Link::EventSource(_) => false,
            #[cfg(feature = "fetch")]
            Link::Fetch(_) => true,
            #[cfg(feature = "share")]
            Link::Shared(link) => link.sees_comments(),
        }
    }

    /// Whether this link's own connection is to be watched for silence: not that of a tab following a shared
    /// connection (the leading tab watches it).
    pub fn watched(&self) -> bool {
        match self {
            #[cfg(feature = "share")]
            Link::Shared(link) => link.role() != crate::ShareRole::Follower,
            _ => true,
        }
    }

    /// Drops a connection that went silent (a shared one tells the following tabs it is being re-established).
    pub fn went_silent(&mut self) {
        match self {
            #[cfg(feature = "share")]
            Link::Shared(link) => link.went_silent(),
            _ => self.disconnect(),
        }
    }

    /// The reconnection time the server set with `retry:`, when the transport can know it (fetch; the browser's
    /// `EventSource` applies it to its own reconnects but does not expose it).
    pub fn server_retry(&self) -> Option<u32> {
        match self {
            Link::EventSource(_) => None,
            #[cfg(feature = "fetch")]
            Link::Fetch(link) => link.server_retry(),
            #[cfg(feature = "share")]
            Link::Shared(link) => link.server_retry(),
        }
    }

    /// Closes the current connection for good and returns the state the transport then reads (the browser's
    /// `readyState` for `EventSource`).
    pub fn close(&mut self) -> ReadyState {
        match self {
            Link::EventSource(link) => link.close(),
            #[cfg(feature = "fetch")]
            Link::Fetch(link) => link.close(),
            #[cfg(feature = "share")]
            Link::Shared(link) => link.close(),
        }
    }

    /// The transport's readyState: the browser's `EventSource.readyState` where there is one (kept after a close, so
    /// a closed source reads the browser's value), `Connecting` while a re-open is pending.
    pub fn ready_state(&self) -> ReadyState {
        match self {
            Link::EventSource(link) => link.ready_state(),
            #[cfg(feature = "fetch")]
            Link::Fetch(link) => link.ready_state(),
            #[cfg(feature = "share")]
            Link::Shared(link) => link.ready_state(),
        }
    }

    #[cfg(feature = "share")]
    /// This tab's part in a shared link; `None` for a link of its own.
    pub fn share_role(&self) -> Option<crate::ShareRole> {
        match self {
            #[cfg(feature = "share")]
            Link::Shared(link) => Some(link.role()),
            _ => None,
        }
    }
}
