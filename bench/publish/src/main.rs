//! `sse-publish-bench --url http://127.0.0.1:PORT --publishers N --secs S [--rate R] [--batch B]`
//!
//! Without `--rate`: N keep-alive HTTP/1.1 connections each POST `/update` back to back for S seconds; prints the
//! acknowledged (200) publishes per second. With `--rate R`: R publishes per second in all, spread over the N
//! connections on a fixed schedule; latency is measured from each request's *scheduled* time to its answer (no
//! coordinated omission), p50/p99 printed. With `--batch B`, each POST carries B events (a JSON array: one commit
//! on the server) and `acked_per_sec` counts acknowledged *events* (`requests_per_sec`: requests). Output: one JSON
//! line.

use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

#[derive(Debug, Parser)]
struct Args {
    /// The server, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    url: String,
    /// Concurrent publishers (one connection each).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 4.0)]
    secs: f64,
    /// Total publishes per second (latency mode); none = as fast as acknowledged.
    #[arg(long)]
    rate: Option<f64>,
    /// Events per request (a JSON array body); 1 = a single JSON object, as a plain publish.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    batch: u64,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> std::io::Result<Sender> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn post(
    sender: &mut Sender,
    host: &str,
    n: u64,
    batch: u64,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let body = if batch == 1 {
        format!(r#"{{"text":"bench {n}"}}"#)
    } else {
        let items: Vec<String> = (0..batch).map(|i| format!(r#"{{"text":"bench {n}.{i}"}}"#)).collect();
        format!("[{}]", items.join(","))
    };
    let req = hyper::Request::post("/update")
        .header("host", host)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let res = sender.send_request(req).await?;
    let ok = res.status() == 200;
    res.into_body().collect().await?;
    Ok(ok)
}

#[derive(Debug, Default)]
struct Tally {
    acked: u64,
    errors: u64,
    latencies_us: Vec<u64>,
}

async fn publisher(addr: String, index: usize, args: std::sync::Arc<Args>, start: Instant) -> Tally {
    let mut tally = Tally::default();
    let Ok(mut sender) = connect(&addr).await else {
        tally.errors += 1;
        return tally;
    };
    let end = start + Duration::from_secs_f64(args.secs);
    let interval = args.rate.map(|r| Duration::from_secs_f64(args.publishers as f64 / r));
    let mut n = 0u64;
    loop {
        let scheduled = match interval {
            Some(every) => {
                // Staggered so the publishers do not fire together.
                let at = start + every.mul_f64(n as f64 + index as f64 / args.publishers as f64);
                tokio::time::sleep_until(at.into()).await;
                at
            }
            None => Instant::now(),
        };
        if scheduled >= end {
            return tally;
        }
        match post(&mut sender, &addr, n, args.batch).await {
            Ok(true) => {
                tally.acked += 1;
                tally.latencies_us.push(u64::try_from(scheduled.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            Ok(false) | Err(_) => tally.errors += 1,
        }
        n += 1;
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = std::sync::Arc::new(Args::parse());
    let addr = args.url.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let start = Instant::now() + Duration::from_millis(50);
    let tasks: Vec<_> = (0..args.publishers)
        .map(|i| tokio::spawn(publisher(addr.clone(), i, std::sync::Arc::clone(&args), start)))
        .collect();
    let mut total = Tally::default();
    for t in tasks {
        let t = t.await?;
        total.acked += t.acked;
        total.errors += t.errors;
        total.latencies_us.extend(t.latencies_us);
    }
    total.latencies_us.sort_unstable();
    let out = serde_json::json!({
        "publishers": args.publishers,
        "batch": args.batch,
        "acked_per_sec": (total.acked * args.batch) as f64 / args.secs,
        "acked": total.acked * args.batch,
        "requests_per_sec": total.acked as f64 / args.secs,
        "errors": total.errors,
        "p50_ms": percentile(&total.latencies_us, 0.50),
        "p99_ms": percentile(&total.latencies_us, 0.99),
    });
    println!("{out}");
    Ok(())
}
