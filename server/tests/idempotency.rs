//! Idempotent publishing (issue 22, finding 3): an `Idempotency-Key` answers the first publish again and publishes
//! nothing — also after a `kill -9` and a restart on the same data file — for `--idempotency-window` (embedded store
//! and Redis), after which the key is new.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use common::process::{start_in, wait_health, TempDir};
use common::{open, until};
use serde_json::{json, Value};

const DEV: [&str; 4] = ["serve", "--listen", "127.0.0.1:0", "--dev"];

async fn publish(url: &str, path: &str, key: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    req.send().await.unwrap()
}

/// Every event of `path` from the start up to a sentinel published now: their data.
async fn history(url: &str, path: &str) -> Vec<String> {
    let epoch = wait_health(url, 200, 10).await["epoch"].as_str().unwrap().to_owned();
    let mut events =
        open(reqwest::Client::new().get(format!("{url}{path}")).header("last-event-id", format!("{epoch}-0"))).await;
    let sentinel = match path {
        "/subscribe" => publish(url, "/update", None, json!({ "text": "sentinel" })).await,
        _ => publish(url, &path.replace("/sse/", "/notify/"), None, json!({ "data": "sentinel" })).await,
    };
    assert_eq!(sentinel.status(), 200);
    until(&mut events, "sentinel").await.into_iter().map(|e| e.data).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_key_answers_the_first_publish_again_across_a_kill_9_and_restart() {
    let dir = TempDir::new("idempotency");
    let server = start_in(dir.path(), &DEV);
    let first = publish(&server.url, "/update", Some("k-1"), json!({ "text": "hello" })).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = publish(&server.url, "/update", Some("k-1"), json!({ "text": "hello" })).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first, "the first answer, timestamp included");
    let note = publish(&server.url, "/notify/alice", Some("\"n-1\""), json!({ "event": "card", "data": 1 })).await;
    let note: Value = note.json().await.unwrap();
    let job = publish(&server.url, "/jobs", Some("j-1"), json!({ "steps": 2, "intervalMs": 0 })).await;
    assert!(job.headers().get("idempotent-replayed").is_none());
    let job: Value = job.json().await.unwrap();

    server.kill9();
    let server = start_in(dir.path(), &DEV);
    let after = publish(&server.url, "/update", Some("k-1"), json!({ "text": "hello" })).await;
    assert_eq!((after.status().as_u16(), after.headers()["idempotent-replayed"].to_str().unwrap()), (200, "true"));
    assert_eq!(after.json::<Value>().await.unwrap(), first, "remembered across the restart");
    let note_again = publish(&server.url, "/notify/alice", Some("n-1"), json!({ "event": "card", "data": 1 })).await;
    assert_eq!(note_again.json::<Value>().await.unwrap(), note, "the same SSE id");
    let job_again = publish(&server.url, "/jobs", Some("j-1"), json!({ "steps": 2, "intervalMs": 0 })).await;
    assert_eq!(job_again.headers()["idempotent-replayed"], "true");
    assert_eq!(job_again.json::<Value>().await.unwrap(), job, "the same job, not a new one");
    let other_job = publish(&server.url, "/jobs", Some("j-1"), json!({ "steps": 3, "intervalMs": 0 })).await;
    assert_eq!(other_job.status(), 422);
    // Since the restart: three publishes answered from their keys (an update, a notification, a job).
    let metrics = reqwest::get(format!("{}/metrics", server.url)).await.unwrap().text().await.unwrap();
    assert_eq!(common::metric_value(&metrics, "sse_idempotent_replays_total"), 3);
    // The same key with another request is refused, and publishes nothing.
    let other = publish(&server.url, "/update", Some("k-1"), json!({ "text": "something else" })).await;
    assert_eq!(other.status(), 422);
    assert!(other.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("Idempotency-Key"));
    // A key is per stream: the same key on another stream is another publish.
    let elsewhere = publish(&server.url, "/notify/bob", Some("k-1"), json!({ "data": "hello" })).await;
    assert!(elsewhere.headers().get("idempotent-replayed").is_none());

    let texts: Vec<String> = history(&server.url, "/subscribe")
        .await
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["hello"], "published once");
    assert_eq!(history(&server.url, "/sse/alice").await, ["1"], "notified once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_key_is_refused_and_publishes_nothing() {
    let dir = TempDir::new("idempotency-bad");
    let server = start_in(dir.path(), &DEV);
    let long = "x".repeat(256);
    for bad in ["", "with space", long.as_str(), "\"\""] {
        let res = publish(&server.url, "/update", Some(bad), json!({ "text": "never" })).await;
        assert_eq!(res.status(), 400, "{bad:?}");
    }
    assert!(history(&server.url, "/subscribe").await.is_empty());
}

/// `--idempotency-window`: a key is honoured within the window and is a new key after it — with the embedded store and
/// with Redis (each backend keeps its keys itself).
async fn a_key_is_new_after_the_window(url: &str) {
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(2);
    let first = publish(url, "/update", Some("w-1"), json!({ "text": "windowed" })).await;
    let published_at = std::time::Instant::now();
    let first: Value = first.json().await.unwrap();
    let again = publish(url, "/update", Some("w-1"), json!({ "text": "windowed" })).await;
    // Only a repeat that reached the server within the window proves anything (a loaded machine may be slower).
    if published_at.elapsed() < WINDOW {
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.json::<Value>().await.unwrap(), first);
    }
    tokio::time::sleep(WINDOW.saturating_sub(published_at.elapsed()) + std::time::Duration::from_millis(300)).await;
    let after = publish(url, "/update", Some("w-1"), json!({ "text": "windowed" })).await;
    assert_eq!(after.status(), 200);
    assert!(after.headers().get("idempotent-replayed").is_none(), "the window is over: a new publish");
    assert_ne!(after.json::<Value>().await.unwrap()["id"], first["id"]);
    let texts: Vec<String> = history(url, "/subscribe").await;
    assert_eq!(texts.len(), 2, "published twice, once per window: {texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_honoured_within_the_idempotency_window_and_new_after_it_embedded() {
    let dir = TempDir::new("idempotency-window");
    let server = start_in(dir.path(), &[&DEV[..], &["--idempotency-window", "2s"]].concat());
    a_key_is_new_after_the_window(&server.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_honoured_within_the_idempotency_window_and_new_after_it_redis() {
    let redis = common::redis_server::RedisServer::start();
    let dir = TempDir::new("idempotency-window-redis");
    let url = redis.url();
    let args = [&DEV[..], &["--store", "redis", "--redis-url", &url, "--idempotency-window", "2s"]].concat();
    let server = start_in(dir.path(), &args);
    a_key_is_new_after_the_window(&server.url).await;
}

#[test]
fn an_idempotency_window_out_of_bounds_is_refused_at_start() {
    let dir = TempDir::new("idempotency-window-bad");
    for bad in ["0s", "500ms", "31d", "soon"] {
        let refused = common::process::try_start_in(dir.path(), &[&DEV[..], &["--idempotency-window", bad]].concat());
        let (code, log) = refused.err().unwrap_or_else(|| panic!("--idempotency-window {bad} was accepted"));
        assert_eq!(code, Some(2), "{log}");
        assert!(log.contains("--idempotency-window"), "{log}");
    }
}
