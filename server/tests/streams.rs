//! Replay, gap signal, slow clients, cleanup, heartbeats and shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt as _;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use typed_eventsource_server::config::Config;
use typed_eventsource_server::metrics::StreamKind;
use typed_eventsource_server::store::{topic, Payload};

// ---- Replay ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_while_publishing_concurrently_has_no_gap_and_no_duplicate() {
    const TOTAL: u64 = 600;
    let s = spawn(Config { history: 1000, ..dev_config() }).await;
    let hub = s.state.hub.clone();
    let publisher = tokio::spawn(async move {
        for i in 0..TOTAL {
            hub.publish(topic::BROADCAST, Payload::new(None, format!("m{i}"))).await.unwrap();
            if i % 4 == 0 {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
    });
    let mut seen: Vec<u64> = Vec::new();
    let mut last: Option<u64> = None;
    // Connect, read a few events, drop, reconnect with Last-Event-ID, again and again while publishing goes on.
    while last != Some(TOTAL) {
        let mut req = reqwest::Client::new().get(format!("{}/subscribe", s.url));
        if let Some(p) = last {
            req = req.header("last-event-id", s.id(p));
        } else {
            req = req.query(&[("lastEventId", s.id(0))]);
        }
        let mut events = open(req).await;
        for _ in 0..37 {
            let e = next(&mut events).await;
            assert_eq!(e.event, "message", "no gap signal expected: {e:?}");
            let id = pos(&e.id);
            assert_eq!(e.data, format!("m{}", id - 1));
            seen.push(id);
            last = Some(id);
            if id == TOTAL {
                break;
            }
        }
    }
    publisher.await.unwrap();
    assert_eq!(seen, (1..=TOTAL).collect::<Vec<_>>());
    assert!(s.metric("sse_events_replayed_total").await > 0);
}

#[tokio::test]
async fn unknown_or_too_old_last_event_id_gets_a_replay_gap_event() {
    let s = spawn(Config { history: 5, ..dev_config() }).await;
    for i in 1..=10 {
        s.publish(&format!("m{i}")).await;
    }
    let epoch = s.state.hub.epoch().to_owned();
    let cases = [
        (s.id(2), "expired"),
        (s.id(999), "unknown"),
        ("2".to_owned(), "malformed"),
        ("not an id".to_owned(), "malformed"),
        ("abcdef012345-8".to_owned(), "other-epoch"),
    ];
    for (requested, reason) in cases {
        let mut ev =
            open(reqwest::Client::new().get(format!("{}/subscribe", s.url)).header("last-event-id", &requested)).await;
        let gap = next(&mut ev).await;
        assert_eq!(gap.event, "replay-gap");
        assert_eq!(gap.id, s.id(5));
        let d: Value = serde_json::from_str(&gap.data).unwrap();
        assert_eq!(d["requested"], requested.as_str());
        assert_eq!(d["oldest"], s.id(6).as_str());
        assert_eq!(d["epoch"], epoch.as_str());
        assert_eq!(d["reason"], reason, "{requested}");
        for i in 6..=10 {
            assert_eq!(next(&mut ev).await.id, s.id(i));
        }
    }
    // A known id in range: exactly what followed, no signal.
    let mut ev = open_url(&format!("{}/subscribe?lastEventId={}", s.url, s.id(8))).await;
    assert_eq!(next(&mut ev).await.id, s.id(9));
    assert_eq!(next(&mut ev).await.id, s.id(10));
    // The oldest trimmed id itself was seen by the client: nothing is missing, no signal.
    let mut ev = open_url(&format!("{}/subscribe?lastEventId={}", s.url, s.id(5))).await;
    assert_eq!(next(&mut ev).await.id, s.id(6));
    // The current last id: nothing to replay, no signal — the next event is the one published after it.
    let mut ev = open_url(&format!("{}/subscribe?lastEventId={}", s.url, s.id(10))).await;
    s.publish("sentinel").await;
    next_is_sentinel(&mut ev, "sentinel").await;
}

// ---- Slow clients and cleanup ----

async fn raw_subscribe(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /subscribe HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\r\n").await.unwrap();
    tcp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_evicted_while_another_client_keeps_receiving() {
    let s =
        spawn(Config { client_buffer: 32, history: 16, write_stall: Duration::from_millis(500), ..dev_config() }).await;
    let _slow = raw_subscribe(s.addr).await; // never read
    let mut fast = open_url(&format!("{}/subscribe", s.url)).await;
    s.wait_metric("sse_open_streams{kind=\"broadcast\"}", 2, 5).await;
    let text = "x".repeat(32 * 1024);
    let mut expected = 1u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // Publish in batches the fast client keeps up with, until the slow one is gone.
    while s.state.metrics.open_streams(StreamKind::Broadcast) > 1 {
        assert!(tokio::time::Instant::now() < deadline, "slow client never evicted");
        for _ in 0..8 {
            s.publish(&text).await;
        }
        for _ in 0..8 {
            let e = next(&mut fast).await;
            assert_eq!(e.id, s.id(expected));
            assert_eq!(e.data.len(), text.len());
            expected += 1;
        }
    }
    assert!(s.metric("sse_slow_clients_evicted_total").await >= 1);
    // The fast client is still served.
    s.publish("after").await;
    assert_eq!(next(&mut fast).await.data, "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_back_to_zero_after_1000_clients_leave() {
    let conn = typed_eventsource_server::config::ConnConfig { max_connections_per_ip: 2000, ..Default::default() };
    let s = spawn(Config { max_streams_per_ip: 1000, conn, ..dev_config() }).await;
    let mut clients = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut tcp = raw_subscribe(s.addr).await;
        let mut buf = [0u8; 512];
        let mut got = Vec::new();
        while !got.windows(7).any(|w| w == b"retry: ") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        clients.push(tcp);
    }
    assert_eq!(s.metric("sse_open_streams{kind=\"broadcast\"}").await, 1000);
    drop(clients);
    // Disconnects are noticed at the next write: one event reaches (and fails on) every closed socket.
    s.publish("bye").await;
    s.wait_metric("sse_open_streams{kind=\"broadcast\"}", 0, 10).await;
}

// ---- Heartbeats ----

#[tokio::test(start_paused = true)]
async fn heartbeat_comment_on_idle_stream_paused_time() {
    use typed_eventsource_server::sse::{self, Live};
    use typed_eventsource_server::AppState;
    let state = AppState::open(Config { heartbeat: Duration::from_secs(15), ..dev_config() }).await.unwrap();
    let sub = state.hub.subscribe(topic::BROADCAST, typed_eventsource_server::hub::Start::Live).await.unwrap();
    let guard = state.open_stream(StreamKind::Broadcast).unwrap();
    let res = sse::response(&state.env, guard, state.prelude(), Live::Topic(sub.rx));
    let mut body = res.into_body().into_data_stream();
    assert_eq!(&body.next().await.unwrap().unwrap()[..], b"retry: 3000\n\n");
    let start = tokio::time::Instant::now();
    // The comment, and the named event a browser EventSource can see (no id: the client's last id stays put).
    let heartbeat: &[u8] = b": keep-alive\n\nevent: heartbeat\ndata: 15000\n\n";
    assert_eq!(&body.next().await.unwrap().unwrap()[..], heartbeat);
    assert_eq!(start.elapsed(), Duration::from_secs(15));
    // An event resets the idle timer.
    tokio::time::advance(Duration::from_secs(5)).await;
    // The committer answers from its own thread: while this runtime waits for it, it has nothing to run, and paused
    // time would jump to the next timer (the heartbeat, due in 10 s). Kept busy, the clock stays where it is.
    let publish = state.hub.publish(topic::BROADCAST, Payload::new(None, "x"));
    let published = tokio::select! {
        biased;
        published = publish => published.unwrap(),
        () = async { loop { tokio::task::yield_now().await } } => unreachable!(),
    };
    assert_eq!(body.next().await.unwrap().unwrap(), format!("id: {}\ndata: x\n\n", published.id));
    let t = tokio::time::Instant::now();
    assert_eq!(&body.next().await.unwrap().unwrap()[..], heartbeat);
    assert_eq!(t.elapsed(), Duration::from_secs(15));
    // Shutdown ends the stream and the gauge drops.
    state.shutdown();
    assert!(body.next().await.is_none());
    drop(body);
    assert_eq!(state.metrics.open_streams(StreamKind::Broadcast), 0);
}

#[tokio::test]
async fn heartbeat_over_the_network() {
    let s = spawn(Config { heartbeat: Duration::from_millis(150), ..dev_config() }).await;
    let mut res = reqwest::get(format!("{}/subscribe", s.url)).await.unwrap();
    let text = raw_until(&mut res, ": keep-alive\n\nevent: heartbeat\ndata: 150\n\n").await;
    assert!(text.starts_with("retry: "));
}

// ---- Shutdown (in process; the binary's SIGTERM test is in tests/binary.rs) ----

#[tokio::test]
async fn shutdown_closes_every_stream_and_returns_quickly() {
    let s = spawn(dev_config()).await;
    let mut streams = Vec::new();
    for path in ["/subscribe", "/sse/a", "/subscribe"] {
        streams.push(reqwest::get(format!("{}{path}", s.url)).await.unwrap());
    }
    s.wait_metric("sse_open_streams{kind=\"broadcast\"}", 2, 5).await;
    let t = std::time::Instant::now();
    s.state.shutdown();
    tokio::time::timeout(Duration::from_secs(2), s.handle).await.expect("serve did not return").unwrap().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    for mut r in streams {
        // Each body ends (cleanly) rather than hanging.
        let end =
            tokio::time::timeout(Duration::from_secs(1), async { while let Ok(Some(_)) = r.chunk().await {} }).await;
        assert!(end.is_ok());
    }
    assert_eq!(s.state.metrics.open_streams(StreamKind::Broadcast), 0);
}

// ---- A commit reaches a stream whole ----

/// The events of one body stream's chunks: its `id:` lines, and the chunk sizes.
async fn read_ids(
    body: &mut (impl futures::Stream<Item = Result<bytes::Bytes, axum::Error>> + Unpin),
    n: usize,
) -> (Vec<String>, Vec<usize>) {
    let (mut ids, mut sizes) = (Vec::new(), Vec::new());
    while ids.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next()).await.unwrap().unwrap().unwrap();
        sizes.push(chunk.len());
        let text = std::str::from_utf8(&chunk).unwrap();
        ids.extend(text.lines().filter_map(|l| l.strip_prefix("id: ")).map(str::to_owned));
    }
    (ids, sizes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_of_many_events_reaches_a_live_stream_as_one_write_in_order() {
    use typed_eventsource_server::hub::Start;
    let s = spawn(dev_config()).await;
    let sub = s.state.hub.subscribe(topic::BROADCAST, Start::Live).await.unwrap();
    let guard = s.state.open_stream(StreamKind::Broadcast).unwrap();
    let mut body = s.state.topic_stream(guard, sub).into_body().into_data_stream();
    assert_eq!(&body.next().await.unwrap().unwrap()[..], b"retry: 3000\n\n");
    for round in 0..5 {
        let payloads = (0..40).map(|i| Payload::new(None, format!("r{round} e{i}"))).collect();
        let published = s.state.hub.publish_batch(topic::BROADCAST, payloads, None).await.unwrap();
        let (ids, sizes) = read_ids(&mut body, 40).await;
        assert_eq!(ids, published.iter().map(|p| p.id.clone()).collect::<Vec<_>>(), "the commit's events, in order");
        // The stream is woken once the whole commit is in its channel: one write, not the first event on its own.
        assert_eq!(sizes.len(), 1, "round {round}: the commit came in {} writes ({sizes:?})", sizes.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_larger_than_a_write_is_split_into_bounded_writes_in_order() {
    use typed_eventsource_server::hub::Start;
    let s = spawn(Config { client_buffer: 2048, history: 10_000, ..dev_config() }).await;
    let sub = s.state.hub.subscribe(topic::BROADCAST, Start::Live).await.unwrap();
    let guard = s.state.open_stream(StreamKind::Broadcast).unwrap();
    let mut body = s.state.topic_stream(guard, sub).into_body().into_data_stream();
    body.next().await.unwrap().unwrap();
    // 1,500 events of ~700 bytes: ~1 MB in one commit.
    let text = "x".repeat(640);
    let payloads = (0..1500).map(|i| Payload::new(None, format!("{i} {text}"))).collect();
    let published = s.state.hub.publish_batch(topic::BROADCAST, payloads, None).await.unwrap();
    let (ids, sizes) = read_ids(&mut body, 1500).await;
    assert_eq!(ids, published.iter().map(|p| p.id.clone()).collect::<Vec<_>>(), "every event once, in order");
    // What a stream holds for one write stays bounded (64 KiB and at most one frame more), whatever the commit.
    let largest = sizes.iter().copied().max().unwrap();
    assert!(sizes.len() > 1 && largest <= 64 * 1024 + 1024, "writes of {sizes:?} bytes");
}
