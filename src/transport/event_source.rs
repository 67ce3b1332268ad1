//! The `EventSource` transport: one browser `EventSource` at a time and the listeners on it. The browser parses the
//! stream and reconnects by itself; this file turns its `error` event into "reconnecting" or "gave up", and resumes
//! after the last event id with a query parameter (`lastEventId` unless the options name another or none; an
//! `EventSource` cannot set a header).

use std::borrow::Cow;
use std::rc::Rc;

use gloo_events::EventListener;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Event, EventSource, EventSourceInit};

use super::upstream::{Ended, Received, WeakUp};
use crate::error::concat;
use crate::interop::{js_message, listen};
use crate::text::Text;
use crate::{Error, ReadyState};

#[wasm_bindgen]
extern "C" {
    /// A `MessageEvent` read for its JS strings as they are (web-sys' getters copy them into wasm).
    #[wasm_bindgen(js_name = MessageEvent)]
    type Message;
    #[wasm_bindgen(method, getter)]
    fn data(this: &Message) -> JsValue;
    #[wasm_bindgen(method, getter, js_name = lastEventId)]
    fn last_event_id(this: &Message) -> JsValue;
    #[wasm_bindgen(method, getter)]
    fn origin(this: &Message) -> JsValue;
}

/// What the browser tells of a fatal `EventSource` error: nothing but the fact. Say what it can be.
const FATAL_MESSAGE: &str = "the browser closed the connection: the server answered with a status other than 200 or a \
                             content type other than text/event-stream, or could not be reached";

/// The `EventSource` transport of one source: its current connection, if any, and the browser object of the last
/// one dropped (closed, listeners detached), which a closed source still reads its `readyState` from.
#[derive(Default)]
pub(crate) struct EventSourceLink {
    conn: Option<EventSourceConnection>,
    retired: Option<EventSource>,
    closed: bool,
}

impl EventSourceLink {
    /// Replaces the connection by a new `EventSource` on `url` (plus `lastEventId` when there is one to resume after),
    /// with every listener attached in the same task, before it can deliver anything.
    pub fn connect(
        &mut self,
        url: &str,
        with_credentials: bool,
        last_event_id: &str,
        resume_param: Option<&str>,
        event_types: Vec<Rc<str>>,
        up: &WeakUp,
    ) -> Result<(), Error> {
        let url = match resume_param {
            Some(param) => resume_url(url, param, last_event_id),
            None => url.to_owned(),
        };
        let conn = EventSourceConnection::open(&url, with_credentials, up, event_types)?;
        self.disconnect();
        self.conn = Some(conn);
        Ok(())
    }

    /// Listens for `event_type` on the current connection, if any (once per type).
    pub fn listen(&mut self, event_type: Rc<str>, up: &WeakUp) {
        if let Some(conn) = self.conn.as_mut() {
            conn.listen(up, event_type);
        }
    }

    /// Drops the connection, if any: its `Drop` closes the browser source and detaches the listeners; the closed
    /// browser object is kept to read its `readyState` from.
    pub fn disconnect(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.retired = Some(conn.source.clone());
        }
    }

    /// Closes the browser source for good and returns the readyState the browser then reports (`Closed` if there
    /// never was one).
    pub fn close(&mut self) -> ReadyState {
        self.disconnect();
        self.closed = true;
        self.ready_state()
    }

    /// The browser's readyState: of the current connection, or once closed of the last browser object; `Connecting`
    /// between connections (a re-open is pending).
    pub fn ready_state(&self) -> ReadyState {
        match (&self.conn, &self.retired) {
            (Some(conn), _) => conn.ready_state(),
            (None, Some(source)) if self.closed => ReadyState::from(source.ready_state()),
            (None, None) if self.closed => ReadyState::Closed,
            (None, _) => ReadyState::Connecting,
        }
    }
}

/// The URL to open: with `param=<id>` when there is an id to resume after.
fn resume_url(url: &str, param: &str, last_event_id: &str) -> String {
    if last_event_id.is_empty() {
        return url.to_owned();
    }
    // Searched byte by byte: `split_once` and `contains` would link `memchr` into every app for these two.
    let cut = url.bytes().position(|b| b == b'#').unwrap_or(url.len());
    let (base, fragment) = (url.get(..cut).unwrap_or(url), url.get(cut..).unwrap_or_default());
    let encoded = String::from(js_sys::encode_uri_component(last_event_id));
    let param = String::from(js_sys::encode_uri_component(param));
    let separator = if base.bytes().any(|b| b == b'?') { "&" } else { "?" };
    // Joined, not formatted: `format!` here would link the formatting machinery into every app.
    concat(&[base, separator, &param, "=", &encoded, fragment])
}

