//! The fetch transport: `fetch` + `ReadableStream`, decoded by `sse-codec`, with the spec's reconnection rules.
//!
//! Everything only fetch needs lives here: the reconnection time the server sets with `retry:`, the `Last-Event-ID`
//! header, the per-attempt request (`FetchRequest::prepare`, retried once after a 401), the checks of status and
//! content type, and the staleness of a read whose connection was replaced or closed (each connection has an
//! `alive` flag, cleared when the link drops it).
//!
//! A connection is a chain of promise callbacks (`fetch`, then each `read()` of the body), not an async task: no
//! executor is linked for it. Each callback is owned until its promise settles ([`on_settled`]); dropping the
//! connection aborts the request, which settles whatever is pending.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Promise, Reflect, Uint8Array};
use sse_codec::Decoder;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    AbortController, AbortSignal, Headers, ReadableStreamDefaultReader, RequestCredentials, RequestInit, Response,
};

use super::request::{is_event_stream, Prepare};
use super::upstream::{Ended, Received, WeakUp};
use crate::error::concat;
use crate::interop::{js_message, on_settled};
use crate::text::Text;
use crate::{Error, FetchRequest, ReadyState, RequestAttempt};

/// The reconnection time until the server sets one (browsers use a few seconds).
const DEFAULT_RETRY_MS: u32 = 3000;

/// The fetch transport of one source: its request, the reconnection time the server set (kept across connections),
/// how many connections it made, and the current connection.
pub(crate) struct FetchLink {
    request: FetchRequest,
    retry_ms: Rc<Cell<Option<u32>>>,
    connections: u32,
    conn: Option<FetchConnection>,
    closed: bool,
}

impl FetchLink {
    pub fn new(request: FetchRequest) -> Self {
        FetchLink { request, retry_ms: Rc::new(Cell::new(None)), connections: 0, conn: None, closed: false }
    }

    /// Replaces the connection by a new request (with `Last-Event-ID` when there is an id to resume after).
    pub fn connect(
        &mut self,
        url: &str,
        with_credentials: bool,
        last_event_id: &str,
        up: &WeakUp,
    ) -> Result<(), Error> {
        let abort = AbortController::new().map_err(|e| open_error(url, &e))?;
        let state = Rc::new(ConnState { alive: Cell::new(true), open: Cell::new(false) });
        let task = Rc::new(Task {
            url: url.to_owned(),
            with_credentials,
            last_event_id: last_event_id.to_owned(),
            connection: self.connections,
            base: self.request.clone(),
            prepare: self.request.prepare_fn(),
            unauthorized: Cell::new(false),
            signal: abort.signal(),
            up: up.clone(),
            state: state.clone(),
            retry_ms: self.retry_ms.clone(),
            decoder: RefCell::new(Decoder::with_max_event_size(self.request.max_event_size())),
            reader: RefCell::new(None),
            origin: RefCell::new(String::new()),
        });
        self.connections = self.connections.saturating_add(1);
        let old = self.conn.replace(FetchConnection { abort, state });
        drop(old);
        task.start();
        Ok(())
    }

    /// The reconnection time the server set with `retry:`, if it did.
    pub fn server_retry(&self) -> Option<u32> {
        self.retry_ms.get()
    }

    /// Aborts the request, if any; its callbacks then stop without reporting.
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    /// As [`disconnect`](Self::disconnect), for good: nothing is left open (there is no browser object to ask).
    pub fn close(&mut self) -> ReadyState {
        self.disconnect();
        self.closed = true;
        self.ready_state()
    }

    /// `Open` once the response is being read, `Connecting` before and between connections, `Closed` once closed.
    pub fn ready_state(&self) -> ReadyState {
        match &self.conn {
            Some(c) if c.state.open.get() => ReadyState::Open,
            _ if self.closed => ReadyState::Closed,
            _ => ReadyState::Connecting,
        }
    }
}

/// What a connection and its callbacks share.
struct ConnState {
    /// Cleared when the link drops the connection: the callbacks stop and report nothing more.
    alive: Cell<bool>,
    /// Set when the response passed the checks and is being read.
    open: Cell<bool>,
}

/// One fetch in flight; dropping it aborts the request (and with it the pending read).
struct FetchConnection {
    abort: AbortController,
    state: Rc<ConnState>,
}

impl Drop for FetchConnection {
    fn drop(&mut self) {
        self.state.alive.set(false);
        self.abort.abort();
    }
}

