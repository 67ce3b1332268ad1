//! The decoder: bytes → [`Event`]s, following the WHATWG `text/event-stream` parsing rules exactly.
//!
//! The decoder is a plain state machine with no I/O: feed it the chunks a transport receives, in order, and take the
//! events it completes. It works in linear time whatever the chunking: every byte is UTF-8 decoded once (in bulk,
//! as its chunk arrives), scanned for a line end once, copied into the decoder at most once and into the event's
//! data at most once.

use std::fmt;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A dispatched server-sent event, as a browser's `MessageEvent` would show it.
///
/// ```
/// let mut decoder = sse_codec::Decoder::new();
/// let events: Vec<_> = decoder.feed(b"id: 7\nevent: ping\ndata: a\ndata: b\n\n").collect();
/// let event = events[0].as_ref().unwrap();
/// assert_eq!((event.event.as_str(), event.data.as_str(), event.last_event_id.as_str()), ("ping", "a\nb", "7"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Event {
    /// The event type: the last `event:` field of the event, or `message` when there was none (or it was empty).
    pub event: String,
    /// The `data:` values joined with `\n` (no trailing newline).
    pub data: String,
    /// The last event id in force when the event was dispatched: ids persist across events until an `id:` field
    /// changes them (an empty `id:` resets it to the empty string).
    pub last_event_id: String,
}

/// A dispatched event borrowed from the [`Decoder`]'s buffers: no allocation per event. Valid until the next call
/// on the decoder; [`Event::from`] (or [`EventRef::to_event`]) makes an owned copy.
///
/// ```
/// let mut decoder = sse_codec::Decoder::new();
/// decoder.push(b"event: tick\ndata: 1\n\ndata: 2\n\n");
/// let mut seen = Vec::new();
/// while let Some(event) = decoder.next_ref() {
///     let event = event.unwrap();
///     seen.push(format!("{}={}", event.event, event.data));
/// }
/// assert_eq!(seen, ["tick=1", "message=2"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventRef<'a> {
    /// The event type (`message` when the event had no `event:` field, or an empty one).
    pub event: &'a str,
    /// The `data:` values joined with `\n`.
    pub data: &'a str,
    /// The last event id in force at dispatch.
    pub last_event_id: &'a str,
}

impl EventRef<'_> {
    /// An owned copy.
    ///
    /// ```
    /// let mut decoder = sse_codec::Decoder::new();
    /// decoder.push(b"data: x\n\n");
    /// let event = decoder.next_ref().unwrap().unwrap().to_event();
    /// assert_eq!(event.data, "x");
    /// ```
    pub fn to_event(&self) -> Event {
        Event::from(*self)
    }
}

impl From<EventRef<'_>> for Event {
    fn from(e: EventRef<'_>) -> Self {
        Event { event: e.event.to_owned(), data: e.data.to_owned(), last_event_id: e.last_event_id.to_owned() }
    }
}

/// Why the decoder could not deliver an event.
///
/// ```
/// let mut decoder = sse_codec::Decoder::with_max_event_size(4);
/// let first = decoder.feed(b"data: too long\n\n").next().unwrap();
/// assert_eq!(first, Err(sse_codec::DecodeError::EventTooLarge { limit: 4 }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An event's data, or one of its lines, is longer than [`Decoder::with_max_event_size`] allows. The rest of
    /// that event is skipped (it is not dispatched, see [`Decoder::with_max_event_size`]); the decoder stays usable
    /// and goes on with the next event.
    #[error("server-sent event larger than the {limit}-byte limit: the event was skipped")]
    EventTooLarge {
        /// The configured maximum event size in bytes.
        limit: usize,
    },
}

