//! A follower's watchdog: it pings the leader and takes the lock over from one that stopped answering.

use std::rc::Rc;

use gloo_timers::callback::Interval;

use super::protocol::Message;
use super::{Role, Shared};

/// How often a follower checks on its leader.
pub(super) const PING_MS: u32 = 250;
/// How long a follower waits for its leader to answer before it takes over (plus up to [`JITTER_MS`] at random, so
/// that followers rarely steal at once).
pub(super) const SILENCE_MS: f64 = 1000.0;
pub(super) const JITTER_MS: f64 = 500.0;

impl Shared {
    /// Follower: checks on the leader every [`PING_MS`].
    pub(super) fn watch(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let interval = Interval::new(PING_MS, move || {
            if let Some(shared) = weak.upgrade() {
                shared.check_leader();
            }
        });
        *self.watchdog.borrow_mut() = Some(interval);
    }

    pub(super) fn ping(&self) {
        self.awaiting_since.set(Some(js_sys::Date::now()));
        self.post(&Message::Ping { types: self.own_types.borrow().clone() });
    }

    /// Pings the leader, or takes over when the last ping has gone unanswered too long.
    pub(super) fn check_leader(self: &Rc<Self>) {
        if self.role.get() != Role::Follower {
            return;
        }
        let taken = self.follow.borrow_mut().promote(js_sys::Date::now());
        self.handle_leaders(taken);
        match self.awaiting_since.get() {
            Some(since) if js_sys::Date::now() - since > self.silence_ms => {
                self.awaiting_since.set(None);
                self.request_lock(true);
            }
            Some(_) => {}
            None => self.ping(),
        }
    }
}