/// One connection attempt, shared by its callbacks: the request (from `prepare`, if set), then, after a 401 and if
/// `prepare` is set, one more with a refreshed request; then the body, chunk by chunk.
struct Task {
    url: String,
    with_credentials: bool,
    last_event_id: String,
    /// How many connections the link made before this one.
    connection: u32,
    base: FetchRequest,
    prepare: Option<Prepare>,
    /// Whether the server answered 401 once already (the request was then prepared again).
    unauthorized: Cell<bool>,
    signal: AbortSignal,
    up: WeakUp,
    state: Rc<ConnState>,
    retry_ms: Rc<Cell<Option<u32>>>,
    decoder: RefCell<Decoder>,
    reader: RefCell<Option<ReadableStreamDefaultReader>>,
    /// The origin of the response's URL (what `MessageEvent.origin` says for `EventSource`).
    origin: RefCell<String>,
}

/// How a connection ended.
enum ReadEnd {
    /// The body ended or the network failed: reconnect after the retry time (the stream's `retry:`, if it sent one).
    Lost(Option<u64>),
    /// As the checks of the response report it.
    Other(Ended),
}

impl Task {
    /// Whether the connection is still the link's and the source still exists (else nothing more is reported).
    fn current(&self) -> bool {
        self.state.alive.get() && self.up.strong_count() > 0
    }

    /// Asks `prepare` (if set) for the request, then sends it.
    fn start(self: Rc<Self>) {
        let Some(prepare) = self.prepare.clone() else {
            let request = self.base.clone();
            return self.send(&request);
        };
        let asked = RequestAttempt { connection: self.connection, unauthorized: self.unauthorized.get() };
        prepare(
            asked,
            Box::new(move |prepared| match prepared {
                Ok(request) => self.send(&request),
                Err(reason) => {
                    let mut message = String::from("preparing the request failed: ");
                    message.push_str(&reason);
                    self.end(ReadEnd::Other(Ended::Failed { message, status: None, content_type: None }));
                }
            }),
        );
    }

    /// Sends one request: its method, headers and body, plus `Accept` and `Last-Event-ID`.
    fn send(self: Rc<Self>, request: &FetchRequest) {
        if !self.state.alive.get() {
            return;
        }
        match self.fetch(request) {
            Ok(promise) => on_settled(&promise, move |response| self.response(response)),
            Err(e) => {
                self.end(ReadEnd::Other(Ended::Failed { message: e.message(), status: None, content_type: None }))
            }
        }
    }

    fn fetch(&self, request: &FetchRequest) -> Result<Promise, Error> {
        let url = self.url.as_str();
        let headers = Headers::new().map_err(|e| open_error(url, &e))?;
        headers.set("Accept", "text/event-stream").map_err(|e| open_error(url, &e))?;
        for (name, value) in request.headers() {
            headers.set(name, value).map_err(|e| open_error(url, &e))?;
        }
        if !self.last_event_id.is_empty() {
            headers.set("Last-Event-ID", &self.last_event_id).map_err(|e| open_error(url, &e))?;
        }
        let init = RequestInit::new();
        init.set_method(request.method_name());
        init.set_headers(&headers);
        init.set_signal(Some(&self.signal));
        // `cache: no-store` rather than a Cache-Control header, which is not CORS-safelisted and would force a
        // preflight on every cross-origin stream.
        init.set_cache(web_sys::RequestCache::NoStore);
        init.set_credentials(if self.with_credentials {
            RequestCredentials::Include
        } else {
            RequestCredentials::SameOrigin
        });
        if let Some(body) = request.body_text() {
            init.set_body(&JsValue::from_str(body));
        }
        crate::interop::fetch(url, &init).map_err(|e| open_error(url, &e))
    }

    /// The response arrived (or the request failed): check it, then read its body.
    fn response(self: Rc<Self>, response: Result<JsValue, JsValue>) {
        let Some(response) = response.ok().and_then(|r| r.dyn_into::<Response>().ok()) else {
            if self.current() {
                self.end(ReadEnd::Lost(None));
            }
            return;
        };
        if let Some(end) = check(&response) {
            let is_401 = matches!(&end, Ended::Failed { status: Some(401), .. });
            if is_401 && self.prepare.is_some() && !self.unauthorized.replace(true) {
                return self.start();
            }
            return self.end(ReadEnd::Other(end));
        }
        let Some(reader) = response.body().and_then(|b| b.get_reader().dyn_into::<ReadableStreamDefaultReader>().ok())
        else {
            return self.end(ReadEnd::Lost(None));
        };
        if !self.current() {
            return;
        }
        *self.origin.borrow_mut() = web_sys::Url::new(&response.url()).map(|u| u.origin()).unwrap_or_default();
        *self.reader.borrow_mut() = Some(reader);
        self.state.open.set(true);
        if let Some(up) = self.up.upgrade() {
            up.opened();
        }
        self.read_next();
    }

