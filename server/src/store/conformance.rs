//! The store contract as executable checks (Cargo feature `fixtures`): each check opens stores through a
//! [`Backend`] and asserts what the [module docs](super) promise, whatever the backend. `tests/store_conformance.rs`
//! runs every check in [`CHECKS`] against the memory, embedded and Redis stores; a new backend passes them all.
//!
//! A failed check panics with what differs (they are test code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::idempotency::{Key, Remembered};
use super::topic::{self, Topic};
use super::{
    BoxFuture, Clock, Event, JobRecord, LiveSink, Outcome, Payload, Retention, Snapshot, Store, StoreOptions, Write,
};

/// How a check gets stores of one backend.
pub trait Backend: Send + Sync {
    /// A store on new, empty data with `options` (a new data dir, a new key prefix).
    fn fresh(&self, options: StoreOptions) -> BoxFuture<'_, Arc<dyn Store>>;

    /// The data of the last [`Backend::fresh`] store opened again by a new store, as after a restart (the caller
    /// dropped the old one); `None` if the backend keeps nothing across a restart (memory).
    fn reopen(&self, options: StoreOptions) -> BoxFuture<'_, Option<Arc<dyn Store>>>;

    /// Deletes the data of the last [`Backend::fresh`] store under it while it runs (a wiped Redis); `false` if the
    /// backend cannot lose its data while running.
    fn wipe(&self) -> BoxFuture<'_, bool>;

    /// Breaks the live-delivery connection of the last [`Backend::fresh`] store (it must reconnect and fill the
    /// hole); `false` if the backend has none.
    fn interrupt_live(&self) -> BoxFuture<'_, bool>;
}

/// A check: runs against one backend, panics on a divergence.
pub type Check = for<'a> fn(&'a dyn Backend) -> BoxFuture<'a, ()>;

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("positions_increase_per_topic_and_are_unique", |b| Box::pin(positions_increase_per_topic_and_are_unique(b))),
    ("batch_outcomes_in_order", |b| Box::pin(batch_outcomes_in_order(b))),
    ("read_after_and_limit", |b| Box::pin(read_after_and_limit(b))),
    ("retention_by_count", |b| Box::pin(retention_by_count(b))),
    ("retention_by_age", |b| Box::pin(retention_by_age(b))),
    ("retention_by_bytes_per_user_topic", |b| Box::pin(retention_by_bytes_per_user_topic(b))),
    ("user_topics_capped_by_count_and_bytes", |b| Box::pin(user_topics_capped_by_count_and_bytes(b))),
    ("offline_marks", |b| Box::pin(offline_marks(b))),
    ("epochs", |b| Box::pin(epochs(b))),
    ("jobs", |b| Box::pin(jobs(b))),
    ("job_leases", |b| Box::pin(job_leases(b))),
    ("idempotency_keys", |b| Box::pin(idempotency_keys(b))),
    ("live_delivery", |b| Box::pin(live_delivery(b))),
    ("live_delivery_fills_holes", |b| Box::pin(live_delivery_fills_holes(b))),
    ("live_delivery_after_unwatch", |b| Box::pin(live_delivery_after_unwatch(b))),
];

/// Options with a manual clock (ms since the Unix epoch, so that leases and ages compare with real stamps).
fn options(clock: &Clock) -> StoreOptions {
    StoreOptions { clock: clock.clone(), ..StoreOptions::default() }
}

fn keep_all() -> Retention {
    Retention::default()
}

fn append(name: &Topic, data: &str, retention: Retention) -> Write {
    Write::Append { topic: name.clone(), payload: Payload::new(None, data), retention, mark_offline: false }
}

async fn write(store: &dyn Store, batch: Vec<Write>) -> Vec<Outcome> {
    let n = batch.len();
    let out = store.write(batch).await.expect("write");
    assert_eq!(out.len(), n, "one outcome per write");
    out
}

/// The appended event of an outcome.
fn appended(outcome: &Outcome) -> (Arc<Event>, String) {
    match outcome {
        Outcome::Appended { event, data } => (Arc::clone(event), data.clone()),
        other => panic!("expected Appended, got {other:?}"),
    }
}

