//! One connection for every tab ([`SourceOptions::share_across_tabs`](crate::SourceOptions::share_across_tabs)):
//! the tabs of an origin that open the same stream elect a leader with the [Web Locks API]; the leader holds the one
//! server connection (the source's own transport) and relays what it reports over a [`BroadcastChannel`]; every tab,
//! leader or not, hands the events to its own engine, which runs its handlers, terminal rules, states and close
//! reasons as if the connection were its own.
//!
//! ```text
//!   tab A (leader)                          tab B (follower)               tab C (follower)
//!   engine ◄─ SharedLink ◄─ Link (EventSource/fetch) ─ server
//!                 │ post: ev · open · end · err · hb · leader
//!                 └──────────── BroadcastChannel ──────► SharedLink ─► engine   SharedLink ─► engine
//! ```
//!
//! - **Election**: every tab queues for the lock named after the stream; the holder leads. Closing the leader tab
//!   (or its source) releases the lock, and the next tab in the queue takes over.
//! - **Hand-off without loss or repeat**: relayed events carry a sequence number; a new leader first asks the others
//!   what they have seen (`sync`), waits [`SYNC_MS`] for the answers (which also drains what is still in flight), and
//!   resumes after the last event id any tab has seen. Every tab drops an event whose id it has already delivered.
//! - **A silent leader** (a frozen background tab keeps its lock): followers ping every [`PING_MS`]; the leader
//!   answers from the message event (not from a timer, so timer throttling in a background tab cannot make it look
//!   dead). A follower that hears nothing for a second and a bit (with jitter) steals the lock
//!   (`navigator.locks.request(name, { steal: true })`); the old leader, once it runs again, learns it from its lock
//!   request's rejection (or the new leader's announcement) and becomes a follower.
//! - **Messages from other tabs** are checked (shape, sender, sequence: [`follow`]): any script of the origin can
//!   post on the channel. A leader takes nothing from it (its own connection is the truth, and only its lock request
//!   tells it that it lost the lock); a follower takes leader messages only from the tab it follows.
//! - **Leaving**: `close()` in a follower detaches that tab only; the last tab leaving closes the connection; a
//!   terminal message reaches every tab, whose engine closes itself.
//! - **Fallback**: without Web Locks or `BroadcastChannel` the tab opens a connection of its own
//!   ([`ShareRole::Alone`]).
//!
//! The module is reached only through a function pointer set by the sharing options, so apps that never share do not
//! link it.
//!
//! [Web Locks API]: https://developer.mozilla.org/en-US/docs/Web/API/Web_Locks_API
//! [`BroadcastChannel`]: https://developer.mozilla.org/en-US/docs/Web/API/BroadcastChannel

mod follow;
mod protocol;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use gloo_timers::callback::{Interval, Timeout};
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortController, BroadcastChannel, MessageEvent};

use crate::interop::Listener;
use crate::recent_ids::RecentIds;
use crate::transport::{Ended, Link, SharedTransport, Upstream, WeakUp};
use crate::{Error, ReadyState, Transport};
use follow::Follow;
use protocol::Message;

/// How often a follower checks on its leader.
const PING_MS: u32 = 250;
/// How long a follower waits for its leader to answer before it takes over (plus up to [`JITTER_MS`] at random, so
/// that followers rarely steal at once).
const SILENCE_MS: f64 = 1000.0;
const JITTER_MS: f64 = 500.0;
/// How long a new leader collects what the others have seen before it connects.
const SYNC_MS: u32 = 150;
/// How many recent event ids a tab remembers to drop duplicates (a hand-off repeats at most what a frozen leader
/// relays late; scanned linearly, which keeps a hasher out of the wasm).
const RECENT_IDS: usize = 512;
/// Most event types the members of a stream may listen for together.
const MAX_MEMBER_TYPES: usize = 4 * protocol::MAX_TYPES;
/// The prefix of the lock and channel names.
const PREFIX: &str = "typed-eventsource/share/";

