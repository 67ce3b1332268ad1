//! The Redis store (`--store redis --redis-url redis://...`): every topic lives in one Redis (or Valkey) primary, so
//! any number of server instances can publish to and serve any topic, with the same ids everywhere.
//!
//! - **Atomic publish**: each [`Store::write`] batch is one Lua script (atomic, one round trip): per event it takes
//!   the next position (`INCR <p>seq`), checks the epoch, `XADD`s `event`/`data`/`ms`/frame bytes with the position
//!   as the stream id, trims by count and (user topics) bytes (`XTRIM MINID`), updates the topic's meta hash and
//!   `PUBLISH`es the event — history and live delivery can never disagree. An append the hub marked offline sets the
//!   offline mark only if `PUBLISH` reached no instance either.
//! - **Live delivery** without a round trip per client: each instance holds one subscription connection and
//!   subscribes only to topics with local subscribers ([`Store::watch`]), then fans out locally. After a lost
//!   subscription connection it re-subscribes and first fills the hole from the streams (`XRANGE` after the last
//!   position it delivered), then goes on: no gap, no duplicate.
//! - **Epoch**: `<p>epoch`, created with `SET NX` by the first instance; every write checks it and answers another
//!   one as a typed reply (`{'epoch', now}`, nothing written), so a wiped or lost Redis (no epoch key) is noticed: a
//!   new epoch is created, the batch sent again, and clients get `replay-gap`.
//! - **Durability**: an acknowledged event is as durable as Redis makes it. Run Redis with `appendonly yes` and
//!   `appendfsync always` for "acknowledged = on disk" (Redis replies after the fsync); with replicas, an async replica
//!   promoted after a failover can lack the last writes without changing the epoch (see server README).
//!
//! Keys (prefix `<p>`, default `tes:`): `epoch`, `seq`, `deleted_upto`, `topics` (set), `users` (sorted set by last
//! append, for the per-user caps), `user_bytes` (frame bytes of all user topics), `jobs` (hash of job records), `job_end`, `job_lease` (job admission counts the jobs
//! not ended whose lease has not run out: `--max-jobs` holds for the deployment), and per topic
//! `t:<topic>:m` (meta hash), `t:<topic>:s` (stream), channel `t:<topic>:c`. One Redis primary (scripts derive
//! key names, so Redis Cluster is not supported).
//!
//! Here: the store and its writes and reads; the Lua scripts (one atomic round trip each) in `*.lua` beside this file;
//! `live.rs` (the subscription loop); `codec.rs` (script arguments and replies ↔ the store's types).

mod codec;
mod live;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use redis::{Script, Value};

use super::{BoxFuture, JobRecord, LiveSink, Outcome, Snapshot, Store, StoreError, StoreOptions, Write};
use codec::{flat_map, invalid, text};
pub use live::EPOCH_CHECK;

/// Shared by the scripts below (prepended): key helpers and topic deletion.
const PRELUDE: &str = include_str!("prelude.lua");
/// A write batch (see [`codec::encode_batch`]); one reply per op.
const WRITE: &str = include_str!("write.lua");
/// A topic's meta and events after a position.
const READ: &str = include_str!("read.lua");
/// One bounded age sweep step.
const SWEEP: &str = include_str!("sweep.lua");
/// The deployment marker, created if there is none (runs alone, without the prelude).
const DEPLOYMENT: &str = include_str!("deployment.lua");

/// The Redis store; see the [module docs](self).
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    epoch: RwLock<String>,
    options: StoreOptions,
    write: Script,
    read: Script,
    sweep: Script,
    sweep_cursor: Mutex<String>,
    live: tokio::sync::Mutex<Option<PubSubSink>>,
    /// Whether the subscription connection is up (`live` is set): [`Store::watch`] waits on it.
    live_up: tokio::sync::watch::Sender<bool>,
    /// Topics with local subscribers → the last position delivered locally.
    watched: Mutex<HashMap<String, u64>>,
    sink: Mutex<Option<Arc<dyn LiveSink>>>,
    live_error: Mutex<Option<String>>,
    /// The epoch of the events the subscription loop delivers (it announces a new one before its first event).
    delivered_epoch: Mutex<String>,
    /// Wakes the subscription loop when a write, a read or the periodic check found a new epoch.
    epoch_changed: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

