//! The storage seam: one append-only log per topic, for replay and offline delivery. Live fan-out stays in memory
//! ([`crate::hub`]); a store only keeps what must outlive a connection — or the process.
//!
//! Backends, one module each: [`embedded`] (redb, durable, the default), [`memory`] (the same engine on an in-memory
//! backend: data lost at exit) and [`redis`] (Redis or Valkey: many server instances share every topic; it also
//! delivers live events itself, from whichever instance published them). The contract below is what every backend
//! promises; `store::conformance` (feature `fixtures`, run by `tests/store_conformance.rs` against each backend) checks it.
//!
//! # The contract
//!
//! **Topics.** A [`Topic`] is a key whose [`topic::Kind`] decides its rules: the broadcast board, per-user topics
//! (bounded in number and bytes, offline marks), job topics (kept whole until the job is deleted). The spelling of the
//! keys lives in [`topic`] only.
//!
//! **Positions and ordering.** Every appended event gets the next position of a `u64` sequence: positions are unique
//! in the store — not even a deleted topic used again repeats one — and a topic's increase in commit order (they are
//! not contiguous). The memory, embedded and one-primary Redis stores have one sequence, so their positions also
//! increase in commit order across topics; a Redis Cluster store has one per slot group (group `i` counts from
//! `i << 44`, see `redis::groups`), because a store-wide counter would put one node in every write. The hub only ever
//! compares positions of one topic. The appends of one batch to one topic take consecutive positions in batch order.
//! [`Store::read`]`(topic, after, limit)` answers, from one consistent snapshot, the topic's [`TopicState`] (`None` if
//! it does not exist), the last position of its sequence, the highest position of a deleted topic of that sequence,
//! and at most `limit` of the topic's events with positions above `after`, oldest first.
//!
//! **Batches are atomic.** [`Store::write`] applies a batch in order, all or nothing, and answers one [`Outcome`] per
//! write, in the batch's order (the hub's committer gathers whatever publishers sent meanwhile: the embedded store
//! commits and fsyncs once per batch, Redis runs one script). A batch is durable when `write` returns, as far as the
//! backend is (see each backend).
//!
//! **Retention.** A topic keeps at most [`Retention::max_events`] (the oldest go first, at each append); a
//! [`Write::Sweep`] step removes events older than [`Retention::max_age_ms`] by the store's [`Clock`] and deletes the
//! topics it leaves empty. A per-user topic keeps at most [`StoreOptions::max_user_topic_bytes`] of frames (the newest
//! always stays, whatever its size); past [`StoreOptions::max_user_topics`] user topics or
//! [`StoreOptions::max_user_history_bytes`] across them, the least recently appended user topics are deleted (never
//! the one just appended to). The bytes of an event are those of its frame as sent ([`Event::frame`]), so every
//! backend counts the same ([`TopicState::bytes`]). What retention removes is never silent: `trimmed_upto` (a topic's
//! highest removed position) and `deleted_upto` (a deleted topic's) let the hub tell a client it missed events.
//!
//! **Offline marks.** An append with `mark_offline` sets the topic's mark to its position unless one is set; a store
//! that delivers live events itself sets it only if no instance received the event live either. The hub decides
//! `mark_offline` (per-user topics only): with no local subscriber, in queue order with the subscribers'
//! [`Write::TakeOffline`]; with a shared store, on every per-user append, leaving the decision to the store (a local
//! subscriber's store subscription may not be confirmed yet). [`Write::TakeOffline`] answers the mark once and
//! clears it.
//!
//! **Epochs.** The store's epoch is random, created with the data and new whenever the data is (first start, wiped
//! data dir, `memory` store restarted, a Redis emptied under a running server); the same data reopened keeps its
//! epoch. An SSE id is `<epoch>-<position>` ([`crate::event_id`]), so an id of other data can never be mistaken for
//! one of ours. A shared store that finds new data adopts its epoch (or creates one) as a typed reply of the write or
//! read that met it, writes the batch again, and tells its [`LiveSink`] before any event of the new epoch.
//!
//! **Jobs.** [`Write::StartJob`], [`Write::RenewJob`], [`Write::EndJob`] and [`Write::DeleteJob`] keep
//! [`JobRecord`]s. They stay one variant each rather than generic operations, because two of them are conditional
//! writes whose condition must be checked and acted on in one atomic step, inside the backend (one write
//! transaction; one Lua script): admission counts the running jobs of the whole store and refuses at `max_running`
//! ([`Outcome::Busy`]) — the cross-instance `--max-jobs` guarantee — and ending appends the one terminal `ping` only
//! if the job is still running (and its lease ran out, for an interruption), so several instances noticing a dead
//! job end it once. Generic read-then-write operations would reopen the check-then-act race.
//!
//! **Idempotency keys.** A [`Write::Keyed`] whose key was seen within its window writes nothing and answers the first
//! outcome again ([`Outcome::Repeated`]), or [`Outcome::KeyReused`] for another request; the key is kept in the same
//! atomic batch as what it names ([`idempotency`]).
//!
//! **Live delivery.** A store that delivers live events itself ([`Store::attach_live`] true: a store shared by several
//! instances) gives its [`LiveSink`] every event committed — by any instance — to a topic it [watches](Store::watch),
//! from the moment `watch` returns, in position order per topic, each once. After a lost connection it reconnects
//! and first fills the hole from the logs (the events after the last position it delivered), then goes on: no gap,
//! no duplicate. `watch` waits until the connection is up (it is told, it does not poll) for a bounded time, and
//! answers [`StoreError::Unavailable`] if it is not. Other stores answer `false` and the hub delivers what it
//! commits.
//!
//! **Errors** ([`StoreError`]): `Unavailable` — nothing of the batch was stored (safe to retry); `OutcomeUnknown` —
//! the batch was sent and no answer came (it may or may not be stored: retry with the same `Idempotency-Key`);
//! `Invalid` — stored data or a reply could not be understood; `Open` / `Redis` — the store cannot be opened or used
//! at all (with what to do).

