//! Decoder throughput, printed as MB/s (`harness = false`: no benchmark framework needed).
//!
//! Cases, generated deterministically:
//! - `small`: a typical stream of many small events (id, event type, ~100-byte JSON data) in 4 KiB chunks;
//! - `large`: one 8 MiB event delivered in 1,024 chunks (the case that is quadratic in some parsers).
//!
//! `cargo bench -p sse-codec --bench decode` prints the figures. With `SSE_BENCH_OUT=dir` it also writes each
//! input to `dir/<case>.sse` and its chunk size to `dir/<case>.chunk`, so `bench/decoder/eventsource-parser.mjs`
//! can measure npm `eventsource-parser` on exactly the same bytes and chunks (`bench/decoder/run.sh` does both).
//! The workspace's release profile is tuned for wasm size (`opt-level = "z"`); run.sh benchmarks with
//! `CARGO_PROFILE_BENCH_OPT_LEVEL=3`, as a native build would use.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sse_codec::Decoder;

struct Case {
    name: &'static str,
    input: Vec<u8>,
    chunk: usize,
}

fn small_events() -> Case {
    let mut input = Vec::new();
    let mut n: u64 = 0;
    while input.len() < 8 << 20 {
        let kind = ["update", "progress", "message"][(n % 3) as usize];
        let event = if kind == "message" { String::new() } else { format!("event: {kind}\n") };
        input.extend_from_slice(
            format!(
                "id: {n}\n{event}data: {{\"n\":{n},\"user\":\"user-{}\",\"text\":\"hello world, event number {n}\"}}\n\n",
                n % 97
            )
            .as_bytes(),
        );
        #[allow(clippy::manual_is_multiple_of)] // `is_multiple_of` is newer than the workspace's rust-version
        if n % 50 == 0 {
            input.extend_from_slice(b": heartbeat\n\n");
        }
        n += 1;
    }
    Case { name: "small", input, chunk: 4096 }
}

fn large_event() -> Case {
    let mut input = b"data: ".to_vec();
    // Printable, non-repeating-looking text with no line ends.
    let mut x: u32 = 1;
    while input.len() < (8 << 20) + 6 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        input.push(b' ' + (x % 94) as u8 + 1);
    }
    input.extend_from_slice(b"\n\n");
    let chunk = input.len().div_ceil(1024);
    Case { name: "large", input, chunk }
}

/// Decodes the input once with the owned API (`feed` → `Event`); returns (events, data bytes).
fn decode_owned(case: &Case) -> (usize, usize) {
    let mut decoder = Decoder::new();
    let mut events = 0;
    let mut bytes = 0;
    for chunk in case.input.chunks(case.chunk) {
        for event in decoder.feed(chunk) {
            let event = event.expect("no limit set");
            events += 1;
            bytes += event.data.len();
            black_box(&event);
        }
    }
    let _ = decoder.finish();
    (events, bytes)
}

/// Decodes the input once with the borrowing API (`push` + `next_ref` → `EventRef`, no allocation per event).
fn decode_ref(case: &Case) -> (usize, usize) {
    let mut decoder = Decoder::new();
    let mut events = 0;
    let mut bytes = 0;
    for chunk in case.input.chunks(case.chunk) {
        decoder.push(chunk);
        while let Some(event) = decoder.next_ref() {
            let event = event.expect("no limit set");
            events += 1;
            bytes += event.data.len();
            black_box(&event);
        }
    }
    let _ = decoder.finish();
    (events, bytes)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once as a smoke test.
    let quick = !std::env::args().any(|a| a == "--bench");
    let out = std::env::var_os("SSE_BENCH_OUT");
    // `SSE_BENCH_ONLY=small` (or `large`) runs one case, e.g. under a profiler.
    let only = std::env::var("SSE_BENCH_ONLY").ok();
    // `SSE_BENCH_API=ref` (or `owned`, or `none` to measure the input generation alone) runs one API.
    let api_only = std::env::var("SSE_BENCH_API").ok();
    for case in [small_events(), large_event()] {
        if only.as_deref().is_some_and(|o| o != case.name) {
            continue;
        }
        if let Some(dir) = &out {
            let dir = std::path::Path::new(dir);
            std::fs::create_dir_all(dir).expect("create SSE_BENCH_OUT");
            std::fs::write(dir.join(format!("{}.sse", case.name)), &case.input).expect("write input");
            std::fs::write(dir.join(format!("{}.chunk", case.name)), case.chunk.to_string()).expect("write chunk");
        }
        for (api, decode) in [
            ("rust-sse-codec(Event)", decode_owned as fn(&Case) -> (usize, usize)),
            ("rust-sse-codec(EventRef)", decode_ref),
        ] {
            let short = if api.contains("EventRef") { "ref" } else { "owned" };
            if api_only.as_deref().is_some_and(|o| o != short) {
                continue;
            }
            let mut times = Vec::new();
            let start = Instant::now();
            let mut events = 0;
            while times.len() < 3 || (!quick && (times.len() < 10 || start.elapsed() < Duration::from_secs(2))) {
                let t = Instant::now();
                events = decode(&case).0;
                times.push(t.elapsed());
                if quick {
                    break;
                }
            }
            times.sort();
            let mb = case.input.len() as f64 / 1e6;
            let best = times[0];
            let median = times[times.len() / 2];
            println!(
                "result {} {api} {:.1} MB/s (median {:.1} MB/s, best {:.2} ms, {} events, {:.1} MB in {}-byte chunks)",
                case.name,
                mb / best.as_secs_f64(),
                mb / median.as_secs_f64(),
                best.as_secs_f64() * 1e3,
                events,
                mb,
                case.chunk
            );
        }
    }
}