async fn publish(store: &dyn Store, name: &Topic, data: &str, retention: Retention) -> u64 {
    appended(&write(store, vec![append(name, data, retention)]).await[0]).0.pos
}

async fn read(store: &dyn Store, name: &Topic, after: u64, limit: usize) -> Snapshot {
    store.read(name, after, limit).await.expect("read")
}

fn positions(snap: &Snapshot) -> Vec<u64> {
    snap.events.iter().map(|e| e.pos).collect()
}

fn frame(event: &Event) -> &str {
    std::str::from_utf8(&event.frame).expect("frames are UTF-8")
}

/// Positions are unique across topics and increase in commit order per topic (one sequence, or one per Redis Cluster
/// slot group); a topic's events read back in position order with their frames (`id: <epoch>-<position>`); the
/// store's last position, as a read of a topic gives it, is that topic's last.
pub async fn positions_increase_per_topic_and_are_unique(backend: &dyn Backend) {
    let store = backend.fresh(StoreOptions::default()).await;
    let (a, b) = (Topic::from("conf-a"), Topic::from("conf-b"));
    let batch = (0..6).map(|i| append(if i % 2 == 0 { &a } else { &b }, &format!("e{i}"), keep_all())).collect();
    let first: Vec<u64> = write(&*store, batch).await.iter().map(|o| appended(o).0.pos).collect();
    let second = publish(&*store, &a, "later", keep_all()).await;
    let mut all = first.clone();
    all.push(second);
    let of_a: Vec<u64> = all.iter().step_by(2).copied().collect();
    assert!(of_a.windows(2).all(|w| w[0] < w[1]), "positions increase in commit order per topic: {all:?}");
    let mut unique = all.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "positions are unique across topics: {all:?}");
    let snap_a = read(&*store, &a, 0, 100).await;
    let snap_b = read(&*store, &b, 0, 100).await;
    assert_eq!(positions(&snap_a), vec![first[0], first[2], first[4], second]);
    assert_eq!(positions(&snap_b), vec![first[1], first[3], first[5]]);
    assert_eq!(snap_a.last_position, second, "the store's last position");
    let epoch = store.epoch();
    let e = &snap_a.events[0];
    assert!(frame(e).starts_with(&format!("id: {epoch}-{}\n", e.pos)), "{:?}", frame(e));
    assert!(frame(e).ends_with("data: e0\n\n"), "{:?}", frame(e));
}

/// A batch's outcomes come in the order of its writes, one each, of the kind each write gives.
pub async fn batch_outcomes_in_order(backend: &dyn Backend) {
    let clock = Clock::manual(crate::clock::now_ms());
    let store = backend.fresh(options(&clock)).await;
    let (a, u) = (Topic::from("conf-a"), topic::user("conf"));
    let job = job_record("conf-j1", clock.now_ms() + 60_000, &clock);
    let batch = vec![
        append(&a, "one", keep_all()),
        Write::TakeOffline { topic: u.clone() },
        Write::Probe,
        Write::StartJob { job, max_running: 0 },
        Write::Append {
            topic: a.clone(),
            payload: Payload::around_position(Some("note"), "{\"id\":", "}"),
            retention: keep_all(),
            mark_offline: false,
        },
    ];
    let out = write(&*store, batch).await;
    let (first, _) = appended(&out[0]);
    assert!(matches!(out[1], Outcome::Offline(None)), "{:?}", out[1]);
    assert!(matches!(out[2], Outcome::Done), "{:?}", out[2]);
    assert!(matches!(out[3], Outcome::Busy), "max_running 0: {:?}", out[3]);
    let (second, data) = appended(&out[4]);
    assert_eq!(second.pos, first.pos + 1, "appends of one batch take consecutive positions");
    assert_eq!(data, format!("{{\"id\":{}}}", second.pos), "the position rendered into the data");
    assert!(frame(&second).contains("event: note\n"), "{:?}", frame(&second));
    let stored = read(&*store, &a, first.pos, 10).await;
    assert_eq!(stored.events.len(), 1);
    assert_eq!(stored.events[0].frame, second.frame, "read gives the frame the write answered");
}

