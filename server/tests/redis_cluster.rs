//! A real Redis Cluster (3 primaries + 3 replicas from Debian's redis-server, started here on free ports) under three
//! real server instances: per-user streams spread over every primary, one sequential publisher sending to every
//! instance in turn, and a primary killed with SIGKILL while it publishes. Its replica takes over; the streams go on.
//!
//! Redis replicates asynchronously: without `--redis-wait-replicas`, an event the killed primary acknowledged but had
//! not yet sent to its replica is lost. The tests make that happen: the victim's replica is held back (DEBUG SLEEP,
//! its link dropped) for the last 0.7 s before the kill. The first test measures how many are lost (printed) and
//! requires that no loss is silent: every acknowledged event reaches its user's stream, or that stream got a
//! `replay-gap`. The second runs with
//! `--redis-wait-replicas 1`: nothing acknowledged is lost, and every stream gets every event once, in order. In both,
//! the killed node is started again once its replica has taken over (it rejoins as a replica): until then a publish
//! that needs a replica's confirmation is refused with "outcome unknown", and the publisher retries it with the same
//! idempotency key.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::process::{start_in, wait_health, Child, TempDir};
use common::redis_cluster::RedisCluster;
use common::{open, Events};
use futures::StreamExt as _;
use serde_json::{json, Value};
use typed_eventsource_server::store::redis::RedisStore;
use typed_eventsource_server::store::{topic, Store, StoreOptions};

const USERS: usize = 24;

fn instance(cluster: &RedisCluster, extra: &[&str]) -> (Child, TempDir) {
    let dir = TempDir::new("cluster-instance");
    let urls = cluster.urls();
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--dev", "--store", "redis", "--redis-url", urls.as_str()];
    args.extend_from_slice(extra);
    (start_in(dir.path(), &args), dir)
}

