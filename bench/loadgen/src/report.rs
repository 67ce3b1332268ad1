//! The report: the markdown table (with ratios against the servers after the first) and the JSON figures.

use std::collections::BTreeMap;

use crate::bench::{Latency, Saturation, Throughput};
use crate::server::Figures;

fn cpu_per_100k(t: &Throughput) -> f64 {
    t.server_cpu / t.delivered.max(1) as f64 * 1e5
}

/// Deliveries per write-type system call of the server: each write costs about the same in the kernel whatever it
/// carries, so this is most of what sets the CPU per delivery.
fn per_write(t: &Throughput) -> f64 {
    t.delivered as f64 / t.server_writes.max(1) as f64
}

pub(crate) fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M/s", v / 1e6)
    } else {
        format!("{:.0} k/s", v / 1e3)
    }
}

/// The idle-memory figures alone (`--idle-only`): VmRSS per idle stream and its ratio to each other server.
pub(crate) fn idle_table(results: &[(String, Figures)], large: usize) -> String {
    let mut out =
        format!("| server | VmRSS before | VmRSS with {large} idle streams | per idle stream |\n|---|---|---|---|\n");
    for (name, f) in results {
        out.push_str(&format!(
            "| {name} | {} KB | {} KB | {:.1} KB |\n",
            f.rss_before_kb, f.rss_after_kb, f.rss_per_conn_kb
        ));
    }
    out
}

/// The closed-loop figures alone (`--cpu-only`): server CPU per 100k deliveries and deliveries/s at both sizes, with
/// the CPU ratio of the first server to each (lower CPU is better: a ratio below 1 means the first uses less).
pub(crate) fn cpu_table(results: &[(String, Figures)], small: usize, large: usize) -> String {
    let first = &results[0].1;
    let mut out = format!(
        "| server | CPU s / 100k deliveries, {small} streams | {large} streams | deliveries/s, {small} | {large} | \
         deliveries per write, {small} | {large} | first / this CPU, {small} | {large} |\n\
         |---|---|---|---|---|---|---|---|---|\n"
    );
    for (name, f) in results {
        out.push_str(&format!(
            "| {name} | {:.3} | {:.3} | {} | {} | {:.1} | {:.1} | {:.2}× | {:.2}× |\n",
            cpu_per_100k(&f.small),
            cpu_per_100k(&f.large),
            fmt_rate(f.small.per_sec),
            fmt_rate(f.large.per_sec),
            per_write(&f.small),
            per_write(&f.large),
            cpu_per_100k(&first.small) / cpu_per_100k(&f.small).max(1e-9),
            cpu_per_100k(&first.large) / cpu_per_100k(&f.large).max(1e-9),
        ));
    }
    out
}

