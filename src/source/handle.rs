//! [`TypedEventSource`]: the handle a program keeps. It owns the engine; dropping it closes the source.

use std::fmt;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use super::engine::Engine;
use crate::handler;
use crate::{CloseReason, Error, EventMeta, Gap, ReadyState};

/// A typed server-sent events source over the browser's [`EventSource`].
///
/// Dropping it closes the connection and detaches every listener (the close handlers get
/// [`CloseReason::Client`]); keep it alive as long as you want events. It is deliberately not `Clone`: share it in an
/// `Rc` if needed, so that one owner decides when it closes.
///
/// ```no_run
/// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
/// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
/// # #[derive(serde::Deserialize)] struct Progress { status: String, message: String }
/// # fn render(_: Progress) {}
/// let source = TypedEventSource::builder("/jobs/7/events")
///     .close_on(TerminalRule::event_with_data("ping", "finished"))
///     .on::<Progress>("message", |p, _| render(p))
///     .open()?;
/// assert_eq!(source.state(), ReadyState::Connecting);
/// # Ok::<(), typed_eventsource::Error>(())
/// ```
///
/// [`EventSource`]: https://developer.mozilla.org/en-US/docs/Web/API/EventSource
#[must_use = "dropping a TypedEventSource closes its connection"]
pub struct TypedEventSource {
    engine: Rc<Engine>,
}

impl fmt::Debug for TypedEventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedEventSource")
            .field("url", &self.engine.url())
            .field("state", &self.state())
            .field("last_event_id", &self.last_event_id())
            .field("close_reason", &self.close_reason())
            .finish()
    }
}

impl TypedEventSource {
    pub(super) fn new(engine: Rc<Engine>) -> Self {
        TypedEventSource { engine }
    }

    /// The state, as [`ready_state`](Self::ready_state).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// assert_eq!(source.state(), ReadyState::Open);
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn state(&self) -> ReadyState {
        self.ready_state()
    }

    /// The browser's [`readyState`] where there is a browser object (the `EventSource` transport, also once closed:
    /// closing checks it reads `CLOSED` and reports [`Error::NotClosed`] if not); for fetch, `Open` while a response
    /// is being read, `Closed` once closed. `Connecting` while the reconnect policy waits.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// source.close();
    /// assert_eq!(source.ready_state(), ReadyState::Closed); // what the browser's object says
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    ///
    /// [`readyState`]: https://developer.mozilla.org/en-US/docs/Web/API/EventSource/readyState
    pub fn ready_state(&self) -> ReadyState {
        self.engine.state()
    }

    /// How many events were dropped as duplicates (their id among those of the last events delivered; see
    /// [`SourceOptions::dedup_window`](crate::SourceOptions::dedup_window)).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// assert_eq!(source.duplicates_dropped(), 0);
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn duplicates_dropped(&self) -> u64 {
        self.engine.duplicates_dropped()
    }

    /// The last gap signalled by the server ([`Gap`]), if any.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// # fn reload(_: Option<String>) {}
    /// if let Some(gap) = source.last_gap() { reload(gap.reason) }
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn last_gap(&self) -> Option<Gap> {
        self.engine.last_gap()
    }

    /// The URL given at construction.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// assert_eq!(source.url(), "/subscribe");
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn url(&self) -> &str {
        self.engine.url()
    }

    /// The last event id seen (empty before any); the reconnect policy resumes after it.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// let resume_from = source.last_event_id();
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn last_event_id(&self) -> String {
        self.engine.last_event_id()
    }

    /// Whether the source is waiting for the network: the browser went offline (`navigator.onLine` is false), the
    /// connection was dropped, and it reconnects — at once, after the last event id — when the browser is back
    /// online. Attempts are not counted meanwhile. The error handlers got [`Error::Offline`] when it started.
    ///
    /// ```no_run
    /// # use typed_eventsource::TypedEventSource;
    /// # fn show(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// if source.offline() { show("offline — waiting for the network") }
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn offline(&self) -> bool {
        self.engine.offline.get()
    }

    #[cfg(feature = "share")]
    /// This tab's part when the source shares its connection across tabs
    /// ([`share_across_tabs`](crate::TypedEventSourceBuilder::share_across_tabs)): leader, follower, or alone (the
    /// browser cannot share); `None` for a source with a connection of its own.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// # use typed_eventsource::ShareRole;
    /// let leads = source.share_role() == Some(ShareRole::Leader);
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn share_role(&self) -> Option<crate::ShareRole> {
        self.engine.share_role()
    }

