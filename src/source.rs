//! The source: one browser `EventSource` at a time, its listeners, handlers, terminal rules and reconnect policy.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{EventSource, EventSourceInit, MessageEvent};

use crate::handler::{self, call_each, Handlers, Incoming, RawHandler};
use crate::{event_names, terminal, CloseReason, Error, EventMeta, ReadyState, ReconnectPolicy, TerminalRule};

/// What the browser tells of a fatal error: nothing but the fact. Say what it can be.
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

    /// Resumes after `id`: the first connection already sends it as the `lastEventId` query parameter.
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
        let shared = Rc::new(Shared {
            state: Cell::new(ReadyState::Connecting),
            last_event_id: RefCell::new(self.config.last_event_id.clone()),
            config: self.config,
            handlers: RefCell::new(self.handlers),
            conn: RefCell::new(None),
            close_reason: RefCell::new(None),
            reopen_attempts: Cell::new(0),
            reopen_timer: RefCell::new(None),
        });
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

/// The state every listener reaches through a `Weak`, so listeners never keep the source alive.
struct Shared {
    config: Config,
    handlers: RefCell<Handlers>,
    conn: RefCell<Option<Connection>>,
    state: Cell<ReadyState>,
    last_event_id: RefCell<String>,
    close_reason: RefCell<Option<CloseReason>>,
    reopen_attempts: Cell<u32>,
    reopen_timer: RefCell<Option<Timeout>>,
}

/// One browser `EventSource` and the listeners on it; dropping it closes the source and detaches them all.
struct Connection {
    source: EventSource,
    listeners: Vec<EventListener>,
    event_types: Vec<Rc<str>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.source.close();
    }
}

impl Shared {
    fn state(&self) -> ReadyState {
        if self.close_reason.borrow().is_some() {
            return ReadyState::Closed;
        }
        match &*self.conn.borrow() {
            Some(conn) => ReadyState::from(conn.source.ready_state()),
            None => self.state.get(),
        }
    }

    fn is_closed(&self) -> bool {
        self.close_reason.borrow().is_some()
    }

    /// The URL to open: with `lastEventId` when there is one to resume after (a header cannot be set).
    fn connect_url(&self) -> String {
        let id = self.last_event_id.borrow();
        if id.is_empty() {
            return self.config.url.clone();
        }
        let url = &self.config.url;
        let (base, fragment) = url.split_once('#').map_or((url.as_str(), None), |(b, f)| (b, Some(f)));
        let sep = if base.contains('?') { '&' } else { '?' };
        let encoded = String::from(js_sys::encode_uri_component(&id));
        let mut out = format!("{base}{sep}lastEventId={encoded}");
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        out
    }

    /// Opens a browser `EventSource` and attaches every listener in the same task, before it can deliver anything.
    fn connect(self: &Rc<Self>) -> Result<(), Error> {
        let url = self.connect_url();
        let init = EventSourceInit::new();
        init.set_with_credentials(self.config.with_credentials);
        let source = EventSource::new_with_event_source_init_dict(&url, &init)
            .map_err(|e| Error::Open { url: url.clone(), reason: handler::js_message(&e) })?;
        let mut conn = Connection { source, listeners: Vec::new(), event_types: Vec::new() };
        let weak = Rc::downgrade(self);
        conn.listeners.push(EventListener::new(&conn.source, "open", {
            let weak = weak.clone();
            move |_| with(&weak, |s| s.on_open())
        }));
        conn.listeners.push(EventListener::new(&conn.source, "error", {
            let weak = weak.clone();
            move |_| with(&weak, |s| s.on_error())
        }));
        // A terminal rule's event type is listened to even without a handler, or it could never match.
        let mut event_types = self.handlers.borrow().event_types();
        for rule in &self.config.terminal {
            if let TerminalRule::Event { event, .. } = rule {
                if !event_types.iter().any(|t| **t == **event) {
                    event_types.push(event.as_str().into());
                }
            }
        }
        for event_type in event_types {
            conn.listen(&weak, event_type);
        }
        let old = self.conn.borrow_mut().replace(conn);
        drop(old);
        self.set_state(ReadyState::Connecting);
        Ok(())
    }

    fn add_event_handler(self: &Rc<Self>, event: &str, handler: RawHandler) {
        let event: Rc<str> = event.into();
        self.handlers.borrow_mut().events.push((event.clone(), handler));
        if let Some(conn) = self.conn.borrow_mut().as_mut() {
            if !conn.event_types.contains(&event) {
                conn.listen(&Rc::downgrade(self), event);
            }
        }
    }

