//! The source: one browser `EventSource` at a time, its listeners, handlers, terminal rules and reconnect policy.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use crate::event_source::EventSourceConnection;
#[cfg(feature = "fetch")]
use crate::fetch::FetchConnection;
use crate::handler::{self, call_each, Handlers, Incoming, RawHandler};
use crate::{
    event_names, terminal, CloseReason, Error, EventMeta, ReadyState, ReconnectPolicy, TerminalRule, Transport,
};

/// What the browser tells of a fatal `EventSource` error: nothing but the fact. Say what it can be.
const FATAL_MESSAGE: &str = "the browser closed the connection: the server answered with a status other than 200 or a \
                             content type other than text/event-stream, or could not be reached";

/// Settings fixed when the source opens.
#[derive(Debug, Clone)]
struct Config {
    url: String,
    with_credentials: bool,
    terminal: Vec<TerminalRule>,
    deliver_terminal: bool,
    reconnect: ReconnectPolicy,
    last_event_id: String,
    transport: Transport,
    /// Set by [`TypedEventSourceBuilder::pause_when_hidden`]: a function pointer rather than a flag, so the code is
    /// only linked into apps that ask for it.
    pause_when_hidden: Option<fn(&Rc<Shared>)>,
}

/// Builds a [`TypedEventSource`]: URL, credentials, terminal rules, reconnect policy and handlers, all set before the
/// connection opens, so no event can arrive before its handler.
///
/// ```ignore
/// // Runs in a browser (see tests/browser.rs).
/// use typed_eventsource::{TypedEventSource, TerminalRule};
/// #[derive(serde::Deserialize)]
/// struct Progress { status: String, message: String }
///
/// let source = TypedEventSource::builder("/jobs/7/events")
///     .close_on(TerminalRule::event_with_data("ping", "finished"))
///     .on::<Progress>("message", |p, _meta| log(&p.message))
///     .on_text("ping", |text, _meta| log(&text))
///     .on_close(|reason| log(&reason.to_string()))
///     .open()?;
/// ```
#[must_use = "a builder does nothing until `open()`"]
pub struct TypedEventSourceBuilder {
    config: Config,
    handlers: Handlers,
    deferred_error: Option<Error>,
}

impl fmt::Debug for TypedEventSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedEventSourceBuilder")
            .field("config", &self.config)
            .field("event_types", &self.handlers.event_types())
            .finish_non_exhaustive()
    }
}

