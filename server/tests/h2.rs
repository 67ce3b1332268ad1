//! HTTPS: ALPN picks HTTP/2 (or HTTP/1.1 on the same port); streams, replay, auth and CORS over HTTP/2; one stalled
//! HTTP/2 stream is evicted while its siblings keep receiving; limits, idle and bad TLS input; shutdown.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use reqwest::{Client, Version};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use typed_eventsource_server::auth::Role;
use typed_eventsource_server::config::Config;
use typed_eventsource_server::config::ConnConfig;
use typed_eventsource_server::tls::{self_signed, Tls};
use typed_eventsource_server::{serve_tls, AppState};

type Events = std::pin::Pin<
    Box<
        dyn futures::Stream<
                Item = Result<eventsource_stream::Event, eventsource_stream::EventStreamError<reqwest::Error>>,
            > + Send,
    >,
>;

struct TlsServer {
    url: String,
    addr: std::net::SocketAddr,
    state: AppState,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    cert_der: Vec<u8>,
}

impl TlsServer {
    /// A client trusting only the test certificate; it offers h2 and http/1.1.
    fn client(&self) -> Client {
        self.builder().build().unwrap()
    }

    /// A client that speaks HTTP/1.1 only (ALPN `http/1.1`).
    fn h1_client(&self) -> Client {
        self.builder().http1_only().build().unwrap()
    }