/// A streaming `text/event-stream` decoder (WHATWG HTML § 9.2.6), with no I/O.
///
/// Feed it the body's chunks as they arrive with [`feed`](Decoder::feed) and iterate the events each call
/// completes; call [`finish`](Decoder::finish) at the end of the body (the unfinished event is discarded, as the
/// spec says). The same decoder can then read the next connection's body: it keeps
/// [`last_event_id`](Decoder::last_event_id) (what a client sends as `Last-Event-ID` when it reconnects) and
/// [`retry`](Decoder::retry) (the reconnection time the server asked for).
///
/// The rules, all implemented: UTF-8 decoding with U+FFFD for invalid sequences (also when a sequence is split
/// between chunks); one leading byte order mark stripped; CR, LF and CRLF line ends (a CRLF split between chunks
/// counts once); `:` comments; a field name before the first colon, one leading space removed from the value; a line
/// without a colon is a field with an empty value; unknown fields ignored; `id` ignored when it contains U+0000;
/// `retry` used only when made of ASCII digits; a blank line dispatches, an event with no data fires nothing but
/// still updates the last event id.
///
/// ```
/// use sse_codec::Decoder;
///
/// let mut decoder = Decoder::new();
/// let mut data = Vec::new();
/// // A CRLF split between two chunks is one line end; the event fires on the blank line.
/// for chunk in [&b"retry: 3000\r"[..], b"\nid: 1\r\ndata: hel", b"lo\r\n\r", b"\n: comment\n"] {
///     for event in decoder.feed(chunk) {
///         data.push(event.unwrap().data);
///     }
/// }
/// assert_eq!(data, ["hello"]);
/// assert_eq!(decoder.last_event_id(), "1");
/// assert_eq!(decoder.retry(), Some(3000));
/// assert!(decoder.finish().is_empty());
/// ```
#[derive(Clone)]
pub struct Decoder {
    /// Received text not yet consumed: `buf[pos..]` starts at the beginning of a line (or a BOM). The bytes are
    /// UTF-8 decoded as they arrive (once, in bulk), so lines and values are slices of valid text.
    buf: String,
    /// The last bytes received when they are the start of a UTF-8 sequence that the next chunk may complete.
    pending: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
    /// Where the search for the next line end resumes (`scan >= pos`): bytes in `pos..scan` are known to hold none.
    scan: usize,
    /// The previous line ended with a CR at the end of the input so far: a LF coming next belongs to it.
    skip_lf: bool,
    /// The stream start (and its possible BOM) is behind us.
    bom_done: bool,
    /// The line being received is over the limit (or a long comment): drop it up to its end.
    skip_line: bool,
    /// The current event went over the limit: its data lines are ignored and it is not dispatched.
    discarding: bool,
    /// Inside a `data:` line whose end has not arrived: its value bytes go straight to `data` as they come, so a
    /// long line is not buffered twice.
    in_data_line: bool,
    /// The last item returned was an event borrowing `data` and `event_type`: clear them before going on.
    dispatched: bool,
    /// The current event has had an `event:` field, whose value is in `event_type`. The string itself is kept
    /// between events, so a type that repeats (the usual case) is compared, not decoded and copied again.
    has_event_type: bool,
    /// An `id:` field set `id_buffer` since the last dispatch. Otherwise the spec's id buffer equals
    /// `last_event_id` and `id_buffer` is only spare capacity (a dispatch swaps the two strings, no copy).
    id_changed: bool,
    /// The data buffer: the values, each followed by LF.
    data: String,
    event_type: String,
    /// Event types seen before (at most `TYPE_CACHE` of them): a stream has few, and one found here is swapped
    /// into `event_type` instead of being decoded and copied again.
    recent_types: Vec<String>,
    id_buffer: String,
    last_event_id: String,
    retry: Option<u64>,
    max_event_size: Option<usize>,
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("buffered", &(self.buf.len() - self.pos))
            .field("data_len", &self.data.len())
            .field("event_type", &self.event_type())
            .field("last_event_id", &self.last_event_id)
            .field("retry", &self.retry)
            .field("max_event_size", &self.max_event_size)
            .field("discarding", &self.discarding)
            .finish_non_exhaustive()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with no limit on the size of an event (like a browser).
    ///
    /// ```
    /// let decoder = sse_codec::Decoder::new();
    /// assert_eq!(decoder.last_event_id(), "");
    /// assert_eq!(decoder.max_event_size(), None);
    /// ```
    pub fn new() -> Self {
        Decoder {
            buf: String::new(),
            pending: Vec::new(),
            pos: 0,
            scan: 0,
            skip_lf: false,
            bom_done: false,
            skip_line: false,
            discarding: false,
            in_data_line: false,
            dispatched: false,
            has_event_type: false,
            id_changed: false,
            data: String::new(),
            event_type: String::new(),
            recent_types: Vec::new(),
            id_buffer: String::new(),
            last_event_id: String::new(),
            retry: None,
            max_event_size: None,
        }
    }

