//! `sse-loadgen`: the load generator of the fan-out benchmark (see `bench/README.md`).
//!
//! It holds N raw HTTP/1.1 `GET /subscribe` streams spread over the source addresses 127.0.0.2–127.0.0.51, removes
//! the chunked transfer coding itself and reads frames with `sse_codec::Decoder`, checks every stream's ids for gaps
//! and duplicates, and measures publish→receive latency from the send timestamp the publisher puts in each event's
//! text (`POST /update {"text": "t=<µs since start>;xxx…"}`).
//!
//! ```text
//! sse-loadgen run --server NAME=COMMAND ... [--small 1000] [--large 10000] [--secs 4] [--rate 1000] [--md FILE]
//! sse-loadgen publish --url http://ADDR --count 100000      (fills a server's history, for the browser bench)
//! ```
//!
//! `run` starts each COMMAND (through `sh -c 'exec COMMAND'`; it must print `listening on http://ADDR`), then for each
//! server in turn: the idle-memory phase (VmRSS before and after connecting `large` streams), throughput at `large`
//! streams, then throughput and latency at `small` streams; it prints a markdown table with ratios against the
//! servers after the first.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Source addresses: 127.0.0.2 ..= 127.0.0.51.
const SOURCE_IPS: u8 = 50;
/// Events a throughput publisher may run ahead of the average subscriber (below the servers' 1024-event buffers).
const WINDOW: u64 = 256;
/// Length of the `text` field: with the servers' JSON and framing, frames are about 100 bytes.
const TEXT_LEN: usize = 38;

// ---------------------------------------------------------------------------------------------------------------
// Latency histogram: 10 µs buckets up to 10 ms, then 1 ms buckets up to 1 s.

const FINE: u64 = 1000;
const COARSE: u64 = 990;

struct Hist {
    buckets: Vec<AtomicU64>,
}

impl Hist {
    fn new() -> Self {
        Hist { buckets: (0..(FINE + COARSE + 1)).map(|_| AtomicU64::new(0)).collect() }
    }

    fn record(&self, micros: u64) {
        let i = if micros < FINE * 10 {
            micros / 10
        } else if micros < 1_000_000 {
            FINE + (micros - FINE * 10) / 1000
        } else {
            FINE + COARSE
        };
        self.buckets[i as usize].fetch_add(1, Relaxed);
    }

    fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Relaxed);
        }
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// Upper bound of the bucket holding quantile `q`, in milliseconds.
    fn quantile_ms(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return f64::NAN;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= target {
                let i = i as u64;
                let upper_us = if i < FINE { (i + 1) * 10 } else { FINE * 10 + (i - FINE + 1) * 1000 };
                return upper_us as f64 / 1000.0;
            }
        }
        f64::INFINITY
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Shared counters of the subscriber connections.

struct Shared {
    epoch: Instant,
    /// Events received (phase-relative; reset between phases once every stream is drained).
    delivered: AtomicU64,
    gaps: AtomicU64,
    dups: AtomicU64,
    /// Streams that ended or failed before the phase closed them.
    broken: AtomicU64,
    /// Streams whose response head (200, `text/event-stream`) and first body bytes arrived.
    ready: AtomicUsize,
    /// Micros since `epoch` of the last received event.
    last_event_at: AtomicU64,
    recording: AtomicBool,
    hist: Hist,
    /// Frames whose data had no `t=` timestamp (should stay 0).
    untimed: AtomicU64,
}

