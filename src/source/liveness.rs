//! The liveness of a source's connection, in the engine: the heartbeat watchdog (its logic, pure and tested on the
//! host, in `crate::liveness`) and the browser being offline. A shared source's watchdog acts in the tab that holds
//! the connection only.
//!
//! No listeners: a page that resumes (Page Lifecycle `resume`, `pageshow` from the back/forward cache, a machine
//! waking up) runs its overdue timers at once, and the watchdog's check reads the wall clock, so the pending check
//! finds the timeout passed and fires then, once. The network is polled while the source waits for it
//! ([`ONLINE_POLL_MS`]) rather than listened to (`online`), which would cost every app five listeners' code.

use std::rc::Rc;
use std::time::Duration;

use js_sys::Date;

use super::engine::Engine;
use crate::interop::Global;
use crate::liveness::Verdict;
use crate::Error;

/// How often a source waiting for the network asks whether the browser is back online: it reconnects within this.
const ONLINE_POLL_MS: u32 = 250;

/// Whether the browser says it is offline (`navigator.onLine === false`; unknown counts as online).
pub(super) fn offline_now() -> bool {
    Global::on_line().as_bool() == Some(false)
}

impl Engine {
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
        // Asked first, then acted on: acting borrows the watchdog again.
        let verdict = self.watch.borrow_mut().check(Date::now());
        let timer = match verdict {
            Verdict::Idle => None,
            // A saturating cast; one millisecond more, so that the check finds the timeout passed.
            Verdict::CheckIn(ms) => Some(self.timer((ms + 1.0) as u32, Engine::watch_check)),
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

    /// The browser is offline at a (re)connection: drop the connection and any pending re-open, and ask again every
    /// [`ONLINE_POLL_MS`] — no attempt is made, so none is counted; back online, it reconnects at once, resuming after
    /// its last event id.
    pub(super) fn wait_for_network(self: &Rc<Self>) {
        if self.is_closed() || self.paused.get() {
            return;
        }
        self.suspend();
        if !self.offline.replace(true) {
            self.emit_error(&Error::Offline);
        }
        self.schedule_connect(ONLINE_POLL_MS);
    }
}
