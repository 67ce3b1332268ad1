//! The JavaScript API: a thin skin over [`TypedEventSource`], with TypeScript declarations written out.

use js_sys::{Function, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::{CloseReason, Error, EventMeta, TypedEventSource, TypedEventSourceBuilder};

mod options;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** `EventSource.readyState`: 0 CONNECTING, 1 OPEN, 2 CLOSED. */
export type ReadyState = 0 | 1 | 2;

/** What a handler learns about an event besides its data. */
export interface EventMeta {
  /** The event type (`"message"` for unnamed events). */
  event: string;
  /** The last event id the stream has set. */
  lastEventId: string;
  /** The origin of the stream. */
  origin: string;
}

/** Closes the source after an event of type `event` (with exactly this `data`, if given). */
export interface CloseRule {
  event: string;
  data?: string;
}

/** Re-opening after the browser gives up (a non-200 status, say); `lastEventId` is carried across. */
export interface ReconnectOptions {
  /** Re-opens in a row before giving up (default 5). */
  maxRetries?: number;
  /** Delay before the first re-open (default 1000). */
  initialDelayMs?: number;
  /** Longest delay (default 30000). */
  maxDelayMs?: number;
  /** Factor between delays (default 2). */
  multiplier?: number;
  /** Largest share of each delay taken off at random, 0..1 (default 0.5). */
  jitter?: number;
}

export interface TypedEventSourceOptions {
  /** Send cookies cross-origin (default false). */
  withCredentials?: boolean;
  /** Terminal messages: the source closes itself after the first match. */
  closeOn?: CloseRule[];
  /** Whether a terminal event still reaches its handlers (default true). */
  deliverTerminal?: boolean;
  /** Reconnect policy after fatal errors, or `false` for none (default: 5 retries with backoff). */
  reconnect?: ReconnectOptions | false;
  /** Resume after this id: the `lastEventId` query parameter (EventSource) or `Last-Event-ID` header (fetch). */
  lastEventId?: string;
  /**
   * `"eventsource"` (default): the browser's EventSource. `"fetch"`: fetch + ReadableStream, which allows `method`,
   * `headers` (an Authorization header) and `body`, and reports HTTP statuses in errors.
   */
  transport?: "eventsource" | "fetch";
  /** Fetch transport only: the HTTP method (default "GET"). */
  method?: string;
  /** Fetch transport only: extra request headers. */
  headers?: Record<string, string>;
  /** Fetch transport only: the request body. */
  body?: string;
  /** Close while the page is hidden, resume after the last id when shown (default false). */
  pauseWhenHidden?: boolean;
}

/** An error: `transient` while the browser reconnects, `fatal` when it gave up, `decode` for data that is not JSON. */
export type SourceError =
  | { kind: "transient"; message: string }
  | { kind: "fatal"; message: string; status?: number; contentType?: string }
  | { kind: "decode"; message: string; event: string; data: string; reason: string }
  | { kind: "open"; message: string };

/** Why a source closed; reported exactly once. */
export type CloseReason =
  | { kind: "terminal"; event: string; data: string }
  | { kind: "client" }
  | { kind: "failed"; message: string; attempts: number };

/**
 * A typed EventSource: JSON-decoded handlers per event type, terminal messages, readyState and a reconnect policy.
 *
 * ```js
 * const es = new TypedEventSource("/jobs/7/events", { closeOn: [{ event: "ping", data: "finished" }] });
 * es.on("message", (progress, meta) => render(progress));
 * es.onClose((reason) => console.log(reason.kind));
 * ```
 */
export class TypedEventSource {
  /** Opens a source on `url`. Throws on invalid options or a URL the browser refuses. */
  constructor(url: string, options?: TypedEventSourceOptions);
  /** Handles events of type `event`, their data parsed as JSON (data that is not JSON goes to `onError` as `decode`). */
  on<T = unknown>(event: string, handler: (data: T, meta: EventMeta) => void): void;
  /** Handles events of type `event` as raw text. */
  onText(event: string, handler: (text: string, meta: EventMeta) => void): void;
  /** Called each time the connection opens. */
  onOpen(handler: () => void): void;
  /** Called with every error. */
  onError(handler: (error: SourceError) => void): void;
  /** Called on every readyState change. */
  onStateChange(handler: (state: ReadyState) => void): void;
  /** Called exactly once when the source closes (at once if it already has). */
  onClose(handler: (reason: CloseReason) => void): void;
  /** Closes the source; harmless when already closed. */
  close(): void;
  /** The state, as `EventSource.readyState`. */
  readonly readyState: ReadyState;
  /** The last event id seen ("" before any). */
  readonly lastEventId: string;
  /** The URL given. */
  readonly url: string;
  /** Why the source closed, or `undefined` while it is not closed. */
  readonly closeReason: CloseReason | undefined;
  /** Closes the source and frees its memory. */
  free(): void;
  [Symbol.dispose](): void;
}
"#;

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
        let invalid = |e: String| JsError::new(&format!("invalid TypedEventSource options: {e}"));
        let options = options::source_options(&options).map_err(invalid)?;
        let inner = TypedEventSourceBuilder::with_options(url, options).open().map_err(|e| JsError::new(&e.to_string()))?;
        Ok(JsTypedEventSource { inner })
    }

    /// `on(event, (data, meta) => ...)`.
    pub fn on(&self, event: &str, handler: Function) {
        self.inner.on_json(event, move |data, meta| call(&handler, &[data, meta_to_js(&meta)]));
    }

    /// `onText(event, (text, meta) => ...)`.
    #[wasm_bindgen(js_name = onText)]
    pub fn on_text(&self, event: &str, handler: Function) {
        self.inner.on_text(event, move |text, meta| call(&handler, &[JsValue::from(text), meta_to_js(&meta)]));
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
        self.inner.state() as u16
    }

    /// `lastEventId`.
    #[wasm_bindgen(getter, js_name = lastEventId)]
    pub fn last_event_id(&self) -> String {
        self.inner.last_event_id()
    }

    /// `url`.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.inner.url().to_owned()
    }

    /// `closeReason`.
    #[wasm_bindgen(getter, js_name = closeReason)]
    pub fn close_reason(&self) -> JsValue {
        self.inner.close_reason().map_or(JsValue::UNDEFINED, |r| reason_to_js(&r))
    }
}