/// What a listener on the `EventSource` reports: `open`, `error` (reconnecting, or the browser gave up), or an event
/// of a type the engine listens for.
enum Report {
    Opened,
    Ended,
    Event(Rc<str>),
}

/// One browser `EventSource` and its listeners; dropping it closes the source and detaches them all.
struct EventSourceConnection {
    source: EventSource,
    listeners: Vec<EventListener>,
    event_types: Vec<Rc<str>>,
}

impl EventSourceConnection {
    /// Creates the `EventSource` and attaches every listener in the same task, before it can deliver anything.
    fn open(url: &str, with_credentials: bool, up: &WeakUp, event_types: Vec<Rc<str>>) -> Result<Self, Error> {
        let init = EventSourceInit::new();
        init.set_with_credentials(with_credentials);
        let source = EventSource::new_with_event_source_init_dict(url, &init)
            .map_err(|e| Error::Open { url: url.to_owned(), reason: js_message(&e) })?;
        let mut conn = EventSourceConnection { source, listeners: Vec::new(), event_types: Vec::new() };
        conn.attach(up, "open".into(), Report::Opened);
        conn.attach(up, "error".into(), Report::Ended);
        for event_type in event_types {
            conn.listen(up, event_type);
        }
        Ok(conn)
    }

    /// Listens for `event_type` (once per type).
    fn listen(&mut self, up: &WeakUp, event_type: Rc<str>) {
        if self.event_types.contains(&event_type) {
            return;
        }
        self.attach(up, String::from(&*event_type).into(), Report::Event(event_type.clone()));
        self.event_types.push(event_type);
    }

    /// Adds the listener for `event_type`, which reports `report` upstream. One closure type for the three kinds of
    /// listener: its code is linked once.
    fn attach(&mut self, up: &WeakUp, event_type: Cow<'static, str>, report: Report) {
        let (weak, source) = (up.clone(), self.source.clone());
        self.listeners.push(listen(&self.source, event_type, move |ev: &Event| match &report {
            Report::Opened => {
                if let Some(up) = weak.upgrade() {
                    up.opened();
                }
            }
            Report::Ended => {
                if let Some(up) = weak.upgrade() {
                    // CONNECTING: the browser reconnects by itself; otherwise it gave up.
                    up.ended(if ReadyState::from(source.ready_state()) == ReadyState::Connecting {
                        Ended::Reconnecting
                    } else {
                        Ended::Failed { message: FATAL_MESSAGE.to_owned(), status: None, content_type: None }
                    });
                }
            }
            Report::Event(name) => {
                if let Some(ev) = ev.dyn_ref::<Message>() {
                    if let Some(up) = weak.upgrade() {
                        // The JS API: the browser's strings as they are, each copied into wasm only if Rust code
                        // reads it.
                        #[cfg(feature = "js")]
                        up.event(&Received {
                            event_type: name,
                            data: Text::js(ev.data()),
                            last_event_id: Text::js(ev.last_event_id()),
                            origin: Text::js(ev.origin()),
                        });
                        // A Rust app reads every field anyway: copied at once, without the lazy machinery (44 B
                        // gzipped an app does not need; bench/wasm-size).
                        #[cfg(not(feature = "js"))]
                        {
                            let copy = |value: JsValue| value.as_string().unwrap_or_default();
                            let (data, id, origin) = (copy(ev.data()), copy(ev.last_event_id()), copy(ev.origin()));
                            up.event(&Received {
                                event_type: name,
                                data: Text::Rust(&data),
                                last_event_id: Text::Rust(&id),
                                origin: Text::Rust(&origin),
                            });
                        }
                    }
                }
            }
        }));
    }

    /// The browser's readyState.
    fn ready_state(&self) -> ReadyState {
        ReadyState::from(self.source.ready_state())
    }
}

impl Drop for EventSourceConnection {
    fn drop(&mut self) {
        self.source.close();
    }
}
