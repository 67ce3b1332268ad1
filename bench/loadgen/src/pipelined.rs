//! The single pipelined publisher: what one application backend does — one keep-alive connection writing
//! `POST /update` requests on a fixed schedule without waiting for each answer (HTTP/1.1 pipelining), while N streams
//! are open. The server answers in order; the figure users feel is how long each publish waits for its
//! acknowledgement, and whether every event still reaches every stream.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf};

use crate::bench::Bench;
use crate::hist::Hist;
use crate::procfs::cpu_secs;
use crate::publisher::{connect, Io};
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

/// The answers of one connection, read in order.
struct Answers {
    read: ReadHalf<Box<dyn Io>>,
    buf: Vec<u8>,
    tmp: Vec<u8>,
}

impl Answers {
    fn new(read: ReadHalf<Box<dyn Io>>) -> Self {
        Answers { read, buf: Vec::with_capacity(64 * 1024), tmp: vec![0u8; 64 * 1024] }
    }

    /// The next answer: whether it is a 2xx; `None` if the connection ends or `deadline` passes first.
    async fn next(&mut self, deadline: Instant) -> Res<Option<bool>> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if self.buf.len() >= end + 4 + len {
                    self.buf.drain(..end + 4 + len);
                    return Ok(Some(head.starts_with("http/1.1 2")));
                }
            }
            let n = match tokio::time::timeout_at(deadline.into(), self.read.read(&mut self.tmp)).await {
                Ok(r) => r?,
                Err(_) => return Ok(None),
            };
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&self.tmp[..n]);
        }
    }
}

/// Reads answers in order until `expected` arrived (or the connection ends or `deadline` passes); records each
/// answer's time since its request's *scheduled* send (no coordinated omission) in `hist`. Returns the 2xx count and
/// the time of the last answer.
async fn read_answers(
    read: ReadHalf<Box<dyn Io>>,
    expected: u64,
    start: Instant,
    rate: f64,
    deadline: Instant,
    hist: &Hist,
) -> Res<(u64, Instant)> {
    let mut answers = Answers::new(read);
    let (mut answered, mut acked, mut last) = (0u64, 0u64, Instant::now());
    while answered < expected {
        let Some(ok) = answers.next(deadline).await? else { break };
        let now = Instant::now();
        let scheduled = start + Duration::from_secs_f64(answered as f64 / rate);
        hist.record(now.saturating_duration_since(scheduled).as_micros() as u64);
        acked += u64::from(ok);
        answered += 1;
        last = now;
    }
    Ok((acked, last))
}

/// Runs a publisher on its own thread and runtime, as an application backend in its own process would be: its
/// answers are read when they arrive, not after this process's stream readers (which share this runtime) had their
/// turn — that queueing is the load generator's, and would be counted as the server's latency.
async fn on_own_thread<T: Send + 'static>(work: impl std::future::Future<Output = Res<T>> + Send + 'static) -> Res<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("publisher".into()).spawn(move || {
        let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(work),
            Err(e) => Err(e.into()),
        };
        // The receiver is only gone if the run was abandoned.
        let _ = tx.send(result);
    })?;
    rx.await?
}

/// What the publisher of a run saw.
struct Published {
    sent: u64,
    acked: u64,
    last_ack: Instant,
    start: Instant,
    start_us: u64,
    acks: Hist,
}

/// `rate` events/s for `secs` from one pipelining connection to the `bench`'s server, its streams open.
pub(crate) async fn run(bench: &Bench, rate: f64, secs: f64) -> Res<Pipelined> {
    bench.reset_counters();
    let gaps0 = bench.shared.gaps.load(Relaxed);
    let dups0 = bench.shared.dups.load(Relaxed);
    let total = (rate * secs) as u64;
    let server = bench.server;
    let cpu0 = cpu_secs(bench.pid);
    bench.shared.recording.store(true, Relaxed);
    let shared = std::sync::Arc::clone(&bench.shared);
    let p = on_own_thread(async move {
        let (read, mut write) = tokio::io::split(connect(server).await?);
        let start = Instant::now() + Duration::from_millis(10);
        let start_us = shared.micros() + 10_000;
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
        Ok(Published { sent, acked, last_ack, start, start_us, acks })
    })
    .await?;
    let m = Measured { rate, sent: p.sent, acked: p.acked, last_ack: p.last_ack, start: p.start, start_us: p.start_us };
    Ok(figures(bench, m, cpu0, gaps0, dups0, p.acks).await)
}

