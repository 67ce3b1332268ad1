//! A small serde `Deserializer` over the result of `JSON.parse`.
//!
//! Only what `JSON.parse` produces occurs: null, booleans, numbers, strings, arrays and plain objects (`undefined` is
//! taken as null). Replaces serde-wasm-bindgen, whose error messages pulled float formatting, string escaping and
//! Unicode tables into every app: the messages here are built with `push_str` and integer formatting only, never
//! `Unexpected`'s `Display` (which formats floats) nor `{:?}` of strings, and no `&str` is sliced by index.

use std::fmt::{self, Display};

use js_sys::{Array, Object, Reflect};
use serde::de::value::MapAccessDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Expected, IntoDeserializer, MapAccess, SeqAccess, Unexpected, Visitor,
};
use wasm_bindgen::{JsCast, JsValue};

use crate::interop::{js_message, parse_json};

/// Largest integer a JS number holds exactly (2^53 − 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Why a value did not decode: a human-readable message.
pub(crate) struct Error(String);

impl Error {
    /// The message.
    pub(crate) fn into_message(self) -> String {
        self.0
    }

    /// `"{what}{unexpected}, expected {expected}"`.
    fn unexpected(what: &str, unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        let mut s = String::from(what);
        push_unexpected(&mut s, unexp);
        push_expected(&mut s, exp);
        Error(s)
    }

    /// `"{what} `{name}`"`, then `", expected one of `a`, `b`"` (or `"there are no {kind}"`) when `expected` is given.
    fn named(what: &str, name: &str, expected: Option<(&[&str], &str)>) -> Self {
        let mut s = String::from(what);
        s.push_str(" `");
        s.push_str(name);
        s.push('`');
        if let Some((expected, kind)) = expected {
            if expected.is_empty() {
                s.push_str(", there are no ");
                s.push_str(kind);
            } else {
                s.push_str(", expected one of ");
                for (i, e) in expected.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    s.push('`');
                    s.push_str(e);
                    s.push('`');
                }
            }
        }
        Error(s)
    }
}

impl Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Written by hand: a derived `Debug` would escape the message (`<str as Debug>`, Unicode tables).
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error::unexpected("invalid type: ", unexp, exp)
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        Error::unexpected("invalid value: ", unexp, exp)
    }

    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        let mut s = String::from("invalid length ");
        push_u64(&mut s, len as u64);
        push_expected(&mut s, exp);
        Error(s)
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::named("unknown variant", variant, Some((expected, "variants")))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Error::named("unknown field", field, Some((expected, "fields")))
    }

    fn missing_field(field: &'static str) -> Self {
        Error::named("missing field", field, None)
    }

    fn duplicate_field(field: &'static str) -> Self {
        Error::named("duplicate field", field, None)
    }
}

/// `", expected {exp}"`: `Expected` is a visitor's `expecting` (a fixed text) or a `&str`.
fn push_expected(s: &mut String, exp: &dyn Expected) {
    /// `Expected` as `Display`, for `to_string`, which formats without `core::fmt::write`.
    struct Shown<'a>(&'a dyn Expected);
    impl Display for Shown<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt(f)
        }
    }
    s.push_str(", expected ");
    s.push_str(&Shown(exp).to_string());
}

/// What was found, in JSON terms; a float's value is not written (that would link float formatting).
fn push_unexpected(s: &mut String, unexp: Unexpected<'_>) {
    let text = match unexp {
        Unexpected::Bool(b) => {
            s.push_str("boolean `");
            s.push_str(if b { "true" } else { "false" });
            "`"
        }
        Unexpected::Unsigned(n) => {
            s.push_str("integer `");
            push_u64(s, n);
            "`"
        }
        Unexpected::Signed(n) => {
            s.push_str("integer `");
            if n < 0 {
                s.push('-');
            }
            push_u64(s, n.unsigned_abs());
            "`"
        }
        Unexpected::Float(_) => "floating point number",
        Unexpected::Char(c) => {
            s.push_str("character `");
            s.push(c);
            "`"
        }
        Unexpected::Str(v) => {
            s.push_str("string \"");
            s.push_str(v);
            "\""
        }
        Unexpected::Bytes(_) => "byte array",
        Unexpected::Unit => "null",
        Unexpected::Option => "option",
        Unexpected::NewtypeStruct => "newtype struct",
        Unexpected::Seq => "array",
        Unexpected::Map => "object",
        Unexpected::Enum => "enum",
        Unexpected::UnitVariant => "unit variant",
        Unexpected::NewtypeVariant => "newtype variant",
        Unexpected::TupleVariant => "tuple variant",
        Unexpected::StructVariant => "struct variant",
        Unexpected::Other(other) => other,
    };
    s.push_str(text);
}

