//! The phases of one server's benchmark: connect streams, publish, drain, measure.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::check::Shared;
use crate::hist::Hist;
use crate::procfs::{cpu_secs, self_cpu_secs};
use crate::publisher::Publisher;
use crate::subscriber::subscriber;
use crate::{Res, SOURCE_IPS, WINDOW};

pub(crate) struct Bench {
    pub(crate) shared: Arc<Shared>,
    pub(crate) server: SocketAddr,
    /// Other instances serving the same streams: subscribers are spread over `server` and these.
    pub(crate) peers: Vec<SocketAddr>,
    pub(crate) pid: u32,
    pub(crate) conns: Vec<JoinHandle<()>>,
    pub(crate) next_source: usize,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Throughput {
    pub(crate) published: u64,
    pub(crate) delivered: u64,
    pub(crate) secs: f64,
    pub(crate) per_sec: f64,
    pub(crate) server_cpu: f64,
    pub(crate) loadgen_cpu: f64,
    pub(crate) missing: u64,
}

impl Bench {
    pub(crate) fn new(server: SocketAddr, peers: &[SocketAddr], pid: u32) -> Self {
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
        Bench { shared, server, peers: peers.to_vec(), pid, conns: Vec::new(), next_source: 0 }
    }

    /// Opens streams until `n` are open and ready.
    pub(crate) async fn connect(&mut self, n: usize) -> Res<()> {
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        while self.conns.len() < n {
            let source = Ipv4Addr::new(127, 0, 0, 2 + (self.next_source % usize::from(SOURCE_IPS)) as u8);
            let target = match self.next_source % (self.peers.len() + 1) {
                0 => self.server,
                i => self.peers[i - 1],
            };
            self.next_source += 1;
            self.conns.push(tokio::spawn(subscriber(Arc::clone(&self.shared), target, source, Arc::clone(&gate))));
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

    pub(crate) async fn close_all(&mut self) {
        for c in self.conns.drain(..) {
            c.abort();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.shared.ready.store(0, Relaxed);
        self.shared.broken.store(0, Relaxed);
    }

    pub(crate) fn reset_counters(&self) {
        self.shared.delivered.store(0, Relaxed);
        self.shared.hist.reset();
    }

    /// Waits until `expected` deliveries arrived (or `timeout` passes without progress).
    pub(crate) async fn drain(&self, expected: u64) {
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
    pub(crate) async fn throughput(&self, secs: f64, publishers: usize) -> Res<Throughput> {
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
    pub(crate) async fn latency(&self, rate: u64, secs: f64) -> Res<(f64, f64, f64, u64, u64)> {
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
