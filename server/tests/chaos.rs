//! The chaos run (issue 22, item 9): two server instances on one real `redis-server` (AOF, `appendfsync always`),
//! readers that reconnect like an `EventSource` (with their last id), publishers that retry every failed or unknown
//! publish with its `Idempotency-Key` — while instances and Redis are killed with SIGKILL, Redis is wiped
//! (`FLUSHALL`) and stalled (`DEBUG SLEEP`), and a reader stops reading. The verdict compares every reader's log with
//! what was acknowledged: 0 acknowledged events lost, 0 duplicates, every break in continuity signalled by a
//! `replay-gap`. Prints the figures.
//!
//! The test command runs a short round (`CHAOS_SECS`, default 24 s of faults); `scripts/chaos.sh` runs a long one.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::process::{start_in, wait_health, Child, TempDir};
use common::redis_server::RedisServer;
use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use serde_json::Value;

const PUBLISHERS: usize = 4;
const READERS: usize = 4;
const TOPIC: &str = "chaos";

/// One instance slot: its process and URL (replaced when it is restarted).
struct Instances {
    urls: RwLock<Vec<String>>,
}

impl Instances {
    fn url(&self, i: usize) -> String {
        let urls = self.urls.read().unwrap();
        urls[i % urls.len()].clone()
    }
}

fn start_instance(redis: &RedisServer, dir: &TempDir) -> Child {
    let url = redis.url();
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--dev",
        "--store",
        "redis",
        "--redis-url",
        url.as_str(),
        "--history",
        "1000000",
        "--client-buffer",
        "16",
        "--write-stall-secs",
        "2",
    ];
    start_in(dir.path(), &args)
}

/// `DEBUG SLEEP secs`: Redis stops answering anyone for that long (our own client gives up early; the sleep goes on).
async fn stall(redis: &RedisServer, secs: &str) {
    let client = redis::Client::open(redis.url()).unwrap();
    if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
        let _ = redis::cmd("DEBUG").arg("SLEEP").arg(secs).query_async::<redis::Value>(&mut conn).await;
    }
}

/// What a reader saw, in order.
#[derive(Debug, Clone)]
enum Seen {
    Event { epoch: String, pos: u64, text: String },
    Gap { requested: String, reason: String },
}

#[derive(Default)]
struct Figures {
    publish_attempts: AtomicU64,
    publish_retries: AtomicU64,
    unknown_outcomes: AtomicU64,
    repeated: AtomicU64,
    reconnects: AtomicU64,
}

fn split_id(id: &str) -> Option<(String, u64)> {
    let (e, p) = id.rsplit_once('-')?;
    Some((e.to_owned(), p.parse().ok()?))
}

