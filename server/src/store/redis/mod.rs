//! The Redis store (`--store redis --redis-url redis://...`): every topic lives in one Redis (or Valkey) primary, so
//! any number of server instances can publish to and serve any topic, with the same ids everywhere.
//!
//! - **Atomic publish**: each [`Store::write`] batch is one Lua script (atomic, one round trip): per event it takes
//!   the next position (`INCR <p>seq`), checks the epoch, `XADD`s `event`/`data`/`ms` with the position as the
//!   stream id, trimming by count (`MAXLEN`), updates the topic's meta hash and `PUBLISH`es the event — history
//!   and live delivery can never disagree. An event nobody was subscribed to (`PUBLISH` reached no instance) on a
//!   per-user topic sets the offline mark.
//! - **Live delivery** without a round trip per client: each instance holds one subscription connection and
//!   subscribes only to topics with local subscribers ([`Store::watch`]), then fans out locally. After a lost
//!   subscription connection it re-subscribes and first fills the hole from the streams (`XRANGE` after the last
//!   position it delivered), then goes on: no gap, no duplicate.
//! - **Epoch**: `<p>epoch`, created with `SET NX` by the first instance; every write checks it, so a wiped or lost
//!   Redis (no epoch key) is noticed: a new epoch is created and clients get `replay-gap`.
//! - **Durability**: an acknowledged event is as durable as Redis makes it. Run Redis with `appendonly yes` and
//!   `appendfsync always` for "acknowledged = on disk" (Redis replies after the fsync); with replicas, an async replica
//!   promoted after a failover can lack the last writes without changing the epoch (see server README).
//!
//! Keys (prefix `<p>`, default `tes:`): `epoch`, `seq`, `deleted_upto`, `topics` (set), `users` (sorted set by last
//! append, for the per-user cap), `jobs` (hash of job records), `job_end`, `job_lease` (job admission counts the jobs
//! not ended whose lease has not run out: `--max-jobs` holds for the deployment), and per topic
//! `t:<topic>:m` (meta hash), `t:<topic>:s` (stream), channel `t:<topic>:c`. One Redis primary (scripts derive
//! key names, so Redis Cluster is not supported).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use redis::{Script, Value};

use super::{
    encode_event, topic, BoxFuture, JobEnd, JobRecord, LiveSink, Outcome, Payload, Snapshot, Store, StoreError,
    StoreOptions, TopicState, Write,
};
use crate::hub::Event;

/// Shared Lua: key helpers and topic deletion.
const PRELUDE: &str = r"
local p = ARGV[1]
local function tkey(topic, suffix) return p .. 't:' .. topic .. ':' .. suffix end
local function num(v) return tonumber(v) or 0 end
local function delete_topic(topic)
  local meta = tkey(topic, 'm')
  if redis.call('EXISTS', meta) == 0 then return 0 end
  local last = num(redis.call('HGET', meta, 'last'))
  if last > num(redis.call('GET', p .. 'deleted_upto')) then redis.call('SET', p .. 'deleted_upto', last) end
  local count = num(redis.call('HGET', meta, 'count'))
  redis.call('DEL', meta, tkey(topic, 's'))
  redis.call('SREM', p .. 'topics', topic)
  redis.call('ZREM', p .. 'users', topic)
  return count
end
";

