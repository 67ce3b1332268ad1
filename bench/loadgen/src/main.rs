//! `sse-loadgen`: the load generator of the fan-out benchmark (see `bench/README.md`).
//!
//! It holds N raw HTTP/1.1 `GET /subscribe` streams spread over the source addresses 127.0.0.2–127.0.0.51, removes
//! the chunked transfer coding itself and reads frames with `sse_codec::Decoder`, checks every stream's ids for gaps
//! and duplicates, and measures publish→receive latency from the send timestamp the publisher puts in each event's
//! text (`POST /update {"text": "t=<µs since start>;xxx…"}`).
//!
//! ```text
//! sse-loadgen run --server NAME=COMMAND ... [--peer NAME=ADDR ...] [--small 1000] [--large 10000] [--secs 4] [--rate 1000] [--https NAME ...] [--md FILE] [--idle-only | --cpu-only]
//! sse-loadgen publish --url http://ADDR --count 100000      (fills a server's history, for the browser bench)
//! sse-loadgen pipelined --server NAME=COMMAND ... [--streams 1000] [--rate 2000] [--secs 5] [--md FILE] [--check] [--sequential] [--https NAME ...]
//! ```
//!
//! `pipelined`: per server, `streams` open streams and ONE keep-alive connection pipelining `POST /update` at `rate`
//! events/s for `secs` (what an application backend does): acknowledgement latency, every event delivered once,
//! deliveries/s and server CPU per 100k deliveries, side by side. `--check` fails (exit 1) unless every publish of the
//! first server was acknowledged and every event reached every stream once, with no gap or duplicate.
//! `--sequential`: ONE publisher that writes each publish once the previous one is answered, for `secs` (what a
//! backend calling an HTTP client in a loop does; `--rate` is ignored): acknowledged publishes/s and latency.
//!
//! `run` starts each COMMAND (through `sh -c 'exec COMMAND'`; it must print `listening on http://ADDR`), then for each
//! server in turn: the idle-memory phase (VmRSS before and after connecting `large` streams), throughput at `large`
//! streams, then throughput and latency at `small` streams; it prints a markdown table with ratios against the
//! servers after the first. `--idle-only` runs the idle-memory phase alone and prints just its figures (used by
//! `bench/idle-rss.sh`); `--cpu-only` runs it and the two closed-loop throughput phases and prints deliveries/s and
//! server CPU per 100k deliveries (a quick before/after comparison).
//!
//! Where each concern lives: `main.rs` the command line; `server.rs` starting the servers under test and the
//! sequence of phases per server; `bench.rs` the phases (connect, publish, drain, measure); `subscriber.rs` the raw
//! HTTP/1.1 client of one stream, `dechunk.rs` its chunked-coding removal, `check.rs` the per-stream id and latency
//! checks and the shared counters, `hist.rs` the latency histogram; `publisher.rs` the `POST /update` connections;
//! `procfs.rs` memory and CPU from `/proc`; `report.rs` the markdown table and JSON.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use publisher::Publisher;
use report::{cpu_table, idle_table, json, table};
use server::{bench_server, start_server, Phases};

pub(crate) type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Source addresses: 127.0.0.2 ..= 127.0.0.51.
pub(crate) const SOURCE_IPS: u8 = 50;
/// Events a throughput publisher may run ahead of the average subscriber (below the servers' 1024-event buffers).
pub(crate) const WINDOW: u64 = 256;
/// Length of the `text` field: with the servers' JSON and framing, frames are about 100 bytes.
pub(crate) const TEXT_LEN: usize = 38;

mod bench;
mod check;
mod dechunk;
mod h2sub;
mod hist;
mod pipelined;
mod procfs;
mod publisher;
mod report;
mod server;
mod subscriber;
mod tls;

fn arg_value<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `--server NAME=COMMAND` arguments, at least one.
fn server_args(args: &[String]) -> Res<Vec<(String, String)>> {
    let servers: Vec<(String, String)> = args
        .windows(2)
        .filter(|w| w[0] == "--server")
        .filter_map(|w| w[1].split_once('=').map(|(n, c)| (n.to_owned(), c.to_owned())))
        .collect();
    if servers.is_empty() {
        return Err("give at least one --server NAME=COMMAND".into());
    }
    Ok(servers)
}

