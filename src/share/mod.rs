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
//!   what they have seen (`sync`), waits [`SYNC_MS`](election::SYNC_MS) for the answers (which also drains what is still in flight), and
//!   resumes after the last event id any tab has seen. Every tab drops an event whose id it has already delivered.
//! - **A silent leader** (a frozen background tab keeps its lock): followers ping every [`PING_MS`](watchdog::PING_MS); the leader
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
//! The parts: [`election`] (Web Locks), [`watchdog`] (a follower's pings), [`relay`] (the channel), [`follow`]
//! (which leader a member follows), [`protocol`] (the messages), [`seen`] (duplicates and the resume point) and
//! [`naming`] (the lock and channel name).
//!
//! [Web Locks API]: https://developer.mozilla.org/en-US/docs/Web/API/Web_Locks_API
//! [`BroadcastChannel`]: https://developer.mozilla.org/en-US/docs/Web/API/BroadcastChannel

mod election;
mod follow;
mod naming;
mod protocol;
mod relay;
mod seen;
mod watchdog;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::{Rc, Weak};

use gloo_timers::callback::Interval;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

use crate::interop::listen;
use crate::transport::{Ended, Link, SharedTransport, Upstream, WeakUp};
use crate::{Error, ReadyState, Transport};
use election::{Locks, Sync};
use follow::Follow;
use protocol::Message;
use relay::Channel;
use seen::Seen;

/// Most event types the members of a stream may listen for together.
const MAX_MEMBER_TYPES: usize = 4 * protocol::MAX_TYPES;

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
        let name = naming::channel_name(url, with_credentials, &transport, key);
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
        self.give_up_lock();
        let channel = self.channel.borrow_mut().take();
        drop(channel);
    }
}

impl Shared {
    fn new(name: String, transport: Transport) -> Rc<Shared> {
        Rc::new(Shared {
            name,
            tab: js_sys::Math::random(),
            silence_ms: watchdog::SILENCE_MS + js_sys::Math::random() * watchdog::JITTER_MS,
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
            seen: RefCell::new(Seen::new()),
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
        let channel = election::has_locks().then(|| BroadcastChannel::new(&self.name).ok()).flatten();
        let Some(channel) = channel else {
            self.role.set(Role::Alone);
            return self.connect_inner();
        };
        let weak = Rc::downgrade(self);
        let listener = listen(&channel, "message".into(), move |event: &web_sys::Event| {
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