    /// A decoder that refuses events larger than `limit` bytes, so a server cannot make it buffer without bound.
    ///
    /// An event is too large when its data (the `data:` values, each counted with its newline) would exceed
    /// `limit` bytes, or when one of its lines (other than a comment) is longer than `limit` bytes; this is
    /// noticed as soon as the bytes arrive, before the line ends. The decoder then yields one
    /// [`DecodeError::EventTooLarge`] and skips the rest of the event: the oversized line and every later `data:`
    /// line up to the blank line that ends the event are dropped unread and nothing is dispatched, while the other
    /// fields keep their effect (`id:` still sets the last event id, `retry:` the reconnection time). Comments of any
    /// length are skipped without buffering them. Memory then stays below about twice `limit` plus one chunk.
    ///
    /// ```
    /// use sse_codec::{DecodeError, Decoder};
    ///
    /// let mut decoder = Decoder::with_max_event_size(8);
    /// let items: Vec<_> = decoder.feed(b"id: 1\ndata: 0123456789\ndata: x\n\ndata: ok\n\n").collect();
    /// assert_eq!(items.len(), 2);
    /// assert_eq!(items[0], Err(DecodeError::EventTooLarge { limit: 8 }));
    /// let ok = items[1].as_ref().unwrap();
    /// assert_eq!((ok.data.as_str(), ok.last_event_id.as_str()), ("ok", "1"));
    /// ```
    pub fn with_max_event_size(limit: usize) -> Self {
        Decoder { max_event_size: Some(limit), ..Decoder::new() }
    }

    /// The configured maximum event size, if any.
    ///
    /// ```
    /// assert_eq!(sse_codec::Decoder::with_max_event_size(1 << 20).max_event_size(), Some(1 << 20));
    /// ```
    pub fn max_event_size(&self) -> Option<usize> {
        self.max_event_size
    }

    /// The last event id: set from the `id:` fields each time an event is dispatched (even one with no data, which
    /// fires nothing), kept across events and across [`finish`](Decoder::finish). A client sends it back as
    /// `Last-Event-ID` when it reconnects (only when it is not empty).
    ///
    /// ```
    /// let mut decoder = sse_codec::Decoder::new();
    /// // No data: nothing fires, but the id is committed by the blank line.
    /// assert_eq!(decoder.feed(b"id: 42\n\n").count(), 0);
    /// assert_eq!(decoder.last_event_id(), "42");
    /// ```
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time in milliseconds from the last valid `retry:` field, if any. It applies at once, with
    /// no dispatch. Values too large for a `u64` saturate to `u64::MAX`.
    ///
    /// ```
    /// let mut decoder = sse_codec::Decoder::new();
    /// assert_eq!(decoder.feed(b"retry: 2500\nretry: 1000x\nretry: +5\n").count(), 0);
    /// assert_eq!(decoder.retry(), Some(2500));
    /// ```
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// The type of the event being received: its last `event:` value, `message` when it had none (or an empty one).
    fn event_type(&self) -> &str {
        if self.has_event_type && !self.event_type.is_empty() {
            &self.event_type
        } else {
            "message"
        }
    }

    /// Sets the last event id, e.g. to resume a stream a previous session had read up to an id it stored. The id
    /// applies to the next events (unless an `id:` field replaces it), exactly as if it had been read.
    ///
    /// ```
    /// let mut decoder = sse_codec::Decoder::new();
    /// decoder.set_last_event_id("17");
    /// assert_eq!(decoder.feed(b"data: x\n\n").next().unwrap().unwrap().last_event_id, "17");
    /// ```
    pub fn set_last_event_id(&mut self, id: &str) {
        id.clone_into(&mut self.last_event_id);
        self.id_changed = false;
    }

