//! Issue 11: the attacks of a hostile client, reproduced on loopback against a real server (port 0, bounded loops),
//! and what now holds: fair stream budgets, token edges, publisher-side holds, connection caps, header limits, flag
//! ranges, `--dev` Host checks.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use serde_json::Value;
use typed_eventsource_server::auth::{now_secs, Claims, TokenPolicy, PUBLISHER_ROLE};
use typed_eventsource_server::config::Config;

/// Opens `req` as an event stream; `Err(body)` when the server answered with its busy stream (`retry:` and an end).
async fn try_stream(req: reqwest::RequestBuilder) -> Result<reqwest::Response, (u16, String)> {
    let mut res = req.header("accept", "text/event-stream").send().await.unwrap();
    if res.status() != 200 {
        let status = res.status().as_u16();
        return Err((status, res.text().await.unwrap_or_default()));
    }
    let first = tokio::time::timeout(Duration::from_secs(5), res.chunk()).await.unwrap().unwrap().unwrap_or_default();
    let text = String::from_utf8_lossy(&first).into_owned();
    if text.contains("over capacity") {
        // The busy answer ends by itself: a browser reconnects after its `retry:`.
        let rest = tokio::time::timeout(Duration::from_secs(5), res.text()).await.expect("the busy stream did not end");
        assert_eq!(rest.unwrap(), "");
        return Err((200, text));
    }
    assert!(text.starts_with("retry: "), "{text}");
    Ok(res)
}

/// Asserts that a stream budget refuses `req`: the busy answer an `EventSource` reconnects after (200, `retry:` and
/// the over-capacity comment, then the end; see `try_stream`), counted in `sse_streams_refused_total` — not any
/// other failure (a 401, a 404, a 503 a browser would never retry after).
async fn assert_refused(s: &TestServer, req: reqwest::RequestBuilder, what: &str) {
    let before = s.metric("sse_streams_refused_total").await;
    match try_stream(req).await {
        Err((200, body)) => {
            assert!(body.starts_with("retry: ") && body.contains(": over capacity"), "{what}: {body:?}")
        }
        Err(other) => panic!("{what}: refused, but not with the busy answer: {other:?}"),
        Ok(_) => panic!("{what}: accepted"),
    }
    assert_eq!(s.metric("sse_streams_refused_total").await, before + 1, "{what}: counted as refused by a budget");
}

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(ip.parse::<IpAddr>().unwrap()).build().unwrap()
}

// ---- 1. Fair stream budgets ----

