//! The fetch transport: `fetch` + `ReadableStream`, decoded by `sse-codec`, with the spec's reconnection rules.
//!
//! Everything only fetch needs lives here: the reconnection time the server sets with `retry:`, the `Last-Event-ID`
//! header, the per-attempt request (`FetchRequest::prepare`, retried once after a 401), the checks of status and
//! content type, and the staleness of a read task whose connection was replaced or closed (each connection has an
//! `alive` flag, cleared when the link drops it).

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Reflect, Uint8Array};
use sse_codec::Decoder;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    AbortController, AbortSignal, Headers, ReadableStreamDefaultReader, RequestCredentials, RequestInit, Response,
};

use super::request::is_event_stream;
use super::upstream::{Ended, WeakUp};
use crate::interop::js_message;
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
        let attempt = Attempt {
            url: url.to_owned(),
            with_credentials,
            last_event_id: last_event_id.to_owned(),
            connection: self.connections,
        };
        let conn = FetchConnection::open(attempt, &self.request, up, &self.retry_ms)?;
        self.connections = self.connections.saturating_add(1);
        let old = self.conn.replace(conn);
        drop(old);
        Ok(())
    }

    /// The reconnection time the server set with `retry:`, if it did.
    pub fn server_retry(&self) -> Option<u32> {
        self.retry_ms.get()
    }

    /// Aborts the request, if any; its read task then stops without reporting.
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

/// What a connection and its read task share.
struct ConnState {
    /// Cleared when the link drops the connection: the task stops and reports nothing more.
    alive: Cell<bool>,
    /// Set when the response passed the checks and is being read.
    open: Cell<bool>,
}

/// One fetch in flight; dropping it aborts the request (and with it the read loop).
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

/// One connection attempt: what every request of it shares.
struct Attempt {
    url: String,
    with_credentials: bool,
    last_event_id: String,
    connection: u32,
}

impl FetchConnection {
    /// Starts the connection: a task asks the `prepare` callback for the request (if any), sends it, and delivers
    /// events until the body ends or the request is aborted; a 401 is retried once with a refreshed request.
    fn open(
        attempt: Attempt,
        request: &FetchRequest,
        up: &WeakUp,
        retry_ms: &Rc<Cell<Option<u32>>>,
    ) -> Result<Self, Error> {
        let abort = AbortController::new().map_err(|e| open_error(&attempt.url, &e))?;
        let state = Rc::new(ConnState { alive: Cell::new(true), open: Cell::new(false) });
        let (up, task_state, retry_ms) = (up.clone(), state.clone(), retry_ms.clone());
        let (base, signal) = (request.clone(), abort.signal());
        spawn_local(async move {
            let end = connect_and_read(&attempt, &base, &signal, &up, &task_state).await;
            if let (Some(end), Some(up)) = (end, up.upgrade()) {
                if !task_state.alive.get() {
                    return;
                }
                up.ended(match end {
                    ReadEnd::Lost(retry) => {
                        if let Some(ms) = retry {
                            retry_ms.set(Some(u32::try_from(ms).unwrap_or(u32::MAX)));
                        }
                        Ended::Lost { retry_ms: retry_ms.get().unwrap_or(DEFAULT_RETRY_MS) }
                    }
                    ReadEnd::Other(end) => end,
                });
            }
        });
        Ok(FetchConnection { abort, state })
    }
}

fn open_error(url: &str, e: &JsValue) -> Error {
    Error::Open { url: url.to_owned(), reason: js_message(e) }
}

/// The requests of one connection attempt: the request (from `prepare`, if set), then, after a 401 and if `prepare`
/// is set, one more with a refreshed request. `None` when the connection was replaced or closed meanwhile.
async fn connect_and_read(
    attempt: &Attempt,
    base: &FetchRequest,
    signal: &AbortSignal,
    up: &WeakUp,
    state: &ConnState,
) -> Option<ReadEnd> {
    let prepare = base.prepare_fn();
    let mut unauthorized = false;
    loop {
        let request = match &prepare {
            Some(prepare) => {
                let asked = RequestAttempt { connection: attempt.connection, unauthorized };
                match prepare(asked).await {
                    Ok(request) => request,
                    Err(reason) => {
                        let message = format!("preparing the request failed: {reason}");
                        return Some(ReadEnd::Other(Ended::Failed { message, status: None, content_type: None }));
                    }
                }
            }
            None => base.clone(),
        };
        if !state.alive.get() {
            return None;
        }
        let promise = match send(attempt, &request, signal) {
            Ok(promise) => promise,
            Err(e) => {
                let message = e.to_string();
                return Some(ReadEnd::Other(Ended::Failed { message, status: None, content_type: None }));
            }
        };
        let mut decoder = Decoder::with_max_event_size(base.max_event_size());
        decoder.set_last_event_id(&attempt.last_event_id);
        let end = read(promise, decoder, up, state).await;
        let is_401 = matches!(&end, Some(ReadEnd::Other(Ended::Failed { status: Some(401), .. })));
        if is_401 && prepare.is_some() && !unauthorized {
            unauthorized = true;
            continue;
        }
        return end;
    }
}

