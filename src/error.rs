//! Errors, told apart by what the user should do about them.

/// Something that went wrong with a source; handed to the error handler or yielded by the stream.
///
/// ```
/// use typed_eventsource::{Error, ErrorKind};
/// let e = Error::Decode { event: "message".into(), data: "{oops".into(), reason: "bad JSON".into() };
/// assert_eq!(e.kind(), ErrorKind::Decode);
/// assert_eq!(e.to_string(), "could not decode the data of a `message` event: bad JSON");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The connection dropped and the browser is reconnecting by itself; events resume with `Last-Event-ID`.
    Transient,
    /// The browser gave up on the connection: a non-200 status, a content type other than `text/event-stream`, or a
    /// failed connection. The [`ReconnectPolicy`](crate::ReconnectPolicy) may still re-open it.
    Fatal {
        /// What is known of the failure.
        message: String,
        /// The HTTP status, when known (the fetch transport knows it; `EventSource` does not tell).
        status: Option<u16>,
        /// The response's content type, when known.
        content_type: Option<String>,
    },
    /// An event's data could not be decoded into the handler's type; the event was not delivered to that handler.
    Decode {
        /// The event type.
        event: String,
        /// The raw data, as received.
        data: String,
        /// Why it did not decode.
        reason: String,
    },
    /// The browser refused to create the `EventSource` (a malformed URL, say).
    Open {
        /// The URL given.
        url: String,
        /// The browser's message.
        reason: String,
    },
    /// The fetch transport skipped an event larger than its limit
    /// ([`FetchRequest::max_event_bytes`], 16 MiB by default); the stream goes on with the next event.
    ///
    #[cfg_attr(feature = "fetch", doc = "[`FetchRequest::max_event_bytes`]: crate::FetchRequest::max_event_bytes")]
    #[cfg_attr(
        not(feature = "fetch"),
        doc = "[`FetchRequest::max_event_bytes`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.FetchRequest.html#method.max_event_bytes"
    )]
    TooLarge {
        /// The limit, in bytes of event data.
        limit: usize,
    },
    /// The source was closed but the browser's `EventSource` does not read `CLOSED`: a bug in the library or the
    /// browser, reported rather than hidden.
    NotClosed {
        /// What the browser reports.
        state: crate::ReadyState,
    },
    /// Nothing arrived for longer than the heartbeat timeout (`SourceOptions::heartbeat_timeout`): the connection is
    /// presumed dead (a sleeping laptop, a NAT or proxy that dropped it without closing it). The source drops it and
    /// re-opens through the [`ReconnectPolicy`](crate::ReconnectPolicy), resuming after the last event id.
    HeartbeatTimeout {
        /// The timeout that passed without anything arriving.
        timeout: std::time::Duration,
    },
    /// The browser is offline (`navigator.onLine` is false): the source waits for the network, without using up its
    /// reconnect attempts, and reconnects as soon as the browser is back online.
    Offline,
    /// The type given for whole-stream dispatch is not an externally tagged enum (see [`event_names`](crate::event_names)).
    NotAnEnum {
        /// The Rust type.
        type_name: &'static str,
        /// Why.
        reason: String,
    },
}

/// The kind of an [`Error`], as JavaScript sees it (`"transient" | "fatal" | "decode" | "open" | "too-large" |
/// "not-closed" | "heartbeat-timeout" | "offline" | "not-an-enum"`).
///
/// ```
/// assert_eq!(typed_eventsource::Error::Transient.kind().as_str(), "transient");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Transient`].
    Transient,
    /// [`Error::Fatal`].
    Fatal,
    /// [`Error::Decode`].
    Decode,
    /// [`Error::Open`].
    Open,
    /// [`Error::TooLarge`].
    TooLarge,
    /// [`Error::NotClosed`].
    NotClosed,
    /// [`Error::HeartbeatTimeout`].
    HeartbeatTimeout,
    /// [`Error::Offline`].
    Offline,
    /// [`Error::NotAnEnum`].
    NotAnEnum,
}

#[allow(non_upper_case_globals)]
impl ErrorKind {
    /// The former name of [`ErrorKind::NotAnEnum`].
    ///
    /// ```
    /// #![allow(deprecated)]
    /// use typed_eventsource::ErrorKind;
    /// assert_eq!(ErrorKind::Type, ErrorKind::NotAnEnum);
    /// ```
    #[deprecated(since = "0.1.1", note = "renamed `ErrorKind::NotAnEnum`, after the error it names")]
    pub const Type: ErrorKind = ErrorKind::NotAnEnum;