    fn builder(&self) -> reqwest::ClientBuilder {
        Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_der(&self.cert_der).unwrap())
    }

    fn token(&self, user: &str, role: Role) -> String {
        self.state.auth.keys.mint(user, role, 600).unwrap()
    }

    /// One metric line's value, read with `client` (so an h2 client reads it on its own connection).
    async fn metric(&self, client: &Client, name: &str) -> u64 {
        let text = client.get(format!("{}/metrics", self.url)).send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no metric {name} in {text}"))
            .trim()
            .parse()
            .unwrap()
    }

    async fn wait_metric(&self, client: &Client, name: &str, want: u64, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.metric(client, name).await;
            if v == want {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{name} is {v}, want {want}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const H2_CONNS: &str = "sse_open_connections{protocol=\"h2\"}";
const H1_CONNS: &str = "sse_open_connections{protocol=\"http/1.1\"}";
const BROADCAST: &str = "sse_open_streams{kind=\"broadcast\"}";
const EVICTED: &str = "sse_slow_clients_evicted_total";

async fn spawn_tls(config: Config) -> TlsServer {
    let dev = self_signed().unwrap();
    let tls = Tls::from_pem(dev.cert_pem.as_bytes(), dev.key_pem.as_bytes()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::open(config).await.unwrap();
    let handle = tokio::spawn(serve_tls(listener, state.clone(), tls, std::future::pending()));
    TlsServer { url: format!("https://{addr}"), addr, state, handle, cert_der: dev.cert_der }
}

fn auth_config() -> Config {
    Config { secret: "test-secret".into(), ..Config::default() }
}

fn dev_config() -> Config {
    Config { dev: true, ..auth_config() }
}

/// Opens an event stream, asserting HTTP/2, 200 and `text/event-stream`.
async fn open_h2(req: reqwest::RequestBuilder) -> Events {
    let res = req.header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    Box::pin(res.bytes_stream().eventsource())
}

async fn next(events: &mut Events) -> eventsource_stream::Event {
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("timed out waiting for an event")
        .expect("stream ended")
        .expect("stream error")
}

/// Publishes `text` on the broadcast topic.
async fn publish(s: &TlsServer, client: &Client, token: Option<&str>, text: &str) {
    let mut req = client
        .post(format!("{}/update", s.url))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "text": text }).to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn alpn_picks_h2_and_http1_clients_still_work_on_the_same_port() {
    let s = spawn_tls(dev_config()).await;
    let h2 = s.client();
    let res = h2.get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["status"], "ok");

    let h1 = s.h1_client();
    let res = h1.get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(res.version(), Version::HTTP_11);
    assert_eq!(res.status(), 200);
    // An HTTP/1.1 stream over TLS works too: one asking for `text/event-stream` (served without hyper's buffers once
    // its head is parsed), and one that does not (served by hyper).
    let res = h1.get(format!("{}/subscribe", s.url)).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(res.version(), Version::HTTP_11);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut h1_events: Events = Box::pin(res.bytes_stream().eventsource());
    let res = h1.get(format!("{}/subscribe", s.url)).send().await.unwrap();
    assert_eq!(res.version(), Version::HTTP_11);
    let mut h1_hyper_events: Events = Box::pin(res.bytes_stream().eventsource());
    publish(&s, &h2, None, "to both").await;
    assert_eq!(text_of(&next(&mut h1_events).await), "to both");
    assert_eq!(text_of(&next(&mut h1_hyper_events).await), "to both");
    // HTTP/1.1 holds a connection per open stream: the streams', plus one for this request.
    assert_eq!(s.metric(&h1, H1_CONNS).await, 3);
    // HTTP/2 multiplexes everything on one.
    assert_eq!(s.metric(&h2, H2_CONNS).await, 1);
    // Plain HTTP to the TLS port gets nothing but a closed connection.
    let plain = reqwest::Client::new().get(format!("http://{}/healthz", s.addr)).send().await;
    assert!(plain.is_err(), "{plain:?}");
}

/// The `text` of an `/update` event (its data is the JSON the POST answered).
fn text_of(e: &eventsource_stream::Event) -> String {
    let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
    v["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn streams_replay_and_auth_over_one_h2_connection() {
    let s = spawn_tls(auth_config()).await;
    let c = s.client();
    let publisher = s.token("ops", Role::Publisher);
    let alice = s.token("alice", Role::Subscriber);
    let bob = s.token("bob", Role::Subscriber);
    // The ids as a stream shows them.
    let mut first = open_h2(c.get(format!("{}/subscribe", s.url))).await;
    let mut ids = Vec::new();
    for i in 1..=5 {
        publish(&s, &c, Some(&publisher), &format!("m{i}")).await;
        ids.push(next(&mut first).await.id);
    }
    drop(first);
    // Replay: exactly what followed the second event, then live events.
    let mut replay = open_h2(c.get(format!("{}/subscribe", s.url)).header("last-event-id", &ids[1])).await;
    for i in 3..=5 {
        let e = next(&mut replay).await;
        assert_eq!((e.id.as_str(), text_of(&e)), (ids[i - 1].as_str(), format!("m{i}")));
    }
    // Several live streams multiplexed on the same connection.
    let mut live = Vec::new();
    for _ in 0..3 {
        live.push(open_h2(c.get(format!("{}/subscribe", s.url))).await);
    }
    // Auth: missing token 401, another user's 403, a subscriber token on a publish endpoint 403.
    let status = |req: reqwest::RequestBuilder| async move { req.send().await.unwrap().status() };
    assert_eq!(status(c.get(format!("{}/sse/alice", s.url))).await, 401);
    assert_eq!(status(c.get(format!("{}/sse/alice", s.url)).bearer_auth(&bob)).await, 403);
    let notify = |tok: &str| {
        c.post(format!("{}/notify/alice", s.url))
            .bearer_auth(tok)
            .header("content-type", "application/json")
            .body(r#"{"event":"card","data":{"n":1}}"#)
    };
    assert_eq!(status(notify(&alice)).await, 403);
    let mut alice_events = open_h2(c.get(format!("{}/sse/alice?token={alice}", s.url))).await;
    assert_eq!(status(notify(&publisher)).await, 200);
    let e = next(&mut alice_events).await;
    assert_eq!((e.event.as_str(), e.data.as_str()), ("card", r#"{"n":1}"#));

    publish(&s, &c, Some(&publisher), "live").await;
    let e = next(&mut replay).await;
    assert_eq!(text_of(&e), "live");
    for ev in &mut live {
        let got = next(ev).await;
        assert_eq!((got.id.as_str(), text_of(&got)), (e.id.as_str(), "live".to_owned()));
    }
    s.wait_metric(&c, BROADCAST, 4, 5).await;
    assert_eq!(s.metric(&c, H2_CONNS).await, 1, "every request shared one HTTP/2 connection");
    // CORS preflight over h2.
    let res = c
        .request(reqwest::Method::OPTIONS, format!("{}/subscribe", s.url))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none(), "origin not configured");
    // Closing a stream frees it at once (the stream, not the connection).
    drop(live);
    s.wait_metric(&c, BROADCAST, 1, 5).await;
    assert_eq!(s.metric(&c, H2_CONNS).await, 1);
}

#[tokio::test]
async fn cors_origin_is_mirrored_over_h2() {
    let s = spawn_tls(Config { cors_origins: vec!["https://app.example.com".into()], ..auth_config() }).await;
    let res = s
        .client()
        .request(reqwest::Method::OPTIONS, format!("{}/subscribe", s.url))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "last-event-id")
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
}

/// Every receiver gets exactly the events `range` (texts `"{i} xxx..."`) next, each within 5 s.
async fn received(siblings: &mut [tokio::sync::mpsc::UnboundedReceiver<String>], range: std::ops::Range<u32>) {
    let want: Vec<String> = range.map(|i| format!("{i} {}", "x".repeat(1000))).collect();
    for rx in siblings.iter_mut() {
        for w in &want {
            let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("a sibling stalled");
            assert!(got.as_ref() == Some(w), "a sibling missed an event");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_h2_stream_is_evicted_while_its_siblings_keep_receiving() {
    // The siblings must get 300 events while the stalled stream is still open: a race with its eviction timer. Here
    // that takes about a second; a 10 s stall limit leaves 9 s for a loaded machine (and the test says so if not).
    const STALL: Duration = Duration::from_secs(10);
    let s = spawn_tls(Config { write_stall: STALL, ..dev_config() }).await;
    // A small per-stream window (the client's), a large connection window: the stalled stream's unread bytes must
    // not starve its siblings at the connection level on the client side.
    let c = s
        .builder()
        .http2_initial_stream_window_size(65_535)
        .http2_initial_connection_window_size(16 * 1024 * 1024)
        .build()
        .unwrap();
    // The stalled stream: its response is kept but never read.
    let stalled = c.get(format!("{}/subscribe", s.url)).send().await.unwrap();
    assert_eq!(stalled.version(), Version::HTTP_2);
    // Three siblings on the same connection, each read continuously by its own task.
    let mut siblings = Vec::new();
    for _ in 0..3 {
        let mut ev = open_h2(c.get(format!("{}/subscribe", s.url))).await;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(e)) = ev.next().await {
                if tx.send(text_of(&e)).is_err() {
                    break;
                }
            }
        });
        siblings.push(rx);
    }
    assert_eq!(s.metric(&c, BROADCAST).await, 4);
    // ~300 KiB in 300 events: far more than the stalled stream's window, send buffer and a coalesced chunk.
    let filler = "x".repeat(1000);
    let started = std::time::Instant::now();
    for i in 0..300 {
        publish(&s, &c, None, &format!("{i} {filler}")).await;
    }
    received(&mut siblings, 0..300).await;
    let took = started.elapsed();
    assert!(took < STALL, "the machine took {took:?} to deliver 300 events: too slow to tell eviction from blocking");
    // All delivered while the stalled stream was still open (blocked, not yet evicted).
    assert_eq!(s.metric(&c, BROADCAST).await, 4);
    assert_eq!(s.metric(&c, EVICTED).await, 0);
    // Then the stalled stream, and only it, is evicted.
    s.wait_metric(&c, EVICTED, 1, STALL.as_secs() + 5).await;
    s.wait_metric(&c, BROADCAST, 3, 5).await;
    for i in 300..320 {
        publish(&s, &c, None, &format!("{i} {filler}")).await;
    }
    received(&mut siblings, 300..320).await;
    assert_eq!(s.metric(&c, H2_CONNS).await, 1, "only the stream was dropped, not the connection");
    assert_eq!(s.metric(&c, EVICTED).await, 1);
    // The stalled client, reading at last, gets what was in flight, then the reset.
    let mut body = stalled.bytes_stream();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match body.next().await {
                Some(Ok(_)) => {}
                Some(Err(_)) => return true,
                None => return false,
            }
        }
    })
    .await
    .unwrap();
    assert!(ended, "the evicted stream ends with a reset");
}

