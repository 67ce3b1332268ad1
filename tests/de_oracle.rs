//! The decoder of typed handlers (`src/de.rs`) against an oracle, serde-wasm-bindgen, on a generated corpus: the same
//! JSON text, `JSON.parse`d in Chromium, decoded by both into the same target type must give the same value (compared
//! by `Debug`, so `-0.0` and `0.0` differ), or make both fail. No server needed:
//! `cargo test -p typed-eventsource --target wasm32-unknown-unknown --test de_oracle`.
//!
//! The corpus: for each target type (structs, enums of every serde representation with unit, newtype, tuple and
//! struct variants, options, nested values, sequences, tuples, maps with string and integer keys, every integer
//! type, `f32`/`f64`, booleans, chars, Unicode strings) a seeded generator writes values that fit the type, with a
//! share of nodes replaced by ones that do not (numbers one past each end of their type and past 2^53, fractions,
//! missing and unknown fields, unknown variants, wrong kinds, short and long tuples). Set `DE_ORACLE_SEED` at build
//! time to try other seeds (and `DE_ORACLE_CASES` for more cases); a mismatch prints its target, seed and text.
//!
//! Where serde-wasm-bindgen is not a JSON decoder, the reference is serde_json on the same text (the library decodes
//! JSON event data, so serde_json's answer is the one users expect) and the generator keeps to texts on which
//! serde_json and `JSON.parse` read the same numbers. Those differences, each also pinned by a test below:
//! - integer map keys (`{"7": ..}` into `BTreeMap<u32, _>`): serde-wasm-bindgen refuses them, de.rs reads them as
//!   serde_json does (`integer_map_keys_*`);
//! - `deny_unknown_fields`: serde-wasm-bindgen reads only the struct's own fields and never sees the others
//!   (`unknown_fields_are_refused_where_the_oracle_does_not_look`);
//! - an array for a struct or a map: serde-wasm-bindgen reads an array's named properties as fields and an array of
//!   `[key, value]` pairs as a map (a JS `Map`'s form), serde_json reads a struct's fields from an array in order;
//!   de.rs refuses both (`arrays_are_neither_structs_nor_maps`);
//! - an array longer than a tuple: serde-wasm-bindgen takes the first elements, de.rs refuses it as serde_json does
//!   (`a_longer_array_is_not_a_tuple`);
//! - an adjacently tagged enum with its content before its tag: serde-wasm-bindgen reads the tag first whatever the
//!   order; de.rs reads the text's order as serde_json does, buffering the content, where `-0` is the integer 0
//!   (`adjacent_content_before_the_tag_is_buffered`);
//! - a bare string naming a newtype variant whose payload may be null: serde-wasm-bindgen gives that variant with a
//!   null payload, de.rs refuses it as serde_json does (`a_bare_string_is_a_unit_variant_only`).
#![cfg(target_arch = "wasm32")]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use typed_eventsource::__from_json as from_json;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Cases per target type (`DE_ORACLE_CASES` at build time for more).
fn cases() -> usize {
    option_env!("DE_ORACLE_CASES").and_then(|s| s.parse().ok()).unwrap_or(400)
}
/// Share of nodes (percent) replaced by a value that does not fit, in the half of the cases that have such nodes.
const WRONG_PERCENT: u64 = 6;
/// Largest integer a JS number holds exactly.
const MAX_SAFE: i128 = (1 << 53) - 1;

// ---------------------------------------------------------------------------------------------------------------
// Target types, each with the shape the generator follows (written by hand next to the type, as serde derives it).

#[derive(Debug, PartialEq, Deserialize)]
struct Scalars {
    b: bool,
    u8: u8,
    u16: u16,
    u32: u32,
    u64: u64,
    i8: i8,
    i16: i16,
    i32: i32,
    i64: i64,
    f32: f32,
    f64: f64,
    c: char,
    s: String,
    unit: (),
}

fn scalars() -> Shape {
    Shape::record(&[
        ("b", Shape::Bool),
        ("u8", int::<u8>()),
        ("u16", int::<u16>()),
        ("u32", int::<u32>()),
        ("u64", int::<u64>()),
        ("i8", int::<i8>()),
        ("i16", int::<i16>()),
        ("i32", int::<i32>()),
        ("i64", int::<i64>()),
        ("f32", Shape::F32),
        ("f64", Shape::F64),
        ("c", Shape::Char),
        ("s", Shape::Str),
        ("unit", Shape::Unit),
    ])
}

#[derive(Debug, PartialEq, Deserialize)]
struct Inner {
    name: String,
    score: Option<f64>,
    flags: Vec<bool>,
}

fn inner() -> Shape {
    Shape::record(&[("name", Shape::Str), ("score", Shape::option(Shape::F64)), ("flags", Shape::seq(Shape::Bool))])
}

/// No required field: where serde-wasm-bindgen and de.rs part on arrays (see the module doc).
#[derive(Debug, PartialEq, Deserialize)]
struct AllOptional {
    a: Option<u8>,
    b: Option<String>,
}

fn all_optional() -> Shape {
    Shape::record(&[("a", Shape::option(int::<u8>())), ("b", Shape::option(Shape::Str))])
}

#[derive(Debug, PartialEq, Deserialize)]
struct Nothing;

#[derive(Debug, PartialEq, Deserialize)]
struct Meters(f64);

#[derive(Debug, PartialEq, Deserialize)]
struct Point(i32, i32);

