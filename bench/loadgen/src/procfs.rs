//! Process figures from `/proc`: resident memory, CPU time and write calls, summed over a process and its descendants (nginx's
//! master and workers; a wrapper's child).

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `after` starts at field 3 (state): the command in parentheses may hold spaces.
    let after = &s[s.rfind(')')? + 2..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// `pid` and all its descendants.
pub(crate) fn tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if let Some(ppid) = stat_fields(p).and_then(|f| f.get(1)?.parse::<u32>().ok()) {
                parents.push((p, ppid));
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    out
}

fn rss_one(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}

/// VmRSS of `pid` and its descendants, in KB.
pub(crate) fn rss_kb(pid: u32) -> u64 {
    tree(pid).into_iter().map(rss_one).sum()
}

/// utime + stime of one process (all threads), in seconds.
fn cpu_one(pid: u32) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    stat_fields(pid)
        .and_then(|f| {
            // Fields 14 and 15 of stat are utime and stime; `f` starts at field 3.
            Some((f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?) as f64 / tick)
        })
        .unwrap_or(0.0)
}

/// utime + stime of `pid` and its descendants, in seconds.
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    tree(pid).into_iter().map(cpu_one).sum()
}

/// Write-type system calls (`syscw` of `/proc/PID/io`: write, writev, …) of `pid` and its descendants: with the
/// deliveries, how many events a server sends per write.
pub(crate) fn write_calls(pid: u32) -> u64 {
    tree(pid)
        .into_iter()
        .filter_map(|p| {
            let s = std::fs::read_to_string(format!("/proc/{p}/io")).ok()?;
            s.lines().find_map(|l| l.strip_prefix("syscw:").and_then(|v| v.trim().parse::<u64>().ok()))
        })
        .sum()
}

pub(crate) fn self_cpu_secs() -> f64 {
    cpu_one(std::process::id())
}