/// `read(topic, after, limit)`: the events after `after`, oldest first, at most `limit`; the topic's state; an
/// unknown topic has none.
pub async fn read_after_and_limit(backend: &dyn Backend) {
    let store = backend.fresh(StoreOptions::default()).await;
    let a = Topic::from("conf-a");
    publish(&*store, &Topic::from("conf-other"), "x", keep_all()).await;
    let mut pos = Vec::new();
    for i in 0..5 {
        pos.push(publish(&*store, &a, &format!("e{i}"), keep_all()).await);
    }
    assert_eq!(positions(&read(&*store, &a, pos[1], 2).await), vec![pos[2], pos[3]]);
    assert_eq!(positions(&read(&*store, &a, 0, 100).await), pos);
    assert!(read(&*store, &a, pos[4], 100).await.events.is_empty());
    let state_only = read(&*store, &a, 0, 0).await;
    assert!(state_only.events.is_empty(), "limit 0: no events");
    let state = state_only.topic.expect("the topic exists");
    // Created after the position before its first (of its sequence: another topic's, if they share one).
    assert_eq!((state.last, state.count, state.created_after, state.trimmed_upto), (pos[4], 5, pos[0] - 1, 0));
    assert_eq!(state_only.last_position, pos[4], "the last position of the topic's sequence");
    let unknown = read(&*store, &Topic::from("conf-never"), 0, 10).await;
    assert!(unknown.topic.is_none() && unknown.events.is_empty());
}

/// `max_events`: the oldest go first; `trimmed_upto` says the last one removed.
pub async fn retention_by_count(backend: &dyn Backend) {
    let store = backend.fresh(StoreOptions::default()).await;
    let a = Topic::from("conf-a");
    let three = Retention { max_events: Some(3), max_age_ms: None };
    let mut pos = Vec::new();
    for i in 0..5 {
        pos.push(publish(&*store, &a, &format!("e{i}"), three).await);
    }
    let snap = read(&*store, &a, 0, 100).await;
    assert_eq!(positions(&snap), pos[2..].to_vec());
    let state = snap.topic.unwrap();
    assert_eq!((state.count, state.trimmed_upto), (3, pos[1]));
    assert_eq!(state.retention, three, "the retention is kept with the topic");
}

/// `max_age_ms`: a sweep removes the events older than it (by the store's clock); a topic left empty is deleted, and
/// `deleted_upto` covers its positions.
pub async fn retention_by_age(backend: &dyn Backend) {
    let clock = Clock::manual(1_000_000);
    let store = backend.fresh(options(&clock)).await;
    let a = Topic::from("conf-a");
    let minute = Retention { max_events: None, max_age_ms: Some(60_000) };
    let old = [publish(&*store, &a, "old1", minute).await, publish(&*store, &a, "old2", minute).await];
    clock.advance(Duration::from_secs(50));
    let young = publish(&*store, &a, "young", minute).await;
    clock.advance(Duration::from_secs(20));
    assert_eq!(sweep(&*store).await, (2, 0), "the two events older than a minute");
    let snap = read(&*store, &a, 0, 100).await;
    assert_eq!(positions(&snap), vec![young]);
    assert_eq!(snap.topic.unwrap().trimmed_upto, old[1]);
    clock.advance(Duration::from_secs(60));
    assert_eq!(sweep(&*store).await, (1, 1), "the last event, and its topic");
    let gone = read(&*store, &a, 0, 100).await;
    assert!(gone.topic.is_none(), "a topic left empty is deleted");
    assert!(gone.deleted_upto >= young, "deleted_upto {} covers {young}", gone.deleted_upto);
}

/// Sweep steps until one has visited every topic (a step visits at most its budget); events and topics removed.
async fn sweep(store: &dyn Store) -> (u64, u64) {
    let (mut events, mut topics) = (0, 0);
    for _ in 0..4 {
        match &write(store, vec![Write::Sweep { budget: 1000 }]).await[0] {
            Outcome::Swept { events: e, topics: t } => {
                events += e;
                topics += t;
            }
            other => panic!("expected Swept, got {other:?}"),
        }
    }
    (events, topics)
}

