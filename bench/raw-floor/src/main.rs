//! The raw-socket floor of the fan-out benchmark: what this machine can do without an HTTP framework.
//!
//! `GET /subscribe`: reads the request head, writes a minimal `200 text/event-stream` close-delimited response head
//! and a `retry:` frame, then hands the socket (non-blocking) to one of N writer threads (N = the CPUs this process
//! may run on). `POST /update {"text": …}`: encodes the frame `id: N` + `data: {"id","text","timestamp"}` once and
//! appends it to every writer's batch. Each writer takes its whole batch and writes it to each of its sockets with
//! one `write` per socket per batch (what a socket does not take is kept for it and goes first next time; a socket
//! more than 4 MiB behind, or failing, is dropped). No HTTP parser beyond the request line and `Content-Length`, no
//! per-client channel or task.
//!
//! `raw-floor [--listen 127.0.0.1:0]` prints `listening on http://ADDR`.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\nretry: 3000\n\n";
/// A socket this far behind is dropped.
const MAX_BACKLOG: usize = 4 << 20;

#[derive(Default)]
struct Inbox {
    frames: Vec<u8>,
    socks: Vec<std::net::TcpStream>,
}

#[derive(Default)]
struct Writer {
    inbox: Mutex<Inbox>,
    wake: Condvar,
}

struct Hub {
    writers: Vec<Arc<Writer>>,
    /// Next id; held while the frame is appended to every writer's batch, so ids go out in order.
    next: Mutex<u64>,
    round_robin: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Sock {
    stream: std::net::TcpStream,
    backlog: Vec<u8>,
}

fn writer_loop(w: &Writer) {
    let mut socks: Vec<Sock> = Vec::new();
    let mut frames = Vec::new();
    loop {
        let behind = socks.iter().any(|s| !s.backlog.is_empty());
        {
            let mut inbox = lock(&w.inbox);
            while inbox.frames.is_empty() && inbox.socks.is_empty() {
                if behind {
                    // Someone has unwritten bytes: retry them soon even without new frames.
                    inbox =
                        w.wake.wait_timeout(inbox, Duration::from_millis(1)).unwrap_or_else(PoisonError::into_inner).0;
                    break;
                }
                inbox = w.wake.wait(inbox).unwrap_or_else(PoisonError::into_inner);
            }
            std::mem::swap(&mut frames, &mut inbox.frames);
            socks.extend(inbox.socks.drain(..).map(|stream| Sock { stream, backlog: Vec::new() }));
        }
        socks.retain_mut(|s| {
            let buf: &[u8] = if s.backlog.is_empty() {
                &frames
            } else {
                s.backlog.extend_from_slice(&frames);
                &s.backlog
            };
            if buf.is_empty() {
                return true;
            }
            match (&s.stream).write(buf) {
                Ok(n) if n == buf.len() => {
                    s.backlog.clear();
                    true
                }
                Ok(n) => {
                    let rest = buf[n..].to_vec();
                    s.backlog = rest;
                    s.backlog.len() <= MAX_BACKLOG
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if s.backlog.is_empty() {
                        s.backlog.extend_from_slice(&frames);
                    }
                    s.backlog.len() <= MAX_BACKLOG
                }
                Err(_) => false,
            }
        });
        frames.clear();
    }
}

/// Reads one request head (and, for a POST, its body) from `buf`/`stream`; returns (method, path, body).
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Res<Option<(String, String, Vec<u8>)>> {
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let mut tmp = [0u8; 4096];
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
        if buf.len() > 64 * 1024 {
            return Err("request head too large".into());
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < end + 4 + len {
        let mut tmp = [0u8; 4096];
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = buf[end + 4..end + 4 + len].to_vec();
    buf.drain(..end + 4 + len);
    Ok(Some((method, path, body)))
}

fn publish(hub: &Hub, body: &[u8]) -> u64 {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = value.get("text").and_then(serde_json::Value::as_str).unwrap_or_default();
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut next = lock(&hub.next);
    *next += 1;
    let id = *next;
    let data = serde_json::json!({ "id": id.to_string(), "text": text, "timestamp": timestamp });
    let frame = format!("id: {id}\ndata: {data}\n\n");
    for w in &hub.writers {
        lock(&w.inbox).frames.extend_from_slice(frame.as_bytes());
        w.wake.notify_one();
    }
    id
}

async fn connection(hub: Arc<Hub>, mut stream: TcpStream) -> Res<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::new();
    while let Some((method, path, body)) = read_request(&mut stream, &mut buf).await? {
        let path = path.split('?').next().unwrap_or("");
        match (method.as_str(), path) {
            ("GET", "/subscribe") => {
                stream.write_all(HEAD).await?;
                let std_stream = stream.into_std()?;
                std_stream.set_nonblocking(true)?;
                let i = hub.round_robin.fetch_add(1, Relaxed) % hub.writers.len();
                let w = &hub.writers[i];
                lock(&w.inbox).socks.push(std_stream);
                w.wake.notify_one();
                return Ok(());
            }
            ("POST", "/update") => {
                let id = publish(&hub, &body);
                let reply = format!("{{\"id\":\"{id}\"}}");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
                    reply.len()
                );
                stream.write_all(resp.as_bytes()).await?;
            }
            _ => {
                stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?;
                return Ok(());
            }
        }
    }
    Ok(())
}

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let mut listen = String::from("127.0.0.1:0");
    while let Some(a) = args.next() {
        if a == "--listen" {
            listen = args.next().unwrap_or(listen);
        }
    }
    let n = std::thread::available_parallelism().map_or(1, usize::from);
    let writers: Vec<Arc<Writer>> = (0..n).map(|_| Arc::new(Writer::default())).collect();
    for w in &writers {
        let w = Arc::clone(w);
        std::thread::spawn(move || writer_loop(&w));
    }
    let hub = Arc::new(Hub { writers, next: Mutex::new(0), round_robin: AtomicUsize::new(0) });
    // Accepting, request heads and publishes: one thread.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(&listen).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{}", listener.local_addr()?)?;
            out.flush()?;
        }
        loop {
            let (stream, _) = listener.accept().await?;
            let hub = Arc::clone(&hub);
            tokio::spawn(async move {
                let _ = connection(hub, stream).await;
            });
        }
    })
}