/// Before: with `--max-streams 100`, 100 idle anonymous `/subscribe` streams made alice's `/sse/alice` and every job
/// stream get 503. Now anonymous streams stop at half the total and job streams at a quarter.
#[tokio::test]
async fn anonymous_streams_cannot_starve_user_and_job_streams() {
    let s = spawn(Config { max_streams: 8, busy_retry: Duration::from_millis(4000), ..config() }).await;
    let c = reqwest::Client::new();
    let mut anonymous = Vec::new();
    let busy = loop {
        assert!(anonymous.len() <= 20, "anonymous streams were never refused");
        // Spread over addresses so that only the anonymous budget can refuse.
        let ip = format!("127.0.1.{}", anonymous.len() + 1);
        match try_stream(client_from(&ip).get(format!("{}/subscribe", s.url))).await {
            Ok(res) => anonymous.push(res),
            Err(busy @ (200, _)) => break busy,
            Err(other) => panic!("an anonymous stream refused, but not with the busy answer: {other:?}"),
        }
    };
    assert_eq!(anonymous.len(), 4, "anonymous budget: half of --max-streams");
    // A browser honours this `retry:` (base 4000 ms plus up to as much jitter) and reconnects by itself.
    let retry: u64 = busy.1.lines().next().unwrap().strip_prefix("retry: ").unwrap().parse().unwrap();
    assert!((4000..8000).contains(&retry), "{busy:?}");
    // A client that did not ask for an event stream gets 503 with Retry-After.
    let res = c.get(format!("{}/subscribe", s.url)).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    // Alice and the job streams still get theirs.
    let _alice = try_stream(c.get(format!("{}/sse/alice?token={}", s.url, s.token("alice")))).await.unwrap();
    let job = c
        .post(format!("{}/jobs", s.url))
        .bearer_auth(s.publisher())
        .header("content-type", "application/json")
        .body(r#"{"steps":1,"intervalMs":0}"#)
        .send()
        .await
        .unwrap();
    let id = job.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let url = format!("{}/jobs/{id}/events", s.url);
    let _j1 = try_stream(c.get(&url)).await.unwrap();
    let _j2 = try_stream(c.get(&url)).await.unwrap();
    // Job streams have their own budget (a quarter): the third is refused, alice's second tab is not.
    assert_refused(&s, c.get(&url), "a third job stream").await;
    let _alice2 = try_stream(c.get(format!("{}/sse/alice?token={}", s.url, s.token("alice")))).await.unwrap();
    assert_eq!(s.metric("sse_open_streams{kind=\"user\"}").await, 2);
    assert_eq!(s.metric("sse_streams_refused_total").await, 3);
}

#[tokio::test]
async fn per_address_and_per_user_stream_budgets() {
    let s = spawn(Config { max_streams_per_ip: 3, max_streams_per_user: 2, ..config() }).await;
    let a = client_from("127.0.2.1");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(try_stream(a.get(format!("{}/subscribe", s.url))).await.unwrap());
    }
    assert_refused(&s, a.get(format!("{}/subscribe", s.url)), "4th stream from one address").await;
    // Another address is not affected.
    held.push(try_stream(client_from("127.0.2.2").get(format!("{}/subscribe", s.url))).await.unwrap());
    // Per user: alice's third tab (from other addresses) is refused, bob's first is not.
    let alice = |ip: &str| client_from(ip).get(format!("{}/sse/alice?token={}", s.url, s.token("alice")));
    held.push(try_stream(alice("127.0.2.3")).await.unwrap());
    held.push(try_stream(alice("127.0.2.4")).await.unwrap());
    assert_refused(&s, alice("127.0.2.5"), "alice's third stream").await;
    held.push(
        try_stream(client_from("127.0.2.5").get(format!("{}/sse/bob?token={}", s.url, s.token("bob")))).await.unwrap(),
    );
    // Closing a stream gives its budget back.
    held.truncate(0);
    s.wait_metric("sse_open_streams{kind=\"broadcast\"}", 0, 5).await;
    s.wait_metric("sse_open_streams{kind=\"user\"}", 0, 5).await;
    for _ in 0..3 {
        held.push(try_stream(a.get(format!("{}/subscribe", s.url))).await.unwrap());
    }
    held.push(try_stream(alice("127.0.2.3")).await.unwrap());
}

// ---- 4. Tokens ----

#[tokio::test]
async fn token_edges_nbf_and_each_credential_tried() {
    let s = spawn(config()).await;
    let url = format!("{}/sse/alice", s.url);
    let c = reqwest::Client::new();
    let status = |req: reqwest::RequestBuilder| async move { req.send().await.unwrap().status().as_u16() };
    let keys = &s.state.auth.keys;
    // Before: a token valid only in ten years was accepted.
    let later = now_secs() + 10 * 365 * 86_400;
    let future = keys
        .mint_claims(&Claims { sub: "alice".into(), exp: later + 3600, nbf: Some(later), ..Claims::default() })
        .unwrap();
    assert_eq!(status(c.get(format!("{url}?token={future}"))).await, 401);
    let now = keys
        .mint_claims(&Claims { sub: "alice".into(), exp: now_secs() + 60, nbf: Some(now_secs()), ..Claims::default() })
        .unwrap();
    let ok = c.get(format!("{url}?token={now}")).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    drop(ok);
    // Before: an invalid bearer header hid a valid cookie. Now each credential is tried.
    let cookie = format!("sse_token={}", s.token("alice"));
    let res = c.get(&url).bearer_auth("garbage").header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 200);
    drop(res);
    let res = c.get(format!("{url}?token=garbage")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status(), 200);
    drop(res);
    // Only invalid ones: 401.
    assert_eq!(status(c.get(&url).bearer_auth("garbage").header("cookie", "sse_token=bad")).await, 401);
}