    /// Appends a chunk of the body and returns an iterator over the items it completes (events, or an error
    /// for an oversized event).
    ///
    /// The bytes are buffered first, so nothing is lost if the iterator is dropped before the end: the items it
    /// did not yield come out of the next [`feed`](Decoder::feed) (or [`next_event`](Decoder::next_event) or
    /// [`finish`](Decoder::finish)).
    ///
    /// ```
    /// let mut decoder = sse_codec::Decoder::new();
    /// assert_eq!(decoder.feed(b"data: he").count(), 0);
    /// let event = decoder.feed(b"llo\n\n").next().unwrap().unwrap();
    /// assert_eq!((event.event.as_str(), event.data.as_str()), ("message", "hello"));
    /// ```
    pub fn feed(&mut self, chunk: &[u8]) -> Events<'_> {
        self.push(chunk);
        Events { decoder: self }
    }

    /// Appends a chunk of the body without decoding anything yet; take the events with
    /// [`next_event`](Decoder::next_event).
    ///
    /// ```
    /// let mut decoder = sse_codec::Decoder::new();
    /// decoder.push(b"data: 1\n\ndata: 2\n\n");
    /// assert_eq!(decoder.next_event().unwrap().unwrap().data, "1");
    /// assert_eq!(decoder.next_event().unwrap().unwrap().data, "2");
    /// assert!(decoder.next_event().is_none());
    /// ```
    pub fn push(&mut self, chunk: &[u8]) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.scan = 0;
        } else if self.pos > 0 && self.pos >= self.buf.len() - self.pos {
            // Move the unconsumed tail to the front only when it is no longer than what was consumed, so each
            // byte is moved O(1) times on average (a long partial line is not copied again on every chunk).
            self.buf.drain(..self.pos);
            self.scan -= self.pos;
            self.pos = 0;
        }
        self.push_decoded(chunk);
    }

    /// Appends `chunk` to `buf`, UTF-8 decoded with U+FFFD for each maximal invalid subpart (as the WHATWG
    /// decoder does), a sequence split between chunks included: its first bytes wait in `pending`.
    fn push_decoded(&mut self, mut chunk: &[u8]) {
        if !self.pending.is_empty() {
            // Enough bytes to complete (or reject) the pending sequence, which is at most 4 bytes long.
            let take = chunk.len().min(4 - self.pending.len());
            self.pending.extend_from_slice(&chunk[..take]);
            let left = push_lossy(&mut self.buf, &self.pending);
            if left > take {
                // Still incomplete: the chunk was too short.
                self.pending.drain(..self.pending.len() - left);
                return;
            }
            self.pending.clear();
            // An incomplete sequence at the end of the joined bytes starts in the chunk: decode it from there.
            chunk = &chunk[take - left..];
        }
        let left = push_lossy(&mut self.buf, chunk);
        self.pending.extend_from_slice(&chunk[chunk.len() - left..]);
    }

    /// The next complete event from the bytes pushed so far, or `None` when more input is needed.
    ///
    /// ```
    /// let mut decoder = sse_codec::Decoder::new();
    /// decoder.push(b"event: a\ndata\n\n");
    /// let event = decoder.next_event().unwrap().unwrap();
    /// assert_eq!((event.event.as_str(), event.data.as_str()), ("a", ""));
    /// ```
    pub fn next_event(&mut self) -> Option<Result<Event, DecodeError>> {
        match self.advance()? {
            Err(e) => Some(Err(e)),
            Ok(()) => {
                let event = String::from(self.event_type());
                self.data.pop(); // the LF after the last value
                let data = if self.data.len() >= 4096 {
                    // Large: hand the buffer over rather than copy it.
                    std::mem::take(&mut self.data)
                } else {
                    self.data.clone()
                };
                Some(Ok(Event { event, data, last_event_id: self.last_event_id.clone() }))
            }
        }
    }

    /// Like [`next_event`](Decoder::next_event), but the event borrows the decoder's buffers: no allocation per
    /// event (the buffers are reused), the fastest way to read a stream.
    ///
    /// ```
    /// let mut decoder = sse_codec::Decoder::new();
    /// decoder.push(b"id: 3\ndata: a\xFFb\n\n");
    /// let event = decoder.next_ref().unwrap().unwrap();
    /// assert_eq!((event.data, event.last_event_id), ("a\u{FFFD}b", "3"));
    /// assert!(decoder.next_ref().is_none());
    /// ```
    pub fn next_ref(&mut self) -> Option<Result<EventRef<'_>, DecodeError>> {
        match self.advance()? {
            Err(e) => Some(Err(e)),
            Ok(()) => {
                let data = sub(&self.data, 0, self.data.len() - 1); // without the LF after the last value
                let event =
                    if self.has_event_type && !self.event_type.is_empty() { &self.event_type } else { "message" };
                Some(Ok(EventRef { event, data, last_event_id: &self.last_event_id }))
            }
        }
    }

    /// Runs the parser to the next dispatch (`Ok`: the event is in `data` and `event_type`) or error.
    fn advance(&mut self) -> Option<Result<(), DecodeError>> {
        if self.dispatched {
            self.dispatched = false;
            self.data.clear();
            self.has_event_type = false;
        }
        // Work on the buffer out of `self` so lines can borrow it while the event state changes.
        let buf = std::mem::take(&mut self.buf);
        let item = self.decode_from(&buf);
        self.buf = buf;
        if let Some(Ok(())) = item {
            self.dispatched = true;
        }
        item
    }

    /// Ends the stream: returns the items still complete in the buffer (those not taken yet), then discards the
    /// unfinished event and any partial line, as the spec says for the end of a body, and gets ready for the next
    /// connection's body (whose leading BOM is stripped again).
    ///
    /// [`last_event_id`](Decoder::last_event_id) and [`retry`](Decoder::retry) are kept; the id of the
    /// discarded event, which never dispatched, does not count.
    ///
    /// ```
    /// let mut decoder = sse_codec::Decoder::new();
    /// decoder.push(b"id: 1\ndata: a\n\nid: 2\ndata: unfinished\n");
    /// let left = decoder.finish();
    /// assert_eq!(left.len(), 1);
    /// assert_eq!(decoder.last_event_id(), "1");
    /// // The next connection starts clean.
    /// assert_eq!(decoder.feed(b"data: b\n\n").next().unwrap().unwrap().data, "b");
    /// ```
    pub fn finish(&mut self) -> Vec<Result<Event, DecodeError>> {
        let left: Vec<_> = std::iter::from_fn(|| self.next_event()).collect();
        self.buf.clear();
        self.pending.clear();
        self.pos = 0;
        self.scan = 0;
        self.skip_lf = false;
        self.bom_done = false;
        self.skip_line = false;
        self.discarding = false;
        self.in_data_line = false;
        self.dispatched = false;
        self.data.clear();
        self.has_event_type = false;
        self.id_changed = false;
        left
    }

    fn decode_from(&mut self, text: &str) -> Option<Result<(), DecodeError>> {
        // Lines are found in the bytes; the values are slices of `text`, cut at ASCII bytes (CR, LF, `:`, space),
        // so always at character boundaries.
        let buf = text.as_bytes();
        loop {
            if self.pos == buf.len() {
                return None;
            }
            if self.skip_lf {
                self.skip_lf = false;
                if buf[self.pos] == b'\n' {
                    self.pos += 1;
                    self.scan = self.scan.max(self.pos);
                    continue;
                }
            }
            if !self.bom_done {
                // `text` is a `str`: a BOM (one character, U+FEFF) is in it whole or not at all — the UTF-8
                // decoding before it holds a split one back.
                if buf[self.pos..].starts_with(BOM) {
                    self.pos += BOM.len();
                    self.scan = self.scan.max(self.pos);
                }
                self.bom_done = true;
                continue;
            }
            if !self.in_data_line && !self.skip_line && self.scan == self.pos {
                // The usual state, at the start of a line: take the complete lines in a tight loop.
                let mut pos = self.pos;
                while let Some(len) = find_line_end(&buf[pos..]) {
                    let line = sub(text, pos, pos + len);
                    let cr = buf[pos + len] == b'\r';
                    pos += len + 1;
                    if cr {
                        self.skip_lf = true;
                    }
                    let item = self.line(line);
                    if item.is_some() || cr {
                        self.pos = pos;
                        self.scan = pos;
                        if item.is_some() {
                            return item;
                        }
                        break;
                    }
                }
                if !self.skip_lf {
                    // No line end in `buf[pos..]`: the partial line is handled below, without scanning it again.
                    self.pos = pos;
                    self.scan = buf.len();
                }
                continue;
            }
            let found = find_line_end(&buf[self.scan..]);
            if self.in_data_line {
                let end = found.map_or(buf.len(), |offset| self.scan + offset);
                let piece = sub(text, self.pos, end);
                let error = self.append_data(piece);
                self.pos = end;
                self.scan = end;
                if found.is_some() {
                    self.end_line(buf, end);
                    self.in_data_line = false;
                    if error.is_none() {
                        self.data.push('\n');
                    }
                } else if error.is_some() {
                    self.in_data_line = false;
                    self.skip_line = true;
                }
                if error.is_some() {
                    return error;
                }
                continue;
            }
            let Some(offset) = found else {
                self.scan = buf.len();
                match self.partial_line(text) {
                    Some(item) => return Some(item),
                    None if self.in_data_line => continue,
                    None => return None,
                }
            };
            let end = self.scan + offset;
            let line = sub(text, self.pos, end);
            self.end_line(buf, end);
            if self.skip_line {
                self.skip_line = false;
                continue;
            }
            if let Some(item) = self.line(line) {
                return Some(item);
            }
        }
    }

    /// Moves past the line end at `buf[end]`.
    fn end_line(&mut self, buf: &[u8], end: usize) {
        self.pos = end + 1;
        self.scan = self.pos;
        if buf[end] == b'\r' {
            self.skip_lf = true;
        }
    }

    /// Appends part of a `data:` value, unless that takes the event over the limit.
    fn append_data(&mut self, piece: &str) -> Option<Result<(), DecodeError>> {
        if let Some(limit) = self.max_event_size {
            if self.data.len() + piece.len() + 1 > limit {
                return self.too_large(limit);
            }
        }
        self.data.push_str(piece);
        None
    }

    /// No line end in `buf[pos..]` yet. A `data:` line starts streaming into the data buffer; other lines wait,
    /// unless they are over the limit.
    fn partial_line(&mut self, text: &str) -> Option<Result<(), DecodeError>> {
        let buf = text.as_bytes();
        let partial = &buf[self.pos..];
        if self.skip_line {
            self.pos = buf.len();
            return None;
        }
        if let Some(after) = partial.strip_prefix(b"data:") {
            let &first = after.first()?; // wait for the byte that says whether there is a space to strip
            if self.discarding {
                self.skip_line = true;
                self.pos = buf.len();
            } else {
                self.in_data_line = true;
                self.pos += 5 + usize::from(first == b' ');
            }
            return None;
        }
        let limit = self.max_event_size?;
        if partial.len() <= limit || b"data:".starts_with(partial) {
            return None;
        }
        // Over the limit: drop what we have and the rest of the line as it comes (silently for a comment).
        self.skip_line = true;
        self.pos = buf.len();
        if partial[0] == b':' {
            return None;
        }
        self.too_large(limit)
    }

    fn too_large(&mut self, limit: usize) -> Option<Result<(), DecodeError>> {
        if self.discarding {
            return None;
        }
        self.discarding = true;
        self.data = String::new();
        Some(Err(DecodeError::EventTooLarge { limit }))
    }

    /// Processes one complete line (without its line end).
    ///
    /// The stream is decoded first, as the spec says (see `push_decoded`); field names are compared as bytes.
    #[inline(always)]
    fn line(&mut self, text: &str) -> Option<Result<(), DecodeError>> {
        let line = text.as_bytes();
        let Some(&first) = line.first() else {
            return self.dispatch();
        };
        // The usual lines first, recognised by their first bytes without looking for the colon.
        let (name, value): (&[u8], &str) = match first {
            b':' => return None,
            b'd' if line.len() > 4 && line[..5] == *b"data:" => (b"data", strip_space(sub(text, 5, text.len()))),
            b'i' if line.len() > 2 && line[..3] == *b"id:" => (b"id", strip_space(sub(text, 3, text.len()))),
            b'e' if line.len() > 5 && line[..6] == *b"event:" => (b"event", strip_space(sub(text, 6, text.len()))),
            // Field names are short: a plain loop beats memchr's setup here.
            _ => match line.iter().position(|&b| b == b':') {
                Some(colon) => (&line[..colon], strip_space(sub(text, colon + 1, text.len()))),
                None => (line, ""),
            },
        };
        if name == b"data" {
            if self.discarding {
                return None;
            }
            return self.append_data_line(value);
        }
        // Data lines are bounded by the data rule above; any other line by its length.
        if let Some(limit) = self.max_event_size {
            if line.len() > limit {
                return self.too_large(limit);
            }
        }
        match name {
            b"event" => {
                self.set_event_type(value);
                self.has_event_type = true;
            }
            b"id" if !contains_nul(value.as_bytes()) => {
                value.clone_into(&mut self.id_buffer);
                self.id_changed = true;
            }
            b"retry" if !value.is_empty() && value.bytes().all(|d| d.is_ascii_digit()) => {
                self.retry =
                    Some(value.bytes().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))));
            }
            _ => {}
        }
        None
    }

    /// Sets `event_type` to `value`, swapping in one of the recent types when it is one of them.
    fn set_event_type(&mut self, value: &str) {
        const TYPE_CACHE: usize = 8;
        if self.event_type == value {
            return;
        }
        if let Some(recent) = self.recent_types.iter_mut().find(|t| *t == value) {
            std::mem::swap(&mut self.event_type, recent);
            return;
        }
        if !self.event_type.is_empty() && self.recent_types.len() < TYPE_CACHE {
            self.recent_types.push(std::mem::take(&mut self.event_type));
        }
        value.clone_into(&mut self.event_type);
    }

    /// Appends a complete `data:` value and its LF, unless that takes the event over the limit.
    #[inline]
    fn append_data_line(&mut self, value: &str) -> Option<Result<(), DecodeError>> {
        if let Some(limit) = self.max_event_size {
            if self.data.len() + value.len() + 1 > limit {
                return self.too_large(limit);
            }
        }
        self.data.reserve(value.len() + 1);
        self.data.push_str(value);
        self.data.push('\n');
        None
    }

    fn dispatch(&mut self) -> Option<Result<(), DecodeError>> {
        if self.id_changed {
            self.id_changed = false;
            std::mem::swap(&mut self.last_event_id, &mut self.id_buffer);
        }
        if self.discarding || self.data.is_empty() {
            self.discarding = false;
            self.data.clear();
            self.has_event_type = false;
            return None;
        }
        Some(Ok(()))
    }
}

