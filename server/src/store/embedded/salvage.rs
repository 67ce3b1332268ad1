//! `typed-eventsource-server salvage --from DAMAGED --to NEW`: copies every event record of a data file that still
//! verifies into a new file, for a file the server refuses ([`super::OpenError::Damaged`]).
//!
//! - The damaged file is never written: redb reads a copy of it (`NEW.reading`, removed at the end).
//! - It is read without redb's integrity check (which is what refused it), in passes ([`read_pass`]: the epoch,
//!   counters, topic states and jobs; the events forwards; if a damaged page stopped that, the events backwards from
//!   the end down to where it stopped), so only the records of damaged pages are lost. The binary runs each pass in
//!   a child process ([`salvage_with`]): redb trusts the pages it reads and may panic on a damaged one, which then
//!   ends that pass only. Each event record is checked by its own checksum (module `record`); records of a file
//!   written before checksums existed by their content (the frame decodes and its id is the record's
//!   `<epoch>-<position>`). A record that fails is left out and counted.
//! - The new file gets a **new epoch** (every frame is re-encoded with it): events may be missing, so every client
//!   that comes back gets a `replay-gap` (`other-epoch`) and the whole retained history, never a silent hole.
//!   Positions continue after the old ones. Topic states are rebuilt from the events kept; jobs whose record decodes
//!   are kept.
//! - What cannot be done: redb must be able to open the copy without a repair (every commit of this server records
//!   what that needs, see `begin_write`; a file of an older version must have been closed cleanly), and records
//!   between two damaged pages of the events are lost. When nothing can be opened it says so: restore a backup.

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
    /// Whether a part of the file could not be read at all (a damaged page): its records are lost, uncounted.
    pub unreadable: bool,
    /// Topics in the new file (those with events kept).
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

/// Copies what verifies of `from` into the new file `to`, reading in this process; see the [module docs](self).
/// The binary reads in child processes instead ([`salvage_with`]), so that redb panicking on a damaged page ends one
/// reading pass, not the salvage.
pub fn salvage(from: &Path, to: &Path) -> Result<Salvaged, SalvageError> {
    salvage_with(from, to, &mut |copy, pass| {
        let mut out = Vec::new();
        // An I/O error writing into a Vec cannot happen; what was found until then is kept either way.
        let _ = read_pass(copy, pass, &mut out);
        out
    })
}

/// [`salvage`] with each reading pass run by `run` (which returns what [`read_pass`] wrote, complete or not).
pub fn salvage_with(
    from: &Path,
    to: &Path,
    run: &mut dyn FnMut(&Path, &Pass) -> Vec<u8>,
) -> Result<Salvaged, SalvageError> {
    if to.exists() {
        return Err(SalvageError::TargetExists(to.to_owned()));
    }
    let source = |detail: String| SalvageError::Source { path: from.to_owned(), detail };
    let copy = PathBuf::from(format!("{}.reading", to.display()));
    std::fs::copy(from, &copy).map_err(|e| source(format!("copying it to {}: {e}", copy.display())))?;
    let result = salvage_copy(from, &copy, to, run);
    let _ = std::fs::remove_file(&copy);
    if result.is_err() {
        let _ = std::fs::remove_file(to);
    }
    result
}

/// One thing a reading pass found: one JSON line each, written as it is found.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    /// redb cannot open the file.
    Unopenable(String),
    /// The old epoch.
    Epoch(String),
    /// A counter.
    Counter(String, u64),
    /// A topic's state.
    Topic(String, TopicState),
    /// A job.
    Job(String, JobRecord),
    /// An event record that verifies: topic, position, time stamp (ms), frame.
    Event(String, u64, u64, String),
    /// An event record that fails verification, at this key (as stored).
    Failed(String, u64),
    /// The pass read everything it had to.
    Done,
}

/// What one reading pass reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// The epoch, counters, topic states and jobs.
    Meta,
    /// The event records, first to last.
    Forward,
    /// The event records, last to first, stopping at the first key at or before `until`.
    Backward {
        /// The last key a forward pass reached.
        until: Option<(String, u64)>,
    },
}

/// Reads `copy` without redb's integrity check (it is what refused the file) and writes what `pass` finds to `out`,
/// one [`Found`] per line; event records are checked one by one. Ends with [`Found::Done`] unless a damaged page
/// stops it (an error, or a redb panic that ends the process running it).
pub fn read_pass(copy: &Path, pass: &Pass, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut emit = |found: &Found| -> std::io::Result<()> {
        let mut line = serde_json::to_vec(found).map_err(std::io::Error::other)?;
        line.push(b'\n');
        out.write_all(&line)?;
        out.flush()
    };
    // The database must outlive the transaction: a closed one answers every read with an error.
    let db = match Database::builder().create(copy) {
        Ok(db) => db,
        Err(e) => return emit(&Found::Unopenable(e.to_string())),
    };
    let txn = match db.begin_read() {
        Ok(txn) => txn,
        Err(e) => return emit(&Found::Unopenable(e.to_string())),
    };
    let complete = match pass {
        Pass::Meta => read_meta(&txn, &mut emit)?,
        Pass::Forward | Pass::Backward { .. } => read_events(&txn, pass, &mut emit)?,
    };
    if complete {
        emit(&Found::Done)?;
    }
    Ok(())
}

