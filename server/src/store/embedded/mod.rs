//! The embedded durable store (the default): one [redb](https://docs.rs/redb) file, `<data dir>/events.redb`.
//!
//! redb is pure Rust with a stable file format and checksummed commits: a commit is on disk (fsync'd) when it
//! returns, and a crash at any point leaves the last committed state. Each [`Store::write`] batch is one write
//! transaction, so concurrent publishes share one commit (group commit, see [`crate::hub`]).
//!
//! Tables: `store` (the epoch), `counters` (`last_position`, `deleted_upto`, `user_topics`), `topics` (each topic's
//! [`TopicState`], JSON), `checked_events` (`(topic, position)` → `(ms, checksum, frame)`), `activity` (`(ms, topic)`
//! of per-user topics, least recently used first) and `jobs` ([`JobRecord`], JSON).
//!
//! **Integrity.** The file is verified page by page at every open and refused if it fails (module `opening`); each event
//! record carries a checksum verified on every read (module `record`): a record that fails is never replayed, the reader
//! reports it in [`Snapshot::corrupt`] (the hub turns it into a `replay-gap` with reason `corrupt`) and logs an error.
//! [`salvage`] copies what verifies into a new file. A file written before event checksums existed (table `events`)
//! is converted at open, once verified.
//!
//! After a failed write (disk full, I/O error) redb refuses further use of the open file; the next write reopens it,
//! which brings back the last committed state, so publishing recovers by itself once the disk works again.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use typed_eventsource_server::store::{embedded::EmbeddedStore, Payload, Retention, Store, StoreOptions, Write, Outcome};
//! let dir = std::env::temp_dir().join(format!("doc-embedded-{}", std::process::id()));
//! let store = EmbeddedStore::open(&dir, StoreOptions::default()).unwrap();
//! let append = Write::Append { topic: "b".into(), payload: Payload::new(None, "hi"), retention: Retention::default(), mark_offline: false };
//! let out = store.write(vec![append]).await.unwrap();
//! assert!(matches!(&out[0], Outcome::Appended { event, .. } if event.pos == 1));
//! assert_eq!(store.read("b", 0, 10).await.unwrap().events.len(), 1);
//! # drop(store); std::fs::remove_dir_all(&dir).unwrap();
//! # }
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use redb::{
    Database, ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _, Table, TableDefinition,
    TableHandle as _, WriteTransaction,
};

mod opening;
mod record;
pub mod salvage;
#[cfg(test)]
mod tests;

pub use opening::OpenError;

use super::{
    encode_event, topic, BoxFuture, JobRecord, Outcome, Snapshot, Store, StoreError, StoreOptions, TopicState, Write,
};
use crate::store::Event;

const STORE: TableDefinition<&str, &str> = TableDefinition::new("store");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
const TOPICS: TableDefinition<&str, &[u8]> = TableDefinition::new("topics");
/// `(topic, position)` → `(ms, checksum, frame)`; the checksum: [`record::checksum`].
const EVENTS: TableDefinition<(&str, u64), (u64, u64, &[u8])> = TableDefinition::new("checked_events");
/// The events table of files written before event checksums: converted into [`EVENTS`] at open.
const LEGACY_EVENTS: TableDefinition<(&str, u64), (u64, &[u8])> = TableDefinition::new("events");
const ACTIVITY: TableDefinition<(u64, &str), ()> = TableDefinition::new("activity");
const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");

const LAST_POSITION: &str = "last_position";
const DELETED_UPTO: &str = "deleted_upto";
const USER_TOPICS: &str = "user_topics";
const USER_BYTES: &str = "user_bytes";

/// The name of the data file inside the data dir.
pub const FILE_NAME: &str = "events.redb";

/// How the database is (re)opened.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Memory,
}

/// The redb store; see the [module docs](self). Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    source: Source,
    /// `None` after a failed write until the next write reopens the file.
    db: RwLock<Option<Arc<Database>>>,
    epoch: String,
    options: StoreOptions,
    /// The last topic visited by a sweep.
    sweep_cursor: Mutex<String>,
}

