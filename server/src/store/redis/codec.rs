//! Between Rust and the scripts: a write batch as arguments of `write.lua`, and Redis replies (script results, hashes,
//! stream entries, published messages) as the store's types. Pure functions, no I/O.

use std::collections::HashMap;
use std::sync::Arc;

use redis::Value;

use crate::store::Event;
use crate::store::{
    encode_event, idempotency,
    topic::{self, Kind},
    JobEnd, JobRecord, Outcome, Payload, Retention, Snapshot, StoreError, TopicState, Write,
};

/// A reply not of the shape the scripts return.
pub(super) fn invalid(what: &str) -> StoreError {
    StoreError::Invalid(format!("unexpected Redis {what}"))
}

/// A number (an integer reply, or a decimal string).
fn int(v: &Value) -> Result<u64, StoreError> {
    match v {
        Value::Int(n) => u64::try_from(*n).map_err(|_| invalid("number")),
        Value::BulkString(b) => {
            std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).ok_or_else(|| invalid("number"))
        }
        Value::SimpleString(s) => s.parse().map_err(|_| invalid("number")),
        _ => Err(invalid("number")),
    }
}

/// A string (or an integer, as its decimal text).
pub(super) fn text(v: Value) -> Result<String, StoreError> {
    match v {
        Value::BulkString(b) => String::from_utf8(b).map_err(|_| invalid("text")),
        Value::SimpleString(s) => Ok(s),
        Value::Int(n) => Ok(n.to_string()),
        _ => Err(invalid("text")),
    }
}

/// A hash as `HGETALL` returns it: a flat array `[field, value, ...]` (RESP2) or a map (RESP3); nil is empty.
pub(super) fn flat_map(v: Value) -> Result<HashMap<String, String>, StoreError> {
    let mut out = HashMap::new();
    match v {
        Value::Array(items) => {
            let mut it = items.into_iter();
            while let (Some(k), Some(val)) = (it.next(), it.next()) {
                out.insert(text(k)?, text(val)?);
            }
        }
        Value::Map(pairs) => {
            for (k, val) in pairs {
                out.insert(text(k)?, text(val)?);
            }
        }
        Value::Nil => {}
        _ => return Err(invalid("hash")),
    }
    Ok(out)
}

/// A topic's meta hash (`t:<topic>:m`) → its state.
fn topic_state(meta: &HashMap<String, String>) -> TopicState {
    let n = |k: &str| meta.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let opt = |k: &str| u64::try_from(n(k)).ok().filter(|_| meta.contains_key(k) && n(k) >= 0);
    let u = |k: &str| u64::try_from(n(k)).unwrap_or(0);
    TopicState {
        created_after: u("created_after"),
        trimmed_upto: u("trimmed_upto"),
        last: u("last"),
        count: u("count"),
        offline_from: Some(u("offline_from")).filter(|&f| f > 0),
        last_append_ms: u("last_append_ms"),
        retention: Retention { max_events: opt("max_events"), max_age_ms: opt("max_age_ms") },
        bytes: u("bytes"),
    }
}

