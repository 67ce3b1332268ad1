//! [`SourceOptions`]: every setting of a source except its URL and handlers, in one value. The builder fills it, the
//! Yew options wrap it, the JavaScript options object is parsed into it.

use super::engine::{Engine, PauseHook, ResumeSettings, Settings};
use crate::liveness::Timeout;
#[cfg(feature = "share")]
use crate::share::Share;
use crate::{ReconnectPolicy, TerminalRule, Transport};

/// The settings of a source, fixed when it opens: credentials, terminal rules, reconnect policy, transport, the id
/// to resume after, the hidden-page pause. Each has the default of a native `EventSource` plus the library's
/// [`ReconnectPolicy::default`].
///
/// The same value configures every front end: [`TypedEventSourceBuilder::with_options`] (or the builder's setters of
/// the same names), the Yew hooks' `UseEventSourceOptions` (which adds only what is hook-specific), and the
/// JavaScript `TypedEventSourceOptions` object.
///
/// ```no_run
/// # fn log(_: &str) {}
/// // Runs in a browser (wasm32).
/// use typed_eventsource::{ReconnectPolicy, SourceOptions, TerminalRule, TypedEventSourceBuilder};
/// let options = SourceOptions::default()
///     .close_on(TerminalRule::event_with_data("ping", "finished"))
///     .reconnect(ReconnectPolicy::never());
/// let source = TypedEventSourceBuilder::with_options("/jobs/7/events", options)
///     .on_text("ping", |t, _| log(&t))
///     .open()?;
/// # Ok::<(), typed_eventsource::Error>(())
/// ```
///
/// [`TypedEventSourceBuilder::with_options`]: crate::TypedEventSourceBuilder::with_options
#[derive(Debug, Clone)]
#[must_use]
pub struct SourceOptions {
    /// What the engine reads once open.
    pub(crate) settings: Settings,
    pub(crate) last_event_id: String,
    pub(crate) transport: Transport,
    pub(crate) pause_when_hidden: Option<PauseHook>,
    #[cfg(feature = "share")]
    /// Sharing one connection across tabs (`src/share/`), if asked for.
    pub(crate) share: Option<Share>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            settings: Settings {
                with_credentials: false,
                close_on: Vec::new(),
                terminal_check: None,
                deliver_terminal: true,
                reconnect: ReconnectPolicy::default(),
                resume: ResumeSettings::default(),
                heartbeat_timeout: Timeout::Default,
            },
            last_event_id: String::new(),
            transport: Transport::EventSource,
            pause_when_hidden: None,
            #[cfg(feature = "share")]
            share: None,
        }
    }
}

impl SourceOptions {
    /// Sends cookies cross-origin ([`withCredentials`]); the server must name the page's origin and allow credentials.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// SourceOptions::default().with_credentials(true)
    /// # ;
    /// ```
    ///
    /// [`withCredentials`]: https://developer.mozilla.org/en-US/docs/Web/API/EventSource/withCredentials
    pub fn with_credentials(mut self, yes: bool) -> Self {
        self.settings.with_credentials = yes;
        self
    }

    /// Closes the source after the first event matching `rule` (rules add up: any match closes).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// SourceOptions::default().close_on(TerminalRule::event_with_data("ping", "finished"))
    /// # ;
    /// ```
    pub fn close_on(mut self, rule: TerminalRule) -> Self {
        self.settings.close_on.push(rule);
        self.settings.terminal_check = Some(crate::terminal::check);
        self
    }

    /// Whether the terminal event still goes to its handlers before the source closes (default `true`).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// SourceOptions::default().deliver_terminal(false)
    /// # ;
    /// ```
    pub fn deliver_terminal(mut self, yes: bool) -> Self {
        self.settings.deliver_terminal = yes;
        self
    }

