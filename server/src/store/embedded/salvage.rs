//! `typed-eventsource-server salvage --from DAMAGED --to NEW`: copies every event record of a data file that still
//! verifies into a new file, for a file the server refuses ([`super::OpenError::Damaged`]).
//!
//! - The damaged file is never written: redb reads a copy of it (`NEW.reading`, removed at the end).
//! - It is read without redb's integrity check (which is what refused it): each event record is checked by its own
//!   checksum ([`super::record`]); records of a file written before checksums existed are checked by their content
//!   (the frame decodes and its id is the record's `<epoch>-<position>`). A record that fails is left out and
//!   counted. When redb reports a damaged page in the middle of the events, the rest is read backwards from the end,
//!   so only the records of the damaged pages are lost.
//! - The new file gets a **new epoch** (every frame is re-encoded with it): events may be missing, so every client
//!   that comes back gets a `replay-gap` (`other-epoch`) and the whole retained history, never a silent hole.
//!   Positions continue after the old ones. Topic states are rebuilt from the events kept; jobs whose record decodes
//!   are kept.
//! - What cannot be done: redb must be able to open the copy without a repair (every commit of this server records
//!   what that needs, see `begin_write`; a file of an older version must have been closed cleanly), and damage to
//!   redb's own structure (rather than to event bytes) can stop the read with an error or make redb panic (the
//!   salvage then stops; the damaged file is untouched either way). Then restore a backup.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use redb::{Database, ReadTransaction, ReadableDatabase as _, ReadableTable as _, TableDefinition, TableError};

use super::{
    begin_write, record, ACTIVITY, COUNTERS, DELETED_UPTO, EVENTS, JOBS, LAST_POSITION, LEGACY_EVENTS, STORE, TOPICS,
    USER_BYTES, USER_TOPICS,
};
use crate::store::{encode_event, new_epoch, topic, JobRecord, Payload, TopicState};

/// What a salvage copied and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Salvaged {
    /// The epoch of the damaged file (if readable).
    pub old_epoch: Option<String>,
    /// The new file's epoch.
    pub new_epoch: String,
    /// Event records copied (each verified).
    pub events: u64,
    /// Event records left out: they failed verification.
    pub failed: u64,
    /// Whether a part of the events could not be read at all (a damaged page): its records are lost, uncounted.
    pub unreadable: bool,
    /// Topics and jobs in the new file.
    pub topics: u64,
    /// Jobs whose record decoded.
    pub jobs: u64,
}