/// Iterator over the items completed by [`Decoder::feed`]: `Ok(event)` for each dispatched event, `Err` for an
/// event that went over [`Decoder::with_max_event_size`] (the decoder goes on after it).
///
/// ```
/// let mut decoder = sse_codec::Decoder::new();
/// let data: Vec<String> = decoder.feed(b"data: a\n\ndata: b\n\n").map(|e| e.unwrap().data).collect();
/// assert_eq!(data, ["a", "b"]);
/// ```
#[derive(Debug)]
#[must_use = "the events are only decoded while the iterator is consumed"]
pub struct Events<'d> {
    decoder: &'d mut Decoder,
}

impl Iterator for Events<'_> {
    type Item = Result<Event, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.decoder.next_event()
    }
}

impl std::iter::FusedIterator for Events<'_> {}

/// `text[start..end]` where both ends are known to be character boundaries (they are at ASCII line ends, colons or
/// field names). `get` rather than indexing keeps the panic path, with its formatting and Unicode tables, out of
/// the wasm builds.
#[inline]
fn sub(text: &str, start: usize, end: usize) -> &str {
    text.get(start..end).unwrap_or_default()
}

/// A field value without its first leading space, if any.
#[inline]
fn strip_space(value: &str) -> &str {
    value.strip_prefix(' ').unwrap_or(value)
}