impl Shared {
    fn micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

/// Removes the HTTP/1.1 chunked transfer coding, incrementally.
#[derive(Default)]
struct Dechunk {
    state: ChunkState,
    size: usize,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Done,
}

impl Dechunk {
    /// Feeds `input`, calling `out` with the payload pieces; false once the last chunk has been read.
    fn feed(&mut self, mut input: &[u8], out: &mut impl FnMut(&[u8])) -> bool {
        use ChunkState::*;
        while !input.is_empty() {
            match self.state {
                Done => return false,
                Data => {
                    let n = self.size.min(input.len());
                    out(&input[..n]);
                    self.size -= n;
                    input = &input[n..];
                    if self.size == 0 {
                        self.state = DataCr;
                    }
                    continue;
                }
                _ => {}
            }
            let b = input[0];
            input = &input[1..];
            self.state = match (self.state, b) {
                (Size, b'0'..=b'9') => {
                    self.size = self.size * 16 + usize::from(b - b'0');
                    Size
                }
                (Size, b'a'..=b'f') => {
                    self.size = self.size * 16 + usize::from(b - b'a' + 10);
                    Size
                }
                (Size, b'A'..=b'F') => {
                    self.size = self.size * 16 + usize::from(b - b'A' + 10);
                    Size
                }
                (Size | Ext, b'\r') => SizeLf,
                (Size | Ext | SizeLf, b'\n') => {
                    if self.size == 0 {
                        Done
                    } else {
                        Data
                    }
                }
                (Size | Ext, _) => Ext,
                (DataCr, b'\r') => DataLf,
                (DataCr | DataLf, b'\n') => {
                    self.size = 0;
                    Size
                }
                (s, _) => s,
            };
        }
        self.state != Done
    }
}

/// Parses the id and the `t=<µs>` send timestamp of one event and updates the counters.
struct StreamCheck {
    last_id: u64,
}

impl StreamCheck {
    fn event(&mut self, shared: &Shared, id: &str, data: &str, now: u64) {
        let id: u64 = id.parse().unwrap_or(0);
        if self.last_id != 0 {
            if id <= self.last_id {
                shared.dups.fetch_add(1, Relaxed);
            } else if id > self.last_id + 1 {
                shared.gaps.fetch_add(id - self.last_id - 1, Relaxed);
            }
        }
        self.last_id = self.last_id.max(id);
        if shared.recording.load(Relaxed) {
            match data.find("t=") {
                Some(i) => {
                    let digits = data[i + 2..].bytes().take_while(u8::is_ascii_digit).fold(0u64, |a, d| a * 10 + u64::from(d - b'0'));
                    shared.hist.record(now.saturating_sub(digits));
                }
                None => {
                    shared.untimed.fetch_add(1, Relaxed);
                }
            }
        }
    }
}

/// One subscriber: connect from `source`, send the GET, then read frames until the task is aborted.
async fn subscriber(shared: Arc<Shared>, server: SocketAddr, source: Ipv4Addr, connect_gate: Arc<tokio::sync::Semaphore>) {
    let permit = connect_gate.acquire_owned().await;
    let mut stream = None;
    for attempt in 0..20 {
        match connect(server, source).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => {
                if attempt == 19 {
                    eprintln!("connect from {source} failed: {e}");
                }
                tokio::time::sleep(Duration::from_millis(50 * (attempt + 1))).await;
            }
        }
    }
    let Some(mut stream) = stream else {
        shared.broken.fetch_add(1, Relaxed);
        return;
    };
    let req = format!(
        "GET /subscribe HTTP/1.1\r\nHost: {server}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
    );
    if stream.write_all(req.as_bytes()).await.is_err() {
        shared.broken.fetch_add(1, Relaxed);
        return;
    }
    let mut permit = Some(permit);
    let mut buf = vec![0u8; 16 * 1024];
    let mut head: Vec<u8> = Vec::new();
    let mut in_body = false;
    let mut chunked = false;
    let mut dechunk = Dechunk::default();
    let mut decoder = sse_codec::Decoder::new();
    let mut check = StreamCheck { last_id: 0 };
    let mut ready = false;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut body = &buf[..n];
        if !in_body {
            head.extend_from_slice(body);
            let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
            if !text.starts_with("http/1.1 200") || !text.contains("text/event-stream") {
                eprintln!("bad response head: {}", text.lines().next().unwrap_or(""));
                break;
            }
            chunked = text.contains("transfer-encoding: chunked");
            in_body = true;
            let rest = head.len() - (end + 4);
            body = &buf[n - rest..n];
        }
        let mut got = false;
        let alive = if chunked {
            dechunk.feed(body, &mut |piece| {
                got |= !piece.is_empty();
                decoder.push(piece);
            })
        } else {
            got = !body.is_empty();
            decoder.push(body);
            true
        };
        if got && !ready {
            ready = true;
            permit = None;
            shared.ready.fetch_add(1, Relaxed);
        }
        let now = shared.micros();
        let mut count = 0;
        while let Some(ev) = decoder.next_ref() {
            if let Ok(ev) = ev {
                check.event(&shared, ev.last_event_id, ev.data, now);
                count += 1;
            }
        }
        if count > 0 {
            shared.delivered.fetch_add(count, Relaxed);
            shared.last_event_at.store(now, Relaxed);
        }
        if !alive {
            break;
        }
    }
    drop(permit);
    shared.broken.fetch_add(1, Relaxed);
    if ready {
        shared.ready.fetch_sub(1, Relaxed);
    }
}

