//! Live delivery: one subscription connection per instance, subscribed to the channels of the topics with local
//! subscribers. After a lost connection it re-subscribes and first fills the hole from the streams, then goes on (no
//! gap, no duplicate); a new epoch (wiped or lost data), noticed by any read, write or the periodic check, is announced
//! before its first event.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt as _;
use redis::{PushInfo, PushKind, Value};

use super::{codec, lock, unavailable, Endpoint, Inner, LiveConn, Probe, STUCK_CHECKS};
use crate::store::Event;
use crate::store::StoreError;

/// How often the epoch is checked while nothing else reads or writes it.
pub const EPOCH_CHECK: Duration = Duration::from_secs(1);

/// Starts the subscription loop and the epoch check; both end once the store is dropped (they hold weak references).
pub(super) fn spawn(inner: &Arc<Inner>) {
    match &inner.endpoint {
        Endpoint::Single(_) => {
            tokio::spawn(live_loop(Arc::downgrade(inner)));
        }
        Endpoint::Cluster { pushes, .. } => {
            if let Some(pushes) = lock(pushes).take() {
                tokio::spawn(cluster_loop(Arc::downgrade(inner), pushes));
            }
        }
    }
    tokio::spawn(epoch_check_loop(Arc::downgrade(inner)));
}

/// How long [`Inner::watch`] waits for the subscription connection to come up (right after start, or while it
/// reconnects) before it answers [`StoreError::Unavailable`].
const LIVE_WAIT: Duration = Duration::from_secs(2);

/// Most events read at once while filling a hole after a reconnect.
const REFILL_CHUNK: usize = 1024;