impl TypedEventSourceBuilder {
    /// A builder for a source on `url`, with the default [`ReconnectPolicy`] and no terminal rule.
    ///
    /// ```ignore
    /// let source = TypedEventSourceBuilder::new("/subscribe").on_text("message", |t, _| log(&t)).open()?;
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        TypedEventSourceBuilder {
            config: Config {
                url: url.into(),
                with_credentials: false,
                terminal: Vec::new(),
                deliver_terminal: true,
                reconnect: ReconnectPolicy::default(),
                last_event_id: String::new(),
                transport: Transport::EventSource,
                pause_when_hidden: None,
            },
            handlers: Handlers::default(),
            deferred_error: None,
        }
    }

    /// Sends cookies cross-origin ([`withCredentials`]); the server must name the page's origin and allow credentials.
    ///
    /// ```ignore
    /// TypedEventSource::builder("https://api.example.com/sse/alice").with_credentials(true)
    /// ```
    ///
    /// [`withCredentials`]: https://developer.mozilla.org/en-US/docs/Web/API/EventSource/withCredentials
    pub fn with_credentials(mut self, yes: bool) -> Self {
        self.config.with_credentials = yes;
        self
    }

    /// Closes the source after the first event matching `rule` (rules add up: any match closes).
    ///
    /// ```ignore
    /// builder.close_on(TerminalRule::event_with_data("ping", "finished"))
    /// ```
    pub fn close_on(mut self, rule: TerminalRule) -> Self {
        self.config.terminal.push(rule);
        self
    }

    /// Whether the terminal event still goes to its handlers before the source closes (default `true`).
    ///
    /// ```ignore
    /// builder.deliver_terminal(false)
    /// ```
    pub fn deliver_terminal(mut self, yes: bool) -> Self {
        self.config.deliver_terminal = yes;
        self
    }

    /// What to do when the browser gives up; [`ReconnectPolicy::never`] to close like a native `EventSource`.
    ///
    /// ```ignore
    /// builder.reconnect(ReconnectPolicy::default().max_retries(10))
    /// ```
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.config.reconnect = policy;
        self
    }

    /// The transport: [`Transport::EventSource`] (the default) or `fetch` with your own method, headers and body —
    /// pass a [`FetchRequest`](crate::FetchRequest). Nothing else changes.
    ///
    /// ```ignore
    /// builder.transport(FetchRequest::new().header("Authorization", format!("Bearer {token}")))
    /// ```
    pub fn transport(mut self, transport: impl Into<Transport>) -> Self {
        self.config.transport = transport.into();
        self
    }

    /// Closes the connection while the page is hidden and reconnects, resuming after the last event id, when it is
    /// shown again. Off by default: a hidden tab keeps receiving unless you ask.
    ///
    /// ```ignore
    /// builder.pause_when_hidden(true)
    /// ```
    pub fn pause_when_hidden(mut self, yes: bool) -> Self {
        self.config.pause_when_hidden = if yes { Some(Shared::pause_while_hidden) } else { None };
        self
    }

    /// Resumes after `id`: the first connection already sends it (`lastEventId` query parameter for `EventSource`,
    /// `Last-Event-ID` header for fetch).
    ///
    /// ```ignore
    /// builder.last_event_id(saved_id)
    /// ```
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.config.last_event_id = id.into();
        self
    }

    /// Handles events of type `event` whose data is JSON decoding into `T`; data that does not decode goes to the
    /// error handlers as [`Error::Decode`].
    ///
    /// ```ignore
    /// builder.on::<Progress>("message", |progress, meta| log(&format!("{} {}", meta.last_event_id, progress.status)))
    /// ```
    pub fn on<T: DeserializeOwned + 'static>(
        mut self,
        event: &str,
        handler: impl FnMut(T, EventMeta) + 'static,
    ) -> Self {
        self.handlers.events.push((event.into(), handler::typed(handler)));
        self
    }

    /// Handles events of type `event` as raw text.
    ///
    /// ```ignore
    /// builder.on_text("ping", |text, _meta| log(&text))
    /// ```
    pub fn on_text(mut self, event: &str, handler: impl FnMut(String, EventMeta) + 'static) -> Self {
        self.handlers.events.push((event.into(), handler::text(handler)));
        self
    }

    /// Handles events of type `event` as parsed JSON values, undecoded (what the JavaScript API uses).
    ///
    /// ```ignore
    /// builder.on_json("message", |value: JsValue, _meta| web_sys::console::log_1(&value))
    /// ```
    pub fn on_json(mut self, event: &str, handler: impl FnMut(JsValue, EventMeta) + 'static) -> Self {
        self.handlers.events.push((event.into(), handler::json(handler)));
        self
    }

    /// Handles the whole stream as one enum `E`: event type `x` is decoded as variant `x` (serde renames respected)
    /// with the event's data as content — JSON, or plain text for a `String` variant; a unit variant ignores the data.
    /// The event types come from `E` itself ([`event_names`]); `E` must be externally tagged (serde's default).
    ///
    /// ```ignore
    /// #[derive(serde::Deserialize)]
    /// #[serde(rename_all = "lowercase")]
    /// enum Job { #[serde(rename = "message")] Progress(Progress), Ping(String) }
    /// builder.on_enum(|event: Job, _meta| match event { Job::Progress(p) => .., Job::Ping(text) => .. })
    /// ```
    pub fn on_enum<E: DeserializeOwned + 'static>(mut self, handler: impl FnMut(E, EventMeta) + 'static) -> Self {
        match event_names::<E>() {
            Ok(names) => {
                let shared: Rc<RefCell<dyn FnMut(E, EventMeta)>> = Rc::new(RefCell::new(handler));
                for name in names {
                    self.handlers.events.push(((*name).into(), handler::enum_variant::<E>(shared.clone())));
                }
            }
            Err(e) => self.deferred_error = Some(e),
        }
        self
    }

    /// Called each time the connection opens.
    ///
    /// ```ignore
    /// builder.on_open(|| log("open"))
    /// ```
    pub fn on_open(mut self, handler: impl FnMut() + 'static) -> Self {
        self.handlers.open.push(Rc::new(RefCell::new(handler)));
        self
    }

    /// Called with every error: transient (the browser reconnects), fatal, decode.
    ///
    /// ```ignore
    /// builder.on_error(|e| if !e.is_recoverable() { log(&e.to_string()) })
    /// ```
    pub fn on_error(mut self, handler: impl FnMut(&Error) + 'static) -> Self {
        self.handlers.error.push(Rc::new(RefCell::new(handler)));
        self
    }

    /// Called on every change of [`ReadyState`]: open, the browser reconnecting, closed.
    ///
    /// ```ignore
    /// builder.on_state_change(|state| log(&state.to_string()))
    /// ```
    pub fn on_state_change(mut self, handler: impl FnMut(ReadyState) + 'static) -> Self {
        self.handlers.state.push(Rc::new(RefCell::new(handler)));
        self
    }

    /// Called exactly once, when the source closes, with the reason.
    ///
    /// ```ignore
    /// builder.on_close(|reason| assert!(reason.is_terminal()))
    /// ```
    pub fn on_close(mut self, handler: impl FnMut(&CloseReason) + 'static) -> Self {
        self.handlers.close.push(Rc::new(RefCell::new(handler)));
        self
    }

    /// Opens the connection with every handler attached.
    ///
    /// # Errors
    /// [`Error::Open`] if the browser refuses the URL; [`Error::NotAnEnum`] if [`on_enum`](Self::on_enum) got a type
    /// that is not an externally tagged enum.
    ///
    /// ```ignore
    /// let source = TypedEventSource::builder("/subscribe").open()?;
    /// ```
    pub fn open(self) -> Result<TypedEventSource, Error> {
        if let Some(e) = self.deferred_error {
            return Err(e);
        }
        let pause = self.config.pause_when_hidden;
        let shared = Shared::new(self.config, self.handlers);
        if let Some(pause) = pause {
            pause(&shared);
        }
        shared.connect()?;
        Ok(TypedEventSource { shared })
    }
}

