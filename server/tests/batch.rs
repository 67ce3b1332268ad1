//! Batch publishing (issue 23, goal 3): a JSON array or NDJSON body on `POST /update` and `POST /notify/{user}` is
//! validated whole, stored as one commit (all or nothing, never interleaved with another publisher's events) and
//! answered with each event's id in order; one `Idempotency-Key` covers the batch, also across a `kill -9`.
//! Real server binary, real data files.
#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use common::process::{start_in, wait_health, TempDir};
use common::{metric_value, open, pos, until};
use serde_json::{json, Value};

const DEV: [&str; 4] = ["serve", "--listen", "127.0.0.1:0", "--dev"];

async fn post(url: &str, path: &str, content_type: &str, key: Option<&str>, body: String) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(format!("{url}{path}")).header("content-type", content_type).body(body);
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    req.send().await.unwrap()
}

async fn post_json(url: &str, path: &str, key: Option<&str>, body: Value) -> reqwest::Response {
    post(url, path, "application/json", key, body.to_string()).await
}

/// Every event of `path` from the start up to a sentinel published now: (SSE id, data).
async fn history(url: &str, path: &str) -> Vec<(String, String)> {
    let epoch = wait_health(url, 200, 10).await["epoch"].as_str().unwrap().to_owned();
    let mut events =
        open(reqwest::Client::new().get(format!("{url}{path}")).header("last-event-id", format!("{epoch}-0"))).await;
    let sentinel = match path {
        "/subscribe" => post_json(url, "/update", None, json!({ "text": "sentinel" })).await,
        _ => post_json(url, &path.replace("/sse/", "/notify/"), None, json!({ "data": "sentinel" })).await,
    };
    assert_eq!(sentinel.status(), 200);
    until(&mut events, "sentinel").await.into_iter().map(|e| (e.id, e.data)).collect()
}

