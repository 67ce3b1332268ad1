//! The Redis store (`--store redis --redis-url redis://...`): every topic lives in Redis (or Valkey) — one primary,
//! or a Redis Cluster whose primaries share the topics — so any number of server instances can publish to and serve
//! any topic, with the same ids everywhere.
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
//! `t:<topic>:m` (meta hash), `t:<topic>:s` (stream), channel `t:<topic>:c`.
//!
//! **Redis Cluster** (several seed URLs, or a node that says `cluster_enabled:1`): the same keys under one hash tag per
//! slot group (`groups.rs`: a script touches one slot; each group has its own sequence and epoch label, group 0 the
//! deployment's epoch, marker, jobs and user accounting), `SPUBLISH`/`SSUBSCRIBE` (`live.rs`), `WAIT` for
//! `--redis-wait-replicas`, and after a failover the check that what this instance acknowledged is still there
//! (`Inner::check_acknowledged`). The server README says what is atomic where and what a failover can lose.
//!
//! Here: the store and its writes and reads; the Lua scripts (one atomic round trip each) in `*.lua` beside this file;
//! `live.rs` (the subscription loop); `codec.rs` (script arguments and replies ↔ the store's types).

mod codec;
mod conn;
mod groups;
mod live;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::{PushInfo, Script, Value};

use super::{BoxFuture, JobRecord, LiveSink, Outcome, Snapshot, Store, StoreError, StoreOptions, Write};
use codec::{flat_map, invalid, text, UserChange};
use conn::{Conn, LiveConn};
use groups::Groups;
pub use groups::MAX_GROUPS;
pub use live::EPOCH_CHECK;

/// Shared by the scripts below (prepended): key helpers and topic deletion.
const PRELUDE: &str = include_str!("prelude.lua");
/// A write batch (see [`codec::encode_batch`]); one reply per op.
const WRITE: &str = include_str!("write.lua");
/// A topic's meta and events after a position.
const READ: &str = include_str!("read.lua");
/// One bounded age sweep step.
const SWEEP: &str = include_str!("sweep.lua");
/// A slot group's epoch label (compare-and-set).
const LABEL: &str = include_str!("label.lua");
/// Redis Cluster: the user topics' accounting and caps (group 0).
const USERS: &str = include_str!("users.lua");
/// Redis Cluster: deletes a user topic the accounting evicted.
const DELETE: &str = include_str!("delete.lua");
/// The deployment marker, created if there is none (runs alone, without the prelude).
const DEPLOYMENT: &str = include_str!("deployment.lua");

/// Settings of the Redis store only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// Slot groups a Redis Cluster spreads topics over (1..=[`MAX_GROUPS`]); part of the deployment marker. Ignored
    /// for one primary.
    pub cluster_groups: u16,
    /// Replicas that must have each write (`WAIT`) before it is acknowledged; 0: acknowledged once the primary ran
    /// it. A write the replicas did not confirm in `wait_timeout` is answered [`StoreError::OutcomeUnknown`].
    pub wait_replicas: u32,
    /// How long a write waits for `wait_replicas`.
    pub wait_timeout: Duration,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings { cluster_groups: 64, wait_replicas: 0, wait_timeout: Duration::from_millis(500) }
    }
}

/// The Redis store; see the [module docs](self).
pub struct RedisStore {
    inner: Arc<Inner>,
}

/// Where the subscription connection comes from.
enum Endpoint {
    /// One primary: `SUBSCRIBE` on its own connection.
    Single(redis::Client),
    /// A cluster: a RESP3 cluster connection whose pushes (shard messages, confirmations, disconnections) arrive on
    /// `pushes`, taken by the subscription loop.
    ///
    /// Both clients are kept to connect again when a cluster connection stops answering altogether (see
    /// [`Inner::reconnect_commands`]).
    Cluster {
        commands: Box<ClusterClient>,
        subscriber: Box<ClusterClient>,
        pushes: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<PushInfo>>>,
    },
}

