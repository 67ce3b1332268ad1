//! The liveness of a source's connection, in the engine: the heartbeat watchdog (its logic, pure and tested on the
//! host, in `crate::liveness`), the browser going offline and back online, and the page resuming (Page Lifecycle
//! `resume`, `pageshow` from the back/forward cache, becoming visible) — when the check runs at once instead of after
//! a whole timeout. A shared source's watchdog acts in the tab that holds the connection only.

use std::rc::Rc;
use std::time::Duration;

use js_sys::{Date, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use super::engine::{with, Engine};
use crate::interop::{Global, Listener, Timer};
use crate::liveness::Verdict;
use crate::{Error, ReadyState};

/// Whether the browser says it is offline (`navigator.onLine === false`; unknown counts as online).
pub(super) fn offline_now() -> bool {
    Reflect::get(&Global::navigator(), &JsValue::from_str("onLine")).ok().and_then(|v| v.as_bool()) == Some(false)
}

impl Engine {
    /// Listens to the network (`online`, `offline`) and the page (`pageshow`, `resume`, `visibilitychange`) until the
    /// source closes.
    pub(super) fn watch_page(self: &Rc<Self>) {
        // One closure type for the five (its code is linked once), calling an engine method by pointer.
        let on = |target: &JsValue, event: &str, f: fn(&Rc<Engine>)| {
            let weak = Rc::downgrade(self);
            Listener::new(target.unchecked_ref(), event, move |_| with(&weak, f))
        };
        let global = Global::this();
        let mut listeners = vec![
            on(&global, "online", Engine::back_online),
            on(&global, "offline", Engine::wait_for_network),
            on(&global, "pageshow", Engine::watch_check),
        ];
        let document = Global::document();
        if document.is_object() {
            listeners.push(on(&document, "resume", Engine::watch_check));
            listeners.push(on(&document, "visibilitychange", Engine::watch_check));
        }
        self.page.set(listeners);
    }

    /// A connection attempt starts: watch it from now.
    pub(super) fn watch_start(self: &Rc<Self>) {
        self.watch.borrow_mut().start(Date::now());
        self.watch_check();
    }

    /// Something arrived on the connection.
    pub(super) fn note_activity(&self) {
        self.watch.borrow_mut().activity(Date::now());
    }

    /// Asks the watchdog now: schedules the next check, or drops a connection silent for too long (once).
    pub(super) fn watch_check(self: &Rc<Self>) {
        let timer = match self.watch.borrow_mut().check(Date::now()) {
            Verdict::Idle => None,
            Verdict::CheckIn(ms) => {
                let weak = Rc::downgrade(self);
                // A saturating cast; one millisecond more, so that the check finds the timeout passed.
                Some(Timer::new((ms + 1.0) as u32, move || with(&weak, Engine::watch_check)))
            }
            Verdict::Silent(ms) => {
                self.watch_timer.set(None);
                return self.went_silent(ms);
            }
        };
        self.watch_timer.set(timer);
    }

    /// Nothing arrived within the timeout: report it, drop the connection and re-open through the policy. A tab that
    /// follows a shared connection only watches on: the leading tab recovers it for every tab.
    fn went_silent(self: &Rc<Self>, timeout_ms: f64) {
        if self.is_closed() {
            return;
        }
        if !self.link.borrow().watched() {
            return self.watch_start();
        }
        self.link.borrow_mut().went_silent();
        self.fail(Error::HeartbeatTimeout { timeout: Duration::from_millis(timeout_ms as u64) }, true);
    }

    /// The browser went offline (or a connection failed while it is): drop the connection and any pending re-open,
    /// and wait for `online` — no attempt is made, so none is counted.
    pub(super) fn wait_for_network(self: &Rc<Self>) {
        if self.is_closed() || self.paused.get() {
            return;
        }
        self.suspend();
        if !self.offline.replace(true) {
            self.emit_error(&Error::Offline);
        }
    }

    /// The browser is back online: a source waiting for it, or reconnecting, reconnects now (no backoff wait),
    /// resuming after its last event id.
    fn back_online(self: &Rc<Self>) {
        let waited = self.offline.replace(false);
        if waited || self.state() != ReadyState::Open {
            drop(self.reopen_timer.take());
            self.reconnect_now();
        }
    }
}