async fn connect(server: SocketAddr, source: Ipv4Addr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.into(), 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

// ---------------------------------------------------------------------------------------------------------------
// Publisher: keep-alive POST /update connections.

struct Publisher {
    stream: TcpStream,
    server: SocketAddr,
    buf: Vec<u8>,
    body: String,
}

impl Publisher {
    async fn new(server: SocketAddr) -> Res<Self> {
        let stream = TcpStream::connect(server).await?;
        stream.set_nodelay(true)?;
        Ok(Publisher { stream, server, buf: Vec::with_capacity(4096), body: String::with_capacity(128) })
    }

    /// Publishes one event whose text carries `t=<stamp>` padded to [`TEXT_LEN`].
    async fn publish(&mut self, stamp: u64) -> Res<()> {
        use std::fmt::Write as _;
        let mut text = format!("t={stamp};");
        while text.len() < TEXT_LEN {
            text.push('x');
        }
        self.body.clear();
        write!(self.body, "{{\"text\":\"{text}\"}}")?;
        let req = format!(
            "POST /update HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            self.server,
            self.body.len(),
            self.body
        );
        self.stream.write_all(req.as_bytes()).await?;
        // Read one response: head, then Content-Length bytes.
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                if !head.starts_with("http/1.1 200") {
                    return Err(format!("publish failed: {}", head.lines().next().unwrap_or("")).into());
                }
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or("publish response without content-length")?;
                let total = end + 4 + len;
                while self.buf.len() < total {
                    self.read_more().await?;
                }
                self.buf.drain(..total);
                return Ok(());
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> Res<()> {
        let mut tmp = [0u8; 4096];
        let n = self.stream.read(&mut tmp).await?;
        if n == 0 {
            return Err("publisher connection closed".into());
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Process figures from /proc.

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0))))
        .unwrap_or(0)
}

/// utime + stime of `pid` (all threads), in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            // Fields 14 and 15 of stat are utime and stime; `after` starts at field 3.
            Some((f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?) as f64 / tick)
        })
        .unwrap_or(0.0)
}

fn self_cpu_secs() -> f64 {
    cpu_secs(std::process::id())
}

// ---------------------------------------------------------------------------------------------------------------
// Phases.

struct Bench {
    shared: Arc<Shared>,
    server: SocketAddr,
    pid: u32,
    conns: Vec<JoinHandle<()>>,
    next_source: usize,
}

#[derive(Debug, Default, Clone)]
struct Throughput {
    published: u64,
    delivered: u64,
    secs: f64,
    per_sec: f64,
    server_cpu: f64,
    loadgen_cpu: f64,
    missing: u64,
}

