//! The stream hand-off (`conn/stream_handoff.rs`: an HTTP/1.1 `GET` asking for `text/event-stream` is answered
//! without hyper) against hyper itself as the oracle: the same generated request bytes, sent as the first request of a
//! connection (the hand-off serves it) and as the second request of a connection whose first request was a plain
//! `GET /healthz` (hyper then serves the rest of that connection), must get the same status line, the same headers
//! (as a multiset, names compared case-blind; `date` only present on both, its value being the time) and the same
//! framing (`content-length` or chunked) and body: the whole body of a finite response (refusals: 400, 401, 403, 404,
//! 405, 421, ...), the first frame (up to the first blank line) of an event stream.
//!
//! The requests: a seeded generator over paths (streams of every kind, refusals, unknown routes, query strings,
//! percent-encoding; not `/metrics`, whose body changes between the two requests), `Host` values (loopback, with port, foreign, missing), `Accept` spellings that ask for
//! `text/event-stream`, credentials (valid, another user's, garbage) in the header, query and cookie,
//! `Last-Event-ID` (ours, foreign, malformed, empty), `Origin` (allowed, not), `Connection` tokens, header-name case
//! and whitespace, repeated and unknown headers.
//!
//! Found so far: no difference (shown able to fail: with the hand-off's `connection: close` line removed, 21 of the
//! 150 requests differ).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Requests generated (each sent twice, on two connections).
const CASES: usize = 150;

/// A response as the test compares it.
#[derive(Debug, PartialEq)]
struct Seen {
    status_line: String,
    /// Lowercase name → values in order; `date`'s value replaced by a mark of its presence.
    headers: BTreeMap<String, Vec<String>>,
    framing: String,
    /// The whole body of a finite response, the first frame of a stream.
    body: String,
}

/// Reads one response; `None` if the connection ends or stalls (2 s) before a complete head.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Seen> {
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        fill(s, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?.to_owned();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        let value = if name == "date" { "(present)".to_owned() } else { value.trim().to_owned() };
        headers.entry(name).or_default().push(value);
    }
    let chunked = headers.get("transfer-encoding").is_some_and(|v| v.iter().any(|t| t.contains("chunked")));
    let length = headers.get("content-length").and_then(|v| v.first()).and_then(|v| v.parse::<usize>().ok());
    let (framing, body) = if chunked {
        ("chunked".to_owned(), dechunk_first_frame(s, buf).await)
    } else if let Some(len) = length {
        while buf.len() < len {
            fill(s, buf).await?;
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        (format!("content-length {len}"), String::from_utf8_lossy(&body).into_owned())
    } else {
        ("none".to_owned(), String::new())
    };
    Some(Seen { status_line, headers, framing, body })
}

/// Reads more bytes (2 s at most); `None` at the end of the connection or past the deadline.
async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    match tokio::time::timeout(Duration::from_secs(2), s.read(&mut chunk)).await {
        Ok(Ok(n)) if n > 0 => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
        _ => None,
    }
}

/// The chunked body decoded up to its end or its first blank line (an event stream's first frame), whichever
/// comes first; what was read by then (a stream's later frames are not waited for).
async fn dechunk_first_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let mut body = Vec::new();
    loop {
        if body.windows(2).any(|w| w == b"\n\n") {
            let end = body.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
            body.truncate(end);
            break;
        }
        let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
            if fill(s, buf).await.is_none() {
                body.extend_from_slice(b"(cut)");
                break;
            }
            continue;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&buf[..line_end]).trim(), 16).unwrap();
        if size == 0 {
            body.extend_from_slice(b"(end)");
            break;
        }
        while buf.len() < line_end + 2 + size + 2 {
            if fill(s, buf).await.is_none() {
                break;
            }
        }
        let take = (line_end + 2 + size).min(buf.len());
        body.extend_from_slice(&buf[line_end + 2..take]);
        buf.drain(..(take + 2).min(buf.len()));
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// The response to `request` as the first request of a connection: served by the hand-off when it is an event-stream
/// `GET`.
async fn first_on_connection(addr: std::net::SocketAddr, request: &[u8]) -> Option<Seen> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    read_response(&mut s, &mut Vec::new()).await
}

/// The response to `request` sent after a plain `GET /healthz` on the same connection: served by hyper.
async fn after_hyper_took_over(addr: std::net::SocketAddr, request: &[u8]) -> Option<Seen> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let health = read_response(&mut s, &mut buf).await.expect("the health check answers");
    assert!(health.status_line.starts_with("HTTP/1.1 200"), "{health:?}");
    s.write_all(request).await.unwrap();
    read_response(&mut s, &mut buf).await
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }
}