/// Decimal digits of `n`, without the formatting machinery (nor an array index, whose bounds-check panic would
/// bring it back).
fn push_u64(s: &mut String, n: u64) {
    if n >= 10 {
        push_u64(s, n / 10);
    }
    s.push(char::from(b'0' + (n % 10) as u8));
}

/// Decodes a value produced by `JSON.parse` into `T`.
pub(crate) fn from_value<T: DeserializeOwned>(value: JsValue) -> Result<T, Error> {
    T::deserialize(Deserializer(value))
}

/// Parses `data` with `JSON.parse` and decodes it into `T`; the error is the reason, for [`crate::Error::Decode`].
///
/// Exposed (hidden) for the crate's tests as `typed_eventsource::__from_json`:
///
/// ```
/// # #[wasm_bindgen_test::wasm_bindgen_test]
/// # fn example() {
/// # (|| -> Result<(), String> {
/// #[derive(Debug, serde::Deserialize)]
/// struct Note { text: String, n: u32 }
/// let note: Note = typed_eventsource::__from_json(r#"{"text": "hi", "n": 1}"#)?;
/// assert_eq!(typed_eventsource::__from_json::<Note>(r#"{"text": "hi"}"#).unwrap_err(), "missing field `n`");
/// # Ok(())
/// # })().unwrap()
/// # }
/// # fn main() {}
/// ```
pub fn from_json<T: DeserializeOwned>(data: &str) -> Result<T, String> {
    let value = parse_json(&JsValue::from_str(data))?;
    from_value(value).map_err(Error::into_message)
}

/// Decodes `data` as variant `variant` of `E`: JSON content first, then the raw text (a `Ping(String)` variant
/// receiving `finished`), then a unit variant (data ignored). The first failure is the one reported.
///
/// Exposed (hidden) for the crate's tests as `typed_eventsource::__decode_variant`:
///
/// ```
/// # #[wasm_bindgen_test::wasm_bindgen_test]
/// # fn example() {
/// # (|| -> Result<(), String> {
/// #[derive(serde::Deserialize)]
/// #[serde(rename_all = "lowercase")]
/// enum Job { Ping(String), Done }
/// assert!(matches!(typed_eventsource::__decode_variant::<Job>("ping", "finished"), Ok(Job::Ping(_))));
/// assert!(matches!(typed_eventsource::__decode_variant::<Job>("done", "{}"), Ok(Job::Done)));
/// # Ok(())
/// # })().unwrap()
/// # }
/// # fn main() {}
/// ```
pub fn decode_enum<E: DeserializeOwned>(variant: &str, data: &str) -> Result<E, String> {
    let text = JsValue::from_str(data);
    let parsed = parse_json(&text).ok();
    let first_content = parsed.clone().unwrap_or_else(|| text.clone());
    let first = match from_tagged::<E>(variant, first_content) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if parsed.is_some() {
        if let Ok(v) = from_tagged::<E>(variant, text) {
            return Ok(v);
        }
    }
    from_value::<E>(JsValue::from_str(variant)).map_err(|_| first)
}

fn from_tagged<E: DeserializeOwned>(variant: &str, content: JsValue) -> Result<E, String> {
    let tagged = Object::new();
    Reflect::set(&tagged, &JsValue::from_str(variant), &content).map_err(|e| js_message(&e))?;
    from_value::<E>(tagged.into()).map_err(Error::into_message)
}

/// One JS value being decoded.
struct Deserializer(JsValue);

/// What a JS value is, found once by non-generic code so that each visitor's `deserialize_any` is only a `match`.
enum Kind {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    String(String),
    Array(Array),
    Object(Object),
    Other,
}