/// Sends one request: its method, headers and body, plus `Accept` and `Last-Event-ID`.
fn send(attempt: &Attempt, request: &FetchRequest, signal: &AbortSignal) -> Result<js_sys::Promise, Error> {
    let url = attempt.url.as_str();
    let headers = Headers::new().map_err(|e| open_error(url, &e))?;
    headers.set("Accept", "text/event-stream").map_err(|e| open_error(url, &e))?;
    for (name, value) in request.headers() {
        headers.set(name, value).map_err(|e| open_error(url, &e))?;
    }
    if !attempt.last_event_id.is_empty() {
        headers.set("Last-Event-ID", &attempt.last_event_id).map_err(|e| open_error(url, &e))?;
    }
    let init = RequestInit::new();
    init.set_method(request.method_name());
    init.set_headers(&headers);
    init.set_signal(Some(signal));
    // `cache: no-store` rather than a Cache-Control header, which is not CORS-safelisted and would force a
    // preflight on every cross-origin stream.
    init.set_cache(web_sys::RequestCache::NoStore);
    init.set_credentials(if attempt.with_credentials {
        RequestCredentials::Include
    } else {
        RequestCredentials::SameOrigin
    });
    if let Some(body) = request.body_text() {
        init.set_body(&JsValue::from_str(body));
    }
    let window = web_sys::window()
        .ok_or_else(|| Error::Open { url: url.to_owned(), reason: "the fetch transport needs a window".to_owned() })?;
    Ok(window.fetch_with_str_and_init(url, &init))
}

/// How the read loop ended.
enum ReadEnd {
    /// The body ended or the network failed: reconnect after the retry time (the stream's `retry:`, if it sent one).
    Lost(Option<u64>),
    /// As the checks of the response report it.
    Other(Ended),
}

/// Reads the response to its end. `None` when the connection was replaced or closed meanwhile (nothing to report).
async fn read(promise: js_sys::Promise, mut decoder: Decoder, up: &WeakUp, state: &ConnState) -> Option<ReadEnd> {
    let current = || state.alive.get() && up.strong_count() > 0;
    let response = match JsFuture::from(promise).await {
        Ok(r) => r,
        Err(_) => return current().then_some(ReadEnd::Lost(None)),
    };
    let Ok(response) = response.dyn_into::<Response>() else {
        return current().then_some(ReadEnd::Lost(None));
    };
    if let Some(end) = check(&response) {
        return Some(ReadEnd::Other(end));
    }
    let Some(reader) = response.body().and_then(|b| b.get_reader().dyn_into::<ReadableStreamDefaultReader>().ok())
    else {
        return Some(ReadEnd::Lost(None));
    };
    if !current() {
        return None;
    }
    state.open.set(true);
    if let Some(up) = up.upgrade() {
        up.opened();
    }
    let origin = origin_of(&response);
    loop {
        let chunk = JsFuture::from(reader.read()).await;
        if !current() {
            return None;
        }
        let chunk = match chunk {
            Ok(c) => c,
            Err(_) => return Some(ReadEnd::Lost(decoder.retry())),
        };
        if Reflect::get(&chunk, &JsValue::from_str("done")).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
            // End of body: the unfinished event is discarded (spec); the connection is re-established.
            let _ = decoder.finish();
            return Some(ReadEnd::Lost(decoder.retry()));
        }
        let Ok(bytes) = Reflect::get(&chunk, &JsValue::from_str("value")).and_then(|v| v.dyn_into::<Uint8Array>())
        else {
            continue;
        };
        decoder.push(&bytes.to_vec());
        while let Some(item) = decoder.next_ref() {
            let up = up.upgrade()?;
            match item {
                Ok(ev) => up.event(ev.event, ev.data, ev.last_event_id, origin.clone()),
                Err(sse_codec::DecodeError::EventTooLarge { limit }) => up.error(&Error::TooLarge { limit }),
                Err(e) => up.error(&Error::Decode { event: String::new(), data: String::new(), reason: e.to_string() }),
            }
            if !state.alive.get() {
                return None; // a handler closed the source or it reconnected
            }
        }
    }
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
            message: format!("the server answered {status} {}", response.status_text()),
            status: Some(status),
            content_type,
        });
    }
    if !content_type.as_deref().is_some_and(is_event_stream) {
        return Some(Ended::Failed {
            message: format!(
                "the server answered with content type \"{}\", not text/event-stream",
                content_type.as_deref().unwrap_or("")
            ),
            status: Some(status),
            content_type,
        });
    }
    None
}

/// The origin of the response's URL (what `MessageEvent.origin` says for `EventSource`).
fn origin_of(response: &Response) -> String {
    web_sys::Url::new(&response.url()).map(|u| u.origin()).unwrap_or_default()
}
