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
}

impl Shared {
    pub(crate) fn micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}


/// Parses the id and the `t=<µs>` send timestamp of one event and updates the counters.
pub(crate) struct StreamCheck {
    pub(crate) last_id: u64,
}

impl StreamCheck {
    pub(crate) fn event(&mut self, shared: &Shared, id: &str, data: &str, now: u64) {
        // Ours are `<epoch>-<position>` (positions of one topic increase by one when only it publishes); the peers'
        // are plain numbers.
        let id: u64 = id.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        if self.last_id != 0 {
            if id <= self.last_id {
                shared.dups.fetch_add(1, Relaxed);
            } else if id > self.last_id + 1 {
                shared.gaps.fetch_add(id - self.last_id - 1, Relaxed);
            }
        }
        self.last_id = self.last_id.max(id);
        if shared.recording.load(Relaxed) {
            match data.find("t=") {
                Some(i) => {
                    let digits = data[i + 2..].bytes().take_while(u8::is_ascii_digit).fold(0u64, |a, d| a * 10 + u64::from(d - b'0'));
                    shared.hist.record(now.saturating_sub(digits));
                }
                None => {
                    shared.untimed.fetch_add(1, Relaxed);
                }
            }
        }
    }
}