impl Kind {
    #[inline(never)]
    fn of(value: JsValue) -> Kind {
        if value.is_null() || value.is_undefined() {
            Kind::Null
        } else if let Some(b) = value.as_bool() {
            Kind::Bool(b)
        } else if let Some(n) = value.as_f64() {
            // Integers a JS number holds exactly are integers; anything else is a float.
            if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER {
                if n >= 0.0 {
                    Kind::Unsigned(n as u64)
                } else {
                    Kind::Signed(n as i64)
                }
            } else {
                Kind::Float(n)
            }
        } else if let Some(s) = value.as_string() {
            Kind::String(s)
        } else if Array::is_array(&value) {
            Kind::Array(value.unchecked_into())
        } else if value.is_object() {
            Kind::Object(value.unchecked_into())
        } else {
            Kind::Other
        }
    }

    /// What was found, for an error.
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Kind::Null => Unexpected::Unit,
            Kind::Bool(b) => Unexpected::Bool(*b),
            Kind::Unsigned(n) => Unexpected::Unsigned(*n),
            Kind::Signed(n) => Unexpected::Signed(*n),
            Kind::Float(n) => Unexpected::Float(*n),
            Kind::String(s) => Unexpected::Str(s),
            Kind::Array(_) => Unexpected::Seq,
            Kind::Object(_) => Unexpected::Map,
            Kind::Other => Unexpected::Other("a JavaScript value that is not JSON"),
        }
    }

    /// "invalid type: {found}, expected {exp}".
    fn invalid(&self, exp: &dyn Expected) -> Error {
        de::Error::invalid_type(self.unexpected(), exp)
    }

    /// A null, boolean, number or string, given to the visitor; an array or object is an error (the visitor would
    /// say the same, but this way no array or object code is generated for visitors of scalars).
    fn visit_scalar<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Kind::Null => visitor.visit_unit(),
            Kind::Bool(b) => visitor.visit_bool(b),
            Kind::Unsigned(n) => visitor.visit_u64(n),
            Kind::Signed(n) => visitor.visit_i64(n),
            Kind::Float(n) => visitor.visit_f64(n),
            Kind::String(s) => visitor.visit_string(s),
            other => Err(other.invalid(&visitor)),
        }
    }

    /// An array given to the visitor, which must take every element.
    fn visit_seq<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Kind::Array(array) => {
                let mut seq = Seq::new(array);
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            other => Err(other.invalid(&visitor)),
        }
    }

    /// An object given to the visitor.
    fn visit_map<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Kind::Object(object) => visitor.visit_map(Map::new(&object)),
            other => Err(other.invalid(&visitor)),
        }
    }
}

impl<'de> de::Deserializer<'de> for Deserializer {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match Kind::of(self.0) {
            array @ Kind::Array(_) => array.visit_seq(visitor),
            object @ Kind::Object(_) => object.visit_map(visitor),
            scalar => scalar.visit_scalar(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.0.is_null() || self.0.is_undefined() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        Kind::of(self.0).visit_seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        Kind::of(self.0).visit_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        Kind::of(self.0).visit_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        Kind::of(self.0).visit_map(visitor)
    }

    /// An object; not an array of the fields in order (as serde-wasm-bindgen did).
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        Kind::of(self.0).visit_map(visitor)
    }

