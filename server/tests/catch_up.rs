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
        assert_eq!(got, acked, "every event once, in order, on every stream");
    }
    assert_eq!(s.metric("sse_slow_clients_evicted_total").await, 0, "nobody was evicted");
    let distinct: HashSet<u64> = acked.iter().copied().collect();
    assert_eq!(distinct.len(), 400);
}