/// This tab's part in a stream shared across tabs
/// ([`SourceOptions::share_across_tabs`](crate::SourceOptions::share_across_tabs)).
///
/// ```no_run
/// # use typed_eventsource::{ShareRole, TypedEventSource};
/// # fn log(_: &str) {}
/// // In a browser (wasm32).
/// let source = TypedEventSource::builder("/subscribe").share_across_tabs().open()?;
/// if source.share_role() == Some(ShareRole::Leader) { log("this tab holds the connection") }
/// # Ok::<(), typed_eventsource::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShareRole {
    /// This tab holds the connection and relays its events to the other tabs.
    Leader,
    /// Another tab holds the connection; this one receives its events over a `BroadcastChannel`.
    Follower,
    /// The browser lacks Web Locks or `BroadcastChannel`: this tab has a connection of its own.
    Alone,
}

/// The sharing option of a source: the key, if given, and the constructor of the shared link — a function pointer,
/// set only by the sharing options, so that this module is linked only into apps that share.
#[derive(Debug, Clone)]
pub(crate) struct Share {
    key: Option<String>,
    open: fn(&str, bool, Transport, Option<&str>) -> Link,
}

impl Share {
    /// Sharing with tabs that use the same `key`, or (`None`) that open the same URL with the same transport options.
    pub(crate) fn new(key: Option<String>) -> Share {
        Share { key, open: SharedLink::link }
    }

    /// The shared link of a source on `url` over `transport`.
    pub(crate) fn link(&self, url: &str, with_credentials: bool, transport: Transport) -> Link {
        (self.open)(url, with_credentials, transport, self.key.as_deref())
    }
}

/// The link of a shared source: what the engine holds. Dropping it leaves the group.
struct SharedLink {
    shared: Rc<Shared>,
}

impl SharedLink {
    fn link(url: &str, with_credentials: bool, transport: Transport, key: Option<&str>) -> Link {
        let name = channel_name(url, with_credentials, &transport, key);
        Link::Shared(Box::new(SharedLink { shared: Shared::new(name, transport) }))
    }
}

impl Drop for SharedLink {
    fn drop(&mut self) {
        self.shared.leave();
    }
}

impl SharedTransport for SharedLink {
    fn connect(
        &mut self,
        url: &str,
        with_credentials: bool,
        last_event_id: &str,
        resume_param: Option<&str>,
        event_types: Vec<Rc<str>>,
        up: &WeakUp,
    ) -> Result<(), Error> {
        *self.shared.resume_param.borrow_mut() = resume_param.map(str::to_owned);
        self.shared.connect(url, with_credentials, last_event_id, event_types, up.clone())
    }

    fn server_retry(&self) -> Option<u32> {
        // Only the tab that holds the connection reads the server's `retry:`; followers keep their policy's delay.
        self.shared.inner.borrow().server_retry()
    }

    fn listen(&mut self, event_type: Rc<str>) {
        self.shared.listen(event_type);
    }

    fn disconnect(&mut self) {
        self.shared.wants.set(false);
        if matches!(self.shared.role.get(), Role::Leader | Role::Alone) {
            self.shared.inner.borrow_mut().disconnect();
        }
    }

    fn close(&mut self) -> ReadyState {
        self.shared.leave();
        ReadyState::Closed
    }

    fn ready_state(&self) -> ReadyState {
        match self.shared.role.get() {
            Role::Leader | Role::Alone => self.shared.inner.borrow().ready_state(),
            Role::Left => ReadyState::Closed,
            Role::Idle | Role::Follower | Role::Syncing if self.shared.relayed_open.get() => ReadyState::Open,
            Role::Idle | Role::Follower | Role::Syncing => ReadyState::Connecting,
        }
    }

    fn sees_comments(&self) -> bool {
        self.shared.inner.borrow().sees_comments()
    }

    fn went_silent(&mut self) {
        if matches!(self.shared.role.get(), Role::Leader) {
            // The followers' engines then read CONNECTING and report a transient error, as for a dropped connection.
            self.shared.post(&Message::End(Ended::Reconnecting));
        }
        self.disconnect();
    }

