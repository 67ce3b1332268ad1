//! Why a source closed; reported exactly once.

/// Why a source closed. The close handler gets it exactly once, and [`TypedEventSource::close_reason`] keeps it.
///
/// Serialised for JavaScript as `{ kind: "terminal", event, data }`, `{ kind: "client" }` or
/// `{ kind: "failed", message, attempts }`.
///
/// ```
/// use typed_eventsource::CloseReason;
/// let r = CloseReason::Terminal { event: "ping".into(), data: "finished".into() };
/// assert_eq!(r.to_string(), "terminal message `ping`: finished");
/// assert!(r.is_terminal());
/// ```
///
#[cfg_attr(target_arch = "wasm32", doc = "[`TypedEventSource::close_reason`]: crate::TypedEventSource::close_reason")]
#[cfg_attr(
    not(target_arch = "wasm32"),
    doc = "[`TypedEventSource::close_reason`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.TypedEventSource.html#method.close_reason"
)]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum CloseReason {
    /// A [`TerminalRule`](crate::TerminalRule) matched this event.
    Terminal {
        /// The event type.
        event: String,
        /// Its data.
        data: String,
    },
    /// The program closed it (`close()`).
    Client,
    /// The browser gave up and the reconnect policy did too (or there was none).
    Failed {
        /// What is known of the last failure.
        message: String,
        /// How many re-opens the policy made before giving up.
        attempts: u32,
    },
}

impl CloseReason {
    /// Whether the stream ended as it was meant to: on a terminal message.
    ///
    /// ```
    /// assert!(!typed_eventsource::CloseReason::Client.is_terminal());
    /// ```
    pub fn is_terminal(&self) -> bool {
        matches!(self, CloseReason::Terminal { .. })
    }
}

impl std::fmt::Display for CloseReason {
    /// ```
    /// assert_eq!(typed_eventsource::CloseReason::Client.to_string(), "closed by the client");
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Terminal { event, data } => write!(f, "terminal message `{event}`: {data}"),
            CloseReason::Client => f.write_str("closed by the client"),
            CloseReason::Failed { message, attempts } => {
                write!(f, "failed after {attempts} re-open(s): {message}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_a_kind_tag() {
        let json = |r: &CloseReason| serde_json::to_string(r).unwrap();
        assert_eq!(
            json(&CloseReason::Terminal { event: "ping".into(), data: "finished".into() }),
            r#"{"kind":"terminal","event":"ping","data":"finished"}"#
        );
        assert_eq!(json(&CloseReason::Client), r#"{"kind":"client"}"#);
        assert_eq!(
            json(&CloseReason::Failed { message: "x".into(), attempts: 2 }),
            r#"{"kind":"failed","message":"x","attempts":2}"#
        );
    }
}