#[derive(Debug, PartialEq, Deserialize)]
struct Nested {
    id: u64,
    inner: Inner,
    list: Vec<Inner>,
    maybe: Option<Inner>,
    tags: BTreeMap<String, Vec<i32>>,
    pair: (u8, String),
    nothing: Nothing,
    meters: Meters,
    point: Point,
    optional: AllOptional,
    #[serde(default)]
    defaulted: u16,
}

fn nested() -> Shape {
    Shape::record(&[
        ("id", int::<u64>()),
        ("inner", inner()),
        ("list", Shape::seq(inner())),
        ("maybe", Shape::option(inner())),
        ("tags", Shape::map(Key::Str, Shape::seq(int::<i32>()))),
        ("pair", Shape::Tuple(vec![int::<u8>(), Shape::Str])),
        ("nothing", Shape::Unit),
        ("meters", Shape::F64),
        ("point", Shape::Tuple(vec![int::<i32>(), int::<i32>()])),
        ("optional", all_optional()),
        ("defaulted", Shape::Default(Box::new(int::<u16>()))),
    ])
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum External {
    Unit,
    Newtype(u32),
    NewtypeRecord(Inner),
    NewtypeOptional(Option<String>),
    Tuple(i8, String),
    Record { a: u16, b: Option<String> },
}

fn external() -> Shape {
    Shape::Enum(
        Tagging::External,
        vec![
            Variant::unit("unit"),
            Variant::newtype("newtype", int::<u32>()),
            Variant::newtype("newtype-record", inner()),
            Variant::newtype("newtype-optional", Shape::option(Shape::Str)),
            Variant::tuple("tuple", vec![int::<i8>(), Shape::Str]),
            Variant::record("record", &[("a", int::<u16>()), ("b", Shape::option(Shape::Str))]),
        ],
    )
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "type")]
enum Internal {
    Unit,
    Newtype(Inner),
    Record { a: i32, b: String },
}

fn internal() -> Shape {
    Shape::Enum(
        Tagging::Internal("type"),
        vec![
            Variant::unit("Unit"),
            Variant::newtype("Newtype", inner()),
            Variant::record("Record", &[("a", int::<i32>()), ("b", Shape::Str)]),
        ],
    )
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    Unit,
    Newtype(i64),
    Tuple(u8, bool),
    Record { x: f64 },
}

