//! Live delivery: one subscription connection per instance, subscribed to the channels of the topics with local
//! subscribers. After a lost connection it re-subscribes and first fills the hole from the streams, then goes on (no
//! gap, no duplicate); a new epoch (wiped or lost data), noticed by any read, write or the periodic check, is announced
//! before its first event.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::StreamExt as _;
use redis::aio::PubSubSink;

use super::{codec, lock, unavailable, Inner};
use crate::store::Event;
use crate::store::StoreError;

/// How often the epoch is checked while nothing else reads or writes it.
pub const EPOCH_CHECK: Duration = Duration::from_secs(1);

/// Starts the subscription loop and the epoch check; both end once the store is dropped (they hold weak references).
pub(super) fn spawn(inner: &Arc<Inner>) {
    tokio::spawn(live_loop(Arc::downgrade(inner)));
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
        let notify = Arc::clone(&store.epoch_changed);
        let mut stream = match store.client.get_async_pubsub().await {
            Ok(pubsub) => {
                let (mut sink, stream) = pubsub.split();
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
                let Some(name) = store.topic_of(msg.get_channel_name()) else { continue };
                let Some((epoch, event)) = codec::parse_message(msg.get_payload_bytes()) else {
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
async fn epoch_check_loop(inner: Weak<Inner>) {
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

impl Inner {
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
        if let Err(e) = sink.subscribe(self.channel(name)).await {
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
            let _ = sink.unsubscribe(self.channel(name)).await;
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

    /// The channel `name`'s events are published on.
    pub(super) fn channel(&self, name: &str) -> String {
        format!("{}t:{name}:c", self.prefix)
    }

    /// The topic of a channel of ours.
    fn topic_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel.strip_prefix(self.prefix.as_str())?.strip_prefix("t:")?.strip_suffix(":c")
    }
}
