//! Topics: durable publishing through the [`Store`], live fan-out in memory, and subscriptions that replay exactly
//! what a client missed — or say why they cannot.
//!
//! **Publishing** goes through one *committer* task: publishers queue their event and wait; the committer takes
//! everything queued meanwhile and hands it to the store as one batch (one commit, one fsync for the embedded store:
//! group commit), then sends each committed event to the topic's live subscribers, in position order (a stream is
//! woken once per commit, with all of the commit's events already in its channel: see `Channel`), and only then
//! answers the publishers. So an acknowledged event is stored, and a live subscriber never sees an event the store
//! could lose.
//!
//! **Subscribing** registers for live events *first*, then reads the replay from the store: every event is either in
//! the replay (committed before the read) or arrives live afterwards; the stream drops live events it already replayed
//! (by position). A `Last-Event-ID` from another epoch, malformed, unknown, or older than what is retained yields a
//! [`Gap`] and the whole retained history instead of a silent wrong replay.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use typed_eventsource_server::hub::{Hub, HubOptions, Start};
//! use typed_eventsource_server::metrics::Metrics;
//! use typed_eventsource_server::store::{memory, topic, Payload, StoreOptions};
//!
//! let store = Arc::new(memory::open(StoreOptions::default()).unwrap());
//! let hub = Hub::new(store, HubOptions::default(), Arc::new(Metrics::default()));
//! let first = hub.publish(topic::BROADCAST, Payload::new(None, "one")).await.unwrap();
//! hub.publish(topic::BROADCAST, Payload::new(Some("note"), "two")).await.unwrap();
//! let sub = hub.subscribe(topic::BROADCAST, Start::After(first.id.clone())).await.unwrap();
//! assert!(sub.gap.is_none());
//! assert_eq!(sub.replay.len(), 1);
//! assert!(std::str::from_utf8(&sub.replay[0].frame).unwrap().ends_with("event: note\ndata: two\n\n"));
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, oneshot, Notify};

use crate::event_id;
use crate::metrics::Metrics;
use crate::store::topic::{self, Kind, Topic};
use crate::store::{LiveSink, Outcome, Payload, Retention, Snapshot, Store, StoreError, Write};

pub mod feed;
pub use crate::store::Event;
pub use feed::LiveFeed;

/// Where a new subscription starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Live events only.
    Live,
    /// The whole retained history, then live events.
    All,
    /// The events after this SSE id (a reconnect with `Last-Event-ID`), then live events.
    After(String),
    /// The events published while nobody was subscribed (stored for an offline user), then live events.
    Offline,
}

/// Why a replay could not start where the client asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapReason {
    /// The id is not one of ours (`<epoch>-<position>`).
    Malformed,
    /// The id is from another epoch: the data it refers to was wiped or lost.
    OtherEpoch,
    /// The id is after anything this store has published.
    Unknown,
    /// Events after the id were removed by retention (or never delivered offline events were).
    Expired,
    /// Stored events of the replay failed verification (the data file changed on disk): they are left out.
    Corrupt,
}

impl GapReason {
    /// The `reason` of the `replay-gap` JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            GapReason::Malformed => "malformed",
            GapReason::OtherEpoch => "other-epoch",
            GapReason::Unknown => "unknown",
            GapReason::Expired => "expired",
            GapReason::Corrupt => "corrupt",
        }
    }
}

/// The replay could not start where the client asked; the retained history follows instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The id the client sent.
    pub requested: String,
    /// The id of the oldest event replayed, if any.
    pub oldest: Option<String>,
    /// The store's epoch now.
    pub epoch: String,
    /// Why.
    pub reason: GapReason,
    /// The id to give the gap event: just before the replayed history, so a reconnect right after it resumes
    /// correctly.
    pub resume_id: String,
}

/// A new subscription: what to replay first, then the live receiver.
#[derive(Debug)]
pub struct Subscription {
    /// Set when the requested position could not be honoured; `replay` is then the whole retained history.
    pub gap: Option<Gap>,
    /// Events to send before live ones, in order.
    pub replay: Vec<Arc<Event>>,
    /// The position the client is known to have: live events up to it are dropped.
    pub after: u64,
    /// Live events, and what the stream needs to catch up from the store (see [`LiveFeed`]).
    pub rx: LiveFeed,
}