/// Publishes `n` to `user` through `url` with the idempotency key `k<n>`, retrying (same key) until it is
/// acknowledged or 30 s have passed: a publisher that does what the error tells it.
async fn publish(client: &reqwest::Client, urls: &[String], user: usize, n: u64) -> (String, u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failures = 0;
    loop {
        let url = &urls[(n as usize + failures as usize) % urls.len()];
        let res = client
            .post(format!("{url}/notify/u{user}"))
            .header("content-type", "application/json")
            .header("idempotency-key", format!("k{n}"))
            .body(json!({ "data": n }).to_string())
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let last_error = match res {
            Ok(res) if res.status() == 200 => {
                let body: Value = res.json().await.unwrap();
                return (body["id"].as_str().unwrap().to_owned(), failures);
            }
            Ok(res) => format!("{url}: {} {}", res.status(), res.text().await.unwrap_or_default()),
            Err(e) => format!("{url}: {e}"),
        };
        failures += 1;
        assert!(Instant::now() < deadline, "publish {n} not acknowledged within 30 s; last answer: {last_error}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills the primary on `victim` so that its replica takes over without the last 0.7 s of writes: the replica falls
/// behind first, as a replica of a busy or distant primary can (it sleeps 3 s, DEBUG SLEEP, and the primary drops its
/// link), so what the primary acknowledges meanwhile is on the primary alone. The replica wakes and is promoted; then
/// the operator starts the killed node again, which rejoins as the new primary's replica (with
/// `--redis-wait-replicas 1`, that shard's publishes are refused until it has one again).
async fn lose_the_tail_in_a_failover(mut cluster: RedisCluster, victim: u16) -> RedisCluster {
    let replica = cluster.replica_of(victim);
    let sleeper = std::thread::spawn(move || {
        std::process::Command::new("redis-cli").args(["-p", &replica.to_string(), "DEBUG", "SLEEP", "3"]).output()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    cluster.cli(victim, &["CLIENT", "KILL", "TYPE", "replica"]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    cluster.kill9(victim);
    let _ = sleeper.join();
    tokio::task::spawn_blocking(move || {
        cluster.wait_ok();
        cluster.restart(victim);
        cluster.wait_ok();
        cluster.wait_replicas_in_sync();
        cluster
    })
    .await
    .unwrap()
}

/// What one user's stream received: the data of each event, and whether a `replay-gap` came.
#[derive(Default, Debug)]
struct Received {
    data: Vec<u64>,
    gaps: usize,
}

/// Reads `stream` until the event with data `last` arrived (or 30 s passed).
async fn read_until(stream: &mut Events, last: u64) -> Received {
    let mut got = Received::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(Ok(e))) = tokio::time::timeout_at(deadline, stream.next()).await {
        if e.event == "replay-gap" {
            got.gaps += 1;
            continue;
        }
        if e.event != "message" {
            continue;
        }
        let n: u64 = e.data.parse().unwrap();
        got.data.push(n);
        if n == last {
            break;
        }
    }
    got
}

/// Runs the scenario; returns (acknowledged, lost, streams that got a replay-gap, publishes retried).
async fn failover(extra: &[&str]) -> (usize, usize, usize, u32, HashMap<usize, (Vec<u64>, Received)>) {
    let cluster = RedisCluster::start();
    let instances: Vec<(Child, TempDir)> = (0..3).map(|_| instance(&cluster, extra)).collect();
    let urls: Vec<String> = instances.iter().map(|(c, _)| c.url.clone()).collect();
    let epoch = wait_health(&urls[0], 200, 10).await["epoch"].as_str().unwrap().to_owned();
    for url in &urls[1..] {
        assert_eq!(wait_health(url, 200, 10).await["epoch"].as_str().unwrap(), epoch, "one epoch for all instances");
    }
    // Each user's stream on one instance; its events published through the others.
    let mut streams = Vec::new();
    for u in 0..USERS {
        streams.push(open(reqwest::Client::new().get(format!("{}/sse/u{u}", urls[u % 3]))).await);
    }
    let client = reqwest::Client::new();
    let mut acked: HashMap<usize, Vec<u64>> = HashMap::new();
    let (mut n, mut retried) = (0u64, 0u32);
    let publishing = urls.clone();
    let send = move |n: u64| {
        let (client, urls) = (client.clone(), publishing.clone());
        async move { publish(&client, &urls, n as usize % USERS, n).await }
    };
    for _ in 0..(USERS * 4) {
        let (_, r) = send(n).await;
        retried += r;
        acked.entry(n as usize % USERS).or_default().push(n);
        n += 1;
    }
    // The user topics are on every primary.
    let spread = cluster.keys_per_primary("tes:{*}:t:u:*:s");
    assert!(spread.len() == 3 && spread.iter().all(|&k| k > 0), "user streams on every primary: {spread:?}");

    // Kill a primary while the publisher goes on (1,500 more events, through the failover).
    let victim = cluster.primaries()[0];
    let publisher = tokio::spawn(async move {
        let mut more = Vec::new();
        for _ in 0..1500 {
            let (_, r) = send(n).await;
            more.push((n, r));
            n += 1;
        }
        (more, n)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cluster = lose_the_tail_in_a_failover(cluster, victim).await;
    let (more, mut n) = publisher.await.unwrap();
    for (m, r) in more {
        retried += r;
        acked.entry(m as usize % USERS).or_default().push(m);
    }
    // A last event per user, published after everything: each stream reads up to it.
    let mut last = HashMap::new();
    for u in 0..USERS {
        while n as usize % USERS != u {
            n += 1;
        }
        let client = reqwest::Client::new();
        publish(&client, &urls, u, n).await;
        acked.entry(u).or_default().push(n);
        last.insert(u, n);
        n += 1;
    }
    // What the store keeps, read by a store of our own on the cluster.
    let store = RedisStore::open(&cluster.urls(), "tes:", StoreOptions::default()).await.unwrap();
    let (mut total, mut lost, mut gapped) = (0, 0, 0);
    let mut per_user = HashMap::new();
    for (u, stream) in streams.iter_mut().enumerate() {
        let got = read_until(stream, last[&u]).await;
        let snap = store.read(&topic::user(&format!("u{u}")), 0, 100_000).await.unwrap();
        let kept: Vec<u64> = snap
            .events
            .iter()
            .filter_map(|e| {
                std::str::from_utf8(&e.frame).ok()?.lines().find_map(|l| l.strip_prefix("data: "))?.parse().ok()
            })
            .collect();
        let sent = acked.remove(&u).unwrap();
        total += sent.len();
        let lost_here = sent.iter().filter(|m| !kept.contains(m)).count();
        assert!(lost_here == 0 || got.gaps > 0, "user u{u}: {lost_here} acknowledged events lost and no replay-gap");
        lost += lost_here;
        if got.gaps > 0 {
            gapped += 1;
        } else {
            assert_eq!(got.data, sent, "user u{u}: without a replay-gap, every acknowledged event, once, in order");
        }
        per_user.insert(u, (sent, got));
    }
    (total, lost, gapped, retried, per_user)
}

/// A primary that stops answering without closing its connections (SIGSTOP: a hung process, or a network path gone
/// silent) is failed over by the cluster. The instance must follow it, whatever state that leaves its Redis
/// connections in (a cluster connection whose slot refresh hung answered every command with a timeout for good): its
/// publishes are acknowledged again, and every stream gets every acknowledged event once, in order, or a
/// `replay-gap`; never silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_follows_a_failover_away_from_a_primary_that_stopped_answering() {
    let mut cluster = RedisCluster::start();
    let (server, _dir) = instance(&cluster, &[]);
    let urls = vec![server.url.clone()];
    wait_health(&urls[0], 200, 10).await;
    let mut streams = Vec::new();
    for u in 0..USERS {
        streams.push(open(reqwest::Client::new().get(format!("{}/sse/u{u}", urls[0]))).await);
    }
    let client = reqwest::Client::new();
    let mut acked: HashMap<usize, Vec<u64>> = HashMap::new();
    let mut n = 0u64;
    for _ in 0..USERS * 2 {
        publish(&client, &urls, n as usize % USERS, n).await;
        acked.entry(n as usize % USERS).or_default().push(n);
        n += 1;
    }
    let victim = cluster.primaries()[0];
    let _stopped = cluster.stop(victim);
    let _cluster = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while cluster.primaries().contains(&victim) {
            assert!(Instant::now() < deadline, "the stopped primary was not failed over within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster.wait_ok();
        cluster
    })
    .await
    .unwrap();
    // Every user once more after the failover (each publish retried until acknowledged, within 30 s).
    for _ in 0..USERS * 2 {
        publish(&client, &urls, n as usize % USERS, n).await;
        acked.entry(n as usize % USERS).or_default().push(n);
        n += 1;
    }
    for (u, stream) in streams.iter_mut().enumerate() {
        let sent = &acked[&u];
        let got = read_until(stream, *sent.last().unwrap()).await;
        if got.gaps == 0 {
            assert_eq!(&got.data, sent, "user u{u}: without a replay-gap, every acknowledged event, once, in order");
        } else {
            assert!(got.data.last() == sent.last(), "user u{u}: after a replay-gap the stream still goes on");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_streams_spread_over_every_primary_go_on_when_a_primary_is_killed_and_no_loss_is_silent() {
    let (total, lost, gapped, retried, _) = failover(&[]).await;
    println!(
        "redis cluster failover, no WAIT: {lost} of {total} acknowledged events lost, {gapped} of {USERS} streams got \
         a replay-gap, {retried} publishes retried"
    );
    // The replica lagged when it took over: the events only its primary had are lost (measured), and each stream
    // that lost one was told (checked per user above).
    assert!(lost > 0, "the lagging replica was promoted without losing anything: the scenario did not happen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_wait_for_one_replica_a_killed_primary_loses_nothing_acknowledged_and_every_stream_gets_every_event() {
    let (total, lost, gapped, retried, per_user) = failover(&["--redis-wait-replicas", "1"]).await;
    println!(
        "redis cluster failover, WAIT 1: {lost} of {total} acknowledged events lost, {gapped} streams got a \
         replay-gap, {retried} publishes retried"
    );
    assert_eq!(lost, 0, "acknowledged after a replica had it: nothing lost");
    for (u, (sent, got)) in per_user {
        // A replay-gap would be an epoch change, which nothing lost should cause.
        assert_eq!((got.gaps, &got.data), (0, &sent), "user u{u}");
    }
}

/// A reader that was away during the failover (no instance watched its topic, so no hole was filled) resumes with the
/// id of an event that was acknowledged and then lost: it must get a `replay-gap`, not the events published after
/// the failover as if nothing were missing. The instance that acknowledged the lost events finds that out itself
/// (its last acknowledged event per slot group is gone) and starts a new epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_resuming_after_a_lost_event_of_a_failover_gets_a_replay_gap() {
    let cluster = RedisCluster::start();
    let (server, _dir) = instance(&cluster, &[]);
    let urls = vec![server.url.clone()];
    wait_health(&urls[0], 200, 10).await;
    let victim = cluster.primaries()[0];
    let send = {
        let urls = urls.clone();
        move |n: u64| {
            let urls = urls.clone();
            async move { publish(&reqwest::Client::new(), &urls, n as usize % USERS, n).await.0 }
        }
    };
    let publisher = tokio::spawn({
        let send = send.clone();
        async move {
            let mut ids = Vec::new();
            for n in 0..1200u64 {
                ids.push((n, send(n).await));
            }
            ids
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cluster = lose_the_tail_in_a_failover(cluster, victim).await;
    let acked = publisher.await.unwrap();
    // Newer events for every user after the failover.
    for n in 1200..1200 + USERS as u64 {
        send(n).await;
    }
    let store = RedisStore::open(&cluster.urls(), "tes:", StoreOptions::default()).await.unwrap();
    let mut lost_users = 0;
    for u in 0..USERS {
        let snap = store.read(&topic::user(&format!("u{u}")), 0, 100_000).await.unwrap();
        let kept: Vec<String> = snap.events.iter().map(|e| String::from_utf8_lossy(&e.frame).into_owned()).collect();
        let first_lost = acked
            .iter()
            .filter(|(n, _)| *n as usize % USERS == u)
            .find(|(n, _)| !kept.iter().any(|f| f.contains(&format!("data: {n}\n"))));
        let Some((n, id)) = first_lost else { continue };
        lost_users += 1;
        let mut stream =
            open(reqwest::Client::new().get(format!("{}/sse/u{u}", urls[0])).header("last-event-id", id)).await;
        let first = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let e = stream.next().await.unwrap().unwrap();
                if e.event == "message" || e.event == "replay-gap" {
                    return e;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(first.event, "replay-gap", "user u{u} resumed after lost event {n} ({id}): got {first:?}");
    }
    assert!(lost_users > 0, "nothing was lost: the scenario did not happen");
    println!("redis cluster failover, a reader away: {lost_users} of {USERS} users lost events; each resume got a replay-gap");
}

/// Streams come and go on one instance: users' streams opened after others were closed get every event. Positions
/// of different slot groups are not in commit order, so what a stream joining now has seen is judged per topic (a
/// store-wide watermark, raised by a topic of a high group, once hid the events of every lower group from streams
/// that joined later: 2 of 20 arrived).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn streams_opened_after_others_closed_get_every_event_of_every_slot_group() {
    let cluster = RedisCluster::start();
    let (server, _dir) = instance(&cluster, &[]);
    let url = server.url.clone();
    wait_health(&url, 200, 10).await;
    let client = reqwest::Client::new();
    let mut n = 0;
    for round in 0..2 {
        let mut streams = Vec::new();
        for u in 0..USERS {
            streams.push(open(client.get(format!("{url}/sse/u{u}"))).await);
        }
        for u in 0..USERS {
            publish(&client, std::slice::from_ref(&url), u, n + u as u64).await;
        }
        for (u, stream) in streams.iter_mut().enumerate() {
            let got = read_until(stream, n + u as u64).await;
            assert_eq!(got.data, vec![n + u as u64], "round {round}, user u{u}");
        }
        n += USERS as u64;
        // All closed: each topic is unwatched before the next round opens it again.
        drop(streams);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A slot moves to another primary (`redis-cli --cluster reshard` does this slot by slot) while a user's stream is
/// open and a publisher goes on: Redis unsubscribes the stream's shard channel on the old primary; the instance
/// subscribes it again on the new one and fills the hole from the stream. Every event once, in order, no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_goes_on_when_its_slot_moves_to_another_primary() {
    let cluster = RedisCluster::start();
    let (server, _dir) = instance(&cluster, &[]);
    let urls = vec![server.url.clone()];
    wait_health(&urls[0], 200, 10).await;
    let client = reqwest::Client::new();
    let mut stream = open(client.get(format!("{}/sse/u0", urls[0]))).await;
    // USERS divides every n published here: all of them to user u0.
    let mut sent = Vec::new();
    for i in 0..20u64 {
        publish(&client, &urls, 0, i * USERS as u64).await;
        sent.push(i * USERS as u64);
    }
    let key = cluster.keys("tes:{*}:t:u:u0:s").pop().expect("u0's stream key");
    let slot = cluster.slot_of(&key);
    let from = cluster.primary_of(&key);
    let to = cluster.primaries().into_iter().find(|&p| p != from).unwrap();
    let publisher = tokio::spawn({
        let (client, urls) = (client.clone(), urls.clone());
        async move {
            let mut more = Vec::new();
            for i in 20..80u64 {
                publish(&client, &urls, 0, i * USERS as u64).await;
                more.push(i * USERS as u64);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            more
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.move_slot(slot, to);
        cluster
    })
    .await
    .unwrap();
    sent.extend(publisher.await.unwrap());
    assert_eq!(cluster.primary_of(&key), to, "the slot moved");
    let got = read_until(&mut stream, *sent.last().unwrap()).await;
    assert_eq!((got.gaps, got.data), (0, sent), "every event once, in order, across the move");
}