pub(crate) fn table(results: &[(String, Figures)], small: usize, large: usize, rate: u64) -> String {
    let mut out = String::new();
    let names: Vec<&str> = results.iter().map(|(n, _)| n.as_str()).collect();
    let first = &results[0].1;
    out.push_str(&format!("| figure | {} |", names.join(" | ")));
    for n in &names[1..] {
        out.push_str(&format!(" {} / {} |", names[0], n));
    }
    out.push('\n');
    out.push_str(&"|---".repeat(names.len() * 2));
    out.push_str("|\n");
    // (label, value of a result, formatted cell, higher is better; None: no ratio, the servers' rates differ)
    type Row<'a> = (String, Box<dyn Fn(&Figures) -> f64 + 'a>, Box<dyn Fn(&Figures) -> String + 'a>, Option<bool>);
    fn plain<'a>(
        get: impl Fn(&Figures) -> f64 + Copy + 'a,
        show: impl Fn(f64) -> String + 'a,
    ) -> Box<dyn Fn(&Figures) -> String + 'a> {
        Box::new(move |f| show(get(f)))
    }
    let sat_cell = |s: &Saturation| {
        if s.rate <= 0.0 {
            "n/a (no rate kept up)".to_owned()
        } else {
            format!("{} at {}{:.0} ev/s", fmt_rate(s.per_sec), if s.unbounded { "≥ " } else { "" }, s.rate)
        }
    };
    let lat_cell = |l: &Latency, p99: bool| {
        let v = if p99 { l.p99_ms } else { l.p50_ms };
        if l.samples == 0 {
            "n/a".to_owned()
        } else if l.achieved < 0.97 * l.asked {
            format!("{v:.2} ms ({:.0} of {:.0} ev/s)", l.achieved, l.asked)
        } else {
            format!("{v:.2} ms")
        }
    };
    let reference = first.sat_small.rate / 2.0;
    let first_name = names[0];
    // The CPU rows first: CPU per delivery is what a deployment pays for (issue 23).
    let rows: Vec<Row<'_>> = vec![
        (
            format!("server CPU s per 100k deliveries, {large} streams (closed loop)"),
            Box::new(|f| cpu_per_100k(&f.large)),
            plain(|f| cpu_per_100k(&f.large), |v| format!("{v:.3} s")),
            Some(false),
        ),
        (
            format!("server CPU s per 100k deliveries, {small} streams (closed loop)"),
            Box::new(|f| cpu_per_100k(&f.small)),
            plain(|f| cpu_per_100k(&f.small), |v| format!("{v:.3} s")),
            Some(false),
        ),
        (
            format!("deliveries per server write call, {large} streams (closed loop; /proc/PID/io syscw)"),
            Box::new(|f| per_write(&f.large)),
            plain(|f| per_write(&f.large), |v| format!("{v:.1}")),
            Some(true),
        ),
        (
            format!("deliveries per server write call, {small} streams (closed loop)"),
            Box::new(|f| per_write(&f.small)),
            plain(|f| per_write(&f.small), |v| format!("{v:.1}")),
            Some(true),
        ),
        (
            format!("deliveries/s at saturation, {small} streams (publish rate where delivery stops keeping up)"),
            Box::new(|f| f.sat_small.per_sec),
            Box::new(move |f| sat_cell(&f.sat_small)),
            Some(true),
        ),
        (
            format!("deliveries/s at saturation, {large} streams"),
            Box::new(|f| f.sat_large.per_sec),
            Box::new(move |f| sat_cell(&f.sat_large)),
            Some(true),
        ),
        (
            format!("publish→receive p50, {small} streams at 50 % of its own saturation rate (no ratio: rates differ)"),
            Box::new(|f| f.half_own.p50_ms),
            Box::new(move |f| format!("{} at {:.0} ev/s", lat_cell(&f.half_own, false), f.half_own.asked)),
            None,
        ),
        (
            format!("publish→receive p99, {small} streams at 50 % of its own saturation rate"),
            Box::new(|f| f.half_own.p99_ms),
            Box::new(move |f| lat_cell(&f.half_own, true)),
            None,
        ),
        (
            format!("publish→receive p50, {small} streams × {reference:.0} ev/s (50 % of {first_name}'s saturation)"),
            Box::new(|f| f.half_ref.p50_ms),
            Box::new(move |f| lat_cell(&f.half_ref, false)),
            Some(false),
        ),
        (
            format!("publish→receive p99, {small} streams × {reference:.0} ev/s (50 % of {first_name}'s saturation)"),
            Box::new(|f| f.half_ref.p99_ms),
            Box::new(move |f| lat_cell(&f.half_ref, true)),
            Some(false),
        ),
        (
            format!("deliveries/s, {small} streams, closed loop (≤ 256 events ahead)"),
            Box::new(|f| f.small.per_sec),
            plain(|f| f.small.per_sec, fmt_rate),
            Some(true),
        ),
        (
            format!("deliveries/s, {large} streams, closed loop"),
            Box::new(|f| f.large.per_sec),
            plain(|f| f.large.per_sec, fmt_rate),
            Some(true),
        ),
        (
            format!("RSS per idle stream, {large} streams"),
            Box::new(|f| f.rss_per_conn_kb),
            plain(|f| f.rss_per_conn_kb, |v| format!("{v:.1} KB")),
            Some(false),
        ),
        (
            format!("publish→receive p50, {small} streams × {rate} ev/s"),
            Box::new(|f| f.p50_ms),
            plain(|f| f.p50_ms, |v| format!("{v:.2} ms")),
            Some(false),
        ),
        (
            format!("publish→receive p99, {small} streams × {rate} ev/s"),
            Box::new(|f| f.p99_ms),
            plain(|f| f.p99_ms, |v| format!("{v:.2} ms")),
            Some(false),
        ),
        (
            format!("latency phase: publish rate achieved (asked {rate} ev/s)"),
            Box::new(|f| f.latency_rate),
            plain(|f| f.latency_rate, |v| format!("{v:.0} ev/s")),
            Some(true),
        ),
        (
            format!("publish→receive p50, {small} streams × {} ev/s", rate / 10),
            Box::new(|f| f.p50_low_ms),
            plain(|f| f.p50_low_ms, |v| format!("{v:.2} ms")),
            Some(false),
        ),
        (
            format!("publish→receive p99, {small} streams × {} ev/s", rate / 10),
            Box::new(|f| f.p99_low_ms),
            plain(|f| f.p99_low_ms, |v| format!("{v:.2} ms")),
            Some(false),
        ),
    ];
    for (label, get, show, higher_better) in &rows {
        out.push_str(&format!("| {label} |"));
        for (_, f) in results {
            out.push_str(&format!(" {} |", show(f)));
        }
        let ours = get(first);
        for (_, f) in &results[1..] {
            let theirs = get(f);
            let Some(higher_better) = higher_better else {
                out.push_str(" – |");
                continue;
            };
            // Ratios read "how many times better": higher is better in every column.
            let r = if *higher_better { ours / theirs } else { theirs / ours };
            if r.is_finite() && r > 0.0 {
                out.push_str(&format!(" {r:.2}× |"));
            } else {
                out.push_str(" n/a |");
            }
        }
        out.push('\n');
    }
    out.push_str("| gaps / duplicates / missing / broken streams |");
    for (_, f) in results {
        out.push_str(&format!(
            " {} / {} / {} / {} |",
            // Nchan's ids (`<time>:<tag>`) do not show every gap: n/a rather than an unchecked zero.
            if f.gaps_unknown { "n/a".to_owned() } else { f.gaps.to_string() },
            f.dups,
            f.small.missing + f.large.missing + f.latency_missing,
            f.broken
        ));
    }
    out.push_str(&" |".repeat(names.len() - 1));
    out.push('\n');
    out.push('\n');
    out.push_str("Saturation: fixed-rate steps (32 keep-alive publishers, one request in flight each) from 70 % of the closed-loop rate, ×1.5 while \
                  delivery keeps up (≥ 97 % of the rate published and ≥ 97 % of the deliveries within 250 ms), then \
                  bisection to 10 %; the row shows the deliveries/s measured at the highest rate that kept up. \
                  Latency rows marked (X of Y ev/s) did not reach the asked rate.\n\n");
    out.push_str(
        "Details (per server): events published at 1k/10k, latency-phase publish rate achieved and samples, \
                  VmRSS before/after the idle streams, load-generator CPU share of each throughput phase.\n\n",
    );
    for (name, f) in results {
        out.push_str(&format!(
            "- {name}: published {} / {} events; latency phase {:.0} ev/s, {} samples; VmRSS {} → {} KB; \
             loadgen CPU {:.0}% / {:.0}%, server CPU {:.0}% / {:.0}% of one core (at {small} / {large})\n",
            f.small.published,
            f.large.published,
            f.latency_rate,
            f.latency_samples,
            f.rss_before_kb,
            f.rss_after_kb,
            100.0 * f.small.loadgen_cpu / f.small.secs,
            100.0 * f.large.loadgen_cpu / f.large.secs,
            100.0 * f.small.server_cpu / f.small.secs,
            100.0 * f.large.server_cpu / f.large.secs,
        ));
        for (n, sat) in [(small, &f.sat_small), (large, &f.sat_large)] {
            let steps: Vec<String> = sat
                .steps
                .iter()
                .map(|s| {
                    format!(
                        "{:.0}→{:.0} ev/s {:.1}%{}",
                        s.asked,
                        s.achieved,
                        100.0 * s.ratio,
                        if s.kept_up { "" } else { " ✗" }
                    )
                })
                .collect();
            out.push_str(&format!(
                "  - saturation search at {n} streams (asked→published, delivered within 250 ms; ✗ = not kept up): {}; \
                 in overloaded steps: {} gaps, {} duplicates, {} streams dropped\n",
                steps.join(", "),
                sat.overload_gaps,
                sat.overload_dups,
                sat.overload_broken,
            ));
        }
    }
    out
}

