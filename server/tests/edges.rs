//! Issue 22, the server's edges: the `/healthz`/`/metrics` reserve cannot be held by arbitrary clients, IPv6
//! per-address budgets count a /64 as one client, job admission is atomic, the `Host` is parsed strictly and the
//! request target's authority wins over it (RFC 9112 §3.2.2, RFC 9113 §8.3.1), and long pipelines on the HTTP/1.1
//! hand-off path are all answered. Real server on loopback, port 0.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use typed_eventsource_server::config::Config;
use typed_eventsource_server::config::ConnConfig;
use typed_eventsource_server::limits::AddressPolicy;

/// Opens `n` idle TCP connections from `ip` (nothing sent).
async fn idle_connections(addr: std::net::SocketAddr, ip: &str, n: usize) -> Vec<TcpStream> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        v.push(socket.connect(addr).await.unwrap());
    }
    v
}

/// Whether the server closes `tcp` (EOF or reset) within `ms`.
async fn closed_within(tcp: &mut TcpStream, ms: u64) -> bool {
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(Duration::from_millis(ms), tcp.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

/// Sends `request` on a new connection and reads the whole answer (the server closes after it, or 5 s pass).
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&out).contains("\r\n\r\n") {
                return;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {response:?}"))
}

// ---- 5. The ops reserve and address groups ----

/// Before: with `--max-connections 20`, 16 addresses × 2 idle connections took the whole reserve (32) and 8 of 10
/// health checks were reset. Now the reserve serves `--ops-allow` addresses only (here 127.0.0.1): the attackers'
/// reserve connections are closed at once and every health check from the monitoring address is answered.
#[tokio::test]
async fn the_ops_reserve_cannot_be_held_by_other_addresses() {
    let addresses = AddressPolicy { ops_allow: vec!["127.0.0.1/32".parse().unwrap()], ..AddressPolicy::default() };
    let conn = ConnConfig { max_connections: Some(20), addresses, ..ConnConfig::default() };
    let s = spawn(Config { conn, ..dev_config() }).await;
    let _full = idle_connections(s.addr, "127.0.8.1", 20).await;
    let mut attackers = Vec::new();
    for i in 1..=16 {
        attackers.extend(idle_connections(s.addr, &format!("127.0.9.{i}"), 2).await);
    }
    for (i, tcp) in attackers.iter_mut().enumerate() {
        assert!(closed_within(tcp, 2000).await, "attacker connection {i} was kept in the reserve");
    }
    let mut answered = 0;
    for _ in 0..10 {
        let res = reqwest::Client::new().get(format!("{}/healthz", s.url)).send().await;
        answered += usize::from(res.is_ok_and(|r| r.status() == 200));
    }
    assert_eq!(answered, 10, "health checks answered past the cap");
}

/// Before: per-address budgets counted exact IPv6 addresses (a /64 is any number of them). Now streams from one /64
/// share the `--max-streams-per-ip` budget; another /64 has its own.
#[tokio::test]
async fn ipv6_clients_of_one_64_share_a_stream_budget() {
    let s = spawn(Config { max_streams_per_ip: 2, client_ip_header: Some("x-forwarded-for".into()), ..config() }).await;
    let c = reqwest::Client::new();
    let open = |xff: &'static str| {
        let req =
            c.get(format!("{}/subscribe", s.url)).header("x-forwarded-for", xff).header("accept", "text/event-stream");
        async move {
            let mut res = req.send().await.unwrap();
            let first = tokio::time::timeout(Duration::from_secs(5), res.chunk()).await.unwrap().unwrap().unwrap();
            (!String::from_utf8_lossy(&first).contains("over capacity")).then_some(res)
        }
    };
    let held = [open("2001:db8:5:6::1").await.unwrap(), open("2001:db8:5:6:aaaa::2").await.unwrap()];
    assert!(open("2001:db8:5:6:ffff:ffff:ffff:3").await.is_none(), "a third stream from the same /64");
    assert!(open("2001:db8:5:7::1").await.is_some(), "another /64 is another client");
    drop(held);
}

// ---- 6. Atomic job admission ----