#[tokio::test]
async fn required_issuer_and_audience() {
    let policy = TokenPolicy { issuer: Some("https://auth.example".into()), audience: Some("sse".into()) };
    let s = spawn(Config { token_policy: policy, ..config() }).await;
    let keys = &s.state.auth.keys;
    let mint = |iss: Option<&str>, aud: Option<&str>, role: Option<&str>| {
        keys.mint_claims(&Claims {
            sub: "alice".into(),
            exp: now_secs() + 60,
            iss: iss.map(str::to_owned),
            aud: aud.map(str::to_owned),
            role: role.map(str::to_owned),
            ..Claims::default()
        })
        .unwrap()
    };
    let c = reqwest::Client::new();
    let url = format!("{}/sse/alice", s.url);
    for (iss, aud, want) in [
        (None, None, 401),
        (Some("https://auth.example"), None, 401),
        (None, Some("sse"), 401),
        (Some("https://other"), Some("sse"), 401),
        (Some("https://auth.example"), Some("other"), 401),
        (Some("https://auth.example"), Some("sse"), 200),
    ] {
        let res = c.get(format!("{url}?token={}", mint(iss, aud, None))).send().await.unwrap();
        assert_eq!(res.status(), want, "{iss:?} {aud:?}");
    }
    // Publishers too.
    let publish = |tok: String| {
        c.post(format!("{}/update", s.url))
            .bearer_auth(tok)
            .header("content-type", "application/json")
            .body(r#"{"text":"x"}"#)
            .send()
    };
    assert_eq!(publish(mint(None, None, Some(PUBLISHER_ROLE))).await.unwrap().status(), 401);
    assert_eq!(
        publish(mint(Some("https://auth.example"), Some("sse"), Some(PUBLISHER_ROLE))).await.unwrap().status(),
        200
    );
}

#[test]
fn short_secrets_are_refused_outside_dev() {
    use clap::Parser as _;
    use typed_eventsource_server::config::{Cli, Command, ConfigError};
    let parse = |args: &[&str]| {
        let Command::Serve(a) = Cli::try_parse_from(args).unwrap().into_command() else { panic!("not serve") };
        Config::try_from(*a)
    };
    // Before: a 1-byte --secret was accepted.
    assert!(matches!(parse(&["x", "serve", "--secret", "s"]), Err(ConfigError::WeakSecret)));
    assert!(matches!(parse(&["x", "serve", "--secret", &"k".repeat(31)]), Err(ConfigError::WeakSecret)));
    assert!(parse(&["x", "serve", "--secret", &"k".repeat(32)]).is_ok());
    assert!(parse(&["x", "serve", "--dev", "--secret", "s"]).is_ok());
}

#[test]
fn token_query_values_are_redacted_in_logged_uris() {
    use typed_eventsource_server::redacted_uri;
    let uri: axum::http::Uri = "/sse/alice?lastEventId=1&token=eyJ.secret.sig&Token=x".parse().unwrap();
    let logged = redacted_uri(&uri);
    assert_eq!(logged, "/sse/alice?lastEventId=1&token=REDACTED&Token=REDACTED");
    assert!(!logged.contains("secret"));
}

/// The real binary at `RUST_LOG=debug`: the request line is logged, the token is not (before: the full `?token=`).
#[tokio::test]
async fn debug_logs_never_show_a_token() {
    let dir = process::TempDir::new("redact");
    let mut cmd = std::process::Command::new(process::BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--secret", SECRET]).env("RUST_LOG", "debug");
    let child = process::try_start_command(cmd, dir.path()).unwrap();
    let keys = typed_eventsource_server::auth::Keys::new(SECRET);
    let token = keys.mint("alice", typed_eventsource_server::auth::Role::Subscriber, 60).unwrap();
    let res = reqwest::get(format!("{}/sse/alice?token={token}", child.url)).await.unwrap();
    assert_eq!(res.status(), 200);
    drop(res);
    let res = reqwest::get(format!("{}/sse/alice?token={token}x", child.url)).await.unwrap();
    assert_eq!(res.status(), 401);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !child.log().contains("token=REDACTED") {
        assert!(tokio::time::Instant::now() < deadline, "no request logged: {}", child.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sig = token.rsplit('.').next().unwrap();
    assert!(!child.log().contains(sig), "the token's signature is in the log");
}

// ---- 5. Publisher-side holds ----

/// Sends `head` (and `body`) on a raw connection and returns the response's status line and the time it took.
async fn raw_request(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (String, Duration) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let t = tokio::time::Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await.expect("no answer").unwrap();
        assert!(n > 0, "closed without an answer");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    (text.lines().next().unwrap().to_owned(), t.elapsed())
}

/// Before: `Content-Length: 1000000000000` with 4 bytes sent was held open with no answer.
#[tokio::test]
async fn huge_declared_body_gets_413_at_once_and_a_stalled_one_408() {
    let s = spawn(Config { body_timeout: Duration::from_secs(1), ..config() }).await;
    // (Both answers are told apart by their status; the times only show nothing waits forever.)
    let head = |len: u64| {
        format!(
            "POST /update HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n",
            s.publisher()
        )
    };
    let (status, took) = raw_request(s.addr, &head(1_000_000_000_000), b"{\"te").await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // Within the limit but never finished: 408 once the body timeout passes (not held forever).
    let (status, took) = raw_request(s.addr, &head(100), b"{\"te").await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(s.metric("sse_events_published_total").await, 0);
}

/// Before: a 5 MB body from a client that sends it all before reading got a connection error (EPIPE/reset) instead
/// of the 413. The server now reads and discards it (up to 16 MiB) and then answers.
#[tokio::test]
async fn a_client_sending_a_large_body_reads_the_413() {
    let s = spawn(config()).await;
    let big = format!(r#"{{"text":"{}"}}"#, "x".repeat(5_000_000));
    // A client that writes the whole body before reading, as a simple fetch client does: every write must succeed
    // and then the answer be there.
    let head = format!(
        "POST /update HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        s.publisher(),
        big.len()
    );
    for _ in 0..3 {
        let (status, _) = raw_request(s.addr, &head, big.as_bytes()).await;
        assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    }
    let c = reqwest::Client::new();
    for _ in 0..3 {
        let res = c
            .post(format!("{}/update", s.url))
            .bearer_auth(s.publisher())
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .expect("the client must read the answer, not a reset");
        assert_eq!(res.status(), 413);
        assert!(res.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("65536"));
    }
    // Chunked, without a Content-Length: the same.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..80).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let res = c
        .post(format!("{}/update", s.url))
        .bearer_auth(s.publisher())
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("the client must read the answer, not a reset");
    assert_eq!(res.status(), 413);
}

/// Before: 256 jobs × 1,000 steps × 60 s filled every job slot for ~16.7 h.
#[tokio::test]
async fn job_work_and_jobs_per_publisher_are_bounded() {
    let s = spawn(Config { max_job_duration: Duration::from_secs(30), max_jobs_per_publisher: 2, ..config() }).await;
    let c = reqwest::Client::new();
    let keys = &s.state.auth.keys;
    let publisher = |name: &str| keys.mint(name, typed_eventsource_server::auth::Role::Publisher, 600).unwrap();
    let job = |tok: String, body: &'static str| {
        c.post(format!("{}/jobs", s.url)).bearer_auth(tok).header("content-type", "application/json").body(body).send()
    };
    let res = job(publisher("ops"), r#"{"steps":1000,"intervalMs":60000}"#).await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("30000 ms"));
    // 20 s each: allowed, two at a time per publisher.
    for _ in 0..2 {
        assert_eq!(job(publisher("ops"), r#"{"steps":200,"intervalMs":100}"#).await.unwrap().status(), 200);
    }
    let res = job(publisher("ops"), r#"{"steps":200,"intervalMs":100}"#).await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // Another publisher is not affected; a finished job gives its slot back.
    assert_eq!(job(publisher("other"), r#"{"steps":1,"intervalMs":0}"#).await.unwrap().status(), 200);
    assert_eq!(job(publisher("other"), r#"{"steps":1,"intervalMs":0}"#).await.unwrap().status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = job(publisher("other"), r#"{"steps":1,"intervalMs":0}"#).await.unwrap().status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 429);
        assert!(tokio::time::Instant::now() < deadline, "the finished jobs never gave their slots back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Before: a publisher could send an event named `replay-gap`, faking the server's gap signal.
#[tokio::test]
async fn publishers_cannot_send_reserved_event_names() {
    let s = spawn(config()).await;
    let res = reqwest::Client::new()
        .post(format!("{}/notify/alice", s.url))
        .bearer_auth(s.publisher())
        .header("content-type", "application/json")
        .body(r#"{"event":"replay-gap","data":{"requested":"x"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(s.metric("sse_events_published_total").await, 0);
}

// ---- 2. Connection caps ----

/// Opens `n` idle TCP connections from `ip` (nothing sent).
async fn idle_connections(addr: std::net::SocketAddr, ip: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        v.push(socket.connect(addr).await.unwrap());
    }
    v
}

/// Whether the server closes `tcp` (EOF or reset) within `ms`.
async fn closed_within(tcp: &mut tokio::net::TcpStream, ms: u64) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(Duration::from_millis(ms), tcp.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

#[tokio::test]
async fn connection_cap_keeps_a_reserve_for_healthz_and_metrics() {
    use typed_eventsource_server::config::ConnConfig;
    let conn = ConnConfig { max_connections: Some(20), ..ConnConfig::default() };
    let s = spawn(Config { conn, ..dev_config() }).await;
    let mut idle = idle_connections(s.addr, "127.0.5.1", 20).await;
    // Full: a new connection is served /healthz and /metrics only.
    let res = reqwest::get(format!("{}/healthz", s.url)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(reqwest::get(format!("{}/metrics", s.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("sse_open_connections"));
    let res = reqwest::get(format!("{}/subscribe", s.url)).await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    // The reserve itself is bounded per address: a third idle reserve connection from one address is closed at once.
    let mut reserve = idle_connections(s.addr, "127.0.5.2", 3).await;
    assert!(closed_within(&mut reserve[2], 2000).await, "a third reserve connection from one address was kept");
    assert!(!closed_within(&mut reserve[0], 200).await);
    assert!(s.state.metrics.connections_refused.load(std::sync::atomic::Ordering::Relaxed) >= 4);
    // Connections closing free their places.
    idle.truncate(0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let res = reqwest::Client::new()
            .get(format!("{}/subscribe", s.url))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        if res.status() == 200 && res.headers()["content-type"] == "text/event-stream" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the cap never freed: {}", res.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn per_address_connection_cap() {
    use typed_eventsource_server::config::ConnConfig;
    let conn = ConnConfig { max_connections_per_ip: 5, ..ConnConfig::default() };
    let s = spawn(Config { conn, ..dev_config() }).await;
    let mut held = idle_connections(s.addr, "127.0.6.1", 6).await;
    assert!(closed_within(&mut held[5], 2000).await, "6th connection from one address was kept");
    assert!(!closed_within(&mut held[0], 200).await);
    // Another address is served.
    let res = client_from("127.0.6.2").get(format!("{}/healthz", s.url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// Before: 21,000 idle connections exhausted the 20,000 descriptors: `/healthz` timed out and the log filled with
/// `accept failed: Too many open files`. The real binary under `ulimit -n 256` now caps connections below the limit
/// (checked at start), closes the extra ones, keeps answering `/healthz` and logs a few lines only.
#[tokio::test]
async fn descriptor_exhaustion_is_avoided_and_healthz_answers() {
    let dir = process::TempDir::new("fds");
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &format!("ulimit -n 256 && exec {} --listen 127.0.0.1:0 --dev --store memory", process::BIN)]);
    let child = process::try_start_command(cmd, dir.path()).unwrap();
    let addr: std::net::SocketAddr = child.url.trim_start_matches("http://").parse().unwrap();
    let mut idle = Vec::new();
    for i in 1..=8 {
        idle.extend(idle_connections(addr, &format!("127.0.7.{i}"), 50).await);
    }
    // 400 connections against 256 descriptors: /healthz still answers, promptly.
    for _ in 0..3 {
        let res = tokio::time::timeout(Duration::from_secs(5), reqwest::get(format!("{}/healthz", child.url))).await;
        assert_eq!(res.expect("/healthz timed out").unwrap().status(), 200);
    }
    let log = child.log();
    assert!(log.contains("max_connections=160"), "{log}");
    assert!(!log.contains("Too many open files"), "{log}");
    let warnings = log.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings <= 4, "{warnings} warnings: {log}");
    drop(idle);
}

// ---- 6. Smaller items ----

/// Before: request heads over ~8 KiB got 431, so an 8.7 KB cookie holding a valid token was refused.
#[tokio::test]
async fn large_cookie_heads_are_accepted_up_to_the_header_limit() {
    let s = spawn(config()).await;
    let c = reqwest::Client::new();
    let cookie = format!("tracking={}; sse_token={}", "t".repeat(8_700), s.token("alice"));
    let res = c
        .get(format!("{}/sse/alice", s.url))
        .header("cookie", cookie)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(res);
    let res = c.get(format!("{}/healthz", s.url)).header("x-big", "a".repeat(40 * 1024)).send().await.unwrap();
    assert_eq!(res.status(), 431);
}

/// Before: `--heartbeat-secs 18446744073709551615` made the first stream panic and killed the process. Every
/// duration flag is now range-checked at start.
#[test]
fn flag_ranges_are_checked_at_start() {
    use clap::Parser as _;
    use typed_eventsource_server::config::Cli;
    // Every duration (and the header size) flag with its range: both ends accepted, one past either end and the
    // largest u64 refused with a message naming the flag.
    let flags: [(&str, u64, u64); 12] = [
        ("--heartbeat-secs", 1, 3600),
        ("--idle-timeout-secs", 1, 86_400),
        ("--tls-handshake-timeout-secs", 1, 3600),
        ("--write-stall-secs", 1, 3600),
        ("--body-timeout-secs", 1, 3600),
        ("--busy-retry-ms", 1, 3_600_000),
        ("--retry-ms", 0, 86_400_000),
        ("--max-job-secs", 1, 604_800),
        ("--job-ttl-secs", 0, 31_536_000),
        ("--job-lease-secs", 1, 3600),
        // Below 8 KiB is below hyper's minimum.
        ("--max-header-bytes", 8192, 1_048_576),
        ("--client-buffer", 1, 1_000_000),
    ];
    let parse = |flag: &str, value: u64| Cli::try_parse_from(["x", "serve", "--dev", flag, &value.to_string()]);
    for (flag, min, max) in flags {
        for ok in [min, max] {
            assert!(parse(flag, ok).is_ok(), "{flag} {ok} was refused: {:?}", parse(flag, ok).err());
        }
        let past = [min.checked_sub(1), max.checked_add(1), Some(u64::MAX)];
        for bad in past.into_iter().flatten() {
            let err = parse(flag, bad).err().unwrap_or_else(|| panic!("{flag} {bad} was accepted")).to_string();
            assert!(err.contains(flag) && err.contains(&bad.to_string()), "{flag} {bad}: {err}");
        }
    }
    assert!(Cli::try_parse_from(["x", "serve", "--dev", "--heartbeat-secs", "3600"]).is_ok());
}

/// The real binary with the largest accepted heartbeat: streams work (before: the largest u64 panicked).
#[tokio::test]
async fn largest_heartbeat_does_not_panic() {
    let dir = process::TempDir::new("heartbeat");
    let child = process::start_in(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--dev", "--store", "memory", "--heartbeat-secs", "3600"],
    );
    let mut res = reqwest::get(format!("{}/subscribe", child.url)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.chunk().await.unwrap().is_some());
    assert_eq!(reqwest::get(format!("{}/healthz", child.url)).await.unwrap().status(), 200);
}

/// Before: `--dev` never checked `Host`, so a page on a rebinding name (`evil.example` resolving to 127.0.0.1) could
/// read `/sse/bob` and publish. Now `--dev` serves loopback names only (and `--allowed-host` ones).
#[tokio::test]
async fn dev_mode_refuses_non_loopback_hosts() {
    let s = spawn(dev_config()).await;
    let port = s.addr.port();
    let c = reqwest::Client::new();
    let get = |host: String| c.get(format!("{}/healthz", s.url)).header("host", host).send();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".into(),
        format!("[::1]:{port}"),
        format!("app.localhost:{port}"),
    ] {
        assert_eq!(get(host.clone()).await.unwrap().status(), 200, "{host}");
    }
    for host in
        [format!("evil.example:{port}"), "127.0.0.1.evil.example".into(), format!("192.168.1.5:{port}"), String::new()]
    {
        assert_eq!(get(host.clone()).await.unwrap().status(), 403, "{host:?}");
    }
    let res = c
        .post(format!("{}/update", s.url))
        .header("host", "evil.example")
        .header("content-type", "application/json")
        .body(r#"{"text":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(s.metric("sse_events_published_total").await, 0);
    // An operator can name more hosts.
    let s = spawn(Config { allowed_hosts: vec!["devbox.lan".into()], ..dev_config() }).await;
    let res = c.get(format!("{}/healthz", s.url)).header("host", "devbox.lan:8080").send().await.unwrap();
    assert_eq!(res.status(), 200);
    // Without --dev (auth on), Host is not checked.
    let s = spawn(config()).await;
    assert_eq!(c.get(format!("{}/healthz", s.url)).header("host", "evil.example").send().await.unwrap().status(), 200);
}

// ---- 3. Bounded history ----

/// Before: 20 users × 256 notifications × 60 KB added 295 MB of RSS (the only bound was 100,000 users × 256 × 64 KB).
/// Now each user stream keeps at most `max_user_topic_bytes` and all of them `max_user_history_bytes`, the least
/// recently used streams going first — and a client of a deleted stream gets the gap signal, never a silent loss.
#[tokio::test]
async fn user_history_is_bounded_in_bytes() {
    use typed_eventsource_server::store::topic;
    const TOPIC: u64 = 64 * 1024;
    const ALL: u64 = 512 * 1024;
    let s = spawn(Config { max_user_topic_bytes: TOPIC, max_user_history_bytes: ALL, ..config() }).await;
    let c = reqwest::Client::new();
    let data = serde_json::json!({ "blob": "x".repeat(8_000) }).to_string();
    let body = format!(r#"{{"data":{data}}}"#);
    let mut first_id = None;
    for u in 0..20 {
        for _ in 0..12 {
            let res = c
                .post(format!("{}/notify/u{u}", s.url))
                .bearer_auth(s.publisher())
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
            first_id.get_or_insert(id);
        }
    }
    // 20 × 12 × ~8 KB ≈ 1.9 MB published; what is kept fits the budgets.
    let (mut total, mut kept_topics) = (0u64, 0);
    for u in 0..20 {
        let snap = s.state.hub.store().read(&topic::user(&format!("u{u}")), 0, 10_000).await.unwrap();
        let bytes: u64 = snap.events.iter().map(|e| e.frame.len() as u64).sum();
        assert!(bytes <= TOPIC, "u{u} keeps {bytes} bytes");
        if let Some(state) = snap.topic {
            kept_topics += 1;
            assert_eq!(state.bytes, bytes);
        }
        total += bytes;
    }
    assert!(total <= ALL, "{total} bytes kept in all");
    assert!(kept_topics >= 7, "only {kept_topics} user streams kept");
    // The most recent user keeps its newest events; the first one was deleted, and its client learns it.
    let snap = s.state.hub.store().read(&topic::user("u19"), 0, 10_000).await.unwrap();
    assert!(!snap.events.is_empty());
    let mut ev =
        open(c.get(format!("{}/sse/u0?token={}", s.url, s.token("u0"))).header("last-event-id", first_id.unwrap()))
            .await;
    let gap = next(&mut ev).await;
    assert_eq!(gap.event, "replay-gap");
    assert_eq!(serde_json::from_str::<Value>(&gap.data).unwrap()["reason"], "expired");
}

/// Behind a proxy every connection comes from the proxy: with `--client-ip-header`, stream budgets count the address
/// the proxy names (the last one of `X-Forwarded-For`).
#[tokio::test]
async fn per_address_budgets_behind_a_proxy() {
    let s = spawn(Config { max_streams_per_ip: 2, client_ip_header: Some("x-forwarded-for".into()), ..config() }).await;
    let c = reqwest::Client::new();
    let sub = |xff: &str| c.get(format!("{}/subscribe", s.url)).header("x-forwarded-for", xff.to_owned());
    let mut held = vec![
        try_stream(sub("203.0.113.7")).await.unwrap(),
        try_stream(sub("198.51.100.1, 203.0.113.7")).await.unwrap(),
    ];
    assert_refused(&s, sub("203.0.113.7"), "third stream of one forwarded address").await;
    // A forged first entry does not help: the proxy's (last) entry counts.
    assert_refused(&s, sub("192.0.2.99, 203.0.113.7"), "a forged first X-Forwarded-For entry").await;
    held.push(try_stream(sub("203.0.113.8")).await.unwrap());
    assert_eq!(held.len(), 3);
}