/// One generated request: an event-stream `GET` (so that the hand-off takes it when it comes first).
fn request(rng: &mut Rng, port: u16, alice: &str, bob: &str, our_id: &str) -> Vec<u8> {
    let alice_q = format!("?token={alice}");
    let paths = [
        "/subscribe".to_owned(),
        "/subscribe?x=1&y=%20".to_owned(),
        "/sse/alice".to_owned(),
        format!("/sse/alice{alice_q}"),
        format!("/sse/bob{alice_q}"),
        "/sse/al%69ce".to_owned(),
        "/jobs/7/events".to_owned(),
        "/jobs/../subscribe".to_owned(),
        "/nope".to_owned(),
        "/update".to_owned(),
        "/healthz".to_owned(),
        "/".to_owned(),
        "/subscribe?lastEventId=x".to_owned(),
    ];
    let path = paths[(rng.next() % paths.len() as u64) as usize].clone();
    let mut lines = vec![format!("GET {path} HTTP/1.1")];
    let host = format!("127.0.0.1:{port}");
    let host_header = rng.pick(&["Host", "host", "HOST"]);
    match rng.next() % 6 {
        0 => lines.push(format!("{host_header}: localhost")),
        1 => lines.push(format!("{host_header}: {host}")),
        2 => lines.push(format!("{host_header}: evil.example")),
        3 => lines.push(format!("{host_header}:  localhost:{port} ")),
        4 => lines.push(format!("{host_header}: [::1]")),
        _ => {}
    }
    lines.push(format!(
        "{}: {}",
        rng.pick(&["Accept", "accept", "ACCEPT"]),
        rng.pick(&[
            "text/event-stream",
            "TEXT/EVENT-STREAM",
            "text/html, text/event-stream;q=0.9",
            "*/*, text/event-stream"
        ])
    ));
    if rng.percent(40) {
        let bearer = match rng.next() % 3 {
            0 => format!("Bearer {alice}"),
            1 => format!("Bearer {bob}"),
            _ => "Bearer not-a-token".to_owned(),
        };
        lines.push(format!("Authorization: {bearer}"));
    }
    if rng.percent(20) {
        lines.push(format!("Cookie: a=1; sse_token={}", if rng.percent(50) { alice } else { "junk" }));
    }
    if rng.percent(40) {
        let id = match rng.next() % 4 {
            0 => our_id.to_owned(),
            1 => "ffff-1".to_owned(),
            2 => "not an id".to_owned(),
            _ => String::new(),
        };
        lines.push(format!("Last-Event-ID: {id}"));
    }
    if rng.percent(30) {
        lines.push(format!("Origin: {}", rng.pick(&["https://app.example", "https://evil.example", "null"])));
    }
    if rng.percent(30) {
        lines.push(format!("Connection: {}", rng.pick(&["keep-alive", "close", "Keep-Alive, close", "foo"])));
    }
    if rng.percent(30) {
        lines.push(format!(
            "{}: {}",
            rng.pick(&["X-Extra", "x-extra", "Cache-Control"]),
            rng.pick(&["1", "no-cache", ""])
        ));
    }
    if rng.percent(10) {
        lines.push("X-Repeated: a".to_owned());
        lines.push("X-Repeated: b".to_owned());
    }
    let mut text = lines.join("\r\n");
    text.push_str("\r\n\r\n");
    text.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_handoff_answers_as_hyper_does() {
    let mut config = common::config();
    config.cors_origins = vec!["https://app.example".to_owned()];
    let server = common::spawn(config).await;
    let published = server.publish("first").await;
    let our_id = published.id.clone();
    let (alice, bob) = (server.token("alice"), server.token("bob"));
    let mut rng = Rng(0x4a4d_0ff0);
    let mut differences = Vec::new();
    let (mut streams, mut finite) = (0, 0);
    for case in 0..CASES {
        let req = request(&mut rng, server.addr.port(), &alice, &bob, &our_id);
        let handoff = first_on_connection(server.addr, &req).await;
        let hyper = after_hyper_took_over(server.addr, &req).await;
        match &handoff {
            Some(seen) if seen.framing == "chunked" && !seen.body.ends_with("(end)") => streams += 1,
            _ => finite += 1,
        }
        if handoff != hyper {
            differences.push(format!(
                "case {case}: {}\n  hand-off: {handoff:?}\n  hyper:    {hyper:?}",
                String::from_utf8_lossy(&req).replace("\r\n", " | ")
            ));
        }
    }
    assert!(streams >= 20 && finite >= 20, "a one-sided corpus: {streams} streams, {finite} finite responses");
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
}