#[cfg(feature = "fixtures")]
pub mod conformance;
pub mod embedded;
mod event;
pub mod idempotency;
pub mod memory;
pub mod redis;
pub mod topic;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::clock::{now_ms, Clock};
pub use event::{encode_event, Event};
pub use topic::Topic;

/// A boxed future, so that [`Store`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What to append: an event name (`None` = `message`) and its data. The data may embed the event's position (the
/// broadcast board's `{"id": n, ...}`): it is then `data[..at] + position + data[at..]`, made by the store once the
/// position is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The event name; `None` is `message`. Must be a valid name ([`sse_codec::Frame::validate`]).
    pub event: Option<String>,
    /// The data (or the data around the position).
    pub data: String,
    /// Where the decimal position goes into `data`, if anywhere (a char boundary).
    pub position_at: Option<usize>,
}

impl Payload {
    /// Plain data.
    pub fn new(event: Option<&str>, data: impl Into<String>) -> Self {
        Payload { event: event.map(str::to_owned), data: data.into(), position_at: None }
    }

    /// `before` + position + `after`.
    pub fn around_position(event: Option<&str>, before: &str, after: &str) -> Self {
        Payload { event: event.map(str::to_owned), data: format!("{before}{after}"), position_at: Some(before.len()) }
    }

    /// The data of this payload at `position`.
    pub fn render(&self, position: u64) -> String {
        match self.position_at.and_then(|at| Some((self.data.get(..at)?, self.data.get(at..)?))) {
            Some((before, after)) => format!("{before}{position}{after}"),
            None => self.data.clone(),
        }
    }

    /// Checks the event name, so that a store never meets a payload it cannot encode.
    pub fn validate(&self) -> Result<(), sse_codec::EncodeError> {
        match &self.event {
            Some(e) => sse_codec::Frame::message("").event(e).validate(),
            None => Ok(()),
        }
    }
}

