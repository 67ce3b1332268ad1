//! The engine: one per source, behind every front end. It owns the transport [`Link`], the handlers, the last event
//! id, the close reason and the reconnect policy; it dispatches what the transport reports ([`Upstream`]), closes on a
//! terminal message, and re-opens after a fatal error while the policy allows.
//!
//! Every listener, timer and fetch task reaches the engine through a `Weak`, so none of them keeps a source alive:
//! the [`TypedEventSource`](super::TypedEventSource) handle is its only owner.

use std::cell::{Cell, RefCell, RefMut};
use std::rc::{Rc, Weak};

use gloo_events::EventListener;
use gloo_timers::callback as timers;

use crate::handler::{GapSignal, Handlers, Incoming, RawHandler, Signal};
use crate::liveness::{Timeout, Watch, HEARTBEAT_EVENT};
use crate::recent_ids::RecentIds;
use crate::transport::{Ended, Link, Received, Upstream, WeakUp};
use crate::{CloseReason, Error, Gap, ReadyState, ReconnectPolicy, TerminalRule};

/// The settings the engine reads once open: the part of [`SourceOptions`](super::SourceOptions) it owns (the
/// transport goes to the [`Link`], the last event id to the engine's own field, the pause to `visibility.rs`).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) with_credentials: bool,
    pub(crate) close_on: Vec<TerminalRule>,
    /// The terminal rules' check: set with the first rule, so that the matching is linked only into apps that have
    /// rules.
    pub(crate) terminal_check: Option<TerminalCheck>,
    pub(crate) deliver_terminal: bool,
    pub(crate) reconnect: ReconnectPolicy,
    pub(crate) resume: ResumeSettings,
    pub(crate) heartbeat_timeout: Timeout,
}

/// How the engine resumes: the query parameter, the gap signals, the de-duplication window (see
/// [`SourceOptions::resume_param`](super::SourceOptions::resume_param) and its neighbours).
#[derive(Debug, Clone)]
pub(crate) struct ResumeSettings {
    pub(crate) param: Option<String>,
    pub(crate) gap_events: Vec<String>,
    pub(crate) dedup_window: usize,
}

/// Given the rules and an event (type, data), the close reason if the event matches one.
pub(crate) type TerminalCheck = fn(&[TerminalRule], &str, &str) -> Option<CloseReason>;

/// The event type of the project's server's gap signal.
pub(crate) const REPLAY_GAP: &str = "replay-gap";

impl Default for ResumeSettings {
    fn default() -> Self {
        ResumeSettings {
            param: Some("lastEventId".to_owned()),
            gap_events: vec![REPLAY_GAP.to_owned()],
            dedup_window: 64,
        }
    }
}

/// Starts the page-visibility pause on an engine; a function pointer rather than a flag, so that the code is only
/// linked into apps that ask for it.
pub(crate) type PauseHook = fn(&Rc<Engine>);

/// The state of one source.
pub(crate) struct Engine {
    url: String,
    settings: Settings,
    handlers: RefCell<Handlers>,
    pub(super) link: RefCell<Link>,
    /// The last event id, owned here only: seeded from the options, set by every event, sent on every (re)connection.
    last_event_id: RefCell<String>,
    /// The state last told to the state-change handlers (the transport owns the live readyState).
    announced: Cell<ReadyState>,
    close_reason: RefCell<Option<CloseReason>>,
    reopen_attempts: Cell<u32>,
    /// The pending re-open, if any (a `Cell`: set and taken, never borrowed).
    pub(super) reopen_timer: Cell<Option<timers::Timeout>>,
    /// The heartbeat watchdog and its pending check (see `liveness.rs`).
    pub(super) watch: RefCell<Watch>,
    pub(super) watch_timer: Cell<Option<timers::Timeout>>,
    /// Whether the source waits for the network (the browser went offline).
    pub(super) offline: Cell<bool>,
    /// The page-visibility listener of the hidden-page pause (see `visibility.rs`). A `Cell`: nothing borrows it.
    pub(super) visibility: Cell<Option<EventListener>>,
    /// Whether the connection is closed because the page is hidden.
    pub(super) paused: Cell<bool>,
    /// The ids of the last events delivered, and how many duplicates were dropped.
    recent: RefCell<RecentIds>,
    duplicates_dropped: Cell<u64>,
    /// The last gap signal (its `Gap` is built when read).
    last_gap: RefCell<Option<GapSignal>>,
}