type Emit<'e> = dyn FnMut(&Found) -> std::io::Result<()> + 'e;

fn read_epoch(txn: &ReadTransaction) -> Option<String> {
    let store = txn.open_table(STORE).ok()?;
    let epoch = store.get("epoch").ok()??.value().to_owned();
    Some(epoch)
}

/// Epoch, counters, states and jobs; whether all could be read.
fn read_meta(txn: &ReadTransaction, emit: &mut Emit<'_>) -> std::io::Result<bool> {
    if let Some(epoch) = read_epoch(txn) {
        emit(&Found::Epoch(epoch))?;
    }
    let mut complete = true;
    if let Ok(counters) = txn.open_table(COUNTERS) {
        for key in [LAST_POSITION, DELETED_UPTO] {
            match counters.get(key) {
                Ok(Some(v)) => emit(&Found::Counter(key.to_owned(), v.value()))?,
                Ok(None) => {}
                Err(_) => complete = false,
            }
        }
    }
    complete &= read_json(txn, TOPICS, &mut |name, state| emit(&Found::Topic(name, state)))?;
    complete &= read_json(txn, JOBS, &mut |id, job| emit(&Found::Job(id, job)))?;
    Ok(complete)
}

/// Every entry of a JSON table that decodes; whether the whole table could be read.
fn read_json<T: serde::de::DeserializeOwned>(
    txn: &ReadTransaction,
    table: TableDefinition<&str, &[u8]>,
    emit: &mut dyn FnMut(String, T) -> std::io::Result<()>,
) -> std::io::Result<bool> {
    let table = match txn.open_table(table) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(true),
        Err(_) => return Ok(false),
    };
    let Ok(iter) = table.iter() else { return Ok(false) };
    for item in iter {
        let Ok((k, v)) = item else { return Ok(false) };
        if let Ok(value) = serde_json::from_slice(v.value()) {
            emit(k.value().to_owned(), value)?;
        }
    }
    Ok(true)
}

/// The event records of `pass`, checked; whether it read all it had to.
fn read_events(txn: &ReadTransaction, pass: &Pass, emit: &mut Emit<'_>) -> std::io::Result<bool> {
    let old_epoch = read_epoch(txn);
    let checked = match txn.open_table(EVENTS) {
        Ok(t) => Some(t),
        Err(TableError::TableDoesNotExist(_)) => None,
        Err(_) => return Ok(false),
    };
    let legacy = match txn.open_table(LEGACY_EVENTS) {
        Ok(t) => Some(t),
        Err(TableError::TableDoesNotExist(_)) => None,
        Err(_) => return Ok(false),
    };
    let check = |name: &str, pos: u64, ms: u64, sum: u64, frame: &[u8]| {
        record::verifies(name, pos, ms, sum, frame).then(|| (ms, frame.to_vec()))
    };
    // A file written before event checksums: the record's own content is the check.
    let legacy_check = |name: &str, pos: u64, ms: u64, frame: &[u8]| {
        let expected = crate::event_id::format(old_epoch.as_deref()?, pos);
        (!name.is_empty() && decode(frame).is_some_and(|e| e.last_event_id == expected)).then(|| (ms, frame.to_vec()))
    };
    let scan_checked = |backward: bool, emit: &mut Emit<'_>| match &checked {
        Some(t) => scan(t, pass, backward, emit, |(name, pos), (ms, sum, frame)| check(name, pos, ms, sum, frame)),
        None => Ok(Scan::Complete),
    };
    let scan_legacy = |backward: bool, emit: &mut Emit<'_>| match &legacy {
        Some(t) => scan(t, pass, backward, emit, |(name, pos), (ms, frame)| legacy_check(name, pos, ms, frame)),
        None => Ok(Scan::Complete),
    };
    // Forward: checked then legacy; backward the other way round; a backward pass ends where the forward one stopped.
    let backward = matches!(pass, Pass::Backward { .. });
    let first = if backward { scan_legacy(true, emit)? } else { scan_checked(false, emit)? };
    let last = match first {
        Scan::Complete if backward => scan_checked(true, emit)?,
        Scan::Complete => scan_legacy(false, emit)?,
        other => other,
    };
    Ok(matches!(last, Scan::Complete | Scan::ReachedUntil))
}

