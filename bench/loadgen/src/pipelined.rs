//! The single pipelined publisher: what one application backend does — one keep-alive connection writing
//! `POST /update` requests on a fixed schedule without waiting for each answer (HTTP/1.1 pipelining), while N streams
//! are open. The server answers in order; the figure users feel is how long each publish waits for its
//! acknowledgement, and whether every event still reaches every stream.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::bench::Bench;
use crate::hist::Hist;
use crate::procfs::cpu_secs;
use crate::{Res, TEXT_LEN};

/// The figures of one run.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pipelined {
    pub(crate) streams: usize,
    pub(crate) rate: f64,
    pub(crate) sent: u64,
    pub(crate) acked: u64,
    /// Acknowledgements per second over the time the last one took to arrive.
    pub(crate) acked_per_sec: f64,
    pub(crate) ack_p50_ms: f64,
    pub(crate) ack_p99_ms: f64,
    pub(crate) delivered: u64,
    pub(crate) missing: u64,
    pub(crate) deliveries_per_sec: f64,
    pub(crate) receive_p50_ms: f64,
    pub(crate) receive_p99_ms: f64,
    /// Server CPU seconds per 100k deliveries during the run.
    pub(crate) cpu_per_100k: f64,
    pub(crate) gaps: u64,
    pub(crate) dups: u64,
}

fn request(server: SocketAddr, stamp: u64) -> Vec<u8> {
    let mut text = format!("t={stamp};");
    while text.len() < TEXT_LEN {
        text.push('x');
    }
    let body = format!("{{\"text\":\"{text}\"}}");
    format!(
        "POST /update HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads answers in order until `expected` arrived (or the connection ends or `deadline` passes); records each
/// answer's time since its request's *scheduled* send (no coordinated omission) in `hist`. Returns the 2xx count and
/// the time of the last answer.
async fn read_answers(
    mut read: tokio::net::tcp::OwnedReadHalf,
    expected: u64,
    start: Instant,
    rate: f64,
    deadline: Instant,
    hist: &Hist,
) -> Res<(u64, Instant)> {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut tmp = vec![0u8; 64 * 1024];
    let (mut answered, mut acked, mut last) = (0u64, 0u64, Instant::now());
    while answered < expected {
        let n = match tokio::time::timeout_at(deadline.into(), read.read(&mut tmp)).await {
            Ok(r) => r?,
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
        let mut at = 0;
        while let Some(end) = buf[at..].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[at..at + end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() < at + end + 4 + len {
                break;
            }
            at += end + 4 + len;
            let now = Instant::now();
            let scheduled = start + Duration::from_secs_f64(answered as f64 / rate);
            hist.record(now.saturating_duration_since(scheduled).as_micros() as u64);
            if head.starts_with("http/1.1 2") {
                acked += 1;
            }
            answered += 1;
            last = now;
        }
        buf.drain(..at);
    }
    Ok((acked, last))
}

/// `rate` events/s for `secs` from one pipelining connection to the `bench`'s server, its streams open.
pub(crate) async fn run(bench: &Bench, rate: f64, secs: f64) -> Res<Pipelined> {
    bench.reset_counters();
    let n = bench.conns.len() as u64;
    let gaps0 = bench.shared.gaps.load(Relaxed);
    let dups0 = bench.shared.dups.load(Relaxed);
    let total = (rate * secs) as u64;
    let tcp = TcpStream::connect(bench.server).await?;
    tcp.set_nodelay(true)?;
    let (read, mut write) = tcp.into_split();
    let server = bench.server;
    let cpu0 = cpu_secs(bench.pid);
    bench.shared.recording.store(true, Relaxed);
    let start = Instant::now() + Duration::from_millis(10);
    let start_us = bench.shared.micros() + 10_000;
    let shared = std::sync::Arc::clone(&bench.shared);
    let writer = tokio::spawn(async move {
        let mut sent = 0u64;
        while sent < total {
            tokio::time::sleep_until((start + Duration::from_secs_f64(sent as f64 / rate)).into()).await;
            // Everything due by now goes in one write, as a pipelining client's buffer would.
            let mut batch = Vec::new();
            while sent < total && start + Duration::from_secs_f64(sent as f64 / rate) <= Instant::now() {
                batch.extend_from_slice(&request(server, shared.micros()));
                sent += 1;
            }
            if write.write_all(&batch).await.is_err() {
                break;
            }
        }
        (sent, write)
    });
    let acks = Hist::new();
    let deadline = start + Duration::from_secs_f64(secs + 10.0);
    let (acked, last_ack) = read_answers(read, total, start, rate, deadline, &acks).await?;
    let (sent, _write) = writer.await?;
    bench.drain(acked * n).await;
    bench.shared.recording.store(false, Relaxed);
    let delivered = bench.shared.delivered.load(Relaxed);
    let end_us = bench.shared.last_event_at.load(Relaxed).max(start_us + 1);
    let h = &bench.shared.hist;
    Ok(Pipelined {
        streams: n as usize,
        rate,
        sent,
        acked,
        acked_per_sec: acked as f64 / last_ack.saturating_duration_since(start).as_secs_f64().max(1e-3),
        ack_p50_ms: acks.quantile_ms(0.5),
        ack_p99_ms: acks.quantile_ms(0.99),
        delivered,
        missing: (acked * n).saturating_sub(delivered),
        deliveries_per_sec: delivered as f64 / ((end_us.saturating_sub(start_us)) as f64 / 1e6).max(1e-3),
        receive_p50_ms: h.quantile_ms(0.5),
        receive_p99_ms: h.quantile_ms(0.99),
        cpu_per_100k: (cpu_secs(bench.pid) - cpu0) / (delivered.max(1) as f64) * 1e5,
        gaps: bench.shared.gaps.load(Relaxed) - gaps0,
        dups: bench.shared.dups.load(Relaxed) - dups0,
    })
}
