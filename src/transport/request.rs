//! What the fetch transport sends, and the one check it makes of a response's content type. Pure Rust, so it also
//! builds (and is tested) on the host.

#[cfg(feature = "fetch")]
use std::fmt;
#[cfg(feature = "fetch")]
use std::future::Future;
#[cfg(feature = "fetch")]
use std::rc::Rc;

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
#[derive(Clone)]
#[must_use]
pub struct FetchRequest {
    method: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    max_event_bytes: usize,
    prepare: Option<Prepare>,
}

/// The per-attempt callback of [`FetchRequest::prepare`], as the transport calls it: with the attempt and what to do
/// with the request once ready. A callback rather than a future, so that the transport links no executor: the
/// JavaScript API's `request` option is one directly; [`FetchRequest::prepare`] drives the user's future with
/// `spawn_local`, linked only into apps that call it.
#[cfg(feature = "fetch")]
pub(crate) type Prepare = Rc<dyn Fn(RequestAttempt, Prepared)>;

/// What the transport does with the request a [`Prepare`] callback made (or the reason it could not).
#[cfg(feature = "fetch")]
pub(crate) type Prepared = Box<dyn FnOnce(Result<FetchRequest, String>)>;

/// Which connection attempt [`FetchRequest::prepare`] is asked for.
///
/// ```
/// let a = typed_eventsource::RequestAttempt::default();
/// assert_eq!((a.connection, a.unauthorized), (0, false));
/// ```
#[cfg(feature = "fetch")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestAttempt {
    /// How many connections the source made before this one (0: the first).
    pub connection: u32,
    /// The server answered the previous request of this connection with 401 Unauthorized: refresh the credentials.
    /// Asked at most once per connection; a second 401 is a fatal error.
    pub unauthorized: bool,
}

/// Largest event the fetch transport accepts by default (16 MiB): a runaway stream cannot take all memory.
#[cfg(feature = "fetch")]
pub(crate) const DEFAULT_MAX_EVENT_BYTES: usize = 16 << 20;

#[cfg(feature = "fetch")]
impl Default for FetchRequest {
    fn default() -> Self {
        FetchRequest {
            method: "GET".to_owned(),
            headers: Vec::new(),
            body: None,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            prepare: None,
        }
    }
}

#[cfg(feature = "fetch")]
impl fmt::Debug for FetchRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchRequest")
            .field("method", &self.method)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("prepare", &self.prepare.is_some())
            .finish()
    }
}

/// Equal with the same method, headers, body and limit, and the same `prepare` callback (the same `Rc`), if any.
#[cfg(feature = "fetch")]
impl PartialEq for FetchRequest {
    fn eq(&self, other: &Self) -> bool {
        self.method == other.method
            && self.headers == other.headers
            && self.body == other.body
            && self.max_event_bytes == other.max_event_bytes
            && match (&self.prepare, &other.prepare) {
                (None, None) => true,
                (Some(a), Some(b)) => Rc::ptr_eq(a, b),
                _ => false,
            }
    }
}

#[cfg(feature = "fetch")]
impl Eq for FetchRequest {}

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

    /// The largest event accepted, in bytes of data (default 16 MiB); a larger one is skipped and reported as
    /// [`Error::TooLarge`](crate::Error::TooLarge), and the stream goes on.
    ///
    /// ```
    /// let req = typed_eventsource::FetchRequest::new().max_event_bytes(64 * 1024);
    /// assert_eq!(req.max_event_size(), 64 * 1024);
    /// ```
    pub fn max_event_bytes(mut self, limit: usize) -> Self {
        self.max_event_bytes = limit;
        self
    }

    /// Asks `prepare` for the request of each connection attempt — the first connect, every reconnect, and once more
    /// after a 401 Unauthorized (with [`RequestAttempt::unauthorized`] set) before the 401 counts as fatal. The
    /// request it returns is sent in place of this one (its method, headers and body; `Last-Event-ID` is added);
    /// an `Err` is a fatal error. Use it for a bearer token that expires:
    ///
    /// ```
    /// use typed_eventsource::FetchRequest;
    /// let req = FetchRequest::new().prepare(|attempt| async move {
    ///     let token = if attempt.unauthorized { "fresh" } else { "cached" }; // e.g. refresh on a 401
    ///     Ok(FetchRequest::new().header("Authorization", format!("Bearer {token}")))
    /// });
    /// assert!(req.has_prepare());
    /// ```
    pub fn prepare<F, Fut>(mut self, prepare: F) -> Self
    where
        F: Fn(RequestAttempt) -> Fut + 'static,
        Fut: Future<Output = Result<FetchRequest, String>> + 'static,
    {
        self.prepare = Some(Rc::new(move |attempt, done: Prepared| {
            let request = prepare(attempt);
            // In a browser the transport goes on when the future is ready; the host has no transport, but a
            // callback set here still runs to completion.
            #[cfg(target_arch = "wasm32")]
            wasm_bindgen_futures::spawn_local(async move { done(request.await) });
            #[cfg(not(target_arch = "wasm32"))]
            done(futures::executor::block_on(request));
        }));
        self
    }

    /// Sets the per-attempt callback in its callback form (the JavaScript API's `request` option).
    #[cfg(all(target_arch = "wasm32", feature = "js"))]
    pub(crate) fn prepare_with(mut self, prepare: Prepare) -> Self {
        self.prepare = Some(prepare);
        self
    }

    /// Whether a [`prepare`](Self::prepare) callback is set.
    ///
    /// ```
    /// assert!(!typed_eventsource::FetchRequest::new().has_prepare());
    /// ```
    pub fn has_prepare(&self) -> bool {
        self.prepare.is_some()
    }

    /// The limit set by [`max_event_bytes`](Self::max_event_bytes).
    ///
    /// ```
    /// assert_eq!(typed_eventsource::FetchRequest::new().max_event_size(), 16 << 20);
    /// ```
    pub fn max_event_size(&self) -> usize {
        self.max_event_bytes
    }

    /// The callback set by [`prepare`](Self::prepare).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn prepare_fn(&self) -> Option<Prepare> {
        self.prepare.clone()
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

/// Whether a `Content-Type` is `text/event-stream` (parameters and case ignored, so `Text/Event-Stream; charset=utf-8`
/// is one), as the spec requires. Crate-private: its examples are the unit tests below.
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
        // The Content-Types of wpt eventsource/format-mime-* and format-utf-8 (codec/tests/wpt/MANIFEST points here).
        assert!(!is_event_stream("x bogus")); // format-mime-bogus
        assert!(is_event_stream("text/event-stream;")); // format-mime-trailing-semicolon
        assert!(!is_event_stream("text/x-bogus")); // format-mime-valid-bogus
        assert!(is_event_stream("text/event-stream;charset=windows-1252")); // format-utf-8
    }
}
