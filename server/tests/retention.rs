//! Retention by count and by age, and the cap on per-user topics, with an injected clock (no real sleeps), on both
//! backends: the embedded store (a real file) and the memory store.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::process::TempDir;
use common::redis_server::RedisServer;
use typed_eventsource_server::event_id;
use typed_eventsource_server::hub::{GapReason, Hub, HubOptions, Start, Subscription};
use typed_eventsource_server::maintenance;
use typed_eventsource_server::metrics::Metrics;
use typed_eventsource_server::store::redis::RedisStore;
use typed_eventsource_server::store::{embedded::EmbeddedStore, memory, topic, Clock, Payload, Store, StoreOptions};

const MINUTE: Duration = Duration::from_secs(60);

fn hub(store: Arc<dyn Store>) -> Hub {
    let options = HubOptions { history: 3, max_age_ms: Some(60_000), client_buffer: 16 };
    Hub::new(store, options, Arc::new(Metrics::default()))
}

fn positions(sub: &Subscription) -> Vec<u64> {
    sub.replay.iter().map(|e| e.pos).collect()
}

async fn publish(hub: &Hub, name: &str, text: &str) -> String {
    hub.publish(name, Payload::new(None, text)).await.unwrap().id
}

async fn count_and_age(store: Arc<dyn Store>, clock: Clock) {
    let hub = hub(store);
    let id = |p| event_id::format(&hub.epoch(), p);
    for i in 1..=5 {
        publish(&hub, topic::BROADCAST, &format!("m{i}")).await;
    }
    // By count: 3 kept; a client that saw 1 missed 2 → gap, then 3..5.
    let sub = hub.subscribe(topic::BROADCAST, Start::After(id(1))).await.unwrap();
    assert_eq!(sub.gap.as_ref().map(|g| g.reason), Some(GapReason::Expired));
    assert_eq!(positions(&sub), [3, 4, 5]);
    // One who saw 2 (the last one removed) missed nothing.
    let sub = hub.subscribe(topic::BROADCAST, Start::After(id(2))).await.unwrap();
    assert!(sub.gap.is_none());
    assert_eq!(positions(&sub), [3, 4, 5]);

    // By age: after m6, 4 and 5 are kept (3 went by count) and are 70 s old, 6 is 40 s old; the limit is 60 s.
    clock.advance(MINUTE / 2);
    publish(&hub, topic::BROADCAST, "m6").await;
    clock.advance(MINUTE * 2 / 3);
    assert_eq!(maintenance::sweep(&hub).await.unwrap(), (2, 0));
    let sub = hub.subscribe(topic::BROADCAST, Start::After(id(4))).await.unwrap();
    assert_eq!(sub.gap.as_ref().map(|g| g.reason), Some(GapReason::Expired));
    assert_eq!(positions(&sub), [6]);
    let sub = hub.subscribe(topic::BROADCAST, Start::After(id(5))).await.unwrap();
    assert!(sub.gap.is_none());
    assert_eq!(positions(&sub), [6]);

    // Everything old: the topic goes; ids before its end get a gap, its last id does not.
    clock.advance(MINUTE);
    assert_eq!(maintenance::sweep(&hub).await.unwrap(), (1, 1));
    let sub = hub.subscribe(topic::BROADCAST, Start::After(id(5))).await.unwrap();
    assert_eq!(sub.gap.as_ref().map(|g| g.reason), Some(GapReason::Expired));
    assert!(sub.replay.is_empty());
    let sub = hub.subscribe(topic::BROADCAST, Start::After(id(6))).await.unwrap();
    assert!(sub.gap.is_none());
    // The next event gets a new position: positions never repeat, even for a deleted topic.
    let next = publish(&hub, topic::BROADCAST, "m7").await;
    assert_eq!(next, id(7));
}

