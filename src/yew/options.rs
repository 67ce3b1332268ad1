//! The options of the hooks: the source's [`SourceOptions`] plus what only a hook needs.

use crate::{ReconnectPolicy, SourceOptions, TerminalRule, Transport};

/// Options of [`use_event_source_with_options`](super::use_event_source_with_options) and the other hooks: the
/// [`SourceOptions`] of the source, plus the history capacity and the event types of the typed and text hooks. The
/// defaults are those of the library plus a history of 256 messages.
///
/// They are read when a connection opens (first render, URL change,
/// [`reconnect`](super::UseEventSourceHandle::reconnect)), not on every render.
///
/// ```no_run
/// # use typed_eventsource::yew::UseEventSourceOptions;
/// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
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
    /// The event types [`use_event_source_typed`](super::use_event_source_typed) and
    /// [`use_event_source_text`](super::use_event_source_text) listen to (default `["message"]`); the enum hooks take
    /// them from the enum and ignore this.
    pub events: Vec<String>,
    /// Everything else, as for [`TypedEventSourceBuilder::with_options`](crate::TypedEventSourceBuilder::with_options):
    /// terminal rules, reconnect policy, credentials, transport, hidden-page pause, and the id the first connection
    /// resumes after (later ones resume after the last id seen).
    pub source: SourceOptions,
}

impl Default for UseEventSourceOptions {
    fn default() -> Self {
        UseEventSourceOptions { capacity: 256, events: vec!["message".to_owned()], source: SourceOptions::default() }
    }
}

impl From<SourceOptions> for UseEventSourceOptions {
    /// The hook options with these source options and the hook defaults.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// let options = UseEventSourceOptions::from(SourceOptions::default().with_credentials(true)).capacity(50);
    /// ```
    fn from(source: SourceOptions) -> Self {
        UseEventSourceOptions { source, ..UseEventSourceOptions::default() }
    }
}

impl UseEventSourceOptions {
    /// Sets [`capacity`](Self::capacity).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().capacity(10_000)
    /// # ;
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets the [`events`](Self::events) listened to by the typed and text hooks.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().events(["message", "notification"])
    /// # ;
    /// ```
    pub fn events<S: Into<String>>(mut self, events: impl IntoIterator<Item = S>) -> Self {
        self.events = events.into_iter().map(Into::into).collect();
        self
    }

    /// Sets every [`source`](Self::source) option at once.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().source(SourceOptions::default().pause_when_hidden(true))
    /// # ;
    /// ```
    pub fn source(mut self, source: SourceOptions) -> Self {
        self.source = source;
        self
    }

    /// Adds a terminal rule ([`SourceOptions::close_on`]).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().close_on(TerminalRule::event("done"))
    /// # ;
    /// ```
    pub fn close_on(mut self, rule: TerminalRule) -> Self {
        self.source = self.source.close_on(rule);
        self
    }

    /// Whether a terminal event is still added to the history ([`SourceOptions::deliver_terminal`], default `true`).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().deliver_terminal(false)
    /// # ;
    /// ```
    pub fn deliver_terminal(mut self, yes: bool) -> Self {
        self.source = self.source.deliver_terminal(yes);
        self
    }

    /// The reconnect policy ([`SourceOptions::reconnect`]).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().reconnect(ReconnectPolicy::never())
    /// # ;
    /// ```
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.source = self.source.reconnect(policy);
        self
    }

    /// Sends cookies cross-origin ([`SourceOptions::with_credentials`]).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().with_credentials(true)
    /// # ;
    /// ```
    pub fn with_credentials(mut self, yes: bool) -> Self {
        self.source = self.source.with_credentials(yes);
        self
    }

    /// The transport ([`SourceOptions::transport`]), e.g. `FetchRequest::new().header("Authorization", ..)`.
    ///
    /// ```no_run
    /// # #[cfg(feature = "fetch")]
    /// # fn main() {
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # use typed_eventsource::FetchRequest;
    /// # let t = "eyJ...";
    /// # let _ =
    /// UseEventSourceOptions::default().transport(FetchRequest::new().header("Authorization", format!("Bearer {t}")))
    /// # ;
    /// # }
    /// # #[cfg(not(feature = "fetch"))]
    /// # fn main() {}
    /// ```
    pub fn transport(mut self, transport: impl Into<Transport>) -> Self {
        self.source = self.source.transport(transport);
        self
    }

    #[cfg(feature = "share")]
    /// One connection for every tab of the origin that opens the same stream ([`SourceOptions::share_across_tabs`]).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().share_across_tabs()
    /// # ;
    /// ```
    pub fn share_across_tabs(mut self) -> Self {
        self.source = self.source.share_across_tabs();
        self
    }

    #[cfg(feature = "share")]
    /// One connection for every tab using the same `key` ([`SourceOptions::share`]).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().share("board")
    /// # ;
    /// ```
    pub fn share(mut self, key: impl Into<String>) -> Self {
        self.source = self.source.share(key);
        self
    }

    /// Close while the page is hidden and resume after the last id when shown ([`SourceOptions::pause_when_hidden`]).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().pause_when_hidden(true)
    /// # ;
    /// ```
    pub fn pause_when_hidden(mut self, yes: bool) -> Self {
        self.source = self.source.pause_when_hidden(yes);
        self
    }

    /// The query parameter carrying the id to resume after ([`SourceOptions::resume_param`]; `None` for none).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().resume_param(Some("last_event_id"))
    /// # ;
    /// ```
    pub fn resume_param(mut self, name: Option<&str>) -> Self {
        self.source = self.source.resume_param(name);
        self
    }

    /// One more gap signal besides `replay-gap` ([`SourceOptions::gap_event`]); the handle shows the last gap.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().gap_event("resync")
    /// # ;
    /// ```
    pub fn gap_event(mut self, event: impl Into<String>) -> Self {
        self.source = self.source.gap_event(event);
        self
    }

    /// How long the stream may stay silent before it is dropped and re-opened ([`SourceOptions::heartbeat_timeout`];
    /// `Duration::ZERO`: never). The handle's [`last_outage`](super::UseEventSourceHandle::last_outage) shows when.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # let _ =
    /// UseEventSourceOptions::default().heartbeat_timeout(std::time::Duration::from_secs(20))
    /// # ;
    /// ```
    pub fn heartbeat_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.source = self.source.heartbeat_timeout(timeout);
        self
    }

    /// The de-duplication window ([`SourceOptions::dedup_window`]; default 64, 0 = off).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceOptions;
    /// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule};
    /// # let _ =
    /// UseEventSourceOptions::default().dedup_window(0)
    /// # ;
    /// ```
    pub fn dedup_window(mut self, window: usize) -> Self {
        self.source = self.source.dedup_window(window);
        self
    }
}
