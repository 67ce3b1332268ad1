//! Several real server instances sharing a real `redis-server` (started here, on a free port, with AOF): shared
//! streams and ids, atomic publishing from many instances, offline notifications and jobs across instances, a lost
//! subscription connection, Redis killed and restarted, Redis wiped.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::process::{start_in, wait_health, Child, TempDir};
use common::redis_server::RedisServer;
use common::{next, open, pos, until, Events};
use serde_json::{json, Value};

fn instance(redis: &RedisServer, extra: &[&str]) -> (Child, TempDir) {
    let dir = TempDir::new("redis-instance");
    let url = redis.url();
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--dev", "--store", "redis", "--redis-url", url.as_str()];
    args.extend_from_slice(extra);
    (start_in(dir.path(), &args), dir)
}

async fn post(url: &str, path: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn update(url: &str, text: &str) -> Value {
    let res = post(url, "/update", json!({ "text": text })).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn stream(url: &str, path: &str, last_event_id: Option<&str>) -> Events {
    let mut req = reqwest::Client::new().get(format!("{url}{path}"));
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    open(req).await
}

async fn epoch(url: &str) -> String {
    wait_health(url, 200, 10).await["epoch"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_streams_ids_order_and_replay() {
    let redis = RedisServer::start();
    let instances: Vec<(Child, TempDir)> = (0..3).map(|_| instance(&redis, &[])).collect();
    let urls: Vec<String> = instances.iter().map(|(c, _)| c.url.clone()).collect();
    let ep = epoch(&urls[0]).await;
    for url in &urls[1..] {
        assert_eq!(epoch(url).await, ep, "one epoch for all instances");
    }
    // Two subscribers on each instance.
    let mut subscribers = Vec::new();
    for url in urls.iter().chain(urls.iter()) {
        subscribers.push(stream(url, "/subscribe", None).await);
    }
    let first = update(&urls[0], "first").await;
    let mut first_id = String::new();
    for s in &mut subscribers {
        let e = next(s).await;
        assert_eq!(pos(&e.id), first["id"].as_u64().unwrap(), "the same id on every instance");
        first_id = e.id;
    }
    // Publishes sent to each instance in turn, from 6 concurrent publishers.
    let mut tasks = Vec::new();
    for k in 0..6 {
        let urls = urls.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..30 {
                update(&urls[(k + i) % 3], &format!("w{k}-{i}")).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    update(&urls[2], "sentinel").await;
    let mut seen: Option<Vec<(String, String)>> = None;
    for s in &mut subscribers {
        let got: Vec<(String, String)> = until(s, "sentinel").await.into_iter().map(|e| (e.id, e.data)).collect();
        let texts: HashSet<&str> = got.iter().map(|(_, d)| d.as_str()).collect();
        assert_eq!((got.len(), texts.len()), (180, 180), "each of the 180 events once");
        match &seen {
            None => seen = Some(got),
            Some(first) => assert_eq!(&got, first, "every subscriber: the same events, order and ids"),
        }
    }
    // Resume on another instance with an id handed out elsewhere: exactly what followed.
    let mut resumed = stream(&urls[1], "/subscribe", Some(&first_id)).await;
    let rest: Vec<(String, String)> =
        until(&mut resumed, "sentinel").await.into_iter().map(|e| (e.id, e.data)).collect();
    assert_eq!(Some(rest), seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_of_one_instance_under_load_loses_nothing_acknowledged() {
    let redis = RedisServer::start();
    let (a, _da) = instance(&redis, &["--history", "100000"]);
    let (b, _db) = instance(&redis, &["--history", "100000"]);
    let ep = epoch(&b.url).await;
    let mut on_a = stream(&a.url, "/subscribe", Some(&format!("{ep}-0"))).await;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let publishers: Vec<_> = (0..4)
        .map(|k| {
            let (url, acked) = (if k % 2 == 0 { a.url.clone() } else { b.url.clone() }, acked.clone());
            tokio::spawn(async move {
                let c = reqwest::Client::new();
                for i in 0..100_000 {
                    let body = json!({ "text": format!("p{k}-{i}") }).to_string();
                    let Ok(res) = c
                        .post(format!("{url}/update"))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                    else {
                        return;
                    };
                    let Ok(v) = res.json::<Value>().await else { return };
                    acked.lock().unwrap().push(v["id"].as_u64().unwrap());
                    if i == 299 {
                        return;
                    }
                }
            })
        })
        .collect();
    // A's client reads a while, then A dies under load.
    let mut last = String::new();
    for _ in 0..100 {
        last = next(&mut on_a).await.id;
    }
    a.kill9();
    for p in publishers {
        p.await.unwrap();
    }
    // The client reconnects to B with its last id and gets everything acknowledged after it, once.
    let mut on_b = stream(&b.url, "/subscribe", Some(&last)).await;
    update(&b.url, "sentinel").await;
    let got = until(&mut on_b, "sentinel").await;
    assert!(got.iter().all(|e| e.event == "message"), "no replay-gap");
    let got: Vec<u64> = got.iter().map(|e| pos(&e.id)).collect();
    assert!(got.windows(2).all(|w| w[0] < w[1]), "no duplicate, in order");
    let got: HashSet<u64> = got.into_iter().collect();
    let missing: Vec<u64> =
        acked.lock().unwrap().iter().copied().filter(|p| *p > pos(&last) && !got.contains(p)).collect();
    assert!(missing.is_empty(), "acknowledged but not replayed: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offline_notifications_and_jobs_work_across_instances() {
    let redis = RedisServer::start();
    let (a, _da) = instance(&redis, &["--job-lease-secs", "2"]);
    let (b, _db) = instance(&redis, &["--job-lease-secs", "2"]);
    let (c, _dc) = instance(&redis, &["--job-lease-secs", "2"]);
    // Alice's two tabs on B and C get a notification published on A.
    let mut tab_b = stream(&b.url, "/sse/alice", None).await;
    let mut tab_c = stream(&c.url, "/sse/alice", None).await;
    post(&a.url, "/notify/alice", json!({ "event": "card", "data": "to both tabs" })).await;
    for tab in [&mut tab_b, &mut tab_c] {
        let e = next(tab).await;
        assert_eq!((e.event.as_str(), e.data.as_str()), ("card", "\"to both tabs\""));
    }
    drop((tab_b, tab_c));
    // B and C stop listening to alice's channel as soon as her tabs are gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let subs = redis.command(&["PUBSUB", "NUMSUB", "tes:t:u:alice:c"]).await;
        if matches!(&subs, redis::Value::Array(v) if matches!(v.get(1), Some(redis::Value::Int(0)))) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "instances still subscribed to alice: {subs:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Stored by A while alice is offline everywhere; delivered once by B.
    for n in 1..=2 {
        assert_eq!(post(&a.url, "/notify/alice", json!({ "data": n })).await.status(), 200);
    }
    let mut alice = stream(&b.url, "/sse/alice", None).await;
    assert_eq!((next(&mut alice).await.data, next(&mut alice).await.data), ("1".into(), "2".into()));
    // Connected on B: a notification sent through A is live, and not stored as offline.
    post(&a.url, "/notify/alice", json!({ "data": 3 })).await;
    assert_eq!(next(&mut alice).await.data, "3");
    let mut again = stream(&a.url, "/sse/alice", None).await;
    post(&b.url, "/notify/alice", json!({ "data": 4 })).await;
    assert_eq!(next(&mut again).await.data, "4", "nothing stored as offline was replayed");

    // A job created on A streams from B, each step produced once.
    let job: Value = post(&a.url, "/jobs", json!({ "steps": 3, "intervalMs": 30 })).await.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    let mut progress = stream(&b.url, &format!("/jobs/{id}/events"), None).await;
    let mut steps = Vec::new();
    loop {
        let e = next(&mut progress).await;
        if e.event == "message" {
            steps.push(serde_json::from_str::<Value>(&e.data).unwrap()["step"].as_u64().unwrap());
        }
        if e.data == "finished" {
            break;
        }
    }
    assert_eq!(steps, [1, 2, 3]);

    // A long job on A; A dies; B ends it as interrupted once A's lease ran out.
    let job: Value = post(&a.url, "/jobs", json!({ "steps": 10, "intervalMs": 60000 })).await.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    let mut watcher = stream(&b.url, &format!("/jobs/{id}/events"), None).await;
    a.kill9();
    let e = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let e = next(&mut watcher).await;
            if e.event == "ping" {
                return e;
            }
        }
    })
    .await
    .expect("B never ended the dead instance's job");
    assert_eq!(e.data, "interrupted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_subscription_connection_is_refilled_without_gap_or_duplicate() {
    let redis = RedisServer::start();
    let (a, _da) = instance(&redis, &[]);
    let mut live = stream(&a.url, "/subscribe", None).await;
    update(&a.url, "warm").await;
    next(&mut live).await;
    // Cut every subscription connection, then publish while A is re-subscribing.
    let killed = redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    assert!(matches!(killed, redis::Value::Int(n) if n >= 1), "no subscription connection was cut: {killed:?}");
    for i in 0..30 {
        update(&a.url, &format!("during {i}")).await;
    }
    update(&a.url, "sentinel").await;
    let got = until(&mut live, "sentinel").await;
    let texts: Vec<String> = got
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.data).unwrap()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, (0..30).map(|i| format!("during {i}")).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_gone_gives_503_then_recovers_with_the_same_epoch_and_nothing_lost() {
    let mut redis = RedisServer::start();
    let (a, _da) = instance(&redis, &[]);
    let ep = epoch(&a.url).await;
    let mut live = stream(&a.url, "/subscribe", None).await;
    let before = update(&a.url, "before").await;
    next(&mut live).await;
    redis.kill9();
    let t = std::time::Instant::now();
    let res = post(&a.url, "/update", json!({ "text": "while gone" })).await;
    assert!(t.elapsed() < Duration::from_secs(1), "the answer took {:?}", t.elapsed());
    // Known refused (503, nothing stored) or, if the dead connection swallowed the script, unknown (504).
    let status = res.status().as_u16();
    let error = res.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_owned();
    match status {
        503 => assert!(error.contains("nothing was stored"), "{error}"),
        504 => assert!(error.contains("same Idempotency-Key"), "{error}"),
        _ => panic!("{status} {error}"),
    }
    wait_health(&a.url, 503, 10).await;
    redis.restart();
    assert_eq!(epoch(&a.url).await, ep, "same data (AOF), same epoch");
    let after = update(&a.url, "after").await;
    assert!(after["id"].as_u64() > before["id"].as_u64());
    let e = next(&mut live).await;
    assert!(e.data.contains("\"after\""), "the open stream goes on: {e:?}");
    let mut all = stream(&a.url, "/subscribe", Some(&format!("{ep}-0"))).await;
    update(&a.url, "sentinel").await;
    let texts: Vec<String> = until(&mut all, "sentinel")
        .await
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.data).unwrap()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["before", "after"], "nothing of the refused publish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_redis_is_a_new_epoch_and_old_ids_get_a_replay_gap() {
    let redis = RedisServer::start();
    let (a, _da) = instance(&redis, &[]);
    let old = epoch(&a.url).await;
    let first = update(&a.url, "old").await;
    redis.command(&["FLUSHALL"]).await;
    let fresh = update(&a.url, "new").await;
    let new = epoch(&a.url).await;
    assert_ne!(new, old);
    assert_eq!(fresh["id"], 1, "positions start again, in a new epoch");
    let mut ev = stream(&a.url, "/subscribe", Some(&format!("{old}-{}", first["id"]))).await;
    let gap = next(&mut ev).await;
    assert_eq!(gap.event, "replay-gap");
    let d: Value = serde_json::from_str(&gap.data).unwrap();
    assert_eq!((d["reason"].as_str(), d["epoch"].as_str()), (Some("other-epoch"), Some(new.as_str())));
    let e = next(&mut ev).await;
    assert_eq!(e.id, format!("{new}-1"));
}

/// Reads events until one whose data contains `sentinel`, keeping gap signals; `secs` at most.
async fn collect_until(events: &mut Events, sentinel: &str, secs: u64) -> Vec<eventsource_stream::Event> {
    tokio::time::timeout(Duration::from_secs(secs), until(events, sentinel)).await.expect("sentinel never came")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_redis_is_seen_live_by_every_instance_with_a_gap_then_the_new_history() {
    // Issue 22, finding 1: after FLUSHALL every open stream dropped every new event as already seen, silently.
    let redis = RedisServer::start();
    let (a, _da) = instance(&redis, &[]);
    let (b, _db) = instance(&redis, &[]);
    let old = epoch(&a.url).await;
    let mut on_a = stream(&a.url, "/subscribe", None).await;
    let mut on_b = stream(&b.url, "/subscribe", None).await;
    let mut alice_b = stream(&b.url, "/sse/alice", None).await;
    for url in [&a.url, &b.url] {
        assert_eq!(metric(url, "sse_epoch_changes_total").await, 0);
    }
    for i in 0..50 {
        update(&a.url, &format!("old {i}")).await;
    }
    assert_eq!(post(&a.url, "/notify/alice", json!({ "data": "old" })).await.status(), 200);
    assert_eq!(collect_until(&mut on_a, "old 49", 10).await.len(), 49);
    assert_eq!(collect_until(&mut on_b, "old 49", 10).await.len(), 49);
    assert_eq!(next(&mut alice_b).await.data, "\"old\"");

    redis.command(&["FLUSHALL"]).await;
    // Every instance's /healthz shows the new epoch at once, the same one.
    let (ea, eb) = (epoch(&a.url).await, epoch(&b.url).await);
    assert_ne!(ea, old, "A still shows the old epoch");
    assert_eq!(eb, ea, "B shows another epoch than A");

    // Nobody published yet: the idle user stream is told anyway (periodic check / subscription).
    let gap = tokio::time::timeout(Duration::from_secs(5), next(&mut alice_b)).await.expect("no gap on an idle stream");
    assert_eq!(gap.event, "replay-gap");

    // Publishes after the wipe (positions start again) reach the open streams of both instances, after a gap.
    let mut acked = Vec::new();
    for i in 0..10 {
        let url = if i % 2 == 0 { &a.url } else { &b.url };
        acked.push(update(url, &format!("new {i}")).await["id"].as_u64().unwrap());
    }
    assert_eq!(acked[0], 1, "positions start again");
    update(&b.url, "sentinel").await;
    for (name, s) in [("A", &mut on_a), ("B", &mut on_b)] {
        let got = collect_until(s, "sentinel", 10).await;
        assert_eq!(got[0].event, "replay-gap", "{name}: no gap first: {got:?}");
        let d: Value = serde_json::from_str(&got[0].data).unwrap();
        assert_eq!(d["reason"], "other-epoch", "{name}");
        assert_eq!(d["epoch"], ea.as_str(), "{name}");
        assert_eq!(d["requested"], format!("{old}-50"), "{name}: the gap names the last id the stream had");
        let ids: Vec<String> = got[1..].iter().map(|e| e.id.clone()).collect();
        let want: Vec<String> = acked.iter().map(|p| format!("{ea}-{p}")).collect();
        assert_eq!(ids, want, "{name}: every event after the wipe, once, in order, with new-epoch ids");
    }
    // A notification after the wipe reaches alice's open stream too.
    assert_eq!(post(&a.url, "/notify/alice", json!({ "data": "new" })).await.status(), 200);
    let e = next(&mut alice_b).await;
    assert_eq!((e.data.as_str(), e.id.starts_with(&ea)), ("\"new\"", true));
    // Each instance counted the one new epoch it saw live.
    for url in [&a.url, &b.url] {
        assert_eq!(metric(url, "sse_epoch_changes_total").await, 1);
    }
}

async fn metric(url: &str, name: &str) -> u64 {
    common::metric_value(&reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap(), name)
}

async fn keyed_update(url: &str, key: &str, text: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/update"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(json!({ "text": text }).to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_timed_out_publish_says_unknown_and_its_retry_with_the_key_publishes_it_once_on_any_instance() {
    // Issue 22, finding 3: a Redis timeout answered "nothing was stored", yet the event was stored: a retry as told
    // published it twice.
    let redis = RedisServer::start();
    let (a, _da) = instance(&redis, &[]);
    let (b, _db) = instance(&redis, &[]);
    let ep = epoch(&a.url).await;
    // Both instances have loaded the write script (EVALSHA runs without a NOSCRIPT round trip after the stall).
    update(&a.url, "warm").await;
    update(&b.url, "warm").await;
    // Redis stalls longer than the response timeout (1 s): the script runs when it wakes, after A gave up.
    let stall = {
        let url = redis.url();
        tokio::spawn(async move {
            let client = redis::Client::open(url).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            // Its own client gives up early too (0.5 s): the sleep goes on.
            let _ = redis::cmd("DEBUG").arg("SLEEP").arg("2").query_async::<redis::Value>(&mut conn).await;
            tokio::time::sleep(Duration::from_millis(2000)).await;
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = keyed_update(&a.url, "order-17", "pay").await;
    assert_eq!(res.status(), 504, "a timeout is not a known failure");
    assert_eq!(res.headers()["retry-after"], "1");
    let error = res.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("unknown") && error.contains("same Idempotency-Key"), "{error}");
    assert!(!error.contains("nothing was stored"), "{error}");
    stall.await.unwrap();
    // The retry (here through the other instance) answers the stored event; the key seen → nothing new.
    let retry = keyed_update(&b.url, "order-17", "pay").await;
    assert_eq!(retry.status(), 200);
    assert_eq!(retry.headers()["idempotent-replayed"], "true", "the stalled publish had been stored");
    let first: Value = retry.json().await.unwrap();
    let again = keyed_update(&a.url, "order-17", "pay").await;
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(keyed_update(&b.url, "order-17", "refund").await.status(), 422);
    // A job created with a key on A is that job on B too: created once.
    let create = |url: String| async move {
        reqwest::Client::new()
            .post(format!("{url}/jobs"))
            .header("content-type", "application/json")
            .header("idempotency-key", "job-1")
            .body(json!({ "steps": 1, "intervalMs": 0 }).to_string())
            .send()
            .await
            .unwrap()
    };
    let job: Value = create(a.url.clone()).await.json().await.unwrap();
    let job_b = create(b.url.clone()).await;
    assert_eq!(job_b.headers()["idempotent-replayed"], "true");
    assert_eq!(job_b.json::<Value>().await.unwrap(), job);
    let mut all = stream(&b.url, "/subscribe", Some(&format!("{ep}-0"))).await;
    update(&a.url, "sentinel").await;
    let got: Vec<_> = until(&mut all, "sentinel").await.into_iter().filter(|e| e.data.contains("\"pay\"")).collect();
    assert_eq!(got.len(), 1, "published once: {got:?}");
    assert_eq!(pos(&got[0].id), first["id"].as_u64().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_refill_after_a_subscription_loss_is_caught_up_by_every_stream_without_eviction() {
    // Issue 22, finding 4: the refill pushed more than --client-buffer events at once and every stream was evicted.
    let redis = RedisServer::start();
    let (a, _da) = instance(&redis, &["--client-buffer", "8", "--history", "10000"]);
    let (b, _db) = instance(&redis, &["--client-buffer", "8", "--history", "10000"]);
    let mut streams = Vec::new();
    for url in [&a.url, &a.url, &b.url, &b.url] {
        streams.push(stream(url, "/subscribe", None).await);
    }
    update(&a.url, "warm").await;
    for s in &mut streams {
        next(s).await;
    }
    // Cut every subscription connection while 8 publishers keep going: the hole is filled at the reconnect.
    let publishers: Vec<_> = (0..8)
        .map(|k| {
            let url = if k % 2 == 0 { a.url.clone() } else { b.url.clone() };
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..40 {
                    ids.push(update(&url, &format!("p{k}-{i}")).await["id"].as_u64().unwrap());
                }
                ids
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    let mut acked = Vec::new();
    for p in publishers {
        acked.extend(p.await.unwrap());
    }
    acked.sort_unstable();
    update(&b.url, "sentinel").await;
    for s in &mut streams {
        let got: Vec<u64> = collect_until(s, "sentinel", 20).await.iter().map(|e| pos(&e.id)).collect();
        assert_eq!(got, acked, "every event once, in order, without eviction");
    }
    // The hole was caught up from the store by the streams (counted), not pushed through their live buffers.
    let caught_up =
        metric(&a.url, "sse_catch_up_events_total").await + metric(&b.url, "sse_catch_up_events_total").await;
    assert!(caught_up >= 1, "no event was sent by a catch-up");
}

fn serve_args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--dev", "--store", "redis", "--redis-url", url];
    args.extend_from_slice(extra);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_deployment_with_other_settings_on_the_same_prefix_is_refused_loudly() {
    // Issue 22, finding 9: two deployments on one prefix silently trimmed and deleted each other's streams.
    let redis = RedisServer::start();
    let (a, _da) = instance(&redis, &["--history", "100"]);
    let url = redis.url();
    let dir = TempDir::new("redis-second");
    let Err((code, log)) = common::process::try_start_in(dir.path(), &serve_args(&url, &["--history", "50"])) else {
        panic!("a server with other settings joined the deployment");
    };
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("--history 100 there, 50 here"), "{log}");
    assert!(log.contains("--redis-prefix") && log.contains("DEL tes:deployment"), "{log}");
    // Same settings: one more instance of the deployment; another prefix: a deployment of its own.
    let (b, _db) = instance(&redis, &["--history", "100"]);
    let (c, _dc) = instance(&redis, &["--history", "50", "--redis-prefix", "other:"]);
    let first = update(&a.url, "a").await;
    assert!(update(&b.url, "b").await["id"].as_u64() > first["id"].as_u64());
    assert_eq!(update(&c.url, "c").await["id"], 1, "its own positions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_redis_is_named_as_redis_without_its_password() {
    // Issue 22, item 8: the error said "cannot open the data file redis://...".
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("redis://user:s3cret@127.0.0.1:{port}");
    let dir = TempDir::new("redis-unreachable");
    let Err((code, log)) = common::process::try_start_in(dir.path(), &serve_args(&url, &[])) else {
        panic!("started without Redis");
    };
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains(&format!("cannot use Redis at redis://127.0.0.1:{port}")), "{log}");
    assert!(!log.contains("s3cret") && !log.contains("data file"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_started_while_redis_loads_its_data_waits_for_it() {
    // Issue 22, item 8: Redis still loading at start → exit 1, no retry.
    let mut redis = RedisServer::start();
    redis.command(&["DEBUG", "POPULATE", "20000"]).await;
    redis.command(&["BGREWRITEAOF"]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info = redis.command(&["INFO", "persistence"]).await;
        let text = match info {
            redis::Value::BulkString(b) => String::from_utf8(b).unwrap(),
            redis::Value::VerbatimString { text, .. } => text,
            other => panic!("{other:?}"),
        };
        if text.contains("aof_rewrite_in_progress:0") && text.contains("aof_rewrite_scheduled:0") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the AOF rewrite never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    redis.kill9();
    // The same data, loaded slowly (200 µs per key: about 4 s).
    let port = redis.port.to_string();
    let mut slow = std::process::Command::new("redis-server")
        .args(["--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always"])
        .args(["--key-load-delay", "200", "--loading-process-events-interval-bytes", "1024"])
        .args(["--logfile", "redis.log", "--dir"])
        .arg(redis.dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t = std::time::Instant::now();
    let url = redis.url();
    let dir = TempDir::new("redis-loading");
    let started = common::process::try_start_in(dir.path(), &serve_args(&url, &[]));
    let waited = t.elapsed();
    let server = started.unwrap_or_else(|(code, log)| panic!("refused to start ({code:?}): {log}"));
    assert!(server.log().contains("Redis is still loading its data; waiting"), "{}", server.log());
    assert!(waited > Duration::from_millis(500), "did not wait: {waited:?}");
    assert_eq!(post(&server.url, "/update", json!({ "text": "after loading" })).await.status(), 200);
    drop(server);
    let _ = slow.kill();
    let _ = slow.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_byte_caps_of_user_streams_are_deployment_settings() {
    // Issue 25: the Redis store enforces --max-user-topic-bytes/--max-user-history-bytes, so instances with other
    // caps would trim each other's user streams; a marker from before they were shared gains them.
    let redis = RedisServer::start();
    let (_a, _da) = instance(&redis, &["--max-user-topic-bytes", "10000"]);
    let url = redis.url();
    let dir = TempDir::new("redis-bytes");
    let Err((code, log)) =
        common::process::try_start_in(dir.path(), &serve_args(&url, &["--max-user-topic-bytes", "20000"]))
    else {
        panic!("a server with another byte cap joined the deployment");
    };
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("--max-user-topic-bytes 10000 there, 20000 here"), "{log}");
    redis.command(&["HDEL", "tes:deployment", "max-user-topic-bytes", "max-user-history-bytes"]).await;
    let (_b, _db) = instance(&redis, &["--max-user-topic-bytes", "10000"]);
    let marker = redis.command(&["HGET", "tes:deployment", "max-user-history-bytes"]).await;
    assert_eq!(marker, redis::Value::BulkString(b"268435456".to_vec()), "an older marker gains the setting");
}
