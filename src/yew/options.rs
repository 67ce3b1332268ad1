//! The options of the hooks.

use crate::{ReconnectPolicy, TerminalRule, Transport};

/// Options of [`use_event_source_with_options`](super::use_event_source_with_options) and the other hooks; the
/// defaults are those of the library plus a history of 256 messages.
///
/// They are read when a connection opens (first render, URL change, [`reconnect`](super::UseEventSourceHandle::reconnect)),
/// not on every render.
///
/// ```ignore
/// let options = UseEventSourceOptions::default()
///     .capacity(1_000)
///     .close_on(TerminalRule::event_with_data("ping", "finished"))
///     .reconnect(ReconnectPolicy::never());
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct UseEventSourceOptions {
    /// How many messages the history keeps (at least 1); past it, the oldest are dropped. Default 256.
    pub capacity: usize,
    /// Terminal rules: the stream closes itself after the first matching event.
    pub terminal: Vec<TerminalRule>,
    /// Whether a terminal event is still added to the history (default `true`).
    pub deliver_terminal: bool,
    /// What to do when the browser gives up (default: [`ReconnectPolicy::default`]).
    pub reconnect: ReconnectPolicy,
    /// Sends cookies cross-origin ([`withCredentials`](https://developer.mozilla.org/en-US/docs/Web/API/EventSource/withCredentials)).
    pub with_credentials: bool,
    /// The event types [`use_event_source_typed`](super::use_event_source_typed) and
    /// [`use_event_source_text`](super::use_event_source_text) listen to (default `["message"]`); the enum hooks take
    /// them from the enum and ignore this.
    pub events: Vec<String>,
    /// The transport (default: the browser's `EventSource`; `FetchRequest` with the `fetch` feature).
    pub transport: Transport,
    /// Close while the page is hidden, resume after the last id when shown (default false).
    pub pause_when_hidden: bool,
}

impl Default for UseEventSourceOptions {
    fn default() -> Self {
        UseEventSourceOptions {
            capacity: 256,
            terminal: Vec::new(),
            deliver_terminal: true,
            reconnect: ReconnectPolicy::default(),
            with_credentials: false,
            events: vec!["message".to_owned()],
            transport: Transport::EventSource,
            pause_when_hidden: false,
        }
    }
}

impl UseEventSourceOptions {
    /// Sets [`capacity`](Self::capacity).
    ///
    /// ```ignore
    /// UseEventSourceOptions::default().capacity(10_000)
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Adds a terminal rule (see [`TypedEventSourceBuilder::close_on`](crate::TypedEventSourceBuilder::close_on)).
    ///
    /// ```ignore
    /// UseEventSourceOptions::default().close_on(TerminalRule::event("done"))
    /// ```
    pub fn close_on(mut self, rule: TerminalRule) -> Self {
        self.terminal.push(rule);
        self
    }

    /// Sets [`deliver_terminal`](Self::deliver_terminal).
    ///
    /// ```ignore
    /// UseEventSourceOptions::default().deliver_terminal(false)
    /// ```
    pub fn deliver_terminal(mut self, yes: bool) -> Self {
        self.deliver_terminal = yes;
        self
    }

    /// Sets the [`reconnect`](Self::reconnect) policy.
    ///
    /// ```ignore
    /// UseEventSourceOptions::default().reconnect(ReconnectPolicy::never())
    /// ```
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = policy;
        self
    }

    /// Sets [`with_credentials`](Self::with_credentials).
    ///
    /// ```ignore
    /// UseEventSourceOptions::default().with_credentials(true)
    /// ```
    pub fn with_credentials(mut self, yes: bool) -> Self {
        self.with_credentials = yes;
        self
    }

    /// Sets the [`events`](Self::events) listened to by the typed and text hooks.
    ///
    /// ```ignore
    /// UseEventSourceOptions::default().events(["message", "notification"])
    /// ```
    pub fn events<S: Into<String>>(mut self, events: impl IntoIterator<Item = S>) -> Self {
        self.events = events.into_iter().map(Into::into).collect();
        self
    }

    /// The transport, e.g. `FetchRequest::new().header("Authorization", ..)` (feature `fetch`).
    ///
    /// ```ignore
    /// UseEventSourceOptions::default().transport(FetchRequest::new().header("Authorization", format!("Bearer {t}")))
    /// ```
    pub fn transport(mut self, transport: impl Into<Transport>) -> Self {
        self.transport = transport.into();
        self
    }

    /// Close while the page is hidden and resume after the last id when it is shown again.
    ///
    /// ```ignore
    /// UseEventSourceOptions::default().pause_when_hidden(true)
    /// ```
    pub fn pause_when_hidden(mut self, yes: bool) -> Self {
        self.pause_when_hidden = yes;
        self
    }
}