impl Engine {
    /// Creates the engine and opens its first connection over `link` (a transport's, or one shared across tabs).
    pub(super) fn open(
        url: String,
        settings: Settings,
        link: Link,
        last_event_id: String,
        pause: Option<PauseHook>,
        handlers: Handlers,
    ) -> Result<Rc<Engine>, Error> {
        let watch = Watch::new(settings.heartbeat_timeout, link.sees_comments());
        let engine = Rc::new(Engine {
            url,
            handlers: RefCell::new(handlers),
            link: RefCell::new(link),
            last_event_id: RefCell::new(last_event_id),
            announced: Cell::new(ReadyState::Connecting),
            close_reason: RefCell::new(None),
            reopen_attempts: Cell::new(0),
            reopen_timer: Cell::new(None),
            watch: RefCell::new(watch),
            watch_timer: Cell::new(None),
            offline: Cell::new(false),
            visibility: Cell::new(None),
            paused: Cell::new(false),
            recent: RefCell::new(RecentIds::new(settings.resume.dedup_window)),
            duplicates_dropped: Cell::new(0),
            last_gap: RefCell::new(None),
            settings,
        });
        if let Some(pause) = pause {
            pause(&engine);
        }
        if super::liveness::offline_now() {
            engine.wait_for_network();
        } else {
            engine.connect()?;
        }
        Ok(engine)
    }

    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// The transport's readyState: the browser's `EventSource.readyState` where there is one (also once closed),
    /// `Connecting` while a re-open waits. Never derived from the close reason.
    pub(super) fn state(&self) -> ReadyState {
        self.link.borrow().ready_state()
    }

    pub(super) fn duplicates_dropped(&self) -> u64 {
        self.duplicates_dropped.get()
    }

    pub(super) fn last_gap(&self) -> Option<Gap> {
        self.last_gap.borrow().as_ref().map(GapSignal::to_gap)
    }

    #[cfg(feature = "share")]
    /// This tab's part when the link is shared across tabs.
    pub(super) fn share_role(&self) -> Option<crate::ShareRole> {
        self.link.borrow().share_role()
    }

    pub(super) fn last_event_id(&self) -> String {
        self.last_event_id.borrow().clone()
    }

