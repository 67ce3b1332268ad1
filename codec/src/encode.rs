//! The encoder: [`Frame`] → bytes, safe for any text.

use std::fmt;

/// Why a [`Frame`] cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The event name contains CR, LF or NUL, so it would break the frame or be read differently.
    #[error("event name {0:?} contains CR, LF or NUL")]
    InvalidEventName(String),
    /// The id contains CR, LF or NUL (a NUL makes browsers ignore the id).
    #[error("event id {0:?} contains CR, LF or NUL")]
    InvalidId(String),
    /// The event name is empty (browsers would dispatch it as `message`; say so explicitly instead).
    #[error("event name is empty")]
    EmptyEventName,
}

/// One server-sent event as it goes on the wire.
///
/// ```
/// use sse_codec::Frame;
/// let bytes = Frame::message("{\"n\":1}").event("progress").id("42").retry(10_000).to_bytes().unwrap();
/// assert_eq!(bytes, b"retry: 10000\nid: 42\nevent: progress\ndata: {\"n\":1}\n\n");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
#[must_use]
pub struct Frame<'a> {
    /// `id:` field; `None` leaves the client's last event id as it was.
    pub id: Option<&'a str>,
    /// `event:` field; `None` (or `"message"`, which is written out as nothing) means a `message` event.
    pub event: Option<&'a str>,
    /// The data; every line of it becomes one `data:` line.
    pub data: &'a str,
    /// `retry:` field in milliseconds.
    pub retry: Option<u64>,
}

impl fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("id", &self.id)
            .field("event", &self.event)
            .field("data", &self.data)
            .field("retry", &self.retry)
            .finish()
    }
}

impl<'a> Frame<'a> {
    /// A `message` event carrying `data`.
    ///
    /// ```
    /// assert_eq!(sse_codec::Frame::message("hi").to_bytes().unwrap(), b"data: hi\n\n");
    /// ```
    pub fn message(data: &'a str) -> Self {
        Frame { data, ..Frame::default() }
    }

    /// Sets the event type.
    ///
    /// ```
    /// let f = sse_codec::Frame::message("finished").event("ping");
    /// assert_eq!(f.to_bytes().unwrap(), b"event: ping\ndata: finished\n\n");
    /// ```
    pub fn event(mut self, event: &'a str) -> Self {
        self.event = Some(event);
        self
    }

    /// Sets the id.
    ///
    /// ```
    /// assert_eq!(sse_codec::Frame::message("x").id("1").to_bytes().unwrap(), b"id: 1\ndata: x\n\n");
    /// ```
    pub fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the reconnection time in milliseconds.
    ///
    /// ```
    /// assert_eq!(sse_codec::Frame::message("x").retry(5).to_bytes().unwrap(), b"retry: 5\ndata: x\n\n");
    /// ```
    pub fn retry(mut self, millis: u64) -> Self {
        self.retry = Some(millis);
        self
    }

    /// Checks the frame without encoding it.
    ///
    /// ```
    /// assert!(sse_codec::Frame::message("x").event("a\nb").validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), EncodeError> {
        if let Some(event) = self.event {
            validate_event_name(event)?;
        }
        if let Some(id) = self.id {
            validate_id(id)?;
        }
        Ok(())
    }

    /// Encodes into a new buffer.
    ///
    /// ```
    /// assert_eq!(sse_codec::Frame::message("").to_bytes().unwrap(), b"data: \n\n");
    /// ```
    pub fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        encode_into(self, &mut out)?;
        Ok(out)
    }

    /// A `retry:` field on its own, ended by a blank line: sets the client's reconnection time without
    /// dispatching any event (a frame with no `data:` line fires nothing). Servers send it first on a stream.
    ///
    /// ```
    /// assert_eq!(sse_codec::Frame::retry_only(3000), b"retry: 3000\n\n");
    /// ```
    pub fn retry_only(millis: u64) -> Vec<u8> {
        format!("retry: {millis}\n\n").into_bytes()
    }

    fn encoded_len_hint(&self) -> usize {
        self.data.len() + self.id.map_or(0, str::len) + self.event.map_or(0, str::len) + 32
    }
}

/// Checks that `name` can be an `event:` field: non-empty, no CR, LF or NUL.
///
/// ```
/// assert!(sse_codec::Frame::message("x").event("job-progress").validate().is_ok());
/// ```
pub(crate) fn validate_event_name(name: &str) -> Result<(), EncodeError> {
    if name.is_empty() {
        return Err(EncodeError::EmptyEventName);
    }
    if name.contains(['\r', '\n', '\0']) {
        return Err(EncodeError::InvalidEventName(name.to_owned()));
    }
    Ok(())
}

pub(crate) fn validate_id(id: &str) -> Result<(), EncodeError> {
    if id.contains(['\r', '\n', '\0']) {
        return Err(EncodeError::InvalidId(id.to_owned()));
    }
    Ok(())
}

/// Appends the encoding of `frame` to `out`; on error nothing is appended.
///
/// Data is split on CRLF, LF and CR (the three line ends a browser accepts), one `data:` line per line, so no text
/// can inject a field or an event. Empty data is written as one empty `data:` line so the event still fires.
///
/// ```
/// let mut buf = Vec::new();
/// sse_codec::encode_into(&sse_codec::Frame::message("a\r\nb\rc"), &mut buf).unwrap();
/// assert_eq!(buf, b"data: a\ndata: b\ndata: c\n\n");
/// ```
pub fn encode_into(frame: &Frame<'_>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    frame.validate()?;
    if let Some(retry) = frame.retry {
        out.extend_from_slice(b"retry: ");
        out.extend_from_slice(retry.to_string().as_bytes());
        out.push(b'\n');
    }
    if let Some(id) = frame.id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    if let Some(event) = frame.event.filter(|e| *e != "message") {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    for line in data_lines(frame.data) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    Ok(())
}

/// A comment line (`: text`), used for heartbeats; line ends in `text` are replaced so it stays one line.
///
/// ```
/// assert_eq!(sse_codec::comment("keep-alive"), b": keep-alive\n\n");
/// ```
pub fn comment(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 4);
    out.extend_from_slice(b": ");
    out.extend(text.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\n\n");
    out
}

/// Splits on CRLF, LF or CR, as the decoder will.
fn data_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_every_field() {
        let frame = Frame::message("x").event("e").id("7");
        assert_eq!(format!("{frame:?}"), r#"Frame { id: Some("7"), event: Some("e"), data: "x", retry: None }"#);
    }

    #[test]
    fn injection_through_data_stays_data() {
        let out = Frame::message("x\n\nevent: evil\ndata: y\r").to_bytes().unwrap();
        assert_eq!(out, b"data: x\ndata: \ndata: event: evil\ndata: data: y\ndata: \n\n");
    }

    #[test]
    fn bad_names_and_ids_are_rejected_and_write_nothing() {
        let mut out = Vec::new();
        assert_eq!(
            encode_into(&Frame::message("x").event("a\rb"), &mut out),
            Err(EncodeError::InvalidEventName("a\rb".into()))
        );
        assert_eq!(encode_into(&Frame::message("x").id("1\0"), &mut out), Err(EncodeError::InvalidId("1\0".into())));
        assert_eq!(encode_into(&Frame::message("x").event(""), &mut out), Err(EncodeError::EmptyEventName));
        assert!(out.is_empty());
    }

    #[test]
    fn message_event_name_is_implicit() {
        assert_eq!(Frame::message("x").event("message").to_bytes().unwrap(), b"data: x\n\n");
    }

    #[test]
    fn comment_cannot_break_out() {
        assert_eq!(comment("a\nb"), b": a b\n\n");
    }
}