/// How much of a topic is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Retention {
    /// Most events kept (the oldest go first); `None` = all.
    pub max_events: Option<u64>,
    /// Events older than this many milliseconds are removed by [`Write::Sweep`]; `None` = no age limit.
    pub max_age_ms: Option<u64>,
}

/// A job as stored, so that it outlives a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job id.
    pub id: String,
    /// Steps in all.
    pub steps: u64,
    /// Milliseconds between steps.
    pub interval_ms: u64,
    /// Wall-clock creation time (ms since the Unix epoch).
    pub created_ms: u64,
    /// When it ended (ms since the Unix epoch) and how; `None` while running.
    pub ended: Option<JobEnd>,
    /// While running: the instance producing its progress renews this lease; a running job whose lease ran out (its
    /// instance died) is ended as interrupted by whichever instance notices first.
    #[serde(default)]
    pub lease_until_ms: u64,
}

/// How and when a job ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEnd {
    /// ms since the Unix epoch.
    pub at_ms: u64,
    /// `finished` or `interrupted`.
    pub outcome: String,
}

/// One write of a batch; see [`Store::write`].
#[derive(Debug, Clone)]
pub enum Write {
    /// Appends an event at the next position; trims the topic to `retention.max_events`. With `mark_offline`
    /// (nobody was listening), the topic's offline mark is set to this position unless one is set already.
    Append {
        /// The topic.
        topic: Topic,
        /// The event.
        payload: Payload,
        /// The topic's retention (stored with it; the sweep applies the age limit).
        retention: Retention,
        /// Whether nobody was subscribed when it was published.
        mark_offline: bool,
    },
    /// Reads and clears the topic's offline mark → [`Outcome::Offline`].
    TakeOffline {
        /// The topic.
        topic: Topic,
    },
    /// Admits a new job if fewer than `max_running` jobs of the store run now (not ended, lease not run out), in one
    /// atomic step: stores its record → [`Outcome::Done`], or changes nothing → [`Outcome::Busy`]. With `max_running`
    /// jobs kept already, the one that ended first is deleted to make room. One conditional write, so the cap holds
    /// across every instance sharing the store (no check, then act); a dead instance's jobs stop counting when their
    /// leases run out.
    StartJob {
        /// The new job.
        job: JobRecord,
        /// Most jobs running at once in the whole store.
        max_running: u64,
    },
    /// Deletes a job record and its topic.
    DeleteJob {
        /// The job id.
        id: String,
    },
    /// Ends a running job atomically: if it is not ended yet (and, with `only_if_lease_before`, its lease ran out
    /// before that time), appends `event: ping` / `data: <outcome>` to its topic and records the end →
    /// [`Outcome::Appended`]; otherwise changes nothing → [`Outcome::Done`]. So a job ends once, with one terminal
    /// event, even when several instances notice a dead one at the same time.
    EndJob {
        /// The job id.
        id: String,
        /// `finished` or `interrupted`.
        outcome: String,
        /// Only if the lease ran out before this time (ms since the Unix epoch).
        only_if_lease_before: Option<u64>,
    },
    /// Extends a running job's lease.
    RenewJob {
        /// The job id.
        id: String,
        /// New lease end (ms since the Unix epoch).
        until_ms: u64,
    },
    /// One bounded step of background retention at the store's clock: removes events past their topic's age
    /// limit; topics left empty are deleted. At most `budget` topics are visited; the next sweep goes on where this
    /// one stopped.
    Sweep {
        /// Most topics visited by this step.
        budget: usize,
    },
    /// A write that changes nothing but must reach the disk (health probe while the store is failing).
    Probe,
    /// `write` (an [`Write::Append`]) under an `Idempotency-Key` ([`idempotency`]): if the key was seen within its
    /// window, nothing is written and the first outcome is answered again ([`Outcome::Repeated`], or
    /// [`Outcome::KeyReused`] if it came with another request); otherwise `write` is applied and its outcome kept
    /// under the key, in the same atomic batch.
    Keyed {
        /// The key, scoped and fingerprinted.
        key: idempotency::Key,
        /// The write.
        write: Box<Write>,
    },
}

