//! Small helpers at the JavaScript boundary, shared by the decoders, the handlers and the transports.

#[cfg(feature = "fetch")]
use std::{cell::RefCell, rc::Rc};

use js_sys::JSON;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
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

/// What [`on_settled`] calls with a promise's outcome.
#[cfg(feature = "fetch")]
type Settled = Box<dyn FnOnce(Result<JsValue, JsValue>)>;

/// The callbacks of one pending promise: owned by a cell that they hold themselves, so they live exactly until the
/// promise settles, when the one that runs drops both (wasm-bindgen frees a closure dropped during its own call once
/// the call returns).
#[cfg(feature = "fetch")]
struct Pending {
    settled: Settled,
    _resolve: Closure<dyn FnMut(JsValue)>,
    _reject: Closure<dyn FnMut(JsValue)>,
}

/// Calls `f` once `promise` settles: `Ok` with its value or `Err` with its rejection (which is then handled). A
/// callback rather than a future: no executor is linked for it. Nothing is leaked once the promise settles; a
/// promise that never settles keeps its two small callbacks.
#[cfg(feature = "fetch")]
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

    #[wasm_bindgen(js_name = "setTimeout")]
    fn set_timeout(handler: &js_sys::Function, millis: u32) -> JsValue;
    #[wasm_bindgen(js_name = "clearTimeout")]
    fn clear_timeout(id: &JsValue);
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

/// An event listener, removed when dropped: gloo-events' `EventListener` without its options object, built in a
/// thread-local and set property by property (the listeners are linked into every app). Its callback gets the event
/// as a `JsValue`: one closure type for the listeners, the timers and the promise callbacks, whose glue is linked
/// once.
pub(crate) struct Listener {
    target: web_sys::EventTarget,
    event_type: String,
    callback: Closure<dyn FnMut(JsValue)>,
}

impl Listener {
    /// Calls `f` with each `event_type` event on `target` until dropped.
    pub(crate) fn new(
        target: &web_sys::EventTarget,
        event_type: impl Into<String>,
        f: impl FnMut(JsValue) + 'static,
    ) -> Listener {
        let event_type = event_type.into();
        let callback = Closure::<dyn FnMut(JsValue)>::new(f);
        // Adding a listener throws only for a callback that is not a function.
        let _ = target.add_event_listener_with_callback(&event_type, callback.as_ref().unchecked_ref());
        Listener { target: target.clone(), event_type, callback }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ =
            self.target.remove_event_listener_with_callback(&self.event_type, self.callback.as_ref().unchecked_ref());
    }
}

/// A pending `setTimeout`, cleared when dropped: gloo-timers' `Timeout` without its `FnOnce` wrapper (the engine's
/// re-open timer is linked into every app; this is ~0.1 KB gzipped smaller).
pub(crate) struct Timer {
    id: JsValue,
    _callback: Closure<dyn FnMut(JsValue)>,
}

impl Timer {
    /// Calls `f` once after `millis` milliseconds, unless the timer is dropped first.
    pub(crate) fn new(millis: u32, mut f: impl FnMut() + 'static) -> Timer {
        // The argument (none: `undefined`) makes the closure of the same type as the listeners' and the promise
        // callbacks', whose glue is then linked once.
        let callback = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| f());
        let id = set_timeout(callback.as_ref().unchecked_ref(), millis);
        Timer { id, _callback: callback }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}
