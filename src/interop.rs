//! Two small helpers at the JavaScript boundary, shared by the decoders, the handlers and the transports.

use js_sys::JSON;
use wasm_bindgen::{JsCast, JsValue};

/// `JSON.parse`, which keeps serde_json out of the wasm and is the browser's fastest parser; the error is its message.
pub(crate) fn parse_json(data: &str) -> Result<JsValue, String> {
    JSON::parse(data).map_err(|e| js_message(&e))
}

/// The message of a thrown JS value.
pub(crate) fn js_message(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => String::from(err.message()),
        None => e.as_string().unwrap_or_else(|| String::from("unknown JavaScript error")),
    }
}
