//! Running the servers under test, and the figures of one server.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::bench::{Bench, Latency, Saturation, Throughput};
use crate::procfs::rss_kb;
use crate::publisher::Publisher;
use crate::Res;

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
        if let Some(a) = line
            .trim()
            .strip_prefix("listening on http://")
            .or_else(|| line.trim().strip_prefix("listening on https://"))
        {
            break a.parse::<SocketAddr>()?;
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { name: name.to_owned(), child, addr })
}

impl Server {
    /// SIGTERM (nginx's master then stops its workers), then SIGKILL after 5 s.
    pub(crate) fn stop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    /// Ids from which gaps cannot be told (Nchan): the gaps figure is n/a.
    pub(crate) gaps_unknown: bool,
    /// Saturation search at `large` and `small` streams.
    pub(crate) sat_large: Saturation,
    pub(crate) sat_small: Saturation,
    /// Latency at `small` streams at 50 % of this server's own saturation rate, and at 50 % of the reference's
    /// (the first server's).
    pub(crate) half_own: Latency,
    pub(crate) half_ref: Latency,
}

/// Which phases [`bench_server`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phases {
    /// All of them.
    All,
    /// The idle-memory phase (`--idle-only`).
    IdleOnly,
    /// Idle memory and the two closed-loop throughput phases, whose server CPU per delivery is the figure
    /// (`--cpu-only`: a quick profile/compare loop, ~1 min per server).
    CpuOnly,
}

#[allow(clippy::too_many_arguments)] // one per knob of `run`
pub(crate) async fn bench_server(
    server: &Server,
    peers: &[SocketAddr],
    small: usize,
    large: usize,
    secs: f64,
    rate: u64,
    reference_rate: Option<f64>,
    phases: Phases,
) -> Res<Figures> {
    let pid = server.child.id();
    let mut b = Bench::new(server.addr, peers, pid);
    let mut f = Figures::default();
    let mut broken = 0;
    let step_secs = (secs / 2.0).clamp(1.0, 3.0);
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
    if phases == Phases::IdleOnly {
        b.close_all().await;
        return Ok(f);
    }
    if phases == Phases::CpuOnly {
        eprintln!("[{}] throughput: {large} streams, {secs} s", server.name);
        f.large = b.throughput(secs, 4).await?;
        b.close_all().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        eprintln!("[{}] throughput: {small} streams, {secs} s", server.name);
        b.connect(small).await?;
        f.small = b.throughput(secs, 4).await?;
        b.close_all().await;
        return Ok(f);
    }

    eprintln!("[{}] throughput: {large} streams, {secs} s", server.name);
    f.large = b.throughput(secs, 4).await?;
    broken += b.shared.broken.load(Relaxed);
    b.shared.broken.store(0, Relaxed);
    eprintln!("[{}] saturation: {large} streams", server.name);
    // The closed-loop throughput is near saturation: start the search a bit below it.
    f.sat_large = b.saturation(0.7 * f.large.per_sec / large as f64, step_secs).await?;
    broken += f.sat_large.broken_ok + b.shared.broken.load(Relaxed);
    b.close_all().await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    eprintln!("[{}] throughput: {small} streams, {secs} s", server.name);
    b.connect(small).await?;
    f.small = b.throughput(secs, 4).await?;
    broken += b.shared.broken.load(Relaxed);
    b.shared.broken.store(0, Relaxed);
    eprintln!("[{}] saturation: {small} streams", server.name);
    f.sat_small = b.saturation(0.7 * f.small.per_sec / small as f64, step_secs).await?;
    broken += f.sat_small.broken_ok;
    let lat_secs = secs.min(3.0);
    eprintln!("[{}] latency: {small} streams x {rate} events/s", server.name);
    let l = b.latency(rate as f64, lat_secs).await?;
    f.p50_ms = l.p50_ms;
    f.p99_ms = l.p99_ms;
    f.latency_rate = l.achieved;
    f.latency_samples = l.samples;
    f.latency_missing = l.missing;
    eprintln!("[{}] latency: {small} streams x {} events/s", server.name, rate / 10);
    let l = b.latency((rate / 10).max(1) as f64, lat_secs).await?;
    f.p50_low_ms = l.p50_ms;
    f.p99_low_ms = l.p99_ms;
    f.latency_low_rate = l.achieved;
    f.latency_missing += l.missing;
    if f.sat_small.rate > 0.0 {
        let half = f.sat_small.rate / 2.0;
        eprintln!("[{}] latency: {small} streams x {half:.0} events/s (50 % of its saturation)", server.name);
        f.half_own = b.latency(half, lat_secs).await?;
        f.latency_missing += f.half_own.missing;
    }
    match reference_rate {
        Some(r) if r > 0.0 => {
            let half = r / 2.0;
            eprintln!(
                "[{}] latency: {small} streams x {half:.0} events/s (50 % of the first server's saturation)",
                server.name
            );
            f.half_ref = b.latency(half, lat_secs).await?;
            f.latency_missing += f.half_ref.missing;
        }
        _ => f.half_ref = f.half_own.clone(),
    }
    broken += b.shared.broken.load(Relaxed);
    b.close_all().await;
    f.gaps = b.shared.gaps.load(Relaxed);
    f.dups = b.shared.dups.load(Relaxed);
    f.broken = broken;
    f.untimed = b.shared.untimed.load(Relaxed);
    f.gaps_unknown = b.shared.gaps_unknown.load(std::sync::atomic::Ordering::Relaxed);
    Ok(f)
}