/// A per-user topic keeps at most `max_user_topic_bytes` of frames (the newest always stays, whatever its size);
/// `bytes` is the sum of the kept frames. Other topics have no byte cap.
pub async fn retention_by_bytes_per_user_topic(backend: &dyn Backend) {
    let cap = 1_000;
    let opts = StoreOptions { max_user_topic_bytes: cap, ..StoreOptions::default() };
    let store = backend.fresh(opts).await;
    let (u, b) = (topic::user("conf"), Topic::from("conf-b"));
    let body = "x".repeat(300);
    let mut kept = Vec::new();
    for i in 0..6 {
        kept.push(publish(&*store, &u, &format!("{i}{body}"), keep_all()).await);
        publish(&*store, &b, &body, keep_all()).await;
    }
    let snap = read(&*store, &u, 0, 100).await;
    let state = snap.topic.unwrap();
    let sum: u64 = snap.events.iter().map(|e| e.frame.len() as u64).sum();
    assert_eq!(state.bytes, sum, "bytes = the kept frames");
    assert!(state.bytes <= cap, "{} bytes kept, cap {cap}", state.bytes);
    // Frames of ~330 bytes (their ids are as long as the store's positions): as many of the newest as fit in 1,000.
    let fit = usize::try_from(cap).unwrap() / snap.events.last().unwrap().frame.len();
    assert!((2..=3).contains(&fit), "{fit}");
    assert_eq!(positions(&snap), kept[6 - fit..].to_vec(), "the newest {fit} frames fit in 1,000 bytes");
    assert_eq!(state.trimmed_upto, kept[6 - fit - 1]);
    assert_eq!(read(&*store, &b, 0, 100).await.events.len(), 6, "no byte cap on other topics");
    let big = publish(&*store, &u, &"y".repeat(2_000), keep_all()).await;
    let snap = read(&*store, &u, 0, 100).await;
    assert_eq!(positions(&snap), vec![big], "the newest stays, whatever its size");
    assert_eq!(snap.topic.unwrap().bytes, snap.events[0].frame.len() as u64);
}

/// Past `max_user_topics` or `max_user_history_bytes`, the least recently appended user topics are deleted (never
/// the one just appended to); `deleted_upto` covers them.
pub async fn user_topics_capped_by_count_and_bytes(backend: &dyn Backend) {
    let clock = Clock::manual(1_000_000);
    let opts = StoreOptions { max_user_topics: 2, clock: clock.clone(), ..StoreOptions::default() };
    let store = backend.fresh(opts).await;
    let users: Vec<Topic> = (0..3).map(|i| topic::user(&format!("conf{i}"))).collect();
    for u in &users {
        publish(&*store, u, "hello", keep_all()).await;
        clock.advance(Duration::from_millis(10));
    }
    let first = read(&*store, &users[0], 0, 10).await;
    assert!(first.topic.is_none(), "the least recently used of three user topics is deleted (cap 2)");
    assert!(first.deleted_upto > 0);
    for u in &users[1..] {
        assert!(read(&*store, u, 0, 10).await.topic.is_some());
    }

    let opts = StoreOptions { max_user_history_bytes: 1_000, clock: clock.clone(), ..StoreOptions::default() };
    let store = backend.fresh(opts).await;
    let body = "x".repeat(400);
    for u in &users {
        publish(&*store, u, &body, keep_all()).await;
        clock.advance(Duration::from_millis(10));
    }
    // A broadcast topic counts for nothing.
    publish(&*store, &Topic::broadcast(), &body, keep_all()).await;
    // Three frames of ~430 bytes: past 1,000 bytes the oldest user topic goes.
    assert!(read(&*store, &users[0], 0, 10).await.topic.is_none(), "past the byte cap, the LRU user topic is deleted");
    assert!(read(&*store, &users[1], 0, 10).await.topic.is_some());
    assert!(read(&*store, &users[2], 0, 10).await.topic.is_some(), "never the one just appended to");
    // Touching the older one makes the other the least recently used.
    clock.advance(Duration::from_millis(10));
    publish(&*store, &users[1], "again", keep_all()).await;
    clock.advance(Duration::from_millis(10));
    publish(&*store, &users[0], &body, keep_all()).await;
    assert!(read(&*store, &users[2], 0, 10).await.topic.is_none(), "the least recently appended goes");
    assert!(read(&*store, &users[1], 0, 10).await.topic.is_some());
}