/// A typed server-sent events source over the browser's [`EventSource`].
///
/// Dropping it closes the connection and detaches every listener (the close handlers get
/// [`CloseReason::Client`]); keep it alive as long as you want events. It is deliberately not `Clone`: share it in an
/// `Rc` if needed, so that one owner decides when it closes.
///
/// ```ignore
/// let source = TypedEventSource::builder("/jobs/7/events")
///     .close_on(TerminalRule::event_with_data("ping", "finished"))
///     .on::<Progress>("message", |p, _| render(p))
///     .open()?;
/// assert_eq!(source.state(), ReadyState::Connecting);
/// ```
///
/// [`EventSource`]: https://developer.mozilla.org/en-US/docs/Web/API/EventSource
#[must_use = "dropping a TypedEventSource closes its connection"]
pub struct TypedEventSource {
    shared: Rc<Shared>,
}

impl fmt::Debug for TypedEventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedEventSource")
            .field("url", &self.shared.config.url)
            .field("state", &self.state())
            .field("last_event_id", &self.last_event_id())
            .field("close_reason", &self.close_reason())
            .finish()
    }
}

impl TypedEventSource {
    /// A builder for a source on `url`.
    ///
    /// ```ignore
    /// let source = TypedEventSource::builder("/subscribe").on_text("message", |t, _| log(&t)).open()?;
    /// ```
    pub fn builder(url: impl Into<String>) -> TypedEventSourceBuilder {
        TypedEventSourceBuilder::new(url)
    }

    /// The state: the browser's `readyState` while a connection exists, `Connecting` while the reconnect policy
    /// waits, `Closed` once closed.
    ///
    /// ```ignore
    /// assert_eq!(source.state(), ReadyState::Open);
    /// ```
    pub fn state(&self) -> ReadyState {
        self.shared.state()
    }

    /// The URL given at construction.
    ///
    /// ```ignore
    /// assert_eq!(source.url(), "/subscribe");
    /// ```
    pub fn url(&self) -> &str {
        &self.shared.config.url
    }