/// The result of one [`Write`].
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The appended event, and its data as rendered.
    Appended {
        /// The event (position and frame).
        event: Arc<Event>,
        /// The data of the event (with the position filled in).
        data: String,
    },
    /// The offline mark that was set (the first position published while nobody listened), if any.
    Offline(Option<u64>),
    /// A sweep step: events and topics removed.
    Swept {
        /// Events removed.
        events: u64,
        /// Topics removed.
        topics: u64,
    },
    /// Nothing to report.
    Done,
    /// A [`Write::Keyed`] whose key was seen: nothing was written; the first publish's position and data.
    Repeated(idempotency::Remembered),
    /// A [`Write::Keyed`] whose key was seen with another request: nothing was written.
    KeyReused,
    /// A [`Write::StartJob`] refused: the store runs its maximum of jobs already.
    Busy,
}

/// What a topic's log looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TopicState {
    /// The store's last position when the topic was created: its events all come after it.
    pub created_after: u64,
    /// The highest position removed from this topic by retention (0 = none): a client that saw less may have
    /// missed events.
    pub trimmed_upto: u64,
    /// The topic's last position (0 = no event yet).
    pub last: u64,
    /// Events kept.
    pub count: u64,
    /// First position published while nobody was subscribed and not yet delivered (see [`Write::TakeOffline`]).
    pub offline_from: Option<u64>,
    /// Wall-clock time of the last append (ms since the Unix epoch).
    pub last_append_ms: u64,
    /// The retention the topic was last appended with.
    pub retention: Retention,
    /// Bytes of the events kept (their frames, [`Event::frame`]).
    #[serde(default)]
    pub bytes: u64,
}

impl TopicState {
    /// The position before which a client's id cannot be trusted: events after it are all retained.
    pub fn floor(&self) -> u64 {
        self.created_after.max(self.trimmed_upto)
    }
}

/// A consistent snapshot of one topic: its state and its events after a position.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The topic's state; `None` if it does not exist (never used, or deleted).
    pub topic: Option<TopicState>,
    /// The store's last position (any topic).
    pub last_position: u64,
    /// The highest position of any topic deleted so far: a client of a topic that does not exist now and that saw
    /// less may have missed events.
    pub deleted_upto: u64,
    /// The events after the requested position, in order (at most the requested number).
    pub events: Vec<Arc<Event>>,
    /// Positions (as stored) of records in that range that failed verification and are left out of `events`: the
    /// reader must tell its client (a `replay-gap` with reason `corrupt`). Only the embedded store checks records.
    pub corrupt: Vec<u64>,
}

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data file cannot be opened (corrupt, wrong format, locked by another process).
    #[error("cannot open the data file {path}: {detail}")]
    Open {
        /// The file.
        path: String,
        /// What went wrong, and what to do.
        detail: String,
    },
    /// Redis cannot be used (unreachable, refused, or its data belongs to another deployment); `url` without
    /// credentials.
    #[error("cannot use Redis at {url}: {detail}")]
    Redis {
        /// The Redis URL, credentials removed.
        url: String,
        /// What went wrong, and what to do.
        detail: String,
    },
    /// A read or write failed (disk full, read-only, I/O error): nothing of the batch was stored.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A write whose outcome is unknown (Redis did not answer in time, or the connection dropped after the batch was
    /// sent): it may or may not have been stored.
    #[error("storage did not answer in time: {0}")]
    OutcomeUnknown(String),
    /// Stored data could not be understood.
    #[error("stored data is invalid: {0}")]
    Invalid(String),
}

/// Where a store that delivers live events itself sends them (the hub's fan-out).
pub trait LiveSink: Send + Sync {
    /// An event of `topic`, in position order per topic, of the epoch last announced by [`LiveSink::epoch`].
    fn event(&self, topic: &str, event: Arc<Event>);