/// An append with `mark_offline` sets the topic's offline mark at its position unless one is set; without it, no
/// mark. `TakeOffline` answers the mark once and clears it. A store that delivers live events itself sets the mark
/// only if no instance watches the topic either.
pub async fn offline_marks(backend: &dyn Backend) {
    let store = backend.fresh(StoreOptions::default()).await;
    let u = topic::user("conf");
    let offline = |data: &str, mark_offline| Write::Append {
        topic: u.clone(),
        payload: Payload::new(None, data),
        retention: keep_all(),
        mark_offline,
    };
    let take = || Write::TakeOffline { topic: u.clone() };
    write(&*store, vec![offline("live", false)]).await;
    assert!(matches!(write(&*store, vec![take()]).await[0], Outcome::Offline(None)), "no mark without mark_offline");
    let first = appended(&write(&*store, vec![offline("one", true)]).await[0]).0.pos;
    write(&*store, vec![offline("two", true), offline("three", false)]).await;
    match &write(&*store, vec![take(), take()]).await[..] {
        [Outcome::Offline(Some(from)), Outcome::Offline(None)] => assert_eq!(*from, first, "the first one stays"),
        other => panic!("the mark, then nothing: {other:?}"),
    }
    assert!(matches!(write(&*store, vec![take()]).await[0], Outcome::Offline(None)), "taken once");
    assert!(matches!(
        write(&*store, vec![Write::TakeOffline { topic: topic::user("conf-never") }]).await[0],
        Outcome::Offline(None)
    ));

    let (sink, _rx) = ChannelSink::new();
    if store.attach_live(sink) {
        store.watch(&u).await.expect("watch");
        write(&*store, vec![offline("listened", true)]).await;
        assert!(
            matches!(write(&*store, vec![take()]).await[0], Outcome::Offline(None)),
            "an instance watches the topic: no offline mark"
        );
        store.unwatch(&u).await;
        let after = appended(&write(&*store, vec![offline("gone", true)]).await[0]).0.pos;
        match &write(&*store, vec![take()]).await[0] {
            Outcome::Offline(Some(from)) => assert_eq!(*from, after),
            other => panic!("unwatched again: the mark is set: {other:?}"),
        }
    }
}

/// The epoch is random and comes with the data: new data, new epoch; the same data reopened, the same epoch and
/// positions that go on; data lost under a running store, a new epoch adopted by the next write (no error), positions
/// from the start again — or the epoch another instance created for the new data first.
pub async fn epochs(backend: &dyn Backend) {
    let a = Topic::from("conf-a");
    let store = backend.fresh(StoreOptions::default()).await;
    let other = backend.fresh(StoreOptions::default()).await;
    assert_ne!(store.epoch(), other.epoch(), "new data, new epoch");
    assert_eq!(store.epoch().len(), 12);
    drop(other);
    assert_eq!(store.refresh_epoch().await.unwrap(), store.epoch());

    let store = backend.fresh(StoreOptions::default()).await;
    let epoch = store.epoch();
    let last = publish(&*store, &a, "before", keep_all()).await;
    drop(store);
    if let Some(store) = backend.reopen(StoreOptions::default()).await {
        assert_eq!(store.epoch(), epoch, "the same data, the same epoch");
        let next = publish(&*store, &a, "after", keep_all()).await;
        assert!(next > last, "positions go on after a restart: {next} after {last}");
        assert_eq!(positions(&read(&*store, &a, 0, 10).await), vec![last, next]);
    }

    let store = backend.fresh(StoreOptions::default()).await;
    let epoch = store.epoch();
    publish(&*store, &a, "before", keep_all()).await;
    if backend.wipe().await {
        let (event, _) = appended(&write(&*store, vec![append(&a, "after", keep_all())]).await[0]);
        let new = store.epoch();
        assert_ne!(new, epoch, "lost data: a new epoch");
        assert!(frame(&event).starts_with(&format!("id: {new}-1\n")), "{:?}", frame(&event));
        assert_eq!(store.refresh_epoch().await.unwrap(), new);

        // Data that can be lost under a running store is shared: another instance may meet the new data first and
        // create its epoch; this store then adopts that one (not a third).
        publish(&*store, &a, "again", keep_all()).await;
        assert!(backend.wipe().await);
        let other = backend.reopen(StoreOptions::default()).await.expect("a shared store opens the same data");
        let theirs = other.epoch();
        assert_ne!(theirs, new);
        let (event, _) = appended(&write(&*store, vec![append(&a, "after", keep_all())]).await[0]);
        assert_eq!(store.epoch(), theirs, "the epoch the data has now");
        assert!(frame(&event).starts_with(&format!("id: {theirs}-")), "{:?}", frame(&event));
    }
}