    /// The last event id seen (empty before any); the reconnect policy resumes after it.
    ///
    /// ```ignore
    /// let resume_from = source.last_event_id();
    /// ```
    pub fn last_event_id(&self) -> String {
        self.shared.last_event_id.borrow().clone()
    }

    /// Why the source closed, once it has.
    ///
    /// ```ignore
    /// assert_eq!(source.close_reason(), Some(CloseReason::Client));
    /// ```
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.shared.close_reason.borrow().clone()
    }

    /// Closes the source: no more events, no reconnect; the close handlers get [`CloseReason::Client`] unless it had
    /// already closed. Harmless on a closed source.
    ///
    /// ```ignore
    /// source.close();
    /// source.close(); // nothing happens
    /// ```
    pub fn close(&self) {
        self.shared.finish(CloseReason::Client);
    }

    /// Adds a typed handler to the open source (see [`TypedEventSourceBuilder::on`]); it receives events that arrive
    /// from now on.
    ///
    /// ```ignore
    /// source.on::<Progress>("progress", |p, _| render(p));
    /// ```
    pub fn on<T: DeserializeOwned + 'static>(&self, event: &str, handler: impl FnMut(T, EventMeta) + 'static) {
        self.shared.add_event_handler(event, handler::typed(handler));
    }

    /// Adds a text handler to the open source (see [`TypedEventSourceBuilder::on_text`]).
    ///
    /// ```ignore
    /// source.on_text("ping", |text, _| log(&text));
    /// ```
    pub fn on_text(&self, event: &str, handler: impl FnMut(String, EventMeta) + 'static) {
        self.shared.add_event_handler(event, handler::text(handler));
    }

    /// Adds a JSON-value handler to the open source (see [`TypedEventSourceBuilder::on_json`]).
    ///
    /// ```ignore
    /// source.on_json("message", |value, _| web_sys::console::log_1(&value));
    /// ```
    pub fn on_json(&self, event: &str, handler: impl FnMut(JsValue, EventMeta) + 'static) {
        self.shared.add_event_handler(event, handler::json(handler));
    }

    /// Adds an open handler (see [`TypedEventSourceBuilder::on_open`]).
    ///
    /// ```ignore
    /// source.on_open(|| log("open"));
    /// ```
    pub fn on_open(&self, handler: impl FnMut() + 'static) {
        self.shared.handlers.borrow_mut().open.push(Rc::new(RefCell::new(handler)));
    }

    /// Adds an error handler (see [`TypedEventSourceBuilder::on_error`]).
    ///
    /// ```ignore
    /// source.on_error(|e| log(&e.to_string()));
    /// ```
    pub fn on_error(&self, handler: impl FnMut(&Error) + 'static) {
        self.shared.handlers.borrow_mut().error.push(Rc::new(RefCell::new(handler)));
    }

    /// Adds a state-change handler (see [`TypedEventSourceBuilder::on_state_change`]).
    ///
    /// ```ignore
    /// source.on_state_change(|s| log(&s.to_string()));
    /// ```
    pub fn on_state_change(&self, handler: impl FnMut(ReadyState) + 'static) {
        self.shared.handlers.borrow_mut().state.push(Rc::new(RefCell::new(handler)));
    }

    /// Adds a close handler (see [`TypedEventSourceBuilder::on_close`]); on an already closed source it is called at
    /// once with the reason.
    ///
    /// ```ignore
    /// source.on_close(|reason| log(&reason.to_string()));
    /// ```
    pub fn on_close(&self, mut handler: impl FnMut(&CloseReason) + 'static) {
        let closed = self.shared.close_reason.borrow().clone();
        match closed {
            Some(reason) => handler(&reason),
            None => self.shared.handlers.borrow_mut().close.push(Rc::new(RefCell::new(handler))),
        }
    }
}

impl Drop for TypedEventSource {
    fn drop(&mut self) {
        self.shared.finish(CloseReason::Client);
    }
}

