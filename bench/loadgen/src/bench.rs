//! The phases of one server's benchmark: connect streams, publish, drain, measure.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::check::Shared;
use crate::h2sub::{self, STREAMS_PER_CONNECTION};
use crate::hist::Hist;
use crate::procfs::{cpu_secs, self_cpu_secs, write_calls};
use crate::publisher::Publisher;
use crate::subscriber::subscriber;
use crate::{Res, SOURCE_IPS, WINDOW};

/// Publisher connections of a saturation step.
pub(crate) const SATURATION_PUBLISHERS: u64 = 32;

pub(crate) struct Bench {
    pub(crate) shared: Arc<Shared>,
    pub(crate) server: SocketAddr,
    /// Other instances serving the same streams: subscribers are spread over `server` and these.
    pub(crate) peers: Vec<SocketAddr>,
    pub(crate) pid: u32,
    /// One task per connection (HTTP/1.1: one stream each; HTTP/2: up to [`STREAMS_PER_CONNECTION`]).
    pub(crate) conns: Vec<JoinHandle<()>>,
    /// Streams opened on `conns`.
    pub(crate) streams: usize,
    pub(crate) next_source: usize,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Throughput {
    pub(crate) published: u64,
    pub(crate) delivered: u64,
    pub(crate) secs: f64,
    pub(crate) per_sec: f64,
    pub(crate) server_cpu: f64,
    /// The server's write-type system calls over the phase.
    pub(crate) server_writes: u64,
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
            gaps_unknown: AtomicBool::new(false),
        });
        Bench { shared, server, peers: peers.to_vec(), pid, conns: Vec::new(), streams: 0, next_source: 0 }
    }

    /// Opens streams until `n` are open and ready.
    pub(crate) async fn connect(&mut self, n: usize) -> Res<()> {
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        while self.streams < n {
            let source = Ipv4Addr::new(127, 0, 0, 2 + (self.next_source % usize::from(SOURCE_IPS)) as u8);
            let target = match self.next_source % (self.peers.len() + 1) {
                0 => self.server,
                i => self.peers[i - 1],
            };
            self.next_source += 1;
            let shared = Arc::clone(&self.shared);
            if crate::tls::HTTPS.load(Relaxed) {
                let streams = STREAMS_PER_CONNECTION.min(n - self.streams);
                self.streams += streams;
                self.conns.push(tokio::spawn(h2sub::connection(shared, target, source, streams, Arc::clone(&gate))));
            } else {
                self.streams += 1;
                self.conns.push(tokio::spawn(subscriber(shared, target, source, Arc::clone(&gate))));
            }
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
        self.streams = 0;
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
        let n = self.streams as u64;
        let next = Arc::new(AtomicU64::new(0));
        let server_cpu0 = cpu_secs(self.pid);
        let writes0 = write_calls(self.pid);
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
            server_writes: write_calls(self.pid).saturating_sub(writes0),
            loadgen_cpu: self_cpu_secs() - own_cpu0,
            missing: expected.saturating_sub(delivered),
        })
    }

    /// Publishes `rate` events/s for `secs` from `publishers` keep-alive connections (one request in flight each) on
    /// a fixed schedule; a server that cannot keep the rate is not waited for past `secs + grace`. Returns the events
    /// published and the seconds it took.
    pub(crate) async fn paced(&self, rate: f64, secs: f64, grace: f64, publishers: u64) -> Res<(u64, f64)> {
        let total = (rate * secs) as u64;
        let start = tokio::time::Instant::now() + Duration::from_millis(10);
        let mut tasks = Vec::new();
        for k in 0..publishers {
            let mut p = Publisher::new(self.server).await?;
            let shared = Arc::clone(&self.shared);
            tasks.push(tokio::spawn(async move {
                let mut i = k;
                let mut sent = 0;
                let deadline = start + Duration::from_secs_f64(secs + grace);
                while i < total && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
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
        Ok((published, start.elapsed().as_secs_f64()))
    }

    /// Publishes `rate` events/s for `secs`, recording publish→receive latency of every delivery.
    pub(crate) async fn latency(&self, rate: f64, secs: f64) -> Res<Latency> {
        self.reset_counters();
        let n = self.streams as u64;
        self.shared.recording.store(true, Relaxed);
        // A server that cannot keep the rate is not waited for past the phase (plus 1 s): the achieved rate is
        // reported next to the latencies.
        let (published, elapsed) = self.paced(rate, secs, 1.0, 8).await?;
        let achieved = published as f64 / elapsed;
        self.drain(published * n).await;
        self.shared.recording.store(false, Relaxed);
        let h = &self.shared.hist;
        let missing = (published * n).saturating_sub(self.shared.delivered.load(Relaxed));
        Ok(Latency {
            asked: rate,
            p50_ms: h.quantile_ms(0.5),
            p99_ms: h.quantile_ms(0.99),
            achieved,
            samples: h.count(),
            missing,
        })
    }

    /// One step of the saturation search: `rate` events/s for `secs`; kept up if the publishers published 97 % of the
    /// events by `1.03 × secs` and 97 % of the deliveries arrived within 250 ms of the last publish.
    async fn step(&self, rate: f64, secs: f64) -> Res<Step> {
        self.reset_counters();
        let n = self.streams as u64;
        let start_us = self.shared.micros();
        // The publishers may run 3 % late (a shared machine's scheduling), not more. 32 connections: the publish
        // rate a server acknowledges is then its own limit rather than 8 round trips in flight.
        let (published, elapsed) = self.paced(rate, secs, 0.03 * secs, SATURATION_PUBLISHERS).await?;
        let total = (rate * secs) as u64;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let delivered = self.shared.delivered.load(Relaxed);
        let end_us = self.shared.last_event_at.load(Relaxed).max(start_us + 1);
        let expected = (published * n).max(1);
        let achieved = published as f64 / elapsed;
        let ratio = delivered as f64 / expected as f64;
        let per_sec = delivered.min(expected) as f64 / ((end_us - start_us) as f64 / 1e6);
        // Let the rest arrive before the next step.
        self.drain(published * n).await;
        Ok(Step {
            asked: rate,
            achieved,
            ratio,
            per_sec,
            kept_up: published as f64 >= 0.97 * total as f64 && ratio >= 0.97,
        })
    }

    /// Finds the publish rate where delivery stops keeping up, starting from `start_rate` events/s: ×1.5 while it
    /// keeps up, halving while it does not, then bisecting until the two bounds are within 10 % (at most 8 steps of
    /// `secs`). Streams dropped by a server in an overloaded step are reconnected; their gaps/duplicates/drops are
    /// counted apart (`overload_*`), those of steps that kept up in the usual counters.
    pub(crate) async fn saturation(&mut self, start_rate: f64, secs: f64) -> Res<Saturation> {
        let n = self.streams;
        let broken_before = self.shared.broken.load(Relaxed);
        let mut sat = Saturation::default();
        let mut ok: Option<Step> = None;
        let mut bad: Option<f64> = None;
        let mut rate = start_rate.max(2.0);
        for _ in 0..8 {
            let gaps0 = self.shared.gaps.load(Relaxed);
            let dups0 = self.shared.dups.load(Relaxed);
            let broken0 = self.shared.broken.load(Relaxed);
            let s = self.step(rate, secs).await?;
            eprintln!("  saturation step: asked {:.0} ev/s, published {:.0} ev/s, delivered {:.3} of expected, {:.0} deliveries/s{}", s.asked, s.achieved, s.ratio, s.per_sec, if s.kept_up { "" } else { " (not kept up)" });
            sat.steps.push(s.clone());
            let broken = self.shared.broken.load(Relaxed) - broken0;
            if s.kept_up {
                sat.broken_ok += broken;
                if broken > 0 {
                    self.reconnect(n).await?;
                }
                ok = Some(s);
            } else {
                let gaps = self.shared.gaps.load(Relaxed) - gaps0;
                let dups = self.shared.dups.load(Relaxed) - dups0;
                self.shared.gaps.fetch_sub(gaps, Relaxed);
                self.shared.dups.fetch_sub(dups, Relaxed);
                sat.overload_gaps += gaps;
                sat.overload_dups += dups;
                sat.overload_broken += broken;
                if broken > 0 || self.shared.ready.load(Relaxed) < n {
                    self.reconnect(n).await?;
                }
                bad = Some(rate);
            }
            rate = match (&ok, bad) {
                (Some(o), Some(b)) if b / o.asked <= 1.1 => break,
                (Some(o), Some(b)) => (o.asked + b) / 2.0,
                (Some(o), None) => o.asked * 1.5,
                (None, _) => rate / 2.0,
            };
            if rate < 1.0 {
                break;
            }
        }
        self.shared.broken.store(broken_before, Relaxed);
        if let Some(o) = ok {
            sat.rate = o.asked;
            sat.per_sec = o.per_sec;
        }
        sat.unbounded = bad.is_none();
        Ok(sat)
    }

    /// Closes every stream and opens `n` fresh ones.
    async fn reconnect(&mut self, n: usize) -> Res<()> {
        self.close_all().await;
        self.connect(n).await
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Latency {
    pub(crate) asked: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) achieved: f64,
    pub(crate) samples: u64,
    pub(crate) missing: u64,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Step {
    pub(crate) asked: f64,
    pub(crate) achieved: f64,
    pub(crate) ratio: f64,
    pub(crate) per_sec: f64,
    pub(crate) kept_up: bool,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Saturation {
    /// The highest publish rate that kept up (events/s; 0 if none did), and the deliveries/s measured at it.
    pub(crate) rate: f64,
    pub(crate) per_sec: f64,
    /// No step failed: the saturation rate is at least `rate` (the search ran out of steps).
    pub(crate) unbounded: bool,
    pub(crate) steps: Vec<Step>,
    pub(crate) broken_ok: u64,
    pub(crate) overload_gaps: u64,
    pub(crate) overload_dups: u64,
    pub(crate) overload_broken: u64,
}
