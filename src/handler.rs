//! Handlers: what runs when an event of one type arrives, and how its data is decoded.
//!
//! Every kind of handler (text, JSON, typed, whole-stream enum) is one [`RawHandler`] over the event's text, so the
//! source dispatches them all the same way, and a decode failure becomes an [`Error::Decode`] for the error handlers.

use std::cell::RefCell;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use crate::de::{decode_enum, from_json};
use crate::interop::parse_json;
use crate::transport::Received;
use crate::{CloseReason, Error, EventMeta, Gap, ReadyState};

/// One received event, borrowed for the handlers; each reads the fields it needs in the form it needs (a JS handler
/// the browser's JS strings as they are, a Rust handler Rust text: see `text.rs`).
pub(crate) struct Incoming<'a>(pub &'a Received<'a>);

impl Incoming<'_> {
    /// The data as Rust text.
    pub fn data(&self) -> &str {
        self.0.data.as_str()
    }

    /// The data parsed by `JSON.parse` (from the JS string itself where the transport has one); a decode error
    /// otherwise.
    pub fn json(&self) -> Result<JsValue, Error> {
        parse_json(&self.0.data.to_js()).map_err(|reason| decode_error(self, reason))
    }

    /// The metadata of a Rust handler (its own copy).
    pub fn meta(&self) -> EventMeta {
        let ev = self.0;
        EventMeta {
            event: ev.event_type.to_owned(),
            last_event_id: ev.last_event_id.as_str().to_owned(),
            origin: ev.origin.as_str().to_owned(),
        }
    }
}

pub(crate) type RawHandler = Rc<RefCell<dyn FnMut(&Incoming<'_>) -> Result<(), Error>>>;

/// What the engine tells the handlers besides the events themselves.
#[derive(Clone, Copy)]
pub(crate) enum Signal<'a> {
    Open,
    Error(&'a Error),
    State(ReadyState),
    Gap(&'a GapSignal),
    Close(&'a CloseReason),
}

/// A handler of one kind of [`Signal`] (it ignores the others). One list and one type for every kind, so that the
/// engine has a single way of calling them (rather than one per kind, each linked into every app), and the code
/// of a kind an app never handles is not linked.
pub(crate) type SignalHandler = Rc<RefCell<dyn FnMut(Signal<'_>)>>;

/// Every handler of a source: those of events, by event type, and those of signals.
#[derive(Default)]
pub(crate) struct Handlers {
    pub events: Vec<(Rc<str>, RawHandler)>,
    pub signals: Vec<SignalHandler>,
}

impl Handlers {
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

/// A handler called each time the connection opens.
pub(crate) fn on_open(mut f: impl FnMut() + 'static) -> SignalHandler {
    Rc::new(RefCell::new(move |signal: Signal<'_>| {
        if let Signal::Open = signal {
            f();
        }
    }))
}

/// A handler of every error.
pub(crate) fn on_error(mut f: impl FnMut(&Error) + 'static) -> SignalHandler {
    Rc::new(RefCell::new(move |signal: Signal<'_>| {
        if let Signal::Error(error) = signal {
            f(error);
        }
    }))
}

/// A handler of every change of state.
pub(crate) fn on_state(mut f: impl FnMut(ReadyState) + 'static) -> SignalHandler {
    Rc::new(RefCell::new(move |signal: Signal<'_>| {
        if let Signal::State(state) = signal {
            f(state);
        }
    }))
}

/// A gap handler: `f` gets the [`Gap`] of each signal.
pub(crate) fn on_gap(mut f: impl FnMut(&Gap) + 'static) -> SignalHandler {
    Rc::new(RefCell::new(move |signal: Signal<'_>| {
        if let Signal::Gap(gap) = signal {
            f(&gap.to_gap());
        }
    }))
}

/// A close handler (the engine calls it once, then drops it).
pub(crate) fn on_close(mut f: impl FnMut(&CloseReason) + 'static) -> SignalHandler {
    Rc::new(RefCell::new(move |signal: Signal<'_>| {
        if let Signal::Close(reason) = signal {
            f(reason);
        }
    }))
}

/// A handler over the [`Incoming`] event itself (the JS API's, which reads the fields as JS values).
pub(crate) fn incoming(f: impl FnMut(&Incoming<'_>) -> Result<(), Error> + 'static) -> RawHandler {
    Rc::new(RefCell::new(f))
}

pub(crate) fn text(mut f: impl FnMut(String, EventMeta) + 'static) -> RawHandler {
    incoming(move |ev: &Incoming<'_>| {
        f(ev.data().to_owned(), ev.meta());
        Ok(())
    })
}

pub(crate) fn json(mut f: impl FnMut(JsValue, EventMeta) + 'static) -> RawHandler {
    incoming(move |ev: &Incoming<'_>| {
        f(ev.json()?, ev.meta());
        Ok(())
    })
}

pub(crate) fn typed<T: DeserializeOwned + 'static>(mut f: impl FnMut(T, EventMeta) + 'static) -> RawHandler {
    incoming(move |ev: &Incoming<'_>| {
        let typed = from_json::<T>(ev.data()).map_err(|reason| decode_error(ev, reason))?;
        f(typed, ev.meta());
        Ok(())
    })
}

/// One handler shared by every variant of `E`; each event type is decoded as the variant of the same name.
pub(crate) fn enum_variant<E: DeserializeOwned + 'static>(f: Rc<RefCell<dyn FnMut(E, EventMeta)>>) -> RawHandler {
    incoming(move |ev: &Incoming<'_>| {
        let value = decode_enum::<E>(ev.0.event_type, ev.data()).map_err(|reason| decode_error(ev, reason))?;
        if let Ok(mut f) = f.try_borrow_mut() {
            f(value, ev.meta());
        }
        Ok(())
    })
}

/// A gap signal as received. Its [`Gap`] (with the fields read from the JSON data) is built only where it is asked
/// for — by a gap handler ([`gap`]) or `last_gap` — so that an app using neither does not link the reading.
pub(crate) struct GapSignal {
    pub event: String,
    pub last_event_id: String,
    pub data: String,
}

impl GapSignal {
    /// The [`Gap`]: the signal plus the string fields `requested`, `oldest`, `epoch` and `reason` of its JSON data.
    pub fn to_gap(&self) -> Gap {
        let json = parse_json(&JsValue::from_str(&self.data)).ok();
        let field = |key: &str| {
            json.as_ref()
                .and_then(|v| js_sys::Reflect::get(v, &JsValue::from_str(key)).ok())
                .and_then(|v| v.as_string())
        };
        Gap {
            event: self.event.clone(),
            last_event_id: self.last_event_id.clone(),
            data: self.data.clone(),
            requested: field("requested"),
            oldest: field("oldest"),
            epoch: field("epoch"),
            reason: field("reason"),
        }
    }
}

fn decode_error(ev: &Incoming<'_>, reason: String) -> Error {
    Error::Decode { event: ev.0.event_type.to_owned(), data: ev.data().to_owned(), reason }
}
