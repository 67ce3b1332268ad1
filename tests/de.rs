//! The decoder of typed handlers (`JSON.parse`, then a serde deserializer over the JS value), tested directly in the
//! browser; no server needed: `cargo test -p typed-eventsource --target wasm32-unknown-unknown --test de`.
#![cfg(target_arch = "wasm32")]

use std::collections::HashMap;

use serde::Deserialize;
use typed_eventsource::{__decode_variant as decode_variant, __from_json as from_json};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Debug, PartialEq, Deserialize)]
struct Note {
    text: String,
    n: u32,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Target {
    db: String,
    operation: String,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Progress {
    target: Target,
    status: Option<String>,
    note: Option<Note>,
    steps: Vec<u32>,
    counts: HashMap<String, i64>,
    ratio: f64,
    delta: i64,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mixed {
    #[serde(rename = "message")]
    Note(Note),
    Ping(String),
    CardAssigned {
        card: u32,
        title: String,
    },
    Moved(u32, u32),
    Reset,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    a: u8,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Meters(f64);

#[derive(Debug, PartialEq, Deserialize)]
struct Nothing;

#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Internal {
    Add { n: u32 },
    Clear,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Loose {
    Number(u32),
    Text(String),
}

#[derive(Debug, PartialEq, Deserialize)]
struct Flat {
    id: u32,
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

fn err<T: for<'de> Deserialize<'de> + std::fmt::Debug>(json: &str) -> String {
    match from_json::<T>(json) {
        Ok(v) => panic!("{json} decoded as {v:?}"),
        Err(reason) => reason,
    }
}

#[wasm_bindgen_test]
fn nested_structs_options_vectors_maps_and_numbers() {
    let json = r#"{"target": {"db": "main", "operation": "vacuum"}, "status": null, "steps": [1, 2, 3],
        "counts": {"a": -1, "b": 9007199254740991}, "ratio": 0.25, "delta": -42, "extra": [true, {"x": null}]}"#;
    let p: Progress = from_json(json).expect("decodes");
    assert_eq!(
        p,
        Progress {
            target: Target { db: "main".into(), operation: "vacuum".into() },
            status: None,
            note: None,
            steps: vec![1, 2, 3],
            counts: HashMap::from([("a".into(), -1), ("b".into(), 9_007_199_254_740_991)]),
            ratio: 0.25,
            delta: -42,
        }
    );
    let json = r#"{"target": {"db": "d", "operation": "o"}, "status": "ok", "note": {"text": "hi\n\u00e9", "n": 7},
        "steps": [], "counts": {}, "ratio": 2, "delta": 0}"#;
    let p: Progress = from_json(json).expect("decodes");
    assert_eq!(p.status.as_deref(), Some("ok"));
    assert_eq!(p.note, Some(Note { text: "hi\né".into(), n: 7 }));
    assert_eq!(p.ratio, 2.0, "an integral number into f64");
}

#[wasm_bindgen_test]
fn primitives_tuples_newtypes_and_units() {
    assert_eq!(from_json::<u32>("4294967295"), Ok(u32::MAX));
    assert_eq!(from_json::<u32>("3.0"), Ok(3), "JSON.parse gives 3");
    assert_eq!(from_json::<i64>("-9007199254740991"), Ok(-9_007_199_254_740_991));
    assert_eq!(from_json::<f64>("-1.5e300"), Ok(-1.5e300));
    assert_eq!(from_json::<f32>("0.5"), Ok(0.5));
    assert_eq!(from_json::<bool>("true"), Ok(true));
    assert_eq!(from_json::<char>(r#""é""#), Ok('é'));
    assert_eq!(from_json::<String>(r#""a\"b""#), Ok("a\"b".to_owned()));
    assert_eq!(from_json::<()>("null"), Ok(()));
    assert_eq!(from_json::<Option<u8>>("null"), Ok(None));
    assert_eq!(from_json::<Option<u8>>("5"), Ok(Some(5)));
    assert_eq!(from_json::<(u8, String, bool)>(r#"[1, "x", false]"#), Ok((1, "x".into(), false)));
    assert_eq!(from_json::<Meters>("1.25"), Ok(Meters(1.25)));
    assert_eq!(from_json::<Nothing>("null"), Ok(Nothing));
    assert_eq!(from_json::<Vec<Vec<i8>>>("[[-1], [], [2, 3]]"), Ok(vec![vec![-1], vec![], vec![2, 3]]));
    assert!(from_json::<serde::de::IgnoredAny>(r#"{"a": [1, {"b": null}]}"#).is_ok());
}

#[wasm_bindgen_test]
fn enums_of_every_variant_kind_with_renames() {
    assert_eq!(
        from_json::<Mixed>(r#"{"message": {"text": "t", "n": 1}}"#),
        Ok(Mixed::Note(Note { text: "t".into(), n: 1 }))
    );
    assert_eq!(from_json::<Mixed>(r#"{"ping": "finished"}"#), Ok(Mixed::Ping("finished".into())));
    assert_eq!(
        from_json::<Mixed>(r#"{"card-assigned": {"card": 4, "title": "x"}}"#),
        Ok(Mixed::CardAssigned { card: 4, title: "x".into() })
    );
    assert_eq!(from_json::<Mixed>(r#"{"moved": [1, 2]}"#), Ok(Mixed::Moved(1, 2)));
    assert_eq!(from_json::<Mixed>(r#""reset""#), Ok(Mixed::Reset));
    assert_eq!(from_json::<Mixed>(r#"{"reset": null}"#), Ok(Mixed::Reset));
    assert_eq!(from_json::<Internal>(r#"{"type": "add", "n": 2}"#), Ok(Internal::Add { n: 2 }));
    assert_eq!(from_json::<Internal>(r#"{"type": "clear"}"#), Ok(Internal::Clear));
    assert_eq!(from_json::<Loose>("7"), Ok(Loose::Number(7)));
    assert_eq!(from_json::<Loose>(r#""seven""#), Ok(Loose::Text("seven".into())));
    assert_eq!(
        from_json::<Flat>(r#"{"id": 1, "a": "x"}"#),
        Ok(Flat { id: 1, rest: HashMap::from([("a".into(), "x".into())]) })
    );
}

#[wasm_bindgen_test]
fn whole_stream_variants_from_event_type_and_data() {
    // JSON content, raw text content (not JSON), unit variant with its data ignored, struct and tuple variants.
    assert_eq!(
        decode_variant::<Mixed>("message", r#"{"text": "t", "n": 1}"#),
        Ok(Mixed::Note(Note { text: "t".into(), n: 1 }))
    );
    assert_eq!(decode_variant::<Mixed>("ping", "finished"), Ok(Mixed::Ping("finished".into())));
    assert_eq!(decode_variant::<Mixed>("ping", "42"), Ok(Mixed::Ping("42".into())), "JSON that is not a string");
    assert_eq!(decode_variant::<Mixed>("reset", "whatever"), Ok(Mixed::Reset));
    assert_eq!(
        decode_variant::<Mixed>("card-assigned", r#"{"card": 1, "title": "t"}"#),
        Ok(Mixed::CardAssigned { card: 1, title: "t".into() })
    );
    assert_eq!(decode_variant::<Mixed>("moved", "[3, 4]"), Ok(Mixed::Moved(3, 4)));
    // The first failure (the JSON content) is the one reported.
    assert_eq!(decode_variant::<Mixed>("message", r#"{"text": "t"}"#), Err("missing field `n`".to_owned()));
    let reason = decode_variant::<Mixed>("nope", "{}").expect_err("no such variant");
    assert!(reason.starts_with("unknown variant `nope`, expected one of `message`, `ping`"), "{reason}");
}

#[wasm_bindgen_test]
fn error_messages_name_the_problem() {
    assert_eq!(err::<Note>(r#"{"text": "no n"}"#), "missing field `n`");
    assert_eq!(err::<Note>(r#"{"text": "x", "n": "3"}"#), r#"invalid type: string "3", expected u32"#);
    assert_eq!(err::<Note>(r#"{"text": "x", "n": 1.5}"#), "invalid type: floating point number, expected u32");
    assert_eq!(err::<Note>(r#"{"text": "x", "n": -1}"#), "invalid value: integer `-1`, expected u32");
    assert_eq!(err::<Note>(r#"{"text": "x", "n": 1e20}"#), "invalid type: floating point number, expected u32");
    assert_eq!(err::<Note>(r#"{"text": null, "n": 1}"#), "invalid type: null, expected a string");
    assert_eq!(err::<Note>(r#"["a struct", 2]"#), "invalid type: array, expected struct Note");
    assert_eq!(err::<Note>("true"), "invalid type: boolean `true`, expected struct Note");
    assert_eq!(err::<Strict>(r#"{"a": 300}"#), "invalid value: integer `300`, expected u8");
    assert_eq!(err::<Strict>(r#"{"a": 1, "b": 2}"#), "unknown field `b`, expected one of `a`");
    assert_eq!(err::<i64>("9007199254740993"), "invalid type: floating point number, expected i64");
    assert_eq!(err::<Vec<u8>>(r#"{"a": 1}"#), "invalid type: object, expected a sequence");
    assert_eq!(err::<(u8, u8)>("[1, 2, 3]"), "invalid length 3, expected 2 elements in array");
    assert_eq!(err::<(u8, u8)>("[1]"), "invalid length 1, expected a tuple of size 2");
    assert_eq!(err::<HashMap<String, u8>>("[1]"), "invalid type: array, expected a map");
    assert_eq!(err::<Vec<u8>>("[1, null]"), "invalid type: null, expected u8");
    assert_eq!(err::<char>(r#""ab""#), r#"invalid value: string "ab", expected a character"#);
    assert_eq!(
        err::<Mixed>(r#""bogus""#),
        "unknown variant `bogus`, expected one of `message`, `ping`, `card-assigned`, `moved`, `reset`"
    );
    assert_eq!(
        err::<Mixed>(r#"{"ping": "a", "reset": null}"#),
        "invalid type: object with 2 keys, expected enum Mixed (a string, or an object with one key)"
    );
    assert_eq!(err::<Mixed>("3"), "invalid type: integer `3`, expected enum Mixed");
    assert_eq!(err::<Mixed>(r#""ping""#), "invalid type: unit variant, expected newtype variant");
    assert!(!err::<Note>("{oops").is_empty(), "JSON.parse's message");
}