#[tokio::test]
async fn h2_streams_past_the_per_connection_limit_wait_for_a_free_slot() {
    let s = spawn_tls(Config { conn: ConnConfig { h2_max_streams: 2, ..ConnConfig::default() }, ..dev_config() }).await;
    let c = s.client();
    let first = open_h2(c.get(format!("{}/subscribe", s.url))).await;
    let _second = open_h2(c.get(format!("{}/subscribe", s.url))).await;
    let third = tokio::spawn(c.get(format!("{}/healthz", s.url)).send());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "a third concurrent stream was accepted");
    drop(first);
    let res = tokio::time::timeout(Duration::from_secs(5), third).await.unwrap().unwrap().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(s.metric(&s.h1_client(), H2_CONNS).await, 1);
}

#[tokio::test]
async fn oversized_h2_headers_are_refused() {
    let s = spawn_tls(dev_config()).await;
    let c = s.client();
    // Within --max-header-bytes (32 KiB by default): served.
    let res = c.get(format!("{}/healthz", s.url)).header("x-big", "a".repeat(20 * 1024)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = c.get(format!("{}/healthz", s.url)).header("x-big", "a".repeat(40 * 1024)).send().await;
    // Refused with a status the client can read, not a reset or a dropped connection.
    assert_eq!(res.map(|r| r.status()).expect("an answer, not a connection error"), 431);
    // The connection (or a new one) still serves normal requests.
    assert_eq!(c.get(format!("{}/healthz", s.url)).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn idle_h2_connections_are_closed() {
    let conn = ConnConfig { idle_timeout: Duration::from_millis(500), ..ConnConfig::default() };
    let s = spawn_tls(Config { conn, ..dev_config() }).await;
    let c = s.client();
    assert_eq!(c.get(format!("{}/healthz", s.url)).send().await.unwrap().version(), Version::HTTP_2);
    let h1 = s.h1_client();
    assert_eq!(s.metric(&h1, H2_CONNS).await, 1);
    // An open stream keeps its connection, however long it lasts.
    let stream = open_h2(c.get(format!("{}/subscribe", s.url))).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(s.metric(&h1, H2_CONNS).await, 1);
    drop(stream);
    // Without streams: GOAWAY within two idle periods.
    s.wait_metric(&h1, H2_CONNS, 0, 3).await;
}

#[tokio::test]
async fn bad_tls_input_is_closed_within_the_handshake_timeout_and_affects_nobody() {
    let conn = ConnConfig { tls_handshake_timeout: Duration::from_secs(1), ..ConnConfig::default() };
    let s = spawn_tls(Config { conn, ..dev_config() }).await;
    let c = s.client();
    let mut stream = open_h2(c.get(format!("{}/subscribe", s.url))).await;

    /// Reads until EOF or error; returns how long it took.
    async fn until_closed(sock: &mut tokio::net::TcpStream) -> Duration {
        let t = tokio::time::Instant::now();
        let mut buf = [0u8; 256];
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(n) = sock.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await
        .expect("the server kept the connection open");
        t.elapsed()
    }
    // Plain HTTP: refused at once.
    let mut plain = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    assert!(until_closed(&mut plain).await < Duration::from_millis(900));
    // A truncated ClientHello: closed by the handshake timeout.
    let mut truncated = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    truncated.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]).await.unwrap();
    // A slowloris: one byte of a long ClientHello every 200 ms still ends at the timeout.
    let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let slow_writer = tokio::spawn(async move {
        let hello = [0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
        for b in hello.iter().chain(std::iter::repeat(&0u8)) {
            if slow.write_all(&[*b]).await.is_err() {
                return tokio::time::Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        unreachable!()
    });
    let t = until_closed(&mut truncated).await;
    assert!(t >= Duration::from_millis(800) && t < Duration::from_millis(2500), "{t:?}");
    let started = tokio::time::Instant::now();
    let slow_closed = tokio::time::timeout(Duration::from_secs(5), slow_writer).await.unwrap().unwrap();
    assert!(slow_closed - started < Duration::from_secs(3), "the slow handshake lasted {:?}", slow_closed - started);
    // Meanwhile the healthy connection was not affected.
    publish(&s, &c, None, "still here").await;
    assert_eq!(text_of(&next(&mut stream).await), "still here");
}

#[tokio::test]
async fn shutdown_ends_h2_streams_and_serve_returns_within_the_grace_period() {
    let s = spawn_tls(dev_config()).await;
    let c = s.client();
    let mut streams = Vec::new();
    for path in ["/subscribe", "/sse/alice", "/subscribe"] {
        streams.push(c.get(format!("{}{path}", s.url)).send().await.unwrap());
    }
    let t = tokio::time::Instant::now();
    s.state.shutdown();
    tokio::time::timeout(Duration::from_secs(2), s.handle).await.expect("serve did not return").unwrap().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    for mut r in streams {
        let ended =
            tokio::time::timeout(Duration::from_secs(1), async { while let Ok(Some(_)) = r.chunk().await {} }).await;
        assert!(ended.is_ok(), "a stream stayed open");
    }
    // GOAWAY: the connection is gone, new requests fail.
    assert!(c.get(format!("{}/healthz", s.url)).send().await.is_err());
}

/// TLS connections start on the streams runtime (server/src/conn/streams.rs) and an HTTP/1.1 one moves to the main
/// runtime with its first request that is not an event stream: a publish over TLS still reaches every stream of both
/// protocols, and shutdown still waits for every connection: when `serve_tls` returns, none is open and every stream
/// has ended.
#[tokio::test]
async fn serve_tls_returns_only_after_every_h2_and_tls_http1_stream_ended() {
    use typed_eventsource_server::metrics::Protocol;
    let s = spawn_tls(dev_config()).await;
    let mut streams = Vec::new();
    // Three HTTP/2 connections (a client each) of 20 streams, and 20 HTTP/1.1 connections over TLS.
    let h2_clients: Vec<Client> = (0..3).map(|_| s.client()).collect();
    for c in &h2_clients {
        for _ in 0..20 {
            streams.push(open_h2(c.get(format!("{}/subscribe", s.url))).await);
        }
    }
    let h1 = s.h1_client();
    for _ in 0..20 {
        let res = h1.get(format!("{}/subscribe", s.url)).header("accept", "text/event-stream").send().await.unwrap();
        assert_eq!((res.version(), res.status().as_u16()), (Version::HTTP_11, 200));
        streams.push(Box::pin(res.bytes_stream().eventsource()));
    }
    s.wait_metric(&s.client(), BROADCAST, 80, 5).await;
    // The publisher's own TLS connection (HTTP/1.1), moved to the main runtime by its publish, then kept alive.
    let publisher = s.h1_client();
    publish(&s, &publisher, None, "to both protocols").await;
    for events in &mut streams {
        assert_eq!(text_of(&next(events).await), "to both protocols");
    }
    s.state.shutdown();
    tokio::time::timeout(Duration::from_secs(5), s.handle).await.expect("serve_tls did not return").unwrap().unwrap();
    for protocol in [Protocol::H2, Protocol::Http1] {
        assert_eq!(s.state.metrics.open_connections(protocol), 0, "serve_tls returned while {protocol:?} was open");
    }
    for mut events in streams {
        let ended =
            tokio::time::timeout(Duration::from_secs(1), async { while let Some(Ok(_)) = events.next().await {} })
                .await;
        assert!(ended.is_ok(), "a stream stayed open after serve_tls returned");
    }
}

#[tokio::test]
async fn heartbeats_jobs_and_limits_over_h2() {
    let s = spawn_tls(Config {
        heartbeat: Duration::from_millis(200),
        max_streams: 2,
        max_anonymous_streams: Some(2),
        max_job_streams: Some(2),
        max_body_bytes: 1024,
        ..dev_config()
    })
    .await;
    let c = s.client();
    // Heartbeats on an idle stream.
    let mut res = c.get(format!("{}/subscribe", s.url)).send().await.unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    let mut text = String::new();
    while !text.contains(": keep-alive") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), res.chunk()).await.unwrap().unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    // A job's stream: its whole history, ending with `finished`.
    let job = c
        .post(format!("{}/jobs", s.url))
        .header("content-type", "application/json")
        .body(r#"{"steps": 2, "intervalMs": 0}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(job.status(), 200);
    let id = job.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let mut events = open_h2(c.get(format!("{}/jobs/{id}/events", s.url))).await;
    loop {
        let e = next(&mut events).await;
        if e.event == "ping" && e.data == "finished" {
            break;
        }
    }
    // --max-streams: the third stream is refused with 503.
    assert_eq!(c.get(format!("{}/subscribe", s.url)).send().await.unwrap().status(), 503);
    // Body limit: 413.
    let big = serde_json::json!({ "text": "x".repeat(2048) }).to_string();
    let res =
        c.post(format!("{}/update", s.url)).header("content-type", "application/json").body(big).send().await.unwrap();
    assert_eq!(res.status(), 413);
}
