//! The latency histogram: 10 µs buckets up to 10 ms, then 1 ms buckets up to 1 s.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub(crate) const FINE: u64 = 1000;
pub(crate) const COARSE: u64 = 990;

pub(crate) struct Hist {
    pub(crate) buckets: Vec<AtomicU64>,
}

impl Hist {
    pub(crate) fn new() -> Self {
        Hist { buckets: (0..(FINE + COARSE + 1)).map(|_| AtomicU64::new(0)).collect() }
    }

    pub(crate) fn record(&self, micros: u64) {
        let i = if micros < FINE * 10 {
            micros / 10
        } else if micros < 1_000_000 {
            FINE + (micros - FINE * 10) / 1000
        } else {
            FINE + COARSE
        };
        self.buckets[i as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Relaxed);
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }

    /// Upper bound of the bucket holding quantile `q`, in milliseconds.
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return f64::NAN;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= target {
                let i = i as u64;
                let upper_us = if i < FINE { (i + 1) * 10 } else { FINE * 10 + (i - FINE + 1) * 1000 };
                return upper_us as f64 / 1000.0;
            }
        }
        f64::INFINITY
    }
}
