//! The HTTP/1.1 client of one subscriber stream: connect from a source address, send the GET, read frames.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::check::{Shared, StreamCheck};
use crate::dechunk::Dechunk;

/// One subscriber: connect from `source`, send the GET, then read frames until the task is aborted.
pub(crate) async fn subscriber(
    shared: Arc<Shared>,
    server: SocketAddr,
    source: Ipv4Addr,
    connect_gate: Arc<tokio::sync::Semaphore>,
) {
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
    let mut check = StreamCheck { last_id: None };
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
        deliver(&shared, &mut decoder, &mut check);
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

/// Checks and counts the events `decoder` completed.
pub(crate) fn deliver(shared: &Shared, decoder: &mut sse_codec::Decoder, check: &mut StreamCheck) {
    let now = shared.micros();
    let mut count = 0;
    while let Some(ev) = decoder.next_ref() {
        // The server's heartbeat event (idle streams) has no id of its own: not a delivery.
        if let Ok(ev) = ev {
            if ev.event == "heartbeat" {
                continue;
            }
            check.event(shared, ev.last_event_id, ev.data, now);
            count += 1;
        }
    }
    if count > 0 {
        shared.delivered.fetch_add(count, Relaxed);
        shared.last_event_at.store(now, Relaxed);
    }
}

pub(crate) async fn connect(server: SocketAddr, source: Ipv4Addr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.into(), 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
