//! The report: the markdown table (with ratios against the servers after the first) and the JSON figures.

use std::collections::BTreeMap;

use crate::server::Figures;

pub(crate) fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M/s", v / 1e6)
    } else {
        format!("{:.0} k/s", v / 1e3)
    }
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
    // (label, value of a result, formatted, higher is better)
    type Row<'a> = (String, Box<dyn Fn(&Figures) -> f64 + 'a>, Box<dyn Fn(f64) -> String + 'a>, bool);
    let rows: Vec<Row<'_>> = vec![
        (format!("deliveries/s, {small} streams"), Box::new(|f| f.small.per_sec), Box::new(fmt_rate), true),
        (format!("deliveries/s, {large} streams"), Box::new(|f| f.large.per_sec), Box::new(fmt_rate), true),
        (format!("RSS per idle stream, {large} streams"), Box::new(|f| f.rss_per_conn_kb), Box::new(|v| format!("{v:.1} KB")), false),
        (format!("publish→receive p50, {small} streams × {rate} ev/s"), Box::new(|f| f.p50_ms), Box::new(|v| format!("{v:.2} ms")), false),
        (format!("publish→receive p99, {small} streams × {rate} ev/s"), Box::new(|f| f.p99_ms), Box::new(|v| format!("{v:.2} ms")), false),
        (format!("latency phase: publish rate achieved (asked {rate} ev/s)"), Box::new(|f| f.latency_rate), Box::new(|v| format!("{v:.0} ev/s")), true),
        (format!("publish→receive p50, {small} streams × {} ev/s", rate / 10), Box::new(|f| f.p50_low_ms), Box::new(|v| format!("{v:.2} ms")), false),
        (format!("publish→receive p99, {small} streams × {} ev/s", rate / 10), Box::new(|f| f.p99_low_ms), Box::new(|v| format!("{v:.2} ms")), false),
        (format!("server CPU s per 100k deliveries, {large} streams"), Box::new(|f| f.large.server_cpu / f.large.delivered.max(1) as f64 * 1e5), Box::new(|v| format!("{v:.3} s")), false),
        (format!("server CPU s per 100k deliveries, {small} streams"), Box::new(|f| f.small.server_cpu / f.small.delivered.max(1) as f64 * 1e5), Box::new(|v| format!("{v:.3} s")), false),
    ];
    for (label, get, show, higher_better) in &rows {
        out.push_str(&format!("| {label} |"));
        for (_, f) in results {
            out.push_str(&format!(" {} |", show(get(f))));
        }
        let ours = get(first);
        for (_, f) in &results[1..] {
            let theirs = get(f);
            // Ratios read "how many times better": higher is better in every column.
            let r = if *higher_better { ours / theirs } else { theirs / ours };
            out.push_str(&format!(" {r:.2}× |"));
        }
        out.push('\n');
    }
    out.push_str("| gaps / duplicates / missing / broken streams |");
    for (_, f) in results {
        out.push_str(&format!(
            " {} / {} / {} / {} |",
            f.gaps,
            f.dups,
            f.small.missing + f.large.missing + f.latency_missing,
            f.broken
        ));
    }
    out.push_str(&" |".repeat(names.len() - 1));
    out.push('\n');
    out.push('\n');
    out.push_str("Details (per server): events published at 1k/10k, latency-phase publish rate achieved and samples, \
                  VmRSS before/after the idle streams, load-generator CPU share of each throughput phase.\n\n");
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
            }),
        );
    }
    serde_json::to_value(m).unwrap_or_default()
}
