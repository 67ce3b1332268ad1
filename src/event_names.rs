//! Finding the event types a whole-stream enum listens for, from the enum itself.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::fmt;

/// The event types an enum stands for: its variant names as serde sees them (renames respected).
///
/// Whole-stream dispatch ([`TypedEventSourceBuilder::on_enum`]) maps event type
/// `x` to variant `x`, whose content is the event's data, so the user never lists the event types twice. The enum must
/// use serde's default, externally tagged representation (no `#[serde(tag = ..)]` or `untagged`).
///
/// ```
/// #[derive(serde::Deserialize)]
/// #[serde(rename_all = "kebab-case")]
/// enum JobEvent {
///     #[serde(rename = "message")]
///     Progress { status: String },
///     Ping(String),
///     JobFailed(String),
/// }
/// assert_eq!(typed_eventsource::event_names::<JobEvent>().unwrap(), ["message", "ping", "job-failed"]);
/// ```
///
#[cfg_attr(
    target_arch = "wasm32",
    doc = "[`TypedEventSourceBuilder::on_enum`]: crate::TypedEventSourceBuilder::on_enum"
)]
#[cfg_attr(
    not(target_arch = "wasm32"),
    doc = "[`TypedEventSourceBuilder::on_enum`]: https://docs.rs/typed-eventsource/latest/typed_eventsource/struct.TypedEventSourceBuilder.html#method.on_enum"
)]
pub fn event_names<'de, E: Deserialize<'de>>() -> Result<&'static [&'static str], crate::Error> {
    match E::deserialize(VariantProbe) {
        Err(Probe::Variants(names)) => Ok(names),
        Err(Probe::NotAnEnum(reason)) => Err(crate::Error::NotAnEnum { type_name: std::any::type_name::<E>(), reason }),
        Ok(_) => Err(crate::Error::NotAnEnum {
            type_name: std::any::type_name::<E>(),
            reason: "it deserialised from nothing".into(),
        }),
    }
}

/// A deserializer that answers nothing and records the variant list serde hands to `deserialize_enum`.
struct VariantProbe;

#[derive(Debug)]
enum Probe {
    Variants(&'static [&'static str]),
    NotAnEnum(String),
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Variants(v) => write!(f, "variants {v:?}"),
            Probe::NotAnEnum(r) => f.write_str(r),
        }
    }
}

impl std::error::Error for Probe {}

impl de::Error for Probe {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Probe::NotAnEnum(msg.to_string())
    }
}

const NOT_EXTERNAL: &str =
    "it is not an externally tagged enum (serde's default representation, one variant per event type)";

impl<'de> Deserializer<'de> for VariantProbe {
    type Error = Probe;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Probe> {
        Err(Probe::NotAnEnum(NOT_EXTERNAL.into()))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Probe> {
        Err(Probe::Variants(variants))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[allow(dead_code)]
    #[derive(Deserialize)]
    enum Plain {
        #[serde(rename = "message")]
        Message(u32),
        #[serde(rename = "ping")]
        Ping(String),
        #[serde(rename = "card-assigned")]
        CardAssigned { card: u32 },
        #[serde(rename = "done")]
        Done,
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    #[serde(tag = "type")]
    enum Internal {
        A { x: u32 },
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct NotEnum {
        x: u32,
    }

    #[test]
    fn the_probe_says_what_it_found() {
        assert_eq!(Probe::Variants(&["a", "b"]).to_string(), r#"variants ["a", "b"]"#);
        assert_eq!(Probe::NotAnEnum("why".into()).to_string(), "why");
    }

    #[test]
    fn finds_renamed_variants_in_order() {
        assert_eq!(event_names::<Plain>().unwrap(), ["message", "ping", "card-assigned", "done"]);
    }

    #[test]
    fn rejects_internally_tagged_enums_and_structs() {
        assert!(matches!(event_names::<Internal>(), Err(crate::Error::NotAnEnum { .. })));
        let err = event_names::<NotEnum>().unwrap_err();
        assert!(err.to_string().contains("NotEnum"), "{err}");
        assert!(event_names::<u32>().is_err());
    }
}