/// One `XRANGE` entry `[id, [field, value, ...]]` → the event, encoded with `epoch`.
fn stream_entry(epoch: &str, entry: Value) -> Result<Event, StoreError> {
    let Value::Array(parts) = entry else { return Err(invalid("stream entry")) };
    let [id, fields] = <[Value; 2]>::try_from(parts).map_err(|_| invalid("stream entry"))?;
    let id = text(id)?;
    let pos = id.split('-').next().and_then(|p| p.parse().ok()).ok_or_else(|| invalid("stream id"))?;
    let fields = flat_map(fields)?;
    let event = fields.get("e").map(String::as_str).filter(|e| !e.is_empty());
    let data = fields.get("d").cloned().unwrap_or_default();
    encode_event(epoch, pos, &Payload::new(event, data)).map(|(e, _)| e).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The parts of a `read.lua` reply after its epoch (`epoch`, the one the events were read with) → the snapshot.
pub(super) fn snapshot(
    epoch: &str,
    meta: Value,
    seq: &Value,
    deleted: &Value,
    entries: Value,
) -> Result<Snapshot, StoreError> {
    let meta = flat_map(meta)?;
    let topic = (!meta.is_empty()).then(|| topic_state(&meta));
    let mut events = Vec::new();
    if let Value::Array(entries) = entries {
        for entry in entries {
            events.push(Arc::new(stream_entry(epoch, entry)?));
        }
    }
    Ok(Snapshot { topic, last_position: int(seq)?, deleted_upto: int(deleted)?, events, corrupt: Vec::new() })
}

/// The job hashes (`jobs`: id → record JSON without its end, `job_end`: id → `<at ms>:<outcome>`, `job_lease`:
/// id → lease end ms) → the job records.
pub(super) fn job_records(
    records: HashMap<String, String>,
    ends: &HashMap<String, String>,
    leases: &HashMap<String, u64>,
) -> Result<Vec<JobRecord>, StoreError> {
    let mut out = Vec::with_capacity(records.len());
    for (id, raw) in records {
        let mut job: JobRecord =
            serde_json::from_str(&raw).map_err(|e| StoreError::Invalid(format!("job record: {e}")))?;
        if let Some((at, outcome)) = ends.get(&id).and_then(|v| v.split_once(':')) {
            job.ended = Some(JobEnd { at_ms: at.parse().unwrap_or(0), outcome: outcome.to_owned() });
        }
        job.lease_until_ms = leases.get(&id).copied().unwrap_or(0);
        out.push(job);
    }
    Ok(out)
}

/// An optional limit as a script argument: -1 for none.
fn signed(v: Option<u64>) -> i64 {
    v.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// The ops of a batch as script arguments (Sweep runs as its own script).
/// `window_ms`: how long idempotency keys are kept.
pub(super) fn encode_batch(inv: &mut redis::ScriptInvocation<'_>, batch: &[&Write], window_ms: u64) {
    for w in batch {
        encode_write(inv, w, window_ms);
    }
}

/// One op: its letter, then its arguments (the widths `write.lua` skips by).
fn encode_write(inv: &mut redis::ScriptInvocation<'_>, w: &Write, window_ms: u64) {
    match w {
        Write::Keyed { key, write } => {
            inv.arg("K").arg(&key.scoped).arg(&key.fingerprint).arg(window_ms);
            encode_write(inv, write, window_ms);
        }
        Write::Append { topic: name, payload, retention, mark_offline } => {
            let at = payload.position_at.and_then(|a| i64::try_from(a).ok()).unwrap_or(-1);
            inv.arg("A")
                .arg(name.as_str())
                .arg(payload.event.as_deref().unwrap_or(""))
                .arg(&payload.data)
                .arg(at)
                .arg(signed(retention.max_events))
                .arg(signed(retention.max_age_ms))
                .arg(flag(name.kind() == Kind::User))
                .arg(flag(*mark_offline))
                .arg(base_size(payload));
        }
        Write::TakeOffline { topic: name } => {
            inv.arg("T").arg(name.as_str());
        }
        Write::StartJob { job, max_running } => {
            let mut record = job.clone();
            // Ends and leases live in their own hashes, so that ending a job is one atomic HSETNX-like step.
            record.ended = None;
            let json = serde_json::to_string(&record).unwrap_or_default();
            inv.arg("J").arg(&job.id).arg(json).arg(job.lease_until_ms).arg(*max_running).arg(topic::job("").as_str());
        }
        Write::DeleteJob { id } => {
            inv.arg("D").arg(id).arg(topic::job(id).as_str());
        }
        Write::EndJob { id, outcome, only_if_lease_before } => {
            inv.arg("E")
                .arg(id)
                .arg(topic::job(id).as_str())
                .arg(outcome)
                .arg(signed(*only_if_lease_before))
                .arg(base_size(&terminal_ping(outcome)));
        }
        Write::RenewJob { id, until_ms } => {
            inv.arg("R").arg(id).arg(until_ms);
        }
        Write::Probe | Write::Sweep { .. } => {
            inv.arg("P");
        }
    }
}

/// A script argument for a yes/no.
fn flag(yes: bool) -> &'static str {
    if yes {
        "1"
    } else {
        "0"
    }
}

/// The terminal event of a job ended with `outcome` ([`Write::EndJob`]).
fn terminal_ping(outcome: &str) -> Payload {
    Payload::new(Some("ping"), outcome)
}

/// The bytes of `payload`'s frame without its `id:` line and without the position put into its data: `write.lua`
/// adds both once it knows the position, so a Redis topic counts the bytes the embedded store counts (the frame).
pub(super) fn base_size(payload: &Payload) -> u64 {
    let mut frame = sse_codec::Frame::message(&payload.data);
    if let Some(e) = &payload.event {
        frame = frame.event(e);
    }
    let mut buf = Vec::with_capacity(payload.data.len() + 32);
    // A payload is validated before it is written; one that is not encodes as its data alone.
    match sse_codec::encode_into(&frame, &mut buf) {
        Ok(()) => buf.len() as u64,
        Err(_) => payload.data.len() as u64,
    }
}

/// What `write.lua` answered: the outcome of each op, or that the data's epoch is not the one the batch was sent
/// with (nothing was written).
#[derive(Debug)]
pub(super) enum WriteReply {
    /// One outcome per write, and the user topics' changes to account (Redis Cluster).
    Done(Vec<Outcome>, Vec<UserChange>),
    /// The data's epoch now (`None`: the data has none, it was wiped).
    EpochChanged(Option<String>),
}

/// The reply of `write.lua` (`{'ok', replies, user_changes}` or `{'epoch', epoch now}`) → a [`WriteReply`].
pub(super) fn decode_write(epoch: &str, batch: &[&Write], reply: Value) -> Result<WriteReply, StoreError> {
    let Value::Array(mut parts) = reply else { return Err(invalid("write reply")) };
    let changes = if parts.len() == 3 { user_changes(parts.pop().unwrap_or(Value::Nil))? } else { Vec::new() };
    let [tag, body] = <[Value; 2]>::try_from(parts).map_err(|_| invalid("write reply"))?;
    match text(tag)?.as_str() {
        "ok" => Ok(WriteReply::Done(decode_outcomes(epoch, batch, body)?, changes)),
        "epoch" => Ok(WriteReply::EpochChanged(match body {
            Value::Nil => None,
            v => Some(text(v)?),
        })),
        _ => Err(invalid("write reply tag")),
    }
}

/// The replies of `write.lua` (one per op) → the outcome of each write of `batch`.
fn decode_outcomes(epoch: &str, batch: &[&Write], reply: Value) -> Result<Vec<Outcome>, StoreError> {
    let Value::Array(replies) = reply else { return Err(invalid("write reply")) };
    if replies.len() != batch.len() {
        return Err(invalid("write reply length"));
    }
    let mut out = Vec::with_capacity(batch.len());
    for (w, r) in batch.iter().zip(replies) {
        out.push(decode_outcome(epoch, w, r)?);
    }
    Ok(out)
}

/// One op's reply: `{pos, data}` for an append, `{'seen', pos, data}` / `{'reused'}` for a key met before,
/// -1 for a refused job, the offline mark for take-offline, 0 otherwise.
fn decode_outcome(epoch: &str, w: &Write, r: Value) -> Result<Outcome, StoreError> {
    Ok(match (w, r) {
        (Write::Keyed { write, .. }, Value::Array(parts)) => match parts.first() {
            Some(Value::BulkString(b)) if b == b"seen" => {
                let [_, pos, data] = <[Value; 3]>::try_from(parts).map_err(|_| invalid("repeat reply"))?;
                Outcome::Repeated(idempotency::Remembered { position: int(&pos)?, data: text(data)? })
            }
            Some(Value::BulkString(b)) if b == b"reused" => Outcome::KeyReused,
            _ => decode_outcome(epoch, write, Value::Array(parts))?,
        },
        (Write::Keyed { write, .. }, v) => decode_outcome(epoch, write, v)?,
        (Write::Append { payload, .. }, Value::Array(pair)) => appended(epoch, payload.event.as_deref(), pair)?,
        (Write::EndJob { .. }, Value::Array(pair)) => appended(epoch, Some("ping"), pair)?,
        (Write::TakeOffline { .. }, v) => Outcome::Offline(Some(int(&v)?).filter(|&f| f > 0)),
        (Write::StartJob { .. }, Value::Int(n)) if n < 0 => Outcome::Busy,
        _ => Outcome::Done,
    })
}

/// `{pos, data}` of an appended event → the event, encoded with `epoch`.
fn appended(epoch: &str, event: Option<&str>, pair: Vec<Value>) -> Result<Outcome, StoreError> {
    let [pos, data] = <[Value; 2]>::try_from(pair).map_err(|_| invalid("append reply"))?;
    let (pos, data) = (int(&pos)?, text(data)?);
    let (event, data) =
        encode_event(epoch, pos, &Payload::new(event, data)).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(Outcome::Appended { event: Arc::new(event), data })
}

/// A user topic's change, reported by a group script for the accounting in group 0 (Redis Cluster, `users.lua`):
/// its key, its last append time (`-1`: unchanged) and its bytes now (`-1`: deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UserChange {
    pub topic: String,
    pub appended_ms: i64,
    pub bytes: i64,
}

/// `{{topic, t, bytes}, ...}` (an empty Lua table may come as an empty array or nil) → the changes.
pub(super) fn user_changes(v: Value) -> Result<Vec<UserChange>, StoreError> {
    let Value::Array(items) = v else { return Ok(Vec::new()) };
    let signed = |v: &Value| match v {
        Value::Int(n) => Ok(*n),
        _ => Err(invalid("user change")),
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Array(parts) = item else { return Err(invalid("user change")) };
            let [topic, t, bytes] = <[Value; 3]>::try_from(parts).map_err(|_| invalid("user change"))?;
            Ok(UserChange { topic: text(topic)?, appended_ms: signed(&t)?, bytes: signed(&bytes)? })
        })
        .collect()
}

/// A published message: `<epoch>\n<position>\n<event>\n<data>` → its epoch and event.
pub(super) fn parse_message(payload: &[u8]) -> Option<(&str, Event)> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.splitn(4, '\n');
    let epoch = parts.next()?;
    let pos = parts.next()?.parse().ok()?;
    let event = parts.next().filter(|e| !e.is_empty());
    let data = parts.next()?;
    encode_event(epoch, pos, &Payload::new(event, data)).ok().map(|(e, _)| (epoch, e))
}
