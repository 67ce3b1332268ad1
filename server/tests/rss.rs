//! Figures of the real binary: memory per idle stream, HTTP/2 (100 streams per connection) against plain HTTP/1.1
//! (one connection per stream; the goal of issue 17: at most 4 KB per idle stream at 10,000), and fan-out deliveries
//! per second at 1,000 streams over both. Heavy (10,000 streams by default, `SSE_RSS_STREAMS` to change), so ignored
//! by default:
//! `cargo test -p typed-eventsource-server --test rss -- --ignored --nocapture`. `SSE_RSS_BIN=path` measures the
//! HTTP/1.1 memory figure of another build too (e.g. one from before a change), printed alongside.
#![allow(clippy::unwrap_used)]
#![cfg(target_os = "linux")]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use typed_eventsource_server::tls::self_signed;

const BIN: &str = env!("CARGO_BIN_EXE_typed-eventsource-server");

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str]) -> (Child, String) {
    start_bin(BIN, args)
}

fn start_bin(bin: &str, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(bin)
        .args(args)
        .args(["--store", "memory"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (Child(child), line.trim().strip_prefix("listening on ").unwrap().to_owned())
}

/// The server over TLS (ALPN h2 or http/1.1) with a fresh self-signed certificate in a temporary dir named after
/// `tag`, its limits lifted; returns it, its URL, a maker of clients that trust the certificate, and the dir (for the
/// caller to remove).
fn start_tls(tag: &str) -> (Child, String, impl Fn() -> reqwest::Client, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = self_signed().unwrap();
    std::fs::write(dir.join("c.pem"), &cert.cert_pem).unwrap();
    std::fs::write(dir.join("k.pem"), &cert.key_pem).unwrap();
    let (c, k) = (dir.join("c.pem").display().to_string(), dir.join("k.pem").display().to_string());
    let (child, url) = start(&[
        "--listen",
        "127.0.0.1:0",
        "--dev",
        "--max-streams",
        "100000",
        "--max-streams-per-ip",
        "100000",
        "--max-connections-per-ip",
        "100000",
        "--tls-cert",
        &c,
        "--tls-key",
        &k,
    ]);
    let client = move || {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_der(&cert.cert_der).unwrap())
            .build()
            .unwrap()
    };
    (child, url, client, dir)
}

fn rss_kb(child: &Child) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.0.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap()
}

