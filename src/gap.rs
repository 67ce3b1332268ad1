//! The gap signal: the server could not resume after the id the client sent, so events may have been missed.

/// A gap in the stream: the server could not replay what followed the id the client resumed after (its store was
/// wiped, the id is older than the retained history, or malformed), so events may have been missed and the
/// application should reload its state.
///
/// A `replay-gap` event (what the project's server sends, see its README "Replay and the gap signal") and any event
/// type named with [`SourceOptions::gap_event`] arrive here — at the `on_gap` handlers — and
/// never at ordinary handlers. The fields come from the event's JSON data
/// `{"requested", "oldest", "epoch", "reason"}` when present; an absent, `null` or non-string field is `None`.
/// A server that sends no gap event never produces one.
///
/// Serialised for JavaScript as `{ event, lastEventId, data, requested?, oldest?, epoch?, reason? }`.
///
/// ```
/// use typed_eventsource::Gap;
/// let mut gap = Gap::default();
/// gap.reason = Some("other-epoch".into());
/// assert_eq!(gap.reason.as_deref(), Some("other-epoch"));
/// assert_eq!(gap.to_string(), "events may have been missed (other-epoch)");
/// ```
///
#[cfg_attr(target_arch = "wasm32", doc = "[`SourceOptions::gap_event`]: crate::SourceOptions::gap_event")]
#[cfg_attr(
    not(target_arch = "wasm32"),
    doc = "[`SourceOptions::gap_event`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.SourceOptions.html#method.gap_event"
)]
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Gap {
    /// The event type that signalled the gap (`"replay-gap"` from the project's server).
    pub event: String,
    /// The gap event's id: the stream resumes after it without another gap.
    pub last_event_id: String,
    /// The event's raw data.
    pub data: String,
    /// The id the client asked to resume after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
    /// The id of the oldest event the server still has, which follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest: Option<String>,
    /// The server's current epoch (its store's identity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// Why: `malformed`, `other-epoch`, `unknown` or `expired` from the project's server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl std::fmt::Display for Gap {
    /// ```
    /// assert_eq!(typed_eventsource::Gap::default().to_string(), "events may have been missed");
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("events may have been missed")?;
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_the_reason_when_there_is_one() {
        let mut gap = Gap::default();
        assert_eq!(gap.to_string(), "events may have been missed");
        gap.reason = Some("expired".into());
        assert_eq!(gap.to_string(), "events may have been missed (expired)");
    }
}
