//! Every web-platform-tests `eventsource/format-*` case as a data-driven vector, plus a few of our own.
//!
//! Each vector is the exact body the wpt server sends (`resources/message.py` sends `message`, then `\n\n` unless
//! `newline=none`, then `\n`; `last-event-id.py` and `last-event-id2.py` send fixed bodies), with the events the
//! test expects. Cases whose test reconnects list one body per connection: the same decoder reads them in turn with
//! [`Decoder::finish`] in between, as a transport does.
//!
//! Every vector is decoded fed whole, split in two at every byte, split in three at every pair of positions (short
//! bodies), and byte by byte; all must give the same events, last event id and retry.
//!
//! Not here, because they are transport-level (the decoder never sees headers): `format-mime-bogus`,
//! `format-mime-trailing-semicolon`, `format-mime-valid-bogus` (Content-Type checks), and the `request-*` and
//! `eventsource-*` tests (headers, status codes, reconnection, close).

use sse_codec::{DecodeError, Decoder, Event};

struct Vector {
    name: &'static str,
    /// One body per connection.
    bodies: Vec<Vec<u8>>,
    /// (type, data, lastEventId) of each `message`-or-other event, in order.
    events: Vec<(&'static str, String, &'static str)>,
    last_event_id: &'static str,
    retry: Option<u64>,
}

/// The body `resources/message.py?message=...` sends by default.
fn message(m: &[u8]) -> Vec<u8> {
    [m, b"\n\n\n"].concat()
}

/// The body `resources/message.py?message=...&newline=none` sends.
fn message_newline_none(m: &[u8]) -> Vec<u8> {
    [m, b"\n"].concat()
}

fn msg(data: &str, id: &'static str) -> (&'static str, String, &'static str) {
    ("message", data.to_owned(), id)
}