/// One sequential publisher for `secs`: each `POST /update` written once the previous one is answered (what a
/// backend calling `fetch`/`reqwest` in a loop does). The rate is what the server's acknowledgements allow.
pub(crate) async fn run_sequential(bench: &Bench, secs: f64) -> Res<Pipelined> {
    bench.reset_counters();
    let gaps0 = bench.shared.gaps.load(Relaxed);
    let dups0 = bench.shared.dups.load(Relaxed);
    let server = bench.server;
    let cpu0 = cpu_secs(bench.pid);
    bench.shared.recording.store(true, Relaxed);
    let shared = std::sync::Arc::clone(&bench.shared);
    let p = on_own_thread(async move {
        let (read, mut write) = tokio::io::split(connect(server).await?);
        let mut answers = Answers::new(read);
        let start = Instant::now();
        let start_us = shared.micros();
        let end = start + Duration::from_secs_f64(secs);
        let acks = Hist::new();
        let (mut sent, mut acked, mut last_ack) = (0u64, 0u64, start);
        while Instant::now() < end {
            let sent_at = Instant::now();
            write.write_all(&request(server, shared.micros())).await?;
            sent += 1;
            let Some(ok) = answers.next(sent_at + Duration::from_secs(10)).await? else { break };
            last_ack = Instant::now();
            acks.record(last_ack.duration_since(sent_at).as_micros() as u64);
            acked += u64::from(ok);
        }
        Ok(Published { sent, acked, last_ack, start, start_us, acks })
    })
    .await?;
    let rate = p.acked as f64 / p.last_ack.saturating_duration_since(p.start).as_secs_f64().max(1e-3);
    let m = Measured { rate, sent: p.sent, acked: p.acked, last_ack: p.last_ack, start: p.start, start_us: p.start_us };
    Ok(figures(bench, m, cpu0, gaps0, dups0, p.acks).await)
}

/// What a run measured itself; the rest is read from the streams once they drained.
struct Measured {
    rate: f64,
    sent: u64,
    acked: u64,
    last_ack: Instant,
    start: Instant,
    start_us: u64,
}

async fn figures(bench: &Bench, m: Measured, cpu0: f64, gaps0: u64, dups0: u64, acks: Hist) -> Pipelined {
    let n = bench.streams as u64;
    bench.drain(m.acked * n).await;
    bench.shared.recording.store(false, Relaxed);
    let delivered = bench.shared.delivered.load(Relaxed);
    let end_us = bench.shared.last_event_at.load(Relaxed).max(m.start_us + 1);
    let h = &bench.shared.hist;
    Pipelined {
        streams: n as usize,
        rate: m.rate,
        sent: m.sent,
        acked: m.acked,
        acked_per_sec: m.acked as f64 / m.last_ack.saturating_duration_since(m.start).as_secs_f64().max(1e-3),
        ack_p50_ms: acks.quantile_ms(0.5),
        ack_p99_ms: acks.quantile_ms(0.99),
        delivered,
        missing: (m.acked * n).saturating_sub(delivered),
        deliveries_per_sec: delivered as f64 / ((end_us.saturating_sub(m.start_us)) as f64 / 1e6).max(1e-3),
        receive_p50_ms: h.quantile_ms(0.5),
        receive_p99_ms: h.quantile_ms(0.99),
        cpu_per_100k: (cpu_secs(bench.pid) - cpu0) / (delivered.max(1) as f64) * 1e5,
        gaps: bench.shared.gaps.load(Relaxed) - gaps0,
        dups: bench.shared.dups.load(Relaxed) - dups0,
    }
}