fn adjacent() -> Shape {
    Shape::Enum(
        Tagging::Adjacent("t", "c"),
        vec![
            Variant::unit("Unit"),
            Variant::newtype("Newtype", int::<i64>()),
            Variant::tuple("Tuple", vec![int::<u8>(), Shape::Bool]),
            Variant::record("Record", &[("x", Shape::F64)]),
        ],
    )
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Untagged {
    Unit,
    Flag(bool),
    Small(u8),
    Negative(i16),
    Big(u64),
    Real(f64),
    Text(String),
    Pair(u8, u8),
    Record { a: u8 },
    List(Vec<String>),
}

fn untagged() -> Shape {
    Shape::Enum(
        Tagging::Untagged,
        vec![
            Variant::unit("Unit"),
            Variant::newtype("Flag", Shape::Bool),
            Variant::newtype("Small", int::<u8>()),
            Variant::newtype("Negative", int::<i16>()),
            Variant::newtype("Big", int::<u64>()),
            Variant::newtype("Real", Shape::F64),
            Variant::newtype("Text", Shape::Str),
            Variant::tuple("Pair", vec![int::<u8>(), int::<u8>()]),
            Variant::record("Record", &[("a", int::<u8>())]),
            Variant::newtype("List", Shape::seq(Shape::Str)),
        ],
    )
}

/// Every representation inside containers.
#[derive(Debug, PartialEq, Deserialize)]
struct Mixed {
    events: Vec<External>,
    by_name: BTreeMap<String, Adjacent>,
    by_char: BTreeMap<char, Internal>,
    maybe: Option<Option<Untagged>>,
    tuple: (Internal, Option<External>),
}

fn mixed() -> Shape {
    Shape::record(&[
        ("events", Shape::seq(external())),
        ("by_name", Shape::map(Key::Str, adjacent())),
        ("by_char", Shape::map(Key::Char, internal())),
        // `Option<Option<T>>`: JSON null is the outer `None`, so the inner one is never generated.
        ("maybe", Shape::option(untagged())),
        ("tuple", Shape::Tuple(vec![internal(), Shape::option(external())])),
    ])
}

/// A flattened map (serde buffers the object, then hands out the fields it does not know).
#[derive(Debug, PartialEq, Deserialize)]
struct Flattened {
    id: u32,
    #[serde(flatten)]
    rest: BTreeMap<String, String>,
}

fn flattened() -> Shape {
    // The generator's unknown keys go to `rest`, so their values must be strings there: keep them few and simple.
    Shape::record(&[("id", int::<u32>()), ("extra", Shape::option(Shape::Str)), ("more", Shape::option(Shape::Str))])
}

/// Integer keys: serde-wasm-bindgen refuses them, serde_json is the reference.
#[derive(Debug, PartialEq, Deserialize)]
struct IntegerKeys {
    by_id: BTreeMap<u32, String>,
    by_offset: BTreeMap<i8, Option<bool>>,
    by_big: BTreeMap<u64, Vec<u16>>,
    by_delta: BTreeMap<i64, String>,
    by_newtype: BTreeMap<Id, bool>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
struct Id(u16);

fn integer_keys() -> Shape {
    Shape::record(&[
        ("by_id", Shape::map(int_key::<u32>(), Shape::Str)),
        ("by_offset", Shape::map(int_key::<i8>(), Shape::option(Shape::Bool))),
        ("by_big", Shape::map(int_key::<u64>(), Shape::seq(int::<u16>()))),
        ("by_delta", Shape::map(int_key::<i64>(), Shape::Str)),
        ("by_newtype", Shape::map(int_key::<u16>(), Shape::Bool)),
    ])
}

/// `deny_unknown_fields`: serde-wasm-bindgen never sees unknown fields, serde_json is the reference.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    a: u8,
    b: Option<String>,
    inner: Option<StrictInner>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictInner {
    n: i32,
}

fn strict() -> Shape {
    Shape::record(&[
        ("a", int::<u8>()),
        ("b", Shape::option(Shape::Str)),
        ("inner", Shape::option(Shape::record(&[("n", int::<i32>())]))),
    ])
}

// ---------------------------------------------------------------------------------------------------------------
// The oracle runs.

/// What a case is compared with.
#[derive(Clone, Copy, PartialEq)]
enum Reference {
    SerdeWasmBindgen,
    /// serde_json on the same text, for the differences the module doc lists; no arrays for structs.
    SerdeJson,
}

#[wasm_bindgen_test]
fn scalars_and_numbers_at_the_edges_of_each_type() {
    let mut report = Report::default();
    report.target::<Scalars>("Scalars", scalars(), Reference::SerdeWasmBindgen);
    report.target::<bool>("bool", Shape::Bool, Reference::SerdeWasmBindgen);
    report.target::<u8>("u8", int::<u8>(), Reference::SerdeWasmBindgen);
    report.target::<u16>("u16", int::<u16>(), Reference::SerdeWasmBindgen);
    report.target::<u32>("u32", int::<u32>(), Reference::SerdeWasmBindgen);
    report.target::<u64>("u64", int::<u64>(), Reference::SerdeWasmBindgen);
    report.target::<i8>("i8", int::<i8>(), Reference::SerdeWasmBindgen);
    report.target::<i16>("i16", int::<i16>(), Reference::SerdeWasmBindgen);
    report.target::<i32>("i32", int::<i32>(), Reference::SerdeWasmBindgen);
    report.target::<i64>("i64", int::<i64>(), Reference::SerdeWasmBindgen);
    report.target::<f32>("f32", Shape::F32, Reference::SerdeWasmBindgen);
    report.target::<f64>("f64", Shape::F64, Reference::SerdeWasmBindgen);
    report.target::<char>("char", Shape::Char, Reference::SerdeWasmBindgen);
    report.target::<String>("String", Shape::Str, Reference::SerdeWasmBindgen);
    report.target::<()>("()", Shape::Unit, Reference::SerdeWasmBindgen);
    report.target::<Nothing>("Nothing", Shape::Unit, Reference::SerdeWasmBindgen);
    report.target::<Meters>("Meters", Shape::F64, Reference::SerdeWasmBindgen);
    report.target::<Option<i16>>("Option<i16>", Shape::option(int::<i16>()), Reference::SerdeWasmBindgen);
    report.finish();
}

#[wasm_bindgen_test]
fn structs_sequences_tuples_and_string_keyed_maps() {
    let mut report = Report::default();
    report.target::<Inner>("Inner", inner(), Reference::SerdeWasmBindgen);
    report.target::<AllOptional>("AllOptional", all_optional(), Reference::SerdeWasmBindgen);
    report.target::<Nested>("Nested", nested(), Reference::SerdeWasmBindgen);
    report.target::<Point>("Point", Shape::Tuple(vec![int::<i32>(), int::<i32>()]), Reference::SerdeWasmBindgen);
    report.target::<Vec<Option<i16>>>(
        "Vec<Option<i16>>",
        Shape::seq(Shape::option(int::<i16>())),
        Reference::SerdeWasmBindgen,
    );
    report.target::<(u8, String, f64)>(
        "(u8, String, f64)",
        Shape::Tuple(vec![int::<u8>(), Shape::Str, Shape::F64]),
        Reference::SerdeWasmBindgen,
    );
    report.target::<BTreeMap<String, Inner>>(
        "BTreeMap<String, Inner>",
        Shape::map(Key::Str, inner()),
        Reference::SerdeWasmBindgen,
    );
    report.target::<HashMap<String, Vec<u32>>>(
        "HashMap<String, Vec<u32>>",
        Shape::map(Key::Str, Shape::seq(int::<u32>())),
        Reference::SerdeWasmBindgen,
    );
    report.target::<Flattened>("Flattened", flattened(), Reference::SerdeWasmBindgen);
    report.finish();
}

#[wasm_bindgen_test]
fn enums_of_every_representation() {
    let mut report = Report::default();
    report.target::<External>("External", external(), Reference::SerdeWasmBindgen);
    report.target::<Internal>("Internal", internal(), Reference::SerdeWasmBindgen);
    report.target::<Adjacent>("Adjacent", adjacent(), Reference::SerdeWasmBindgen);
    report.target::<Untagged>("Untagged", untagged(), Reference::SerdeWasmBindgen);
    report.target::<Mixed>("Mixed", mixed(), Reference::SerdeWasmBindgen);
    report.target::<Vec<Untagged>>("Vec<Untagged>", Shape::seq(untagged()), Reference::SerdeWasmBindgen);
    report.finish();
}

#[wasm_bindgen_test]
fn integer_keys_and_unknown_fields_decode_as_serde_json_does() {
    let mut report = Report::default();
    report.target::<IntegerKeys>("IntegerKeys", integer_keys(), Reference::SerdeJson);
    report.target::<BTreeMap<u8, String>>(
        "BTreeMap<u8, String>",
        Shape::map(int_key::<u8>(), Shape::Str),
        Reference::SerdeJson,
    );
    report.target::<HashMap<i32, bool>>(
        "HashMap<i32, bool>",
        Shape::map(int_key::<i32>(), Shape::Bool),
        Reference::SerdeJson,
    );
    report.target::<Strict>("Strict", strict(), Reference::SerdeJson);
    report.target::<External>("External (serde_json)", external(), Reference::SerdeJson);
    report.finish();
}

// ---------------------------------------------------------------------------------------------------------------
// The differences from serde-wasm-bindgen, each pinned.

fn swb<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let value = js_sys::JSON::parse(text).map_err(|e| format!("{e:?}"))?;
    serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
}

#[wasm_bindgen_test]
fn integer_map_keys_decode_as_serde_json_does() {
    let text = r#"{"7": "seven", "0": "zero", "4294967295": "max"}"#;
    let expected = BTreeMap::from([(0, "zero".to_string()), (7, "seven".to_string()), (u32::MAX, "max".to_string())]);
    assert_eq!(from_json::<BTreeMap<u32, String>>(text), Ok(expected));
    assert!(swb::<BTreeMap<u32, String>>(text).is_err(), "the oracle refuses integer keys");
    assert_eq!(from_json::<HashMap<i8, bool>>(r#"{"-128": true}"#), Ok(HashMap::from([(i8::MIN, true)])));
    assert_eq!(from_json::<BTreeMap<Id, u8>>(r#"{"65535": 1}"#), Ok(BTreeMap::from([(Id(u16::MAX), 1)])));
}

#[wasm_bindgen_test]
fn integer_map_keys_are_refused_as_serde_json_refuses_them() {
    for key in ["4294967296", "-1", "01", "-0", "+1", " 1", "1 ", "1.0", "1e2", "", "x", "0x10", "-"] {
        let text = format!(r#"{{"{key}": "v"}}"#);
        let ours = from_json::<BTreeMap<u32, String>>(&text);
        assert!(ours.is_err(), "key {key:?} into u32: {ours:?}");
        assert!(serde_json::from_str::<BTreeMap<u32, String>>(&text).is_err(), "serde_json refuses {key:?}");
    }
    for key in ["9223372036854775808", "-9223372036854775809"] {
        let text = format!(r#"{{"{key}": "v"}}"#);
        assert!(from_json::<BTreeMap<i64, String>>(&text).is_err(), "key {key:?} into i64");
    }
    assert_eq!(
        from_json::<BTreeMap<i64, u8>>(r#"{"-9223372036854775808": 1, "9223372036854775807": 2}"#),
        Ok(BTreeMap::from([(i64::MIN, 1), (i64::MAX, 2)]))
    );
    assert_eq!(from_json::<BTreeMap<u64, u8>>(r#"{"18446744073709551615": 1}"#), Ok(BTreeMap::from([(u64::MAX, 1)])));
}

#[wasm_bindgen_test]
fn unknown_fields_are_refused_where_the_oracle_does_not_look() {
    let text = r#"{"a": 1, "z": 2}"#;
    assert_eq!(from_json::<Strict>(text), Err("unknown field `z`, expected one of `a`, `b`, `inner`".to_string()));
    assert!(serde_json::from_str::<Strict>(text).is_err());
    assert_eq!(swb::<Strict>(text), Ok(Strict { a: 1, b: None, inner: None }), "the oracle ignores `z`");
}

#[wasm_bindgen_test]
fn arrays_are_neither_structs_nor_maps() {
    assert!(from_json::<AllOptional>("[]").is_err());
    assert!(from_json::<AllOptional>(r#"[1, "b"]"#).is_err());
    assert_eq!(swb::<AllOptional>("[]"), Ok(AllOptional { a: None, b: None }), "the oracle reads no field of []");
    assert!(serde_json::from_str::<AllOptional>(r#"[1, "b"]"#).is_ok(), "serde_json reads fields in order");
    assert!(from_json::<BTreeMap<String, u8>>(r#"[["a", 1]]"#).is_err());
    assert_eq!(swb::<BTreeMap<String, u8>>(r#"[["a", 1]]"#), Ok(BTreeMap::from([("a".to_string(), 1)])));
    assert!(serde_json::from_str::<BTreeMap<String, u8>>(r#"[["a", 1]]"#).is_err());
}

#[wasm_bindgen_test]
fn a_longer_array_is_not_a_tuple() {
    let text = "[1, 2, 3]";
    assert_eq!(from_json::<Point>(text), Err("invalid length 3, expected 2 elements in array".to_string()));
    assert!(serde_json::from_str::<Point>(text).is_err());
    assert_eq!(swb::<Point>(text), Ok(Point(1, 2)), "the oracle ignores the third element");
}

#[wasm_bindgen_test]
fn adjacent_content_before_the_tag_is_buffered() {
    let tag_first = r#"{"t": "Record", "c": {"x": -0.0}}"#;
    let content_first = r#"{"c": {"x": -0.0}, "t": "Record"}"#;
    let bits = |r: Result<Adjacent, String>| match r {
        Ok(Adjacent::Record { x }) => x.to_bits(),
        other => panic!("{other:?}"),
    };
    assert_eq!(bits(from_json(tag_first)), (-0.0f64).to_bits());
    assert_eq!(bits(from_json(content_first)), 0.0f64.to_bits());
    assert_eq!(bits(swb(content_first)), (-0.0f64).to_bits(), "the oracle reads the tag first");
}

#[wasm_bindgen_test]
fn a_bare_string_is_a_unit_variant_only() {
    let text = r#""newtype-optional""#;
    assert!(from_json::<External>(text).is_err());
    assert!(serde_json::from_str::<External>(text).is_err());
    assert_eq!(swb::<External>(text), Ok(External::NewtypeOptional(None)));
}

// ---------------------------------------------------------------------------------------------------------------
// Running a target.

#[derive(Default)]
struct Report {
    mismatches: Vec<String>,
    summary: Vec<String>,
}

impl Report {
    fn target<T: DeserializeOwned + Debug + PartialEq>(&mut self, name: &str, shape: Shape, reference: Reference) {
        let seed = seed_for(name);
        let mut gen = Gen::new(seed, reference);
        let (mut ok, mut err, mut skipped) = (0, 0, 0);
        for case in 0..cases() {
            let (text, hazard) = gen.case(&shape);
            if hazard && reference == Reference::SerdeJson {
                // serde_json and `JSON.parse` read this text's numbers differently: no reference here.
                skipped += 1;
                continue;
            }
            let ours = from_json::<T>(&text);
            let theirs = match reference {
                Reference::SerdeWasmBindgen => swb::<T>(&text),
                Reference::SerdeJson => serde_json::from_str::<T>(&text).map_err(|e| e.to_string()),
            };
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) if same(a, b) => ok += 1,
                (Err(_), Err(_)) => err += 1,
                _ => self.mismatches.push(format!(
                    "{name} (seed {seed:#x}, case {case}): {text}\n  de.rs:     {ours:?}\n  reference: {theirs:?}"
                )),
            }
        }
        // A corpus that never decodes (or never fails) would compare nothing worth comparing.
        let decoded_share = ok * 100 / cases();
        if ok == 0 || err == 0 || decoded_share < 10 {
            self.mismatches.push(format!("{name}: a one-sided corpus ({ok} decoded, {err} refused by both)"));
        }
        self.summary.push(format!("{name}: {ok} decoded alike, {err} refused by both, {skipped} skipped"));
    }

    fn finish(self) {
        for line in &self.summary {
            web_sys::console::log_1(&line.into());
        }
        assert!(
            self.mismatches.is_empty(),
            "{} mismatches:\n{}",
            self.mismatches.len(),
            self.mismatches.iter().take(12).cloned().collect::<Vec<_>>().join("\n")
        );
    }
}

/// Equal, and equal as printed: `Debug` tells `-0.0` from `0.0`. A `HashMap`'s `Debug` order is its own, so with one
/// the sign of zero is not compared (the targets with `HashMap`s hold no floats).
fn same<T: Debug + PartialEq>(a: &T, b: &T) -> bool {
    a == b && (std::any::type_name::<T>().contains("HashMap") || format!("{a:?}") == format!("{b:?}"))
}

fn seed_for(name: &str) -> u64 {
    let base = option_env!("DE_ORACLE_SEED").and_then(|s| s.parse::<u64>().ok()).unwrap_or(0x5eed_de0a);
    // FNV-1a of the name: each target its own stream, stable across runs.
    name.bytes().fold(base ^ 0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

// ---------------------------------------------------------------------------------------------------------------
// Shapes and the generator.

#[derive(Clone)]
enum Shape {
    Bool,
    Int {
        min: i128,
        max: i128,
    },
    F32,
    F64,
    Char,
    Str,
    /// `()`, a unit struct: JSON null.
    Unit,
    Option(Box<Shape>),
    /// A `#[serde(default)]` field: left out or there, never null.
    Default(Box<Shape>),
    Seq(Box<Shape>),
    Tuple(Vec<Shape>),
    Map(Key, Box<Shape>),
    Record(Vec<(&'static str, Shape)>),
    Enum(Tagging, Vec<Variant>),
}

impl Shape {
    fn option(inner: Shape) -> Shape {
        Shape::Option(Box::new(inner))
    }

    fn seq(inner: Shape) -> Shape {
        Shape::Seq(Box::new(inner))
    }

    fn map(key: Key, value: Shape) -> Shape {
        Shape::Map(key, Box::new(value))
    }

    fn record(fields: &[(&'static str, Shape)]) -> Shape {
        Shape::Record(fields.to_vec())
    }

    /// Whether JSON null fits.
    fn nullable(&self) -> bool {
        matches!(self, Shape::Option(_) | Shape::Unit)
    }

    /// Whether a struct may go without this field.
    fn omittable(&self) -> bool {
        matches!(self, Shape::Option(_) | Shape::Default(_))
    }
}

fn int<T: Bounded>() -> Shape {
    Shape::Int { min: T::MIN, max: T::MAX }
}

fn int_key<T: Bounded>() -> Key {
    Key::Int { min: T::MIN, max: T::MAX }
}

trait Bounded {
    const MIN: i128;
    const MAX: i128;
}

macro_rules! bounded {
    ($($t:ty),*) => {$(impl Bounded for $t { const MIN: i128 = <$t>::MIN as i128; const MAX: i128 = <$t>::MAX as i128; })*};
}
bounded!(u8, u16, u32, u64, i8, i16, i32, i64);

#[derive(Clone)]
enum Key {
    Str,
    Char,
    Int { min: i128, max: i128 },
}

#[derive(Clone, Copy)]
enum Tagging {
    External,
    Internal(&'static str),
    Adjacent(&'static str, &'static str),
    Untagged,
}

#[derive(Clone)]
struct Variant {
    name: &'static str,
    payload: Payload,
}

#[derive(Clone)]
enum Payload {
    Unit,
    Newtype(Shape),
    Tuple(Vec<Shape>),
    Record(Vec<(&'static str, Shape)>),
}

impl Variant {
    fn unit(name: &'static str) -> Variant {
        Variant { name, payload: Payload::Unit }
    }

    fn newtype(name: &'static str, shape: Shape) -> Variant {
        Variant { name, payload: Payload::Newtype(shape) }
    }

    fn tuple(name: &'static str, shapes: Vec<Shape>) -> Variant {
        Variant { name, payload: Payload::Tuple(shapes) }
    }

    fn record(name: &'static str, fields: &[(&'static str, Shape)]) -> Variant {
        Variant { name, payload: Payload::Record(fields.to_vec()) }
    }
}

/// A JSON value with its object keys in the order written.
#[derive(Clone)]
enum J {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    /// `-0.0` made `0.0` if `positive`.
    fn positive_zero(self, positive: bool) -> J {
        match self {
            J::Float(f) if positive && f == 0.0 => J::Float(0.0),
            other => other,
        }
    }

    fn obj(pairs: Vec<(&str, J)>) -> J {
        J::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// The text; `hazard` is set when serde_json and `JSON.parse` may read a number of it differently: an integer
    /// past 2^53 (exact in serde_json), any float (an integral one — `1.0`, `-0.0`, `1e300` — is an integer to JS, not
    /// to serde_json; and serde_json's default float parsing is not correctly rounded in the last digit).
    fn write(&self, out: &mut String, hazard: &mut bool) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(n) => {
                *hazard |= n.abs() > MAX_SAFE;
                out.push_str(&n.to_string());
            }
            J::Float(f) => {
                *hazard = true;
                out.push_str(&serde_json::to_string(f).expect("a finite float"));
            }
            J::Str(s) => out.push_str(&serde_json::to_string(s).expect("a string")),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out, hazard);
                }
                out.push(']');
            }
            J::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).expect("a string"));
                    out.push(':');
                    v.write(out, hazard);
                }
                out.push('}');
            }
        }
    }
}

/// SplitMix64: small, seeded, the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    /// Uniform in `min..=max` (a span up to 2^64).
    fn between(&mut self, min: i128, max: i128) -> i128 {
        let span = (max - min) as u128 + 1;
        min + (u128::from(self.next()) % span) as i128
    }
}

/// Pieces of strings: ASCII, escapes, accents (composed and combining), CJK, astral emoji, the largest code point,
/// controls, line and paragraph separators, a byte-order mark, an object prototype's name.
const FRAGMENTS: &[&str] = &[
    "",
    "a",
    "text",
    " ",
    "é",
    "e\u{301}",
    "日本語",
    "😀",
    "👩‍👩‍👧",
    "\u{10FFFF}",
    "\u{0}",
    "\u{1f}",
    "\"",
    "\\",
    "/",
    "\n\t",
    "\u{2028}\u{2029}",
    "\u{FEFF}",
    "__proto__",
    "constructor",
    "0",
    "-1",
    "null",
    "true",
    "Ω≈ç√",
];

const CHARS: &[char] = &['a', 'Z', '0', ' ', 'é', '日', '😀', '\u{10FFFF}', '\u{0}', '"', '\\', '\u{2028}'];

/// Field and key names the generator adds where they are not expected.
const UNKNOWN_KEYS: &[&str] = &["z", "unknown", "extra", "type2", "😀"];

struct Gen {
    rng: Rng,
    reference: Reference,
    /// Share of nodes (percent) replaced by a value that does not fit, in this case.
    wrong_percent: u64,
    /// No `-0.0` (see [`Gen::variant`]).
    positive_zero: bool,
}

impl Gen {
    fn new(seed: u64, reference: Reference) -> Gen {
        Gen { rng: Rng(seed), reference, wrong_percent: 0, positive_zero: false }
    }

    /// One case: its text, and whether it holds a number read differently by serde_json and `JSON.parse`.
    fn case(&mut self, shape: &Shape) -> (String, bool) {
        // Half the cases fit the type everywhere (else a large type would almost never decode).
        self.wrong_percent = if self.rng.percent(50) { 0 } else { WRONG_PERCENT };
        let value = self.value(shape);
        let (mut text, mut hazard) = (String::new(), false);
        value.write(&mut text, &mut hazard);
        (text, hazard)
    }

    fn value(&mut self, shape: &Shape) -> J {
        if self.rng.percent(self.wrong_percent) {
            return self.wrong(shape);
        }
        match shape {
            Shape::Bool => J::Bool(self.rng.percent(50)),
            Shape::Int { min, max } => J::Int(self.int_in(*min, *max)),
            Shape::F32 | Shape::F64 => self.float(),
            Shape::Char => J::Str(self.rng.pick(CHARS).to_string()),
            Shape::Str => J::Str(self.string()),
            Shape::Unit => J::Null,
            Shape::Default(inner) => self.value(inner),
            Shape::Option(inner) => {
                if self.rng.percent(25) {
                    J::Null
                } else {
                    self.value(inner)
                }
            }
            Shape::Seq(inner) => J::Arr((0..self.rng.below(4)).map(|_| self.value(inner)).collect()),
            Shape::Tuple(items) => J::Arr(items.iter().map(|s| self.value(s)).collect()),
            Shape::Map(key, inner) => {
                let mut pairs: Vec<(String, J)> = Vec::new();
                for _ in 0..self.rng.below(4) {
                    let k = self.key(key);
                    if pairs.iter().all(|(p, _)| *p != k) {
                        let v = self.value(inner);
                        pairs.push((k, v));
                    }
                }
                J::Obj(pairs)
            }
            Shape::Record(fields) => J::Obj(self.fields(fields)),
            Shape::Enum(tagging, variants) => {
                let variant = self.rng.pick(variants);
                self.variant(*tagging, &variant)
            }
        }
    }

    /// A struct's fields in a random order; an optional one is left out a third of the time.
    fn fields(&mut self, fields: &[(&'static str, Shape)]) -> Vec<(String, J)> {
        let mut pairs: Vec<(String, J)> = Vec::new();
        for (name, shape) in fields {
            if shape.omittable() && self.rng.percent(33) {
                continue;
            }
            let v = self.value(shape);
            let at = self.rng.below(pairs.len() + 1);
            pairs.insert(at, (name.to_string(), v));
        }
        pairs
    }

    fn payload(&mut self, payload: &Payload) -> J {
        match payload {
            Payload::Unit => J::Null,
            Payload::Newtype(shape) => self.value(shape),
            Payload::Tuple(shapes) => J::Arr(shapes.iter().map(|s| self.value(s)).collect()),
            Payload::Record(fields) => J::Obj(self.fields(fields)),
        }
    }

    fn variant(&mut self, tagging: Tagging, variant: &Variant) -> J {
        let name = variant.name;
        match tagging {
            Tagging::External => match variant.payload {
                // Mostly `"unit"`; `{"unit": null}` is the same variant.
                Payload::Unit if self.rng.percent(80) => J::Str(name.to_string()),
                _ => J::obj(vec![(name, self.payload(&variant.payload))]),
            },
            Tagging::Internal(tag) => {
                let mut pairs = match &variant.payload {
                    Payload::Unit => Vec::new(),
                    // Internally tagged newtype variants hold a struct; its fields sit beside the tag.
                    Payload::Newtype(Shape::Record(fields)) | Payload::Record(fields) => self.fields(fields),
                    _ => unreachable!("internally tagged variants are unit, struct or newtype of a struct"),
                };
                let at = self.rng.below(pairs.len() + 1);
                pairs.insert(at, (tag.to_string(), J::Str(name.to_string())));
                J::Obj(pairs)
            }
            Tagging::Adjacent(tag, content) => {
                let tag = (tag, J::Str(name.to_string()));
                if matches!(variant.payload, Payload::Unit) && self.rng.percent(70) {
                    return J::obj(vec![tag]);
                }
                // Both orders: content first makes serde buffer it, where `-0` is read as the integer 0 (as
                // serde-wasm-bindgen reads it in an untagged enum). serde-wasm-bindgen reads the tag first whatever
                // the order, so it never buffers; a `-0.0` for an `f64` there is a documented difference.
                let content_first = self.rng.percent(50);
                self.positive_zero = content_first && self.reference == Reference::SerdeWasmBindgen;
                let content = (content, self.payload(&variant.payload));
                self.positive_zero = false;
                J::obj(if content_first { vec![content, tag] } else { vec![tag, content] })
            }
            Tagging::Untagged => self.payload(&variant.payload),
        }
    }

    /// Within `min..=max`: its ends and zero often, mostly what a JS number holds exactly (a `u64` or `i64` past
    /// 2^53 does not decode, which would leave a struct with such fields seldom decoded).
    fn int_in(&mut self, min: i128, max: i128) -> i128 {
        match self.rng.below(8) {
            0 => min,
            1 => max,
            2 => 0.clamp(min, max),
            3 | 4 => self.rng.between(min.max(-1000), max.min(1000)),
            5 | 6 => self.rng.between(min.max(-MAX_SAFE), max.min(MAX_SAFE)),
            _ => self.rng.between(min, max),
        }
    }

    fn float(&mut self) -> J {
        const EDGES: &[f64] = &[
            0.0,
            -0.0,
            0.5,
            -1.5,
            0.1,
            1e-7,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            1e300,
            9_007_199_254_740_992.0,
            9_007_199_254_740_994.0,
            f32::MAX as f64,
            f32::MIN_POSITIVE as f64,
            1e39,
        ];
        match self.rng.below(4) {
            0 => J::Float(self.rng.pick(EDGES)).positive_zero(self.positive_zero),
            1 => J::Int(self.rng.between(-1000, 1000)),
            _ => loop {
                let f = f64::from_bits(self.rng.next());
                if f.is_finite() {
                    break J::Float(f);
                }
            },
        }
    }

    fn string(&mut self) -> String {
        (0..self.rng.below(4)).map(|_| self.rng.pick(FRAGMENTS)).collect()
    }

    fn key(&mut self, key: &Key) -> String {
        match key {
            Key::Str => self.string(),
            Key::Char => self.rng.pick(CHARS).to_string(),
            Key::Int { min, max } => self.int_in(*min, *max).to_string(),
        }
    }

    /// A value of no shape in particular; arrays and objects only `depth` deep.
    fn any(&mut self, depth: u32) -> J {
        match self.rng.below(if depth == 0 { 5 } else { 7 }) {
            0 => J::Null,
            1 => J::Bool(self.rng.percent(50)),
            2 => J::Int(self.wrong_int(0, 0)),
            3 => self.float(),
            4 => J::Str(self.string()),
            5 => J::Arr((0..self.rng.below(3)).map(|_| self.any(depth - 1)).collect()),
            _ => J::Obj(
                (0..self.rng.below(3))
                    .map(|i| (format!("{}{i}", self.rng.pick(UNKNOWN_KEYS)), self.any(depth - 1)))
                    .collect(),
            ),
        }
    }

    /// [`any`](Self::any), but never an array: where an array is one of the documented differences.
    fn any_but_array(&mut self) -> J {
        loop {
            let v = self.any(1);
            if !matches!(v, J::Arr(_)) {
                return v;
            }
        }
    }

    /// An integer just past an end of `min..=max`, past 2^53 or 2^64, a fraction, or an integral float.
    fn wrong_int(&mut self, min: i128, max: i128) -> i128 {
        self.rng.pick(&[min - 1, max + 1, MAX_SAFE + 1, -MAX_SAFE - 1, MAX_SAFE, -MAX_SAFE, 1 << 64, -(1 << 63) - 1])
    }

    /// A value that `shape` does not describe (or, for numbers, barely does: its ends written as floats).
    fn wrong(&mut self, shape: &Shape) -> J {
        // A wrong kind of value, a third of the time; where an array would hit a documented difference, not one.
        let array_is_a_difference = match shape {
            Shape::Map(..) => true,
            Shape::Record(fields) => {
                self.reference == Reference::SerdeJson || fields.iter().all(|(_, s)| s.omittable())
            }
            _ => false,
        };
        if self.rng.percent(33) {
            return if array_is_a_difference { self.any_but_array() } else { self.any(2) };
        }
        match shape {
            Shape::Bool => self.rng.pick(&[0, 1]).into_j(),
            Shape::Int { min, max } => match self.rng.below(4) {
                0 => J::Float(self.rng.pick(&[0.5, -0.5, *max as f64 + 0.5, -0.0, 1.0, 1e300])),
                1 => J::Float(*max as f64),
                _ => J::Int(self.wrong_int(*min, *max)),
            },
            Shape::F32 | Shape::F64 => J::Str("1.5".to_string()),
            Shape::Char => J::Str(self.rng.pick(&["", "ab", "😀x", "e\u{301}"]).to_string()),
            Shape::Str => J::Int(1),
            Shape::Unit => self.rng.pick(&[J::Bool(false), J::Int(0), J::Str(String::new()), J::Obj(Vec::new())]),
            Shape::Option(inner) | Shape::Default(inner) => self.wrong(inner),
            Shape::Seq(_) => J::Obj(Vec::new()),
            Shape::Tuple(items) => {
                let mut values: Vec<J> = items.iter().map(|s| self.value(s)).collect();
                // Longer only against serde_json: serde-wasm-bindgen takes the first elements and ignores the rest.
                if self.rng.percent(50) || self.reference == Reference::SerdeWasmBindgen {
                    values.pop();
                } else {
                    values.push(J::Int(1));
                }
                J::Arr(values)
            }
            Shape::Map(key, inner) => {
                let k = match key {
                    Key::Int { min, max } => self.wrong_int_key(*min, *max),
                    Key::Char => self.rng.pick(&["", "ab", "😀x"]).to_string(),
                    // Any string is a key.
                    Key::Str => self.string(),
                };
                J::Obj(vec![(k, self.value(inner))])
            }
            Shape::Record(fields) => {
                let mut pairs = self.fields(fields);
                if self.rng.percent(50) && !pairs.is_empty() {
                    // A field left out: an error unless it is optional.
                    let at = self.rng.below(pairs.len());
                    pairs.remove(at);
                } else {
                    let unknown = self.rng.pick(UNKNOWN_KEYS).to_string();
                    let value = self.any(1);
                    pairs.push((unknown, value));
                }
                J::Obj(pairs)
            }
            Shape::Enum(tagging, variants) => self.wrong_variant(*tagging, variants),
        }
    }

    fn wrong_int_key(&mut self, min: i128, max: i128) -> String {
        let odd = ["01", "-0", "+1", " 1", "1 ", "1.0", "1e2", "", "x", "0x10", "-", "١"];
        if self.rng.percent(50) {
            self.wrong_int(min, max).to_string()
        } else {
            self.rng.pick(&odd).to_string()
        }
    }

    fn wrong_variant(&mut self, tagging: Tagging, variants: &[Variant]) -> J {
        let variant = self.rng.pick(variants);
        let unknown = J::Str("nope".to_string());
        match tagging {
            Tagging::External => match self.rng.below(4) {
                0 => unknown,
                // Two keys, or none.
                1 => J::obj(vec![(variant.name, J::Null), ("other", J::Null)]),
                2 => J::Obj(Vec::new()),
                // A bare string for a variant with content: an error, except where it is a documented difference.
                _ => match variant.payload {
                    Payload::Newtype(ref s) if s.nullable() && self.reference == Reference::SerdeWasmBindgen => {
                        J::Int(0)
                    }
                    Payload::Unit => J::obj(vec![(variant.name, J::Int(1))]),
                    _ => J::Str(variant.name.to_string()),
                },
            },
            Tagging::Internal(tag) => match self.rng.below(3) {
                0 => J::obj(vec![(tag, unknown)]),
                // The tag as a number (a variant's index, to serde), or missing.
                1 => J::obj(vec![(tag, J::Int(self.rng.below(variants.len()) as i128))]),
                _ => J::obj(vec![("a", J::Int(1))]),
            },
            Tagging::Adjacent(tag, content) => match self.rng.below(3) {
                0 => J::obj(vec![(tag, unknown), (content, J::Null)]),
                1 => J::obj(vec![(tag, J::Int(self.rng.below(variants.len()) as i128)), (content, J::Null)]),
                _ => J::obj(vec![(content, J::Int(1))]),
            },
            Tagging::Untagged => self.any(2),
        }
    }
}

trait IntoJ {
    fn into_j(self) -> J;
}

impl IntoJ for i32 {
    fn into_j(self) -> J {
        J::Int(i128::from(self))
    }
}
