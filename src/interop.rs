//! Small helpers at the JavaScript boundary, shared by the decoders, the handlers and the transports. Listeners and
//! timers are gloo-events' `EventListener` and gloo-timers' `Timeout`/`Interval`; promise callbacks are
//! [`on_settled`]'s.

#[cfg(any(feature = "fetch", feature = "share"))]
use std::{cell::RefCell, rc::Rc};

use std::borrow::Cow;

use gloo_events::{EventListener, EventListenerOptions};
#[cfg(any(feature = "fetch", feature = "share"))]
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

/// Calls `f` with each `event_type` event on `target` until the listener is dropped: gloo-events' `EventListener`
/// with its default options (bubbling, passive), built per listener rather than read from gloo's thread-local, whose
/// lazy initialisation is more code than the object.
pub(crate) fn listen(
    target: &web_sys::EventTarget,
    event_type: Cow<'static, str>,
    f: impl FnMut(&web_sys::Event) + 'static,
) -> EventListener {
    EventListener::new_with_options(target, event_type, EventListenerOptions::default(), f)
}

/// `JSON.parse` of a JS string, which keeps serde_json out of the wasm and is the browser's fastest parser; the error
/// is its message.
pub(crate) fn parse_json(text: &JsValue) -> Result<JsValue, String> {
    json_parse(text).map_err(|e| js_message(&e))
}

#[wasm_bindgen]
extern "C" {
    /// `JSON.parse(text)` of a JS string (js-sys' takes a `&str`, which it copies out of wasm).
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn json_parse(text: &JsValue) -> Result<JsValue, JsValue>;
}

/// The message of a thrown JS value.
pub(crate) fn js_message(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => String::from(err.message()),
        None => e.as_string().unwrap_or_else(|| String::from("unknown JavaScript error")),
    }
}

/// What [`on_settled`] calls with a promise's outcome.
#[cfg(any(feature = "fetch", feature = "share"))]
type Settled = Box<dyn FnOnce(Result<JsValue, JsValue>)>;

/// The callbacks of one pending promise: owned by a cell that they hold themselves, so they live exactly until the
/// promise settles, when the one that runs drops both (wasm-bindgen frees a closure dropped during its own call once
/// the call returns).
#[cfg(any(feature = "fetch", feature = "share"))]
struct Pending {
    settled: Settled,
    _resolve: Closure<dyn FnMut(JsValue)>,
    _reject: Closure<dyn FnMut(JsValue)>,
}

/// Calls `f` once `promise` settles: `Ok` with its value or `Err` with its rejection (which is then handled). A
/// callback rather than a future: no executor is linked for it. Nothing is leaked once the promise settles; a
/// promise that never settles keeps its two small callbacks.
#[cfg(any(feature = "fetch", feature = "share"))]
pub(crate) fn on_settled(promise: &js_sys::Promise, f: impl FnOnce(Result<JsValue, JsValue>) + 'static) {
    let slot: Rc<RefCell<Option<Pending>>> = Rc::new(RefCell::new(None));
    let callback = |ok: bool| {
        let slot = slot.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |value: JsValue| {
            let pending = slot.borrow_mut().take();
            if let Some(Pending { settled, _resolve, _reject }) = pending {
                settled(if ok { Ok(value) } else { Err(value) });
            }
        })
    };
    let (resolve, reject) = (callback(true), callback(false));
    let _ = promise.then2(&resolve, &reject);
    *slot.borrow_mut() = Some(Pending { settled: Box::new(f), _resolve: resolve, _reject: reject });
}

#[wasm_bindgen]
extern "C" {
    /// The global object, whose properties are read directly (`globalThis.document`, ...): `web_sys::window()`
    /// finds the global object with code of its own (~0.4 KB gzipped), and there is no window in a worker.
    #[wasm_bindgen(js_name = globalThis)]
    pub(crate) type Global;
    /// `globalThis.document` (`undefined` in a worker).
    #[wasm_bindgen(static_method_of = Global, js_class = "globalThis", getter)]
    pub(crate) fn document() -> JsValue;
    /// `globalThis` itself (the window, or the worker's global scope), read as `globalThis.globalThis`.
    #[wasm_bindgen(static_method_of = Global, js_class = "globalThis", getter, js_name = globalThis)]
    pub(crate) fn this() -> JsValue;
    /// `globalThis.navigator.onLine` (`undefined` where there is none).
    #[wasm_bindgen(static_method_of = Global, js_class = "globalThis.navigator", getter, js_name = onLine)]
    pub(crate) fn on_line() -> JsValue;
}

#[cfg(feature = "fetch")]
#[wasm_bindgen]
extern "C" {
    /// `globalThis.fetch(url, init)` (a window's or a worker's).
    #[wasm_bindgen(js_namespace = globalThis, js_name = fetch, catch)]
    pub(crate) fn fetch(url: &str, init: &web_sys::RequestInit) -> Result<js_sys::Promise, JsValue>;
}

#[cfg(feature = "share")]
#[wasm_bindgen]
extern "C" {
    /// `globalThis.navigator`.
    #[wasm_bindgen(static_method_of = Global, js_class = "globalThis", getter)]
    pub(crate) fn navigator() -> JsValue;
    /// `globalThis.location` (`undefined` outside a page or a worker).
    #[wasm_bindgen(static_method_of = Global, js_class = "globalThis", getter)]
    pub(crate) fn location() -> JsValue;
}
