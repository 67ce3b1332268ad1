//! The class `TypedEventSource`: a thin skin over [`TypedEventSource`], and the converters of its objects.

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;

#[cfg(not(feature = "fetch"))]
use super::contract::EVENTSOURCE_OPTIONS_DECLARATIONS as OPTIONS_DECLARATIONS;
#[cfg(feature = "fetch")]
use super::contract::FETCH_OPTIONS_DECLARATIONS as OPTIONS_DECLARATIONS;
use super::contract::{
    DECLARATIONS, DECODE_ERROR, ERROR, FAILED, FATAL_ERROR, GAP, HEARTBEAT_TIMEOUT_ERROR, META, NOT_CLOSED_ERROR,
    REASON_KIND, REASON_KINDS, TERMINAL, TOO_LARGE_ERROR,
};
#[cfg(feature = "share")]
use super::contract::{SHARE_DECLARATIONS, SHARE_ROLES};
use super::options;
use crate::error::concat;
use crate::handler::{incoming, Incoming};
#[cfg(feature = "share")]
use crate::ShareRole;
use crate::{CloseReason, Error, Gap, TypedEventSource, TypedEventSourceBuilder};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = DECLARATIONS;

/// The `transport` option of this build: EventSource only (`typed-eventsource`), or both transports and the fetch
/// transport's options (`typed-eventsource/full`, feature `fetch`).
#[wasm_bindgen(typescript_custom_section)]
const OPTION_TYPES: &'static str = OPTIONS_DECLARATIONS;

/// The `share` option and `shareRole` (`typed-eventsource/full`, feature `share`).
#[cfg(feature = "share")]
#[wasm_bindgen(typescript_custom_section)]
const SHARE_TYPES: &'static str = SHARE_DECLARATIONS;

/// The JavaScript class `TypedEventSource` (declared in full in the TypeScript section above).
#[wasm_bindgen(js_name = TypedEventSource, skip_typescript)]
#[derive(Debug)]
pub struct JsTypedEventSource {
    inner: TypedEventSource,
}

#[wasm_bindgen(js_class = TypedEventSource)]
impl JsTypedEventSource {
    /// `new TypedEventSource(url, options?)`.
    #[wasm_bindgen(constructor)]
    pub fn new(url: String, options: JsValue) -> Result<JsTypedEventSource, JsError> {
        let invalid = |e: String| JsError::new(&concat(&["invalid TypedEventSource options: ", &e]));
        let options = options::source_options(&options).map_err(invalid)?;
        let inner =
            TypedEventSourceBuilder::with_options(url, options).open().map_err(|e| JsError::new(&e.message()))?;
        Ok(JsTypedEventSource { inner })
    }

    /// `on(event, (data, meta) => ...)`.
    pub fn on(&self, event: &str, handler: Function) {
        let meta = Meta::new(event);
        self.inner.on_incoming(
            event,
            incoming(move |ev| {
                call(&handler, &[ev.json()?, meta.of(ev)]);
                Ok(())
            }),
        );
    }

    /// `onText(event, (text, meta) => ...)`.
    #[wasm_bindgen(js_name = onText)]
    pub fn on_text(&self, event: &str, handler: Function) {
        let meta = Meta::new(event);
        self.inner.on_incoming(
            event,
            incoming(move |ev| {
                call(&handler, &[ev.0.data.to_js(), meta.of(ev)]);
                Ok(())
            }),
        );
    }

    /// `onOpen(() => ...)`.
    #[wasm_bindgen(js_name = onOpen)]
    pub fn on_open(&self, handler: Function) {
        self.inner.on_open(move || call(&handler, &[]));
    }

    /// `onError((error) => ...)`.
    #[wasm_bindgen(js_name = onError)]
    pub fn on_error(&self, handler: Function) {
        self.inner.on_error(move |e| call(&handler, &[error_to_js(e)]));
    }