pub(crate) fn json(results: &[(String, Figures)]) -> serde_json::Value {
    let mut m = BTreeMap::new();
    for (name, f) in results {
        m.insert(
            name.clone(),
            serde_json::json!({
                "deliveries_per_sec_small": f.small.per_sec,
                "deliveries_per_sec_large": f.large.per_sec,
                "rss_per_idle_conn_kb": f.rss_per_conn_kb,
                "p50_ms": f.p50_ms,
                "p99_ms": f.p99_ms,
                "cpu_s_per_100k_large": f.large.server_cpu / f.large.delivered.max(1) as f64 * 1e5,
                "cpu_s_per_100k_small": f.small.server_cpu / f.small.delivered.max(1) as f64 * 1e5,
                "gaps": f.gaps, "dups": f.dups,
                "missing": f.small.missing + f.large.missing + f.latency_missing,
                "broken": f.broken,
                "latency_rate": f.latency_rate,
                "p50_low_ms": f.p50_low_ms, "p99_low_ms": f.p99_low_ms, "latency_low_rate": f.latency_low_rate,
                "gaps_checked": !f.gaps_unknown,
                "saturation_small": { "rate": f.sat_small.rate, "deliveries_per_sec": f.sat_small.per_sec, "unbounded": f.sat_small.unbounded },
                "saturation_large": { "rate": f.sat_large.rate, "deliveries_per_sec": f.sat_large.per_sec, "unbounded": f.sat_large.unbounded },
                "half_own": { "rate": f.half_own.asked, "achieved": f.half_own.achieved, "p50_ms": f.half_own.p50_ms, "p99_ms": f.half_own.p99_ms },
                "half_ref": { "rate": f.half_ref.asked, "achieved": f.half_ref.achieved, "p50_ms": f.half_ref.p50_ms, "p99_ms": f.half_ref.p99_ms },
            }),
        );
    }
    serde_json::to_value(m).unwrap_or_default()
}

