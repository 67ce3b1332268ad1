//! The SSE ids of topic events: `<epoch>-<position>` (e.g. `3f9a1c2b7e40-17`). Opaque to clients; the epoch makes an
//! id from other data (a wiped or lost store, another server) recognisable instead of silently wrong.
//!
//! ```
//! use typed_eventsource_server::event_id;
//! let id = event_id::format("3f9a1c2b7e40", 17);
//! assert_eq!(id, "3f9a1c2b7e40-17");
//! assert_eq!(event_id::parse(&id), Some(("3f9a1c2b7e40", 17)));
//! assert_eq!(event_id::parse("17"), None);
//! assert_eq!(event_id::parse("3f9a1c2b7e40-x"), None);
//! ```

/// The id of `position` in `epoch`.
pub fn format(epoch: &str, position: u64) -> String {
    let mut out = String::with_capacity(epoch.len() + 21);
    out.push_str(epoch);
    out.push('-');
    out.push_str(&position.to_string());
    out
}

/// Splits an id into epoch and position; `None` unless it is `<hex epoch>-<decimal position>`.
pub fn parse(id: &str) -> Option<(&str, u64)> {
    let (epoch, position) = id.rsplit_once('-')?;
    let hex = !epoch.is_empty() && epoch.len() <= 32 && epoch.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = !position.is_empty() && position.bytes().all(|b| b.is_ascii_digit());
    if !hex || !digits {
        return None;
    }
    Some((epoch, position.parse().ok()?))
}
