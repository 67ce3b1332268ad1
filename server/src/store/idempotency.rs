//! Idempotent publishing: an `Idempotency-Key` (the IETF draft's header) makes a publish safe to retry. Within
//! the window (`--idempotency-window`, [`StoreOptions::idempotency_window`](super::StoreOptions), default
//! [`DEFAULT_WINDOW`]) the same key (per topic) answers the first publish's id and data again and publishes nothing; the same
//! key with another request is refused. The record is written in the same atomic batch as the event it names — so
//! it survives exactly what the event survives: restarts (embedded store), other instances (Redis).
//!
//! Each backend keeps the records itself: the embedded store in the redb tables below ([`recall`], [`remember`]),
//! Redis in `<p>idem:<key>` strings with a `PX` expiry, set by the write script.

use std::time::Duration;

use redb::{ReadableTable as _, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Outcome, StoreError, Write};

/// How long a key is remembered unless configured otherwise.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 255;

/// A client's key, scoped to one topic, with the fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `<topic length>:<topic>:<client key>`: the same client key on two topics is two keys.
    pub scoped: String,
    /// SHA-256 (hex) of what the request asked for: the same key with another request is refused.
    pub fingerprint: String,
    /// Embedded store, set by [`recall`]: the id of the job a keyed [`Write::StartJob`] creates.
    pub job: Option<String>,
}

impl Key {
    /// The key `client_key` of a request on `topic` whose content is `request` (what makes two requests the same).
    pub fn new(topic: &str, client_key: &str, request: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, request);
        let fingerprint = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Key { scoped: format!("{}:{topic}:{client_key}", topic.len()), fingerprint, job: None }
    }
}

/// What a key's first publish answered: an event's position and data, or (position 0) the id of the job it created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The event's position (0 for a job).
    pub position: u64,
    /// Its data as published (the job id for a job).
    pub data: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    fingerprint: String,
    expires_ms: u64,
    remembered: Remembered,
}

/// Embedded store: key → JSON [`Record`].
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");
/// Embedded store: `(expires_ms, key)`, to forget expired keys in order.
const EXPIRY: TableDefinition<(u64, &str), ()> = TableDefinition::new("idempotency_expiry");
/// Expired keys forgotten per keyed write (keeps each write short; keys are forgotten as fast as they come).
const FORGET_PER_WRITE: usize = 8;

/// Embedded store, one write of a batch: a [`Write::Keyed`] whose key was seen → its outcome; otherwise the write to
/// apply and, if keyed, the key to [`remember`] its outcome under.
#[derive(Debug)]
pub enum Recall {
    /// Answer this; apply nothing.
    Seen(Outcome),
    /// Apply the write; then remember its outcome under the key, if any.
    Apply(Write, Option<Key>),
}

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// See [`Recall`]; also forgets a few expired keys.
pub fn recall(txn: &WriteTransaction, write: Write, now_ms: u64) -> Result<Recall, StoreError> {
    let Write::Keyed { key, write } = write else { return Ok(Recall::Apply(write, None)) };
    forget_expired(txn, now_ms)?;
    let keys = txn.open_table(KEYS).map_err(storage)?;
    let found = keys.get(key.scoped.as_str()).map_err(storage)?.map(|v| v.value().to_vec());
    let record: Option<Record> = match found {
        Some(bytes) => {
            Some(serde_json::from_slice(&bytes).map_err(|e| StoreError::Invalid(format!("idempotency record: {e}")))?)
        }
        None => None,
    };
    Ok(match record {
        Some(r) if r.expires_ms > now_ms && r.fingerprint == key.fingerprint => {
            Recall::Seen(Outcome::Repeated(r.remembered))
        }
        Some(r) if r.expires_ms > now_ms => Recall::Seen(Outcome::KeyReused),
        _ => {
            let mut key = key;
            if let Write::StartJob { job, .. } = &*write {
                key.job = Some(job.id.clone());
            }
            Recall::Apply(*write, Some(key))
        }
    })
}

/// Keeps `outcome` (of an append, or the job of a keyed [`Write::StartJob`]) under `key`, until `now_ms` + `window`.
pub fn remember(
    txn: &WriteTransaction,
    key: &Key,
    outcome: &Outcome,
    now_ms: u64,
    window: Duration,
) -> Result<(), StoreError> {
    let remembered = match (outcome, &key.job) {
        (Outcome::Appended { event, data }, _) => Remembered { position: event.pos, data: data.clone() },
        (Outcome::Done, Some(job)) => Remembered { position: 0, data: job.clone() },
        _ => return Ok(()),
    };
    let expires_ms = now_ms.saturating_add(window_ms(window));
    let record = Record { fingerprint: key.fingerprint.clone(), expires_ms, remembered };
    let bytes = serde_json::to_vec(&record).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut keys = txn.open_table(KEYS).map_err(storage)?;
    if let Some(old) = keys.insert(key.scoped.as_str(), bytes.as_slice()).map_err(storage)? {
        // An expired record of the same key: its expiry entry goes too.
        if let Ok(old) = serde_json::from_slice::<Record>(old.value()) {
            txn.open_table(EXPIRY).map_err(storage)?.remove((old.expires_ms, key.scoped.as_str())).map_err(storage)?;
        }
    }
    txn.open_table(EXPIRY).map_err(storage)?.insert((expires_ms, key.scoped.as_str()), ()).map_err(storage)?;
    Ok(())
}

/// `window` in ms (at least 1: Redis refuses `PX 0`).
pub fn window_ms(window: Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn forget_expired(txn: &WriteTransaction, now_ms: u64) -> Result<(), StoreError> {
    let mut expiry = txn.open_table(EXPIRY).map_err(storage)?;
    let mut gone = Vec::new();
    for item in expiry.range((0, "")..(now_ms, "")).map_err(storage)?.take(FORGET_PER_WRITE) {
        let (k, _) = item.map_err(storage)?;
        let (at, key) = k.value();
        gone.push((at, key.to_owned()));
    }
    if gone.is_empty() {
        return Ok(());
    }
    let mut keys = txn.open_table(KEYS).map_err(storage)?;
    for (at, key) in gone {
        expiry.remove((at, key.as_str())).map_err(storage)?;
        keys.remove(key.as_str()).map_err(storage)?;
    }
    Ok(())
}