fn storage<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir`, verified (module `opening`). A damaged, empty, foreign, inaccessible or
    /// busy file is refused with a message ([`OpenError`]) that names it and says what to do.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        let shown = path.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.display().to_string(),
            detail: format!("cannot create the data dir: {e}"),
        })?;
        let db = opening::open(&path).map_err(|e| StoreError::Open { path: shown.clone(), detail: e.to_string() })?;
        Self::with_database(Source::File(path), db, options)
            .map_err(|e| StoreError::Open { path: shown, detail: e.to_string() })
    }

    /// A store on redb's in-memory backend (the `memory` store).
    pub(crate) fn in_memory(options: StoreOptions) -> Result<Self, StoreError> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()).map_err(storage)?;
        Self::with_database(Source::Memory, db, options)
    }

    fn with_database(source: Source, db: Database, options: StoreOptions) -> Result<Self, StoreError> {
        let epoch = init(&db)?;
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                source,
                db: RwLock::new(Some(Arc::new(db))),
                epoch,
                options,
                sweep_cursor: Mutex::new(String::new()),
            }),
        })
    }
}

/// Reads the epoch, or creates the tables and a new epoch in a new file.
fn init(db: &Database) -> Result<String, StoreError> {
    let txn = begin_write(db)?;
    let epoch = {
        let mut store = txn.open_table(STORE).map_err(storage)?;
        let existing = store.get("epoch").map_err(storage)?.map(|v| v.value().to_owned());
        match existing {
            Some(e) => e,
            None => {
                let counters = txn.open_table(COUNTERS).map_err(storage)?;
                if counters.len().map_err(storage)? > 0 {
                    return Err(StoreError::Invalid("the file has events but no epoch".into()));
                }
                let e = super::new_epoch()?;
                store.insert("epoch", e.as_str()).map_err(storage)?;
                e
            }
        }
    };
    for t in [TOPICS, JOBS] {
        txn.open_table(t).map_err(storage)?;
    }
    txn.open_table(EVENTS).map_err(storage)?;
    txn.open_table(ACTIVITY).map_err(storage)?;
    convert_legacy_events(&txn)?;
    txn.commit().map_err(storage)?;
    Ok(epoch)
}

/// A write transaction with two-phase commit (see [`opening`] for why) and quick repair: each commit records the
/// allocator state, so that [`salvage`] can open a file left by a crash without redb's repair (which refuses a
/// damaged file as a whole).
fn begin_write(db: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = db.begin_write().map_err(storage)?;
    txn.set_two_phase_commit(true);
    txn.set_quick_repair(true);
    Ok(txn)
}

/// Moves the events of a file written before event checksums into the checked table (the file was verified by the
/// open just before, so its bytes are the ones written).
fn convert_legacy_events(txn: &WriteTransaction) -> Result<(), StoreError> {
    let exists = txn.list_tables().map_err(storage)?.any(|t| t.name() == LEGACY_EVENTS.name());
    if !exists {
        return Ok(());
    }
    let mut converted = 0u64;
    {
        let legacy = txn.open_table(LEGACY_EVENTS).map_err(storage)?;
        let mut events = txn.open_table(EVENTS).map_err(storage)?;
        for item in legacy.iter().map_err(storage)? {
            let (k, v) = item.map_err(storage)?;
            let ((name, pos), (ms, frame)) = (k.value(), v.value());
            events.insert((name, pos), (ms, record::checksum(name, pos, ms, frame), frame)).map_err(storage)?;
            converted += 1;
        }
    }
    txn.delete_table(LEGACY_EVENTS).map_err(storage)?;
    tracing::info!(events = converted, "stored events converted to checksummed records");
    Ok(())
}

impl Inner {
    /// The open database, reopening the file after a failed write.
    fn database(&self) -> Result<Arc<Database>, StoreError> {
        if let Some(db) = self.db.read().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
            return Ok(Arc::clone(db));
        }
        let mut slot = self.db.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(db) = slot.as_ref() {
            return Ok(Arc::clone(db));
        }
        let Source::File(path) = &self.source else {
            return Err(StoreError::Unavailable("the in-memory store failed".into()));
        };
        // Fails while a reader still holds the old handle (the file lock): the next write tries again.
        let db =
            opening::open(path).map_err(|e| StoreError::Unavailable(format!("reopening {}: {e}", path.display())))?;
        let stored = init(&db)?;
        if stored != self.epoch {
            return Err(StoreError::Invalid(format!("{} was replaced while the server ran", path.display())));
        }
        tracing::info!(path = %path.display(), "data file reopened after a failed write");
        let db = Arc::new(db);
        *slot = Some(Arc::clone(&db));
        Ok(db)
    }

    fn forget_database(&self) {
        if matches!(self.source, Source::File(_)) {
            *self.db.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        }
    }

    /// The write transaction of a batch: on a file, [`begin_write`]'s; on the in-memory backend a plain one, since
    /// two-phase commit and quick repair only serve a file opened again after a crash (quick repair's record of the
    /// allocator state was about a fifth of a one-event commit: bench/README, "Writes on the committer's thread").
    fn begin_batch(&self, db: &Database) -> Result<WriteTransaction, StoreError> {
        match self.source {
            Source::File(_) => begin_write(db),
            Source::Memory => db.begin_write().map_err(storage),
        }
    }

    fn write_blocking(&self, batch: Vec<Write>) -> Result<Vec<Outcome>, StoreError> {
        let db = self.database()?;
        let result = (|| {
            let txn = self.begin_batch(&db)?;
            let outcomes = Batch::new(&txn, self)?.apply(batch)?;
            txn.commit().map_err(storage)?;
            Ok(outcomes)
        })();
        if let Err(e) = &result {
            tracing::warn!(error = %e, "a write to the store failed; nothing of its batch was stored");
            drop(db);
            self.forget_database();
        }
        result
    }

    fn read_blocking(&self, name: &str, after: u64, limit: usize) -> Result<Snapshot, StoreError> {
        let db = self.database()?;
        let txn = db.begin_read().map_err(storage)?;
        let topics = txn.open_table(TOPICS).map_err(storage)?;
        let counters = txn.open_table(COUNTERS).map_err(storage)?;
        let events = txn.open_table(EVENTS).map_err(storage)?;
        let state = match topics.get(name).map_err(storage)? {
            Some(v) => Some(decode_state(v.value())?),
            None => None,
        };
        let counter =
            |k: &str| -> Result<u64, StoreError> { Ok(counters.get(k).map_err(storage)?.map_or(0, |v| v.value())) };
        let (mut out, mut corrupt) = (Vec::new(), Vec::new());
        let (mut scanned_to, mut exhausted) = (after, true);
        if state.is_some() && limit > 0 {
            for item in events.range((name, after.saturating_add(1))..=(name, u64::MAX)).map_err(storage)? {
                if out.len() + corrupt.len() >= limit {
                    exhausted = false;
                    break;
                }
                let (k, v) = item.map_err(storage)?;
                let ((topic, pos), (ms, sum, frame)) = (k.value(), v.value());
                scanned_to = scanned_to.max(pos);
                if record::verifies(topic, pos, ms, sum, frame) && topic == name {
                    out.push(Arc::new(Event { pos, frame: Bytes::copy_from_slice(frame) }));
                } else {
                    tracing::error!(
                        topic = name,
                        position = pos,
                        "a stored event fails its checksum (the data file changed on disk): it is not replayed; \
                         clients get a replay-gap (corrupt). Stop the server and run `typed-eventsource-server \
                         salvage` (see the README)"
                    );
                    corrupt.push(pos);
                }
            }
        }
        let scanned = (out.len() + corrupt.len()) as u64;
        if let (Some(s), true) = (&state, exhausted && limit > 0) {
            if records_missing(s, after, scanned_to, scanned) {
                tracing::error!(
                    topic = name,
                    after,
                    "stored events are missing from the data file (it changed on disk while the server ran): \
                     clients get a replay-gap (corrupt). Stop the server and run `typed-eventsource-server salvage` \
                     (see the README)"
                );
                corrupt.push(s.last);
            }
        }
        Ok(Snapshot {
            topic: state,
            last_position: counter(LAST_POSITION)?,
            deleted_upto: counter(DELETED_UPTO)?,
            events: out,
            corrupt,
        })
    }

    /// Every job, or only `id`.
    fn jobs_blocking(&self, id: Option<&str>) -> Result<Vec<JobRecord>, StoreError> {
        let db = self.database()?;
        let txn = db.begin_read().map_err(storage)?;
        let jobs = txn.open_table(JOBS).map_err(storage)?;
        let decode =
            |bytes: &[u8]| serde_json::from_slice(bytes).map_err(|e| StoreError::Invalid(format!("job record: {e}")));
        let mut out = Vec::new();
        if let Some(id) = id {
            if let Some(v) = jobs.get(id).map_err(storage)? {
                out.push(decode(v.value())?);
            }
            return Ok(out);
        }
        for item in jobs.iter().map_err(storage)? {
            let (_, v) = item.map_err(storage)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }
}

/// Whether a scan of a topic's records after `after`, which ran to the end of the table's range (`scanned` records,
/// the highest at `scanned_to`), missed records its state says are kept: the newest one (never removed by retention)
/// or, from below the floor (every record kept lies after it), any. redb walks its tree without checking pages, so a
/// damaged page can end a range early or skip a leaf; the state says what must be there.
fn records_missing(state: &TopicState, after: u64, scanned_to: u64, scanned: u64) -> bool {
    let newest_missing = state.count > 0 && state.last > after && scanned_to < state.last;
    let some_missing = after <= state.floor() && scanned < state.count;
    newest_missing || some_missing
}

fn decode_state(bytes: &[u8]) -> Result<TopicState, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Invalid(format!("topic state: {e}")))
}

fn encode_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// One write transaction's work: counters and touched topic states are cached and written back at the end. The
/// tables every append touches are opened once, for the transaction's life (redb refuses a second handle on an open
/// table, so every use in the batch goes through these).
struct Batch<'t> {
    txn: &'t WriteTransaction,
    inner: &'t Inner,
    events: Table<'t, (&'static str, u64), (u64, u64, &'static [u8])>,
    topics: Table<'t, &'static str, &'static [u8]>,
    activity: Table<'t, (u64, &'static str), ()>,
    now: u64,
    last_position: u64,
    deleted_upto: u64,
    user_topics: u64,
    /// Bytes of the events of every user topic.
    user_bytes: u64,
    states: HashMap<String, Option<TopicState>>,
}

impl<'t> Batch<'t> {
    fn new(txn: &'t WriteTransaction, inner: &'t Inner) -> Result<Self, StoreError> {
        let counters = txn.open_table(COUNTERS).map_err(storage)?;
        let counter =
            |k: &str| -> Result<u64, StoreError> { Ok(counters.get(k).map_err(storage)?.map_or(0, |v| v.value())) };
        Ok(Batch {
            txn,
            inner,
            events: txn.open_table(EVENTS).map_err(storage)?,
            topics: txn.open_table(TOPICS).map_err(storage)?,
            activity: txn.open_table(ACTIVITY).map_err(storage)?,
            now: inner.options.clock.now_ms(),
            last_position: counter(LAST_POSITION)?,
            deleted_upto: counter(DELETED_UPTO)?,
            user_topics: counter(USER_TOPICS)?,
            user_bytes: counter(USER_BYTES)?,
            states: HashMap::new(),
        })
    }

    fn state(&mut self, name: &str) -> Result<Option<TopicState>, StoreError> {
        if let Some(s) = self.states.get(name) {
            return Ok(*s);
        }
        let s = match self.topics.get(name).map_err(storage)? {
            Some(v) => Some(decode_state(v.value())?),
            None => None,
        };
        self.states.insert(name.to_owned(), s);
        Ok(s)
    }

    /// Caches `name`'s new state (written back by [`Batch::finish`]), without a new key when it is cached already.
    fn set_state(&mut self, name: &str, s: Option<TopicState>) {
        match self.states.get_mut(name) {
            Some(slot) => *slot = s,
            None => {
                self.states.insert(name.to_owned(), s);
            }
        }
    }

    fn apply(mut self, batch: Vec<Write>) -> Result<Vec<Outcome>, StoreError> {
        let mut out = Vec::with_capacity(batch.len());
        for w in batch {
            // Idempotency-Key records (store/idempotency.rs): a key seen within its window answers its first outcome.
            let (w, key) = match super::idempotency::recall(self.txn, w, self.now)? {
                super::idempotency::Recall::Seen(outcome) => {
                    out.push(outcome);
                    continue;
                }
                super::idempotency::Recall::Apply(w, key) => (w, key),
            };
            let outcome = match w {
                Write::Append { topic: name, payload, retention, mark_offline } => {
                    self.append(&name, &payload, retention, mark_offline)?
                }
                Write::TakeOffline { topic: name } => {
                    let taken = match self.state(&name)? {
                        Some(mut s) => {
                            let from = s.offline_from.take();
                            self.states.insert(name.into(), Some(s));
                            from
                        }
                        None => None,
                    };
                    Outcome::Offline(taken)
                }
                Write::StartJob { job, max_running } => self.start_job(&job, max_running)?,
                Write::DeleteJob { id } => {
                    self.delete_job(&id)?;
                    Outcome::Done
                }
                Write::EndJob { id, outcome, only_if_lease_before } => match self.job(&id)? {
                    Some(mut job)
                        if job.ended.is_none() && only_if_lease_before.is_none_or(|t| job.lease_until_ms < t) =>
                    {
                        let ping = super::Payload::new(Some("ping"), outcome.clone());
                        let appended = self.append(&topic::job(&id), &ping, super::Retention::default(), false)?;
                        job.ended = Some(super::JobEnd { at_ms: self.now, outcome });
                        self.put_job(&job)?;
                        appended
                    }
                    _ => Outcome::Done,
                },
                Write::RenewJob { id, until_ms } => {
                    if let Some(mut job) = self.job(&id)? {
                        job.lease_until_ms = until_ms;
                        self.put_job(&job)?;
                    }
                    Outcome::Done
                }
                Write::Sweep { budget } => self.sweep(budget)?,
                Write::Probe => Outcome::Done,
                Write::Keyed { .. } => return Err(StoreError::Invalid("an idempotency key inside another".into())),
            };
            if let Some(key) = &key {
                super::idempotency::remember(self.txn, key, &outcome, self.now, self.inner.options.idempotency_window)?;
            }
            out.push(outcome);
        }
        self.finish()?;
        Ok(out)
    }

    fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let jobs = self.txn.open_table(JOBS).map_err(storage)?;
        let raw = jobs.get(id).map_err(storage)?;
        raw.map(|v| serde_json::from_slice(v.value()).map_err(|e| StoreError::Invalid(format!("job record: {e}"))))
            .transpose()
    }

    /// See [`Write::StartJob`]: counted and stored in this write transaction, so admissions are one at a time.
    fn start_job(&mut self, job: &JobRecord, max_running: u64) -> Result<Outcome, StoreError> {
        let (mut running, mut kept, mut ended_first) = (0u64, 0u64, None::<(u64, String)>);
        for item in self.txn.open_table(JOBS).map_err(storage)?.iter().map_err(storage)? {
            let (_, v) = item.map_err(storage)?;
            let stored: JobRecord =
                serde_json::from_slice(v.value()).map_err(|e| StoreError::Invalid(format!("job record: {e}")))?;
            kept += 1;
            match &stored.ended {
                None if stored.lease_until_ms >= self.now => running += 1,
                Some(end) if ended_first.as_ref().is_none_or(|(at, _)| end.at_ms < *at) => {
                    ended_first = Some((end.at_ms, stored.id));
                }
                _ => {}
            }
        }
        if running >= max_running {
            return Ok(Outcome::Busy);
        }
        if let (true, Some((_, id))) = (kept >= max_running, ended_first) {
            self.delete_job(&id)?;
        }
        self.put_job(job)?;
        Ok(Outcome::Done)
    }

    fn delete_job(&mut self, id: &str) -> Result<(), StoreError> {
        self.txn.open_table(JOBS).map_err(storage)?.remove(id).map_err(storage)?;
        self.delete_topic(&topic::job(id))
    }

    fn put_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        self.txn
            .open_table(JOBS)
            .map_err(storage)?
            .insert(job.id.as_str(), encode_json(job)?.as_slice())
            .map_err(storage)?;
        Ok(())
    }

    fn append(
        &mut self,
        name: &str,
        payload: &super::Payload,
        retention: super::Retention,
        mark_offline: bool,
    ) -> Result<Outcome, StoreError> {
        let existing = self.state(name)?;
        let is_new = existing.is_none();
        let mut s = existing.unwrap_or(TopicState { created_after: self.last_position, ..TopicState::default() });
        let pos = self.last_position + 1;
        let (event, data) =
            encode_event(&self.inner.epoch, pos, payload).map_err(|e| StoreError::Invalid(format!("event: {e}")))?;
        // Stamps never go backwards within a topic, so age trimming can stop at the first young event.
        let now = self.now.max(s.last_append_ms);
        let sum = record::checksum(name, pos, now, &event.frame);
        self.events.insert((name, pos), (now, sum, &event.frame[..])).map_err(storage)?;
        self.last_position = pos;
        let size = event.frame.len() as u64;
        s.bytes = s.bytes.saturating_add(size);
        if topic::is_user(name) {
            self.user_bytes = self.user_bytes.saturating_add(size);
            if !is_new {
                self.activity.remove((s.last_append_ms, name)).map_err(storage)?;
            }
            self.activity.insert((now, name), ()).map_err(storage)?;
            if is_new {
                self.user_topics += 1;
            }
        }
        s.last = pos;
        s.count += 1;
        s.last_append_ms = now;
        s.retention = retention;
        if mark_offline && s.offline_from.is_none() {
            s.offline_from = Some(pos);
        }
        let is_user = topic::is_user(name);
        let max_events = retention.max_events.unwrap_or(u64::MAX);
        let max_bytes = if is_user { self.inner.options.max_user_topic_bytes } else { u64::MAX };
        if s.count > max_events || s.bytes > max_bytes {
            let events = &mut self.events;
            // The newest event is always kept, whatever its size.
            while s.count > max_events || (s.bytes > max_bytes && s.count > 1) {
                let first = events
                    .range((name, 0)..=(name, u64::MAX))
                    .map_err(storage)?
                    .next()
                    .transpose()
                    .map_err(storage)?
                    .map(|(k, _)| k.value().1);
                let Some(first) = first else { break };
                let removed = events.remove((name, first)).map_err(storage)?.map_or(0, |v| v.value().2.len() as u64);
                s.bytes = s.bytes.saturating_sub(removed);
                if is_user {
                    self.user_bytes = self.user_bytes.saturating_sub(removed);
                }
                s.trimmed_upto = first;
                s.count -= 1;
            }
        }
        self.set_state(name, Some(s));
        if is_user {
            self.cap_user_topics(name)?;
        }
        Ok(Outcome::Appended { event: Arc::new(event), data })
    }

    /// Deletes least recently used per-user topics past the count and byte caps (never `keep`, the one just appended
    /// to).
    fn cap_user_topics(&mut self, keep: &str) -> Result<(), StoreError> {
        let options = &self.inner.options;
        while self.user_topics > options.max_user_topics || self.user_bytes > options.max_user_history_bytes {
            let victim = {
                let mut found = None;
                for item in self.activity.iter().map_err(storage)?.take(2) {
                    let (k, _) = item.map_err(storage)?;
                    let name = k.value().1.to_owned();
                    if name != keep {
                        found = Some(name);
                        break;
                    }
                }
                found
            };
            let Some(victim) = victim else { break };
            self.delete_topic(&victim)?;
        }
        Ok(())
    }

    fn delete_topic(&mut self, name: &str) -> Result<(), StoreError> {
        let Some(s) = self.state(name)? else { return Ok(()) };
        self.events.retain_in((name, 0)..=(name, u64::MAX), |_, _| false).map_err(storage)?;
        if topic::is_user(name) {
            self.activity.remove((s.last_append_ms, name)).map_err(storage)?;
            self.user_topics = self.user_topics.saturating_sub(1);
            self.user_bytes = self.user_bytes.saturating_sub(s.bytes);
        }
        self.deleted_upto = self.deleted_upto.max(s.last);
        self.set_state(name, None);
        Ok(())
    }

    fn sweep(&mut self, budget: usize) -> Result<Outcome, StoreError> {
        let cursor = self.inner.sweep_cursor.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut visit = Vec::new();
        {
            let range = self
                .topics
                .range::<&str>((std::ops::Bound::Excluded(cursor.as_str()), std::ops::Bound::Unbounded))
                .map_err(storage)?;
            for item in range.take(budget) {
                let (k, v) = item.map_err(storage)?;
                visit.push((k.value().to_owned(), decode_state(v.value())?));
            }
        }
        let next_cursor =
            if visit.len() < budget { String::new() } else { visit.last().map(|(k, _)| k.clone()).unwrap_or_default() };
        let (mut removed_events, mut removed_topics) = (0u64, 0u64);
        for (name, stored) in visit {
            // A state touched earlier in this batch is newer than the one read above.
            let mut s = self.state(&name)?.unwrap_or(stored);
            let Some(max_age) = s.retention.max_age_ms else { continue };
            let cutoff = self.now.saturating_sub(max_age);
            let (old, old_bytes): (Vec<u64>, u64) = {
                let (mut old, mut bytes) = (Vec::new(), 0u64);
                for item in self.events.range((name.as_str(), 0)..=(name.as_str(), u64::MAX)).map_err(storage)? {
                    let (k, v) = item.map_err(storage)?;
                    if v.value().0 >= cutoff {
                        break;
                    }
                    old.push(k.value().1);
                    bytes += v.value().2.len() as u64;
                }
                (old, bytes)
            };
            if old.is_empty() {
                continue;
            }
            if u64::try_from(old.len()).unwrap_or(u64::MAX) >= s.count {
                removed_events += s.count;
                removed_topics += 1;
                self.delete_topic(&name)?;
                continue;
            }
            for pos in &old {
                self.events.remove((name.as_str(), *pos)).map_err(storage)?;
            }
            removed_events += u64::try_from(old.len()).unwrap_or(u64::MAX);
            s.count -= u64::try_from(old.len()).unwrap_or(u64::MAX);
            s.bytes = s.bytes.saturating_sub(old_bytes);
            if topic::is_user(&name) {
                self.user_bytes = self.user_bytes.saturating_sub(old_bytes);
            }
            s.trimmed_upto = s.trimmed_upto.max(old.last().copied().unwrap_or(0));
            self.states.insert(name, Some(s));
        }
        *self.inner.sweep_cursor.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = next_cursor;
        Ok(Outcome::Swept { events: removed_events, topics: removed_topics })
    }

    fn finish(mut self) -> Result<(), StoreError> {
        for (name, s) in &self.states {
            match s {
                Some(s) => {
                    self.topics.insert(name.as_str(), encode_json(s)?.as_slice()).map_err(storage)?;
                }
                None => {
                    self.topics.remove(name.as_str()).map_err(storage)?;
                }
            }
        }
        let mut counters = self.txn.open_table(COUNTERS).map_err(storage)?;
        counters.insert(LAST_POSITION, self.last_position).map_err(storage)?;
        counters.insert(DELETED_UPTO, self.deleted_upto).map_err(storage)?;
        counters.insert(USER_TOPICS, self.user_topics).map_err(storage)?;
        counters.insert(USER_BYTES, self.user_bytes).map_err(storage)?;
        Ok(())
    }
}

impl Store for EmbeddedStore {
    fn epoch(&self) -> String {
        self.inner.epoch.clone()
    }

    fn write(&self, batch: Vec<Write>) -> BoxFuture<'_, Result<Vec<Outcome>, StoreError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            if super::on_writer_thread() {
                // As with the blocking pool, a panic fails this batch and not the committer.
                return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.write_blocking(batch)))
                    .map_err(|_| StoreError::Unavailable("store writer: the write panicked".into()))?;
            }
            tokio::task::spawn_blocking(move || inner.write_blocking(batch))
                .await
                .map_err(|e| StoreError::Unavailable(format!("store writer: {e}")))?
        })
    }

    fn read(&self, name: &str, after: u64, limit: usize) -> BoxFuture<'_, Result<Snapshot, StoreError>> {
        let inner = Arc::clone(&self.inner);
        let name = name.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || inner.read_blocking(&name, after, limit))
                .await
                .map_err(|e| StoreError::Unavailable(format!("store reader: {e}")))?
        })
    }

    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobRecord>, StoreError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || inner.jobs_blocking(None))
                .await
                .map_err(|e| StoreError::Unavailable(format!("store reader: {e}")))?
        })
    }

    fn job(&self, id: &str) -> BoxFuture<'_, Result<Option<JobRecord>, StoreError>> {
        let inner = Arc::clone(&self.inner);
        let id = id.to_owned();
        Box::pin(async move {
            let found = tokio::task::spawn_blocking(move || inner.jobs_blocking(Some(&id)))
                .await
                .map_err(|e| StoreError::Unavailable(format!("store reader: {e}")))??;
            Ok(found.into_iter().next())
        })
    }
}