/// Before: `--max-jobs 256` ended with 263 running jobs under concurrent `POST /jobs` (each request counted the jobs,
/// then stored its own). Now at most `max_jobs` are admitted; the others get 503.
#[tokio::test]
async fn concurrent_job_creation_never_passes_max_jobs() {
    const MAX: usize = 6;
    let s = spawn(Config { max_jobs: MAX, max_jobs_per_publisher: 1000, ..dev_config() }).await;
    let c = reqwest::Client::new();
    let posts = (0..40).map(|_| {
        c.post(format!("{}/jobs", s.url))
            .header("content-type", "application/json")
            .body(r#"{"steps": 1, "intervalMs": 60000}"#)
            .send()
    });
    let statuses: Vec<u16> =
        futures::future::join_all(posts).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    let created = statuses.iter().filter(|&&st| st == 200).count();
    assert!(statuses.iter().all(|&st| st == 200 || st == 503), "{statuses:?}");
    let stored = s.state.hub.store().jobs().await.unwrap();
    assert_eq!(created, MAX, "{statuses:?}");
    assert_eq!(stored.len(), MAX, "jobs kept with --max-jobs {MAX}");
}

// ---- 7. Host: strict parsing, and the request target's authority first ----

/// Before: `Host: [::1]evil.com` counted as loopback in `--dev`, and `Host` won over an absolute-form URI. Now an
/// invalid or doubled `Host` is 400, and the absolute-form authority decides.
#[tokio::test]
async fn host_is_parsed_strictly_and_the_absolute_uri_wins() {
    let s = spawn(dev_config()).await;
    let port = s.addr.port();
    let get = |target: &str, hosts: &[&str]| {
        let hosts: String = hosts.iter().map(|h| format!("host: {h}\r\n")).collect();
        format!("GET {target} HTTP/1.1\r\n{hosts}connection: close\r\n\r\n")
    };
    for bad in ["[::1]evil.com", "[::1]:80evil", "localhost:99999", "user@localhost", "localhost evil"] {
        let r = raw(s.addr, &get("/healthz", &[bad])).await;
        assert_eq!(status_of(&r), 400, "Host: {bad}\n{r}");
    }
    let r = raw(s.addr, &get("/healthz", &["localhost", "evil.example"])).await;
    assert_eq!(status_of(&r), 400, "two Host headers\n{r}");
    assert_eq!(status_of(&raw(s.addr, &get("/healthz", &[&format!("[::1]:{port}")])).await), 200);
    // Absolute form: the target's authority is the host, whatever `Host` says.
    let r = raw(s.addr, &get("http://evil.example/healthz", &["localhost"])).await;
    assert_eq!(status_of(&r), 403, "{r}");
    let r = raw(s.addr, &get(&format!("http://localhost:{port}/healthz"), &["evil.example"])).await;
    assert_eq!(status_of(&r), 200, "{r}");
    // Event-stream requests (served without hyper) get the same check.
    let sse = |target: &str, host: &str| {
        format!("GET {target} HTTP/1.1\r\nhost: {host}\r\naccept: text/event-stream\r\nconnection: close\r\n\r\n")
    };
    assert_eq!(status_of(&raw(s.addr, &sse("http://evil.example/subscribe", "localhost")).await), 403);
    assert_eq!(status_of(&raw(s.addr, &sse("/subscribe", "[::1]evil.com")).await), 400);
}

/// Before: over HTTP/2 the `Host` header won over `:authority`. Now `:authority` decides (RFC 9113 §8.3.1).
#[tokio::test]
async fn h2_authority_wins_over_host() {
    use typed_eventsource_server::tls::{self_signed, Tls};
    let dev = self_signed().unwrap();
    let tls = Tls::from_pem(dev.cert_pem.as_bytes(), dev.key_pem.as_bytes()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = typed_eventsource_server::AppState::open(dev_config()).await.unwrap();
    tokio::spawn(typed_eventsource_server::serve_tls(listener, state, tls, std::future::pending()));
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .danger_accept_invalid_certs(true)
        .resolve("evil.example", addr)
        .build()
        .unwrap();
    let get = |authority: &str, host: &str| {
        client.get(format!("https://{authority}:{}/healthz", addr.port())).header("host", host.to_owned()).send()
    };
    let res = get("evil.example", "localhost").await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), 403, ":authority evil.example with Host: localhost");
    let res = get("127.0.0.1", "evil.example").await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), 200, ":authority 127.0.0.1 with Host: evil.example");
}

// ---- 11. Long pipelines on the HTTP/1.1 hand-off path ----

/// Before: more than `--max-header-bytes` of requests pipelined behind an event stream reset the connection after
/// the first response. Now reading pauses while the response streams, and every request is answered in order.
#[tokio::test]
async fn long_pipelines_behind_an_event_stream_are_all_answered() {
    let mut config = Config { fixtures: true, ..dev_config() };
    config.conn.max_header_bytes = 8192;
    let s = spawn(config).await;
    let head = |path: &str| format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\r\n");
    const STREAMS: usize = 200;
    let mut requests: String = (0..STREAMS).map(|_| head("/fixtures/drop?events=1")).collect();
    requests.push_str("GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    assert!(requests.len() > 2 * 8192, "the pipeline must pass the head limit: {} bytes", requests.len());
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    let (mut rd, mut wr) = tcp.split();
    let write = async {
        wr.write_all(requests.as_bytes()).await.unwrap();
    };
    let read = async {
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut out)).await.expect("timed out").unwrap();
        String::from_utf8(out).unwrap()
    };
    let ((), text) = tokio::join!(write, read);
    let responses: Vec<&str> = text.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(responses.len(), STREAMS + 1, "answered {} of {} requests", responses.len(), STREAMS + 1);
    for r in &responses[..STREAMS] {
        assert!(r.starts_with("200 OK\r\n") && r.contains("\nid: 1\n") && r.ends_with("\r\n0\r\n\r\n"), "{r}");
    }
    assert!(responses[STREAMS].starts_with("200 OK\r\n") && responses[STREAMS].contains(r#""status":"ok""#));
}
