//! The options of the hooks: the source's [`SourceOptions`] plus what only a hook needs.

use crate::SourceOptions;

/// Options of the hooks of every framework (`use_event_source_with_options` and the others): the [`SourceOptions`]
/// of the source, plus the history capacity and the event types of the typed and text hooks. The defaults are those
/// of the library plus a history of 256 messages.
///
/// Every source setting (terminal rules, reconnect policy, credentials, transport, tab sharing, heartbeat timeout,
/// ...) is set on the [`SourceOptions`] and only there; a `SourceOptions` converts into hook options with the hook
/// defaults. They are read when a connection opens (mount, URL change, `reconnect()`).
///
/// ```no_run
/// # use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule, UseEventSourceOptions};
/// let options = UseEventSourceOptions::from(
///     SourceOptions::default()
///         .close_on(TerminalRule::event_with_data("ping", "finished"))
///         .reconnect(ReconnectPolicy::never()),
/// )
/// .capacity(1_000);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct UseEventSourceOptions {
    /// How many messages the history keeps (at least 1); past it, the oldest are dropped. Default 256.
    pub capacity: usize,
    /// The event types the typed and text hooks listen to (default `["message"]`); the enum hooks take them from the
    /// enum and ignore this.
    pub events: Vec<String>,
    /// Everything else, as for [`TypedEventSourceBuilder::with_options`](crate::TypedEventSourceBuilder::with_options):
    /// terminal rules, reconnect policy, credentials, transport, hidden-page pause, tab sharing, and the id the first
    /// connection resumes after (later ones resume after the last id seen).
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
    /// # use typed_eventsource::{SourceOptions, UseEventSourceOptions};
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
    /// # use typed_eventsource::UseEventSourceOptions;
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
    /// # use typed_eventsource::UseEventSourceOptions;
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
    /// # use typed_eventsource::{SourceOptions, UseEventSourceOptions};
    /// # let _ =
    /// UseEventSourceOptions::default().source(SourceOptions::default().pause_when_hidden(true))
    /// # ;
    /// ```
    pub fn source(mut self, source: SourceOptions) -> Self {
        self.source = source;
        self
    }
}