/// The state every listener and fetch task reaches through a `Weak`, so none of them keeps the source alive.
pub(crate) struct Shared {
    config: Config,
    handlers: RefCell<Handlers>,
    conn: RefCell<Option<Connection>>,
    state: Cell<ReadyState>,
    last_event_id: RefCell<String>,
    close_reason: RefCell<Option<CloseReason>>,
    reopen_attempts: Cell<u32>,
    reopen_timer: RefCell<Option<Timeout>>,
    /// The reconnection time of the fetch transport (the browser keeps its own for `EventSource`).
    #[cfg(feature = "fetch")]
    retry_ms: Cell<u32>,
    /// Counts connections, so a fetch task that outlived its connection knows it and stops.
    generation: Cell<u64>,
    visibility: RefCell<Option<EventListener>>,
    paused: Cell<bool>,
}

/// The live connection; dropping it closes the `EventSource` or aborts the fetch, and detaches every listener.
enum Connection {
    EventSource(EventSourceConnection),
    // Held for its `Drop`, which aborts the request.
    #[cfg(feature = "fetch")]
    #[allow(dead_code)]
    Fetch(FetchConnection),
}

/// What the fetch transport reports when its connection ends.
#[cfg(feature = "fetch")]
pub(crate) enum FetchEnd {
    /// The body ended or the network failed: reconnect after the retry time, as the spec says.
    Lost,
    /// A status other than 200 or a content type other than `text/event-stream`.
    Fatal { message: String, status: Option<u16>, content_type: Option<String> },
    /// 204 No Content: the server asks the client to stop.
    NoContent,
}

/// The reconnection time until the server sets one (browsers use a few seconds).
#[cfg(feature = "fetch")]
const DEFAULT_RETRY_MS: u32 = 3000;

impl Shared {
    fn new(config: Config, handlers: Handlers) -> Rc<Shared> {
        Rc::new(Shared {
            state: Cell::new(ReadyState::Connecting),
            last_event_id: RefCell::new(config.last_event_id.clone()),
            config,
            handlers: RefCell::new(handlers),
            conn: RefCell::new(None),
            close_reason: RefCell::new(None),
            reopen_attempts: Cell::new(0),
            reopen_timer: RefCell::new(None),
            #[cfg(feature = "fetch")]
            retry_ms: Cell::new(DEFAULT_RETRY_MS),
            generation: Cell::new(0),
            visibility: RefCell::new(None),
            paused: Cell::new(false),
        })
    }

    fn state(&self) -> ReadyState {
        if self.is_closed() {
            return ReadyState::Closed;
        }
        match &*self.conn.borrow() {
            Some(Connection::EventSource(c)) => c.ready_state(),
            _ => self.state.get(),
        }
    }

    fn is_closed(&self) -> bool {
        self.close_reason.borrow().is_some()
    }

    #[cfg(feature = "fetch")]
    pub(crate) fn is_current(&self, generation: u64) -> bool {
        !self.is_closed() && self.generation.get() == generation
    }

    /// The URL to open: for `EventSource`, with `lastEventId` when there is one to resume after (it cannot set a
    /// header); the fetch transport sends `Last-Event-ID` instead.
    fn connect_url(&self) -> String {
        let id = self.last_event_id.borrow();
        let url = &self.config.url;
        if id.is_empty() || !matches!(self.config.transport, Transport::EventSource) {
            return url.clone();
        }
        let (base, fragment) = url.split_once('#').map_or((url.as_str(), None), |(b, f)| (b, Some(f)));
        let encoded = String::from(js_sys::encode_uri_component(&id));
        // Built with push_str: `format!` here would link the formatting machinery into every app.
        let mut out = String::with_capacity(url.len() + encoded.len() + 13);
        out.push_str(base);
        out.push_str(if base.contains('?') { "&lastEventId=" } else { "?lastEventId=" });
        out.push_str(&encoded);
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        out
    }

    /// The event types to listen for: those with a handler, and those of terminal rules (or they could never match).
    fn event_types(&self) -> Vec<Rc<str>> {
        let mut event_types = self.handlers.borrow().event_types();
        for rule in &self.config.terminal {
            if let TerminalRule::Event { event, .. } = rule {
                if !event_types.iter().any(|t| **t == **event) {
                    event_types.push(event.as_str().into());
                }
            }
        }
        event_types
    }