async fn publisher(
    k: usize,
    instances: Arc<Instances>,
    stop: Arc<AtomicBool>,
    figures: Arc<Figures>,
) -> Vec<(String, u64, String)> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut acked = Vec::new();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let text = format!("p{k}-{i}");
        let body = serde_json::json!({ "data": text }).to_string();
        let mut attempt = 0usize;
        loop {
            figures.publish_attempts.fetch_add(1, Ordering::Relaxed);
            let url = instances.url(k + attempt);
            let res = client
                .post(format!("{url}/notify/{TOPIC}"))
                .header("content-type", "application/json")
                .header("idempotency-key", &text)
                .body(body.clone())
                .send()
                .await;
            match res {
                Ok(r) if r.status() == 200 => {
                    if r.headers().contains_key("idempotent-replayed") {
                        figures.repeated.fetch_add(1, Ordering::Relaxed);
                    }
                    let v: Value = r.json().await.unwrap();
                    let (epoch, pos) = split_id(v["id"].as_str().unwrap()).unwrap();
                    acked.push((epoch, pos, serde_json::to_string(&text).unwrap()));
                    break;
                }
                Ok(r) => {
                    if r.status() == 504 {
                        figures.unknown_outcomes.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(_) => {}
            }
            // Failed or unknown: the same key again, maybe on the other instance.
            figures.publish_retries.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    acked
}

/// Reads the topic like an `EventSource`: on any end or error, reconnects (to the other instance) with its last id.
/// While `stalled` is set, it reads nothing (its connection fills up, as behind a blackhole).
async fn reader(
    r: usize,
    instances: Arc<Instances>,
    first_id: String,
    log: Arc<Mutex<Vec<Seen>>>,
    stalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    figures: Arc<Figures>,
) {
    let client = reqwest::Client::new();
    let mut last = first_id;
    let mut attempt = r;
    while !stop.load(Ordering::Relaxed) {
        let url = instances.url(attempt);
        attempt += 1;
        let res = client
            .get(format!("{url}/sse/{TOPIC}"))
            .header("accept", "text/event-stream")
            .header("last-event-id", &last)
            .send()
            .await;
        let Ok(res) = res else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if res.status() != 200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let mut events = res.bytes_stream().eventsource();
        loop {
            while stalled.load(Ordering::Relaxed) && r == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let next = tokio::select! {
                e = events.next() => e,
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop.load(Ordering::Relaxed) { return; }
                    continue;
                }
            };
            let Some(Ok(e)) = next else { break };
            if e.id.is_empty() {
                continue;
            }
            last.clone_from(&e.id);
            let seen = if e.event == "replay-gap" {
                let d: Value = serde_json::from_str(&e.data).unwrap();
                Seen::Gap {
                    requested: d["requested"].as_str().unwrap_or_default().to_owned(),
                    reason: d["reason"].as_str().unwrap_or_default().to_owned(),
                }
            } else {
                let (epoch, pos) = split_id(&e.id).unwrap();
                Seen::Event { epoch, pos, text: e.data }
            };
            log.lock().unwrap().push(seen);
        }
        figures.reconnects.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A reader's faults against the acknowledged events: (lost silently, duplicates, out of order, signalled misses).
fn verdict(log: &[Seen], acked: &[(String, u64, String)]) -> (Vec<String>, Vec<String>, usize, usize) {
    let mut received: HashSet<&str> = HashSet::new();
    let mut since_gap: HashSet<&str> = HashSet::new();
    let mut duplicates = Vec::new();
    let mut out_of_order = 0;
    // The position at which the reader left each epoch (through a gap), and its epoch at the end.
    let mut left: HashMap<String, u64> = HashMap::new();
    let mut current: Option<(String, u64)> = None;
    let mut gaps = 0;
    for s in log {
        match s {
            Seen::Gap { requested, .. } => {
                gaps += 1;
                since_gap.clear();
                if let Some((e, p)) = split_id(requested) {
                    left.insert(e, p);
                }
                current = None;
            }
            Seen::Event { epoch, pos, text } => {
                if !since_gap.insert(text) {
                    duplicates.push(text.clone());
                }
                received.insert(text);
                if let Some((e, p)) = &current {
                    if e == epoch && *pos <= *p {
                        out_of_order += 1;
                    }
                }
                current = Some((epoch.clone(), *pos));
            }
        }
    }
    let final_epoch = log.iter().rev().find_map(|s| match s {
        Seen::Event { epoch, .. } => Some(epoch.clone()),
        Seen::Gap { .. } => None,
    });
    let mut lost = Vec::new();
    let mut signalled = 0;
    for (epoch, pos, text) in acked {
        if received.contains(text.as_str()) {
            continue;
        }
        let explained = match left.get(epoch) {
            // Left that epoch through a gap before this event.
            Some(p) => *p < *pos,
            // Never in that epoch: explained by a gap unless it is the epoch the reader is in.
            None => gaps > 0 && final_epoch.as_deref() != Some(epoch.as_str()),
        };
        if explained {
            signalled += 1;
        } else {
            lost.push(format!("{epoch}-{pos} {text}"));
        }
    }
    (lost, duplicates, out_of_order, signalled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_nothing_acknowledged_is_lost_or_duplicated_and_every_break_is_signalled() {
    let secs: u64 = std::env::var("CHAOS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(24).max(12);
    let started = Instant::now();
    let mut redis = RedisServer::start();
    let dirs = [TempDir::new("chaos-a"), TempDir::new("chaos-b")];
    let mut children: Vec<Option<Child>> = dirs.iter().map(|d| Some(start_instance(&redis, d))).collect();
    let instances =
        Arc::new(Instances { urls: RwLock::new(children.iter().map(|c| c.as_ref().unwrap().url.clone()).collect()) });
    let epoch = wait_health(&instances.url(0), 200, 10).await["epoch"].as_str().unwrap().to_owned();
    let stop_publishing = Arc::new(AtomicBool::new(false));
    let stop_reading = Arc::new(AtomicBool::new(false));
    let stalled = Arc::new(AtomicBool::new(false));
    let figures = Arc::new(Figures::default());
    let logs: Vec<Arc<Mutex<Vec<Seen>>>> = (0..READERS).map(|_| Arc::default()).collect();
    let readers: Vec<_> = logs
        .iter()
        .enumerate()
        .map(|(r, log)| {
            tokio::spawn(reader(
                r,
                instances.clone(),
                format!("{epoch}-0"),
                log.clone(),
                stalled.clone(),
                stop_reading.clone(),
                figures.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|k| tokio::spawn(publisher(k, instances.clone(), stop_publishing.clone(), figures.clone())))
        .collect();

    // The faults, in rounds of 12 s until the time is up.
    let mut faults: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut round = 0usize;
    while Instant::now() < deadline {
        let victim = round % 2;
        tokio::time::sleep(Duration::from_secs(2)).await;
        children[victim].take().unwrap().kill9();
        faults.push(format!("kill -9 instance {victim}"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let child = start_instance(&redis, &dirs[victim]);
        instances.urls.write().unwrap()[victim] = child.url.clone();
        children[victim] = Some(child);

        tokio::time::sleep(Duration::from_secs(2)).await;
        redis.kill9();
        faults.push("kill -9 redis".into());
        tokio::time::sleep(Duration::from_millis(500)).await;
        redis.restart();

        tokio::time::sleep(Duration::from_secs(2)).await;
        stall(&redis, "1.5").await;
        faults.push("DEBUG SLEEP 1.5".into());

        tokio::time::sleep(Duration::from_secs(2)).await;
        stalled.store(true, Ordering::Relaxed);
        faults.push("reader 0 stops reading 3 s".into());
        tokio::time::sleep(Duration::from_secs(3)).await;
        stalled.store(false, Ordering::Relaxed);

        if round.is_multiple_of(2) {
            redis.command(&["FLUSHALL"]).await;
            faults.push("FLUSHALL".into());
        }
        round += 1;
    }
    stop_publishing.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for p in publishers {
        acked.extend(p.await.unwrap());
    }
    // Every reader gets everything acknowledged in the epoch it is in (bounded wait), then stops.
    let final_epoch = wait_health(&instances.url(0), 200, 10).await["epoch"].as_str().unwrap().to_owned();
    let want: HashSet<&str> = acked.iter().filter(|(e, _, _)| *e == final_epoch).map(|(_, _, t)| t.as_str()).collect();
    let drain = Instant::now() + Duration::from_secs(30);
    for log in &logs {
        while Instant::now() < drain {
            let have: HashSet<String> = log
                .lock()
                .unwrap()
                .iter()
                .filter_map(|s| match s {
                    Seen::Event { epoch, text, .. } if *epoch == final_epoch => Some(text.clone()),
                    _ => None,
                })
                .collect();
            if want.iter().all(|t| have.contains(*t)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    stop_reading.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(5), r).await;
    }

    // The verdict, and the figures.
    let epochs: HashSet<&str> = acked.iter().map(|(e, _, _)| e.as_str()).collect();
    println!("chaos: {:.0} s, faults: {}", started.elapsed().as_secs_f64(), faults.join(", "));
    println!(
        "chaos: {} acknowledged in {} epochs; {} publish attempts, {} retries, {} answered 'unknown' (504), {} repeats answered from the key",
        acked.len(),
        epochs.len(),
        figures.publish_attempts.load(Ordering::Relaxed),
        figures.publish_retries.load(Ordering::Relaxed),
        figures.unknown_outcomes.load(Ordering::Relaxed),
        figures.repeated.load(Ordering::Relaxed),
    );
    let mut failures = Vec::new();
    for (r, log) in logs.iter().enumerate() {
        let log = log.lock().unwrap();
        let events = log.iter().filter(|s| matches!(s, Seen::Event { .. })).count();
        let gaps: Vec<&str> = log
            .iter()
            .filter_map(|s| if let Seen::Gap { reason, .. } = s { Some(reason.as_str()) } else { None })
            .collect();
        let (lost, duplicates, out_of_order, signalled) = verdict(&log, &acked);
        println!(
            "chaos: reader {r}: {events} events, {} gaps {gaps:?}, {} acknowledged lost silently, {} duplicates, {out_of_order} out of order, {signalled} missed with a gap signal",
            gaps.len(),
            lost.len(),
            duplicates.len(),
        );
        if !lost.is_empty() || !duplicates.is_empty() || out_of_order > 0 {
            failures.push(format!(
                "reader {r}: lost {:?} duplicates {:?} out of order {out_of_order}",
                &lost[..lost.len().min(10)],
                &duplicates[..duplicates.len().min(10)]
            ));
        }
    }
    println!("chaos: {} reconnects of readers", figures.reconnects.load(Ordering::Relaxed));
    assert!(acked.len() > 100, "too few publishes acknowledged: {}", acked.len());
    assert!(failures.is_empty(), "{failures:#?}");
}