impl Bench {
    fn new(server: SocketAddr, pid: u32) -> Self {
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            delivered: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            dups: AtomicU64::new(0),
            broken: AtomicU64::new(0),
            ready: AtomicUsize::new(0),
            last_event_at: AtomicU64::new(0),
            recording: AtomicBool::new(false),
            hist: Hist::new(),
            untimed: AtomicU64::new(0),
        });
        Bench { shared, server, pid, conns: Vec::new(), next_source: 0 }
    }

    /// Opens streams until `n` are open and ready.
    async fn connect(&mut self, n: usize) -> Res<()> {
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        while self.conns.len() < n {
            let source = Ipv4Addr::new(127, 0, 0, 2 + (self.next_source % usize::from(SOURCE_IPS)) as u8);
            self.next_source += 1;
            self.conns.push(tokio::spawn(subscriber(Arc::clone(&self.shared), self.server, source, Arc::clone(&gate))));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.shared.ready.load(Relaxed) < n {
            if Instant::now() > deadline {
                return Err(format!("only {} of {n} streams ready after 60 s", self.shared.ready.load(Relaxed)).into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    async fn close_all(&mut self) {
        for c in self.conns.drain(..) {
            c.abort();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.shared.ready.store(0, Relaxed);
        self.shared.broken.store(0, Relaxed);
    }

    fn reset_counters(&self) {
        self.shared.delivered.store(0, Relaxed);
        self.shared.hist.reset();
    }

    /// Waits until `expected` deliveries arrived (or `timeout` passes without progress).
    async fn drain(&self, expected: u64) {
        let mut last = self.shared.delivered.load(Relaxed);
        let mut last_change = Instant::now();
        while self.shared.delivered.load(Relaxed) < expected {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now = self.shared.delivered.load(Relaxed);
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
    }

    /// Publishes as fast as the streams drain (at most [`WINDOW`] events ahead) for `secs`.
    async fn throughput(&self, secs: f64, publishers: usize) -> Res<Throughput> {
        self.reset_counters();
        let n = self.conns.len() as u64;
        let next = Arc::new(AtomicU64::new(0));
        let server_cpu0 = cpu_secs(self.pid);
        let own_cpu0 = self_cpu_secs();
        let start_us = self.shared.micros();
        let stop = Instant::now() + Duration::from_secs_f64(secs);
        let mut tasks = Vec::new();
        for _ in 0..publishers {
            let mut p = Publisher::new(self.server).await?;
            let shared = Arc::clone(&self.shared);
            let next = Arc::clone(&next);
            tasks.push(tokio::spawn(async move {
                let mut sent = 0u64;
                while Instant::now() < stop {
                    let j = next.fetch_add(1, Relaxed);
                    while j >= WINDOW && shared.delivered.load(Relaxed) < n * (j - WINDOW) {
                        tokio::time::sleep(Duration::from_micros(500)).await;
                    }
                    p.publish(shared.micros()).await?;
                    sent += 1;
                }
                Ok::<u64, Box<dyn std::error::Error + Send + Sync>>(sent)
            }));
        }
        let mut published = 0;
        for t in tasks {
            published += t.await??;
        }
        let expected = published * n;
        self.drain(expected).await;
        let delivered = self.shared.delivered.load(Relaxed);
        let end_us = self.shared.last_event_at.load(Relaxed).max(start_us + 1);
        let secs = (end_us - start_us) as f64 / 1e6;
        Ok(Throughput {
            published,
            delivered,
            secs,
            per_sec: delivered as f64 / secs,
            server_cpu: cpu_secs(self.pid) - server_cpu0,
            loadgen_cpu: self_cpu_secs() - own_cpu0,
            missing: expected.saturating_sub(delivered),
        })
    }

    /// Publishes `rate` events/s for `secs`, recording publish→receive latency of every delivery.
    async fn latency(&self, rate: u64, secs: f64) -> Res<(f64, f64, f64, u64, u64)> {
        self.reset_counters();
        let n = self.conns.len() as u64;
        let total = (rate as f64 * secs) as u64;
        let publishers = 8u64;
        let start = tokio::time::Instant::now() + Duration::from_millis(10);
        self.shared.recording.store(true, Relaxed);
        let mut tasks = Vec::new();
        for k in 0..publishers {
            let mut p = Publisher::new(self.server).await?;
            let shared = Arc::clone(&self.shared);
            tasks.push(tokio::spawn(async move {
                let mut i = k;
                let mut sent = 0;
                // A server that cannot keep the rate is not waited for past the phase (plus 1 s): the achieved
                // rate is reported next to the latencies.
                let deadline = start + Duration::from_secs_f64(secs + 1.0);
                while i < total && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep_until(start + Duration::from_micros(i * 1_000_000 / rate)).await;
                    p.publish(shared.micros()).await?;
                    sent += 1;
                    i += publishers;
                }
                Ok::<u64, Box<dyn std::error::Error + Send + Sync>>(sent)
            }));
        }
        let mut published = 0;
        for t in tasks {
            published += t.await??;
        }
        let achieved = published as f64 / start.elapsed().as_secs_f64();
        self.drain(published * n).await;
        self.shared.recording.store(false, Relaxed);
        let h = &self.shared.hist;
        let missing = (published * n).saturating_sub(self.shared.delivered.load(Relaxed));
        Ok((h.quantile_ms(0.5), h.quantile_ms(0.99), achieved, h.count(), missing))
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Running the servers.

struct Server {
    name: String,
    child: Child,
    addr: SocketAddr,
}

fn start_server(name: &str, command: &str) -> Res<Server> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {command}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().ok_or_else(|| format!("{name}: exited before listening"))??;
        if let Some(a) = line.trim().strip_prefix("listening on http://") {
            break a.parse::<SocketAddr>()?;
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { name: name.to_owned(), child, addr })
}

#[derive(Debug, Default, Clone)]
struct Figures {
    rss_before_kb: u64,
    rss_after_kb: u64,
    rss_per_conn_kb: f64,
    large: Throughput,
    small: Throughput,
    p50_ms: f64,
    p99_ms: f64,
    latency_rate: f64,
    latency_samples: u64,
    /// The same at a tenth of the rate (a load every server here can sustain).
    p50_low_ms: f64,
    p99_low_ms: f64,
    latency_low_rate: f64,
    latency_missing: u64,
    gaps: u64,
    dups: u64,
    broken: u64,
    untimed: u64,
}

async fn bench_server(server: &Server, small: usize, large: usize, secs: f64, rate: u64) -> Res<Figures> {
    let pid = server.child.id();
    let mut b = Bench::new(server.addr, pid);
    let mut f = Figures::default();
    let mut broken = 0;
    // Warm up: one stream, a few events, so lazy initialisation is not counted as per-connection memory.
    b.connect(1).await?;
    {
        let mut p = Publisher::new(server.addr).await?;
        for _ in 0..10 {
            p.publish(b.shared.micros()).await?;
        }
    }
    b.drain(10).await;
    b.close_all().await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    eprintln!("[{}] idle memory: {large} streams", server.name);
    f.rss_before_kb = rss_kb(pid);
    b.connect(large).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    f.rss_after_kb = rss_kb(pid);
    f.rss_per_conn_kb = (f.rss_after_kb as f64 - f.rss_before_kb as f64) / large as f64;

    eprintln!("[{}] throughput: {large} streams, {secs} s", server.name);
    f.large = b.throughput(secs, 4).await?;
    broken += b.shared.broken.load(Relaxed);
    b.close_all().await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    eprintln!("[{}] throughput: {small} streams, {secs} s", server.name);
    b.connect(small).await?;
    f.small = b.throughput(secs, 4).await?;
    eprintln!("[{}] latency: {small} streams x {rate} events/s", server.name);
    let (p50, p99, achieved, samples, missing) = b.latency(rate, secs.min(3.0)).await?;
    f.p50_ms = p50;
    f.p99_ms = p99;
    f.latency_rate = achieved;
    f.latency_samples = samples;
    f.latency_missing = missing;
    eprintln!("[{}] latency: {small} streams x {} events/s", server.name, rate / 10);
    let (p50, p99, achieved, _, missing) = b.latency(rate / 10, secs.min(3.0)).await?;
    f.p50_low_ms = p50;
    f.p99_low_ms = p99;
    f.latency_low_rate = achieved;
    f.latency_missing += missing;
    broken += b.shared.broken.load(Relaxed);
    b.close_all().await;
    f.gaps = b.shared.gaps.load(Relaxed);
    f.dups = b.shared.dups.load(Relaxed);
    f.broken = broken;
    f.untimed = b.shared.untimed.load(Relaxed);
    Ok(f)
}

fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M/s", v / 1e6)
    } else {
        format!("{:.0} k/s", v / 1e3)
    }
}

fn table(results: &[(String, Figures)], small: usize, large: usize, rate: u64) -> String {
    let mut out = String::new();
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    let first = &results[0].1;
    out.push_str(&format!("| figure | {} |", names.join(" | ")));
    for n in &names[1..] {
        out.push_str(&format!(" {} / {} |", names[0], n));
    }
    out.push('\n');
    out.push_str(&"|---".repeat(names.len() * 2));
    out.push_str("|\n");
    // (label, value of a result, formatted, higher is better)
    type Row<'a> = (String, Box<dyn Fn(&Figures) -> f64 + 'a>, Box<dyn Fn(f64) -> String + 'a>, bool);
    let rows: Vec<Row<'_>> = vec![
        (format!("deliveries/s, {small} streams"), Box::new(|f| f.small.per_sec), Box::new(fmt_rate), true),
        (format!("deliveries/s, {large} streams"), Box::new(|f| f.large.per_sec), Box::new(fmt_rate), true),
        (format!("RSS per idle stream, {large} streams"), Box::new(|f| f.rss_per_conn_kb), Box::new(|v| format!("{v:.1} KB")), false),
        (format!("publish→receive p50, {small} streams × {rate} ev/s"), Box::new(|f| f.p50_ms), Box::new(|v| format!("{v:.2} ms")), false),
        (format!("publish→receive p99, {small} streams × {rate} ev/s"), Box::new(|f| f.p99_ms), Box::new(|v| format!("{v:.2} ms")), false),
        (format!("latency phase: publish rate achieved (asked {rate} ev/s)"), Box::new(|f| f.latency_rate), Box::new(|v| format!("{v:.0} ev/s")), true),
        (format!("publish→receive p50, {small} streams × {} ev/s", rate / 10), Box::new(|f| f.p50_low_ms), Box::new(|v| format!("{v:.2} ms")), false),
        (format!("publish→receive p99, {small} streams × {} ev/s", rate / 10), Box::new(|f| f.p99_low_ms), Box::new(|v| format!("{v:.2} ms")), false),
        (format!("server CPU s per 100k deliveries, {large} streams"), Box::new(|f| f.large.server_cpu / f.large.delivered.max(1) as f64 * 1e5), Box::new(|v| format!("{v:.3} s")), false),
        (format!("server CPU s per 100k deliveries, {small} streams"), Box::new(|f| f.small.server_cpu / f.small.delivered.max(1) as f64 * 1e5), Box::new(|v| format!("{v:.3} s")), false),
    ];
    for (label, get, show, higher_better) in &rows {
        out.push_str(&format!("| {label} |"));
        for (_, f) in results {
            out.push_str(&format!(" {} |", show(get(f))));
        }
        let ours = get(first);
        for (_, f) in &results[1..] {
            let theirs = get(f);
            // Ratios read "how many times better": higher is better in every column.
            let r = if *higher_better { ours / theirs } else { theirs / ours };
            out.push_str(&format!(" {r:.2}× |"));
        }
        out.push('\n');
    }
    out.push_str("| gaps / duplicates / missing / broken streams |");
    for (_, f) in results {
        out.push_str(&format!(
            " {} / {} / {} / {} |",
            f.gaps,
            f.dups,
            f.small.missing + f.large.missing + f.latency_missing,
            f.broken
        ));
    }
    out.push_str(&" |".repeat(names.len() - 1));
    out.push('\n');
    out.push('\n');
    out.push_str("Details (per server): events published at 1k/10k, latency-phase publish rate achieved and samples, \
                  VmRSS before/after the idle streams, load-generator CPU share of each throughput phase.\n\n");
    for (name, f) in results {
        out.push_str(&format!(
            "- {name}: published {} / {} events; latency phase {:.0} ev/s, {} samples; VmRSS {} → {} KB; \
             loadgen CPU {:.0}% / {:.0}%, server CPU {:.0}% / {:.0}% of one core (at {small} / {large})\n",
            f.small.published,
            f.large.published,
            f.latency_rate,
            f.latency_samples,
            f.rss_before_kb,
            f.rss_after_kb,
            100.0 * f.small.loadgen_cpu / f.small.secs,
            100.0 * f.large.loadgen_cpu / f.large.secs,
            100.0 * f.small.server_cpu / f.small.secs,
            100.0 * f.large.server_cpu / f.large.secs,
        ));
    }
    out
}

fn json(results: &[(String, Figures)]) -> serde_json::Value {
    let mut m = BTreeMap::new();
    for (name, f) in results {
        m.insert(
            name.clone(),
            serde_json::json!({
                "deliveries_per_sec_small": f.small.per_sec,
                "deliveries_per_sec_large": f.large.per_sec,
                "rss_per_idle_conn_kb": f.rss_per_conn_kb,
                "p50_ms": f.p50_ms,
                "p99_ms": f.p99_ms,
                "cpu_s_per_100k_large": f.large.server_cpu / f.large.delivered.max(1) as f64 * 1e5,
                "cpu_s_per_100k_small": f.small.server_cpu / f.small.delivered.max(1) as f64 * 1e5,
                "gaps": f.gaps, "dups": f.dups,
                "missing": f.small.missing + f.large.missing + f.latency_missing,
                "broken": f.broken,
                "latency_rate": f.latency_rate,
                "p50_low_ms": f.p50_low_ms, "p99_low_ms": f.p99_low_ms, "latency_low_rate": f.latency_low_rate,
            }),
        );
    }
    serde_json::to_value(m).unwrap_or_default()
}

fn arg_value<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run(args: Vec<String>) -> Res<()> {
    let small = arg_value(&args, "--small", 1000usize);
    let large = arg_value(&args, "--large", 10_000usize);
    let secs = arg_value(&args, "--secs", 4.0f64);
    let rate = arg_value(&args, "--rate", 1000u64);
    let md: Option<String> = args.iter().position(|a| a == "--md").and_then(|i| args.get(i + 1)).cloned();
    let json_out: Option<String> = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)).cloned();
    let servers: Vec<(String, String)> = args
        .windows(2)
        .filter(|w| w[0] == "--server")
        .filter_map(|w| w[1].split_once('=').map(|(n, c)| (n.to_owned(), c.to_owned())))
        .collect();
    if servers.is_empty() {
        return Err("give at least one --server NAME=COMMAND".into());
    }
    let mut results = Vec::new();
    for (name, command) in &servers {
        let mut server = start_server(name, command)?;
        eprintln!("[{name}] listening on {} (pid {})", server.addr, server.child.id());
        let r = bench_server(&server, small, large, secs, rate).await;
        let _ = server.child.kill();
        let _ = server.child.wait();
        let f = r.map_err(|e| format!("{name}: {e}"))?;
        eprintln!("[{name}] {f:?}");
        results.push((server.name.clone(), f));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let t = table(&results, small, large, rate);
    println!("{t}");
    if let Some(path) = md {
        std::fs::write(path, &t)?;
    }
    if let Some(path) = json_out {
        std::fs::write(path, serde_json::to_string_pretty(&json(&results))?)?;
    }
    Ok(())
}

/// `publish --url http://ADDR --count N`: N events as fast as 8 keep-alive connections go.
async fn publish(args: Vec<String>) -> Res<()> {
    let url: String = arg_value(&args, "--url", String::new());
    let count = arg_value(&args, "--count", 100_000u64);
    let addr: SocketAddr = url.trim_start_matches("http://").trim_end_matches('/').parse()?;
    let next = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut p = Publisher::new(addr).await?;
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Relaxed) < count {
                p.publish(epoch.elapsed().as_micros() as u64).await?;
            }
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    eprintln!("published {count} events in {:.1} s", epoch.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let r = match args.first().map(String::as_str) {
        Some("run") => runtime.block_on(run(args)),
        Some("publish") => runtime.block_on(publish(args)),
        _ => Err("usage: sse-loadgen run --server NAME=COMMAND ... | publish --url URL --count N".into()),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