/// A publish that was stored.
#[derive(Debug, Clone)]
pub struct Published {
    /// The event.
    pub event: Arc<Event>,
    /// Its SSE id.
    pub id: String,
    /// Its data, as sent.
    pub data: String,
    /// Its `Idempotency-Key` had been seen: this is the first publish's answer, and nothing was published now.
    pub repeated: bool,
}

/// Why publishing failed; nothing was stored or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The event cannot be encoded (bad event name).
    #[error(transparent)]
    Encode(#[from] sse_codec::EncodeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The `Idempotency-Key` was used with another request within its window.
    #[error("this Idempotency-Key was already used with another request")]
    KeyReused,
}

/// Retention and buffers per kind of topic.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Events kept per broadcast/user topic.
    pub history: u64,
    /// Age limit of broadcast/user events, in ms (`None` = none).
    pub max_age_ms: Option<u64>,
    /// Events a broadcast subscriber may lag before eviction (user topics: at most 128; jobs: at most 256).
    pub client_buffer: usize,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions { history: 256, max_age_ms: None, client_buffer: 1024 }
    }
}

/// Most events replayed at once (jobs keep up to 2,001; other topics `history`).
const MAX_REPLAY: usize = 100_000;
/// Most writes in one store batch, unless one request alone has more (a batch publish is never split). 8,192 was
/// tried for batch publishing: no gain measurable on the shared machine, and a single publish would wait behind a
/// larger commit.
const MAX_BATCH: usize = 1024;
/// Requests waiting for the committer.
const QUEUE: usize = 4096;

/// What a topic's live channel carries: an event, or (`event: None`) the news that the epoch changed; stamped with
/// the fan-out's epoch *generation*, so a stream tells events of an old epoch from those of the new one (see
/// [`LiveFeed`]).
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The fan-out generation (one per epoch seen live) the event belongs to.
    pub generation: u64,
    /// The event; `None`: the epoch changed.
    pub event: Option<Arc<Event>>,
}

/// One topic's live channel: the events (counted against each stream's buffer one by one), and the wake-up its
/// streams wait on.
///
/// Streams never wait on the channel itself (they only `try_recv`): a send wakes nobody, and [`Fanout`] notifies
/// `ready` once after *all* the events of a commit are in. So a stream wakes once per commit and writes it whole,
/// instead of waking at the first event and writing it before the rest arrive (then waking again).
#[derive(Debug)]
struct Channel {
    tx: broadcast::Sender<Delivery>,
    ready: Arc<Notify>,
    /// The topic's highest position delivered in this epoch: a stream of a shared store joining now has seen nothing
    /// after it. Per topic: there, positions are ordered within a topic only (a Redis Cluster store counts each slot
    /// group from its own base).
    last_pos: u64,
}

/// What a new stream gets from [`Fanout::subscribe`]: its receiver, the topic's wake-up, where it joins (generation,
/// last position delivered), and the new channel's sender if this created it.
type Joined = (broadcast::Receiver<Delivery>, Arc<Notify>, (u64, u64), Option<broadcast::Sender<Delivery>>);

/// The channels and the epoch they carry.
#[derive(Debug)]
struct Channels {
    topics: HashMap<String, Channel>,
    /// Bumped on every epoch change seen live.
    generation: u64,
    /// The epoch of the events delivered now.
    epoch: String,
    /// The highest position delivered or committed (any topic) in this epoch: with a store of one sequence (the
    /// committer delivers), a stream joining now has seen nothing after it.
    last_pos: u64,
}

/// The live side: one broadcast channel per topic with subscribers.
#[derive(Debug)]
pub(crate) struct Fanout {
    channels: Mutex<Channels>,
    /// Counts the new epochs seen.
    metrics: Arc<Metrics>,
}