    fn on_open(&self) {
        self.reopen_attempts.set(0);
        self.set_state(ReadyState::Open);
        let handlers = self.handlers.borrow().open.clone();
        for h in handlers {
            if let Ok(mut f) = h.try_borrow_mut() {
                f();
            }
        }
    }

    fn on_message(self: &Rc<Self>, event_type: &str, ev: &MessageEvent) {
        if self.is_closed() {
            return;
        }
        let data = ev.data().as_string().unwrap_or_default();
        let id = ev.last_event_id();
        self.last_event_id.borrow_mut().clone_from(&id);
        let meta = EventMeta { event: event_type.to_owned(), last_event_id: id, origin: ev.origin() };
        let is_terminal = terminal::is_terminal(&self.config.terminal, event_type, &data);
        if !is_terminal || self.config.deliver_terminal {
            let handlers = self.handlers.borrow().for_event(event_type);
            let incoming = Incoming { data: &data, meta: &meta };
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
            self.finish(CloseReason::Terminal { event: event_type.to_owned(), data });
        }
    }

    fn on_error(self: &Rc<Self>) {
        if self.is_closed() {
            return;
        }
        let browser_state = self.conn.borrow().as_ref().map(|c| ReadyState::from(c.source.ready_state()));
        if browser_state == Some(ReadyState::Connecting) {
            self.set_state(ReadyState::Connecting);
            self.emit_error(&Error::Transient);
            return;
        }
        // Fatal: the browser will not retry this connection.
        let gone = self.conn.borrow_mut().take();
        drop(gone);
        self.emit_error(&Error::Fatal { message: FATAL_MESSAGE.to_owned() });
        if self.is_closed() {
            return; // an error handler closed it
        }
        self.reopen_or_fail(FATAL_MESSAGE.to_owned());
    }

    fn reopen_or_fail(self: &Rc<Self>, message: String) {
        let attempts = self.reopen_attempts.get();
        if !self.config.reconnect.allows(attempts) {
            self.finish(CloseReason::Failed { message, attempts });
            return;
        }
        let delay = self.config.reconnect.delay(attempts, js_sys::Math::random());
        self.reopen_attempts.set(attempts + 1);
        self.set_state(ReadyState::Connecting);
        let weak = Rc::downgrade(self);
        let millis = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
        let timer = Timeout::new(millis, move || with(&weak, |s| s.reopen()));
        *self.reopen_timer.borrow_mut() = Some(timer);
    }

    fn reopen(self: &Rc<Self>) {
        if self.is_closed() {
            return;
        }
        if let Err(e) = self.connect() {
            let message = e.to_string();
            self.emit_error(&e);
            self.reopen_or_fail(message);
        }
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

    /// Closes for good, once: stops any pending re-open, closes the browser source, checks it reads CLOSED, and tells
    /// the close handlers why.
    fn finish(&self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        *self.close_reason.borrow_mut() = Some(reason.clone());
        let timer = self.reopen_timer.borrow_mut().take();
        drop(timer);
        let conn = self.conn.borrow_mut().take();
        let browser_state = conn.as_ref().map_or(ReadyState::Closed, |c| {
            c.source.close();
            ReadyState::from(c.source.ready_state())
        });
        drop(conn);
        debug_assert_eq!(browser_state, ReadyState::Closed);
        self.set_state(browser_state);
        let handlers = std::mem::take(&mut self.handlers.borrow_mut().close);
        call_each(handlers, &reason);
    }
}

impl Connection {
    fn listen(&mut self, weak: &Weak<Shared>, event_type: Rc<str>) {
        let weak = weak.clone();
        let name = event_type.clone();
        self.listeners.push(EventListener::new(&self.source, event_type.to_string(), move |ev| {
            if let Some(ev) = ev.dyn_ref::<MessageEvent>() {
                with(&weak, |s| s.on_message(&name, ev));
            }
        }));
        self.event_types.push(event_type);
    }
}

/// Runs `f` on the source if it still exists (a listener may outlive its source's last owner by one event).
fn with(weak: &Weak<Shared>, f: impl FnOnce(&Rc<Shared>)) {
    if let Some(shared) = weak.upgrade() {
        f(&shared);
    }
}
