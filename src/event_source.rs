//! The `EventSource` transport: one browser `EventSource` and the listeners on it.

use std::rc::{Rc, Weak};

use gloo_events::EventListener;
use wasm_bindgen::JsCast;
use web_sys::{EventSource, EventSourceInit, MessageEvent};

use crate::handler::js_message;
use crate::source::{with, Shared};
use crate::{Error, ReadyState};

/// One browser `EventSource` and its listeners; dropping it closes the source and detaches them all.
pub(crate) struct EventSourceConnection {
    source: EventSource,
    listeners: Vec<EventListener>,
    event_types: Vec<Rc<str>>,
}

impl EventSourceConnection {
    /// Creates the `EventSource` and attaches every listener in the same task, before it can deliver anything.
    pub fn open(
        url: &str,
        with_credentials: bool,
        shared: &Weak<Shared>,
        event_types: Vec<Rc<str>>,
    ) -> Result<Self, Error> {
        let init = EventSourceInit::new();
        init.set_with_credentials(with_credentials);
        let source = EventSource::new_with_event_source_init_dict(url, &init)
            .map_err(|e| Error::Open { url: url.to_owned(), reason: js_message(&e) })?;
        let mut conn = EventSourceConnection { source, listeners: Vec::new(), event_types: Vec::new() };
        conn.listeners.push(EventListener::new(&conn.source, "open", {
            let weak = shared.clone();
            move |_| with(&weak, |s| s.on_open())
        }));
        conn.listeners.push(EventListener::new(&conn.source, "error", {
            let weak = shared.clone();
            move |_| with(&weak, |s| s.on_event_source_error())
        }));
        for event_type in event_types {
            conn.listen(shared, event_type);
        }
        Ok(conn)
    }

    /// Listens for `event_type` (once per type).
    pub fn listen(&mut self, shared: &Weak<Shared>, event_type: Rc<str>) {
        if self.event_types.contains(&event_type) {
            return;
        }
        let weak = shared.clone();
        let name = event_type.clone();
        self.listeners.push(EventListener::new(&self.source, event_type.to_string(), move |ev| {
            if let Some(ev) = ev.dyn_ref::<MessageEvent>() {
                let data = ev.data().as_string().unwrap_or_default();
                with(&weak, |s| s.deliver(&name, &data, &ev.last_event_id(), ev.origin()));
            }
        }));
        self.event_types.push(event_type);
    }

    /// The browser's readyState.
    pub fn ready_state(&self) -> ReadyState {
        ReadyState::from(self.source.ready_state())
    }

    /// Closes the browser source and returns the readyState it then reads.
    pub fn close(&self) -> ReadyState {
        self.source.close();
        self.ready_state()
    }
}

impl Drop for EventSourceConnection {
    fn drop(&mut self) {
        self.source.close();
    }
}