    fn role(&self) -> ShareRole {
        match self.shared.role.get() {
            Role::Leader => ShareRole::Leader,
            Role::Alone => ShareRole::Alone,
            Role::Idle | Role::Follower | Role::Syncing | Role::Left => ShareRole::Follower,
        }
    }
}

/// Where a tab stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Not joined yet (before the engine's first `connect`).
    Idle,
    /// Queued for the lock; events come from the leader.
    Follower,
    /// Holds the lock; collects what the others have seen before connecting.
    Syncing,
    /// Holds the lock and the connection; relays.
    Leader,
    /// No Web Locks or `BroadcastChannel`: a connection of its own.
    Alone,
    /// Closed: never joins again.
    Left,
}

/// What a tab has delivered: recent ids (to drop duplicates) and the latest relayed event (sequence number and id).
struct Seen {
    /// The last event id of the previous event: an event with the same one carries no id of its own.
    previous: String,
    /// The last [`RECENT_IDS`] ids (the engine's ring: a `VecDeque` here would link its own code).
    recent: RecentIds,
    /// The highest sequence number delivered, and the id of that event.
    seq: f64,
    seq_id: String,
    /// The id the engine asked to resume after, for when no event has been delivered yet.
    resume: String,
}

impl Seen {
    /// Whether an event with this last event id is new; remembers it.
    fn admit(&mut self, id: &str) -> bool {
        if id == self.previous {
            return true; // no id of its own: nothing to tell it by
        }
        id.clone_into(&mut self.previous);
        if id.is_empty() {
            return true;
        }
        self.recent.insert(id)
    }

    /// Forgets the ids delivered so far for duplicate checks (they may have come over the channel); keeps the resume
    /// point. Called when this tab starts leading: it resumes after them, so its connection does not repeat them.
    fn own_ids_only(&mut self) {
        self.previous.clear();
        self.recent = RecentIds::new(RECENT_IDS);
    }

    /// Records the sequence number of a delivered event.
    fn sequenced(&mut self, seq: f64, id: &str) {
        if seq > self.seq {
            self.seq = seq;
            id.clone_into(&mut self.seq_id);
        }
    }

    /// The id to resume after: that of the latest relayed event, else the engine's.
    fn resume_id(&self) -> &str {
        if self.seq > 0.0 {
            &self.seq_id
        } else {
            &self.resume
        }
    }
}

/// The `BroadcastChannel` and its listener; dropping it closes the channel.
struct Channel {
    channel: BroadcastChannel,
    _listener: Listener,
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.close();
    }
}

/// The lock requests of a tab: the queued one (abortable) and the held one (its release).
#[derive(Default)]
struct Locks {
    next: u32,
    queued: Option<(u32, AbortController)>,
    held: Option<(u32, Function)>,
}

/// The callbacks of a pending lock request.
struct Pending {
    _granted: Closure<dyn FnMut(JsValue) -> Promise>,
    _settled: Closure<dyn FnMut(JsValue)>,
    _failed: Closure<dyn FnMut(JsValue)>,
}

/// What a new leader collects before it connects.
struct Sync {
    _timer: Timeout,
    seq: f64,
    id: String,
}

