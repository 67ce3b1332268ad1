//! Running the servers under test, and the figures of one server.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::Res;
use crate::bench::{Bench, Throughput};
use crate::procfs::rss_kb;
use crate::publisher::Publisher;

pub(crate) struct Server {
    pub(crate) name: String,
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
}

pub(crate) fn start_server(name: &str, command: &str) -> Res<Server> {
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
pub(crate) struct Figures {
    pub(crate) rss_before_kb: u64,
    pub(crate) rss_after_kb: u64,
    pub(crate) rss_per_conn_kb: f64,
    pub(crate) large: Throughput,
    pub(crate) small: Throughput,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) latency_rate: f64,
    pub(crate) latency_samples: u64,
    /// The same at a tenth of the rate (a load every server here can sustain).
    pub(crate) p50_low_ms: f64,
    pub(crate) p99_low_ms: f64,
    pub(crate) latency_low_rate: f64,
    pub(crate) latency_missing: u64,
    pub(crate) gaps: u64,
    pub(crate) dups: u64,
    pub(crate) broken: u64,
    pub(crate) untimed: u64,
}

pub(crate) async fn bench_server(server: &Server, peers: &[SocketAddr], small: usize, large: usize, secs: f64, rate: u64) -> Res<Figures> {
    let pid = server.child.id();
    let mut b = Bench::new(server.addr, peers, pid);
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