fn job_record(id: &str, lease_until_ms: u64, clock: &Clock) -> JobRecord {
    JobRecord { id: id.to_owned(), steps: 3, interval_ms: 10, created_ms: clock.now_ms(), ended: None, lease_until_ms }
}

/// Job records: admitted while fewer than `max_running` run (else `Busy`, nothing stored); renewed; ended once with
/// one terminal `ping`; with `max_running` kept, the one that ended first makes room; deleted with their topic.
pub async fn jobs(backend: &dyn Backend) {
    let clock = Clock::manual(crate::clock::now_ms());
    let store = backend.fresh(options(&clock)).await;
    let lease = clock.now_ms() + 60_000;
    let start = |id: &str| Write::StartJob { job: job_record(id, lease, &clock), max_running: 2 };
    let out = write(&*store, vec![start("j1"), start("j2"), start("j3")]).await;
    assert!(matches!(&out[..], [Outcome::Done, Outcome::Done, Outcome::Busy]), "{out:?}");
    assert!(store.job("j3").await.unwrap().is_none(), "a refused job is not stored");
    let mut ids: Vec<String> = store.jobs().await.unwrap().into_iter().map(|j| j.id).collect();
    ids.sort();
    assert_eq!(ids, ["j1", "j2"]);
    assert_eq!(store.job("j1").await.unwrap().unwrap(), job_record("j1", lease, &clock));

    write(&*store, vec![Write::RenewJob { id: "j1".into(), until_ms: lease + 5 }]).await;
    assert_eq!(store.job("j1").await.unwrap().unwrap().lease_until_ms, lease + 5);

    let progress = publish(&*store, &topic::job("j1"), "1/3", keep_all()).await;
    clock.advance(Duration::from_millis(5));
    let end = |id: &str| Write::EndJob { id: id.into(), outcome: "finished".into(), only_if_lease_before: None };
    let out = write(&*store, vec![end("j1"), end("j1")]).await;
    let (ping, data) = appended(&out[0]);
    assert!(matches!(out[1], Outcome::Done), "a job ends once: {:?}", out[1]);
    assert_eq!(data, "finished");
    assert!(frame(&ping).contains("event: ping\ndata: finished\n"), "{:?}", frame(&ping));
    assert_eq!(positions(&read(&*store, &topic::job("j1"), 0, 10).await), vec![progress, ping.pos]);
    let ended = store.job("j1").await.unwrap().unwrap().ended.expect("ended");
    assert_eq!((ended.at_ms, ended.outcome.as_str()), (clock.now_ms(), "finished"));

    // One runs, one ended, two kept: admitting j3 deletes j1 (ended first) with its topic.
    assert!(matches!(write(&*store, vec![start("j3")]).await[0], Outcome::Done));
    assert!(store.job("j1").await.unwrap().is_none(), "the job that ended first made room");
    assert!(read(&*store, &topic::job("j1"), 0, 10).await.topic.is_none(), "with its topic");
    assert!(matches!(write(&*store, vec![start("j4")]).await[0], Outcome::Busy));

    publish(&*store, &topic::job("j2"), "1/3", keep_all()).await;
    write(&*store, vec![Write::DeleteJob { id: "j2".into() }]).await;
    assert!(store.job("j2").await.unwrap().is_none());
    assert!(read(&*store, &topic::job("j2"), 0, 10).await.topic.is_none(), "a deleted job's topic is deleted");
    assert!(matches!(write(&*store, vec![start("j4")]).await[0], Outcome::Done));
}

