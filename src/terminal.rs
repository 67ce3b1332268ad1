//! Rules that say which message ends a stream, so the client closes it instead of reconnecting forever.

use std::fmt;
use std::rc::Rc;

use crate::CloseReason;

/// The function of a [`TerminalRule::Predicate`]: `(event type, data) -> is terminal`.
pub type Predicate = Rc<dyn Fn(&str, &str) -> bool>;

/// A rule matching the message after which the source closes itself.
///
/// The server of scenario 2 ends a job with `event: ping` / `data: finished`; without a rule the browser would
/// reconnect forever after the server ends the response.
///
/// ```
/// use typed_eventsource::TerminalRule;
/// let rule = TerminalRule::event_with_data("ping", "finished");
/// assert!(rule.matches("ping", "finished"));
/// assert!(!rule.matches("ping", "step 2/5"));
/// assert!(TerminalRule::event("done").matches("done", "anything"));
/// assert!(TerminalRule::predicate(|_event, data| data.contains("\"status\":\"DONE\"")).matches("message", "{\"status\":\"DONE\"}"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum TerminalRule {
    /// An event of this type; with `data: Some(..)` only when the data is exactly that text.
    Event {
        /// The event type (`message` for unnamed events).
        event: String,
        /// The exact data, or `None` for any data.
        data: Option<String>,
    },
    /// Any event for which the function, given `(event type, data)`, returns `true`. It sees the event types that have
    /// a handler or an [`Event`](TerminalRule::Event) rule (an `EventSource` only reports types listened to).
    Predicate(Predicate),
}

impl TerminalRule {
    /// Matches any event of type `event`.
    ///
    /// ```
    /// assert!(typed_eventsource::TerminalRule::event("done").matches("done", ""));
    /// ```
    pub fn event(event: impl Into<String>) -> Self {
        TerminalRule::Event { event: event.into(), data: None }
    }

    /// Matches events of type `event` whose data is exactly `data`.
    ///
    /// ```
    /// assert!(typed_eventsource::TerminalRule::event_with_data("ping", "finished").matches("ping", "finished"));
    /// ```
    pub fn event_with_data(event: impl Into<String>, data: impl Into<String>) -> Self {
        TerminalRule::Event { event: event.into(), data: Some(data.into()) }
    }

    /// Matches events for which `f(event_type, data)` is true.
    ///
    /// ```
    /// let rule = typed_eventsource::TerminalRule::predicate(|event, _| event.starts_with("end-"));
    /// assert!(rule.matches("end-job", ""));
    /// ```
    pub fn predicate(f: impl Fn(&str, &str) -> bool + 'static) -> Self {
        TerminalRule::Predicate(Rc::new(f))
    }

    /// Whether an event of type `event` carrying `data` is terminal under this rule.
    ///
    /// ```
    /// assert!(!typed_eventsource::TerminalRule::event("done").matches("message", "done"));
    /// ```
    pub fn matches(&self, event: &str, data: &str) -> bool {
        match self {
            TerminalRule::Event { event: e, data: d } => e == event && d.as_deref().is_none_or(|d| d == data),
            TerminalRule::Predicate(f) => f(event, data),
        }
    }
}

impl fmt::Debug for TerminalRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerminalRule::Event { event, data } => {
                f.debug_struct("Event").field("event", event).field("data", data).finish()
            }
            TerminalRule::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

/// Whether any of `rules` matches.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn is_terminal(rules: &[TerminalRule], event: &str, data: &str) -> bool {
    rules.iter().any(|r| r.matches(event, data))
}

/// The close reason for an event that matches one of `rules` ([`CloseReason::Terminal`]), if it does.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn check(rules: &[TerminalRule], event: &str, data: &str) -> Option<CloseReason> {
    is_terminal(rules, event, data).then(|| CloseReason::Terminal { event: event.to_owned(), data: data.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_with_data_needs_both() {
        let r = TerminalRule::event_with_data("ping", "finished");
        assert!(r.matches("ping", "finished"));
        assert!(!r.matches("message", "finished"));
        assert!(!r.matches("ping", "finished "));
    }

    #[test]
    fn event_rule_accepts_any_data_and_is_case_sensitive() {
        let r = TerminalRule::event("done");
        assert!(r.matches("done", ""));
        assert!(r.matches("done", "{\"x\":1}"));
        assert!(!r.matches("Done", ""));
    }

    #[test]
    fn any_rule_matches() {
        let rules = [TerminalRule::event("a"), TerminalRule::predicate(|_, d| d == "stop")];
        assert!(is_terminal(&rules, "a", "x"));
        assert!(is_terminal(&rules, "b", "stop"));
        assert!(!is_terminal(&rules, "b", "go"));
        assert!(!is_terminal(&[], "a", "stop"));
    }

    #[test]
    fn a_match_is_a_terminal_close_with_the_event_and_its_data() {
        let rules = [TerminalRule::event("done")];
        assert_eq!(
            check(&rules, "done", "bye"),
            Some(CloseReason::Terminal { event: "done".to_owned(), data: "bye".to_owned() })
        );
        assert_eq!(check(&rules, "message", "bye"), None);
    }

    #[test]
    fn debug_shows_the_rule() {
        assert_eq!(
            format!("{:?}", TerminalRule::event_with_data("ping", "finished")),
            r#"Event { event: "ping", data: Some("finished") }"#
        );
        assert_eq!(format!("{:?}", TerminalRule::predicate(|_, _| true)), "Predicate(..)");
    }
}