/// Whether `value` holds a U+0000 (memchr has its own short-input path: ids are short).
#[inline]
fn contains_nul(value: &[u8]) -> bool {
    memchr::memchr(0, value).is_some()
}

/// The first CR or LF in `bytes`. Most SSE lines are short (a few dozen bytes): they are scanned eight bytes at a
/// time in a `u64` (no call, no setup); memchr's vector search takes over for long lines.
#[inline]
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    const SHORT: usize = 128;
    let mut rest = &bytes[..bytes.len().min(SHORT)];
    let mut offset = 0;
    while let Some(word) = rest.first_chunk::<8>() {
        let found = control_bits(u64::from_le_bytes(*word));
        if found != 0 {
            let i = offset + (found.trailing_zeros() / 8) as usize;
            if bytes[i] == b'\n' || bytes[i] == b'\r' {
                return Some(i);
            }
            // Another control character (a tab, a NUL: rare): search the rest of the line with memchr.
            return memchr::memchr2(b'\n', b'\r', &bytes[i + 1..]).map(|j| i + 1 + j);
        }
        offset += 8;
        rest = &rest[8..];
    }
    if let Some(i) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
        return Some(offset + i);
    }
    if bytes.len() <= SHORT {
        return None;
    }
    memchr::memchr2(b'\n', b'\r', &bytes[SHORT..]).map(|i| i + SHORT)
}