struct Inner {
    endpoint: Endpoint,
    /// Replaced only when a cluster connection stopped answering ([`Inner::reconnect_commands`]).
    conn: RwLock<Conn>,
    groups: Groups,
    prefix: String,
    settings: RedisSettings,
    epoch: RwLock<String>,
    options: StoreOptions,
    write: Script,
    read: Script,
    sweep: Script,
    label: Script,
    users: Script,
    delete: Script,
    /// The age sweep's place: each group's `SSCAN` cursor.
    sweep_cursors: Mutex<Vec<String>>,
    live: tokio::sync::Mutex<Option<LiveConn>>,
    /// Wakes the cluster subscription loop to subscribe every topic again and fill its hole (its connection was
    /// replaced: [`Inner::reconnect_subscriber`]).
    resubscribe: Arc<tokio::sync::Notify>,
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
    /// Per slot group, the last event this instance had acknowledged there: checked after a lost node (see
    /// [`Inner::check_acknowledged`]).
    last_acked: Mutex<HashMap<usize, Acked>>,
    /// Failures seen (a lost node, a failed command) since the last check: while there are any, `last_acked` keeps
    /// what was acknowledged before them, and the epoch check loop checks it.
    doubts: AtomicU64,
}

/// An acknowledged event, as it must still be found: a replica applies its primary's writes in order, so if a
/// group's last acknowledged event survived a failover, every earlier one did too.
struct Acked {
    /// The epoch it was acknowledged in: after a change of epoch (wiped data, a rollback found) it is not looked for.
    epoch: String,
    topic: String,
    pos: u64,
    frame: bytes::Bytes,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .field("groups", &self.inner.groups.len())
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

/// A script with the prelude and the layout's `cluster` flag before it.
fn script(cluster: bool, body: &str) -> Script {
    Script::new(&format!("local cluster = {cluster}\n{PRELUDE}{body}"))
}

impl RedisStore {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`), with keys under `prefix` and the default
    /// [`RedisSettings`]; see [`RedisStore::open_with`].
    pub async fn open(url: &str, prefix: &str, options: StoreOptions) -> Result<Self, StoreError> {
        Self::open_with(url, prefix, options, RedisSettings::default()).await
    }

    /// Connects to `urls`: one URL (a Redis Cluster node is recognised as such: `cluster_enabled:1`) or several,
    /// comma-separated, as the seeds of a cluster. Creates the epoch if the data has none (and labels every slot
    /// group with it). Waits (with backoff) while Redis is still loading its data; fails if Redis cannot be reached,
    /// or if the prefix holds the deployment marker of servers with other settings ([`StoreOptions::deployment`],
    /// and in a cluster the number of slot groups).
    pub async fn open_with(
        urls: &str,
        prefix: &str,
        mut options: StoreOptions,
        settings: RedisSettings,
    ) -> Result<Self, StoreError> {
        let seeds: Vec<&str> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
        let shown = seeds.iter().map(|u| redact(u)).collect::<Vec<_>>().join(",");
        let open_err = |e: &dyn std::fmt::Display| StoreError::Redis { url: shown.clone(), detail: e.to_string() };
        let first = seeds.first().ok_or_else(|| open_err(&"no Redis URL given"))?;
        let client = redis::Client::open(*first).map_err(|e| open_err(&e))?;
        let cluster =
            seeds.len() > 1 || until_loaded(&shown, || is_cluster(&client)).await.map_err(|e| open_err(&e))?;
        let (endpoint, conn, groups) = if cluster {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let builder = || {
                ClusterClientBuilder::new(seeds.iter().copied())
                    .connection_timeout(Duration::from_millis(500))
                    .response_timeout(Duration::from_secs(1))
            };
            let commands = builder().build().map_err(|e| open_err(&e))?;
            let subscriber = builder()
                .use_protocol(redis::ProtocolVersion::RESP3)
                .push_sender(tx)
                .build()
                .map_err(|e| open_err(&e))?;
            let conn = until_loaded(&shown, || commands.get_async_connection()).await.map_err(|e| open_err(&e))?;
            options.deployment.push(("redis-cluster-groups".into(), settings.cluster_groups.to_string()));
            let endpoint = Endpoint::Cluster {
                commands: Box::new(commands),
                subscriber: Box::new(subscriber),
                pushes: Mutex::new(Some(rx)),
            };
            (endpoint, Conn::Cluster(conn), Groups::cluster(prefix, settings.cluster_groups))
        } else {
            // Commands only (no blocking ones): a response timeout detects a dead server; reconnects are automatic.
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_millis(500)))
                .set_response_timeout(Some(Duration::from_secs(1)))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(200));
            let conn = until_loaded(&shown, || client.get_connection_manager_with_config(config.clone()))
                .await
                .map_err(|e| open_err(&e))?;
            (Endpoint::Single(client), Conn::Single(conn), Groups::single(prefix))
        };
        let sweep_cursors = Mutex::new(vec!["0".to_owned(); groups.len()]);
        let inner = Arc::new(Inner {
            endpoint,
            conn: RwLock::new(conn),
            groups,
            prefix: prefix.to_owned(),
            settings,
            epoch: RwLock::new(String::new()),
            options,
            write: script(cluster, WRITE),
            read: script(cluster, READ),
            sweep: script(cluster, SWEEP),
            label: script(cluster, LABEL),
            users: script(cluster, USERS),
            delete: script(cluster, DELETE),
            sweep_cursors,
            live: tokio::sync::Mutex::new(None),
            resubscribe: Arc::default(),
            live_up: tokio::sync::watch::Sender::new(false),
            watched: Mutex::new(HashMap::new()),
            sink: Mutex::new(None),
            live_error: Mutex::new(None),
            delivered_epoch: Mutex::new(String::new()),
            epoch_changed: Arc::default(),
            last_acked: Mutex::new(HashMap::new()),
            doubts: AtomicU64::new(0),
        });
        let fresh = super::new_epoch().map_err(|e| open_err(&e))?;
        let epoch = until_loaded(&shown, || inner.fetch_epoch(&fresh)).await.map_err(|e| open_err(&e))?;
        for group in 1..inner.groups.len() {
            inner.relabel(group, "", &epoch).await.map_err(|e| open_err(&e))?;
        }
        inner.adopt_epoch(&epoch);
        *lock(&inner.delivered_epoch) = epoch;
        inner.claim_deployment().await.map_err(|detail| StoreError::Redis { url: shown.clone(), detail })?;
        Ok(RedisStore { inner })
    }
}

/// A new connection from `client` (within [`RECONNECT_WAIT`]), logged: `which` names it.
async fn connect_again(client: &ClusterClient, which: &str) -> Option<redis::cluster_async::ClusterConnection> {
    match tokio::time::timeout(RECONNECT_WAIT, client.get_async_connection()).await {
        Ok(Ok(conn)) => {
            tracing::warn!(
                connection = which,
                checks = STUCK_CHECKS,
                "redis: a cluster connection failed every check; connected again"
            );
            Some(conn)
        }
        Ok(Err(e)) => {
            tracing::warn!(connection = which, error = %e, "redis: connecting to the cluster again failed; retrying");
            None
        }
        Err(_) => {
            tracing::warn!(connection = which, "redis: connecting to the cluster again timed out; retrying");
            None
        }
    }
}

/// Whether the server at `client` is a Redis Cluster node.
async fn is_cluster(client: &redis::Client) -> Result<bool, redis::RedisError> {
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO").arg("cluster").query_async(&mut conn).await?;
    Ok(info.lines().any(|l| l.trim() == "cluster_enabled:1"))
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

/// The slot group a write goes to: its topic's; job records and probes live in group 0.
fn group_of(groups: &Groups, w: &Write) -> usize {
    topic_of_write(w).map_or(0, |topic| groups.of(topic))
}

/// The topic an append or an offline take writes to (through an idempotency key too); the other writes are group 0's.
fn topic_of_write(w: &Write) -> Option<&str> {
    match w {
        Write::Keyed { write, .. } => topic_of_write(write),
        Write::Append { topic, .. } | Write::TakeOffline { topic } => Some(topic),
        _ => None,
    }
}

/// Which cluster connection failed [`Inner::probe_cluster`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    Commands,
    Subscriptions,
}

/// Failed checks in a row after which a cluster connection is replaced by a new one ([`Inner::reconnect_commands`]).
pub(super) const STUCK_CHECKS: u32 = 3;

/// How long making a new cluster connection may take.
const RECONNECT_WAIT: Duration = Duration::from_secs(5);

impl Inner {
    /// Redis Cluster: whether every primary answers on both connections now (see [`conn::ping_primaries`]): `Err`
    /// names the connection that failed.
    pub(super) async fn probe_cluster(&self) -> Result<(), Probe> {
        if let Conn::Cluster(mut conn) = self.conn() {
            conn::ping_primaries(&mut conn).await.map_err(|_| Probe::Commands)?;
        }
        let live = match self.live.lock().await.as_ref() {
            Some(LiveConn::Cluster(c)) => Some(c.clone()),
            _ => None,
        };
        if let Some(mut live) = live {
            conn::ping_primaries(&mut live).await.map_err(|_| Probe::Subscriptions)?;
        }
        Ok(())
    }

    /// The command connection (a handle: clones share it).
    fn conn(&self) -> Conn {
        self.conn.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Redis Cluster: a new command connection, made from the seeds, in place of one that failed [`STUCK_CHECKS`]
    /// checks in a row. redis-rs's cluster connection repairs itself after a lost node, but not after a node that
    /// stopped answering without closing its connections, and a slot refresh that never completes leaves it answering
    /// every command with a timeout for good (seen after a failover under load: 15 minutes, until the test gave up); a
    /// new connection learns the slots from any live seed. The old one is kept if no new one can be made now (Redis
    /// really is unreachable). Answers whether it connected again.
    pub(super) async fn reconnect_commands(&self) -> bool {
        let Endpoint::Cluster { commands, .. } = &self.endpoint else { return false };
        let Some(conn) = connect_again(commands, "commands").await else { return false };
        *self.conn.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Conn::Cluster(conn);
        true
    }

    /// Redis Cluster: the same for the subscription connection (also after [`STUCK_CHECKS`] failed attempts in a row
    /// to subscribe again); the subscription loop then subscribes every topic again on it and fills each hole. Its
    /// pushes come on the same channel (the client's).
    pub(super) async fn reconnect_subscriber(&self) -> bool {
        let Endpoint::Cluster { subscriber, .. } = &self.endpoint else { return false };
        let Some(conn) = connect_again(subscriber, "subscriptions").await else { return false };
        *self.live.lock().await = Some(LiveConn::Cluster(conn));
        self.resubscribe.notify_one();
        true
    }

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

    /// The data's epoch (group 0's label), `fresh` set first if it has none (`SET NX`, then `GET`); not adopted.
    async fn fetch_epoch(&self, fresh: &str) -> Result<String, redis::RedisError> {
        let mut conn = self.conn();
        let key = self.groups.key(0, "epoch");
        let _: Value = redis::cmd("SET").arg(&key).arg(fresh).arg("NX").query_async(&mut conn).await?;
        redis::cmd("GET").arg(&key).query_async(&mut conn).await
    }

    /// Sets group `group`'s epoch label to `new` if it is `expected` now (`""`: none), starting its sequence if it has
    /// none; answers the label now.
    async fn relabel(&self, group: usize, expected: &str, new: &str) -> Result<String, redis::RedisError> {
        let mut conn = self.conn();
        self.label
            .key(self.groups.key(group, "epoch"))
            .arg(self.groups.prefix(group))
            .arg(expected)
            .arg(new)
            .arg(Groups::base(group))
            .invoke_async(&mut conn)
            .await
    }

    /// A write or read of group `group` met the label `seen` (`None`: none) instead of our epoch. Group 0's label is
    /// the data's epoch: adopted, or created if the data lost it. Another group without a label lost its data (a
    /// wiped or replaced node): the deployment gets a new epoch, and clients a `replay-gap`. A group with another
    /// label than the deployment's is labelled again (its data stays, under the epoch of the data now).
    async fn resolve_epoch(&self, group: usize, seen: Option<String>) -> Result<(), StoreError> {
        if group == 0 {
            match seen {
                Some(now) => self.adopt_epoch(&now),
                None => {
                    self.load_epoch().await?;
                }
            }
            return Ok(());
        }
        let fresh = super::new_epoch()?;
        let mut deployment = self.fetch_epoch(&fresh).await.map_err(|e| unavailable(&e))?;
        if seen.is_none() {
            tracing::warn!(group, "a Redis Cluster slot group lost its data: new epoch");
            deployment = self.relabel(0, &deployment, &super::new_epoch()?).await.map_err(|e| unavailable(&e))?;
        }
        self.relabel(group, seen.as_deref().unwrap_or(""), &deployment).await.map_err(|e| unavailable(&e))?;
        self.adopt_epoch(&deployment);
        Ok(())
    }

    /// Positions of group `group` went back (a failover to a replica that lacked the last writes): the events
    /// after the point it went back to are not the ones clients saw, so the data gets a new epoch.
    async fn positions_went_back(&self, group: usize) -> Result<(), StoreError> {
        let epoch = self.epoch();
        tracing::warn!(group, "Redis positions went back (writes lost in a failover): new epoch");
        let now = self.relabel(0, &epoch, &super::new_epoch()?).await.map_err(|e| unavailable(&e))?;
        if group != 0 {
            self.relabel(group, &epoch, &now).await.map_err(|e| unavailable(&e))?;
        }
        self.adopt_epoch(&now);
        Ok(())
    }

    /// Writes the deployment marker (`<p>deployment`: the settings every server on this prefix must share) if there is
    /// none, or checks ours against it: a difference is refused with what differs and what to do.
    async fn claim_deployment(&self) -> Result<(), String> {
        let mut conn = self.conn();
        let script = Script::new(DEPLOYMENT);
        let mut inv = script.prepare_invoke();
        inv.key(self.groups.key(0, "deployment")).arg(self.groups.prefix(0));
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
             to change the settings of a deployment, stop all of its servers and delete the marker (DEL {})",
            self.prefix,
            differences.join("; "),
            self.groups.key(0, "deployment")
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

    /// A batch: one script per slot group it touches (one for a single primary), run together. A batch that spans
    /// groups is atomic per group: if some groups stored their part and others failed, the whole batch answers
    /// [`StoreError::OutcomeUnknown`] (retry with the same idempotency keys), never "nothing stored".
    async fn write(&self, batch: &[Write]) -> Result<Vec<Outcome>, StoreError> {
        let mut parts: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, w) in batch.iter().enumerate() {
            parts.entry(group_of(&self.groups, w)).or_default().push(i);
        }
        let results = futures::future::join_all(parts.iter().map(|(&group, indices)| {
            let writes: Vec<&Write> = indices.iter().map(|&i| &batch[i]).collect();
            async move { self.write_group(group, &writes).await }
        }))
        .await;
        let stored = results.iter().filter(|r| r.is_ok()).count();
        let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
        let mut changes = Vec::new();
        let mut failure = None;
        for ((_, indices), result) in parts.iter().zip(results) {
            match result {
                Ok((done, more)) => {
                    for (&i, o) in indices.iter().zip(done) {
                        outcomes[i] = Some(o);
                    }
                    changes.extend(more);
                }
                Err(e) => failure = Some(e),
            }
        }
        if !changes.is_empty() {
            self.account(changes).await;
        }
        match failure {
            None => outcomes.into_iter().map(|o| o.ok_or_else(|| invalid("write reply length"))).collect(),
            Some(e) if stored == 0 => Err(e),
            Some(e) => Err(StoreError::OutcomeUnknown(format!("part of the batch was stored, part not: {e}"))),
        }
    }

    /// One slot group's part of a batch, in one script; confirmed by replicas if asked.
    async fn write_group(
        &self,
        group: usize,
        writes: &[&Write],
    ) -> Result<(Vec<Outcome>, Vec<UserChange>), StoreError> {
        let mut conn = self.conn();
        let epoch_key = self.groups.key(group, "epoch");
        for attempt in 0..2 {
            let epoch = self.epoch();
            let mut inv = self.write.prepare_invoke();
            inv.key(&epoch_key)
                .arg(self.groups.prefix(group))
                .arg(&epoch)
                .arg(self.options.clock.now_ms())
                .arg(self.options.max_user_topics)
                .arg(self.options.max_user_topic_bytes)
                .arg(self.options.max_user_history_bytes);
            codec::encode_batch(&mut inv, writes, super::idempotency::window_ms(self.options.idempotency_window));
            let reply = inv.invoke_async::<Value>(&mut conn).await.map_err(|e| {
                self.doubt();
                write_failed(&e)
            })?;
            match codec::decode_write(&epoch, writes, reply)? {
                codec::WriteReply::Done(outcomes, changes) => {
                    self.confirm_replicas(&epoch_key).await?;
                    self.note_acknowledged(group, writes, &outcomes);
                    return Ok((outcomes, changes));
                }
                // The data has another epoch (or none: wiped): settle it, then send the part again.
                codec::WriteReply::EpochChanged(seen) if attempt == 0 => self.resolve_epoch(group, seen).await?,
                codec::WriteReply::EpochChanged(_) => {}
            }
        }
        Err(StoreError::Unavailable("redis: the epoch keeps changing".into()))
    }

    /// Something failed (a write, a node): a failover may follow. Redis Cluster only (one primary: no failover here).
    pub(super) fn doubt(&self) {
        if self.groups.is_cluster() {
            self.doubts.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// If anything failed since the last check: [`Self::check_acknowledged`], then no doubt (unless more failed
    /// meanwhile).
    pub(super) async fn check_if_in_doubt(&self) -> Result<(), StoreError> {
        let seen = self.doubts.load(Ordering::Acquire);
        if seen == 0 {
            return Ok(());
        }
        self.check_acknowledged().await?;
        let _ = self.doubts.compare_exchange(seen, 0, Ordering::AcqRel, Ordering::Acquire);
        Ok(())
    }

    /// Remembers the group's last appended event of this batch part (about to be acknowledged); not while in doubt
    /// (a write acknowledged by a promoted replica must not replace one its old primary acknowledged).
    fn note_acknowledged(&self, group: usize, writes: &[&Write], outcomes: &[Outcome]) {
        if self.doubts.load(Ordering::Acquire) > 0 {
            return;
        }
        let last = writes.iter().zip(outcomes).rev().find_map(|(w, o)| match o {
            Outcome::Appended { event, .. } => Some(Acked {
                epoch: self.epoch(),
                topic: topic_of_write(w)?.to_owned(),
                pos: event.pos,
                frame: event.frame.clone(),
            }),
            _ => None,
        });
        if let Some(acked) = last {
            lock(&self.last_acked).insert(group, acked);
        }
    }

    /// After a lost node (a failover may have promoted a replica that lacked the last writes): each group's last
    /// event this instance acknowledged must still be there, the same. If it is not, the events acknowledged
    /// after the point the group went back to are lost, and its positions will be given to other events: a new
    /// epoch, so that clients get `replay-gap` rather than silently missing them (or taking a new event for one they
    /// saw). One read per group written to.
    pub(super) async fn check_acknowledged(&self) -> Result<(), StoreError> {
        let groups: Vec<usize> = lock(&self.last_acked).keys().copied().collect();
        for group in groups {
            let Some((epoch, topic, pos, frame)) =
                lock(&self.last_acked).get(&group).map(|a| (a.epoch.clone(), a.topic.clone(), a.pos, a.frame.clone()))
            else {
                continue;
            };
            if epoch != self.epoch() {
                lock(&self.last_acked).remove(&group);
                continue;
            }
            let snap = self.read(&topic, pos.saturating_sub(1), 1).await?;
            let intact = match snap.events.first() {
                Some(e) if e.pos == pos => e.frame == frame,
                // Not there: fine only if retention removed it, or the topic was deleted, after it was written.
                _ => match &snap.topic {
                    Some(t) => t.trimmed_upto >= pos,
                    None => snap.deleted_upto >= pos,
                },
            };
            if intact {
                continue;
            }
            tracing::warn!(
                group,
                topic,
                position = pos,
                "an acknowledged event is gone from Redis (a failover to a replica that lacked it)"
            );
            lock(&self.last_acked).remove(&group);
            self.positions_went_back(group).await?;
        }
        Ok(())
    }

    /// `WAIT` for [`RedisSettings::wait_replicas`] on the primary holding `key` (the node the script ran on).
    async fn confirm_replicas(&self, key: &str) -> Result<(), StoreError> {
        let wanted = self.settings.wait_replicas;
        if wanted == 0 {
            return Ok(());
        }
        let mut conn = self.conn();
        let timeout_ms = u64::try_from(self.settings.wait_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(wanted).arg(timeout_ms);
        let reached = match conn.on_node_of(key, cmd).await {
            Ok(Value::Int(n)) => u32::try_from(n).unwrap_or(0),
            Ok(_) => return Err(StoreError::OutcomeUnknown("redis: unexpected WAIT reply".into())),
            Err(e) => return Err(StoreError::OutcomeUnknown(format!("redis: WAIT: {e}"))),
        };
        if reached < wanted {
            return Err(StoreError::OutcomeUnknown(format!(
                "redis: stored on the primary, confirmed by {reached} of {wanted} replicas within {timeout_ms} ms \
                 (a failover now could lose it)"
            )));
        }
        Ok(())
    }

    /// Redis Cluster: the user topics' changes into group 0's accounting; the topics it evicts (past the caps)
    /// deleted in their groups. The events are stored whatever happens here: a failure is logged, and the next append
    /// to a topic reports its size again (the accounting takes absolute sizes).
    async fn account(&self, changes: Vec<UserChange>) {
        let mut conn = self.conn();
        let mut inv = self.users.prepare_invoke();
        inv.key(self.groups.key(0, "users"))
            .arg(self.groups.prefix(0))
            .arg(self.options.max_user_topics)
            .arg(self.options.max_user_history_bytes);
        for c in &changes {
            inv.arg(&c.topic).arg(c.appended_ms).arg(c.bytes);
        }
        let victims: Vec<String> = match inv.invoke_async(&mut conn).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "redis: user topics' accounting failed; the caps catch up at the next append");
                return;
            }
        };
        for victim in victims {
            let group = self.groups.of(&victim);
            let deleted: Result<u64, _> = self
                .delete
                .key(self.groups.key(group, "epoch"))
                .arg(self.groups.prefix(group))
                .arg(&victim)
                .invoke_async(&mut conn)
                .await;
            if let Err(e) = deleted {
                tracing::warn!(topic = %victim, error = %e, "redis: deleting an evicted user topic failed");
            }
        }
    }

    /// One step of the age sweep: one `SSCAN` step of `budget` topics in every slot group (each group's script
    /// bounds the time its node is busy; the groups' nodes work at once).
    async fn sweep(&self, budget: usize) -> Result<Outcome, StoreError> {
        let cursors = lock(&self.sweep_cursors).clone();
        let steps = futures::future::join_all(cursors.into_iter().enumerate().map(|(group, cursor)| {
            let mut conn = self.conn();
            async move {
                let step: (String, u64, u64, Value) = self
                    .sweep
                    .key(self.groups.key(group, "epoch"))
                    .arg(self.groups.prefix(group))
                    .arg(self.options.clock.now_ms())
                    .arg(cursor)
                    .arg(budget)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| unavailable(&e))?;
                Ok::<_, StoreError>((group, step))
            }
        }))
        .await;
        let (mut events, mut topics, mut changes) = (0, 0, Vec::new());
        for step in steps {
            let (group, (next, e, t, more)) = step?;
            if let Some(cursor) = lock(&self.sweep_cursors).get_mut(group) {
                *cursor = next;
            }
            events += e;
            topics += t;
            changes.extend(codec::user_changes(more)?);
        }
        if !changes.is_empty() {
            self.account(changes).await;
        }
        Ok(Outcome::Swept { events, topics })
    }

    async fn read(&self, name: &str, after: u64, limit: usize) -> Result<Snapshot, StoreError> {
        let mut conn = self.conn();
        let group = self.groups.of(name);
        for attempt in 0..2 {
            let reply: Value = self
                .read
                .key(self.groups.key(group, "epoch"))
                .arg(self.groups.prefix(group))
                .arg(name)
                .arg(after)
                .arg(limit)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| unavailable(&e))?;
            let Value::Array(parts) = reply else { return Err(invalid("read reply")) };
            let [meta, seq, deleted, entries, label] =
                <[Value; 5]>::try_from(parts).map_err(|_| invalid("read reply"))?;
            let label = match label {
                Value::Nil => None,
                v => Some(text(v)?),
            };
            // The events are of the epoch read with them. Group 0's (or one primary's) is the data's: a new one
            // (wiped data) is adopted at once. Another group's label must be the data's epoch: if not, it is settled
            // and the group read again.
            let epoch = match (group, label) {
                (0, Some(epoch)) => {
                    self.adopt_epoch(&epoch);
                    epoch
                }
                (0, None) => self.load_epoch().await?,
                (_, Some(epoch)) if epoch == self.epoch() => epoch,
                (_, seen) if attempt == 0 => {
                    self.resolve_epoch(group, seen).await?;
                    continue;
                }
                _ => return Err(StoreError::Unavailable("redis: the epoch keeps changing".into())),
            };
            return codec::snapshot(&epoch, meta, &seq, &deleted, entries);
        }
        Err(StoreError::Unavailable("redis: the epoch keeps changing".into()))
    }

    async fn jobs(&self, only: Option<&str>) -> Result<Vec<JobRecord>, StoreError> {
        let mut conn = self.conn();
        let key = |k: &str| self.groups.key(0, k);
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