    /// What to do when the browser gives up; [`ReconnectPolicy::never`] to close like a native `EventSource`.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// SourceOptions::default().reconnect(ReconnectPolicy::default().max_retries(10))
    /// # ;
    /// ```
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.settings.reconnect = policy;
        self
    }

    /// The transport: [`Transport::EventSource`] (the default) or `fetch` with your own method, headers and body —
    /// pass a [`FetchRequest`]. Nothing else changes.
    ///
    /// ```no_run
    /// # #[cfg(feature = "fetch")]
    /// # fn main() {
    /// # use typed_eventsource::{FetchRequest, SourceOptions};
    /// # let token = "eyJ...";
    /// # let _ =
    /// SourceOptions::default().transport(FetchRequest::new().header("Authorization", format!("Bearer {token}")))
    /// # ;
    /// # }
    /// # #[cfg(not(feature = "fetch"))]
    /// # fn main() {}
    /// ```
    ///
    #[cfg_attr(feature = "fetch", doc = "[`FetchRequest`]: crate::FetchRequest")]
    #[cfg_attr(
        not(feature = "fetch"),
        doc = "[`FetchRequest`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.FetchRequest.html"
    )]
    pub fn transport(mut self, transport: impl Into<Transport>) -> Self {
        self.transport = transport.into();
        self
    }

    /// How long the connection may stay silent before it is presumed dead — a laptop that slept, a NAT, proxy or
    /// load balancer that forgot the connection without closing it, a Wi-Fi/cellular switch: the browser's
    /// `EventSource` stays open for ever then, and TCP takes hours to notice. Past it the source reports
    /// [`Error::HeartbeatTimeout`](crate::Error::HeartbeatTimeout), drops the connection and re-opens it through
    /// the [`ReconnectPolicy`] (its delays; its `max_retries` for silences in a row without an open), resuming after
    /// the last event id: nothing lost, nothing twice. Anything counts as a sign of life: an event, a `heartbeat`
    /// event, and on the fetch transport any bytes (comments included). When the page resumes (Page Lifecycle
    /// `resume`, `pageshow`, becoming visible) or a timer fires late (the machine slept) the check runs at once.
    ///
    /// `Duration::ZERO` turns it off; less than a second is raised to one second. The default is 45 s (or three heartbeat
    /// periods the server announces in its `heartbeat` events, if longer): the fetch transport applies it from the
    /// first connection, the `EventSource` transport once the first `heartbeat` event has arrived — it cannot see
    /// comments, so against a server that sends only comments (Nchan, better-sse) a default timeout would drop every
    /// quiet stream. A timeout set here applies on both transports from the start: set one only if the server sends
    /// something (an event, or for fetch a comment) more often.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// SourceOptions::default().heartbeat_timeout(std::time::Duration::from_secs(20))
    /// # ;
    /// ```
    pub fn heartbeat_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.settings.heartbeat_timeout = Timeout::from_duration(timeout);
        self
    }

    /// Closes the connection while the page is hidden and reconnects, resuming after the last event id, when it is
    /// shown again. Off by default: a hidden tab keeps receiving unless you ask.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// SourceOptions::default().pause_when_hidden(true)
    /// # ;
    /// ```
    pub fn pause_when_hidden(mut self, yes: bool) -> Self {
        self.pause_when_hidden = if yes { Some(Engine::pause_while_hidden) } else { None };
        self
    }

    /// (Feature `share`.) Shares one connection with the other tabs of this origin that open the same stream — the
    /// same absolute URL with the same credentials flag and transport options (method, headers, body) — instead of
    /// opening one per tab.
    ///
    /// One tab leads: it holds the connection (elected with the [Web Locks API]) and relays every event, with its
    /// type, data, last event id and origin, over a [`BroadcastChannel`]. Every tab runs its own handlers, terminal
    /// rules, decode errors, state changes and close reason as if the connection were its own. When the leading tab
    /// closes its source, navigates away, or stops answering (a frozen background tab), another tab takes over and
    /// resumes after the last event id any tab has seen; an event whose id a tab has already delivered is dropped.
    /// `close()` detaches this tab only; the last tab leaving closes the connection; a terminal message closes the
    /// source in every tab. [`TypedEventSource::share_role`](crate::TypedEventSource::share_role) tells whether this
    /// tab leads.
    ///
    /// - A tab receives the events that arrive after it joined: sharing suits live streams (a stream that replays
    ///   its history to each new connection replays it only to the first tab).
    /// - Duplicates are told apart by event id: events without ids are never dropped.
    /// - [`pause_when_hidden`](Self::pause_when_hidden) does not apply: one hidden tab does not pause the others.
    /// - Fallback: without Web Locks or `BroadcastChannel` (old browsers, some webviews) the tab opens a connection
    ///   of its own ([`ShareRole::Alone`](crate::ShareRole::Alone)).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// SourceOptions::default().share_across_tabs()
    /// # ;
    /// ```
    ///
    /// [Web Locks API]: https://developer.mozilla.org/en-US/docs/Web/API/Web_Locks_API
    /// [`BroadcastChannel`]: https://developer.mozilla.org/en-US/docs/Web/API/BroadcastChannel
    #[cfg(feature = "share")]
    pub fn share_across_tabs(mut self) -> Self {
        self.share = Some(Share::new(None));
        self
    }

    /// As [`share_across_tabs`](Self::share_across_tabs), but the tabs that share are those using the same `key`,
    /// whatever their URL and transport options (e.g. a URL with a per-tab query parameter).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// SourceOptions::default().share("board")
    /// # ;
    /// ```
    #[cfg(feature = "share")]
    pub fn share(mut self, key: impl Into<String>) -> Self {
        self.share = Some(Share::new(Some(key.into())));
        self
    }

    /// Resumes after `id`: the first connection already sends it (the [`resume_param`](Self::resume_param) query
    /// parameter for `EventSource`, `Last-Event-ID` header for fetch).
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let saved_id = String::from("41");
    /// # let _ =
    /// SourceOptions::default().last_event_id(saved_id)
    /// # ;
    /// ```
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = id.into();
        self
    }

    /// The query parameter that carries the id to resume after when the library itself opens a new `EventSource`
    /// (a re-open by the [`ReconnectPolicy`], a resume after a hidden-page pause, a first connection with
    /// [`last_event_id`](Self::last_event_id)): `lastEventId` by default; `None` sends none, for a server that reads
    /// only the `Last-Event-ID` header (the browser still sends it on its own reconnects). The fetch transport always
    /// sends the `Last-Event-ID` header and no parameter.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// SourceOptions::default().resume_param(Some("last_event_id"))
    /// # ;
    /// ```
    pub fn resume_param(mut self, name: Option<&str>) -> Self {
        self.settings.resume.param = name.map(str::to_owned);
        self
    }

    /// Treats events of type `event` as a gap signal, like the `replay-gap` events of the project's server (always
    /// one): they go to the `on_gap` handlers as a [`Gap`](crate::Gap), never to ordinary handlers.
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// SourceOptions::default().gap_event("resync")
    /// # ;
    /// ```
    pub fn gap_event(mut self, event: impl Into<String>) -> Self {
        let event = event.into();
        if !self.settings.resume.gap_events.contains(&event) {
            self.settings.resume.gap_events.push(event);
        }
        self
    }

    /// De-duplication by id: an event whose id is among the ids of the last `window` events delivered is dropped
    /// before the handlers, across reconnects and replays, and counted in `duplicates_dropped`. Default 64; 0 turns
    /// it off. (An event without an id of its own — the stream's last id unchanged — is never dropped.)
    ///
    /// ```no_run
    /// # use typed_eventsource::{CloseReason, EventMeta, Gap, ReadyState, ReconnectPolicy, SourceOptions};
    /// # use typed_eventsource::{TerminalRule, TypedEventSource, TypedEventSourceBuilder};
    /// # let _ =
    /// SourceOptions::default().dedup_window(256)
    /// # ;
    /// ```
    pub fn dedup_window(mut self, window: usize) -> Self {
        self.settings.resume.dedup_window = window;
        self
    }
}