fn texts(history: &[(String, String)]) -> Vec<String> {
    history
        .iter()
        .map(|(_, d)| serde_json::from_str::<Value>(d).unwrap()["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn commits(url: &str) -> u64 {
    let text = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
    metric_value(&text, "sse_store_commits_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_array_is_one_commit_answered_with_each_id_in_order() {
    let dir = TempDir::new("batch-array");
    let server = start_in(dir.path(), &DEV);
    wait_health(&server.url, 200, 10).await;
    let before = commits(&server.url).await;
    let batch: Vec<Value> = (0..5).map(|i| json!({ "text": format!("t{i}") })).collect();
    let res = post_json(&server.url, "/update", None, Value::Array(batch)).await;
    assert_eq!(res.status(), 200);
    let answer: Vec<Value> = res.json().await.unwrap();
    assert_eq!(commits(&server.url).await - before, 1, "one commit for the whole batch");
    let answered: Vec<(u64, String)> =
        answer.iter().map(|a| (a["id"].as_u64().unwrap(), a["text"].as_str().unwrap().to_owned())).collect();
    let first = answered[0].0;
    let want: Vec<(u64, String)> = (0..5).map(|i| (first + i, format!("t{i}"))).collect();
    assert_eq!(answered, want, "each event's id, in order");

    let stored = history(&server.url, "/subscribe").await;
    assert_eq!(texts(&stored), ["t0", "t1", "t2", "t3", "t4"]);
    let positions: Vec<u64> = stored.iter().map(|(id, _)| pos(id)).collect();
    assert_eq!(positions, want.iter().map(|(p, _)| *p).collect::<Vec<_>>(), "the answered ids are the events' ids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_notifications_are_answered_with_their_sse_ids_and_kept_for_an_offline_user() {
    let dir = TempDir::new("batch-ndjson");
    let server = start_in(dir.path(), &DEV);
    let body = "{\"event\":\"card\",\"data\":{\"n\":1}}\n\n{\"data\":2}\r\n{\"event\":\"card\",\"data\":\"three\"}\n";
    let res = post(&server.url, "/notify/alice", "application/x-ndjson", None, body.into()).await;
    assert_eq!(res.status(), 200);
    let ids: Vec<String> =
        res.json::<Vec<Value>>().await.unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 3);
    // Alice was offline: her next stream without an id gets the three first, in order, with the answered ids.
    let mut events = open(reqwest::Client::new().get(format!("{}/sse/alice", server.url))).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let e = common::next(&mut events).await;
        got.push((e.id, e.event, e.data));
    }
    assert_eq!(
        got,
        [
            (ids[0].clone(), "card".to_owned(), "{\"n\":1}".to_owned()),
            (ids[1].clone(), "message".to_owned(), "2".to_owned()),
            (ids[2].clone(), "card".to_owned(), "\"three\"".to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_element_is_refused_by_its_index_and_nothing_is_stored() {
    let dir = TempDir::new("batch-bad");
    let server = start_in(dir.path(), &["serve", "--listen", "127.0.0.1:0", "--dev", "--max-batch-events", "4"]);
    let url = server.url.clone();
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        (
            "/update",
            "application/json",
            json!([{ "text": "a" }, { "text": "b" }, { "txt": "c" }]).to_string(),
            400,
            "event 2: missing field \"text\"",
        ),
        (
            "/update",
            "application/json",
            json!([{ "text": "a" }, "b"]).to_string(),
            400,
            "event 1: must be a JSON object",
        ),
        ("/update", "application/x-ndjson", "{\"text\":\"a\"}\n{\"text\":\n".into(), 400, "event 1: invalid JSON"),
        ("/update", "application/json", "[]".into(), 400, "at least one event"),
        (
            "/update",
            "application/json",
            Value::Array(vec![json!({ "text": "a" }); 5]).to_string(),
            413,
            "at most 4 events",
        ),
        ("/update", "application/x-ndjson", "{\"text\":\"a\"}\n".repeat(5), 413, "at most 4 events"),
        (
            "/notify/alice",
            "application/json",
            json!([{ "data": 1 }, { "event": "replay-gap", "data": 2 }]).to_string(),
            400,
            "event 1: event name \"replay-gap\" is reserved",
        ),
        (
            "/notify/alice",
            "application/json",
            json!([{ "data": 1 }, { "event": "a\nb", "data": 2 }]).to_string(),
            400,
            "event 1:",
        ),
        (
            "/notify/alice",
            "application/x-ndjson",
            "{\"data\":1}\n{\"event\":\"x\"}\n".into(),
            400,
            "event 1: missing field \"data\"",
        ),
    ];
    for (path, ct, body, status, message) in cases {
        let res = post(&url, path, ct, None, body.clone()).await;
        assert_eq!(res.status().as_u16(), status, "{path} {body}");
        let error = res.json::<Value>().await.unwrap()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(message), "{path} {body}: {error}");
    }
    // Over the body limit: 413 too.
    let big: Vec<Value> = (0..4).map(|_| json!({ "text": "x".repeat(20_000) })).collect();
    assert_eq!(post_json(&url, "/update", None, Value::Array(big)).await.status(), 413);

    assert!(history(&url, "/subscribe").await.is_empty(), "no event of a refused batch was stored");
    assert!(history(&url, "/sse/alice").await.is_empty(), "no notification of a refused batch was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_covers_a_batch_across_a_kill_9_and_restart() {
    let dir = TempDir::new("batch-key");
    let server = start_in(dir.path(), &DEV);
    let batch = json!([{ "text": "a" }, { "text": "b" }, { "text": "c" }]);
    let first = post_json(&server.url, "/update", Some("batch-1"), batch.clone()).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = post_json(&server.url, "/update", Some("batch-1"), batch.clone()).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first, "the original ids (and timestamps)");
    let notes = json!([{ "event": "card", "data": 1 }, { "data": 2 }]);
    let noted: Value = post_json(&server.url, "/notify/alice", Some("n-1"), notes.clone()).await.json().await.unwrap();

    server.kill9();
    let server = start_in(dir.path(), &DEV);
    let after = post_json(&server.url, "/update", Some("batch-1"), batch.clone()).await;
    assert_eq!((after.status().as_u16(), after.headers()["idempotent-replayed"].to_str().unwrap()), (200, "true"));
    assert_eq!(after.json::<Value>().await.unwrap(), first, "remembered across the restart");
    let noted_again = post_json(&server.url, "/notify/alice", Some("n-1"), notes).await;
    assert_eq!(noted_again.headers()["idempotent-replayed"], "true");
    assert_eq!(noted_again.json::<Value>().await.unwrap(), noted, "the same SSE ids");
    // The same key with another batch of the same length is refused and publishes nothing.
    let other =
        post_json(&server.url, "/update", Some("batch-1"), json!([{ "text": "a" }, { "text": "b" }, { "text": "X" }]))
            .await;
    assert_eq!(other.status(), 422);

    let stored = history(&server.url, "/subscribe").await;
    assert_eq!(texts(&stored), ["a", "b", "c"], "published once");
    assert_eq!(history(&server.url, "/sse/alice").await.len(), 2, "notified once");
}

/// Batches that together exceed the committer's usual batch (1,024 writes), sent by 8 publishers at once: each is
/// stored whole in one commit, so its events have consecutive positions — never interleaved with another batch's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_are_never_split_or_interleaved() {
    let dir = TempDir::new("batch-concurrent");
    let server = start_in(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:0", "--dev", "--max-body-bytes", "1000000", "--max-batch-events", "2500"],
    );
    wait_health(&server.url, 200, 10).await;
    let mut tasks = Vec::new();
    for publisher in 0..8 {
        let url = server.url.clone();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for round in 0..2 {
                let ndjson: String = (0..2500).map(|i| format!("{{\"data\":\"{publisher}-{round}-{i}\"}}\n")).collect();
                let res = post(&url, "/notify/bob", "application/x-ndjson", None, ndjson).await;
                assert_eq!(res.status(), 200);
                let ids: Vec<u64> =
                    res.json::<Vec<Value>>().await.unwrap().iter().map(|a| pos(a["id"].as_str().unwrap())).collect();
                answers.push(ids);
            }
            answers
        }));
    }
    for task in tasks {
        for ids in task.await.unwrap() {
            assert_eq!(ids.len(), 2500);
            assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "one batch's positions are consecutive: {ids:?}");
        }
    }
}
