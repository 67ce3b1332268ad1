//! What the subscriber streams share: their counters, and the per-stream check of ids (gaps, duplicates) and of
//! publish→receive latency.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use crate::hist::Hist;

pub(crate) struct Shared {
    pub(crate) epoch: Instant,
    /// Events received (phase-relative; reset between phases once every stream is drained).
    pub(crate) delivered: AtomicU64,
    pub(crate) gaps: AtomicU64,
    pub(crate) dups: AtomicU64,
    /// Streams that ended or failed before the phase closed them.
    pub(crate) broken: AtomicU64,
    /// Streams whose response head (200, `text/event-stream`) and first body bytes arrived.
    pub(crate) ready: AtomicUsize,
    /// Micros since `epoch` of the last received event.
    pub(crate) last_event_at: AtomicU64,
    pub(crate) recording: AtomicBool,
    pub(crate) hist: Hist,
    /// Frames whose data had no `t=` timestamp (should stay 0).
    pub(crate) untimed: AtomicU64,
    /// Set when a stream saw ids from which gaps cannot be told (Nchan's `<time>:<tag>`): the gaps column then says
    /// n/a instead of a zero that was never checked. Duplicates and reordering are still checked.
    pub(crate) gaps_unknown: AtomicBool,
}

impl Shared {
    pub(crate) fn micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

/// Parses the id and the `t=<µs>` send timestamp of one event and updates the counters.
pub(crate) struct StreamCheck {
    /// The last id, as (major, minor): ours `<epoch>-<position>` → (0, position), plain numbers → (0, n), Nchan's
    /// `<time>:<tag>` → (time, tag).
    pub(crate) last_id: Option<(u64, u64)>,
}

/// Parses an event id into an ordered pair, and whether consecutive events have consecutive ids (`true`: a jump is
/// a gap) or only increasing ones (Nchan: `<time in s>:<index within that second>`, where a lost last message of a
/// second cannot be seen).
pub(crate) fn parse_id(id: &str) -> (u64, u64, bool) {
    let num = |s: &str| s.trim_matches(|c| c == '[' || c == ']').parse::<u64>().unwrap_or(0);
    if let Some((time, tag)) = id.split_once(':') {
        // Nchan: `1796034458:0`; multiplexed channels would give `time:[tag],…` (not used here).
        (num(time), num(tag.split(',').next().unwrap_or("")), false)
    } else {
        // Ours are `<epoch>-<position>` (positions of one topic increase by one when only it publishes); the other
        // servers' are plain numbers.
        (0, num(id.rsplit('-').next().unwrap_or("")), true)
    }
}

impl StreamCheck {
    pub(crate) fn event(&mut self, shared: &Shared, id: &str, data: &str, now: u64) {
        let (major, minor, consecutive) = parse_id(id);
        let id = (major, minor);
        if !consecutive {
            shared.gaps_unknown.store(true, Relaxed);
        }
        if let Some(last) = self.last_id {
            if id <= last {
                shared.dups.fetch_add(1, Relaxed);
            } else if consecutive && id.0 == last.0 && id.1 > last.1 + 1 {
                shared.gaps.fetch_add(id.1 - last.1 - 1, Relaxed);
            }
        }
        self.last_id = Some(self.last_id.map_or(id, |l| l.max(id)));
        if shared.recording.load(Relaxed) {
            match data.find("t=") {
                Some(i) => {
                    let digits = data[i + 2..]
                        .bytes()
                        .take_while(u8::is_ascii_digit)
                        .fold(0u64, |a, d| a * 10 + u64::from(d - b'0'));
                    shared.hist.record(now.saturating_sub(digits));
                }
                None => {
                    shared.untimed.fetch_add(1, Relaxed);
                }
            }
        }
    }
}
