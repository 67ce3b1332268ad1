//! What a handler learns about an event besides its data.

/// The metadata of a received event.
///
/// ```
/// let meta = typed_eventsource::EventMeta { event: "ping".into(), last_event_id: "7".into(), origin: "http://localhost:8080".into() };
/// assert_eq!(meta.event, "ping");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMeta {
    /// The event type (`message` for unnamed events).
    pub event: String,
    /// The last event id the stream has set (it persists across events without an `id`).
    pub last_event_id: String,
    /// The origin of the stream.
    pub origin: String,
}