    /// Opens a connection. For `EventSource`, every listener is attached in the same task, before it can deliver
    /// anything; the fetch transport dispatches from its own task.
    fn connect(self: &Rc<Self>) -> Result<(), Error> {
        let url = self.connect_url();
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        let weak = Rc::downgrade(self);
        let conn = match &self.config.transport {
            Transport::EventSource => Connection::EventSource(EventSourceConnection::open(
                &url,
                self.config.with_credentials,
                &weak,
                self.event_types(),
            )?),
            #[cfg(feature = "fetch")]
            Transport::Fetch(request) => Connection::Fetch(FetchConnection::open(
                &url,
                request,
                self.config.with_credentials,
                &self.last_event_id.borrow(),
                weak,
                generation,
            )?),
        };
        let old = self.conn.borrow_mut().replace(conn);
        drop(old);
        self.set_state(ReadyState::Connecting);
        Ok(())
    }

    fn add_event_handler(self: &Rc<Self>, event: &str, handler: RawHandler) {
        let event: Rc<str> = event.into();
        self.handlers.borrow_mut().events.push((event.clone(), handler));
        if let Some(Connection::EventSource(conn)) = self.conn.borrow_mut().as_mut() {
            conn.listen(&Rc::downgrade(self), event);
        }
    }

    pub(crate) fn on_open(&self) {
        self.reopen_attempts.set(0);
        self.set_state(ReadyState::Open);
        let handlers = self.handlers.borrow().open.clone();
        for h in handlers {
            if let Ok(mut f) = h.try_borrow_mut() {
                f();
            }
        }
    }

    /// Hands one event to its handlers, then closes the source if a terminal rule matches it.
    pub(crate) fn deliver(&self, event_type: &str, data: &str, last_event_id: &str, origin: String) {
        if self.is_closed() {
            return;
        }
        {
            let mut id = self.last_event_id.borrow_mut();
            if *id != last_event_id {
                last_event_id.clone_into(&mut id);
            }
        }
        let meta = EventMeta { event: event_type.to_owned(), last_event_id: last_event_id.to_owned(), origin };
        let is_terminal = terminal::is_terminal(&self.config.terminal, event_type, data);
        if !is_terminal || self.config.deliver_terminal {
            let handlers = self.handlers.borrow().for_event(event_type);
            let incoming = Incoming { data, meta: &meta };
            for h in handlers {
                if self.is_closed() {
                    return; // a handler closed the source: nothing more is delivered
                }
                let result = match h.try_borrow_mut() {
                    Ok(mut f) => f(&incoming),
                    Err(_) => Ok(()),
                };
                if let Err(e) = result {
                    self.emit_error(&e);
                }
            }
        }
        if is_terminal {
            self.finish(CloseReason::Terminal { event: event_type.to_owned(), data: data.to_owned() });
        }
    }

    /// The `EventSource`'s `error` event: transient while the browser reconnects, fatal once it gave up.
    pub(crate) fn on_event_source_error(self: &Rc<Self>) {
        if self.is_closed() {
            return;
        }
        if self.state() == ReadyState::Connecting {
            self.set_state(ReadyState::Connecting);
            self.emit_error(&Error::Transient);
            return;
        }
        self.fail(Error::Fatal { message: FATAL_MESSAGE.to_owned(), status: None, content_type: None }, true);
    }

    /// The fetch transport's connection ended.
    #[cfg(feature = "fetch")]
    pub(crate) fn on_fetch_end(self: &Rc<Self>, generation: u64, end: FetchEnd, retry_ms: Option<u64>) {
        if !self.is_current(generation) {
            return;
        }
        if let Some(ms) = retry_ms {
            self.retry_ms.set(u32::try_from(ms).unwrap_or(u32::MAX));
        }
        let gone = self.conn.borrow_mut().take();
        drop(gone);
        match end {
            FetchEnd::Lost => {
                // As a browser does: CONNECTING, `error`, wait the reconnection time, reconnect with Last-Event-ID.
                self.set_state(ReadyState::Connecting);
                self.emit_error(&Error::Transient);
                if !self.is_closed() {
                    self.schedule_connect(self.retry_ms.get());
                }
            }
            FetchEnd::Fatal { message, status, content_type } => {
                self.fail(Error::Fatal { message, status, content_type }, true);
            }
            FetchEnd::NoContent => {
                let message = "the server answered 204 No Content: it asks the client to stop".to_owned();
                self.fail(Error::Fatal { message, status: Some(204), content_type: None }, false);
            }
        }
    }