async fn wait_streams(client: &reqwest::Client, url: &str, n: usize) {
    for _ in 0..600 {
        let text = client.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
        if text.contains(&format!("sse_open_streams{{kind=\"broadcast\"}} {n}\n")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{n} streams never opened");
}

fn streams() -> usize {
    std::env::var("SSE_RSS_STREAMS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// Plain HTTP/1.1: one raw connection per stream; `accept` sends `Accept: text/event-stream` (as EventSource does: the
/// stream then leaves hyper after its head), else the stream stays on hyper's connection. Returns KB per stream.
async fn http1(bin: &str, n: usize, accept: bool) -> f64 {
    let (child, url) = start_bin(
        bin,
        &[
            "--listen",
            "127.0.0.1:0",
            "--dev",
            "--max-streams",
            "100000",
            "--max-streams-per-ip",
            "100000",
            "--max-connections-per-ip",
            "100000",
        ],
    );
    let addr = url.strip_prefix("http://").unwrap().to_owned();
    let client = reqwest::Client::new();
    wait_streams(&client, &url, 0).await;
    let before = rss_kb(&child);
    let mut socks = Vec::with_capacity(n);
    let head: &[u8] = if accept {
        b"GET /subscribe HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
    } else {
        b"GET /subscribe HTTP/1.1\r\nHost: localhost\r\n\r\n"
    };
    for _ in 0..n {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(head).await.unwrap();
        socks.push(s);
    }
    for s in &mut socks {
        let mut buf = [0u8; 512];
        assert!(s.read(&mut buf).await.unwrap() > 0);
    }
    wait_streams(&client, &url, n).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kb(&child);
    (after - before) as f64 / n as f64
}

/// HTTP/2 over TLS: `n / 100` connections of 100 streams. Returns KB per stream.
async fn h2(n: usize) -> f64 {
    let (child, url, client, dir) = start_tls("sse-rss");
    let probe = client();
    wait_streams(&probe, &url, 0).await;
    let before = rss_kb(&child);
    let mut held = Vec::with_capacity(n);
    for _ in 0..n / 100 {
        let c = client();
        // Connect first, so that the 100 streams share this one connection.
        assert_eq!(c.get(format!("{url}/healthz")).send().await.unwrap().version(), reqwest::Version::HTTP_2);
        let requests = (0..100).map(|_| c.get(format!("{url}/subscribe")).send());
        for r in futures::future::join_all(requests).await {
            held.push(r.unwrap());
        }
    }
    wait_streams(&probe, &url, n / 100 * 100).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kb(&child);
    let text = probe.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(&format!("sse_open_connections{{protocol=\"h2\"}} {}\n", n / 100 + 1)), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
    (after - before) as f64 / (n / 100 * 100) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: 10,000 streams per protocol"]
async fn rss_per_idle_stream_is_at_most_4_kb() {
    let n = streams();
    if let Ok(other) = std::env::var("SSE_RSS_BIN") {
        println!("HTTP/1.1 RSS per idle stream of {other}: {:.1} KB", http1(&other, n, true).await);
    }
    let h1 = http1(BIN, n, true).await;
    let h1_hyper = http1(BIN, n, false).await;
    let h2 = h2(n).await;
    println!(
        "RSS per idle stream at {n} streams: HTTP/1.1 (plain, 1 stream per connection) {h1:.1} KB \
         (without `Accept: text/event-stream`, kept on hyper's connection: {h1_hyper:.1} KB); \
         HTTP/2 (TLS, 100 streams per connection) {h2:.1} KB"
    );
    assert!(h1 <= 4.0, "HTTP/1.1: {h1:.1} KB per idle stream");
    assert!(h2 <= 4.0, "HTTP/2: {h2:.1} KB per idle stream");
}

/// The guard of the goal above in the test command (not ignored, ~10 s): 2,000 idle HTTP/1.1 streams (EventSource's
/// request: the stream leaves hyper after its head) against the debug build `cargo test` makes. Measured 2.7-3.1 KB
/// per stream in four runs on a loaded 2-core machine; the bound is the goal itself, 4 KB, so the margin is ~1 KB
/// per stream (2 MB in all: far above RSS's page-sized noise). A stream kept on hyper's connection costs 14.9 KB: it
/// fails, as does any regression adding ~1 KB per stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss_per_idle_stream_at_2000_streams_is_at_most_4_kb() {
    let n = 2_000;
    let h1 = http1(BIN, n, true).await;
    println!("RSS per idle stream at {n} streams (HTTP/1.1, debug build): {h1:.2} KB");
    assert!(h1 <= 4.0, "HTTP/1.1: {h1:.2} KB per idle stream at {n} streams");
}

/// Counts `id:` lines in a byte stream split into arbitrary chunks.
#[derive(Default)]
struct IdCounter {
    carry: Vec<u8>,
    count: u64,
}

impl IdCounter {
    fn feed(&mut self, chunk: &[u8]) {
        self.carry.extend_from_slice(chunk);
        self.count += self.carry.windows(5).filter(|w| w == b"\nid: ").count() as u64;
        let keep = self.carry.len().saturating_sub(4);
        self.carry.drain(..keep);
    }
}

/// Publishes for `secs` seconds from 4 tasks (with `publisher`, to `publish_url`) while the readers count deliveries
/// in `counted`; returns deliveries per second (counted once the last publication arrived everywhere).
async fn fanout(
    publisher: &reqwest::Client,
    publish_url: &str,
    streams: usize,
    counted: std::sync::Arc<std::sync::atomic::AtomicU64>,
    secs: u64,
) -> f64 {
    use std::sync::atomic::Ordering;
    let published = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let stop = start + Duration::from_secs(secs);
    let mut publishers = Vec::new();
    for _ in 0..4 {
        let (url, published, c) = (publish_url.to_owned(), std::sync::Arc::clone(&published), publisher.clone());
        publishers.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < stop {
                let res =
                    c.post(&url).header("content-type", "application/json").body(r#"{"text":"fan-out"}"#).send().await;
                if res.map(|r| r.status() == 200).unwrap_or(false) {
                    published.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for p in publishers {
        p.await.unwrap();
    }
    let want = published.load(Ordering::Relaxed) * streams as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while counted.load(Ordering::Relaxed) < want && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = counted.load(Ordering::Relaxed);
    assert_eq!(got, want, "deliveries missing");
    got as f64 / start.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: fan-out to 1,000 streams per protocol"]
async fn fanout_deliveries_per_second_over_h2_and_http1() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    const STREAMS: usize = 1000;
    // HTTP/1.1: raw connections.
    let (h1_child, url) = start(&[
        "--listen",
        "127.0.0.1:0",
        "--dev",
        "--max-streams",
        "100000",
        "--max-streams-per-ip",
        "100000",
        "--max-connections-per-ip",
        "100000",
    ]);
    let addr = url.strip_prefix("http://").unwrap().to_owned();
    let counted = Arc::new(AtomicU64::new(0));
    for _ in 0..STREAMS {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /subscribe HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n").await.unwrap();
        let counted = Arc::clone(&counted);
        tokio::spawn(async move {
            let (mut ids, mut buf) = (IdCounter::default(), vec![0u8; 16 * 1024]);
            while let Ok(n @ 1..) = s.read(&mut buf).await {
                let before = ids.count;
                ids.feed(&buf[..n]);
                counted.fetch_add(ids.count - before, Ordering::Relaxed);
            }
        });
    }
    wait_streams(&reqwest::Client::new(), &url, STREAMS).await;
    let h1 = fanout(&reqwest::Client::new(), &format!("{url}/update"), STREAMS, counted, 5).await;
    drop(h1_child);

    // HTTP/2 over TLS: 10 connections of 100 streams (publishers on their own HTTP/2 connection).
    let (_h2_child, url, client, dir) = start_tls("sse-fanout");
    let counted = Arc::new(AtomicU64::new(0));
    for _ in 0..STREAMS / 100 {
        let c = client();
        c.get(format!("{url}/healthz")).send().await.unwrap();
        let requests = (0..100).map(|_| c.get(format!("{url}/subscribe")).send());
        for r in futures::future::join_all(requests).await {
            let mut body = futures::StreamExt::boxed(r.unwrap().bytes_stream());
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut ids = IdCounter::default();
                while let Some(Ok(chunk)) = futures::StreamExt::next(&mut body).await {
                    let before = ids.count;
                    ids.feed(&chunk);
                    counted.fetch_add(ids.count - before, Ordering::Relaxed);
                }
            });
        }
    }
    wait_streams(&client(), &url, STREAMS).await;
    let h2 = fanout(&client(), &format!("{url}/update"), STREAMS, counted, 5).await;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "fan-out to {STREAMS} streams (readers and publishers in this process, same machine): \
         HTTP/1.1 {h1:.0} deliveries/s, HTTP/2 {h2:.0} deliveries/s"
    );
}
