//! A text field of a received event as its transport has it, so that each side reads it in its own form once.
//!
//! The `EventSource` transport gets the browser's JS strings; copying one into wasm (and a JS handler's copy back
//! out) costs an encode, an allocation and a decode per field per event, the larger part of the JS API's dispatch
//! time (bench/README.md, "Browser dispatch"). So a JS string stays one until Rust code asks for its text.

#[cfg(feature = "js")]
use std::cell::OnceCell;

use wasm_bindgen::JsValue;

/// Rust text (the fetch transport, an event relayed between tabs), or a JS string (the browser's `EventSource`)
/// copied into wasm the first time Rust code reads it, and handed to JS as it is.
pub(crate) enum Text<'a> {
    #[cfg_attr(all(feature = "js", not(any(feature = "fetch", feature = "share"))), allow(dead_code))]
    Rust(&'a str),
    /// Only the JS API reads these lazily: a Rust app's handlers read every field, so it copies them at once.
    #[cfg(feature = "js")]
    Js(JsValue, OnceCell<String>),
}

impl Text<'_> {
    /// A JS string (anything else reads as empty text, as the `EventSource` transport always read it).
    #[cfg(feature = "js")]
    pub(crate) fn js(value: JsValue) -> Text<'static> {
        Text::Js(value, OnceCell::new())
    }

    /// The text, copied from JS on the first call. Never inlined: the engine reads several fields in several places.
    #[cfg_attr(feature = "js", inline(never))]
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Text::Rust(text) => text,
            #[cfg(feature = "js")]
            Text::Js(value, copy) => {
                // `get` and `set` rather than `get_or_init`, whose re-entrance panic adds its message to every app.
                if copy.get().is_none() {
                    let _ = copy.set(value.as_string().unwrap_or_default());
                }
                copy.get().map_or("", String::as_str)
            }
        }
    }

    /// The JS string: the transport's own, or made from the Rust text.
    pub(crate) fn to_js(&self) -> JsValue {
        match self {
            Text::Rust(text) => JsValue::from_str(text),
            #[cfg(feature = "js")]
            Text::Js(value, _) => value.clone(),
        }
    }
}
