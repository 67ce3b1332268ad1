//! Leader election with the Web Locks API: queueing for the lock, stealing it from a silent leader, the hand-off
//! sync of a new leader, and stepping down.

use std::rc::Rc;

use gloo_timers::callback::Timeout;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::AbortController;

use super::protocol::Message;
use super::{Role, Shared};
use crate::interop::on_settled;
use crate::transport::{Ended, Upstream};
use crate::ReadyState;

/// How long a new leader collects what the others have seen before it connects.
pub(super) const SYNC_MS: u32 = 150;

/// The lock requests of a tab: the queued one (abortable) and the held one (its release).
#[derive(Default)]
pub(super) struct Locks {
    next: u32,
    queued: Option<(u32, AbortController)>,
    held: Option<(u32, Function)>,
}

/// What a new leader collects before it connects.
pub(super) struct Sync {
    _timer: Timeout,
    pub(super) seq: f64,
    pub(super) id: String,
}

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (bound here: web-sys marks the Web Locks API unstable).
    type LockManager;
    #[wasm_bindgen(method)]
    fn request(this: &LockManager, name: &str, options: &Object, callback: &Function) -> Promise;
}

fn lock_manager() -> Option<LockManager> {
    let navigator = crate::interop::Global::navigator();
    let locks = Reflect::get(&navigator, &JsValue::from_str("locks")).ok()?;
    (locks.is_object()).then(|| locks.unchecked_into())
}

/// Whether the browser has the Web Locks API.
pub(super) fn has_locks() -> bool {
    lock_manager().is_some()
}

impl Shared {
    /// Releases the lock if held, abandons the queued request.
    pub(super) fn give_up_lock(&self) {
        let (queued, held) = {
            let mut locks = self.locks.borrow_mut();
            (locks.queued.take(), locks.held.take())
        };
        if let Some((_, abort)) = queued {
            abort.abort();
        }
        if let Some((_, release)) = held {
            let _ = release.call0(&JsValue::NULL);
        }
    }

    /// Asks for the lock: queued, or (`steal`) taken from a leader that stopped answering.
    pub(super) fn request_lock(self: &Rc<Self>, steal: bool) {
        let Some(manager) = lock_manager() else { return };
        let options = Object::new();
        let id = {
            let mut locks = self.locks.borrow_mut();
            locks.next += 1;
            let id = locks.next;
            if steal {
                // `steal` cannot go with `signal`; the queued request is no longer needed.
                if let Some((_, abort)) = locks.queued.take() {
                    abort.abort();
                }
                let _ = Reflect::set(&options, &JsValue::from_str("steal"), &JsValue::TRUE);
            } else {
                let Ok(abort) = AbortController::new() else { return };
                let _ = Reflect::set(&options, &JsValue::from_str("signal"), &abort.signal());
                if let Some((_, old)) = locks.queued.replace((id, abort)) {
                    old.abort();
                }
            }
            id
        };
        let weak = Rc::downgrade(self);
        let granted = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_lock: JsValue| {
            let mut release = None;
            let held = Promise::new(&mut |resolve, _| release = Some(resolve));
            if let Some(release) = release {
                match weak.upgrade() {
                    Some(shared) if shared.role.get() != Role::Left => shared.granted(id, release),
                    _ => {
                        let _ = release.call0(&JsValue::NULL);
                    }
                }
            }
            held
        });
        let request = manager.request(&self.name, &options, granted.as_ref().unchecked_ref());
        // The request settles when the lock is released, stolen, or the queued request aborted (a rejection, then
        // handled); `granted` is kept until then, as the lock manager may call it until then.
        let weak = Rc::downgrade(self);
        on_settled(&request, move |outcome| {
            let _granted = granted;
            if let Some(shared) = weak.upgrade() {
                shared.lock_settled(id, outcome.is_ok());
            }
        });
    }

    /// The lock is ours: collect what the others have seen, then lead.
    pub(super) fn granted(self: &Rc<Self>, id: u32, release: Function) {
        {
            let mut locks = self.locks.borrow_mut();
            if locks.queued.as_ref().is_some_and(|(q, _)| *q == id) {
                locks.queued = None;
            }
            if let Some((_, old)) = locks.held.replace((id, release)) {
                let _ = old.call0(&JsValue::NULL);
            }
        }
        self.role.set(Role::Syncing);
        *self.watchdog.borrow_mut() = None;
        self.post(&Message::Leader);
        if self.heard_peer.get() {
            self.post(&Message::Sync);
            let weak = Rc::downgrade(self);
            let timer = Timeout::new(SYNC_MS, move || {
                if let Some(shared) = weak.upgrade() {
                    shared.lead();
                }
            });
            *self.sync.borrow_mut() = Some(Sync { _timer: timer, seq: 0.0, id: String::new() });
        } else {
            self.lead();
        }
    }

    /// Connects after the last id any tab has seen and relays from now on.
    pub(super) fn lead(self: &Rc<Self>) {
        if self.role.get() != Role::Syncing {
            return;
        }
        if let Some(sync) = self.sync.borrow_mut().take() {
            self.seen.borrow_mut().sequenced(sync.seq, &sync.id);
        }
        // From now on this tab's own connection is the truth: it resumes after every id delivered here, and what it
        // receives is checked against its own ids only, never against ids that came over the channel (which any
        // script of the origin can post).
        self.seen.borrow_mut().own_ids_only();
        self.follow.borrow_mut().reset();
        self.role.set(Role::Leader);
        if let Err(e) = self.connect_inner() {
            self.clone().ended(Ended::Failed { message: e.message(), status: None, content_type: None });
        }
    }

    /// A lock request settled: a held lock was stolen (step down), or a queued request ended; queue again unless
    /// leading or gone.
    pub(super) fn lock_settled(self: &Rc<Self>, id: u32, _ok: bool) {
        let (was_held, queued, held) = {
            let mut locks = self.locks.borrow_mut();
            let was_held = locks.held.as_ref().is_some_and(|(h, _)| *h == id);
            if was_held {
                locks.held = None;
            }
            if locks.queued.as_ref().is_some_and(|(q, _)| *q == id) {
                locks.queued = None;
            }
            (was_held, locks.queued.is_some(), locks.held.is_some())
        };
        if was_held && matches!(self.role.get(), Role::Leader | Role::Syncing) {
            self.step_down();
        } else if self.role.get() == Role::Follower && !queued && !held {
            self.request_lock(false);
        }
    }

    /// Another tab leads now: drop the connection and follow.
    pub(super) fn step_down(self: &Rc<Self>) {
        let was_open = self.inner.borrow().ready_state() == ReadyState::Open;
        self.role.set(Role::Follower);
        *self.sync.borrow_mut() = None;
        self.inner.borrow_mut().disconnect();
        let held = self.locks.borrow_mut().held.take();
        if let Some((_, release)) = held {
            let _ = release.call0(&JsValue::NULL);
        }
        self.relayed_open.set(was_open);
        self.awaiting_since.set(None);
        self.follow.borrow_mut().reset();
        self.watch();
        if self.locks.borrow().queued.is_none() {
            self.request_lock(false);
        }
    }
}
