//! Pipelined publishes on one HTTP/1.1 connection (`conn/pipeline.rs`), as a publisher sees them: many in the
//! router at once and committed together, answered in request order, stored and delivered in request order; bad
//! requests answered in place; `Connection: close`, a stream request and a request for hyper after them; a body
//! split over writes; a body that never completes.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn update(text: &str, extra: &str) -> String {
    let body = format!(r#"{{"text":"{text}"}}"#);
    format!(
        "POST /update HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

/// One answer: status, head (lowercase), body.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Reads `n` answers with `Content-Length` bodies (or until the connection ends); panics after 10 s.
async fn answers(tcp: &mut TcpStream, n: usize) -> (Vec<Answer>, bool) {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let eof = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() < end + 4 + len {
                    break;
                }
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                let status = head[9..12].parse().unwrap();
                buf.drain(..end + 4 + len);
                out.push(Answer { status, head, body });
            }
            if out.len() >= n {
                return false;
            }
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return true,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out after {} answers; unread: {:?}", out.len(), String::from_utf8_lossy(&buf)));
    (out, eof)
}

fn position(answer: &Answer) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    v["id"].as_u64().unwrap()
}

/// The one ordering promise of a pipelining publisher: positions follow the order the requests were written, and
/// every subscriber receives them in that order, once. And the reason the pipeline exists: the publishes reach the
/// store together (hyper's one-request-at-a-time would make one commit per publish).
#[tokio::test]
async fn pipelined_publishes_are_committed_together_answered_and_delivered_in_order() {
    let s = spawn(dev_config()).await;
    let mut events = open_url(&format!("{}/subscribe", s.url)).await;
    let commits = s.metric("sse_store_commits_total").await;
    let n = 300;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    let requests: String = (0..n).map(|i| update(&format!("p{i}"), "")).collect();
    tcp.write_all(requests.as_bytes()).await.unwrap();
    let (answers, eof) = answers(&mut tcp, n).await;
    assert!(!eof, "the connection closed");
    assert_eq!(answers.len(), n);
    let mut last = 0;
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.status, 200, "{a:?}");
        assert!(a.body.contains(&format!(r#""text":"p{i}""#)), "answer {i} out of order: {a:?}");
        let pos = position(a);
        assert!(pos > last, "positions must follow the request order: {pos} after {last}");
        last = pos;
    }
    for i in 0..n {
        let e = next(&mut events).await;
        assert!(e.data.contains(&format!(r#""text":"p{i}""#)), "event {i}: {e:?}");
    }
    let used = s.metric("sse_store_commits_total").await - commits;
    assert!(used <= (n as u64) / 4, "{used} commits for {n} pipelined publishes: they were not committed together");
    // Still open and still pipelining after a write of its own.
    tcp.write_all(update("after", "").as_bytes()).await.unwrap();
    let (more, _) = answers_one(&mut tcp).await;
    assert_eq!(more.status, 200);
    assert!(position(&more) > last);
}

async fn answers_one(tcp: &mut TcpStream) -> (Answer, bool) {
    let (mut a, eof) = answers(tcp, 1).await;
    (a.pop().expect("no answer"), eof)
}

/// Requests the router refuses are answered in their place, and the ones around them are published; a body over
/// the limit goes to hyper (413) once the ones before it are answered.
#[tokio::test]
async fn refused_requests_are_answered_in_place_and_the_others_published() {
    let s = spawn(dev_config()).await;
    let mut events = open_url(&format!("{}/subscribe", s.url)).await;
    let bad_json =
        "POST /update HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\n{oops";
    let wrong_type =
        "POST /update HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nhi";
    let too_large = format!(
        "POST /update HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
        64 * 1024 + 1,
        "x".repeat(64 * 1024 + 1)
    );
    let requests =
        [update("a", ""), bad_json.into(), update("b", ""), wrong_type.into(), update("c", ""), too_large].concat();
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(requests.as_bytes()).await.unwrap();
    let (answers, _) = answers(&mut tcp, 6).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 400, 200, 415, 200, 413], "{answers:#?}");
    for text in ["a", "b", "c"] {
        let e = next(&mut events).await;
        assert!(e.data.contains(&format!(r#""text":"{text}""#)), "{e:?}");
    }
}

/// `Connection: close` makes a request the last one read: it is answered with `connection: close`, the connection
/// ends, and what was written after it is neither answered nor published.
#[tokio::test]
async fn a_close_request_is_the_last_one_answered_and_published() {
    let s = spawn(dev_config()).await;
    let mut events = open_url(&format!("{}/subscribe", s.url)).await;
    let requests = [update("one", ""), update("two", "connection: close\r\n"), update("three", "")].concat();
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(requests.as_bytes()).await.unwrap();
    let (answers, eof) = answers(&mut tcp, 3).await;
    assert!(eof, "the connection stayed open: {answers:?}");
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(answers[1].head.contains("connection: close"), "{answers:?}");
    s.publish("sentinel").await;
    for text in ["one", "two"] {
        assert!(next(&mut events).await.data.contains(&format!(r#""text":"{text}""#)));
    }
    next_is_sentinel(&mut events, "sentinel").await;
}

/// A stream request and a request for hyper after pipelined publishes: each waits for the answers before it, then
/// is served on the same connection.
#[tokio::test]
async fn a_stream_and_a_plain_request_follow_the_publishes_on_the_same_connection() {
    let s = spawn(dev_config()).await;
    let requests = [
        update("x", ""),
        update("y", ""),
        "GET /subscribe HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\r\n".into(),
    ]
    .concat();
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(requests.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut published = false;
    tokio::time::timeout(Duration::from_secs(5), async {
        while !seen.contains("data: live\n") {
            let k = tcp.read(&mut chunk).await.unwrap();
            assert!(k > 0, "closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&chunk[..k]));
            if !published && seen.contains("text/event-stream") {
                s.publish("live").await;
                published = true;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no live event on the stream: {seen}"));
    // The two answers, then the stream's head, its replay (both updates) and the live event.
    let parts: Vec<&str> = seen.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(parts.len(), 3, "{seen}");
    assert!(parts[0].starts_with("200 OK") && parts[0].contains(r#""text":"x""#), "{seen}");
    assert!(parts[1].starts_with("200 OK") && parts[1].contains(r#""text":"y""#), "{seen}");
    assert!(parts[2].starts_with("200 OK") && parts[2].contains("text/event-stream"), "{seen}");
    let y: u64 = parts[1].split(r#""id":"#).nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(parts[2].contains(&format!("id: {}\ndata: live\n", s.id(y + 1))), "{seen}");
    // A plain GET goes to hyper after publishes: answered in order too.
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    let requests =
        [update("z", ""), "GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".into(), update("w", "")].concat();
    tcp.write_all(requests.as_bytes()).await.unwrap();
    let (mixed, _) = answers(&mut tcp, 3).await;
    assert_eq!(mixed.iter().map(|a| a.status).collect::<Vec<_>>(), [200, 200, 200], "{mixed:#?}");
    assert!(mixed[1].body.contains(r#""status""#), "{mixed:#?}");
    assert!(position(&mixed[2]) > position(&mixed[0]));
}

/// A body that arrives in pieces is read whole; one that stops arriving is answered 408 after `--body-timeout` and
/// the connection closes (nothing published).
#[tokio::test]
async fn a_body_in_pieces_is_published_and_a_stalled_body_gets_408() {
    let s =
        spawn(typed_eventsource_server::config::Config { body_timeout: Duration::from_secs(1), ..dev_config() }).await;
    let mut events = open_url(&format!("{}/subscribe", s.url)).await;
    let whole = update("pieces", "");
    let (head, body) = whole.split_at(whole.len() - 8);
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tcp.write_all(&body.as_bytes()[..4]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tcp.write_all(&body.as_bytes()[4..]).await.unwrap();
    let (a, _) = answers_one(&mut tcp).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert!(next(&mut events).await.data.contains("pieces"));
    // Now a body that never completes.
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (a, eof) = answers(&mut tcp, 2).await;
    assert!(eof, "the connection stayed open: {a:?}");
    assert_eq!(a.iter().map(|a| a.status).collect::<Vec<_>>(), [408], "{a:?}");
    s.publish("sentinel").await;
    next_is_sentinel(&mut events, "sentinel").await;
}