/// Why a salvage failed; the target is left absent.
#[derive(Debug, thiserror::Error)]
pub enum SalvageError {
    /// `--to` exists already.
    #[error("{0} exists; salvage writes a new file only: choose another --to")]
    TargetExists(PathBuf),
    /// `--from` cannot be read or copied.
    #[error("cannot read {path}: {detail}")]
    Source {
        /// The damaged file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The damaged file is beyond what redb can open without repair.
    #[error(
        "redb cannot open {path} ({detail}): nothing can be copied from it; restore it from a backup, or move it away \
         to start with empty data"
    )]
    Unopenable {
        /// The damaged file.
        path: PathBuf,
        /// redb's error.
        detail: String,
    },
    /// The new file cannot be written.
    #[error("cannot write {path}: {detail}")]
    Target {
        /// The new file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

/// One event record read back: `(topic, position)` → `(ms, frame)`, verified.
type Records = BTreeMap<(String, u64), (u64, Vec<u8>)>;

/// One entry of an events table, as redb's iterators yield it.
type Item<'a, V> = Result<(redb::AccessGuard<'a, (&'static str, u64)>, redb::AccessGuard<'a, V>), redb::StorageError>;

/// Copies what verifies of `from` into the new file `to`; see the [module docs](self).
pub fn salvage(from: &Path, to: &Path) -> Result<Salvaged, SalvageError> {
    if to.exists() {
        return Err(SalvageError::TargetExists(to.to_owned()));
    }
    let source = |detail: String| SalvageError::Source { path: from.to_owned(), detail };
    let copy = PathBuf::from(format!("{}.reading", to.display()));
    std::fs::copy(from, &copy).map_err(|e| source(format!("copying it to {}: {e}", copy.display())))?;
    let result = salvage_copy(from, &copy, to);
    let _ = std::fs::remove_file(&copy);
    if result.is_err() {
        let _ = std::fs::remove_file(to);
    }
    result
}

fn salvage_copy(from: &Path, copy: &Path, to: &Path) -> Result<Salvaged, SalvageError> {
    let unopenable = |detail: String| SalvageError::Unopenable { path: from.to_owned(), detail };
    // No integrity check: it is what refused the file. Records are checked one by one below.
    let db = Database::builder().create(copy).map_err(|e| unopenable(e.to_string()))?;
    let txn = db.begin_read().map_err(|e| unopenable(e.to_string()))?;
    let mut report = Salvaged { new_epoch: new_epoch().map_err(|e| unopenable(e.to_string()))?, ..Salvaged::default() };
    report.old_epoch = read_epoch(&txn);
    let old_epoch = report.old_epoch.clone();
    let records = read_events(&txn, old_epoch.as_deref(), &mut report);
    let states = read_states(&txn);
    let jobs = read_jobs(&txn);
    let counter = |key: &str| -> u64 {
        txn.open_table(COUNTERS).ok().and_then(|t| t.get(key).ok().flatten().map(|v| v.value())).unwrap_or(0)
    };
    let last_position = counter(LAST_POSITION).max(records.keys().map(|(_, p)| *p).max().unwrap_or(0));
    let deleted_upto = counter(DELETED_UPTO);
    drop(txn);
    drop(db);
    write_new(to, &report.new_epoch.clone(), records, states, jobs, last_position, deleted_upto, &mut report)?;
    Ok(report)
}

fn read_epoch(txn: &ReadTransaction) -> Option<String> {
    let store = txn.open_table(STORE).ok()?;
    let epoch = store.get("epoch").ok()??.value().to_owned();
    Some(epoch)
}

/// The verified event records; counts the others in `report`.
fn read_events(txn: &ReadTransaction, old_epoch: Option<&str>, report: &mut Salvaged) -> Records {
    let mut out = Records::new();
    match txn.open_table(EVENTS) {
        Ok(table) => scan(&table, &mut out, report, |(name, pos), (ms, sum, frame)| {
            record::verifies(name, pos, ms, sum, frame).then(|| (ms, frame.to_vec()))
        }),
        Err(TableError::TableDoesNotExist(_)) => {}
        Err(_) => report.unreadable = true,
    }
    // A file written before event checksums: the record's own content is the check.
    match txn.open_table(LEGACY_EVENTS) {
        Ok(table) => scan(&table, &mut out, report, |(name, pos), (ms, frame)| {
            let expected = crate::event_id::format(old_epoch?, pos);
            (!name.is_empty() && decode(frame).is_some_and(|e| e.last_event_id == expected))
                .then(|| (ms, frame.to_vec()))
        }),
        Err(TableError::TableDoesNotExist(_)) => {}
        Err(_) => report.unreadable = true,
    }
    out
}

/// Reads `table` forwards; if a damaged page stops it, backwards from the end down to where it stopped.
fn scan<V: redb::Value + 'static>(
    table: &redb::ReadOnlyTable<(&'static str, u64), V>,
    out: &mut Records,
    report: &mut Salvaged,
    check: impl for<'a> Fn((&'a str, u64), V::SelfType<'a>) -> Option<(u64, Vec<u8>)>,
) {
    let mut take = |item: Item<'_, V>, out: &mut Records| -> Result<Option<(String, u64)>, ()> {
        let (k, v) = item.map_err(|_| ())?;
        let (name, pos) = k.value();
        let key = (name.to_owned(), pos);
        match check((name, pos), v.value()) {
            Some(value) => {
                out.insert(key.clone(), value);
            }
            None => report.failed += 1,
        }
        Ok(Some(key))
    };
    let Ok(forward) = table.iter() else {
        report.unreadable = true;
        return;
    };
    let mut stopped_after: Option<Option<(String, u64)>> = None;
    let mut last = None;
    for item in forward {
        match take(item, out) {
            Ok(key) => last = key,
            Err(()) => {
                stopped_after = Some(last.clone());
                break;
            }
        }
    }
    let Some(stopped_after) = stopped_after else { return };
    report.unreadable = true;
    let Ok(backward) = table.iter() else { return };
    for item in backward.rev() {
        match take(item, out) {
            Ok(Some(key)) if stopped_after.as_ref().is_some_and(|s| &key <= s) => break,
            Ok(_) => {}
            Err(()) => break,
        }
    }
}

fn decode(frame: &[u8]) -> Option<sse_codec::Event> {
    let mut decoder = sse_codec::Decoder::new();
    decoder.push(frame);
    decoder.next_event()?.ok()
}

fn read_states(txn: &ReadTransaction) -> BTreeMap<String, TopicState> {
    read_json(txn, TOPICS)
}