    /// The events delivered from now on are of `epoch` (the data was wiped or replaced: positions start again).
    fn epoch(&self, epoch: &str);
}

thread_local! {
    /// Set on the hub's committer thread, which runs nothing but the commit loop.
    static WRITER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as the committer's own: a store whose writes block (redb's commit and fsync) runs them
/// right there instead of on a blocking pool, which saves two thread wake-ups per commit (bench/README, "Writes on the
/// committer's thread").
pub(crate) fn mark_writer_thread() {
    WRITER_THREAD.with(|w| w.set(true));
}

/// Whether the calling thread may block on a store write (see [`mark_writer_thread`]); a runtime worker may not.
pub(crate) fn on_writer_thread() -> bool {
    WRITER_THREAD.with(Cell::get)
}

/// An append-only log per topic; see the [module docs](self). Implementations are cheap to share (`Arc`).
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// The epoch of the data (random, new with new data; a networked store may learn a new one while running).
    fn epoch(&self) -> String;

    /// Applies `batch` atomically and durably (as far as the backend is durable), in order; one outcome per write.
    /// On error nothing of the batch is applied.
    fn write(&self, batch: Vec<Write>) -> BoxFuture<'_, Result<Vec<Outcome>, StoreError>>;

    /// `topic`'s state and up to `limit` events after position `after`, from one consistent snapshot.
    fn read(&self, topic: &str, after: u64, limit: usize) -> BoxFuture<'_, Result<Snapshot, StoreError>>;

    /// Every stored job.
    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobRecord>, StoreError>>;

    /// One stored job.
    fn job(&self, id: &str) -> BoxFuture<'_, Result<Option<JobRecord>, StoreError>>;

    /// The epoch as the data has it now: a shared store asks it (and adopts a new one, creating it if the data has
    /// none); others answer [`Store::epoch`].
    fn refresh_epoch(&self) -> BoxFuture<'_, Result<String, StoreError>> {
        Box::pin(async move { Ok(self.epoch()) })
    }

    /// Whether the store itself delivers every instance's committed events to `sink` (a shared networked store);
    /// if not (the default), the hub delivers what it commits.
    fn attach_live(&self, _sink: Arc<dyn LiveSink>) -> bool {
        false
    }

    /// `topic` got its first local subscriber: a store that delivers live events starts delivering it (and returns
    /// once it does, so a read after this misses nothing).
    fn watch(&self, _topic: &str) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    /// `topic` has no local subscriber any more.
    fn unwatch(&self, _topic: &str) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Whether live delivery from the store works now (`None`) or why not.
    fn live_error(&self) -> Option<String> {
        None
    }
}

/// A new random epoch: 12 lowercase hex digits.
pub fn new_epoch() -> Result<String, StoreError> {
    let mut bytes = [0u8; 6];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| StoreError::Unavailable(format!("no randomness for the epoch: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Settings every backend takes.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The clock events are stamped with.
    pub clock: Clock,
    /// Most per-user topics kept; past it the least recently used one is deleted (with its events).
    pub max_user_topics: u64,
    /// Most bytes (event frames) kept per user topic: past it its oldest events are removed (the newest is always
    /// kept).
    pub max_user_topic_bytes: u64,
    /// Most bytes (event frames) kept across all user topics: past it the least recently used user topics are deleted
    /// with their events (never the one just appended to).
    pub max_user_history_bytes: u64,
    /// The settings every server sharing the data must agree on (`(name, value)`: retention, caps); a shared store
    /// keeps them as a deployment marker and refuses a server with other ones ([`redis`]).
    pub deployment: Vec<(String, String)>,
    /// How long an `Idempotency-Key` is remembered ([`idempotency`]).
    pub idempotency_window: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            clock: Clock::System,
            max_user_topics: 100_000,
            max_user_topic_bytes: 1024 * 1024,
            max_user_history_bytes: 256 * 1024 * 1024,
            deployment: Vec::new(),
            idempotency_window: idempotency::DEFAULT_WINDOW,
        }
    }
}