async fn run(args: Vec<String>) -> Res<()> {
    let small = arg_value(&args, "--small", 1000usize);
    let large = arg_value(&args, "--large", 10_000usize);
    let secs = arg_value(&args, "--secs", 4.0f64);
    let rate = arg_value(&args, "--rate", 1000u64);
    let md: Option<String> = args.iter().position(|a| a == "--md").and_then(|i| args.get(i + 1)).cloned();
    let json_out: Option<String> = args.iter().position(|a| a == "--json").and_then(|i| args.get(i + 1)).cloned();
    let phases = if args.iter().any(|a| a == "--idle-only") {
        Phases::IdleOnly
    } else if args.iter().any(|a| a == "--cpu-only") {
        Phases::CpuOnly
    } else {
        Phases::All
    };
    let servers = server_args(&args)?;
    // `--peer NAME=ADDR`: another instance serving the same streams (e.g. through Redis); NAME's subscribers are
    // spread over it and the server, while publishing goes to the server only.
    let peers: Vec<(String, std::net::SocketAddr)> = args
        .windows(2)
        .filter(|w| w[0] == "--peer")
        .filter_map(|w| {
            w[1].split_once('=').and_then(|(n, a)| Some((n.to_owned(), a.trim_start_matches("http://").parse().ok()?)))
        })
        .collect();
    let mut results = Vec::new();
    // `--https NAME`: that server serves HTTPS (`--dev-tls`): HTTP/2 streams, publishers over TLS (see `tls.rs`).
    let https: Vec<String> = args.windows(2).filter(|w| w[0] == "--https").map(|w| w[1].clone()).collect();
    for (name, command) in &servers {
        tls::HTTPS.store(https.contains(name), Relaxed);
        let mut server = start_server(name, command)?;
        eprintln!("[{name}] listening on {} (pid {})", server.addr, server.child.id());
        let server_peers: Vec<std::net::SocketAddr> =
            peers.iter().filter(|(n, _)| n == name).map(|(_, a)| *a).collect();
        // Latency at 50 % of the first server's saturation rate is measured on every server (same rate for all).
        let reference = results.first().map(|(_, f): &(String, server::Figures)| f.sat_small.rate);
        let r = bench_server(&server, &server_peers, small, large, secs, rate, reference, phases).await;
        server.stop();
        let f = r.map_err(|e| format!("{name}: {e}"))?;
        eprintln!("[{name}] {f:?}");
        results.push((server.name.clone(), f));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let t = match phases {
        Phases::IdleOnly => idle_table(&results, large),
        Phases::CpuOnly => cpu_table(&results, small, large),
        Phases::All => table(&results, small, large, rate),
    };
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

/// `pipelined --server NAME=COMMAND ...`: see the module docs.
async fn pipelined(args: Vec<String>) -> Res<()> {
    let streams = arg_value(&args, "--streams", 1000usize);
    let rate = arg_value(&args, "--rate", 2000.0f64);
    let secs = arg_value(&args, "--secs", 5.0f64);
    let check = args.iter().any(|a| a == "--check");
    let sequential = args.iter().any(|a| a == "--sequential");
    let md: Option<String> = args.iter().position(|a| a == "--md").and_then(|i| args.get(i + 1)).cloned();
    let servers = server_args(&args)?;
    let mut rows = Vec::new();
    let https: Vec<String> = args.windows(2).filter(|w| w[0] == "--https").map(|w| w[1].clone()).collect();
    for (name, command) in &servers {
        tls::HTTPS.store(https.contains(name), Relaxed);
        let mut server = start_server(name, command)?;
        let mut b = bench::Bench::new(server.addr, &[], server.child.id());
        let r = async {
            b.connect(streams).await?;
            // Warm-up: one event through every stream.
            let mut p = Publisher::new(server.addr).await?;
            p.publish(b.shared.micros()).await?;
            b.drain(streams as u64).await;
            if sequential {
                pipelined::run_sequential(&b, secs).await
            } else {
                pipelined::run(&b, rate, secs).await
            }
        }
        .await;
        b.close_all().await;
        server.stop();
        let f = r.map_err(|e| format!("{name}: {e}"))?;
        eprintln!("[{name}] {f:?}");
        rows.push((name.clone(), f));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let t = report::pipelined_table(&rows, sequential);
    println!("{t}");
    if let Some(path) = md {
        std::fs::write(path, &t)?;
    }
    if check {
        let (name, f) = &rows[0];
        if f.acked < f.sent
            || (!sequential && f.sent < (rate * secs) as u64)
            || f.missing > 0
            || f.gaps > 0
            || f.dups > 0
        {
            return Err(format!(
                "{name}: {} of {} publishes acknowledged, {} deliveries missing, {} gaps, {} duplicates",
                f.acked, f.sent, f.missing, f.gaps, f.dups
            )
            .into());
        }
    }
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
        Some("pipelined") => runtime.block_on(pipelined(args)),
        _ => Err("usage: sse-loadgen run --server NAME=COMMAND ... | publish --url URL --count N | pipelined --server NAME=COMMAND ...".into()),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
