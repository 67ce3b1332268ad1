//! The HTTP routes, one module per area.

pub mod broadcast;
pub mod fixtures;
pub mod jobs;
pub mod ops;
pub mod users;

/// Milliseconds since the epoch.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
