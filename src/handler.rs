//! Handlers: what runs when an event of one type arrives, and how its data is decoded.
//!
//! Every kind of handler (text, JSON, typed, whole-stream enum) is one [`RawHandler`] over the event's text, so the
//! source dispatches them all the same way, and a decode failure becomes an [`Error::Decode`] for the error handlers.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Object, Reflect, JSON};
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};

use crate::{CloseReason, Error, EventMeta, ReadyState};

/// One received event, borrowed for the handlers.
pub(crate) struct Incoming<'a> {
    pub data: &'a str,
    pub meta: &'a EventMeta,
}

/// A handler the source and a list share; borrowed mutably only while it runs.
pub(crate) type Shared<F> = Rc<RefCell<F>>;

/// A handler taking its argument by reference.
pub(crate) type RefHandler<A> = Shared<dyn FnMut(&A)>;

pub(crate) type RawHandler = Rc<RefCell<dyn FnMut(&Incoming<'_>) -> Result<(), Error>>>;
pub(crate) type OpenHandler = Rc<RefCell<dyn FnMut()>>;
pub(crate) type ErrorHandler = Rc<RefCell<dyn FnMut(&Error)>>;
pub(crate) type StateHandler = Rc<RefCell<dyn FnMut(ReadyState)>>;
pub(crate) type CloseHandler = Rc<RefCell<dyn FnMut(&CloseReason)>>;

/// Every handler of a source, by kind.
#[derive(Default)]
pub(crate) struct Handlers {
    pub events: Vec<(Rc<str>, RawHandler)>,
    pub open: Vec<OpenHandler>,
    pub error: Vec<ErrorHandler>,
    pub state: Vec<StateHandler>,
    pub close: Vec<CloseHandler>,
}

impl Handlers {
    /// The handlers for `event`, cloned out so none stays borrowed while they run.
    pub fn for_event(&self, event: &str) -> Vec<RawHandler> {
        self.events.iter().filter(|(t, _)| &**t == event).map(|(_, h)| h.clone()).collect()
    }

    /// Each event type with a handler, once.
    pub fn event_types(&self) -> Vec<Rc<str>> {
        let mut types: Vec<Rc<str>> = Vec::new();
        for (t, _) in &self.events {
            if !types.contains(t) {
                types.push(t.clone());
            }
        }
        types
    }
}

/// Runs each handler in `list` with `arg`, skipping one that is already running (a handler that re-enters itself).
pub(crate) fn call_each<A: ?Sized>(list: Vec<RefHandler<A>>, arg: &A) {
    for h in list {
        if let Ok(mut f) = h.try_borrow_mut() {
            f(arg);
        }
    }
}

pub(crate) fn text(mut f: impl FnMut(String, EventMeta) + 'static) -> RawHandler {
    Rc::new(RefCell::new(move |ev: &Incoming<'_>| {
        f(ev.data.to_owned(), ev.meta.clone());
        Ok(())
    }))
}

pub(crate) fn json(mut f: impl FnMut(JsValue, EventMeta) + 'static) -> RawHandler {
    Rc::new(RefCell::new(move |ev: &Incoming<'_>| {
        let value = parse_json(ev.data).map_err(|reason| decode_error(ev, reason))?;
        f(value, ev.meta.clone());
        Ok(())
    }))
}

pub(crate) fn typed<T: DeserializeOwned + 'static>(mut f: impl FnMut(T, EventMeta) + 'static) -> RawHandler {
    Rc::new(RefCell::new(move |ev: &Incoming<'_>| {
        let typed = crate::de::from_json::<T>(ev.data).map_err(|reason| decode_error(ev, reason))?;
        f(typed, ev.meta.clone());
        Ok(())
    }))
}

/// One handler shared by every variant of `E`; each event type is decoded as the variant of the same name.
pub(crate) fn enum_variant<E: DeserializeOwned + 'static>(f: Rc<RefCell<dyn FnMut(E, EventMeta)>>) -> RawHandler {
    Rc::new(RefCell::new(move |ev: &Incoming<'_>| {
        let value = decode_enum::<E>(&ev.meta.event, ev.data).map_err(|reason| decode_error(ev, reason))?;
        if let Ok(mut f) = f.try_borrow_mut() {
            f(value, ev.meta.clone());
        }
        Ok(())
    }))
}

fn decode_error(ev: &Incoming<'_>, reason: String) -> Error {
    Error::Decode { event: ev.meta.event.clone(), data: ev.data.to_owned(), reason }
}

/// `JSON.parse`, which keeps serde_json out of the wasm and is the browser's fastest parser.
pub(crate) fn parse_json(data: &str) -> Result<JsValue, String> {
    JSON::parse(data).map_err(|e| js_message(&e))
}

/// Decodes `data` as variant `variant` of `E`: JSON content first, then the raw text (a `Ping(String)` variant
/// receiving `finished`), then a unit variant (data ignored). The first failure is the one reported.
///
/// Exposed (hidden) for the crate's tests as `typed_eventsource::__decode_variant`:
///
/// ```ignore
/// #[derive(serde::Deserialize)]
/// #[serde(rename_all = "lowercase")]
/// enum Job { Ping(String), Done }
/// assert!(matches!(typed_eventsource::__decode_variant::<Job>("ping", "finished"), Ok(Job::Ping(_))));
/// assert!(matches!(typed_eventsource::__decode_variant::<Job>("done", "{}"), Ok(Job::Done)));
/// ```
pub fn decode_enum<E: DeserializeOwned>(variant: &str, data: &str) -> Result<E, String> {
    let parsed = JSON::parse(data).ok();
    let first_content = parsed.clone().unwrap_or_else(|| JsValue::from_str(data));
    let first = match from_tagged::<E>(variant, first_content) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if parsed.is_some() {
        if let Ok(v) = from_tagged::<E>(variant, JsValue::from_str(data)) {
            return Ok(v);
        }
    }
    crate::de::from_value::<E>(JsValue::from_str(variant)).map_err(|_| first)
}

fn from_tagged<E: DeserializeOwned>(variant: &str, content: JsValue) -> Result<E, String> {
    let tagged = Object::new();
    Reflect::set(&tagged, &JsValue::from_str(variant), &content).map_err(|e| js_message(&e))?;
    crate::de::from_value::<E>(tagged.into()).map_err(crate::de::Error::into_message)
}

/// The message of a thrown JS value.
pub(crate) fn js_message(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => String::from(err.message()),
        None => e.as_string().unwrap_or_else(|| String::from("unknown JavaScript error")),
    }
}