fn read_jobs(txn: &ReadTransaction) -> BTreeMap<String, JobRecord> {
    read_json(txn, JOBS)
}

/// Every entry of a JSON table that decodes (stopping at a damaged page).
fn read_json<T: serde::de::DeserializeOwned>(
    txn: &ReadTransaction,
    table: TableDefinition<&str, &[u8]>,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    let Ok(table) = txn.open_table(table) else { return out };
    let Ok(iter) = table.iter() else { return out };
    for item in iter {
        let Ok((k, v)) = item else { break };
        if let Ok(value) = serde_json::from_slice(v.value()) {
            out.insert(k.value().to_owned(), value);
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn write_new(
    to: &Path,
    epoch: &str,
    records: Records,
    mut states: BTreeMap<String, TopicState>,
    jobs: BTreeMap<String, JobRecord>,
    last_position: u64,
    deleted_upto: u64,
    report: &mut Salvaged,
) -> Result<(), SalvageError> {
    let target = |detail: String| SalvageError::Target { path: to.to_owned(), detail };
    let db = super::opening::open(to).map_err(|e| target(e.to_string()))?;
    let txn = begin_write(&db).map_err(|e| target(e.to_string()))?;
    let fail = |e: redb::Error| target(e.to_string());
    {
        txn.open_table(STORE).map_err(|e| fail(e.into()))?.insert("epoch", epoch).map_err(|e| fail(e.into()))?;
        let mut events = txn.open_table(EVENTS).map_err(|e| fail(e.into()))?;
        let mut kept: BTreeMap<String, TopicState> = BTreeMap::new();
        for ((name, pos), (ms, frame)) in records {
            // Re-encoded with the new epoch; a frame that does not decode cannot be re-encoded: left out.
            let Some(event) = decode(&frame) else {
                report.failed += 1;
                continue;
            };
            let name_field = (event.event != "message").then_some(event.event.as_str());
            let Ok((encoded, _)) = encode_event(epoch, pos, &Payload::new(name_field, event.data.clone())) else {
                report.failed += 1;
                continue;
            };
            let sum = record::checksum(&name, pos, ms, &encoded.frame);
            events.insert((name.as_str(), pos), (ms, sum, &encoded.frame[..])).map_err(|e| fail(e.into()))?;
            report.events += 1;
            let stored = states.remove(&name);
            let s = kept.entry(name.clone()).or_insert_with(|| {
                let base = stored.unwrap_or_default();
                TopicState { count: 0, bytes: 0, created_after: base.created_after.min(pos.saturating_sub(1)), ..base }
            });
            s.count += 1;
            s.bytes += encoded.frame.len() as u64;
            s.last = s.last.max(pos);
            s.created_after = s.created_after.min(pos.saturating_sub(1));
            s.last_append_ms = s.last_append_ms.max(ms);
        }
        let mut topics = txn.open_table(TOPICS).map_err(|e| fail(e.into()))?;
        let mut activity = txn.open_table(ACTIVITY).map_err(|e| fail(e.into()))?;
        let (mut user_topics, mut user_bytes) = (0u64, 0u64);
        for (name, s) in &kept {
            let json = serde_json::to_vec(s).map_err(|e| target(e.to_string()))?;
            topics.insert(name.as_str(), json.as_slice()).map_err(|e| fail(e.into()))?;
            if topic::is_user(name) {
                activity.insert((s.last_append_ms, name.as_str()), ()).map_err(|e| fail(e.into()))?;
                user_topics += 1;
                user_bytes += s.bytes;
            }
        }
        report.topics = kept.len() as u64;
        let mut job_table = txn.open_table(JOBS).map_err(|e| fail(e.into()))?;
        for (id, job) in &jobs {
            let json = serde_json::to_vec(job).map_err(|e| target(e.to_string()))?;
            job_table.insert(id.as_str(), json.as_slice()).map_err(|e| fail(e.into()))?;
        }
        report.jobs = jobs.len() as u64;
        let mut counters = txn.open_table(COUNTERS).map_err(|e| fail(e.into()))?;
        for (key, value) in [
            (LAST_POSITION, last_position),
            (DELETED_UPTO, deleted_upto),
            (USER_TOPICS, user_topics),
            (USER_BYTES, user_bytes),
        ] {
            counters.insert(key, value).map_err(|e| fail(e.into()))?;
        }
    }
    txn.commit().map_err(|e| fail(e.into()))?;
    Ok(())
}