    /// A unit variant as a string (`"ping"`), any variant as an object with one key (`{"ping": "finished"}`).
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match Kind::of(self.0) {
            Kind::String(s) => visitor.visit_enum(s.into_deserializer()),
            Kind::Object(object) => {
                let map = Map::new(&object);
                if map.len != 1 {
                    return Err(not_one_key(name, map.len));
                }
                visitor.visit_enum(MapAccessDeserializer::new(map))
            }
            other => Err(other.invalid(&visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    // Scalars: a visitor of a number, string, ... gets only what it may accept, the rest is an error.
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    /// The number as JS holds it: `-0` stays `-0.0` (as an integer it would be `0`).
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.as_f64() {
            Some(n) => visitor.visit_f64(n),
            None => self.deserialize_scalar(visitor),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_scalar(visitor)
    }

    /// A field's or variant's name: a string only (serde would take an integer as a variant's index: `{"type": 0}`
    /// for the first variant of an internally tagged enum).
    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match Kind::of(self.0) {
            Kind::String(s) => visitor.visit_string(s),
            other => Err(other.invalid(&visitor)),
        }
    }

    serde::forward_to_deserialize_any! { i128 u128 bytes byte_buf }
}

impl Deserializer {
    fn deserialize_scalar<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        Kind::of(self.0).visit_scalar(visitor)
    }
}

/// An object given for an enum without exactly one key.
fn not_one_key(name: &str, len: u32) -> Error {
    let mut s = String::from("invalid type: object with ");
    push_u64(&mut s, u64::from(len));
    s.push_str(" keys, expected enum ");
    s.push_str(name);
    s.push_str(" (a string, or an object with one key)");
    Error(s)
}

/// "{n} elements in array", for an array longer than the visitor wanted.
struct ElementsInArray(u32);

impl Expected for ElementsInArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        push_u64(&mut s, u64::from(self.0));
        s.push_str(if self.0 == 1 { " element in array" } else { " elements in array" });
        f.write_str(&s)
    }
}

/// The elements of an array, in order.
struct Seq {
    array: Array,
    index: u32,
    len: u32,
}

impl Seq {
    fn new(array: Array) -> Self {
        Seq { len: array.length(), array, index: 0 }
    }

    /// An error if the visitor left elements over (a tuple given a longer array).
    fn end(&self) -> Result<(), Error> {
        if self.index < self.len {
            return Err(de::Error::invalid_length(self.len as usize, &ElementsInArray(self.index)));
        }
        Ok(())
    }
}

impl<'de> SeqAccess<'de> for Seq {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        if self.index >= self.len {
            return Ok(None);
        }
        let element = self.array.get(self.index);
        self.index += 1;
        seed.deserialize(Deserializer(element)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some((self.len - self.index) as usize)
    }
}

/// The own enumerable properties of an object (`Object.keys` / `Object.values`, in the same order).
struct Map {
    keys: Array,
    values: Array,
    index: u32,
    len: u32,
}

impl Map {
    fn new(object: &Object) -> Self {
        let keys = Object::keys(object);
        Map { len: keys.length(), keys, values: Object::values(object), index: 0 }
    }
}

impl<'de> MapAccess<'de> for Map {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        if self.index >= self.len {
            return Ok(None);
        }
        // `Object.keys` gives strings.
        let key: String = self.keys.get(self.index).as_string().unwrap_or_default();
        seed.deserialize(Key(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self.values.get(self.index);
        self.index += 1;
        seed.deserialize(Deserializer(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some((self.len - self.index) as usize)
    }
}

/// An object's key: a string, or an integer where the map's key type is one (`{"7": ..}` into `BTreeMap<u32, _>`),
/// read as serde_json reads integer keys: `-?(0|[1-9][0-9]*)` within the type; `"01"`, `"-0"`, `"+1"`, `" 1"` and
/// `"1.0"` are not integers.
struct Key(String);

impl Key {
    fn integer<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match integer(&self.0) {
            Some(Ok(n)) => visitor.visit_u64(n),
            Some(Err(n)) => visitor.visit_i64(n),
            None => Err(de::Error::invalid_type(Unexpected::Str(&self.0), &visitor)),
        }
    }
}

/// `Ok` for a non-negative integer within `u64`, `Err` for a negative one within `i64`; `None` for anything else.
fn integer(text: &str) -> Option<Result<u64, i64>> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    // Digits, and a leading zero only as `0` itself.
    if digits.is_empty() || digits.starts_with('0') && (negative || digits.len() > 1) {
        return None;
    }
    let mut n: u64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if !negative {
        return Some(Ok(n));
    }
    // Down to -2^63, whose magnitude is one past `i64::MAX`.
    (n <= 1 << 63).then(|| Err((n as i64).wrapping_neg()))
}

impl<'de> de::Deserializer<'de> for Key {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_string(self.0)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }

    /// A newtype of an integer (`struct Id(u32)`) is an integer key too.
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// A unit variant's name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(self.0.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        bool i128 u128 f32 f64 char str string bytes byte_buf option unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}
