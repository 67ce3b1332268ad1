//! Restart safety with the real binary and real files: kill -9 under load, graceful restart, wiped data, offline
//! notifications and jobs across a restart, a corrupt data file, a full disk (a real tmpfs), group commit.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::{start_in, try_start_in, wait_health, TempDir};
use common::{next, open, pos, until, Events};
use serde_json::{json, Value};

const DEV: [&str; 4] = ["serve", "--listen", "127.0.0.1:0", "--dev"];

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    DEV.iter().copied().chain(extra.iter().copied()).collect()
}

async fn epoch(url: &str) -> String {
    wait_health(url, 200, 10).await["epoch"].as_str().unwrap().to_owned()
}

async fn update(c: &reqwest::Client, url: &str, text: &str) -> reqwest::Result<reqwest::Response> {
    c.post(format!("{url}/update"))
        .header("content-type", "application/json")
        .body(json!({ "text": text }).to_string())
        .send()
        .await
}

async fn subscribe_after(url: &str, path: &str, last_event_id: &str) -> Events {
    open(reqwest::Client::new().get(format!("{url}{path}")).header("last-event-id", last_event_id)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_concurrent_publishes_keeps_every_acknowledged_event() {
    let dir = TempDir::new("kill9");
    let server = start_in(dir.path(), &args(&["--history", "1000000"]));
    let url = server.url.clone();
    let before = epoch(&url).await;
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let attempted: Arc<Mutex<HashSet<String>>> = Arc::default();
    // Set just before the kill: a publisher's error after it is expected (that is how they stop), one before it is
    // a failure of the test, reported.
    let killed = Arc::new(AtomicBool::new(false));
    let mut publishers = Vec::new();
    for p in 0..8 {
        let (acked, attempted, url, killed) = (Arc::clone(&acked), Arc::clone(&attempted), url.clone(), killed.clone());
        publishers.push(tokio::spawn(async move {
            let c = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
            for i in 0..100_000 {
                let text = format!("p{p}-{i}");
                attempted.lock().unwrap().insert(text.clone());
                let answer = match update(&c, &url, &text).await {
                    Ok(res) if res.status() == 200 => res.json::<Value>().await.map_err(|e| e.to_string()),
                    Ok(res) => Err(format!("status {}", res.status())),
                    Err(e) => Err(e.to_string()),
                };
                match answer {
                    Ok(body) => acked.lock().unwrap().push((text, body["id"].as_u64().unwrap())),
                    Err(_) if killed.load(Ordering::SeqCst) => return Ok(()),
                    Err(e) => return Err(format!("publisher {p}, {text}, before the kill: {e}")),
                }
            }
            Err(format!("publisher {p} sent everything before the kill"))
        }));
    }
    // Let them publish a while, then kill the server under their feet: no shutdown code runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 400 {
        if let Some(i) = publishers.iter().position(tokio::task::JoinHandle::is_finished) {
            let outcome = publishers.swap_remove(i).await;
            panic!("a publisher stopped before the kill: {outcome:?}");
        }
        assert!(Instant::now() < deadline, "only {} events acknowledged in 60 s", acked.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    killed.store(true, Ordering::SeqCst);
    server.kill9();
    for p in publishers {
        let outcome = tokio::time::timeout(Duration::from_secs(60), p)
            .await
            .expect("a publisher still running 60 s after the kill");
        outcome.unwrap().unwrap_or_else(|e| panic!("{e}"));
    }
    let acked = acked.lock().unwrap().clone();
    let attempted = attempted.lock().unwrap().clone();

    let server = start_in(dir.path(), &args(&["--history", "1000000"]));
    assert_eq!(epoch(&server.url).await, before, "same data, same epoch");
    let mut events = subscribe_after(&server.url, "/subscribe", &format!("{before}-0")).await;
    let c = reqwest::Client::new();
    let sentinel: Value = update(&c, &server.url, "sentinel").await.unwrap().json().await.unwrap();
    let replayed = until(&mut events, "sentinel").await;

    let mut seen = HashMap::new();
    let mut last = 0;
    for e in &replayed {
        assert_eq!(e.event, "message", "no gap signal: {e:?}");
        let p = pos(&e.id);
        assert!(p > last, "positions increase: {p} after {last}");
        last = p;
        let d: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(d["id"].as_u64(), Some(p));
        let text = d["text"].as_str().unwrap().to_owned();
        assert!(attempted.contains(&text), "{text} was never sent");
        assert!(seen.insert(text, p).is_none(), "an event was replayed twice");
    }
    for (text, id) in &acked {
        assert_eq!(seen.get(text), Some(id), "acknowledged {text} (id {id}) is missing after kill -9");
    }
    assert!(sentinel["id"].as_u64().unwrap() > last, "no id reused after the restart");
    eprintln!(
        "{} acknowledged, {} replayed (the rest were committed but not yet answered)",
        acked.len(),
        replayed.len()
    );
}

#[tokio::test]
async fn after_a_graceful_restart_a_subscriber_resumes_with_exactly_the_rest() {
    let dir = TempDir::new("graceful");
    let server = start_in(dir.path(), &args(&[]));
    let c = reqwest::Client::new();
    let mut live = open(c.get(format!("{}/subscribe", server.url))).await;
    for i in 1..=10 {
        update(&c, &server.url, &format!("m{i}")).await.unwrap();
    }
    let mut seen_id = String::new();
    for i in 1..=7 {
        let e = next(&mut live).await;
        assert!(e.data.contains(&format!("\"m{i}\"")));
        seen_id = e.id;
    }
    drop(live);
    server.terminate();

    let server = start_in(dir.path(), &args(&[]));
    for i in 11..=13 {
        update(&c, &server.url, &format!("m{i}")).await.unwrap();
    }
    let mut resumed = subscribe_after(&server.url, "/subscribe", &seen_id).await;
    update(&c, &server.url, "sentinel").await.unwrap();
    let rest: Vec<String> = until(&mut resumed, "sentinel").await.into_iter().map(|e| e.data).collect();
    let want: Vec<String> = (8..=13).map(|i| format!("\"m{i}\"")).collect();
    assert_eq!(rest.len(), want.len(), "{rest:?}");
    for (got, w) in rest.iter().zip(&want) {
        assert!(got.contains(w), "{got} should be {w}");
    }
}

#[tokio::test]
async fn a_wiped_data_dir_is_a_new_epoch_and_old_or_foreign_ids_get_a_replay_gap() {
    let dir = TempDir::new("wiped");
    let server = start_in(dir.path(), &args(&[]));
    let c = reqwest::Client::new();
    let old_epoch = epoch(&server.url).await;
    for i in 1..=3 {
        update(&c, &server.url, &format!("old{i}")).await.unwrap();
    }
    server.terminate();
    std::fs::remove_dir_all(dir.path()).unwrap();

    let server = start_in(dir.path(), &args(&[]));
    let new_epoch = epoch(&server.url).await;
    assert_ne!(new_epoch, old_epoch);
    for i in 1..=2 {
        update(&c, &server.url, &format!("new{i}")).await.unwrap();
    }
    for (requested, reason) in [(format!("{old_epoch}-3"), "other-epoch"), ("garbage".to_owned(), "malformed")] {
        let mut ev = subscribe_after(&server.url, "/subscribe", &requested).await;
        let gap = next(&mut ev).await;
        assert_eq!(gap.event, "replay-gap");
        let d: Value = serde_json::from_str(&gap.data).unwrap();
        assert_eq!(
            (d["reason"].as_str(), d["epoch"].as_str(), d["requested"].as_str()),
            (Some(reason), Some(new_epoch.as_str()), Some(requested.as_str()))
        );
        assert_eq!(d["oldest"], format!("{new_epoch}-1"));
        assert_eq!(gap.id, format!("{new_epoch}-0"), "the gap's id resumes before the retained history");
        for i in 1..=2 {
            let e = next(&mut ev).await;
            assert!(e.data.contains(&format!("\"new{i}\"")), "{e:?}");
            assert_eq!(e.id, format!("{new_epoch}-{i}"));
        }
    }
}

#[tokio::test]
async fn offline_notifications_and_jobs_survive_a_restart_and_a_running_job_ends_interrupted() {
    let dir = TempDir::new("offline");
    let server = start_in(dir.path(), &args(&[]));
    let c = reqwest::Client::new();
    let post =
        |url: String, body: Value| c.post(url).header("content-type", "application/json").body(body.to_string()).send();
    for n in 1..=2 {
        assert_eq!(
            post(format!("{}/notify/alice", server.url), json!({ "event": "card", "data": { "n": n } }))
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let done: Value = post(format!("{}/jobs", server.url), json!({ "steps": 2, "intervalMs": 0 }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let done = done["id"].as_str().unwrap().to_owned();
    let mut job = open(c.get(format!("{}/jobs/{done}/events", server.url))).await;
    let mut history = Vec::new();
    // 2 steps: message + ping each, then ping/finished.
    for _ in 0..5 {
        let e = next(&mut job).await;
        history.push((e.id, e.event, e.data));
    }
    assert_eq!((history[4].1.as_str(), history[4].2.as_str()), ("ping", "finished"));
    let running: Value = post(format!("{}/jobs", server.url), json!({ "steps": 10, "intervalMs": 60000 }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let running = running["id"].as_str().unwrap().to_owned();
    drop(job);
    server.kill9();

    let server = start_in(dir.path(), &args(&[]));
    // The user was offline: both notifications come on connect, once.
    let mut alice = open(c.get(format!("{}/sse/alice", server.url))).await;
    for n in 1..=2 {
        let e = next(&mut alice).await;
        assert_eq!((e.event.as_str(), serde_json::from_str::<Value>(&e.data).unwrap()), ("card", json!({ "n": n })));
    }
    // A finished job's whole history, same ids.
    let mut job = open(c.get(format!("{}/jobs/{done}/events", server.url))).await;
    for want in &history {
        let e = next(&mut job).await;
        assert_eq!(&(e.id, e.event, e.data), want);
    }
    // The running job ended with a terminal outcome instead of a 404 or silence.
    let mut job = open(c.get(format!("{}/jobs/{running}/events", server.url))).await;
    let e = next(&mut job).await;
    assert_eq!((e.event.as_str(), e.data.as_str()), ("ping", "interrupted"));
    // And a second connection of alice gets no stored notification again, only new ones.
    let mut alice2 = open(c.get(format!("{}/sse/alice", server.url))).await;
    post(format!("{}/notify/alice", server.url), json!({ "data": "live" })).await.unwrap();
    assert_eq!(next(&mut alice2).await.data, "\"live\"");
    assert_eq!(next(&mut alice).await.data, "\"live\"");
}

#[test]
fn a_corrupt_data_file_is_refused_with_a_message_naming_it() {
    let dir = TempDir::new("corrupt");
    let file = dir.path().join("events.redb");
    let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&file, garbage).unwrap();
    let Err((code, log)) = try_start_in(dir.path(), &args(&[])) else { panic!("started on a corrupt data file") };
    assert_ne!(code, Some(0));
    assert!(log.contains(&file.display().to_string()), "the message names the file: {log}");
    assert!(log.contains("move it away"), "the message says what to do: {log}");
    // A second process on the same data dir is refused too, with its own reason.
    std::fs::remove_file(&file).unwrap();
    let _first = start_in(dir.path(), &args(&[]));
    let Err((_, log)) = try_start_in(dir.path(), &args(&[])) else { panic!("two servers share one data file") };
    assert!(log.contains("another server process"), "{log}");
}

/// A small tmpfs as data dir, unmounted on drop.
struct Tmpfs(TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = TempDir::new("tmpfs");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mounting a tmpfs failed: this test needs root (as in CI) to make a real full disk");
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test]
async fn a_full_disk_gives_503_publishes_nothing_and_recovers_by_itself() {
    let fs = Tmpfs::mount("4m");
    let data = fs.0.path().join("data");
    let server = start_in(&data, &args(&[]));
    let c = reqwest::Client::new();
    let mut live = open(c.get(format!("{}/subscribe", server.url))).await;
    update(&c, &server.url, "before").await.unwrap();
    assert!(next(&mut live).await.data.contains("before"));
    // Fill the disk.
    let filler = fs.0.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![7u8; 64 * 1024];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    drop(f);
    // Publish until the store refuses (redb may first reuse free pages of its file).
    let text = "x".repeat(16 * 1024);
    let mut accepted = 0;
    let refusal = loop {
        let res = update(&c, &server.url, &text).await.unwrap();
        match res.status().as_u16() {
            200 => accepted += 1,
            503 => break res,
            other => panic!("unexpected status {other}"),
        }
        assert!(accepted < 1000, "the store never reported the full disk");
    };
    assert_eq!(refusal.headers()["retry-after"], "1");
    let err: Value = refusal.json().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("nothing was stored"), "{err}");
    let health = wait_health(&server.url, 503, 5).await;
    assert_eq!(health["status"], "unavailable");
    // The open stream got exactly the accepted events, nothing of the refused one, and is still open.
    for _ in 0..accepted {
        let d: Value = serde_json::from_str(&next(&mut live).await.data).unwrap();
        assert_eq!(d["text"], text.as_str());
    }
    std::fs::remove_file(&filler).unwrap();
    wait_health(&server.url, 200, 10).await;
    let res = update(&c, &server.url, "after").await.unwrap();
    assert_eq!(res.status(), 200);
    let e = next(&mut live).await;
    assert!(e.data.contains("\"after\""), "the next event on the open stream is the one after recovery: {e:?}");
    // Nothing half-published: a replay from the start has "before", the accepted ones and "after", nothing else.
    let ep = epoch(&server.url).await;
    let mut all = subscribe_after(&server.url, "/subscribe", &format!("{ep}-0")).await;
    update(&c, &server.url, "sentinel").await.unwrap();
    let replayed = until(&mut all, "sentinel").await;
    assert_eq!(replayed.len(), accepted + 2, "before + {accepted} accepted + after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_share_commits() {
    let dir = TempDir::new("group");
    let server = start_in(dir.path(), &args(&[]));
    let mut tasks = Vec::new();
    for p in 0..32 {
        let url = server.url.clone();
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            for i in 0..20 {
                assert_eq!(update(&c, &url, &format!("{p}-{i}")).await.unwrap().status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let metrics = reqwest::get(format!("{}/metrics", server.url)).await.unwrap().text().await.unwrap();
    let value = |name: &str| common::metric_value(&metrics, name);
    let (published, commits) = (value("sse_events_published_total"), value("sse_store_commits_total"));
    assert_eq!(published, 640);
    // 32 publishers each wait for their answer, so while one batch commits the others queue: about 15 publishes per
    // commit here (43 for 640). At least 4 apiece leaves room for a loaded machine; committing each publish (or
    // pairs) on its own fails.
    assert!(commits * 4 <= published, "{commits} commits for {published} publishes: no group commit");
    eprintln!("{published} publishes in {commits} commits");
}