    /// The lowercase name used by the JavaScript API.
    ///
    /// ```
    /// assert_eq!(typed_eventsource::ErrorKind::Decode.as_str(), "decode");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Fatal => "fatal",
            ErrorKind::Decode => "decode",
            ErrorKind::Open => "open",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::NotClosed => "not-closed",
            ErrorKind::HeartbeatTimeout => "heartbeat-timeout",
            ErrorKind::Offline => "offline",
            ErrorKind::NotAnEnum => "not-an-enum",
        }
    }
}

impl Error {
    /// The message, which `Display` writes. Joined with `push_str` rather than formatted: the library shows it (the
    /// JavaScript error object, a close reason) without linking `Formatter::pad` and its Unicode counting into every
    /// app. The numbers (limit, state, timeout) stay out of it for the same reason: they are in the fields.
    pub(crate) fn message(&self) -> String {
        match self {
            Error::Transient => String::from("connection lost; the browser is reconnecting"),
            Error::Fatal { message, .. } => concat(&["connection failed: ", message]),
            Error::Decode { event, reason, .. } => {
                concat(&["could not decode the data of a `", event, "` event: ", reason])
            }
            Error::Open { url, reason } => concat(&["cannot open a connection to \"", url, "\": ", reason]),
            Error::TooLarge { .. } => String::from("an event larger than the fetch transport's size limit was skipped"),
            Error::NotClosed { .. } => {
                String::from("the source was closed but the browser does not report readyState CLOSED")
            }
            Error::HeartbeatTimeout { .. } => String::from("heartbeat timeout: the stream went silent"),
            Error::Offline => String::from("offline — waiting for the network"),
            Error::NotAnEnum { type_name, reason } => concat(&[type_name, " cannot dispatch a whole stream: ", reason]),
        }
    }

    /// Which kind of error this is.
    ///
    /// ```
    /// use typed_eventsource::{Error, ErrorKind};
    /// assert_eq!(Error::Fatal { message: "503".into(), status: Some(503), content_type: None }.kind(), ErrorKind::Fatal);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Transient => ErrorKind::Transient,
            Error::Fatal { .. } => ErrorKind::Fatal,
            Error::Decode { .. } => ErrorKind::Decode,
            Error::Open { .. } => ErrorKind::Open,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::NotClosed { .. } => ErrorKind::NotClosed,
            Error::HeartbeatTimeout { .. } => ErrorKind::HeartbeatTimeout,
            Error::Offline => ErrorKind::Offline,
            Error::NotAnEnum { .. } => ErrorKind::NotAnEnum,
        }
    }

    /// Whether the source keeps going by itself after this error (transient, heartbeat-timeout, offline, decode and
    /// too-large errors).
    ///
    /// ```
    /// assert!(typed_eventsource::Error::Transient.is_recoverable());
    /// assert!(typed_eventsource::Error::Offline.is_recoverable());
    /// ```
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            Error::Transient
                | Error::HeartbeatTimeout { .. }
                | Error::Offline
                | Error::Decode { .. }
                | Error::TooLarge { .. }
        )
    }
}

// By hand rather than thiserror's `#[error("{}", self.message())]`, which repeats the write in a match arm per variant
// (~0.5 KB in an app that shows an error).
impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Error {}

/// The parts, joined: messages without `format!`, whose every call site links sizeable formatting code.
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Error;
    use crate::ReadyState;

    /// The message of every variant, as the JavaScript `error.message` and `Display` show it.
    #[test]
    fn messages() {
        let s = String::from;
        let cases = [
            (Error::Transient, "connection lost; the browser is reconnecting"),
            (
                Error::Fatal { message: s("the server answered 500"), status: Some(500), content_type: None },
                "connection failed: the server answered 500",
            ),
            (
                Error::Decode { event: s("message"), data: s("{oops"), reason: s("bad JSON") },
                "could not decode the data of a `message` event: bad JSON",
            ),
            (Error::Open { url: s("::"), reason: s("invalid URL") }, "cannot open a connection to \"::\": invalid URL"),
            (Error::TooLarge { limit: 16 }, "an event larger than the fetch transport's size limit was skipped"),
            (
                Error::NotClosed { state: ReadyState::Open },
                "the source was closed but the browser does not report readyState CLOSED",
            ),
            (
                Error::HeartbeatTimeout { timeout: std::time::Duration::from_secs(30) },
                "heartbeat timeout: the stream went silent",
            ),
            (Error::Offline, "offline — waiting for the network"),
            (
                Error::NotAnEnum { type_name: "app::Update", reason: s("a struct") },
                "app::Update cannot dispatch a whole stream: a struct",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
            assert_eq!(error.message(), message);
        }
    }
}
