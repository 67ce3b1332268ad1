//! The server's publishing endpoints, called with `fetch` on relative URLs (the server that serves the page).

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, Response};

/// POSTs `body` (JSON) to `path`; the answer's text, or a readable error with the server's message.
pub async fn post_json(path: &str, body: &str) -> Result<String, String> {
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    let headers = Headers::new().map_err(describe)?;
    headers.set("content-type", "application/json").map_err(describe)?;
    init.set_headers(&headers);
    let window = web_sys::window().ok_or("no window")?;
    let resp: Response = JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(describe)?
        .dyn_into()
        .map_err(describe)?;
    let text = JsFuture::from(resp.text().map_err(describe)?).await.map_err(describe)?.as_string().unwrap_or_default();
    if resp.ok() {
        Ok(text)
    } else {
        Err(format!("{} {}: {text}", resp.status(), resp.status_text()))
    }
}

/// A JSON string literal for `text` (quotes, backslashes, newlines and control characters escaped).
pub fn json_string(text: &str) -> String {
    js_sys::JSON::stringify(&JsValue::from_str(text)).map(String::from).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The id field of a JSON answer such as `{"id": "..."}`.
pub fn id_of(answer: &str) -> Option<String> {
    let value = js_sys::JSON::parse(answer).ok()?;
    let id = js_sys::Reflect::get(&value, &JsValue::from_str("id")).ok()?;
    id.as_string().or_else(|| id.as_f64().map(|n| n.to_string()))
}

fn describe(e: JsValue) -> String {
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// `HH:MM:SS` of a time in milliseconds since the epoch, in the browser's time zone.
pub fn clock(millis: f64) -> String {
    let date = js_sys::Date::new(&JsValue::from_f64(millis));
    String::from(date.to_locale_time_string("en-GB"))
}