impl Fanout {
    fn new(epoch: String, metrics: Arc<Metrics>) -> Self {
        let channels = Mutex::new(Channels { topics: HashMap::new(), generation: 0, epoch, last_pos: 0 });
        Fanout { channels, metrics }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Channels> {
        // Every update is one insert/remove or one epoch switch: a panic elsewhere cannot leave it inconsistent.
        self.channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current generation and its epoch.
    pub(crate) fn current(&self) -> (u64, String) {
        let c = self.lock();
        (c.generation, c.epoch.clone())
    }

    /// A receiver for `name` and the rest of [`Joined`]: where it joins is the store-wide watermark if the store has
    /// `one_sequence`, else the topic's own (0 for a new channel: the caller reads the store).
    fn subscribe(&self, name: &str, capacity: usize, one_sequence: bool) -> Joined {
        let mut c = self.lock();
        let existing = c.topics.get(name);
        let joined = (c.generation, if one_sequence { c.last_pos } else { existing.map_or(0, |ch| ch.last_pos) });
        if let Some(ch) = existing {
            return (ch.tx.subscribe(), Arc::clone(&ch.ready), joined, None);
        }
        let (tx, rx) = broadcast::channel(capacity.max(1));
        let ready = Arc::new(Notify::new());
        c.topics.insert(name.to_owned(), Channel { tx: tx.clone(), ready: Arc::clone(&ready), last_pos: 0 });
        (rx, ready, joined, Some(tx))
    }

    /// Removes `name`'s channel if nobody listens to it.
    fn remove_if_idle(&self, name: &str) -> bool {
        let mut c = self.lock();
        if c.topics.get(name).is_some_and(|ch| ch.tx.receiver_count() == 0) {
            c.topics.remove(name);
            return true;
        }
        false
    }

    fn subscribers(&self, name: &str) -> usize {
        self.lock().topics.get(name).map_or(0, |ch| ch.tx.receiver_count())
    }

    /// Positions up to `pos` count as delivered for streams joining from now on (see [`Fanout::subscribe`]).
    fn advance(&self, pos: u64) {
        let mut c = self.lock();
        c.last_pos = c.last_pos.max(pos);
    }

    /// Sends a commit's appended events, in commit order, then wakes each topic's streams once (after the lock is
    /// released: a woken stream finds every event of the commit already in its channel).
    fn deliver(&self, appended: impl IntoIterator<Item = (impl AsRef<str>, Arc<Event>)>) {
        let mut woken: Vec<Arc<Notify>> = Vec::new();
        {
            let mut c = self.lock();
            let generation = c.generation;
            for (name, event) in appended {
                c.last_pos = c.last_pos.max(event.pos);
                if let Some(ch) = c.topics.get_mut(name.as_ref()) {
                    ch.last_pos = ch.last_pos.max(event.pos);
                    let _ = ch.tx.send(Delivery { generation, event: Some(event) });
                    if !woken.iter().any(|w| Arc::ptr_eq(w, &ch.ready)) {
                        woken.push(Arc::clone(&ch.ready));
                    }
                }
            }
        }
        for ready in woken {
            ready.notify_waiters();
        }
    }

    /// The events delivered from now on are of `epoch`: a new generation, announced on every channel (in order with
    /// the events, under the one lock).
    fn new_epoch(&self, epoch: &str) {
        let mut c = self.lock();
        if c.epoch == epoch {
            return;
        }
        tracing::warn!(old = %c.epoch, new = %epoch, streams = c.topics.len(), "new epoch: open streams get a replay-gap");
        Metrics::inc(&self.metrics.epoch_changes, 1);
        c.generation += 1;
        c.epoch = epoch.to_owned();
        c.last_pos = 0;
        let generation = c.generation;
        for ch in c.topics.values_mut() {
            ch.last_pos = 0;
            let _ = ch.tx.send(Delivery { generation, event: None });
            ch.ready.notify_waiters();
        }
    }

    /// Drops the channels nobody listens to; returns their topics.
    fn prune(&self) -> Vec<String> {
        let mut gone = Vec::new();
        self.lock().topics.retain(|name, ch| {
            let keep = ch.tx.receiver_count() > 0;
            if !keep {
                gone.push(name.clone());
            }
            keep
        });
        gone
    }
}

impl LiveSink for Fanout {
    fn event(&self, topic: &str, event: Arc<Event>) {
        // A shared store hands over one event at a time: each is its own wake-up.
        self.deliver([(topic, event)]);
    }

    fn epoch(&self, epoch: &str) {
        self.new_epoch(epoch);
    }
}

/// One publisher's writes: always committed together, in one store batch (a batch publish is all or nothing).
struct Request {
    writes: Vec<Write>,
    reply: oneshot::Sender<Result<Vec<Outcome>, StoreError>>,
}

/// Broadcast, per-user and job topics over one store; see the [module docs](self).
#[derive(Debug)]
pub struct Hub {
    store: Arc<dyn Store>,
    /// The store delivers every instance's events itself (Redis): the committer then does not deliver.
    shared: bool,
    /// Serializes starting and stopping the store's live delivery of a topic (shared stores only).
    watching: Arc<tokio::sync::Mutex<()>>,
    fanout: Arc<Fanout>,
    queue: mpsc::Sender<Request>,
    health: Arc<Mutex<Option<String>>>,
    options: HubOptions,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request").field("writes", &self.writes).finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub over `store`; starts its committer task (call within a tokio runtime).
    pub fn new(store: Arc<dyn Store>, options: HubOptions, metrics: Arc<Metrics>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        let fanout = Arc::new(Fanout::new(store.epoch(), Arc::clone(&metrics)));
        let health = Arc::new(Mutex::new(None));
        let shared = store.attach_live(Arc::clone(&fanout) as Arc<dyn LiveSink>);
        let deliver = !shared;
        spawn_committer(commit_loop(
            rx,
            Arc::clone(&store),
            Arc::clone(&fanout),
            Arc::clone(&health),
            Arc::clone(&metrics),
            deliver,
        ));
        Hub { store, shared, watching: Arc::default(), fanout, queue, health, options, metrics }
    }

    /// The store's epoch.
    pub fn epoch(&self) -> String {
        self.store.epoch()
    }

    /// The epoch as the data has it now (a shared store asks it: a wiped Redis shows at once).
    pub async fn refresh_epoch(&self) -> Result<String, StoreError> {
        self.store.refresh_epoch().await
    }

    /// Whether the store is shared with other server instances (they may run jobs and publish too).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// `None` while writes succeed; the last write error after a failure, until a write succeeds again.
    pub fn write_error(&self) -> Option<String> {
        self.health.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Why the store cannot deliver live events now (shared stores), if so.
    pub fn live_error(&self) -> Option<String> {
        self.store.live_error()
    }

    /// The retention of `name`: jobs keep everything (until the job is deleted); others `history` and the age limit.
    pub fn retention(&self, name: &str) -> Retention {
        if Kind::of(name) == Kind::Job {
            Retention::default()
        } else {
            Retention { max_events: Some(self.options.history), max_age_ms: self.options.max_age_ms }
        }
    }

    fn live_buffer(&self, name: &str) -> usize {
        // Per-user topics are many: a smaller live buffer keeps their memory low.
        match Kind::of(name) {
            Kind::User => self.options.client_buffer.min(128),
            Kind::Job => self.options.client_buffer.min(256),
            Kind::Broadcast | Kind::Other => self.options.client_buffer,
        }
    }

    /// Queues `write` for the next batch and waits until it is committed.
    pub async fn commit(&self, write: Write) -> Result<Outcome, StoreError> {
        let mut outcomes = self.commit_all(vec![write]).await?;
        outcomes.pop().ok_or_else(|| StoreError::Invalid("the store answered no outcome".into()))
    }

    /// Queues `writes` for the next batch — all of them in the same one, in order (one commit: all or nothing) — and
    /// waits until they are committed; one outcome per write.
    pub async fn commit_all(&self, writes: Vec<Write>) -> Result<Vec<Outcome>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let expected = writes.len();
        self.queue
            .send(Request { writes, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the committer has stopped".into()))?;
        let outcomes = answer.await.map_err(|_| StoreError::Unavailable("the committer has stopped".into()))??;
        if outcomes.len() != expected {
            return Err(StoreError::Invalid(format!("{} outcomes for {expected} writes", outcomes.len())));
        }
        Ok(outcomes)
    }

    /// Publishes `payload` to `name`; returns once it is stored (and sent to live subscribers).
    pub async fn publish(&self, name: &str, payload: Payload) -> Result<Published, PublishError> {
        self.publish_keyed(name, payload, None).await
    }

    /// [`Hub::publish`] under an `Idempotency-Key` ([`idempotency`](crate::store::idempotency)): a key seen within its
    /// window answers the first publish again and publishes nothing ([`Published::repeated`]); with another request,
    /// [`PublishError::KeyReused`]. Without a key, exactly [`Hub::publish`] (no extra store work).
    pub async fn publish_keyed(
        &self,
        name: &str,
        payload: Payload,
        key: Option<crate::store::idempotency::Key>,
    ) -> Result<Published, PublishError> {
        let keys = key.map(|k| vec![k]);
        let mut published = self.publish_batch(name, vec![payload], keys).await?;
        published.pop().ok_or_else(|| StoreError::Invalid("the store answered no outcome".into()).into())
    }

    /// Publishes every payload of `payloads` to `name`, in order, as one commit: all are stored or none (nothing is
    /// stored if one is invalid). With `keys` (one per payload, see [`crate::store::idempotency`]), all written in the
    /// same commit: a batch whose keys were seen answers the first publishes again ([`Published::repeated`]).
    pub async fn publish_batch(
        &self,
        name: &str,
        payloads: Vec<Payload>,
        keys: Option<Vec<crate::store::idempotency::Key>>,
    ) -> Result<Vec<Published>, PublishError> {
        for payload in &payloads {
            payload.validate()?;
        }
        let names: Vec<Option<String>> = payloads.iter().map(|p| p.event.clone()).collect();
        let retention = self.retention(name);
        let topic = Topic::from(name);
        let appends = payloads.into_iter().map(|payload| Write::Append {
            topic: topic.clone(),
            payload,
            retention,
            mark_offline: false,
        });
        let writes: Vec<Write> = match keys {
            Some(keys) if keys.len() == names.len() => {
                appends.zip(keys).map(|(append, key)| Write::Keyed { key, write: Box::new(append) }).collect()
            }
            Some(keys) => {
                return Err(StoreError::Invalid(format!("{} keys for {} events", keys.len(), names.len())).into())
            }
            None => appends.collect(),
        };
        let outcomes = self.commit_all(writes).await?;
        // The keys of one batch are written and expire together: seen all or none. A mix would be a store bug: said.
        let appended = outcomes.iter().filter(|o| matches!(o, Outcome::Appended { .. })).count();
        if appended != 0 && appended != outcomes.len() {
            return Err(StoreError::Invalid("a batch's idempotency keys were found in part".into()).into());
        }
        if appended == 0 && outcomes.iter().any(|o| matches!(o, Outcome::Repeated(_))) {
            Metrics::inc(&self.metrics.idempotent_replays, 1);
        }
        let epoch = self.epoch();
        outcomes
            .into_iter()
            .zip(names)
            .map(|(outcome, event_name)| self.published(&epoch, outcome, event_name))
            .collect()
    }

    /// The answer to one append of a publish (`epoch`: the store's).
    fn published(&self, epoch: &str, outcome: Outcome, event_name: Option<String>) -> Result<Published, PublishError> {
        match outcome {
            Outcome::Appended { event, data } => {
                let id = event_id::format(epoch, event.pos);
                Ok(Published { event, id, data, repeated: false })
            }
            Outcome::Repeated(first) => {
                let (event, data) = crate::store::encode_event(
                    epoch,
                    first.position,
                    &Payload::new(event_name.as_deref(), first.data),
                )?;
                let id = event_id::format(epoch, event.pos);
                Ok(Published { event: Arc::new(event), id, data, repeated: true })
            }
            Outcome::KeyReused => Err(PublishError::KeyReused),
            other => Err(StoreError::Invalid(format!("append answered {other:?}")).into()),
        }
    }

    /// Subscribes to `name` from `start`; see [`Start`] and [`Subscription`].
    pub async fn subscribe(&self, name: &str, start: Start) -> Result<Subscription, StoreError> {
        let (rx, ready, (generation, joined)) = if self.shared {
            let _watching = self.watching.lock().await;
            let (rx, ready, joined, created) = self.fanout.subscribe(name, self.live_buffer(name), false);
            if let Some(tx) = created {
                // When the last local subscriber leaves, stop the store's delivery at once: a shared store counts
                // the instances that receive an event to decide whether a user was offline.
                let (store, fanout, watching) =
                    (Arc::clone(&self.store), Arc::clone(&self.fanout), Arc::clone(&self.watching));
                tokio::spawn(unwatch_when_idle(store, fanout, watching, name.to_owned(), tx));
            }
            self.store.watch(name).await?;
            (rx, ready, joined)
        } else {
            let (rx, ready, joined, _) = self.fanout.subscribe(name, self.live_buffer(name), true);
            (rx, ready, joined)
        };
        let (gap, replay, after) = match start {
            // A shared store's positions may be ordered per topic only: a live start on a channel that has delivered
            // nothing yet is placed by the topic's own sequence (one read); otherwise by the channel (`joined`).
            Start::Live if self.shared && joined == 0 => {
                (None, Vec::new(), self.store.read(name, 0, 0).await?.last_position)
            }
            start => self.start(name, start).await?,
        };
        // A live-only stream has seen nothing after what was delivered when it joined (so a catch-up starts there).
        let after = if replay.is_empty() && gap.is_none() { after.max(joined) } else { after };
        // The epoch the replay was read in (a shared store learns a new one on reads, too).
        let epoch = self.epoch();
        let feed = LiveFeed::new(rx, ready, Arc::clone(&self.store), Arc::clone(&self.fanout), name, generation, epoch);
        Ok(Subscription { gap, replay, after, rx: feed })
    }

    /// The gap signal, replay and position a new subscription starts with.
    async fn start(&self, name: &str, start: Start) -> Result<(Option<Gap>, Vec<Arc<Event>>, u64), StoreError> {
        let requested = match &start {
            Start::After(raw) => Some(raw.clone()),
            _ => None,
        };
        let (gap, replay, after, corrupt) = self.start_reading(name, start).await?;
        if corrupt.is_empty() {
            return Ok((gap, replay, after));
        }
        // Records left out because they failed verification: the client must know, whatever else it is told.
        Metrics::inc(&self.metrics.store_corrupt_records, corrupt.len() as u64);
        let epoch = self.epoch();
        let (requested, resume_id) = match gap {
            Some(g) => (g.requested, g.resume_id),
            None => (requested.unwrap_or_else(|| event_id::format(&epoch, after)), event_id::format(&epoch, after)),
        };
        let gap = Gap {
            requested,
            oldest: replay.first().map(|e| event_id::format(&epoch, e.pos)),
            resume_id,
            epoch,
            reason: GapReason::Corrupt,
        };
        Ok((Some(gap), replay, after))
    }

    /// [`Self::start`] before the corrupt records are accounted for; also the positions of those left out.
    async fn start_reading(
        &self,
        name: &str,
        start: Start,
    ) -> Result<(Option<Gap>, Vec<Arc<Event>>, u64, Vec<u64>), StoreError> {
        match start {
            Start::Live => Ok((None, Vec::new(), 0, Vec::new())),
            Start::All => {
                let snap = self.store.read(name, 0, MAX_REPLAY).await?;
                Ok((None, snap.events, 0, snap.corrupt))
            }
            Start::Offline => {
                let Outcome::Offline(Some(from)) = self.commit(Write::TakeOffline { topic: name.into() }).await? else {
                    return Ok((None, Vec::new(), 0, Vec::new()));
                };
                let snap = self.store.read(name, from - 1, MAX_REPLAY).await?;
                let floor = snap.topic.map_or(0, |t| t.trimmed_upto);
                // Offline notifications pushed out by retention before delivery: say so.
                let gap = (from <= floor)
                    .then(|| self.gap(&snap, event_id::format(&self.epoch(), from - 1), GapReason::Expired));
                let after = gap.as_ref().map_or(from - 1, |_| floor);
                Ok((gap, snap.events, after, snap.corrupt))
            }
            Start::After(raw) => {
                let parsed = event_id::parse(&raw);
                let requested = parsed.as_ref().map_or(0, |(_, p)| *p);
                let snap = self.store.read(name, requested, MAX_REPLAY).await?;
                // Compared after the read: a shared store may have learnt a new epoch from it.
                let reason = match parsed {
                    None => Some(GapReason::Malformed),
                    Some((e, _)) if e != self.epoch() => Some(GapReason::OtherEpoch),
                    Some(_) => judge(&snap, requested),
                };
                match reason {
                    None => Ok((None, snap.events, requested, snap.corrupt)),
                    Some(reason) => {
                        let snap = if requested == 0 { snap } else { self.store.read(name, 0, MAX_REPLAY).await? };
                        let gap = self.gap(&snap, raw, reason);
                        let after = resume_position(&snap);
                        Ok((Some(gap), snap.events, after, snap.corrupt))
                    }
                }
            }
        }
    }

    fn gap(&self, snap: &Snapshot, requested: String, reason: GapReason) -> Gap {
        let epoch = self.epoch();
        Gap {
            requested,
            oldest: snap.events.first().map(|e| event_id::format(&epoch, e.pos)),
            resume_id: event_id::format(&epoch, resume_position(snap)),
            epoch,
            reason,
        }
    }

    /// Live subscribers of `name` now.
    pub fn subscribers(&self, name: &str) -> usize {
        self.fanout.subscribers(name)
    }

    /// Drops the live channels nobody listens to (and stops the store's live delivery of their topics).
    pub async fn prune(&self) {
        if self.shared {
            let _watching = self.watching.lock().await;
            for name in self.fanout.prune() {
                self.store.unwatch(&name).await;
            }
        } else {
            self.fanout.prune();
        }
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

async fn unwatch_when_idle(
    store: Arc<dyn Store>,
    fanout: Arc<Fanout>,
    watching: Arc<tokio::sync::Mutex<()>>,
    name: String,
    tx: broadcast::Sender<Delivery>,
) {
    loop {
        tx.closed().await;
        let _watching = watching.lock().await;
        if tx.receiver_count() > 0 {
            continue;
        }
        drop(tx);
        if fanout.remove_if_idle(&name) {
            store.unwatch(&name).await;
        }
        return;
    }
}

/// Whether a client that has position `requested` of this snapshot's topic may have missed events.
pub(crate) fn judge(snap: &Snapshot, requested: u64) -> Option<GapReason> {
    if requested > snap.last_position {
        return Some(GapReason::Unknown);
    }
    match &snap.topic {
        // Retention removed events the client has not seen.
        Some(t) if requested < t.trimmed_upto => Some(GapReason::Expired),
        // The id predates this topic, and some deleted topic (maybe an earlier one of the same name) had events
        // after it.
        Some(t) if requested < t.created_after && requested < snap.deleted_upto => Some(GapReason::Expired),
        None if requested < snap.deleted_upto => Some(GapReason::Expired),
        _ => None,
    }
}

/// The position just before a snapshot's retained history.
pub(crate) fn resume_position(snap: &Snapshot) -> u64 {
    match (&snap.topic, snap.events.first()) {
        (Some(t), Some(_)) => t.floor(),
        (Some(t), None) => t.last.max(t.floor()),
        (None, _) => snap.last_position,
    }
}

/// Runs the committer on its own thread (a current-thread runtime), or as a task if no thread can be started.
///
/// Why: the committer's wakes (each publisher's answer, then the streams) made from a worker thread queue behind
/// every stream task already runnable there, so under fan-out a publisher was answered only after a whole round of
/// stream writes, and each write carried one or two events. Woken from outside, a task goes through the runtime's
/// global queue, which every worker checks every few dozen tasks: publishes flow while streams write, and each
/// stream write carries more events (measured in bench/README, "CPU per delivery").
fn spawn_committer(committer: impl std::future::Future<Output = ()> + Send + 'static) {
    let committer = Arc::new(Mutex::new(Some(committer)));
    let started = tokio::runtime::Builder::new_current_thread().enable_all().build().and_then(|runtime| {
        let mine = Arc::clone(&committer);
        std::thread::Builder::new().name("committer".into()).spawn(move || {
            crate::store::mark_writer_thread();
            if let Some(committer) = mine.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
                runtime.block_on(committer);
            }
        })
    });
    if let Err(e) = started {
        tracing::warn!(error = %e, "no thread for the committer; it runs as a task");
        if let Some(committer) = committer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            tokio::spawn(committer);
        }
    }
}

async fn commit_loop(
    mut rx: mpsc::Receiver<Request>,
    store: Arc<dyn Store>,
    fanout: Arc<Fanout>,
    health: Arc<Mutex<Option<String>>>,
    metrics: Arc<Metrics>,
    deliver: bool,
) {
    // A request that did not fit the last batch: it opens the next one (a request is never split).
    let mut held: Option<Request> = None;
    loop {
        let first = match held.take() {
            Some(r) => r,
            None => match rx.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        let mut requests = vec![first];
        let mut count = requests[0].writes.len();
        while count < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) if count + r.writes.len() > MAX_BATCH => {
                    held = Some(r);
                    break;
                }
                Ok(r) => {
                    count += r.writes.len();
                    requests.push(r);
                }
                Err(_) => break,
            }
        }
        commit_batch(requests, count, &*store, &fanout, &health, &metrics, deliver).await;
    }
}

/// The topic a write appends to, if any; decides an append's offline mark on the way (`shared`: the store delivers
/// live events itself).
fn appended_topic(write: &mut Write, fanout: &Fanout, shared: bool) -> Option<Topic> {
    match write {
        Write::Append { topic: name, mark_offline, .. } => {
            // Decided here, in queue order with the subscribers' TakeOffline, so no notification is both delivered
            // live and kept as offline (or neither). A shared store decides with what it knows (whether any
            // instance received it live): a local subscriber whose store subscription is not confirmed yet must not
            // veto the mark, or an event published in between would be neither live nor offline for it.
            *mark_offline = name.kind() == Kind::User && (shared || fanout.subscribers(name) == 0);
            Some(name.clone())
        }
        Write::EndJob { id, .. } => Some(topic::job(id)),
        Write::Keyed { write, .. } => appended_topic(write, fanout, shared),
        _ => None,
    }
}

/// Commits the writes of `requests` as one store batch, answers each request, then delivers what was appended.
///
/// Publishers are answered before live delivery: delivering wakes every subscriber's task, and a publisher woken
/// after them waits for all of them to run before its answer is written (at 1,000 streams, a whole fan-out round per
/// publish). The events are stored when the answers go out, so answering first promises nothing untrue; delivery
/// follows in the same step, in commit order.
async fn commit_batch(
    requests: Vec<Request>,
    count: usize,
    store: &dyn Store,
    fanout: &Fanout,
    health: &Mutex<Option<String>>,
    metrics: &Metrics,
    deliver: bool,
) {
    let mut writes = Vec::with_capacity(count);
    let mut topics = Vec::with_capacity(count);
    let mut replies = Vec::with_capacity(requests.len());
    for Request { writes: mut ws, reply } in requests {
        replies.push((reply, ws.len()));
        for w in &mut ws {
            topics.push(appended_topic(w, fanout, !deliver));
        }
        writes.append(&mut ws);
    }
    match store.write(writes).await {
        Ok(outcomes) if outcomes.len() == topics.len() => {
            Metrics::inc(&metrics.store_commits, 1);
            *health.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            let mut appended = Vec::new();
            for (outcome, name) in outcomes.iter().zip(topics) {
                if let (Outcome::Appended { event, .. }, Some(name)) = (outcome, name) {
                    Metrics::inc(&metrics.published, 1);
                    if deliver {
                        appended.push((name, Arc::clone(event)));
                    }
                }
            }
            // A stream that joins once a publisher has its answer must count these events as delivered before it
            // joined (it reads them from the store, not live): the watermark moves before the answers go out.
            if let Some(last) = appended.iter().map(|(_, e)| e.pos).max() {
                fanout.advance(last);
            }
            let mut outcomes = outcomes.into_iter();
            for (reply, n) in replies {
                let _ = reply.send(Ok(outcomes.by_ref().take(n).collect()));
            }
            fanout.deliver(appended);
        }
        result => {
            let e = match result {
                Err(e) => e,
                Ok(o) => StoreError::Invalid(format!("the store answered {} outcomes for {} writes", o.len(), count)),
            };
            *health.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
            Metrics::inc(&metrics.store_errors, 1);
            for (reply, _) in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