/// ARGV: prefix, epoch, now, max user topics, then the ops (see [`encode_batch`]). Returns one reply per op.
const WRITE: &str = r"
if redis.call('GET', p .. 'epoch') ~= ARGV[2] then return redis.error_reply('EPOCH changed') end
local now = num(ARGV[3])
local max_users = num(ARGV[4])
local function append(topic, event, data, at, max_events, max_age, is_user, mark_offline)
  local pos = redis.call('INCR', p .. 'seq')
  local meta, stream = tkey(topic, 'm'), tkey(topic, 's')
  local m = redis.call('HMGET', meta, 'last_append_ms', 'count', 'offline_from')
  local fields = {}
  if not m[1] then
    fields = {'created_after', pos - 1, 'trimmed_upto', 0, 'offline_from', 0}
    redis.call('SADD', p .. 'topics', topic)
  end
  local t = math.max(now, num(m[1]))
  local count = num(m[2]) + 1
  if at >= 0 then data = string.sub(data, 1, at) .. pos .. string.sub(data, at + 1) end
  if max_events >= 0 and count > max_events then
    -- The oldest goes (XADD trims it); remember it, so a client that missed it learns so.
    local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', count - max_events)
    if #oldest > 0 then
      fields[#fields + 1] = 'trimmed_upto'
      fields[#fields + 1] = tonumber(string.match(oldest[#oldest][1], '^(%d+)'))
    end
    redis.call('XADD', stream, 'MAXLEN', max_events, pos .. '-0', 'e', event, 'd', data, 't', t)
    if max_events == 0 then
      fields[#fields + 1] = 'trimmed_upto'
      fields[#fields + 1] = pos
    end
    count = max_events
  else
    redis.call('XADD', stream, pos .. '-0', 'e', event, 'd', data, 't', t)
  end
  local receivers = redis.call('PUBLISH', tkey(topic, 'c'), ARGV[2] .. '\n' .. pos .. '\n' .. event .. '\n' .. data)
  if is_user and receivers == 0 and mark_offline and num(m[3]) == 0 then
    fields[#fields + 1] = 'offline_from'
    fields[#fields + 1] = pos
  end
  redis.call('HSET', meta, 'last', pos, 'last_append_ms', t, 'count', count, 'max_events', max_events, 'max_age_ms', max_age, unpack(fields))
  if is_user then
    redis.call('ZADD', p .. 'users', t, topic)
    if not m[1] then
      while redis.call('ZCARD', p .. 'users') > max_users do
        local victim = redis.call('ZRANGE', p .. 'users', 0, 0)[1]
        if victim == topic then break end
        delete_topic(victim)
      end
    end
  end
  return {pos, data}
end
local function delete_job(id)
  redis.call('HDEL', p .. 'jobs', id)
  redis.call('HDEL', p .. 'job_end', id)
  redis.call('HDEL', p .. 'job_lease', id)
  delete_topic('j:' .. id)
end
-- Job admission: fewer than `cap` jobs running now (not ended, lease not run out); with `cap` kept, the job that
-- ended first makes room.
local function admit_job(cap)
  local ended, first, first_at = {}, nil, nil
  local ends = redis.call('HGETALL', p .. 'job_end')
  for j = 1, #ends, 2 do
    ended[ends[j]] = true
    local at = num(string.match(ends[j + 1], '^(%d+)'))
    if not first_at or at < first_at then first, first_at = ends[j], at end
  end
  local leases = redis.call('HGETALL', p .. 'job_lease')
  local running = 0
  for j = 1, #leases, 2 do
    if not ended[leases[j]] and num(leases[j + 1]) >= now then running = running + 1 end
  end
  if running >= cap then return false end
  if first and redis.call('HLEN', p .. 'jobs') >= cap then delete_job(first) end
  return true
end
local out = {}
local i = 5
-- Arguments per op (to skip the op of a key seen already).
local widths = {A = 8, T = 2, J = 5, D = 2, E = 4, R = 3, P = 1}
-- A key to keep the next op's outcome under: {redis key, fingerprint, window ms}.
local keyed = nil
-- The job id of the last 'J' op (a keyed job creation remembers it).
local last_job = nil
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'K' then
    local k, fp, window = p .. 'idem:' .. ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    i = i + 4
    local seen = redis.call('GET', k)
    if seen then
      i = i + (widths[ARGV[i]] or 1)
      if string.sub(seen, 1, #fp + 1) == fp .. '\n' then
        local rest = string.sub(seen, #fp + 2)
        local nl = string.find(rest, '\n', 1, true)
        out[#out + 1] = {'seen', tonumber(string.sub(rest, 1, nl - 1)), string.sub(rest, nl + 1)}
      else
        out[#out + 1] = {'reused'}
      end
    else
      keyed = {k, fp, window}
    end
  elseif op == 'A' then
    out[#out + 1] = append(ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], num(ARGV[i + 4]), num(ARGV[i + 5]), num(ARGV[i + 6]), ARGV[i + 7] == '1', true)
    i = i + 8
  elseif op == 'T' then
    local meta = tkey(ARGV[i + 1], 'm')
    local from = num(redis.call('HGET', meta, 'offline_from'))
    if from > 0 then redis.call('HSET', meta, 'offline_from', 0) end
    out[#out + 1] = from
    i = i + 2
  elseif op == 'J' then
    last_job = ARGV[i + 1]
    if admit_job(num(ARGV[i + 4])) then
      redis.call('HSET', p .. 'jobs', ARGV[i + 1], ARGV[i + 2])
      redis.call('HSET', p .. 'job_lease', ARGV[i + 1], ARGV[i + 3])
      out[#out + 1] = 0
    else
      out[#out + 1] = -1
    end
    i = i + 5
  elseif op == 'D' then
    delete_job(ARGV[i + 1])
    out[#out + 1] = 0
    i = i + 2
  elseif op == 'E' then
    local id, outcome, before = ARGV[i + 1], ARGV[i + 2], num(ARGV[i + 3])
    local running = redis.call('HEXISTS', p .. 'jobs', id) == 1 and redis.call('HEXISTS', p .. 'job_end', id) == 0
    if running and (before < 0 or num(redis.call('HGET', p .. 'job_lease', id)) < before) then
      redis.call('HSET', p .. 'job_end', id, now .. ':' .. outcome)
      out[#out + 1] = append('j:' .. id, 'ping', outcome, -1, -1, -1, false, false)
    else
      out[#out + 1] = 0
    end
    i = i + 4
  elseif op == 'R' then
    if redis.call('HEXISTS', p .. 'jobs', ARGV[i + 1]) == 1 then redis.call('HSET', p .. 'job_lease', ARGV[i + 1], ARGV[i + 2]) end
    out[#out + 1] = 0
    i = i + 3
  elseif op == 'P' then
    redis.call('SET', p .. 'probe', now)
    out[#out + 1] = 0
    i = i + 1
  else
    return redis.error_reply('unknown op ' .. tostring(op))
  end
  if keyed and op ~= 'K' then
    local r = out[#out]
    if type(r) == 'table' and #r == 2 then
      redis.call('SET', keyed[1], keyed[2] .. '\n' .. r[1] .. '\n' .. r[2], 'PX', keyed[3])
    elseif op == 'J' and r == 0 then
      redis.call('SET', keyed[1], keyed[2] .. '\n0\n' .. last_job, 'PX', keyed[3])
    end
    keyed = nil
  end
end
return out
";

/// ARGV: prefix, topic, after, limit → {meta (flat), seq, deleted_upto, entries, epoch}.
const READ: &str = r"
local topic, after, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
local meta = redis.call('HGETALL', tkey(topic, 'm'))
local entries = {}
if #meta > 0 and limit > 0 then
  entries = redis.call('XRANGE', tkey(topic, 's'), '(' .. after .. '-0', '+', 'COUNT', limit)
end
return {meta, num(redis.call('GET', p .. 'seq')), num(redis.call('GET', p .. 'deleted_upto')), entries, redis.call('GET', p .. 'epoch')}
";

/// ARGV: prefix, now, cursor, budget → {next cursor, events removed, topics removed}: one bounded age sweep step.
const SWEEP: &str = r"
local now, cursor, budget = num(ARGV[2]), ARGV[3], num(ARGV[4])
local scan = redis.call('SSCAN', p .. 'topics', cursor, 'COUNT', budget)
local removed, topics = 0, 0
for _, topic in ipairs(scan[2]) do
  local meta, stream = tkey(topic, 'm'), tkey(topic, 's')
  local max_age = tonumber(redis.call('HGET', meta, 'max_age_ms')) or -1
  if max_age >= 0 then
    local cutoff = now - max_age
    local n, last_old = 0, nil
    for _, e in ipairs(redis.call('XRANGE', stream, '-', '+', 'COUNT', 10000)) do
      local t = 0
      for j = 1, #e[2], 2 do if e[2][j] == 't' then t = num(e[2][j + 1]) end end
      if t >= cutoff then break end
      n, last_old = n + 1, e[1]
    end
    if n > 0 then
      if n >= redis.call('XLEN', stream) then
        removed = removed + delete_topic(topic)
        topics = topics + 1
      else
        local lp = tonumber(string.match(last_old, '^(%d+)'))
        redis.call('XTRIM', stream, 'MINID', (lp + 1) .. '-0')
        redis.call('HSET', meta, 'trimmed_upto', lp, 'count', redis.call('XLEN', stream))
        removed = removed + n
      end
    end
  end
end
return {scan[1], removed, topics}
";

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
            watched: Mutex::new(HashMap::new()),
            sink: Mutex::new(None),
            live_error: Mutex::new(None),
            delivered_epoch: Mutex::new(String::new()),
            epoch_changed: Arc::default(),
        });
        let epoch = until_loaded(&shown, || inner.load_epoch()).await.map_err(|e| open_err(&e))?;
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

/// Runs `attempt` until Redis is done loading its data (`LOADING` after a restart with a large data set), waiting
/// with backoff from 100 ms to 2 s; any other outcome is returned.
async fn until_loaded<T, E, F, Fut>(url: &str, mut attempt: F) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match attempt().await {
            Err(e) if e.to_string().to_ascii_lowercase().contains("loading") => {
                tracing::warn!(%url, retry_in = ?backoff, "Redis is still loading its data; waiting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// ARGV: prefix, then setting, value, ... → the marker's fields (flat), created with these if there is none.
const DEPLOYMENT: &str = r"
local key = ARGV[1] .. 'deployment'
if redis.call('EXISTS', key) == 0 and #ARGV > 1 then redis.call('HSET', key, unpack(ARGV, 2)) end
return redis.call('HGETALL', key)
";

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    fn epoch(&self) -> String {
        self.epoch.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reads the epoch, creating one if the data has none (first start, or a wiped Redis).
    async fn load_epoch(&self) -> Result<String, StoreError> {
        let mut conn = self.conn.clone();
        let key = format!("{}epoch", self.prefix);
        let fresh = super::new_epoch()?;
        let _: Value = redis::cmd("SET")
            .arg(&key)
            .arg(&fresh)
            .arg("NX")
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable(&e))?;
        let epoch: String = redis::cmd("GET").arg(&key).query_async(&mut conn).await.map_err(|e| unavailable(&e))?;
        self.adopt_epoch(&epoch);
        Ok(epoch)
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

    /// Subscription loop only: if the epoch changed since its last event, announces the new one to the sink (before
    /// any event of it) and delivers every watched topic from its start again.
    fn announce_epoch(&self) {
        let epoch = self.epoch();
        {
            let mut delivered = lock(&self.delivered_epoch);
            if *delivered == epoch {
                return;
            }
            delivered.clone_from(&epoch);
        }
        for last in lock(&self.watched).values_mut() {
            *last = 0;
        }
        if let Some(sink) = lock(&self.sink).clone() {
            sink.epoch(&epoch);
        }
    }

    async fn write(&self, batch: &[Write]) -> Result<Vec<Outcome>, StoreError> {
        let mut conn = self.conn.clone();
        for attempt in 0..2 {
            let epoch = self.epoch();
            let mut inv = self.write.prepare_invoke();
            inv.arg(&self.prefix).arg(&epoch).arg(self.options.clock.now_ms()).arg(self.options.max_user_topics);
            encode_batch(&mut inv, batch, super::idempotency::window_ms(self.options.idempotency_window));
            match inv.invoke_async::<Value>(&mut conn).await {
                Ok(reply) => return decode_outcomes(&epoch, batch, reply),
                Err(e) if attempt == 0 && e.to_string().contains("EPOCH") => {
                    self.load_epoch().await?;
                }
                Err(e) => return Err(write_failed(&e)),
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
        let meta = flat_map(meta)?;
        let topic = (!meta.is_empty()).then(|| topic_state(&meta));
        let mut events = Vec::new();
        if let Value::Array(entries) = entries {
            for entry in entries {
                events.push(Arc::new(stream_entry(&epoch, entry)?));
            }
        }
        Ok(Snapshot { topic, last_position: int(&seq)?, deleted_upto: int(&deleted)?, events, corrupt: Vec::new() })
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

    /// Subscription loop only: `event` of `name`, unless delivered already.
    fn deliver(&self, name: &str, event: Event) {
        {
            let mut watched = lock(&self.watched);
            let Some(last) = watched.get_mut(name) else { return };
            if event.pos <= *last {
                return;
            }
            *last = event.pos;
        }
        let sink = lock(&self.sink).clone();
        if let Some(sink) = sink {
            sink.event(name, Arc::new(event));
        }
    }

    fn channel(&self, name: &str) -> String {
        format!("{}t:{name}:c", self.prefix)
    }

    fn topic_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel.strip_prefix(self.prefix.as_str())?.strip_prefix("t:")?.strip_suffix(":c")
    }
}

fn invalid(what: &str) -> StoreError {
    StoreError::Invalid(format!("unexpected Redis {what}"))
}

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

fn text(v: Value) -> Result<String, StoreError> {
    match v {
        Value::BulkString(b) => String::from_utf8(b).map_err(|_| invalid("text")),
        Value::SimpleString(s) => Ok(s),
        Value::Int(n) => Ok(n.to_string()),
        _ => Err(invalid("text")),
    }
}

fn flat_map(v: Value) -> Result<HashMap<String, String>, StoreError> {
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
        retention: super::Retention { max_events: opt("max_events"), max_age_ms: opt("max_age_ms") },
        bytes: 0,
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

fn signed(v: Option<u64>) -> i64 {
    v.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// The ops of a batch as script arguments (Sweep runs as its own script).
/// `window_ms`: how long idempotency keys are kept.
fn encode_batch(inv: &mut redis::ScriptInvocation<'_>, batch: &[Write], window_ms: u64) {
    for w in batch {
        encode_write(inv, w, window_ms);
    }
}

fn encode_write(inv: &mut redis::ScriptInvocation<'_>, w: &Write, window_ms: u64) {
    match w {
        Write::Keyed { key, write } => {
            inv.arg("K").arg(&key.scoped).arg(&key.fingerprint).arg(window_ms);
            encode_write(inv, write, window_ms);
        }
        Write::Append { topic: name, payload, retention, mark_offline: _ } => {
            let at = payload.position_at.and_then(|a| i64::try_from(a).ok()).unwrap_or(-1);
            inv.arg("A")
                .arg(name)
                .arg(payload.event.as_deref().unwrap_or(""))
                .arg(&payload.data)
                .arg(at)
                .arg(signed(retention.max_events))
                .arg(signed(retention.max_age_ms))
                .arg(if topic::is_user(name) { "1" } else { "0" });
        }
        Write::TakeOffline { topic: name } => {
            inv.arg("T").arg(name);
        }
        Write::StartJob { job, max_running } => {
            let mut record = job.clone();
            // Ends and leases live in their own hashes, so that ending a job is one atomic HSETNX-like step.
            record.ended = None;
            let json = serde_json::to_string(&record).unwrap_or_default();
            inv.arg("J").arg(&job.id).arg(json).arg(job.lease_until_ms).arg(*max_running);
        }
        Write::DeleteJob { id } => {
            inv.arg("D").arg(id);
        }
        Write::EndJob { id, outcome, only_if_lease_before } => {
            inv.arg("E").arg(id).arg(outcome).arg(signed(*only_if_lease_before));
        }
        Write::RenewJob { id, until_ms } => {
            inv.arg("R").arg(id).arg(until_ms);
        }
        Write::Probe | Write::Sweep { .. } => {
            inv.arg("P");
        }
    }
}

fn decode_outcomes(epoch: &str, batch: &[Write], reply: Value) -> Result<Vec<Outcome>, StoreError> {
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

fn decode_outcome(epoch: &str, w: &Write, r: Value) -> Result<Outcome, StoreError> {
    Ok(match (w, r) {
        (Write::Keyed { write, .. }, Value::Array(parts)) => match parts.first() {
            Some(Value::BulkString(b)) if b == b"seen" => {
                let [_, pos, data] = <[Value; 3]>::try_from(parts).map_err(|_| invalid("repeat reply"))?;
                Outcome::Repeated(super::idempotency::Remembered { position: int(&pos)?, data: text(data)? })
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

fn appended(epoch: &str, event: Option<&str>, pair: Vec<Value>) -> Result<Outcome, StoreError> {
    let [pos, data] = <[Value; 2]>::try_from(pair).map_err(|_| invalid("append reply"))?;
    let (pos, data) = (int(&pos)?, text(data)?);
    let (event, data) =
        encode_event(epoch, pos, &Payload::new(event, data)).map_err(|e| StoreError::Invalid(e.to_string()))?;
    Ok(Outcome::Appended { event: Arc::new(event), data })
}

/// A published message: `<epoch>\n<position>\n<event>\n<data>` → its epoch and event.
fn parse_message(payload: &[u8]) -> Option<(&str, Event)> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.splitn(4, '\n');
    let epoch = parts.next()?;
    let pos = parts.next()?.parse().ok()?;
    let event = parts.next().filter(|e| !e.is_empty());
    let data = parts.next()?;
    encode_event(epoch, pos, &Payload::new(event, data)).ok().map(|(e, _)| (epoch, e))
}

/// Most events read at once while filling a hole after a reconnect.
const REFILL_CHUNK: usize = 1024;

/// Keeps the subscription connection: (re)connects, subscribes every watched topic, fills holes, delivers; announces a
/// new epoch before its first event.
async fn live_loop(inner: std::sync::Weak<Inner>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(store) = inner.upgrade() else { return };
        let notify = Arc::clone(&store.epoch_changed);
        let mut stream = match store.client.get_async_pubsub().await {
            Ok(pubsub) => {
                let (mut sink, stream) = pubsub.split();
                match resubscribe(&store, &mut sink).await {
                    Ok(()) => {
                        *store.live.lock().await = Some(sink);
                        *lock(&store.live_error) = None;
                        backoff = Duration::from_millis(50);
                        Some(stream)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "redis: re-subscribing failed");
                        None
                    }
                }
            }
            Err(e) => {
                *lock(&store.live_error) = Some(format!("redis subscription: {e}"));
                tracing::warn!(error = %e, "redis: subscription connection failed; retrying");
                None
            }
        };
        drop(store);
        if let Some(stream) = stream.as_mut() {
            loop {
                let msg = tokio::select! {
                    msg = stream.next() => match msg {
                        Some(msg) => msg,
                        None => break,
                    },
                    () = notify.notified() => {
                        let Some(store) = inner.upgrade() else { return };
                        store.announce_epoch();
                        continue;
                    }
                };
                let Some(store) = inner.upgrade() else { return };
                let Some(name) = store.topic_of(msg.get_channel_name()) else { continue };
                let Some((epoch, event)) = parse_message(msg.get_payload_bytes()) else {
                    tracing::warn!(channel = msg.get_channel_name(), "redis: unreadable message");
                    continue;
                };
                // Another epoch than ours: a new one (wiped data, seen first here), or the last message of an old
                // one. Redis tells which.
                if epoch != store.epoch() && store.load_epoch().await.ok().as_deref() != Some(epoch) {
                    continue;
                }
                store.announce_epoch();
                if *lock(&store.delivered_epoch) == epoch {
                    store.deliver(name, event);
                }
            }
            let Some(store) = inner.upgrade() else { return };
            *store.live.lock().await = None;
            *lock(&store.live_error) = Some("redis subscription connection lost".into());
            tracing::warn!("redis: subscription connection lost; reconnecting");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// After a (re)connect: the epoch first (Redis may have come back empty), then every watched topic subscribed and
/// what was published while this instance was not subscribed delivered, before any new message.
async fn resubscribe(store: &Inner, sink: &mut PubSubSink) -> Result<(), StoreError> {
    store.load_epoch().await?;
    store.announce_epoch();
    let topics: Vec<String> = lock(&store.watched).keys().cloned().collect();
    for name in &topics {
        sink.subscribe(store.channel(name)).await.map_err(|e| unavailable(&e))?;
    }
    for name in &topics {
        loop {
            let after = lock(&store.watched).get(name).copied().unwrap_or(0);
            let snap = store.read(name, after, REFILL_CHUNK).await?;
            store.announce_epoch();
            let full = snap.events.len() == REFILL_CHUNK;
            for e in snap.events {
                store.deliver(name, Event { pos: e.pos, frame: e.frame.clone() });
            }
            if !full {
                break;
            }
        }
    }
    Ok(())
}

/// Every [`EPOCH_CHECK`]: reads the epoch (creating one if the data has none), so a wiped Redis is noticed even
/// while nobody publishes.
async fn epoch_check_loop(inner: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(EPOCH_CHECK).await;
        let Some(store) = inner.upgrade() else { return };
        if lock(&store.sink).is_none() {
            return;
        }
        if let Err(e) = store.load_epoch().await {
            tracing::debug!(error = %e, "redis: epoch check failed");
        }
    }
}

/// How often the epoch is checked while nothing else reads or writes it.
pub const EPOCH_CHECK: Duration = Duration::from_secs(1);

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
        tokio::spawn(live_loop(Arc::downgrade(&self.inner)));
        tokio::spawn(epoch_check_loop(Arc::downgrade(&self.inner)));
        true
    }

    fn watch(&self, name: &str) -> BoxFuture<'_, Result<(), StoreError>> {
        let name = name.to_owned();
        Box::pin(async move {
            // Held throughout: a second watcher of the same topic returns only once the first SUBSCRIBE is confirmed.
            let mut live = self.inner.live.lock().await;
            if lock(&self.inner.watched).contains_key(&name) {
                return Ok(());
            }
            // Right after start the subscription connection may still be coming up.
            for _ in 0..40 {
                if live.is_some() {
                    break;
                }
                drop(live);
                tokio::time::sleep(Duration::from_millis(50)).await;
                live = self.inner.live.lock().await;
            }
            let sink =
                live.as_mut().ok_or_else(|| StoreError::Unavailable("redis subscription connection is down".into()))?;
            // Delivered so far: nothing after the store's last position now (the caller reads the replay after this).
            let seq = self.inner.read(&name, 0, 0).await?.last_position;
            lock(&self.inner.watched).insert(name.clone(), seq);
            if let Err(e) = sink.subscribe(self.inner.channel(&name)).await {
                lock(&self.inner.watched).remove(&name);
                return Err(unavailable(&e));
            }
            Ok(())
        })
    }

    fn unwatch(&self, name: &str) -> BoxFuture<'_, ()> {
        let name = name.to_owned();
        Box::pin(async move {
            if lock(&self.inner.watched).remove(&name).is_none() {
                return;
            }
            if let Some(sink) = self.inner.live.lock().await.as_mut() {
                let _ = sink.unsubscribe(self.inner.channel(&name)).await;
            }
        })
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