/// Keeps the subscription connection: (re)connects, subscribes every watched topic, fills holes, delivers; announces a
/// new epoch before its first event.
async fn live_loop(inner: Weak<Inner>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(store) = inner.upgrade() else { return };
        let Endpoint::Single(client) = &store.endpoint else { return };
        let notify = Arc::clone(&store.epoch_changed);
        let mut stream = match client.get_async_pubsub().await {
            Ok(pubsub) => {
                let (sink, stream) = pubsub.split();
                let mut sink = LiveConn::Single(sink);
                match resubscribe(&store, &mut sink).await {
                    Ok(()) => {
                        *store.live.lock().await = Some(sink);
                        *lock(&store.live_error) = None;
                        store.live_up.send_replace(true);
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
                store.on_message(msg.get_channel_name(), msg.get_payload_bytes()).await;
            }
            let Some(store) = inner.upgrade() else { return };
            store.live_up.send_replace(false);
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
async fn resubscribe(store: &Inner, sink: &mut LiveConn) -> Result<(), StoreError> {
    store.load_epoch().await?;
    store.announce_epoch();
    let topics: Vec<String> = lock(&store.watched).keys().cloned().collect();
    for name in &topics {
        sink.subscribe(&store.channel(name)).await.map_err(|e| unavailable(&e))?;
    }
    for name in &topics {
        store.refill(name).await?;
    }
    store.check_acknowledged().await
}

/// Redis Cluster: the shard messages of every node come as pushes on one channel. redis-rs keeps one connection per
/// primary and subscribes again after a reconnect; each confirmation (`ssubscribe` push) of a topic whose node was
/// lost is followed by filling its hole from its stream. A channel the server unsubscribed (its slot moved to another
/// node) is subscribed again where it is now; after a lost node, every topic is subscribed again after a pause (its
/// slots may have a new primary by then) until that succeeds.
async fn cluster_loop(inner: Weak<Inner>, mut pushes: tokio::sync::mpsc::UnboundedReceiver<PushInfo>) {
    let mut backoff = Duration::from_millis(50);
    let conn = loop {
        let Some(store) = inner.upgrade() else { return };
        let Endpoint::Cluster { subscriber, .. } = &store.endpoint else { return };
        match subscriber.get_async_connection().await {
            Ok(conn) => break conn,
            Err(e) => {
                *lock(&store.live_error) = Some(format!("redis subscription: {e}"));
                tracing::warn!(error = %e, "redis: cluster subscription connection failed; retrying");
            }
        }
        drop(store);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    };
    {
        let Some(store) = inner.upgrade() else { return };
        if let Err(e) = store.load_epoch().await {
            tracing::warn!(error = %e, "redis: reading the epoch failed");
        }
        store.announce_epoch();
        *store.live.lock().await = Some(LiveConn::Cluster(conn));
        *lock(&store.live_error) = None;
        store.live_up.send_replace(true);
    }
    let Some(store) = inner.upgrade() else { return };
    let notify = Arc::clone(&store.epoch_changed);
    let resubscribe = Arc::clone(&store.resubscribe);
    drop(store);
    // Topics to fill once subscribed again, and when to subscribe everything again (after a lost node).
    let mut holes: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut again_at: Option<tokio::time::Instant> = None;
    let mut again_backoff = RESUBSCRIBE_PAUSE;
    // Attempts to subscribe again that failed in a row: past STUCK_CHECKS, a new subscription connection.
    let mut again_failed = 0u32;
    loop {
        let again = async {
            match again_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            push = pushes.recv() => {
                let Some(push) = push else { return };
                let Some(store) = inner.upgrade() else { return };
                match push.kind {
                    PushKind::SMessage | PushKind::Message => {
                        if let [Value::BulkString(channel), Value::BulkString(payload), ..] = &push.data[..] {
                            store.on_message(&String::from_utf8_lossy(channel), payload).await;
                        }
                    }
                    PushKind::Disconnection => {
                        tracing::warn!("redis: a cluster node's connection was lost; subscribing again");
                        store.doubt();
                        holes.extend(lock(&store.watched).keys().cloned());
                        again_at = Some(tokio::time::Instant::now() + RESUBSCRIBE_PAUSE);
                    }
                    PushKind::SSubscribe => {
                        for name in channels(&push.data).filter_map(|c| store.topic_of(c).map(str::to_owned)) {
                            if holes.remove(&name) {
                                if let Err(e) = store.refill(&name).await {
                                    tracing::warn!(topic = %name, error = %e, "redis: filling a hole failed; retrying");
                                    holes.insert(name);
                                    again_at = Some(tokio::time::Instant::now() + again_backoff);
                                }
                            }
                        }
                    }
                    PushKind::SUnsubscribe => {
                        // Ours (unwatch) are no longer watched; the server's (the slot moved) are subscribed again.
                        let moved: Vec<String> = channels(&push.data)
                            .filter_map(|c| store.topic_of(c))
                            .filter(|name| lock(&store.watched).contains_key(*name))
                            .map(str::to_owned)
                            .collect();
                        if !moved.is_empty() {
                            holes.extend(moved);
                            again_at = Some(tokio::time::Instant::now());
                        }
                    }
                    _ => {}
                }
            }
            () = notify.notified() => {
                let Some(store) = inner.upgrade() else { return };
                store.announce_epoch();
            }
            () = resubscribe.notified() => {
                // A new subscription connection (the old one stopped answering): every topic subscribed again on
                // it, each filled from its stream once confirmed.
                let Some(store) = inner.upgrade() else { return };
                store.doubt();
                holes.extend(lock(&store.watched).keys().cloned());
                again_at = Some(tokio::time::Instant::now());
            }
            () = again => {
                let Some(store) = inner.upgrade() else { return };
                again_at = None;
                let checked = match store.subscribe_again().await {
                    Ok(()) => store.check_if_in_doubt().await,
                    Err(e) => Err(e),
                };
                match checked {
                    Ok(()) => {
                        again_backoff = RESUBSCRIBE_PAUSE;
                        again_failed = 0;
                        *lock(&store.live_error) = None;
                    }
                    Err(e) => {
                        *lock(&store.live_error) = Some(format!("redis subscription: {e}"));
                        tracing::warn!(error = %e, retry_in = ?again_backoff, "redis: subscribing again failed");
                        again_failed += 1;
                        if again_failed >= STUCK_CHECKS && store.reconnect_subscriber().await {
                            again_failed = 0;
                        }
                        again_at = Some(tokio::time::Instant::now() + again_backoff);
                        again_backoff = (again_backoff * 2).min(Duration::from_secs(2));
                    }
                }
            }
        }
    }
}

/// How long after a lost node the cluster loop subscribes every topic again (a failover takes the cluster's node
/// timeout and an election; redis-rs subscribes again by itself once it reaches the node).
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(250);

/// The channel names of a subscribe-like push (`[channel, count]`).
fn channels(data: &[Value]) -> impl Iterator<Item = &str> {
    data.iter().filter_map(|v| match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        _ => None,
    })
}

/// Every [`EPOCH_CHECK`]: reads the epoch (creating one if the data has none), so a wiped Redis is noticed even
/// while nobody publishes.
async fn epoch_check_loop(inner: Weak<Inner>) {
    let mut failed = 0u32;
    loop {
        tokio::time::sleep(EPOCH_CHECK).await;
        let Some(store) = inner.upgrade() else { return };
        if lock(&store.sink).is_none() {
            return;
        }
        // Every primary of both cluster connections must answer too: a node that stopped answering without closing
        // its connections is noticed only so (then each failing connection is replaced, see `reconnect_commands`).
        let checked = match store.load_epoch().await {
            Ok(_) => store.probe_cluster().await,
            Err(e) => {
                tracing::debug!(error = %e, "redis: epoch check failed");
                Err(Probe::Commands)
            }
        };
        match checked {
            Ok(()) => failed = 0,
            Err(probe) => {
                failed += 1;
                if failed >= STUCK_CHECKS {
                    let replaced = match probe {
                        Probe::Commands => store.reconnect_commands().await,
                        Probe::Subscriptions => store.reconnect_subscriber().await,
                    };
                    if replaced {
                        failed = 0;
                    }
                }
            }
        }
        // After a failure (a failover may have lost acknowledged events), until the check succeeds.
        if let Err(e) = store.check_if_in_doubt().await {
            tracing::debug!(error = %e, "redis: checking the last acknowledged events failed; retrying");
        }
    }
}

impl Inner {
    /// A published message on `channel`: delivered if it is of a watched topic, of the epoch delivered now, and new.
    async fn on_message(&self, channel: &str, payload: &[u8]) {
        let Some(name) = self.topic_of(channel) else { return };
        let Some((epoch, event)) = codec::parse_message(payload) else {
            tracing::warn!(channel, "redis: unreadable message");
            return;
        };
        // Another epoch than ours: a new one (wiped data, seen first here), or the last message of an old one. Redis
        // tells which.
        if epoch != self.epoch() && self.load_epoch().await.ok().as_deref() != Some(epoch) {
            return;
        }
        self.announce_epoch();
        if *lock(&self.delivered_epoch) == epoch {
            self.deliver(name, event);
        }
    }

    /// Delivers what `name` got after the last position delivered (a hole left by a lost connection). If the
    /// topic's group now ends before that position, writes were lost (a failover to a replica that lacked them):
    /// a new epoch, announced before the topic is delivered from its start.
    pub(super) async fn refill(&self, name: &str) -> Result<(), StoreError> {
        loop {
            let after = lock(&self.watched).get(name).copied().unwrap_or(0);
            let snap = self.read(name, after, REFILL_CHUNK).await?;
            if snap.last_position < after {
                self.positions_went_back(self.groups.of(name)).await?;
                self.announce_epoch();
                continue;
            }
            self.announce_epoch();
            let full = snap.events.len() == REFILL_CHUNK;
            for e in snap.events {
                self.deliver(name, Event { pos: e.pos, frame: e.frame.clone() });
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Redis Cluster, after a lost node: every watched topic subscribed again (on the primary that holds its slot
    /// now); each confirmation fills the topic's hole.
    async fn subscribe_again(&self) -> Result<(), StoreError> {
        let topics: Vec<String> = lock(&self.watched).keys().cloned().collect();
        let mut live = self.live.lock().await;
        let conn =
            live.as_mut().ok_or_else(|| StoreError::Unavailable("redis subscription connection is down".into()))?;
        for name in &topics {
            conn.subscribe(&self.channel(name)).await.map_err(|e| unavailable(&e))?;
        }
        Ok(())
    }

    /// Subscribes `name` (once for any number of local subscribers); delivers only what is published after this.
    pub(super) async fn watch(&self, name: &str) -> Result<(), StoreError> {
        // Right after start the subscription connection may still be coming up: wait until the loop says it is
        // (a notification, not polling), at most LIVE_WAIT.
        let mut up = self.live_up.subscribe();
        let _ = tokio::time::timeout(LIVE_WAIT, up.wait_for(|&up| up)).await;
        // Held throughout: a second watcher of the same topic returns only once the first SUBSCRIBE is confirmed.
        let mut live = self.live.lock().await;
        if lock(&self.watched).contains_key(name) {
            return Ok(());
        }
        let sink =
            live.as_mut().ok_or_else(|| StoreError::Unavailable("redis subscription connection is down".into()))?;
        // Delivered so far: nothing after the store's last position now (the caller reads the replay after this).
        let seq = self.read(name, 0, 0).await?.last_position;
        lock(&self.watched).insert(name.to_owned(), seq);
        if let Err(e) = sink.subscribe(&self.channel(name)).await {
            lock(&self.watched).remove(name);
            return Err(unavailable(&e));
        }
        Ok(())
    }

    /// Unsubscribes `name` (its last local subscriber is gone).
    pub(super) async fn unwatch(&self, name: &str) {
        if lock(&self.watched).remove(name).is_none() {
            return;
        }
        if let Some(sink) = self.live.lock().await.as_mut() {
            let _ = sink.unsubscribe(&self.channel(name)).await;
        }
    }

    /// Subscription loop only: if the epoch changed since its last event, announces the new one to the sink (before
    /// any event of it) and delivers every watched topic from its start again.
    pub(super) fn announce_epoch(&self) {
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

    /// The channel `name`'s events are published on (in its group's slot).
    pub(super) fn channel(&self, name: &str) -> String {
        format!("{}t:{name}:c", self.groups.prefix(self.groups.of(name)))
    }

    /// The topic of a channel of ours.
    fn topic_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        let rest = channel.strip_prefix(self.prefix.as_str())?;
        let rest = if self.groups.is_cluster() { rest.split_once("}:")?.1 } else { rest };
        rest.strip_prefix("t:")?.strip_suffix(":c")
    }
}