/// A running job whose lease ran out stops counting against `max_running`; `EndJob` with `only_if_lease_before`
/// ends it only if its lease ran out before that time.
pub async fn job_leases(backend: &dyn Backend) {
    let clock = Clock::manual(crate::clock::now_ms());
    let store = backend.fresh(options(&clock)).await;
    let now = clock.now_ms();
    let start = |id: &str, lease| Write::StartJob { job: job_record(id, lease, &clock), max_running: 1 };
    assert!(matches!(write(&*store, vec![start("j1", now + 1_000)]).await[0], Outcome::Done));
    assert!(matches!(write(&*store, vec![start("j2", now + 1_000)]).await[0], Outcome::Busy));
    let interrupt =
        |before| Write::EndJob { id: "j1".into(), outcome: "interrupted".into(), only_if_lease_before: Some(before) };
    assert!(matches!(write(&*store, vec![interrupt(now)]).await[0], Outcome::Done), "its lease runs still");
    assert!(store.job("j1").await.unwrap().unwrap().ended.is_none());
    clock.advance(Duration::from_secs(2));
    assert!(matches!(write(&*store, vec![start("j2", clock.now_ms() + 1_000)]).await[0], Outcome::Done));
    let (_, data) = appended(&write(&*store, vec![interrupt(clock.now_ms())]).await[0]);
    assert_eq!(data, "interrupted");
    assert_eq!(store.job("j1").await.unwrap().unwrap().ended.unwrap().outcome, "interrupted");
}

/// A keyed write whose key was seen within its window answers the first outcome again (`Repeated`) and writes
/// nothing; with another request (fingerprint), `KeyReused`. Keys are kept in the batch that writes.
pub async fn idempotency_keys(backend: &dyn Backend) {
    let store = backend.fresh(StoreOptions::default()).await;
    let a = Topic::from("conf-a");
    let keyed = |client_key: &str, data: &str| Write::Keyed {
        key: Key::new(&a, client_key, data.as_bytes()),
        write: Box::new(append(&a, data, keep_all())),
    };
    let (first, data) = appended(&write(&*store, vec![keyed("k1", "one")]).await[0]);
    let out = write(&*store, vec![keyed("k1", "one"), keyed("k1", "other"), keyed("k2", "two")]).await;
    match &out[0] {
        Outcome::Repeated(Remembered { position, data: again }) => assert_eq!((*position, again), (first.pos, &data)),
        other => panic!("expected Repeated, got {other:?}"),
    }
    assert!(matches!(out[1], Outcome::KeyReused), "{:?}", out[1]);
    let (second, _) = appended(&out[2]);
    assert_eq!(positions(&read(&*store, &a, 0, 10).await), vec![first.pos, second.pos], "nothing written again");
    let key_on_other_topic = Write::Keyed {
        key: Key::new("conf-b", "k1", b"one"),
        write: Box::new(append(&Topic::from("conf-b"), "one", keep_all())),
    };
    appended(&write(&*store, vec![key_on_other_topic]).await[0]);
}

/// A [`LiveSink`] that sends what it is given into a channel.
#[derive(Debug)]
pub struct ChannelSink(Mutex<mpsc::UnboundedSender<Live>>);

/// What a [`ChannelSink`] was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    /// An event of a topic: its position.
    Event(String, u64),
    /// A new epoch.
    Epoch(String),
}

impl ChannelSink {
    /// A sink and what it receives.
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<Live>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Arc::new(ChannelSink(Mutex::new(tx))), rx)
    }
}

impl LiveSink for ChannelSink {
    fn event(&self, topic: &str, event: Arc<Event>) {
        let _ = self.0.lock().unwrap().send(Live::Event(topic.to_owned(), event.pos));
    }

    fn epoch(&self, epoch: &str) {
        let _ = self.0.lock().unwrap().send(Live::Epoch(epoch.to_owned()));
    }
}

/// The next event a sink receives (epoch news skipped), within 5 s: it is pushed, nobody polls for it.
async fn next_event(rx: &mut mpsc::UnboundedReceiver<Live>) -> Option<(String, u64)> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(Live::Event(t, p))) => return Some((t, p)),
            Ok(Some(Live::Epoch(_))) => {}
            Ok(None) | Err(_) => return None,
        }
    }
}