/// A failed command: Redis not reachable now (or not answering).
fn unavailable(e: &redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

/// A failed write script: refused before it was sent (nothing stored), or sent and not answered (outcome unknown:
/// Redis may have run it).
fn write_failed(e: &redis::RedisError) -> StoreError {
    if !e.is_connection_refusal() && (e.is_timeout() || e.is_connection_dropped() || e.is_io_error()) {
        StoreError::OutcomeUnknown(format!("redis: {e}"))
    } else {
        unavailable(e)
    }
}

impl RedisStore {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`), with keys under `prefix`; creates the epoch if the data
    /// has none. Waits (with backoff) while Redis is still loading its data; fails if Redis cannot be reached, or if
    /// the prefix holds the deployment marker of servers with other settings ([`StoreOptions::deployment`]).
    pub async fn open(url: &str, prefix: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let shown = redact(url);
        let open_err = |e: &dyn std::fmt::Display| StoreError::Redis { url: shown.clone(), detail: e.to_string() };
        let client = redis::Client::open(url).map_err(|e| open_err(&e))?;
        // Commands only (no blocking ones): a response timeout detects a dead server; reconnects are automatic.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = until_loaded(&shown, || client.get_connection_manager_with_config(config.clone()))
            .await
            .map_err(|e| open_err(&e))?;
        let inner = Arc::new(Inner {
            client,
            conn,
            prefix: prefix.to_owned(),
            epoch: RwLock::new(String::new()),
            options,
            write: Script::new(&format!("{PRELUDE}{WRITE}")),
            read: Script::new(&format!("{PRELUDE}{READ}")),
            sweep: Script::new(&format!("{PRELUDE}{SWEEP}")),
            sweep_cursor: Mutex::new("0".into()),
            live: tokio::sync::Mutex::new(None),
            live_up: tokio::sync::watch::Sender::new(false),
            watched: Mutex::new(HashMap::new()),
            sink: Mutex::new(None),
            live_error: Mutex::new(None),
            delivered_epoch: Mutex::new(String::new()),
            epoch_changed: Arc::default(),
        });
        let fresh = super::new_epoch().map_err(|e| open_err(&e))?;
        let epoch = until_loaded(&shown, || inner.fetch_epoch(&fresh)).await.map_err(|e| open_err(&e))?;
        inner.adopt_epoch(&epoch);
        *lock(&inner.delivered_epoch) = epoch;
        inner.claim_deployment().await.map_err(|detail| StoreError::Redis { url: shown.clone(), detail })?;
        Ok(RedisStore { inner })
    }
}

/// `url` without its user and password (for messages and logs).
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => "(an invalid Redis URL)".to_owned(),
    }
}

/// Runs `attempt` until Redis is done loading its data (the `LOADING` error kind after a restart with a large data
/// set), waiting with backoff from 100 ms to 2 s; any other outcome is returned.
async fn until_loaded<T, F, Fut>(url: &str, mut attempt: F) -> Result<T, redis::RedisError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, redis::RedisError>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match attempt().await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading) => {
                tracing::warn!(%url, retry_in = ?backoff, "Redis is still loading its data; waiting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    fn epoch(&self) -> String {
        self.epoch.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reads the epoch, creating one if the data has none (first start, or a wiped Redis).
    async fn load_epoch(&self) -> Result<String, StoreError> {
        let fresh = super::new_epoch()?;
        let epoch = self.fetch_epoch(&fresh).await.map_err(|e| unavailable(&e))?;
        self.adopt_epoch(&epoch);
        Ok(epoch)
    }

    /// The data's epoch, `fresh` set first if it has none (`SET NX`, then `GET`); not adopted.
    async fn fetch_epoch(&self, fresh: &str) -> Result<String, redis::RedisError> {
        let mut conn = self.conn.clone();
        let key = format!("{}epoch", self.prefix);
        let _: Value = redis::cmd("SET").arg(&key).arg(fresh).arg("NX").query_async(&mut conn).await?;
        redis::cmd("GET").arg(&key).query_async(&mut conn).await
    }

    /// Writes the deployment marker (`<p>deployment`: the settings every server on this prefix must share) if there is
    /// none, or checks ours against it: a difference is refused with what differs and what to do.
    async fn claim_deployment(&self) -> Result<(), String> {
        let mut conn = self.conn.clone();
        let script = Script::new(DEPLOYMENT);
        let mut inv = script.prepare_invoke();
        inv.arg(&self.prefix);
        for (name, value) in &self.options.deployment {
            inv.arg(name).arg(value);
        }
        let marker =
            flat_map(inv.invoke_async(&mut conn).await.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        let differences: Vec<String> = self
            .options
            .deployment
            .iter()
            .filter(|(name, value)| marker.get(name) != Some(value))
            .map(|(name, value)| {
                format!("--{name} {} there, {value} here", marker.get(name).map_or("(not set)", String::as_str))
            })
            .collect();
        if differences.is_empty() {
            return Ok(());
        }
        Err(format!(
            "the prefix {:?} is used by another deployment with other settings ({}): servers with other settings would \
             trim and delete each other's streams. Give this deployment its own --redis-prefix, or the same settings; \
             to change the settings of a deployment, stop all of its servers and delete the marker (DEL {}deployment)",
            self.prefix,
            differences.join("; "),
            self.prefix
        ))
    }

    /// Takes `epoch` as the data's; a change wakes the subscription loop, which tells every open stream.
    fn adopt_epoch(&self, epoch: &str) {
        let mut slot = self.epoch.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *slot == epoch {
            return;
        }
        if !slot.is_empty() {
            tracing::warn!(old = %slot, new = %epoch, "the Redis data was replaced or lost: new epoch");
        }
        epoch.clone_into(&mut slot);
        drop(slot);
        self.epoch_changed.notify_one();
    }

    async fn write(&self, batch: &[Write]) -> Result<Vec<Outcome>, StoreError> {
        let mut conn = self.conn.clone();
        for attempt in 0..2 {
            let epoch = self.epoch();
            let mut inv = self.write.prepare_invoke();
            inv.arg(&self.prefix)
                .arg(&epoch)
                .arg(self.options.clock.now_ms())
                .arg(self.options.max_user_topics)
                .arg(self.options.max_user_topic_bytes)
                .arg(self.options.max_user_history_bytes);
            codec::encode_batch(&mut inv, batch, super::idempotency::window_ms(self.options.idempotency_window));
            let reply = inv.invoke_async::<Value>(&mut conn).await.map_err(|e| write_failed(&e))?;
            match codec::decode_write(&epoch, batch, reply)? {
                codec::WriteReply::Done(outcomes) => return Ok(outcomes),
                // The data has another epoch (or none: wiped): adopt it (or create one), then send the batch again.
                codec::WriteReply::EpochChanged(Some(now)) if attempt == 0 => self.adopt_epoch(&now),
                codec::WriteReply::EpochChanged(None) if attempt == 0 => {
                    self.load_epoch().await?;
                }
                codec::WriteReply::EpochChanged(_) => {}
            }
        }
        Err(StoreError::Unavailable("redis: the epoch keeps changing".into()))
    }

    async fn sweep(&self, budget: usize) -> Result<Outcome, StoreError> {
        let mut conn = self.conn.clone();
        let cursor = lock(&self.sweep_cursor).clone();
        let (next, events, topics): (String, u64, u64) = self
            .sweep
            .arg(&self.prefix)
            .arg(self.options.clock.now_ms())
            .arg(cursor)
            .arg(budget)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable(&e))?;
        *lock(&self.sweep_cursor) = next;
        Ok(Outcome::Swept { events, topics })
    }

    async fn read(&self, name: &str, after: u64, limit: usize) -> Result<Snapshot, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = self
            .read
            .arg(&self.prefix)
            .arg(name)
            .arg(after)
            .arg(limit)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable(&e))?;
        let Value::Array(parts) = reply else { return Err(invalid("read reply")) };
        let [meta, seq, deleted, entries, epoch] = <[Value; 5]>::try_from(parts).map_err(|_| invalid("read reply"))?;
        // The events are of the epoch read with them; a new one (wiped data) is adopted at once.
        let epoch = match epoch {
            Value::Nil => self.load_epoch().await?,
            v => text(v)?,
        };
        self.adopt_epoch(&epoch);
        codec::snapshot(&epoch, meta, &seq, &deleted, entries)
    }

    async fn jobs(&self, only: Option<&str>) -> Result<Vec<JobRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let key = |k: &str| format!("{}{k}", self.prefix);
        let (records, ends, leases): (HashMap<String, String>, HashMap<String, String>, HashMap<String, u64>) =
            match only {
                None => redis::pipe()
                    .hgetall(key("jobs"))
                    .hgetall(key("job_end"))
                    .hgetall(key("job_lease"))
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| unavailable(&e))?,
                Some(id) => {
                    let (r, e, l): (Option<String>, Option<String>, Option<u64>) = redis::pipe()
                        .hget(key("jobs"), id)
                        .hget(key("job_end"), id)
                        .hget(key("job_lease"), id)
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| unavailable(&e))?;
                    let key = || id.to_owned();
                    (
                        r.map(|v| (key(), v)).into_iter().collect(),
                        e.map(|v| (key(), v)).into_iter().collect(),
                        l.map(|v| (key(), v)).into_iter().collect(),
                    )
                }
            };
        codec::job_records(records, &ends, &leases)
    }
}

impl Store for RedisStore {
    fn epoch(&self) -> String {
        self.inner.epoch()
    }

    fn write(&self, batch: Vec<Write>) -> BoxFuture<'_, Result<Vec<Outcome>, StoreError>> {
        Box::pin(async move {
            let sweeps: Vec<usize> = batch
                .iter()
                .filter_map(|w| if let Write::Sweep { budget } = w { Some(*budget) } else { None })
                .collect();
            let mut outcomes = self.inner.write(&batch).await?;
            // Sweep steps run after the batch (they are only background retention); their outcomes replace the
            // placeholder ones.
            let mut sweeps = sweeps.into_iter();
            for (w, o) in batch.iter().zip(outcomes.iter_mut()) {
                if matches!(w, Write::Sweep { .. }) {
                    if let Some(budget) = sweeps.next() {
                        *o = self.inner.sweep(budget).await?;
                    }
                }
            }
            Ok(outcomes)
        })
    }

    fn read(&self, name: &str, after: u64, limit: usize) -> BoxFuture<'_, Result<Snapshot, StoreError>> {
        let name = name.to_owned();
        Box::pin(async move { self.inner.read(&name, after, limit).await })
    }

    fn jobs(&self) -> BoxFuture<'_, Result<Vec<JobRecord>, StoreError>> {
        Box::pin(async move { self.inner.jobs(None).await })
    }

    fn job(&self, id: &str) -> BoxFuture<'_, Result<Option<JobRecord>, StoreError>> {
        let id = id.to_owned();
        Box::pin(async move { Ok(self.inner.jobs(Some(&id)).await?.into_iter().next()) })
    }

    fn refresh_epoch(&self) -> BoxFuture<'_, Result<String, StoreError>> {
        Box::pin(async move { self.inner.load_epoch().await })
    }

    fn attach_live(&self, sink: Arc<dyn LiveSink>) -> bool {
        *lock(&self.inner.sink) = Some(sink);
        live::spawn(&self.inner);
        true
    }

    fn watch(&self, name: &str) -> BoxFuture<'_, Result<(), StoreError>> {
        let name = name.to_owned();
        Box::pin(async move { self.inner.watch(&name).await })
    }

    fn unwatch(&self, name: &str) -> BoxFuture<'_, ()> {
        let name = name.to_owned();
        Box::pin(async move { self.inner.unwatch(&name).await })
    }

    fn live_error(&self) -> Option<String> {
        lock(&self.inner.live_error).clone()
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        // Ends the subscription loop (it holds only a weak reference).
        lock(&self.inner.sink).take();
    }
}