    /// Asks the body for its next chunk.
    fn read_next(self: Rc<Self>) {
        let read = match self.reader.borrow().as_ref() {
            Some(reader) => reader.read(),
            None => return,
        };
        on_settled(&read, move |chunk| self.chunk(chunk));
    }

    /// A chunk of the body (or its end): decode it and deliver its events, then read on.
    fn chunk(self: Rc<Self>, chunk: Result<JsValue, JsValue>) {
        if !self.current() {
            return;
        }
        let Ok(chunk) = chunk else {
            let retry = self.decoder.borrow().retry();
            return self.end(ReadEnd::Lost(retry));
        };
        if Reflect::get(&chunk, &JsValue::from_str("done")).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
            // End of body: the unfinished event is discarded with the decoder (spec); the connection is
            // re-established.
            let retry = self.decoder.borrow().retry();
            return self.end(ReadEnd::Lost(retry));
        }
        if let Some(up) = self.up.upgrade() {
            up.alive();
        }
        if let Ok(bytes) = Reflect::get(&chunk, &JsValue::from_str("value")).and_then(|v| v.dyn_into::<Uint8Array>()) {
            self.decoder.borrow_mut().push(&bytes.to_vec());
            if !self.deliver() {
                return; // a handler closed the source or it reconnected, or the source is gone
            }
        }
        self.read_next();
    }

    /// Hands every complete event to the upstream; `false` when the connection is no longer current.
    fn deliver(&self) -> bool {
        loop {
            // The decoder stays borrowed while a handler runs: nothing else touches it (a handler that closes or
            // reconnects the source drops the connection, whose callbacks then stop).
            let mut decoder = self.decoder.borrow_mut();
            let Some(item) = decoder.next_ref() else { return true };
            let Some(up) = self.up.upgrade() else { return false };
            match item {
                Ok(ev) => {
                    // Borrowed while the handlers run: this connection's origin is set once, before its first event.
                    let origin = self.origin.borrow();
                    up.event(&Received {
                        event_type: ev.event,
                        data: Text::Rust(ev.data),
                        last_event_id: Text::Rust(ev.last_event_id),
                        origin: Text::Rust(&origin),
                    });
                }
                Err(sse_codec::DecodeError::EventTooLarge { limit }) => up.error(&Error::TooLarge { limit }),
                // The decoder has no other error (its enum is non-exhaustive); a fixed message keeps number
                // formatting out of the wasm.
                Err(_) => up.error(&Error::Decode {
                    event: String::new(),
                    data: String::new(),
                    reason: "the event-stream decoder refused an event".to_owned(),
                }),
            }
            drop(decoder);
            if !self.state.alive.get() {
                return false;
            }
        }
    }

    /// Reports how the connection ended, unless it was replaced or closed meanwhile.
    fn end(&self, end: ReadEnd) {
        let Some(up) = self.up.upgrade() else { return };
        if !self.state.alive.get() {
            return;
        }
        up.ended(match end {
            ReadEnd::Lost(retry) => {
                if let Some(ms) = retry {
                    self.retry_ms.set(Some(u32::try_from(ms).unwrap_or(u32::MAX)));
                }
                Ended::Lost { retry_ms: self.retry_ms.get().unwrap_or(DEFAULT_RETRY_MS) }
            }
            ReadEnd::Other(end) => end,
        });
    }
}

fn open_error(url: &str, e: &JsValue) -> Error {
    Error::Open { url: url.to_owned(), reason: js_message(e) }
}

/// `n` in decimal, written by JavaScript: `format!` would link the integer formatting machinery into the package.
fn decimal(n: u16) -> String {
    js_sys::Number::from(n).to_string_with_radix(10).map(String::from).unwrap_or_default()
}

/// The spec's checks before reading: 200 and `text/event-stream`, 204 stops.
fn check(response: &Response) -> Option<Ended> {
    let status = response.status();
    let content_type = response.headers().get("content-type").ok().flatten();
    if status == 204 {
        return Some(Ended::NoContent);
    }
    if status != 200 {
        return Some(Ended::Failed {
            message: concat(&["the server answered ", &decimal(status), " ", &response.status_text()]),
            status: Some(status),
            content_type,
        });
    }
    if !content_type.as_deref().is_some_and(is_event_stream) {
        return Some(Ended::Failed {
            message: concat(&[
                "the server answered with content type \"",
                content_type.as_deref().unwrap_or(""),
                "\", not text/event-stream",
            ]),
            status: Some(status),
            content_type,
        });
    }
    None
}