/// A store that delivers live events ([`Store::attach_live`] true) gives its sink every event committed to a watched
/// topic after `watch` returned, in position order, and none of an unwatched topic; a store that does not has
/// `watch`/`unwatch` as no-ops that succeed.
pub async fn live_delivery(backend: &dyn Backend) {
    let store = backend.fresh(StoreOptions::default()).await;
    let (a, b) = (Topic::from("conf-a"), Topic::from("conf-b"));
    let (sink, mut rx) = ChannelSink::new();
    if !store.attach_live(sink) {
        store.watch(&a).await.expect("watch is a no-op");
        store.unwatch(&a).await;
        publish(&*store, &a, "x", keep_all()).await;
        assert!(rx.try_recv().is_err(), "a store that does not deliver live events calls no sink");
        return;
    }
    publish(&*store, &a, "before watch", keep_all()).await;
    store.watch(&a).await.expect("watch");
    assert!(store.live_error().is_none(), "{:?}", store.live_error());
    let out = write(&*store, vec![append(&b, "unwatched", keep_all()), append(&a, "1", keep_all())]).await;
    let mut want = vec![appended(&out[1]).0.pos];
    want.push(publish(&*store, &a, "2", keep_all()).await);
    let mut got = Vec::new();
    while got.len() < want.len() {
        let (t, pos) = next_event(&mut rx).await.expect("delivered");
        assert_eq!(t, a.as_str(), "only the watched topic");
        got.push(pos);
    }
    assert_eq!(got, want, "after watch, in order");
    store.unwatch(&a).await;
    publish(&*store, &a, "after unwatch", keep_all()).await;
    let marker = Topic::from("conf-c");
    store.watch(&marker).await.expect("watch");
    let last = publish(&*store, &marker, "marker", keep_all()).await;
    assert_eq!(next_event(&mut rx).await, Some((marker.to_string(), last)), "nothing of an unwatched topic");
}

/// Topics come and go (the last stream of one closes, another opens, the first opens again): unwatching one topic
/// leaves the others delivered, and a topic watched again is delivered again.
pub async fn live_delivery_after_unwatch(backend: &dyn Backend) {
    let store = backend.fresh(StoreOptions::default()).await;
    let (sink, mut rx) = ChannelSink::new();
    if !store.attach_live(sink) {
        return;
    }
    let topics: Vec<Topic> = (0..8).map(|i| topic::user(&format!("conf-{i}"))).collect();
    for t in &topics {
        store.watch(t).await.expect("watch");
    }
    for t in &topics[..4] {
        store.unwatch(t).await;
    }
    for round in 0..2 {
        // The topics still watched, then (second round) the unwatched ones watched again.
        let live = if round == 0 { &topics[4..] } else { &topics[..] };
        for t in live {
            let pos = publish(&*store, t, "after", keep_all()).await;
            assert_eq!(next_event(&mut rx).await, Some((t.to_string(), pos)), "round {round}: {t} delivered");
        }
        for t in &topics[..4] {
            store.watch(t).await.expect("watch again");
        }
    }
}

/// After its live connection breaks, a store that delivers live events reconnects and delivers what was committed
/// meanwhile, from the log, before what follows: every event once, in order.
pub async fn live_delivery_fills_holes(backend: &dyn Backend) {
    let store = backend.fresh(StoreOptions::default()).await;
    let a = Topic::from("conf-a");
    let (sink, mut rx) = ChannelSink::new();
    if !store.attach_live(sink) {
        return;
    }
    store.watch(&a).await.expect("watch");
    let mut want = vec![publish(&*store, &a, "0", keep_all()).await];
    assert_eq!(next_event(&mut rx).await, Some((a.to_string(), want[0])));
    if !backend.interrupt_live().await {
        return;
    }
    for i in 1..20 {
        want.push(publish(&*store, &a, &i.to_string(), keep_all()).await);
    }
    let mut got = vec![want[0]];
    while got.len() < want.len() {
        match next_event(&mut rx).await {
            Some((_, pos)) => got.push(pos),
            None => panic!("not delivered after the reconnect: {:?}", &want[got.len()..]),
        }
    }
    assert_eq!(got, want, "each once, in order");
}
