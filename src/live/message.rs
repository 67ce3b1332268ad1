//! What a live stream keeps of what it received: [`Message`]s and [`Outage`]s.

use crate::{Error, EventMeta};

/// One received event: its decoded data and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<T> {
    /// The decoded data.
    pub data: T,
    /// Event type, `lastEventId` and origin.
    pub meta: EventMeta,
    /// The number of this message among all received since the URL was set, from 0 (dropped ones included), so a
    /// list can key on it and a gap shows what the capacity dropped.
    pub seq: u64,
    /// When it arrived, in milliseconds since the epoch (`Date.now()`).
    pub received_at: f64,
}

/// A time the stream went silent (a [`Error::HeartbeatTimeout`]) or the browser went offline ([`Error::Offline`]),
/// and when it recovered (the next open): what a component shows as "silent since 10:02:13, recovered at 10:02:18".
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    /// The error that began it: [`Error::HeartbeatTimeout`] or [`Error::Offline`].
    pub cause: Error,
    /// When it began, in milliseconds since the epoch (`Date.now()`).
    pub since: f64,
    /// When a connection opened again, if it has.
    pub recovered_at: Option<f64>,
}