/// The state of one shared source in this tab.
struct Shared {
    name: String,
    /// This source's id among the members (random).
    tab: f64,
    silence_ms: f64,
    role: Cell<Role>,
    /// The real transport: connected only while leading (or alone).
    inner: RefCell<Link>,
    up: RefCell<WeakUp>,
    url: RefCell<String>,
    /// The query parameter carrying the resume id for `EventSource` (the source's `resume_param`).
    resume_param: RefCell<Option<String>>,
    with_credentials: Cell<bool>,
    /// This tab's event types.
    own_types: RefCell<Vec<Rc<str>>>,
    /// Every member's event types (what the leader listens for).
    types: RefCell<Vec<Rc<str>>>,
    /// Whether the engine wants a connection (between its `connect` and `disconnect`).
    wants: Cell<bool>,
    /// Follower: whether the leader's connection is open.
    relayed_open: Cell<bool>,
    seen: RefCell<Seen>,
    channel: RefCell<Option<Channel>>,
    locks: RefCell<Locks>,
    watchdog: RefCell<Option<Interval>>,
    /// Follower: when the unanswered ping was sent.
    awaiting_since: Cell<Option<f64>>,
    /// Whether another member has been heard (a new leader then syncs before connecting).
    heard_peer: Cell<bool>,
    /// Follower: which tab it takes leader messages from ([`follow`]).
    follow: RefCell<Follow>,
    sync: RefCell<Option<Sync>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").field("name", &self.name).field("role", &self.role.get()).finish_non_exhaustive()
    }
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

impl Shared {
    /// Leaves for good: closes the connection if leading, releases or abandons the lock, closes the channel.
    fn leave(&self) {
        let role = self.role.replace(Role::Left);
        if role == Role::Left {
            return;
        }
        *self.watchdog.borrow_mut() = None;
        *self.sync.borrow_mut() = None;
        self.inner.borrow_mut().close();
        if matches!(role, Role::Leader | Role::Syncing) {
            self.post(&Message::Bye);
        }
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
        let channel = self.channel.borrow_mut().take();
        drop(channel);
    }

    fn post(&self, message: &Message) {
        if let Some(channel) = self.channel.borrow().as_ref() {
            // Fails only for values that cannot be cloned, and every message is plain data.
            let _ = channel.channel.post_message(&message.to_js(self.tab));
        }
    }
}

impl Shared {
    fn new(name: String, transport: Transport) -> Rc<Shared> {
        Rc::new(Shared {
            name,
            tab: js_sys::Math::random(),
            silence_ms: SILENCE_MS + js_sys::Math::random() * JITTER_MS,
            role: Cell::new(Role::Idle),
            inner: RefCell::new(Link::new(transport)),
            up: RefCell::new(Weak::<Shared>::new()),
            url: RefCell::new(String::new()),
            resume_param: RefCell::new(None),
            with_credentials: Cell::new(false),
            own_types: RefCell::new(Vec::new()),
            types: RefCell::new(Vec::new()),
            wants: Cell::new(false),
            relayed_open: Cell::new(false),
            seen: RefCell::new(Seen {
                previous: String::new(),
                recent: RecentIds::new(RECENT_IDS),
                seq: 0.0,
                seq_id: String::new(),
                resume: String::new(),
            }),
            channel: RefCell::new(None),
            locks: RefCell::new(Locks::default()),
            watchdog: RefCell::new(None),
            awaiting_since: Cell::new(None),
            heard_peer: Cell::new(false),
            follow: RefCell::new(Follow::new()),
            sync: RefCell::new(None),
        })
    }

    /// The engine's `connect`: joins on the first call; a leader (or a lone tab) (re)connects its transport.
    fn connect(
        self: &Rc<Self>,
        url: &str,
        with_credentials: bool,
        last_event_id: &str,
        event_types: Vec<Rc<str>>,
        up: WeakUp,
    ) -> Result<(), Error> {
        url.clone_into(&mut self.url.borrow_mut());
        self.with_credentials.set(with_credentials);
        last_event_id.clone_into(&mut self.seen.borrow_mut().resume);
        for t in &event_types {
            add_type(&self.types, t);
        }
        *self.own_types.borrow_mut() = event_types;
        *self.up.borrow_mut() = up;
        self.wants.set(true);
        match self.role.get() {
            Role::Idle => self.join(),
            Role::Leader | Role::Alone => self.connect_inner(),
            Role::Follower | Role::Syncing | Role::Left => Ok(()),
        }
    }

    /// One more event type of this tab's engine.
    fn listen(self: &Rc<Self>, event_type: Rc<str>) {
        add_type(&self.own_types, &event_type);
        if add_type(&self.types, &event_type) && matches!(self.role.get(), Role::Leader | Role::Alone) {
            self.inner.borrow_mut().listen(event_type, &self.up_ref());
        }
    }

