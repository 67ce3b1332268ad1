//! What the fetch transport sends, and the one check it makes of a response's content type. Pure Rust, so it also
//! builds (and is tested) on the host.

/// The request the fetch transport sends (each reconnect sends it again, plus `Last-Event-ID`). It converts into a
/// [`Transport`](crate::Transport):
///
/// ```
/// use typed_eventsource::{FetchRequest, Transport};
/// let t: Transport = FetchRequest::new().header("Authorization", "Bearer eyJ...").into();
/// assert!(matches!(t, Transport::Fetch(_)));
/// ```
///
/// ```
/// use typed_eventsource::FetchRequest;
/// let req = FetchRequest::new().method("POST").header("Content-Type", "application/json").body(r#"{"q":1}"#);
/// assert_eq!(req.method_name(), "POST");
/// assert_eq!(req.headers(), [("Content-Type".to_owned(), "application/json".to_owned())]);
/// assert_eq!(req.body_text(), Some(r#"{"q":1}"#));
/// ```
#[cfg(feature = "fetch")]
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct FetchRequest {
    method: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

#[cfg(feature = "fetch")]
impl Default for FetchRequest {
    fn default() -> Self {
        FetchRequest { method: "GET".to_owned(), headers: Vec::new(), body: None }
    }
}

#[cfg(feature = "fetch")]
impl FetchRequest {
    /// A GET request with no extra header.
    ///
    /// ```
    /// assert_eq!(typed_eventsource::FetchRequest::new().method_name(), "GET");
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The HTTP method.
    ///
    /// ```
    /// assert_eq!(typed_eventsource::FetchRequest::new().method("POST").method_name(), "POST");
    /// ```
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = method.into();
        self
    }

    /// Adds a header (`Accept: text/event-stream` is always sent, and the request bypasses the HTTP cache).
    ///
    /// ```
    /// let req = typed_eventsource::FetchRequest::new().header("Authorization", "Bearer t");
    /// assert_eq!(req.headers().len(), 1);
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The request body.
    ///
    /// ```
    /// assert_eq!(typed_eventsource::FetchRequest::new().body("x").body_text(), Some("x"));
    /// ```
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The method set.
    ///
    /// ```
    /// assert_eq!(typed_eventsource::FetchRequest::default().method_name(), "GET");
    /// ```
    pub fn method_name(&self) -> &str {
        &self.method
    }

    /// The headers added.
    ///
    /// ```
    /// assert!(typed_eventsource::FetchRequest::new().headers().is_empty());
    /// ```
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body, if any.
    ///
    /// ```
    /// assert_eq!(typed_eventsource::FetchRequest::new().body_text(), None);
    /// ```
    pub fn body_text(&self) -> Option<&str> {
        self.body.as_deref()
    }
}

/// Whether a `Content-Type` is `text/event-stream` (parameters and case ignored), as the spec requires.
///
/// ```ignore
/// assert!(is_event_stream("Text/Event-Stream; charset=utf-8"));
/// ```
#[cfg_attr(not(all(target_arch = "wasm32", feature = "fetch")), allow(dead_code))]
pub(crate) fn is_event_stream(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/event-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_check_follows_the_mime_rules() {
        assert!(is_event_stream("text/event-stream"));
        assert!(is_event_stream("text/event-stream;charset=utf-8"));
        assert!(is_event_stream(" TEXT/EVENT-STREAM ; x=y"));
        assert!(!is_event_stream("text/plain"));
        assert!(!is_event_stream("text/event-streams"));
        assert!(!is_event_stream(""));
    }
}
