//! A WARN line that cannot flood the log: refusals under attack (budgets, connection caps, stalled writers) are
//! logged at most once per [`LOG_EVERY`], with the count of the ones not logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Refusals of one kind are logged at most once per this period.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// A WARN line at most once per [`LOG_EVERY`]; the others are counted and reported with the next one.
#[derive(Debug, Default)]
pub struct RateLimitedLog {
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    /// `Some(number of calls not logged since the last one)` when this call should log.
    pub fn should_log(&self) -> Option<u64> {
        let now = crate::clock::now_ms();
        let next = self.next_ms.load(Ordering::Relaxed);
        let period = u64::try_from(LOG_EVERY.as_millis()).unwrap_or(u64::MAX);
        if now >= next
            && self
                .next_ms
                .compare_exchange(next, now.saturating_add(period), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::AcqRel));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}