/// The single pipelined publisher, one column per server, with ours / each other server.
pub(crate) fn pipelined_table(rows: &[(String, crate::pipelined::Pipelined)], sequential: bool) -> String {
    use crate::pipelined::Pipelined;
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    let f0 = &rows[0].1;
    let what = if sequential {
        "One publisher writing `POST /update` once the previous publish is answered".to_owned()
    } else {
        format!("One keep-alive connection pipelining `POST /update` at {:.0} events/s", f0.rate)
    };
    let mut out = format!("{what} to {} open streams.\n\n| figure | {} |", f0.streams, names.join(" | "));
    for n in &names[1..] {
        out.push_str(&format!(" {} / {} |", names[0], n));
    }
    out.push('\n');
    out.push_str(&"|---".repeat(names.len() * 2));
    out.push_str("|\n");
    type Get = fn(&Pipelined) -> f64;
    let figures: [(&str, Get, bool); 8] = [
        ("server CPU s per 100k deliveries", |f| f.cpu_per_100k, false),
        ("deliveries/s", |f| f.deliveries_per_sec, true),
        ("publishes acknowledged (of sent)", |f| f.acked as f64, true),
        ("acknowledged publishes/s", |f| f.acked_per_sec, true),
        ("publish→acknowledge p50 ms", |f| f.ack_p50_ms, false),
        ("publish→acknowledge p99 ms", |f| f.ack_p99_ms, false),
        ("publish→receive p50 ms", |f| f.receive_p50_ms, false),
        ("publish→receive p99 ms", |f| f.receive_p99_ms, false),
    ];
    for (label, get, _) in figures {
        out.push_str(&format!("| {label} |"));
        for (_, f) in rows {
            let v = get(f);
            let cell = match label {
                "deliveries/s" => fmt_rate(v),
                "publishes acknowledged (of sent)" => format!("{} of {}", f.acked, f.sent),
                "acknowledged publishes/s" => format!("{v:.0}"),
                "server CPU s per 100k deliveries" => format!("{v:.3}"),
                _ => format!("{v:.2}"),
            };
            out.push_str(&format!(" {cell} |"));
        }
        let first = get(&rows[0].1);
        for (_, f) in &rows[1..] {
            let other = get(f);
            if other > 0.0 {
                out.push_str(&format!(" {:.2}× |", first / other));
            } else {
                out.push_str(" n/a |");
            }
        }
        out.push('\n');
    }
    out.push_str("| missing / gaps / duplicates |");
    for (_, f) in rows {
        out.push_str(&format!(" {} / {} / {} (of {} delivered) |", f.missing, f.gaps, f.dups, f.delivered));
    }
    for _ in &rows[1..] {
        out.push_str(" |");
    }
    out.push('\n');
    out
}