    pub(super) fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason.borrow().clone()
    }

    pub(super) fn handlers_mut(&self) -> RefMut<'_, Handlers> {
        self.handlers.borrow_mut()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.close_reason.borrow().is_some()
    }

    /// The event types to listen for: those with a handler, those of terminal rules (or they could never match), the
    /// gap signals and the heartbeat (which the `EventSource` transport sees only if listened for).
    fn event_types(&self) -> Vec<Rc<str>> {
        let mut event_types = self.handlers.borrow().event_types();
        event_types.push(HEARTBEAT_EVENT.into());
        let rules = self.settings.close_on.iter().filter_map(|rule| match rule {
            TerminalRule::Event { event, .. } => Some(event.as_str()),
            _ => None,
        });
        for event in rules.chain(self.settings.resume.gap_events.iter().map(String::as_str)) {
            if !event_types.iter().any(|t| **t == *event) {
                event_types.push(event.into());
            }
        }
        event_types
    }

    /// Opens a connection (replacing the current one), resuming after the last event id.
    fn connect(self: &Rc<Self>) -> Result<(), Error> {
        let event_types = self.event_types();
        // Neither borrow is taken again before `connect` returns: the transport reports from later tasks only.
        self.link.borrow_mut().connect(
            &self.url,
            self.settings.with_credentials,
            &self.last_event_id.borrow(),
            self.settings.resume.param.as_deref(),
            event_types,
            &self.up(),
        )?;
        self.set_state(ReadyState::Connecting);
        self.watch_start();
        Ok(())
    }

    pub(super) fn add_event_handler(self: &Rc<Self>, event: &str, handler: RawHandler) {
        let event: Rc<str> = event.into();
        self.handlers.borrow_mut().events.push((event.clone(), handler));
        self.link.borrow_mut().listen(event, &self.up());
    }

    /// What the transport reports to: this engine, by `Weak`.
    fn up(self: &Rc<Self>) -> WeakUp {
        let weak: Weak<Engine> = Rc::downgrade(self);
        weak
    }

    /// A fatal error: report it, then re-open if the policy allows (and `may_reopen`), else close as failed.
    ///
    /// The delay: the policy's backoff, whose base is the server's `retry:` once the transport knows one (fetch),
    /// else the policy's `initial_delay`.
    pub(super) fn fail(self: &Rc<Self>, error: Error, may_reopen: bool) {
        let message = error.message();
        self.emit_error(&error);
        if self.is_closed() {
            return; // an error handler closed it
        }
        if super::liveness::offline_now() {
            // Not an attempt: the source waits for the network and reconnects when it is back.
            self.wait_for_network();
            return;
        }
        let attempts = self.reopen_attempts.get();
        if !may_reopen || !self.settings.reconnect.allows(attempts) {
            self.finish(CloseReason::Failed { message, attempts });
            return;
        }
        self.drop_connection();
        let policy = match self.link.borrow().server_retry() {
            Some(ms) => self.settings.reconnect.clone().initial_delay(std::time::Duration::from_millis(ms.into())),
            None => self.settings.reconnect.clone(),
        };
        let delay = policy.delay(attempts, js_sys::Math::random());
        self.reopen_attempts.set(attempts + 1);
        self.set_state(ReadyState::Connecting);
        // A saturating cast of the f64 milliseconds (not `as_millis`, a u128).
        self.schedule_connect((delay.as_secs_f64() * 1000.0) as u32);
    }

    pub(super) fn schedule_connect(self: &Rc<Self>, millis: u32) {
        self.reopen_timer.set(Some(self.timer(millis, Engine::reconnect_now)));
    }

    /// Calls `f` on this engine after `millis`, unless the timer is dropped first (or the engine is gone). One
    /// closure type for every timer of the engine: its code is linked once.
    pub(super) fn timer(self: &Rc<Self>, millis: u32, f: fn(&Rc<Engine>)) -> timers::Timeout {
        let weak = Rc::downgrade(self);
        timers::Timeout::new(millis, move || with(&weak, f))
    }

    pub(super) fn reconnect_now(self: &Rc<Self>) {
        if self.is_closed() || self.paused.get() {
            return;
        }
        if super::liveness::offline_now() {
            self.wait_for_network();
            return;
        }
        self.offline.set(false);
        if let Err(e) = self.connect() {
            self.fail(e, true);
        }
    }

    /// Drops the connection and any pending re-open, and waits (`Connecting`) until
    /// [`reconnect_now`](Self::reconnect_now).
    pub(super) fn suspend(&self) {
        let timer = self.reopen_timer.take();
        drop(timer);
        self.drop_connection();
        self.set_state(ReadyState::Connecting);
    }

    /// Drops the connection, if any, and stops watching it.
    fn drop_connection(&self) {
        self.link.borrow_mut().disconnect();
        self.watch.borrow_mut().stop();
        self.watch_timer.set(None);
    }

    pub(super) fn emit_error(&self, error: &Error) {
        self.signal(Signal::Error(error));
    }

    /// Tells the signal handlers, skipping one that is already running (a handler that re-enters itself).
    ///
    /// Each handler is cloned out in turn, so none stays borrowed while it runs; those added meanwhile wait for the
    /// next signal, and once a handler closes the source (taking the list) the others are not called.
    fn signal(&self, signal: Signal<'_>) {
        let count = self.handlers.borrow().signals.len();
        for i in 0..count {
            let Some(h) = self.handlers.borrow().signals.get(i).cloned() else { return };
            if let Ok(mut f) = h.try_borrow_mut() {
                f(signal);
            };
        }
    }

    fn set_state(&self, state: ReadyState) {
        if self.announced.replace(state) != state {
            self.signal(Signal::State(state));
        }
    }

    /// A gap signal: kept as the last gap and handed to the gap handlers (each builds its `Gap`).
    fn gap(&self, event_type: &str, data: &str, last_event_id: &str) {
        let signal =
            GapSignal { event: event_type.to_owned(), last_event_id: last_event_id.to_owned(), data: data.to_owned() };
        *self.last_gap.borrow_mut() = Some(signal);
        // Shared while the handlers run (they may read `last_gap`; nothing writes it but this function).
        if let Some(signal) = self.last_gap.borrow().as_ref() {
            self.signal(Signal::Gap(signal));
        }
    }

    /// Closes for good, once: stops any pending re-open, closes the connection, checks the browser reads CLOSED
    /// (reporting [`Error::NotClosed`] if not), and tells the close handlers why.
    pub(super) fn finish(&self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        *self.close_reason.borrow_mut() = Some(reason.clone());
        let timer = self.reopen_timer.take();
        drop(timer);
        let visibility = self.visibility.take();
        drop(visibility);
        self.watch_timer.set(None);
        let state = self.link.borrow_mut().close();
        if state != ReadyState::Closed {
            self.emit_error(&Error::NotClosed { state });
        }
        self.set_state(state);
        // The last signal: then the handlers are dropped (each close handler runs exactly once), outside the borrow.
        self.signal(Signal::Close(&reason));
        let handlers = std::mem::take(&mut self.handlers.borrow_mut().signals);
        drop(handlers);
    }
}

