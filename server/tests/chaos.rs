//! The chaos run (issue 22, item 9): two server instances on one real `redis-server` (AOF, `appendfsync always`),
//! readers that reconnect like an `EventSource` (with their last id), publishers that retry every failed or unknown
//! publish with its `Idempotency-Key` — while instances and Redis are killed with SIGKILL, Redis is wiped
//! (`FLUSHALL`) and stalled (`DEBUG SLEEP`), a reader stops reading, and another reader's connection is blackholed: a
//! TCP relay between it and the server silently stops forwarding both ways without closing, and the reader notices
//! only because the server's heartbeats stop (a heartbeat timeout, as a careful client has), then reconnects with
//! its last id. The verdict compares every reader's log with what was acknowledged: 0 acknowledged events lost, 0
//! duplicates, every break in continuity signalled by a `replay-gap`. Prints the figures.
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
/// The reader that stops reading for a while.
const STALLING_READER: usize = 0;
/// The reader connected through the [`Relay`] (blackholed now and then).
const RELAYED_READER: usize = 1;
/// The servers' heartbeat period (`--heartbeat-secs`).
const HEARTBEAT_SECS: u64 = 1;
/// Silence after which a reader gives its connection up and reconnects: three heartbeats missed.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3 * HEARTBEAT_SECS);

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
        "--heartbeat-secs",
        "1",
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

/// A TCP relay on a free loopback port to the instances (each new connection to the next one). [`Relay::blackhole`]
/// makes every connection open now stop forwarding, both ways, without closing: the reader and the server each see
/// a silent peer. Later connections work.
struct Relay {
    url: String,
    /// Raised by each blackhole; a connection stops forwarding once it is above the value at its start. `u64::MAX`:
    /// the run is over, held connections are released.
    cuts: tokio::sync::watch::Sender<u64>,
    open: Arc<AtomicU64>,
}

impl Relay {
    async fn start(instances: Arc<Instances>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (cuts, _) = tokio::sync::watch::channel(0u64);
        let open = Arc::new(AtomicU64::new(0));
        let (rx, counter) = (cuts.subscribe(), open.clone());
        tokio::spawn(async move {
            let mut n = 0usize;
            while let Ok((client, _)) = listener.accept().await {
                let upstream = instances.url(n).trim_start_matches("http://").to_owned();
                n += 1;
                tokio::spawn(relay_connection(client, upstream, rx.clone(), counter.clone()));
            }
        });
        Relay { url, cuts, open }
    }

    /// Blackholes every connection open now; returns how many.
    fn blackhole(&self) -> u64 {
        let open = self.open.load(Ordering::SeqCst);
        self.cuts.send_modify(|c| *c += 1);
        open
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cuts.send_replace(u64::MAX);
    }
}

