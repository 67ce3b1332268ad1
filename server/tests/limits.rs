//! Limits that were untested: the max-jobs limit (finished jobs go first, 503 with Retry-After when all run), lag-based
//! slow-client eviction (as opposed to write-stall eviction), and the request-head read timeout.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use typed_eventsource_server::config::Config;

async fn job(s: &TestServer, body: &str) -> reqwest::Response {
    post_json(&format!("{}/jobs", s.url), None, body).await
}

#[tokio::test]
async fn max_jobs_drops_finished_jobs_first_then_refuses_with_retry_after() {
    let s = spawn(Config { max_jobs: 2, ..dev_config() }).await;
    // One job that finishes at once, one that runs for a long time.
    let done: Value = job(&s, r#"{"steps":1,"intervalMs":0}"#).await.json().await.unwrap();
    let done = done["id"].as_str().unwrap().to_owned();
    let mut events = open_url(&format!("{}/jobs/{done}/events", s.url)).await;
    while next(&mut events).await.data != "finished" {}
    drop(events);
    assert_eq!(job(&s, r#"{"steps":10,"intervalMs":60000}"#).await.status(), 200);
    // Full: the finished job makes room (it is gone afterwards) ...
    assert_eq!(job(&s, r#"{"steps":10,"intervalMs":60000}"#).await.status(), 200);
    let gone = reqwest::get(format!("{}/jobs/{done}/events", s.url)).await.unwrap();
    assert_eq!(gone.status(), 404, "the finished job was dropped to make room");
    // ... and with every slot running, the next is refused, with a hint when to retry.
    let refused = job(&s, r#"{"steps":1,"intervalMs":0}"#).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(refused.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("too many running jobs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_falls_behind_its_buffer_is_evicted_without_a_write_stall() {
    // The write-stall limit is far away: only the lag (client_buffer) can evict here.
    let s =
        spawn(Config { client_buffer: 8, history: 16, write_stall: Duration::from_secs(600), ..dev_config() }).await;
    // A small receive buffer, so that the slow client's socket fills after a few events whatever the machine's TCP
    // autotuning allows.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(s.addr).await.unwrap();
    slow.write_all(b"GET /subscribe HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\r\n").await.unwrap();
    let mut fast = open_url(&format!("{}/subscribe", s.url)).await;
    s.wait_metric("sse_open_streams{kind=\"broadcast\"}", 2, 5).await;
    // Large events fill the slow client's socket buffers while it reads nothing; its channel then falls more than
    // `client_buffer` events behind (the fast client keeps up).
    let text = "x".repeat(256 * 1024);
    for _ in 0..16 {
        for _ in 0..4 {
            s.publish(&text).await;
        }
        for _ in 0..4 {
            assert_eq!(next(&mut fast).await.data, text, "the fast client gets every event");
        }
    }
    // When the slow client reads again, its stream is found lagging: it ends (the last chunk) instead of delivering
    // the 64 events; its EventSource would reconnect with its last id.
    let mut buf = vec![0u8; 1 << 20];
    let (mut tail, mut frames) = (Vec::new(), 0usize);
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    frames += buf[..n].windows(4).filter(|w| w == b"id: ").count();
                    tail.extend_from_slice(&buf[..n]);
                    let keep = tail.len().saturating_sub(16);
                    tail.drain(..keep);
                    if tail.ends_with(b"\r\n0\r\n\r\n") {
                        return true;
                    }
                }
            }
        }
    })
    .await;
    assert_eq!(ended, Ok(true), "the lagging stream's response did not end");
    assert!(frames < 64, "the lagging client got all {frames} events instead of being evicted");
    assert!(s.metric("sse_slow_clients_evicted_total").await >= 1);
    s.wait_metric("sse_open_streams{kind=\"broadcast\"}", 1, 5).await;
    s.publish("after").await;
    assert_eq!(next(&mut fast).await.data, "after");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_is_disconnected() {
    let mut config = dev_config();
    config.conn.idle_timeout = Duration::from_millis(500);
    let s = spawn(config).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET /subscribe HTTP/1.1\r\nhost: 127.0").await.unwrap();
    let mut buf = [0u8; 256];
    let t = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a half-sent request head kept its connection for 5 s");
    assert!(t.elapsed() >= Duration::from_millis(400), "closed before the timeout: {:?}", t.elapsed());
}