    /// Why the source closed, once it has.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// assert_eq!(source.close_reason(), Some(CloseReason::Client));
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.engine.close_reason()
    }

    /// Closes the source: no more events, no reconnect; the close handlers get [`CloseReason::Client`] unless it had
    /// already closed. Harmless on a closed source.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// source.close();
    /// source.close(); // nothing happens
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn close(&self) {
        self.engine.finish(CloseReason::Client);
    }

    /// Adds a typed handler to the open source (see
    /// [`TypedEventSourceBuilder::on`](crate::TypedEventSourceBuilder::on)); it receives events that arrive from now
    /// on.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// # #[derive(serde::Deserialize)] struct Progress { status: String, message: String }
    /// # fn render(_: Progress) {}
    /// source.on::<Progress>("progress", |p, _| render(p));
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn on<T: DeserializeOwned + 'static>(&self, event: &str, handler: impl FnMut(T, EventMeta) + 'static) {
        self.engine.add_event_handler(event, handler::typed(handler));
    }

    /// Adds a text handler to the open source (see
    /// [`TypedEventSourceBuilder::on_text`](crate::TypedEventSourceBuilder::on_text)).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// source.on_text("ping", |text, _| log(&text));
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn on_text(&self, event: &str, handler: impl FnMut(String, EventMeta) + 'static) {
        self.engine.add_event_handler(event, handler::text(handler));
    }

    /// Adds a JSON-value handler to the open source (see
    /// [`TypedEventSourceBuilder::on_json`](crate::TypedEventSourceBuilder::on_json)).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// source.on_json("message", |value, _| web_sys::console::log_1(&value));
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn on_json(&self, event: &str, handler: impl FnMut(JsValue, EventMeta) + 'static) {
        self.engine.add_event_handler(event, handler::json(handler));
    }

    /// Adds a handler that reads the received event itself (the JS API's: it hands the browser's strings to JS as
    /// they are).
    #[cfg(feature = "js")]
    pub(crate) fn on_incoming(&self, event: &str, handler: handler::RawHandler) {
        self.engine.add_event_handler(event, handler);
    }

    /// Adds an open handler (see [`TypedEventSourceBuilder::on_open`](crate::TypedEventSourceBuilder::on_open)).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// source.on_open(|| log("open"));
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn on_open(&self, handler: impl FnMut() + 'static) {
        self.engine.handlers_mut().signals.push(handler::on_open(handler));
    }

    /// Adds an error handler (see [`TypedEventSourceBuilder::on_error`](crate::TypedEventSourceBuilder::on_error)).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// source.on_error(|e| log(&e.to_string()));
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn on_error(&self, handler: impl FnMut(&Error) + 'static) {
        self.engine.handlers_mut().signals.push(handler::on_error(handler));
    }

    /// Adds a state-change handler (see
    /// [`TypedEventSourceBuilder::on_state_change`](crate::TypedEventSourceBuilder::on_state_change)).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// source.on_state_change(|s| log(&s.to_string()));
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn on_state_change(&self, handler: impl FnMut(ReadyState) + 'static) {
        self.engine.handlers_mut().signals.push(handler::on_state(handler));
    }

    /// Adds a gap handler (see [`TypedEventSourceBuilder::on_gap`](crate::TypedEventSourceBuilder::on_gap)).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// # fn reload(_: &Gap) {}
    /// source.on_gap(|gap| reload(gap));
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn on_gap(&self, handler: impl FnMut(&Gap) + 'static) {
        self.engine.handlers_mut().signals.push(handler::on_gap(handler));
    }

    /// Adds a close handler (see [`TypedEventSourceBuilder::on_close`](crate::TypedEventSourceBuilder::on_close)); on
    /// an already closed source it is called at once with the reason.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # fn log(_: &str) {}
    /// # let source = TypedEventSource::builder("/subscribe").open()?;
    /// source.on_close(|reason| log(&reason.to_string()));
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn on_close(&self, mut handler: impl FnMut(&CloseReason) + 'static) {
        let closed = self.engine.close_reason();
        match closed {
            Some(reason) => handler(&reason),
            None => self.engine.handlers_mut().signals.push(handler::on_close(handler)),
        }
    }
}

impl Drop for TypedEventSource {
    fn drop(&mut self) {
        self.engine.finish(CloseReason::Client);
    }
}