    /// `onStateChange((state) => ...)`.
    #[wasm_bindgen(js_name = onStateChange)]
    pub fn on_state_change(&self, handler: Function) {
        self.inner.on_state_change(move |s| call(&handler, &[JsValue::from(s as u16)]));
    }

    /// `onGap((gap) => ...)`.
    #[wasm_bindgen(js_name = onGap)]
    pub fn on_gap(&self, handler: Function) {
        self.inner.on_gap(move |g| call(&handler, &[gap_to_js(g)]));
    }

    /// `onClose((reason) => ...)`.
    #[wasm_bindgen(js_name = onClose)]
    pub fn on_close(&self, handler: Function) {
        self.inner.on_close(move |r| call(&handler, &[reason_to_js(r)]));
    }

    /// `close()`.
    pub fn close(&self) {
        self.inner.close();
    }

    /// `readyState`.
    #[wasm_bindgen(getter, js_name = readyState)]
    pub fn ready_state(&self) -> u16 {
        self.inner.ready_state() as u16
    }

    /// `duplicatesDropped`.
    #[wasm_bindgen(getter, js_name = duplicatesDropped)]
    pub fn duplicates_dropped(&self) -> f64 {
        self.inner.duplicates_dropped() as f64
    }

    /// `lastGap`.
    #[wasm_bindgen(getter, js_name = lastGap)]
    pub fn last_gap(&self) -> JsValue {
        self.inner.last_gap().map_or(JsValue::UNDEFINED, |g| gap_to_js(&g))
    }

    /// `lastEventId`.
    #[wasm_bindgen(getter, js_name = lastEventId)]
    pub fn last_event_id(&self) -> JsValue {
        // A JS string made here rather than a returned `String` (handed over as a boxed slice, which links
        // `Vec::into_boxed_slice`'s shrinking).
        JsValue::from_str(&self.inner.last_event_id())
    }

    /// `offline`.
    #[wasm_bindgen(getter)]
    pub fn offline(&self) -> bool {
        self.inner.offline()
    }

    /// `url`.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> JsValue {
        JsValue::from_str(self.inner.url())
    }

    /// `shareRole`.
    #[cfg(feature = "share")]
    #[wasm_bindgen(getter, js_name = shareRole)]
    pub fn share_role(&self) -> JsValue {
        let [leader, follower, alone] = SHARE_ROLES;
        self.inner.share_role().map_or(JsValue::UNDEFINED, |role| {
            JsValue::from_str(match role {
                ShareRole::Leader => leader,
                ShareRole::Follower => follower,
                _ => alone,
            })
        })
    }

    /// `closeReason`.
    #[wasm_bindgen(getter, js_name = closeReason)]
    pub fn close_reason(&self) -> JsValue {
        self.inner.close_reason().map_or(JsValue::UNDEFINED, |r| reason_to_js(&r))
    }
}

/// Calls a user's function with the arguments (at most two: no handler takes more); an exception in it is reported
/// on the console and does not stop the other handlers.
fn call(f: &Function, args: &[JsValue]) {
    let result = match args {
        [] => f.call0(&JsValue::NULL),
        [a] => f.call1(&JsValue::NULL, a),
        [a, b, ..] => f.call2(&JsValue::NULL, a, b),
    };
    if let Err(e) = result {
        web_sys::console::error_2(&JsValue::from_str("typed-eventsource: a handler threw"), &e);
    }
}

/// A plain object with `entries` (key, value).
fn object(entries: &[(&str, JsValue)]) -> Object {
    let obj = Object::new();
    for (key, value) in entries {
        set(&obj, key, value);
    }
    obj
}

/// Sets `obj[key] = value` (on a fresh plain object: it cannot fail).
fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// Sets `obj[key] = value` when there is a value.
fn set_some(obj: &Object, key: &str, value: Option<&str>) {
    if let Some(value) = value {
        set(obj, key, &value.into());
    }
}