async fn user_topic_cap(store: Arc<dyn Store>, clock: Clock) {
    let hub = hub(store);
    let mut ids = Vec::new();
    for user in ["u1", "u2", "u3"] {
        ids.push(publish(&hub, &topic::user(user), "hello").await);
        clock.advance(Duration::from_secs(1));
    }
    // The cap is 2: u1, least recently used, is gone with its stored notification.
    let sub = hub.subscribe(&topic::user("u1"), Start::Offline).await.unwrap();
    assert!(sub.replay.is_empty());
    let sub = hub.subscribe(&topic::user("u1"), Start::After(event_id::format(&hub.epoch(), 0))).await.unwrap();
    assert_eq!(
        sub.gap.as_ref().map(|g| g.reason),
        Some(GapReason::Expired),
        "a client of u1 learns it may have missed events"
    );
    for (user, id) in [("u2", &ids[1]), ("u3", &ids[2])] {
        let sub = hub.subscribe(&topic::user(user), Start::Offline).await.unwrap();
        assert_eq!(sub.replay.len(), 1, "{user} keeps its offline notification");
        assert_eq!(event_id::format(&hub.epoch(), sub.replay[0].pos), *id);
    }
}

fn options(clock: &Clock) -> StoreOptions {
    StoreOptions { clock: clock.clone(), max_user_topics: 2, ..StoreOptions::default() }
}

#[tokio::test]
async fn retention_by_count_and_age_embedded() {
    let dir = TempDir::new("retention");
    let clock = Clock::manual(1_700_000_000_000);
    let store = EmbeddedStore::open(dir.path(), options(&clock)).unwrap();
    count_and_age(Arc::new(store), clock).await;
}

#[tokio::test]
async fn retention_by_count_and_age_memory() {
    let clock = Clock::manual(1_700_000_000_000);
    count_and_age(Arc::new(memory::open(options(&clock)).unwrap()), clock).await;
}

#[tokio::test]
async fn per_user_topics_are_capped_least_recently_used_first_embedded() {
    let dir = TempDir::new("usercap");
    let clock = Clock::manual(1_700_000_000_000);
    let store = EmbeddedStore::open(dir.path(), options(&clock)).unwrap();
    user_topic_cap(Arc::new(store), clock).await;
}

#[tokio::test]
async fn per_user_topics_are_capped_least_recently_used_first_memory() {
    let clock = Clock::manual(1_700_000_000_000);
    user_topic_cap(Arc::new(memory::open(options(&clock)).unwrap()), clock).await;
}

#[tokio::test]
async fn offline_notifications_pushed_out_by_retention_are_signalled() {
    let clock = Clock::manual(1_700_000_000_000);
    offline_lost_to_retention(Arc::new(memory::open(options(&clock)).unwrap())).await;
}

async fn offline_lost_to_retention(store: Arc<dyn Store>) {
    let hub = hub(store);
    for i in 1..=5 {
        publish(&hub, &topic::user("dora"), &format!("n{i}")).await;
    }
    // 5 stored while offline, 3 kept: the connect says 2 were lost, then delivers the 3.
    let sub = hub.subscribe(&topic::user("dora"), Start::Offline).await.unwrap();
    assert_eq!(sub.gap.as_ref().map(|g| g.reason), Some(GapReason::Expired));
    assert_eq!(positions(&sub), [3, 4, 5]);
    // Delivered once.
    let sub = hub.subscribe(&topic::user("dora"), Start::Offline).await.unwrap();
    assert!(sub.gap.is_none() && sub.replay.is_empty());
}

#[tokio::test]
async fn retention_by_count_and_age_redis() {
    let redis = RedisServer::start();
    let clock = Clock::manual(1_700_000_000_000);
    let store = RedisStore::open(&redis.url(), "tes:", options(&clock)).await.unwrap();
    count_and_age(Arc::new(store), clock).await;
}

#[tokio::test]
async fn per_user_topics_are_capped_least_recently_used_first_redis() {
    let redis = RedisServer::start();
    let clock = Clock::manual(1_700_000_000_000);
    let store = RedisStore::open(&redis.url(), "tes:", options(&clock)).await.unwrap();
    user_topic_cap(Arc::new(store), clock).await;
}

#[tokio::test]
async fn offline_notifications_pushed_out_by_retention_are_signalled_redis() {
    let redis = RedisServer::start();
    let clock = Clock::manual(1_700_000_000_000);
    let store = RedisStore::open(&redis.url(), "tes:", options(&clock)).await.unwrap();
    offline_lost_to_retention(Arc::new(store)).await;
}
