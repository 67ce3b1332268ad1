//! The properties the fuzz targets check, as plain functions with no fuzzing dependency, so that
//! `codec/tests/fuzz_props.rs` can run them on stable over pseudo-random inputs too.

#![allow(dead_code)] // each includer uses part of it

use sse_codec::{comment, encode_into, DecodeError, Decoder, Event, Frame};

/// Everything a decoder produced for one input.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// Events and errors, in order (those returned by `finish` included).
    pub items: Vec<Result<Event, DecodeError>>,
    /// `last_event_id()` at the end.
    pub last_event_id: String,
    /// `retry()` at the end.
    pub retry: Option<u64>,
}

/// Feeds `chunks` to `decoder`, then finishes.
pub fn decode_chunks<'a>(mut decoder: Decoder, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut items = Vec::new();
    for chunk in chunks {
        items.extend(decoder.feed(chunk));
    }
    items.extend(decoder.finish());
    Outcome { items, last_event_id: decoder.last_event_id().to_owned(), retry: decoder.retry() }
}

/// Splits `body` into chunks whose sizes cycle through `sizes` (each taken modulo 64, plus 1).
pub fn chunks_by<'a>(body: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes.get(i % sizes.len().max(1)).map_or(rest.len(), |s| usize::from(s % 64) + 1);
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        out.push(chunk);
        rest = tail;
        i += 1;
    }
    out
}

/// Property 1: for arbitrary bytes (`input[0]` picks a size limit, `input[1]` how many of the next bytes are chunk
/// sizes, the rest is the stream), decoding never panics and gives the same outcome fed whole, byte by byte and in
/// the chunks the input describes.
pub fn check_split_invariance(input: &[u8]) {
    let Some((&ctl, rest)) = input.split_first() else {
        return;
    };
    let limit = match ctl % 4 {
        0 => None,
        1 => Some(usize::from(ctl / 4 % 16)),
        2 => Some(64),
        _ => Some(1024),
    };
    let (pattern, body) = match rest.split_first() {
        Some((&n, rest)) => rest.split_at(usize::from(n % 8).min(rest.len())),
        None => (&[][..], rest),
    };
    let decoder = || limit.map_or_else(Decoder::new, Decoder::with_max_event_size);
    let whole = decode_chunks(decoder(), [body]);
    let bytewise = decode_chunks(decoder(), body.chunks(1));
    assert_eq!(whole, bytewise, "byte by byte");
    let chunked = decode_chunks(decoder(), chunks_by(body, pattern));
    assert_eq!(whole, chunked, "chunked by {pattern:?}");
    if let Some(limit) = limit {
        for event in whole.items.iter().flatten() {
            assert!(event.data.len() <= 3 * limit, "event over the limit got through");
        }
    }
}

/// Pieces the roundtrip builds its strings from: line ends, colons, spaces, NUL, non-ASCII, a BOM.
const ATOMS: [&str; 16] =
    ["a", "b", "xyz", " ", ":", "\t", "\r", "\n", "\r\n", "\0", "\u{e9}", "\u{1F600}", "\u{FEFF}", "data: ", "id", "1"];

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// A string of up to 15 atoms; `line` keeps out CR, LF and NUL (ids and event names).
    fn string(&mut self, line: bool) -> String {
        let len = self.byte().unwrap_or(0) % 16;
        let mut s = String::new();
        for _ in 0..len {
            let atom = ATOMS[usize::from(self.byte().unwrap_or(0) % 16)];
            if !(line && atom.contains(['\r', '\n', '\0'])) {
                s.push_str(atom);
            }
        }
        s
    }
}

/// A frame built from bytes, owning its strings.
#[derive(Debug)]
pub struct OwnedFrame {
    id: Option<String>,
    event: Option<String>,
    data: String,
    retry: Option<u64>,
    comment_before: Option<String>,
}

/// Reads frames from arbitrary bytes until they run out.
pub fn frames_from_bytes(input: &[u8]) -> Vec<OwnedFrame> {
    let mut bytes = Bytes(input);
    let mut frames = Vec::new();
    while let Some(flags) = bytes.byte() {
        let id = (flags & 1 != 0).then(|| bytes.string(true));
        let event = (flags & 2 != 0).then(|| bytes.string(true)).filter(|e| !e.is_empty());
        let retry = (flags & 4 != 0).then(|| u64::from(bytes.byte().unwrap_or(0)) * 1000 + u64::from(flags));
        let comment_before = (flags & 8 != 0).then(|| bytes.string(false));
        let data = bytes.string(false);
        frames.push(OwnedFrame { id, event, data, retry, comment_before });
    }
    frames
}

/// Property 2: decoding what the encoder wrote (frames and heartbeat comments) gives back the events, whatever the
/// chunking: same type, data (CR, LF and CRLF in data come back as LF), last event id and retry.
pub fn check_roundtrip(input: &[u8]) {
    let frames = frames_from_bytes(input);
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    let mut last_id = String::new();
    let mut retry = None;
    for f in &frames {
        if let Some(text) = &f.comment_before {
            stream.extend_from_slice(&comment(text));
        }
        let frame = Frame { id: f.id.as_deref(), event: f.event.as_deref(), data: &f.data, retry: f.retry };
        encode_into(&frame, &mut stream).expect("generated frames are valid");
        if let Some(id) = &f.id {
            last_id.clone_from(id);
        }
        retry = f.retry.or(retry);
        expected.push(Ok(Event {
            event: f.event.clone().unwrap_or_else(|| "message".into()),
            data: f.data.replace("\r\n", "\n").replace('\r', "\n"),
            last_event_id: last_id.clone(),
        }));
    }
    let want = Outcome { items: expected, last_event_id: last_id, retry };
    assert_eq!(decode_chunks(Decoder::new(), [&stream[..]]), want, "whole");
    assert_eq!(decode_chunks(Decoder::new(), chunks_by(&stream, input)), want, "chunked");
    // A limit the events fit in changes nothing.
    let biggest = stream.len().max(1);
    assert_eq!(
        decode_chunks(Decoder::with_max_event_size(biggest), chunks_by(&stream, &input[input.len() / 2..])),
        want
    );
}