    /// A fatal error: report it, then re-open if the policy allows (and `may_reopen`), else close as failed.
    fn fail(self: &Rc<Self>, error: Error, may_reopen: bool) {
        let gone = self.conn.borrow_mut().take();
        drop(gone);
        let message = error.to_string();
        self.emit_error(&error);
        if self.is_closed() {
            return; // an error handler closed it
        }
        let attempts = self.reopen_attempts.get();
        if !may_reopen || !self.config.reconnect.allows(attempts) {
            self.finish(CloseReason::Failed { message, attempts });
            return;
        }
        let delay = self.config.reconnect.delay(attempts, js_sys::Math::random());
        self.reopen_attempts.set(attempts + 1);
        self.set_state(ReadyState::Connecting);
        self.schedule_connect(u32::try_from(delay.as_millis()).unwrap_or(u32::MAX));
    }

    fn schedule_connect(self: &Rc<Self>, millis: u32) {
        let weak = Rc::downgrade(self);
        let timer = Timeout::new(millis, move || with(&weak, |s| s.reconnect_now()));
        *self.reopen_timer.borrow_mut() = Some(timer);
    }

    fn reconnect_now(self: &Rc<Self>) {
        if self.is_closed() || self.paused.get() {
            return;
        }
        if let Err(e) = self.connect() {
            self.fail(e, true);
        }
    }

    /// Closes the connection while the page is hidden and reconnects, after the last event id, when it shows again.
    fn pause_while_hidden(self: &Rc<Self>) {
        let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
        let weak = Rc::downgrade(self);
        let listener = EventListener::new(&document, "visibilitychange", move |_| {
            with(&weak, |s| {
                let hidden = web_sys::window().and_then(|w| w.document()).is_some_and(|d| d.hidden());
                if s.is_closed() || hidden == s.paused.get() {
                    return;
                }
                s.paused.set(hidden);
                if hidden {
                    let timer = s.reopen_timer.borrow_mut().take();
                    drop(timer);
                    let gone = s.conn.borrow_mut().take();
                    drop(gone);
                    s.set_state(ReadyState::Connecting);
                } else {
                    s.reconnect_now();
                }
            })
        });
        *self.visibility.borrow_mut() = Some(listener);
    }

    /// Reports an error to the error handlers.
    #[cfg(feature = "fetch")]
    pub(crate) fn report(&self, error: &Error) {
        self.emit_error(error);
    }

    fn emit_error(&self, error: &Error) {
        let handlers = self.handlers.borrow().error.clone();
        call_each(handlers, error);
    }

    fn set_state(&self, state: ReadyState) {
        if self.state.replace(state) != state {
            let handlers = self.handlers.borrow().state.clone();
            for h in handlers {
                if let Ok(mut f) = h.try_borrow_mut() {
                    f(state);
                }
            }
        }
    }

    /// Closes for good, once: stops any pending re-open, closes the connection, checks the browser reads CLOSED, and
    /// tells the close handlers why.
    fn finish(&self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        *self.close_reason.borrow_mut() = Some(reason.clone());
        let timer = self.reopen_timer.borrow_mut().take();
        drop(timer);
        let visibility = self.visibility.borrow_mut().take();
        drop(visibility);
        let conn = self.conn.borrow_mut().take();
        let state = match &conn {
            Some(Connection::EventSource(c)) => c.close(),
            _ => ReadyState::Closed,
        };
        drop(conn);
        debug_assert_eq!(state, ReadyState::Closed);
        self.set_state(state);
        let handlers = std::mem::take(&mut self.handlers.borrow_mut().close);
        call_each(handlers, &reason);
    }
}

/// Runs `f` on the source if it still exists (a listener may outlive its source's last owner by one event).
pub(crate) fn with(weak: &Weak<Shared>, f: impl FnOnce(&Rc<Shared>)) {
    if let Some(shared) = weak.upgrade() {
        f(&shared);
    }
}