impl Upstream for Engine {
    fn opened(self: Rc<Self>) {
        self.note_activity();
        self.reopen_attempts.set(0);
        self.set_state(ReadyState::Open);
        self.signal(Signal::Open);
    }

    /// Hands one event to its handlers, then closes the source if a terminal rule matches it. A gap signal goes to
    /// the gap handlers instead; an event whose id was delivered lately is dropped. The data and origin are read
    /// into Rust only where Rust code needs them (a heartbeat, a gap, the terminal rules, a Rust handler).
    fn event(self: Rc<Self>, received: &Received<'_>) {
        if self.is_closed() {
            return;
        }
        let event_type = received.event_type;
        if event_type == HEARTBEAT_EVENT {
            // A sign of life only: never delivered, never counted, and it moves no id (it has none).
            self.watch.borrow_mut().heartbeat(js_sys::Date::now(), received.data.as_str());
            self.watch_check();
            return;
        }
        self.note_activity();
        let last_event_id = received.last_event_id.as_str();
        // The stream's last id persists across events without one: only a changed id is the event's own.
        let own_id = {
            let mut id = self.last_event_id.borrow_mut();
            let changed = *id != last_event_id;
            if changed {
                last_event_id.clone_into(&mut id);
            }
            changed && !last_event_id.is_empty()
        };
        if self.settings.resume.gap_events.iter().any(|g| g == event_type) {
            self.gap(event_type, received.data.as_str(), last_event_id);
            return;
        }
        if own_id && !self.recent.borrow_mut().insert(last_event_id) {
            self.duplicates_dropped.set(self.duplicates_dropped.get() + 1);
            return;
        }
        let terminal = self
            .settings
            .terminal_check
            .and_then(|check| check(&self.settings.close_on, event_type, received.data.as_str()));
        if terminal.is_none() || self.settings.deliver_terminal {
            let incoming = Incoming(received);
            // The handlers there are now, each cloned out in turn so none stays borrowed while it runs.
            let count = self.handlers.borrow().events.len();
            for i in 0..count {
                if self.is_closed() {
                    return; // a handler closed the source: nothing more is delivered
                }
                let h = match self.handlers.borrow().events.get(i) {
                    Some((t, h)) if **t == *event_type => h.clone(),
                    _ => continue,
                };
                let result = match h.try_borrow_mut() {
                    Ok(mut f) => f(&incoming),
                    Err(_) => Ok(()),
                };
                if let Err(e) = result {
                    self.emit_error(&e);
                }
            }
        }
        if let Some(reason) = terminal {
            self.finish(reason);
        }
    }

    fn error(self: Rc<Self>, error: &Error) {
        self.emit_error(error);
    }

    fn alive(self: Rc<Self>) {
        self.note_activity();
    }

    fn ended(self: Rc<Self>, end: Ended) {
        if self.is_closed() {
            return;
        }
        match end {
            // The browser reconnects by itself: the connection stays.
            Ended::Reconnecting => {
                self.set_state(ReadyState::Connecting);
                self.emit_error(&Error::Transient);
                if super::liveness::offline_now() {
                    // Rather than the browser's retries, which fail until the network is back.
                    self.wait_for_network();
                }
            }
            // As a browser does: CONNECTING, `error`, wait the reconnection time, reconnect with Last-Event-ID.
            #[cfg(feature = "fetch")]
            Ended::Lost { retry_ms } => {
                self.drop_connection();
                self.set_state(ReadyState::Connecting);
                self.emit_error(&Error::Transient);
                if super::liveness::offline_now() {
                    self.wait_for_network();
                } else if !self.is_closed() {
                    self.schedule_connect(retry_ms);
                }
            }
            Ended::Failed { message, status, content_type } => {
                self.fail(Error::Fatal { message, status, content_type }, true);
            }
            #[cfg(feature = "fetch")]
            Ended::NoContent => {
                let message = "the server answered 204 No Content: it asks the client to stop".to_owned();
                self.fail(Error::Fatal { message, status: Some(204), content_type: None }, false);
            }
        }
    }
}

/// Runs `f` on the engine if it still exists (a listener may outlive its source's last owner by one event).
pub(super) fn with(weak: &Weak<Engine>, f: impl FnOnce(&Rc<Engine>)) {
    if let Some(engine) = weak.upgrade() {
        f(&engine);
    }
}
