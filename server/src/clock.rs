//! The wall clock: milliseconds since the Unix epoch, by the system clock or one a test moves ([`Clock`]). Its own
//! module so that the store (stamps, age retention), the jobs (leases) and the routes share it without importing
//! each other.

use std::sync::Arc;

/// Milliseconds since the Unix epoch, by the system clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The wall clock a store stamps events with (age retention): the system's, or one a test sets.
///
/// ```
/// use typed_eventsource_server::clock::Clock;
/// let clock = Clock::manual(1_000);
/// clock.advance(std::time::Duration::from_secs(2));
/// assert_eq!(clock.now_ms(), 3_000);
/// ```
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// [`now_ms`].
    #[default]
    System,
    /// A clock that moves only when told (tests).
    Manual(Arc<std::sync::atomic::AtomicU64>),
}

impl Clock {
    /// A manual clock at `start_ms`.
    pub fn manual(start_ms: u64) -> Self {
        Clock::Manual(Arc::new(std::sync::atomic::AtomicU64::new(start_ms)))
    }

    /// Now, in ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => now_ms(),
            Clock::Manual(t) => t.load(std::sync::atomic::Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: std::time::Duration) {
        if let Clock::Manual(t) = self {
            t.fetch_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX), std::sync::atomic::Ordering::SeqCst);
        }
    }
}