async fn relay_connection(
    client: tokio::net::TcpStream,
    upstream: String,
    mut cuts: tokio::sync::watch::Receiver<u64>,
    open: Arc<AtomicU64>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let start = *cuts.borrow_and_update();
    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { return };
    let ((mut cr, mut cw), (mut sr, mut sw)) = (client.into_split(), server.into_split());
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    open.fetch_add(1, Ordering::SeqCst);
    enum Step {
        Cut,
        Up(std::io::Result<usize>),
        Down(std::io::Result<usize>),
    }
    loop {
        let step = tokio::select! {
            _ = cuts.wait_for(|c| *c > start) => Step::Cut,
            n = cr.read(&mut up) => Step::Up(n),
            n = sr.read(&mut down) => Step::Down(n),
        };
        let ok = match step {
            Step::Cut => break,
            Step::Up(Ok(n)) if n > 0 => sw.write_all(&up[..n]).await.is_ok(),
            Step::Down(Ok(n)) if n > 0 => cw.write_all(&down[..n]).await.is_ok(),
            Step::Up(_) | Step::Down(_) => false,
        };
        if !ok {
            open.fetch_sub(1, Ordering::SeqCst);
            return;
        }
    }
    open.fetch_sub(1, Ordering::SeqCst);
    // Blackholed: both sockets stay open, nothing is read or written, until the run is over.
    let _ = cuts.wait_for(|c| *c == u64::MAX).await;
    drop((cr, cw, sr, sw));
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
    /// Connections a reader gave up because no heartbeat came (blackholed, or a dead peer not yet reset).
    heartbeat_timeouts: AtomicU64,
    /// Of those, the relayed reader's.
    relayed_heartbeat_timeouts: AtomicU64,
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

/// Where a reader connects: straight to the instances (the next one at each attempt), or through the relay.
enum Route {
    Direct(Arc<Instances>),
    Relayed(String),
}

/// Reads the topic like an `EventSource`: on any end or error, reconnects (to the other instance) with its last id;
/// also when nothing, not even a heartbeat, came for [`HEARTBEAT_TIMEOUT`]. While `stalled` is set, reader
/// [`STALLING_READER`] reads nothing (its connection fills up).
async fn reader(
    r: usize,
    route: Route,
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
        let url = match &route {
            Route::Direct(instances) => instances.url(attempt),
            Route::Relayed(url) => url.clone(),
        };
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
        let mut heard = Instant::now();
        loop {
            while stalled.load(Ordering::Relaxed) && r == STALLING_READER {
                tokio::time::sleep(Duration::from_millis(50)).await;
                heard = Instant::now();
            }
            let next = tokio::select! {
                e = events.next() => e,
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop.load(Ordering::Relaxed) { return; }
                    if heard.elapsed() > HEARTBEAT_TIMEOUT {
                        figures.heartbeat_timeouts.fetch_add(1, Ordering::Relaxed);
                        if matches!(route, Route::Relayed(_)) {
                            figures.relayed_heartbeat_timeouts.fetch_add(1, Ordering::Relaxed);
                        }
                        break;
                    }
                    continue;
                }
            };
            let Some(Ok(e)) = next else { break };
            heard = Instant::now();
            // A heartbeat has no `id:` field (the parser reports the last id for it, as EventSource does): liveness
            // only.
            if e.id.is_empty() || e.event == "heartbeat" {
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
    let relay = Relay::start(instances.clone()).await;
    let readers: Vec<_> = logs
        .iter()
        .enumerate()
        .map(|(r, log)| {
            let route =
                if r == RELAYED_READER { Route::Relayed(relay.url.clone()) } else { Route::Direct(instances.clone()) };
            tokio::spawn(reader(
                r,
                route,
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
    let mut blackholed = 0u64;
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
        // Noticed within the heartbeat timeout, well before this round's FLUSHALL: the reader resumes with its id.
        let cut = relay.blackhole();
        faults.push(format!("reader {RELAYED_READER}'s connection blackholed ({cut} open)"));
        blackholed += u64::from(cut > 0);

        tokio::time::sleep(Duration::from_secs(2)).await;
        stalled.store(true, Ordering::Relaxed);
        faults.push(format!("reader {STALLING_READER} stops reading 3 s"));
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
    let relayed_timeouts = figures.relayed_heartbeat_timeouts.load(Ordering::Relaxed);
    println!(
        "chaos: {} reconnects of readers, {} after a heartbeat timeout ({relayed_timeouts} of the relayed reader, \
         {blackholed} of its connections blackholed)",
        figures.reconnects.load(Ordering::Relaxed),
        figures.heartbeat_timeouts.load(Ordering::Relaxed),
    );
    drop(relay);
    assert!(acked.len() > 100, "too few publishes acknowledged: {}", acked.len());
    assert!(blackholed > 0, "the relayed reader was never connected when its connection was blackholed");
    assert!(relayed_timeouts >= blackholed, "a blackholed connection went unnoticed");
    assert!(failures.is_empty(), "{failures:#?}");
}