    /// Opens the channel and queues for the lock; alone without Web Locks or `BroadcastChannel`.
    fn join(self: &Rc<Self>) -> Result<(), Error> {
        let channel = lock_manager().and_then(|_| BroadcastChannel::new(&self.name).ok());
        let Some(channel) = channel else {
            self.role.set(Role::Alone);
            return self.connect_inner();
        };
        let weak = Rc::downgrade(self);
        let listener = Listener::new(&channel, "message", move |event| {
            let Some(event) = event.dyn_ref::<MessageEvent>() else { return };
            if let (Some(shared), Some((from, message))) = (weak.upgrade(), Message::from_js(&event.data())) {
                shared.on_message(from, message);
            }
        });
        *self.channel.borrow_mut() = Some(Channel { channel, _listener: listener });
        self.role.set(Role::Follower);
        self.watch();
        self.request_lock(false);
        self.ping();
        Ok(())
    }

    /// Connects the transport after the last event id any tab has seen, listening for every member's event types.
    fn connect_inner(self: &Rc<Self>) -> Result<(), Error> {
        if !self.wants.get() {
            return Ok(());
        }
        let resume = self.seen.borrow().resume_id().to_owned();
        let types = self.types.borrow().clone();
        let url = self.url.borrow().clone();
        let param = self.resume_param.borrow().clone();
        self.inner.borrow_mut().connect(
            &url,
            self.with_credentials.get(),
            &resume,
            param.as_deref(),
            types,
            &self.up_ref(),
        )
    }

    /// What the leader's transport reports to: this shared link, which relays and delivers.
    fn up_ref(self: &Rc<Self>) -> WeakUp {
        let weak: Weak<Shared> = Rc::downgrade(self);
        weak
    }

    /// This tab's engine, while it exists.
    fn forward(&self) -> Option<Rc<dyn Upstream>> {
        self.up.borrow().upgrade()
    }

    /// Follower: checks on the leader every [`PING_MS`].
    fn watch(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let interval = Interval::new(PING_MS, move || {
            if let Some(shared) = weak.upgrade() {
                shared.check_leader();
            }
        });
        *self.watchdog.borrow_mut() = Some(interval);
    }

    fn ping(&self) {
        self.awaiting_since.set(Some(js_sys::Date::now()));
        self.post(&Message::Ping { types: self.own_types.borrow().clone() });
    }