/// The `EventMeta` objects of one handler's events, a fresh object per event. The property names and the event type
/// (a handler gets events of its own type only) are made JS strings once per handler; the id and origin are the
/// transport's JS strings as they are. Per event then: the object and its three properties, no string copied.
struct Meta {
    keys: [JsValue; 3],
    event: JsValue,
}

impl Meta {
    fn new(event: &str) -> Meta {
        Meta { keys: META.map(JsValue::from_str), event: JsValue::from_str(event) }
    }

    fn of(&self, ev: &Incoming<'_>) -> JsValue {
        let obj: MetaObject = Object::new().unchecked_into();
        let [event, last_event_id, origin] = &self.keys;
        obj.set(event, &self.event);
        obj.set(last_event_id, &ev.0.last_event_id.to_js());
        obj.set(origin, &ev.0.origin.to_js());
        obj.into()
    }
}

#[wasm_bindgen]
extern "C" {
    /// A plain object set by plain assignment (`obj[key] = value`): `Reflect.set` is imported with an exception
    /// handler, a slower call, which a fresh object never needs.
    #[wasm_bindgen(js_name = Object)]
    type MetaObject;
    #[wasm_bindgen(method, structural, indexing_setter)]
    fn set(this: &MetaObject, key: &JsValue, value: &JsValue);
}

fn error_to_js(e: &Error) -> JsValue {
    let [kind, message] = ERROR;
    let obj = object(&[(kind, e.kind().as_str().into()), (message, e.message().into())]);
    match e {
        Error::Decode { event, data, reason } => {
            let [event_key, data_key, reason_key] = DECODE_ERROR;
            set(&obj, event_key, &event.as_str().into());
            set(&obj, data_key, &data.as_str().into());
            set(&obj, reason_key, &reason.as_str().into());
        }
        Error::Fatal { status, content_type, .. } => {
            let [status_key, content_type_key] = FATAL_ERROR;
            if let Some(status) = status {
                set(&obj, status_key, &(*status).into());
            }
            set_some(&obj, content_type_key, content_type.as_deref());
        }
        Error::TooLarge { limit } => {
            let [limit_key] = TOO_LARGE_ERROR;
            set(&obj, limit_key, &(*limit as f64).into());
        }
        Error::NotClosed { state } => {
            let [state_key] = NOT_CLOSED_ERROR;
            set(&obj, state_key, &(*state as u16).into());
        }
        Error::HeartbeatTimeout { timeout } => {
            let [timeout_key] = HEARTBEAT_TIMEOUT_ERROR;
            set(&obj, timeout_key, &(timeout.as_secs_f64() * 1000.0).into());
        }
        _ => {}
    }
    obj.into()
}

fn gap_to_js(g: &Gap) -> JsValue {
    let [event, last_event_id, data, requested, oldest, epoch, reason] = GAP;
    let obj = object(&[
        (event, g.event.as_str().into()),
        (last_event_id, g.last_event_id.as_str().into()),
        (data, g.data.as_str().into()),
    ]);
    for (key, value) in [(requested, &g.requested), (oldest, &g.oldest), (epoch, &g.epoch), (reason, &g.reason)] {
        set_some(&obj, key, value.as_deref());
    }
    obj.into()
}

fn reason_to_js(r: &CloseReason) -> JsValue {
    let [terminal, client, failed] = REASON_KINDS;
    match r {
        CloseReason::Terminal { event, data } => {
            let [event_key, data_key] = TERMINAL;
            object(&[
                (REASON_KIND, terminal.into()),
                (event_key, event.as_str().into()),
                (data_key, data.as_str().into()),
            ])
            .into()
        }
        CloseReason::Client => object(&[(REASON_KIND, client.into())]).into(),
        CloseReason::Failed { message, attempts } => {
            let [message_key, attempts_key] = FAILED;
            object(&[
                (REASON_KIND, failed.into()),
                (message_key, message.as_str().into()),
                (attempts_key, (*attempts).into()),
            ])
            .into()
        }
    }
}