/// How a scan of one table ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    Complete,
    /// A backward pass reached the key where the forward pass stopped.
    ReachedUntil,
    /// A damaged page stopped it.
    Stopped,
}

fn scan<V: redb::Value + 'static>(
    table: &redb::ReadOnlyTable<(&'static str, u64), V>,
    pass: &Pass,
    backward: bool,
    emit: &mut Emit<'_>,
    check: impl for<'a> Fn((&'a str, u64), V::SelfType<'a>) -> Option<(u64, Vec<u8>)>,
) -> std::io::Result<Scan> {
    let Ok(iter) = table.iter() else { return Ok(Scan::Stopped) };
    let items: Box<dyn Iterator<Item = Item<'_, V>>> = if backward { Box::new(iter.rev()) } else { Box::new(iter) };
    let until = match pass {
        Pass::Backward { until } => until.as_ref(),
        _ => None,
    };
    for item in items {
        let Ok((k, v)) = item else { return Ok(Scan::Stopped) };
        let (name, pos) = k.value();
        if until.is_some_and(|(t, p)| (name, pos) <= (t.as_str(), *p)) {
            return Ok(Scan::ReachedUntil);
        }
        let found = match check((name, pos), v.value()) {
            Some((ms, frame)) => match String::from_utf8(frame) {
                Ok(frame) => Found::Event(name.to_owned(), pos, ms, frame),
                Err(_) => Found::Failed(name.to_owned(), pos),
            },
            None => Found::Failed(name.to_owned(), pos),
        };
        emit(&found)?;
    }
    Ok(Scan::Complete)
}

fn decode(frame: &[u8]) -> Option<sse_codec::Event> {
    let mut decoder = sse_codec::Decoder::new();
    decoder.push(frame);
    decoder.next_event()?.ok()
}

/// The lines of a pass's output that parse (a pass cut short may end in half a line); whether it was complete.
fn parse(out: &[u8]) -> (Vec<Found>, bool) {
    let found: Vec<Found> =
        out.split(|b| *b == b'\n').map_while(|line| serde_json::from_slice::<Found>(line).ok()).collect();
    let done = found.last() == Some(&Found::Done);
    (found, done)
}

fn salvage_copy(
    from: &Path,
    copy: &Path,
    to: &Path,
    run: &mut dyn FnMut(&Path, &Pass) -> Vec<u8>,
) -> Result<Salvaged, SalvageError> {
    let unopenable = |detail: String| SalvageError::Unopenable { path: from.to_owned(), detail };
    let mut report = Salvaged { new_epoch: new_epoch().map_err(|e| unopenable(e.to_string()))?, ..Salvaged::default() };
    let (meta, meta_done) = parse(&run(copy, &Pass::Meta));
    let (mut events, forward_done) = parse(&run(copy, &Pass::Forward));
    report.unreadable = !meta_done || !forward_done;
    if !forward_done {
        let until = events.iter().rev().find_map(|f| match f {
            Found::Event(t, p, ..) | Found::Failed(t, p) => Some((t.clone(), *p)),
            _ => None,
        });
        events.extend(parse(&run(copy, &Pass::Backward { until })).0);
    }
    let (mut states, mut jobs, mut counters) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for found in meta {
        match found {
            Found::Unopenable(detail) => return Err(unopenable(detail)),
            Found::Epoch(e) => report.old_epoch = Some(e),
            Found::Counter(k, v) => drop(counters.insert(k, v)),
            Found::Topic(name, state) => drop(states.insert(name, state)),
            Found::Job(id, job) => drop(jobs.insert(id, job)),
            Found::Event(..) | Found::Failed(..) | Found::Done => {}
        }
    }
    let (mut records, mut failed) = (Records::new(), std::collections::BTreeSet::new());
    for found in events {
        match found {
            Found::Unopenable(detail) => return Err(unopenable(detail)),
            Found::Event(t, p, ms, frame) => drop(records.insert((t, p), (ms, frame.into_bytes()))),
            Found::Failed(t, p) => drop(failed.insert((t, p))),
            _ => {}
        }
    }
    report.failed = failed.len() as u64;
    let last_position =
        counters.get(LAST_POSITION).copied().unwrap_or(0).max(records.keys().map(|(_, p)| *p).max().unwrap_or(0));
    let deleted_upto = counters.get(DELETED_UPTO).copied().unwrap_or(0);
    write_new(to, &report.new_epoch.clone(), records, states, jobs, last_position, deleted_upto, &mut report)?;
    Ok(report)
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
                // Count, size and last position from the records kept: the state says what the file holds.
                let created_after = base.created_after.min(pos.saturating_sub(1));
                TopicState { count: 0, bytes: 0, last: 0, created_after, ..base }
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