/// The high bit of each byte of `word` (little-endian) below 14 (a control character, CR and LF among them) is
/// set, and possibly of bytes after the first such byte (the borrow of the classic "has zero byte" trick): the
/// lowest set bit is exact. One test instead of two, and text rarely holds other control characters.
#[inline(always)]
fn control_bits(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    word.wrapping_sub(ONES * 14) & !word & HIGHS
}

/// Appends `bytes` decoded as UTF-8, each maximal invalid subpart replaced with U+FFFD, except an incomplete
/// sequence at the end (which the next bytes may complete): returns its length, those bytes are not consumed.
#[inline]
fn push_lossy(out: &mut String, mut bytes: &[u8]) -> usize {
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                return 0;
            }
            Err(error) => {
                let (valid, rest) = bytes.split_at(error.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match error.error_len() {
                    Some(invalid) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        bytes = &rest[invalid..];
                    }
                    None => return rest.len(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Decoder;

    /// A stream always cut inside a field name (each chunk ends an event and starts the next one's `dat|a:`): the
    /// consumed bytes must not pile up in the buffer (it is compacted once the unconsumed tail is no longer than what
    /// was consumed).
    #[test]
    fn consumed_bytes_do_not_pile_up_while_a_line_stays_partial() {
        let mut decoder = Decoder::new();
        decoder.push(b"dat");
        let mut events = 0;
        for _ in 0..10_000 {
            decoder.push(b"a: 0123456789\n\ndat");
            while let Some(event) = decoder.next_event() {
                assert_eq!(event.expect("no limit").data, "0123456789");
                events += 1;
            }
        }
        assert_eq!(events, 10_000);
        assert!(decoder.buf.len() <= 64, "{} bytes buffered for a 3-byte partial line", decoder.buf.len());
    }

    /// The fast paths that recognise `data:`, `id:` and `event:` by their first bytes take no other field for them.
    #[test]
    fn fields_that_begin_like_known_ones_are_other_fields() {
        let mut decoder = Decoder::new();
        let types: Vec<String> = decoder
            .feed(b"event: real\ne: z\nextra: 1\nevents: 2\ndata: a\n\nevent\ndata: b\n\ni: 3\nidx: 4\nd: 5\ndatum: 6\ndata: c\n\n")
            .map(|e| {
                let e = e.expect("no limit");
                format!("{}/{}/{}", e.event, e.data, e.last_event_id)
            })
            .collect();
        assert_eq!(types, ["real/a/", "message/b/", "message/c/"]);
    }

    #[test]
    fn the_size_limit_is_inclusive() {
        use super::DecodeError;
        let too_large = Err(DecodeError::EventTooLarge { limit: 4 });
        // The data with its line feed: "abc\n" is 4 bytes.
        let mut decoder = Decoder::with_max_event_size(4);
        assert_eq!(decoder.feed(b"data: abc\n\n").next().map(|e| e.map(|e| e.data)), Some(Ok("abc".to_owned())));
        assert_eq!(decoder.feed(b"data: abcd\n\n").next().map(|e| e.map(|e| e.data)), Some(too_large.clone()));
        // Any other line by its length: `id: 1` is 5 bytes.
        let mut decoder = Decoder::with_max_event_size(5);
        assert_eq!(decoder.feed(b"id: 1\ndata\n\n").next().map(|e| e.map(|e| e.last_event_id)), Some(Ok("1".into())));
        let first = decoder.feed(b"id: 12\ndata\n\n").next();
        assert_eq!(first, Some(Err(DecodeError::EventTooLarge { limit: 5 })));
    }

    #[test]
    fn debug_shows_the_unconsumed_bytes() {
        let mut decoder = Decoder::new();
        decoder.push(b"data: a\n\nda");
        assert_eq!(decoder.next_event().map(|e| e.expect("no limit").data), Some("a".to_owned()));
        let shown = format!("{decoder:?}");
        assert!(shown.starts_with("Decoder { buffered: 2, data_len: "), "{shown}");
        assert!(shown.contains("last_event_id: \"\""), "{shown}");
    }

    /// Decoding the stream first (in bulk, as chunks arrive) gives `String::from_utf8_lossy` of the whole stream
    /// whatever the chunking, sequences split between chunks included.
    #[test]
    fn utf8_split_anywhere_matches_lossy_decoding_of_the_whole() {
        const ALPHABET: &[u8] = b"\x41\x3A\x20\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xFF\xED\xA0\xF4\x90\xC0\xEF\xBB\xBF";
        let mut x: u32 = 7;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for _ in 0..3000 {
            let len = (next() % 24) as usize;
            let value: Vec<u8> = (0..len).map(|_| ALPHABET[(next() as usize) % ALPHABET.len()]).collect();
            let input = [&b"data:"[..], &value, b"\n\n"].concat();
            let expected = String::from_utf8_lossy(&value).into_owned();
            let expected = expected.strip_prefix(' ').unwrap_or(&expected);
            for split in [1, 2, 3, 5, input.len()] {
                let mut decoder = Decoder::new();
                let mut got = Vec::new();
                for chunk in input.chunks(split) {
                    got.extend(decoder.feed(chunk).map(|e| e.expect("no limit").data));
                }
                let want: Vec<String> = if expected.is_empty() { vec![] } else { vec![expected.to_owned()] };
                // An empty value still fires (data is "\n" then stripped): compare what fired.
                if value.is_empty() || value == b" " {
                    assert_eq!(got, [""], "{value:x?} split {split}");
                } else {
                    assert_eq!(got, want, "{value:x?} split {split}");
                }
            }
        }
    }
}
