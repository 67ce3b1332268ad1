//! HTTP/1.1 event streams served without hyper's connection buffers (`conn/stream_handoff.rs`), as a client sees
//! them: keep-alive and pipelined requests around finite streams, heads split over many writes, the head limit
//! (431), a client leaving, `Connection: close`, write-stall eviction and shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use typed_eventsource_server::config::Config;
use typed_eventsource_server::metrics::{Protocol, StreamKind};

fn fixtures() -> Config {
    Config { fixtures: true, ..dev_config() }
}

/// A request head asking for an event stream.
fn sse_head(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n{extra}\r\n")
}

/// Reads until `done(text so far)` or the connection ends; panics after 5 s.
async fn read_until(tcp: &mut TcpStream, done: impl Fn(&str) -> bool) -> (String, bool) {
    let mut text = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let eof = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if done(&String::from_utf8_lossy(&text)) {
                return false;
            }
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out; read so far: {:?}", String::from_utf8_lossy(&text)));
    (String::from_utf8(text).unwrap(), eof)
}

#[tokio::test]
async fn event_streams_and_other_requests_share_a_keep_alive_connection() {
    let s = spawn(fixtures()).await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    // Pipelined in one write: two finite event streams (served here), a 404 for an event-stream client (served
    // here), then a plain request (hyper from then on).
    let requests = [
        sse_head("/fixtures/drop?events=2", ""),
        sse_head("/fixtures/drop?events=3", ""),
        sse_head("/nowhere", ""),
        "GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".to_owned(),
    ]
    .concat();
    tcp.write_all(requests.as_bytes()).await.unwrap();
    let (text, eof) = read_until(&mut tcp, |t| t.contains(r#""status":"ok""#)).await;
    assert!(!eof, "the connection was closed: {text}");
    let responses: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(responses.len(), 4, "{text}");
    for (r, ids) in responses[..2].iter().zip([2, 3]) {
        assert!(r.starts_with("200 OK\r\n"), "{r}");
        assert!(r.contains("content-type: text/event-stream\r\n") && r.contains("transfer-encoding: chunked\r\n"));
        assert!(r.contains("\r\ndate: "), "{r}");
        assert_eq!(r.matches("\nid: ").count(), ids, "{r}");
        assert!(r.ends_with("\r\n0\r\n\r\n"), "the stream did not end with its last chunk: {r:?}");
    }
    assert!(responses[2].starts_with("404 Not Found\r\n") && responses[2].contains("content-length: 0\r\n"));
    assert!(responses[3].starts_with("200 OK\r\n") && responses[3].contains("application/json"));
    // Still open, now served by hyper: another event stream works on it.
    tcp.write_all(sse_head("/fixtures/drop?events=1", "").as_bytes()).await.unwrap();
    let (text, _) = read_until(&mut tcp, |t| t.ends_with("\r\n0\r\n\r\n")).await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("\nid: 1\n"), "{text}");
    assert_eq!(s.state.metrics.open_streams(StreamKind::Fixture), 0);
}

#[tokio::test]
async fn a_request_head_sent_a_few_bytes_at_a_time_is_served() {
    let s = spawn(dev_config()).await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    let head = sse_head("/subscribe", "cache-control: no-cache\r\nuser-agent: slow-writer/1\r\n");
    for piece in head.as_bytes().chunks(3) {
        tcp.write_all(piece).await.unwrap();
        tcp.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (text, _) = read_until(&mut tcp, |t| t.contains("retry: ")).await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    s.wait_metric("sse_open_streams{kind=\"broadcast\"}", 1, 5).await;
    let published = s.publish("split").await;
    let (text, _) = read_until(&mut tcp, |t| t.contains("data: split")).await;
    assert!(text.contains(&format!("id: {}\n", published.id)), "{text}");
}

#[tokio::test]
async fn an_event_stream_head_over_the_limit_gets_431_and_one_under_it_a_stream() {
    let mut config = dev_config();
    config.conn.max_header_bytes = 8192;
    let s = spawn(config).await;
    let big = format!("cookie: a={}\r\n", "x".repeat(9000));
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(sse_head("/subscribe", &big).as_bytes()).await.unwrap();
    let (text, _) = read_until(&mut tcp, |t| t.contains("\r\n\r\n")).await;
    assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
    let fits = format!("cookie: a={}\r\n", "x".repeat(7000));
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(sse_head("/subscribe", &fits).as_bytes()).await.unwrap();
    let (text, _) = read_until(&mut tcp, |t| t.contains("retry: ")).await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
}

#[tokio::test]
async fn a_client_that_leaves_releases_its_stream_and_connection_at_once() {
    // Heartbeats are an hour apart: only reading the client's side can notice it left.
    let s = spawn(Config { heartbeat: Duration::from_secs(3600), ..dev_config() }).await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(sse_head("/subscribe", "").as_bytes()).await.unwrap();
    read_until(&mut tcp, |t| t.contains("retry: ")).await;
    assert_eq!(s.state.metrics.open_streams(StreamKind::Broadcast), 1);
    assert_eq!(s.state.metrics.open_connections(Protocol::Http1), 1);
    drop(tcp);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while s.state.metrics.open_streams(StreamKind::Broadcast) > 0
        || s.state.metrics.open_connections(Protocol::Http1) > 0
    {
        assert!(tokio::time::Instant::now() < deadline, "the stream outlived its client");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn connection_close_is_answered_in_kind() {
    let s = spawn(fixtures()).await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(sse_head("/fixtures/drop?events=1", "connection: close\r\n").as_bytes()).await.unwrap();
    let (text, eof) = read_until(&mut tcp, |_| false).await;
    assert!(eof);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("\r\nconnection: close\r\n"), "{text}");
    assert!(text.ends_with("\r\n0\r\n\r\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_client_stops_reading_is_dropped_after_the_write_stall_time() {
    // The lag limit is out of reach (1,024 events; at most 200 are published): only a blocked write can evict.
    let s = spawn(Config { write_stall: Duration::from_millis(500), history: 16, ..dev_config() }).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(s.addr).await.unwrap();
    slow.write_all(sse_head("/subscribe", "").as_bytes()).await.unwrap();
    let mut fast = open_url(&format!("{}/subscribe", s.url)).await;
    s.wait_metric("sse_open_streams{kind=\"broadcast\"}", 2, 5).await;
    let text = "x".repeat(128 * 1024);
    let mut published = 0;
    while s.state.metrics.open_streams(StreamKind::Broadcast) > 1 {
        assert!(published < 200, "the stalled stream was never dropped");
        for _ in 0..4 {
            s.publish(&text).await;
            published += 1;
        }
        for _ in 0..4 {
            assert_eq!(next(&mut fast).await.data.len(), text.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Exactly the stalled stream was evicted: the fast one, which read every event, is still there.
    assert_eq!(s.metric("sse_slow_clients_evicted_total").await, 1);
    assert_eq!(s.metric("sse_open_streams{kind=\"broadcast\"}").await, 1);
    // The stalled client finds its connection closed (not ended cleanly: no last chunk) once it reads again.
    let (text, eof) = read_until(&mut slow, |_| false).await;
    assert!(eof, "the evicted connection is closed");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "an evicted stream must not look like a clean end: {:?}",
        &text[text.len().saturating_sub(40)..]
    );
    s.publish("after").await;
    assert_eq!(next(&mut fast).await.data, "after");
}

/// Streams are written on their own runtime (server/src/conn/streams.rs); shutdown must still wait for each of
/// them: when `serve` returns (and the process exits), every stream has ended with its last chunk.
#[tokio::test]
async fn serve_returns_only_after_every_stream_ended_with_its_last_chunk() {
    let s = spawn(dev_config()).await;
    let mut streams = Vec::new();
    // Within the default 256 streams per address.
    for _ in 0..250 {
        let mut tcp = TcpStream::connect(s.addr).await.unwrap();
        tcp.write_all(sse_head("/subscribe", "").as_bytes()).await.unwrap();
        let (head, _) = read_until(&mut tcp, |t| t.contains("retry: ")).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head:?}");
        streams.push(tcp);
    }
    s.state.shutdown();
    tokio::time::timeout(Duration::from_secs(5), s.handle).await.expect("serve did not return").unwrap().unwrap();
    assert_eq!(s.state.metrics.open_connections(Protocol::Http1), 0, "serve returned while streams were still open");
    for tcp in &mut streams {
        let (text, eof) = read_until(tcp, |_| false).await;
        assert!(eof && text.ends_with("0\r\n\r\n"), "{text:?}");
    }
}

#[tokio::test]
async fn shutdown_ends_http1_streams_with_their_last_chunk_and_closes_the_connection() {
    let s = spawn(dev_config()).await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(sse_head("/subscribe", "").as_bytes()).await.unwrap();
    read_until(&mut tcp, |t| t.contains("retry: ")).await;
    // A connection still sending its head is closed too.
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(b"GET /subscribe HTTP/1.1\r\nhost: 127.0").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.state.shutdown();
    let (text, eof) = read_until(&mut tcp, |_| false).await;
    assert!(eof && text.ends_with("0\r\n\r\n"), "{text:?}");
    let (_, eof) = read_until(&mut idle, |_| false).await;
    assert!(eof);
    tokio::time::timeout(Duration::from_secs(2), s.handle).await.expect("serve did not return").unwrap().unwrap();
    assert_eq!(s.state.metrics.open_connections(Protocol::Http1), 0);
}
