//! The fetch transport: `fetch` + `ReadableStream`, decoded by `sse-codec`, with the spec's reconnection rules.

use std::rc::Weak;

use js_sys::{Reflect, Uint8Array};
use sse_codec::Decoder;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{AbortController, Headers, ReadableStreamDefaultReader, RequestCredentials, RequestInit, Response};

use crate::handler::js_message;
use crate::source::{with, FetchEnd, Shared};
use crate::transport::is_event_stream;
use crate::{Error, FetchRequest};

/// Largest event the fetch transport accepts (16 MiB): a runaway stream cannot take all memory.
const MAX_EVENT_BYTES: usize = 16 << 20;

/// One fetch in flight; dropping it aborts the request (and with it the read loop).
pub(crate) struct FetchConnection {
    abort: AbortController,
}

impl Drop for FetchConnection {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

impl FetchConnection {
    /// Starts the request; events are delivered from a task that ends when the body ends or the request is aborted.
    pub fn open(
        url: &str,
        request: &FetchRequest,
        with_credentials: bool,
        last_event_id: &str,
        shared: Weak<Shared>,
        generation: u64,
    ) -> Result<Self, Error> {
        let open_error = |e: JsValue| Error::Open { url: url.to_owned(), reason: js_message(&e) };
        let abort = AbortController::new().map_err(open_error)?;
        let headers = Headers::new().map_err(open_error)?;
        headers.set("Accept", "text/event-stream").map_err(open_error)?;
        for (name, value) in request.headers() {
            headers.set(name, value).map_err(open_error)?;
        }
        if !last_event_id.is_empty() {
            headers.set("Last-Event-ID", last_event_id).map_err(open_error)?;
        }
        let init = RequestInit::new();
        init.set_method(request.method_name());
        init.set_headers(&headers);
        init.set_signal(Some(&abort.signal()));
        // `cache: no-store` rather than a Cache-Control header, which is not CORS-safelisted and would force a
        // preflight on every cross-origin stream.
        init.set_cache(web_sys::RequestCache::NoStore);
        init.set_credentials(if with_credentials { RequestCredentials::Include } else { RequestCredentials::SameOrigin });
        if let Some(body) = request.body_text() {
            init.set_body(&JsValue::from_str(body));
        }
        let window = web_sys::window().ok_or_else(|| Error::Open {
            url: url.to_owned(),
            reason: "the fetch transport needs a window".to_owned(),
        })?;
        let promise = window.fetch_with_str_and_init(url, &init);
        let mut decoder = Decoder::with_max_event_size(MAX_EVENT_BYTES);
        decoder.set_last_event_id(last_event_id);
        spawn_local(async move {
            let (end, retry) = read(promise, decoder, &shared, generation).await;
            if let Some(end) = end {
                with(&shared, |s| s.on_fetch_end(generation, end, retry));
            }
        });
        Ok(FetchConnection { abort })
    }
}

/// Reads the response to its end. `None` when the connection was replaced or closed meanwhile (nothing to report).
async fn read(
    promise: js_sys::Promise,
    mut decoder: Decoder,
    shared: &Weak<Shared>,
    generation: u64,
) -> (Option<FetchEnd>, Option<u64>) {
    let current = || shared.upgrade().is_some_and(|s| s.is_current(generation));
    let response = match JsFuture::from(promise).await {
        Ok(r) => r,
        Err(_) => return (current().then_some(FetchEnd::Lost), None),
    };
    let Ok(response) = response.dyn_into::<Response>() else {
        return (current().then_some(FetchEnd::Lost), None);
    };
    if let Some(end) = check(&response) {
        return (Some(end), None);
    }
    let Some(reader) = response.body().and_then(|b| b.get_reader().dyn_into::<ReadableStreamDefaultReader>().ok())
    else {
        return (Some(FetchEnd::Lost), None);
    };
    if !current() {
        return (None, None);
    }
    with(shared, |s| s.on_open());
    let origin = origin_of(&response);
    loop {
        let chunk = JsFuture::from(reader.read()).await;
        if !current() {
            return (None, None);
        }
        let chunk = match chunk {
            Ok(c) => c,
            Err(_) => return (Some(FetchEnd::Lost), decoder.retry()),
        };
        if Reflect::get(&chunk, &JsValue::from_str("done")).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
            // End of body: the unfinished event is discarded (spec); the connection is re-established.
            let _ = decoder.finish();
            return (Some(FetchEnd::Lost), decoder.retry());
        }
        let Ok(bytes) = Reflect::get(&chunk, &JsValue::from_str("value")).and_then(|v| v.dyn_into::<Uint8Array>())
        else {
            continue;
        };
        decoder.push(&bytes.to_vec());
        while let Some(item) = decoder.next_ref() {
            let Some(s) = shared.upgrade() else { return (None, None) };
            match item {
                Ok(ev) => s.deliver(ev.event, ev.data, ev.last_event_id, origin.clone()),
                Err(e) => s.report(&Error::Decode {
                    event: String::new(),
                    data: String::new(),
                    reason: e.to_string(),
                }),
            }
            if !s.is_current(generation) {
                return (None, None); // a handler closed the source or it reconnected
            }
        }
    }
}

/// The spec's checks before reading: 200 and `text/event-stream`, 204 stops.
fn check(response: &Response) -> Option<FetchEnd> {
    let status = response.status();
    let content_type = response.headers().get("content-type").ok().flatten();
    if status == 204 {
        return Some(FetchEnd::NoContent);
    }
    if status != 200 {
        return Some(FetchEnd::Fatal {
            message: format!("the server answered {status} {}", response.status_text()),
            status: Some(status),
            content_type,
        });
    }
    if !content_type.as_deref().is_some_and(is_event_stream) {
        return Some(FetchEnd::Fatal {
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
