//! Catch-up without mass eviction (issue 22, finding 4): a burst larger than `--client-buffer` no longer evicts
//! every stream; each catches up from the store at its own pace. A client that fell behind what the store retains is
//! still evicted (server/tests/limits.rs).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::{dev_config, open_url, pos, spawn, until};
use typed_eventsource_server::config::Config;
use typed_eventsource_server::store::{topic, Payload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_live_buffer_is_caught_up_from_the_store_by_every_stream() {
    let s = spawn(Config { client_buffer: 8, history: 10_000, ..dev_config() }).await;
    // Published before the streams join: never theirs, even when they catch up.
    for i in 0..50 {
        s.publish(&format!("before {i}")).await;
    }
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(open_url(&format!("{}/subscribe", s.url)).await);
    }
    s.wait_metric("sse_open_streams{kind=\"broadcast\"}", 3, 5).await;
    // 400 concurrent publishes: group commit hands them to the fan-out in a few batches, far past 8 per stream.
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let hub = s.state.hub.clone();
            tokio::spawn(async move { hub.publish(topic::BROADCAST, Payload::new(None, format!("e{i}"))).await })
        })
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.unwrap().unwrap().event.pos);
    }
    acked.sort_unstable();
    s.publish("sentinel").await;
    for stream in &mut streams {
        let got: Vec<u64> = until(stream, "sentinel").await.iter().map(|e| pos(&e.id)).collect();
        assert_eq!(got, acked, "every event since it joined once, in order, on every stream; nothing from before");
    }
    assert_eq!(s.metric("sse_slow_clients_evicted_total").await, 0, "nobody was evicted");
    // The catch-ups are counted: at least one stream overflowed, and no catch-up sent more than it was owed.
    assert!(s.metric("sse_catch_ups_total").await >= 1);
    let caught_up = s.metric("sse_catch_up_events_total").await;
    assert!((1..=3 * 401).contains(&caught_up), "{caught_up} events sent by catch-ups");
    let distinct: HashSet<u64> = acked.iter().copied().collect();
    assert_eq!(distinct.len(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_stream_that_overflows_before_its_first_event_catches_up_from_where_it_joined() {
    use futures::StreamExt as _;
    use typed_eventsource_server::hub::Start;
    use typed_eventsource_server::metrics::StreamKind;
    let s = spawn(Config { client_buffer: 8, history: 10_000, ..dev_config() }).await;
    for i in 0..50 {
        s.publish(&format!("before {i}")).await;
    }
    // Joins live, then 30 events overflow its 8-event buffer before its body is read at all.
    let sub = s.state.hub.subscribe(topic::BROADCAST, Start::Live).await.unwrap();
    let guard = s.state.open_stream(StreamKind::Broadcast).unwrap();
    let mut body = s.state.topic_stream(guard, sub).into_body().into_data_stream();
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(s.publish(&format!("after {i}")).await.id);
    }
    let mut text = String::new();
    while !text.contains(&format!("id: {}\n", ids[29])) {
        let chunk =
            tokio::time::timeout(std::time::Duration::from_secs(5), body.next()).await.unwrap().unwrap().unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(!text.contains("before"), "events from before it joined: {text}");
    let got: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("id: ")).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>(), "each event since it joined, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_commit_larger_than_the_live_buffer_is_caught_up_whole_and_in_order() {
    use futures::StreamExt as _;
    use typed_eventsource_server::hub::Start;
    use typed_eventsource_server::metrics::StreamKind;
    let s = spawn(Config { client_buffer: 8, history: 10_000, ..dev_config() }).await;
    let sub = s.state.hub.subscribe(topic::BROADCAST, Start::Live).await.unwrap();
    let guard = s.state.open_stream(StreamKind::Broadcast).unwrap();
    let mut body = s.state.topic_stream(guard, sub).into_body().into_data_stream();
    // One batch publish: one commit of 100 events, far past the stream's 8-event buffer, delivered at once.
    let payloads = (0..100).map(|i| Payload::new(None, format!("b{i}"))).collect();
    let published = s.state.hub.publish_batch(topic::BROADCAST, payloads, None).await.unwrap();
    let last = published.last().unwrap().id.clone();
    let mut text = String::new();
    while !text.contains(&format!("id: {last}\n")) {
        let chunk =
            tokio::time::timeout(std::time::Duration::from_secs(5), body.next()).await.unwrap().unwrap().unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let got: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("id: ")).collect();
    let want: Vec<&str> = published.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(got, want, "the commit's events once, in order, past the overflow");
    assert!(s.metric("sse_catch_ups_total").await >= 1, "the overflow was caught up from the store");
    assert_eq!(s.metric("sse_slow_clients_evicted_total").await, 0);
}