    /// Pings the leader, or takes over when the last ping has gone unanswered too long.
    fn check_leader(self: &Rc<Self>) {
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

    /// Asks for the lock: queued, or (`steal`) taken from a leader that stopped answering.
    fn request_lock(self: &Rc<Self>, steal: bool) {
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
        // The request settles when the lock is released, stolen, or the queued request aborted; its callbacks are
        // kept until then (by the settle callbacks themselves, which drop them all), as the lock manager may call
        // `granted` until then.
        let pending: Rc<RefCell<Option<Pending>>> = Rc::new(RefCell::new(None));
        let settle = |ok: bool| {
            let (pending, weak) = (pending.clone(), Rc::downgrade(self));
            Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
                let callbacks = pending.borrow_mut().take();
                if let Some(shared) = weak.upgrade() {
                    shared.lock_settled(id, ok);
                }
                drop(callbacks); // wasm-bindgen frees a closure dropped during its own call once the call returns
            })
        };
        let (settled, failed) = (settle(true), settle(false));
        let request = manager.request(&self.name, &options, granted.as_ref().unchecked_ref());
        // `then` with a rejection handler: an aborted or stolen request is not an unhandled rejection.
        let _ = request.then2(&settled, &failed);
        *pending.borrow_mut() = Some(Pending { _granted: granted, _settled: settled, _failed: failed });
    }

    /// The lock is ours: collect what the others have seen, then lead.
    fn granted(self: &Rc<Self>, id: u32, release: Function) {
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
    fn lead(self: &Rc<Self>) {
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
            self.clone().ended(Ended::Failed { message: e.to_string(), status: None, content_type: None });
        }
    }

    /// A lock request settled: a held lock was stolen (step down), or a queued request ended; queue again unless
    /// leading or gone.
    fn lock_settled(self: &Rc<Self>, id: u32, _ok: bool) {
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
    fn step_down(self: &Rc<Self>) {
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

    /// Delivers a relayed event to this tab's engine unless its id was seen.
    fn deliver(&self, event_type: &str, data: &str, id: &str, origin: String, seq: f64) {
        {
            let mut seen = self.seen.borrow_mut();
            if !seen.admit(id) {
                return;
            }
            seen.sequenced(seq, id);
        }
        if let Some(up) = self.forward() {
            up.event(event_type, data, id, origin);
        }
    }

    /// A message from tab `from`. Leader messages: ignored while this tab leads (its own connection is the truth,
    /// and it learns that another tab took the lock from its lock request, not from a message anyone can post);
    /// otherwise taken only from the leader this tab follows ([`follow`]).
    fn on_message(self: &Rc<Self>, from: f64, message: Message) {
        let role = self.role.get();
        if role == Role::Left {
            return;
        }
        self.heard_peer.set(true);
        if !message.is_leaders() {
            self.handle(role, message);
            return;
        }
        if role == Role::Leader {
            return;
        }
        let taken = self.follow.borrow_mut().admit(from, message, js_sys::Date::now());
        self.handle_leaders(taken);
    }

    /// Handles leader messages [`Follow`] let through (each a sign of life of the followed leader).
    fn handle_leaders(self: &Rc<Self>, taken: Vec<Message>) {
        if !taken.is_empty() {
            self.awaiting_since.set(None);
        }
        for message in taken {
            self.handle(self.role.get(), message);
        }
    }

    fn handle(self: &Rc<Self>, role: Role, message: Message) {
        if role == Role::Left {
            return;
        }
        let following = role == Role::Follower;
        match message {
            Message::Ping { types } => {
                let mut new = Vec::new();
                for t in types {
                    if add_type(&self.types, &t) {
                        new.push(t);
                    }
                }
                if role == Role::Leader {
                    for t in new {
                        self.inner.borrow_mut().listen(t, &self.up_ref());
                    }
                }
                if matches!(role, Role::Leader | Role::Syncing) {
                    let open = role == Role::Leader && self.inner.borrow().ready_state() == ReadyState::Open;
                    self.post(&Message::Heartbeat { open });
                }
            }
            Message::Sync => {
                let seen = self.seen.borrow();
                let types = self.own_types.borrow().clone();
                let reply = Message::Seen { seq: seen.seq, id: seen.seq_id.clone(), types };
                drop(seen);
                self.post(&reply);
            }
            Message::Seen { seq, id, types } => {
                for t in types {
                    add_type(&self.types, &t);
                }
                if let Some(sync) = self.sync.borrow_mut().as_mut() {
                    if seq > sync.seq {
                        sync.seq = seq;
                        sync.id = id;
                    }
                }
            }
            // Followed from now on (see `on_message`); a leader that lost its lock learns it from its lock request.
            Message::Leader => {}
            Message::Heartbeat { open } => {
                if following && open && !self.relayed_open.replace(true) {
                    if let Some(up) = self.forward() {
                        up.opened();
                    }
                }
            }
            Message::Event { event, data, id, origin, seq } => {
                if self.follow.borrow_mut().in_sequence(seq) {
                    self.deliver(&event, &data, &id, origin, seq);
                }
            }
            Message::Open => {
                if following && !self.relayed_open.replace(true) {
                    if let Some(up) = self.forward() {
                        up.opened();
                    }
                }
            }
            Message::End(end) => {
                if following {
                    self.relayed_open.set(false);
                    if let Some(up) = self.forward() {
                        up.ended(end);
                    }
                }
            }
            Message::Error(error) => {
                if following {
                    if let Some(up) = self.forward() {
                        up.error(&error);
                    }
                }
            }
            Message::Bye => {}
        }
    }
}

/// What the transport reports to a leader (or a lone tab): relayed to the others, then delivered here.
impl Upstream for Shared {
    fn opened(self: Rc<Self>) {
        if self.role.get() == Role::Left {
            return;
        }
        self.post(&Message::Open);
        if let Some(up) = self.forward() {
            up.opened();
        }
    }

    fn event(self: Rc<Self>, event_type: &str, data: &str, last_event_id: &str, origin: String) {
        if self.role.get() == Role::Left {
            return;
        }
        // Posted before delivering here: a terminal event closes this tab's source, and the others must get it.
        let seq = {
            let mut seen = self.seen.borrow_mut();
            if !seen.admit(last_event_id) {
                return;
            }
            let seq = seen.seq + 1.0;
            seen.sequenced(seq, last_event_id);
            seq
        };
        self.post(&Message::Event {
            event: event_type.to_owned(),
            data: data.to_owned(),
            id: last_event_id.to_owned(),
            origin: origin.clone(),
            seq,
        });
        if let Some(up) = self.forward() {
            up.event(event_type, data, last_event_id, origin);
        }
    }

    fn alive(self: Rc<Self>) {
        if let Some(up) = self.forward() {
            up.alive();
        }
    }

    fn error(self: Rc<Self>, error: &Error) {
        if self.role.get() == Role::Left {
            return;
        }
        if matches!(error, Error::Decode { .. }) {
            self.post(&Message::Error(error.clone()));
        }
        if let Some(up) = self.forward() {
            up.error(error);
        }
    }

    fn ended(self: Rc<Self>, end: Ended) {
        if self.role.get() == Role::Left {
            return;
        }
        self.post(&Message::End(end.clone()));
        if let Some(up) = self.forward() {
            up.ended(end);
        }
    }
}

/// Adds `t` to `types` unless there; returns whether it was added.
fn add_type(types: &RefCell<Vec<Rc<str>>>, t: &Rc<str>) -> bool {
    let mut types = types.borrow_mut();
    // Bounded: types come from other tabs too, and any script of the origin can post some.
    if types.len() >= MAX_MEMBER_TYPES || types.iter().any(|known| **known == **t) {
        return false;
    }
    types.push(t.clone());
    true
}

/// The lock and channel name of a stream: the explicit key, or a digest of the absolute URL, the credentials flag
/// and the transport options (a digest: headers may hold a token).
fn channel_name(url: &str, with_credentials: bool, transport: &Transport, key: Option<&str>) -> String {
    let mut name = String::from(PREFIX);
    if let Some(key) = key {
        name.push_str("key/");
        name.push_str(key);
        return name;
    }
    let location = crate::interop::Global::location();
    let absolute = Reflect::get(&location, &JsValue::from_str("href"))
        .ok()
        .and_then(|href| href.as_string())
        .and_then(|base| web_sys::Url::new_with_base(url, &base).ok())
        .map_or_else(|| url.to_owned(), |u| u.href());
    let mut description = absolute;
    description.push('\n');
    description.push(if with_credentials { '1' } else { '0' });
    match transport {
        Transport::EventSource => description.push_str("\neventsource"),
        #[cfg(feature = "fetch")]
        Transport::Fetch(request) => {
            description.push_str("\nfetch\n");
            description.push_str(request.method_name());
            for (k, v) in request.headers() {
                description.push('\n');
                description.push_str(&k.to_ascii_lowercase());
                description.push(':');
                description.push_str(v);
            }
            description.push('\n');
            if let Some(body) = request.body_text() {
                description.push_str(body);
            }
        }
    }
    name.push_str("stream/");
    push_hex(&mut name, fnv1a(description.as_bytes()));
    name
}

/// 64-bit FNV-1a: a stable digest, not a secret one (the name only has to tell streams apart).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn push_hex(out: &mut String, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(DIGITS[((n >> (shift * 4)) & 0xf) as usize]));
    }
}