/// Calls a user's function; an exception in it is reported on the console and does not stop the other handlers.
fn call(f: &Function, args: &[JsValue]) {
    let result = match args {
        [] => f.call0(&JsValue::NULL),
        [a] => f.call1(&JsValue::NULL, a),
        [a, b] => f.call2(&JsValue::NULL, a, b),
        _ => f.apply(&JsValue::NULL, &args.iter().collect()),
    };
    if let Err(e) = result {
        web_sys::console::error_2(&JsValue::from_str("typed-eventsource: a handler threw"), &e);
    }
}

fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let obj = Object::new();
    for (k, v) in entries {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&obj, &JsValue::from_str(k), v);
    }
    obj.into()
}

fn meta_to_js(meta: &EventMeta) -> JsValue {
    object(&[
        ("event", meta.event.as_str().into()),
        ("lastEventId", meta.last_event_id.as_str().into()),
        ("origin", meta.origin.as_str().into()),
    ])
}

fn error_to_js(e: &Error) -> JsValue {
    let mut entries = vec![("kind", e.kind().as_str().into()), ("message", e.to_string().into())];
    match e {
        Error::Decode { event, data, reason } => {
            entries.push(("event", event.as_str().into()));
            entries.push(("data", data.as_str().into()));
            entries.push(("reason", reason.as_str().into()));
        }
        Error::Fatal { status, content_type, .. } => {
            if let Some(status) = status {
                entries.push(("status", (*status).into()));
            }
            if let Some(content_type) = content_type {
                entries.push(("contentType", content_type.as_str().into()));
            }
        }
        _ => {}
    }
    object(&entries)
}

fn reason_to_js(r: &CloseReason) -> JsValue {
    match r {
        CloseReason::Terminal { event, data } => {
            object(&[("kind", "terminal".into()), ("event", event.as_str().into()), ("data", data.as_str().into())])
        }
        CloseReason::Client => object(&[("kind", "client".into())]),
        CloseReason::Failed { message, attempts } => object(&[
            ("kind", "failed".into()),
            ("message", message.as_str().into()),
            ("attempts", (*attempts).into()),
        ]),
    }
}