fn vectors() -> Vec<Vector> {
    let long = "x".repeat(2 * 1024);
    let mut v = vec![
        Vector {
            // Only the BOM at the very start is stripped: `\u{FEFF}data` later on is an unknown field.
            name: "format-bom",
            bodies: vec![message(b"\xEF\xBB\xBFdata:1\n\n\xEF\xBB\xBFdata:2\n\ndata:3")],
            events: vec![msg("1", ""), msg("3", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            // Exactly one BOM is stripped: the second makes the first line an unknown field.
            name: "format-bom-2",
            bodies: vec![message(b"\xEF\xBB\xBF\xEF\xBB\xBFdata:1\n\ndata:2\n\ndata:3")],
            events: vec![msg("2", ""), msg("3", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            name: "format-comments",
            bodies: vec![message_newline_none(
                format!("data:1\r:\0\n:\r\ndata:2\n:{long}\rdata:3\n:data:fail\r:{long}\ndata:4\n").as_bytes(),
            )],
            events: vec![msg("1\n2\n3\n4", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            // The second event never ends before the body does: discarded, and its id never becomes the
            // lastEventId, so after the reconnection the same first event comes with an empty lastEventId.
            name: "format-data-before-final-empty-line",
            bodies: vec![
                message_newline_none(b"retry:1000\ndata:test1\n\nid:test\ndata:test2"),
                message_newline_none(b"retry:1000\ndata:test1\n\nid:test\ndata:test2"),
            ],
            events: vec![msg("test1", ""), msg("test1", "")],
            last_event_id: "",
            retry: Some(1000),
        },
        Vector {
            name: "format-field-data",
            bodies: vec![message(b"data:\n\ndata\ndata\n\ndata:test")],
            events: vec![msg("", ""), msg("\n", ""), msg("test", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            name: "format-field-event",
            bodies: vec![message(b"event:test\ndata:x\n\ndata:x")],
            events: vec![("test", "x".into(), ""), msg("x", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            name: "format-field-event-empty",
            bodies: vec![message(b"event: \ndata:data")],
            events: vec![msg("data", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            // last-event-id.py: first connection, then the reconnection that sent `Last-Event-ID: …`.
            name: "format-field-id",
            bodies: vec![
                "id: \u{2026}\nretry: 200\ndata: hello\n\n".into(),
                "data: \u{2026}\n\n".into(),
            ],
            events: vec![msg("hello", "\u{2026}"), msg("\u{2026}", "\u{2026}")],
            last_event_id: "\u{2026}",
            retry: Some(200),
        },
        Vector {
            name: "format-field-id-2",
            bodies: vec![
                "id: \u{2026}\nretry: 200\ndata: hello\n\n".into(),
                "data: \u{2026}\n\n".into(),
                "data: \u{2026}\n\n".into(),
            ],
            events: vec![msg("hello", "\u{2026}"), msg("\u{2026}", "\u{2026}"), msg("\u{2026}", "\u{2026}")],
            last_event_id: "\u{2026}",
            retry: Some(200),
        },
        Vector {
            name: "format-field-id-3 persists",
            bodies: vec![b"id: 1\ndata: 1\n\ndata:2\n\n".to_vec()],
            events: vec![msg("1", "1"), msg("2", "1")],
            last_event_id: "1",
            retry: None,
        },
        Vector {
            name: "format-field-id-3 changes and persists",
            bodies: vec![b"id: 1\ndata: 1\n\nid: 2\ndata:2\n\ndata:3\n\n".to_vec()],
            events: vec![msg("1", "1"), msg("2", "2"), msg("3", "2")],
            last_event_id: "2",
            retry: None,
        },
        Vector {
            name: "format-field-id-3 resets",
            bodies: vec![b"id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\n".to_vec()],
            events: vec![msg("1", "1"), msg("2", ""), msg("3", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            name: "format-field-parsing",
            bodies: vec![message_newline_none(
                b"data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n",
            )],
            events: vec![msg("\0\n 2\n1\n3\n\n4", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            // "02000" is 2000, not octal.
            name: "format-field-retry",
            bodies: vec![message(b"retry:02000\ndata:x")],
            events: vec![msg("x", "")],
            last_event_id: "",
            retry: Some(2000),
        },
        Vector {
            name: "format-field-retry-bogus",
            bodies: vec![message(b"retry:2000\nretry:1000x\ndata:x")],
            events: vec![msg("x", "")],
            last_event_id: "",
            retry: Some(2000),
        },
        Vector {
            name: "format-field-retry-empty",
            bodies: vec![message(b"retry\ndata:test")],
            events: vec![msg("test", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            name: "format-field-unknown",
            bodies: vec![message(b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test")],
            events: vec![msg("test\n\ntest", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            // One leading space is removed, a tab is kept; also a CR as a line end.
            name: "format-leading-space",
            bodies: vec![message(b"data:\ttest\rdata: \ndata:test")],
            events: vec![msg("\ttest\n\ntest", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            name: "format-newlines",
            bodies: vec![message_newline_none(b"data:test\r\ndata\ndata:test\r\n\r")],
            events: vec![msg("test\n\ntest", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            name: "format-null-character",
            bodies: vec![message(b"data:\0\n\n")],
            events: vec![msg("\0", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            // Always UTF-8, whatever `charset=windows-1252` in the Content-Type says.
            name: "format-utf-8",
            bodies: vec![message(b"data:ok\xE2\x80\xA6")],
            events: vec![msg("ok\u{2026}", "")],
            last_event_id: "",
            retry: None,
        },
        // ---- Our own cases for what the wpt ones do not pin down. ----
        Vector {
            name: "invalid UTF-8 becomes U+FFFD per maximal subpart",
            bodies: vec![b"data: a\xFFb\xF0\x9F\x98\n\nevent: \xC3\ndata: \xF0\x9F\x98\x80\xE2\x82\n\n".to_vec()],
            events: vec![msg("a\u{FFFD}b\u{FFFD}", ""), ("\u{FFFD}", "\u{1F600}\u{FFFD}".into(), "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            name: "a BOM alone is stripped; a partial BOM is not",
            bodies: vec![b"\xEF\xBB\xBF".to_vec(), b"\xEF\xBBdata: x\n\ndata: y\n\n".to_vec()],
            events: vec![msg("y", "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            name: "id with NUL ignored, empty data fires nothing but commits the id",
            bodies: vec![b"id: 5\n\nid: 6\0\ndata: a\n\nid\ndata: b\n\nid: 9\ndata\n\n".to_vec()],
            events: vec![msg("a", "5"), msg("b", ""), msg("", "9")],
            last_event_id: "9",
            retry: None,
        },
        Vector {
            name: "an id read but never dispatched does not outlive the connection",
            bodies: vec![b"id: 1\ndata: a\n\nid: 2\n".to_vec(), b"data: b\n\n".to_vec()],
            events: vec![msg("a", "1"), msg("b", "1")],
            last_event_id: "1",
            retry: None,
        },
        Vector {
            name: "retry: digits only, huge values saturate, last valid wins",
            bodies: vec![b"retry: 7\nretry: +5\nretry: 5 \nretry:  5\nretry: -1\nretry: 99999999999999999999999\n".to_vec()],
            events: vec![],
            last_event_id: "",
            retry: Some(u64::MAX),
        },
        Vector {
            name: "field names are case-sensitive; only the first colon splits",
            bodies: vec![b"DATA: no\nEvent: no\ndata: a: b:c\nevent:x:y\n\n".to_vec()],
            events: vec![("x:y", "a: b:c".into(), "")],
            last_event_id: "",
            retry: None,
        },
        Vector {
            name: "a CR at the end of a body then a LF at the start of the next is two line ends",
            bodies: vec![b"data: a\r".to_vec(), b"\ndata: b\n\n".to_vec()],
            events: vec![msg("b", "")],
            last_event_id: "",
            retry: None,
        },
    ];
    for id in ["\0\0", "x\0", "\0x", "x\0x", " \0"] {
        let body = format!("id: {id}\nretry: 200\ndata: hello\n\n").into_bytes();
        v.push(Vector {
            name: "format-field-id-null",
            bodies: vec![body.clone(), body],
            events: vec![msg("hello", ""), msg("hello", "")],
            last_event_id: "",
            retry: Some(200),
        });
    }
    v
}

#[derive(Debug, PartialEq)]
struct Outcome {
    items: Vec<Result<Event, DecodeError>>,
    last_event_id: String,
    retry: Option<u64>,
}

/// Decodes the bodies of a vector, each cut at `cuts` (sorted positions), with `finish` after each body.
fn decode(bodies: &[Vec<u8>], cut: impl Fn(&[u8]) -> Vec<&[u8]>) -> Outcome {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    for body in bodies {
        for chunk in cut(body) {
            items.extend(decoder.feed(chunk));
        }
        items.extend(decoder.finish());
    }
    Outcome { items, last_event_id: decoder.last_event_id().to_owned(), retry: decoder.retry() }
}

fn cut_at<'a>(body: &'a [u8], positions: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &p in positions {
        let p = p.min(body.len());
        out.push(&body[start..p]);
        start = p;
    }
    out.push(&body[start..]);
    out
}

fn expected(v: &Vector) -> Outcome {
    Outcome {
        items: v
            .events
            .iter()
            .map(|(event, data, id)| {
                Ok(Event { event: (*event).to_owned(), data: data.clone(), last_event_id: (*id).to_owned() })
            })
            .collect(),
        last_event_id: v.last_event_id.to_owned(),
        retry: v.retry,
    }
}

#[test]
fn vectors_fed_whole() {
    for v in vectors() {
        assert_eq!(decode(&v.bodies, |b| vec![b]), expected(&v), "{}", v.name);
    }
}

#[test]
fn vectors_split_at_every_byte() {
    for v in vectors() {
        let want = expected(&v);
        let longest = v.bodies.iter().map(Vec::len).max().unwrap_or(0);
        for i in 0..=longest {
            assert_eq!(decode(&v.bodies, |b| cut_at(b, &[i])), want, "{} split at {i}", v.name);
        }
    }
}

#[test]
fn vectors_split_in_three_everywhere() {
    for v in vectors() {
        let want = expected(&v);
        let longest = v.bodies.iter().map(Vec::len).max().unwrap_or(0);
        if longest > 400 {
            continue; // format-comments: 4 KB, ~8 M splits; covered by the two-way and byte-by-byte runs
        }
        for i in 0..=longest {
            for j in i..=longest {
                assert_eq!(decode(&v.bodies, |b| cut_at(b, &[i, j])), want, "{} split at {i},{j}", v.name);
            }
        }
    }
}

#[test]
fn vectors_byte_by_byte() {
    for v in vectors() {
        assert_eq!(decode(&v.bodies, |b| b.chunks(1).collect()), expected(&v), "{}", v.name);
    }
}

#[test]
fn every_wpt_format_case_is_covered() {
    let names: Vec<_> = vectors().iter().map(|v| v.name).collect();
    for case in [
        "format-bom",
        "format-bom-2",
        "format-comments",
        "format-data-before-final-empty-line",
        "format-field-data",
        "format-field-event",
        "format-field-event-empty",
        "format-field-id",
        "format-field-id-2",
        "format-field-id-3 persists",
        "format-field-id-3 changes and persists",
        "format-field-id-3 resets",
        "format-field-id-null",
        "format-field-parsing",
        "format-field-retry",
        "format-field-retry-bogus",
        "format-field-retry-empty",
        "format-field-unknown",
        "format-leading-space",
        "format-newlines",
        "format-null-character",
        "format-utf-8",
    ] {
        assert!(names.contains(&case), "{case} missing");
    }
}
