//! `TypedEventSourceOptions` (a plain JS object) → [`SourceOptions`], the options value every front end shares.
//!
//! Read with `Reflect` rather than serde: it keeps serde's deserializer machinery and float formatting out of the
//! npm package's wasm, and the checks stay as strict (unknown keys and wrong types are errors naming the key). The
//! messages are joined with [`concat`] rather than `format!`, whose every call site is sizeable code. A [`Reader`]
//! keeps the first error and reading goes on, so that no option returns early (dropping the options built so far
//! at each `?` was a good part of the parser's code).

use std::time::Duration;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

#[cfg(feature = "fetch")]
use js_sys::{Function, Promise};

#[cfg(feature = "fetch")]
use super::contract::{REQUEST_ATTEMPT as ATTEMPT_KEYS, REQUEST_INIT as INIT_KEYS};
use crate::error::concat;
#[cfg(feature = "fetch")]
use crate::interop::{js_message, on_settled};
#[cfg(feature = "fetch")]
use crate::transport::Prepared;
#[cfg(feature = "fetch")]
use crate::{FetchRequest, RequestAttempt};
use crate::{ReconnectPolicy, SourceOptions, TerminalRule};
#[cfg(feature = "fetch")]
use std::rc::Rc;

use super::contract::{CLOSE_RULE as RULE_KEYS, FETCH_ONLY, OPTIONS as KEYS, RECONNECT as RECONNECT_KEYS};

/// The options described by `options` (undefined, null or a `TypedEventSourceOptions` object).
pub(super) fn source_options(options: &JsValue) -> Result<SourceOptions, String> {
    let mut source = SourceOptions::default();
    if options.is_undefined() || options.is_null() {
        return Ok(source);
    }
    let mut r = Reader::default();
    let options = r.object(options, "options", KEYS).unwrap_or_default();
    if let Some(yes) = r.boolean(&options, "withCredentials") {
        source = source.with_credentials(yes);
    }
    if let Some(rules) = r.array(&options, "closeOn", "`closeOn` must be an array of { event, data? }") {
        for rule in rules.iter() {
            let rule = r.object(&rule, "closeOn[]", RULE_KEYS).unwrap_or_default();
            let data = r.string(&rule, "data");
            match r.string(&rule, "event") {
                Some(event) => {
                    source = source.close_on(match data {
                        Some(data) => TerminalRule::event_with_data(event, data),
                        None => TerminalRule::event(event),
                    })
                }
                None => r.fail("`closeOn[].event` is required"),
            }
        }
    }
    if let Some(yes) = r.boolean(&options, "deliverTerminal") {
        source = source.deliver_terminal(yes);
    }
    if let Some(reconnect) = get(&options, "reconnect") {
        source = source.reconnect(policy(&mut r, &reconnect));
    }
    if let Some(id) = r.string(&options, "lastEventId") {
        source = source.last_event_id(id);
    }
    if let Some(yes) = r.boolean(&options, "pauseWhenHidden") {
        source = source.pause_when_hidden(yes);
    }
    if let Some(param) = get(&options, "resumeParam") {
        match param.as_string().filter(|n| !n.is_empty()) {
            Some(name) => source = source.resume_param(Some(&name)),
            None if param.is_null() => source = source.resume_param(None),
            None => r.fail("`resumeParam` must be a non-empty string or null"),
        }
    }
    const GAP_EVENTS: &str = "`gapEvents` must be an array of strings";
    if let Some(events) = r.array(&options, "gapEvents", GAP_EVENTS) {
        for event in events.iter() {
            match event.as_string() {
                Some(event) => source = source.gap_event(event),
                None => r.fail(GAP_EVENTS),
            }
        }
    }
    if let Some(n) = r.number(&options, "dedupWindow") {
        source = source.dedup_window(n as usize);
    }
    if let Some(ms) = r.number(&options, "heartbeatTimeout") {
        if ms > 0.0 && ms < crate::liveness::MIN_TIMEOUT_MS {
            r.fail("`heartbeatTimeout` must be 0 (off) or at least 1000 (milliseconds)");
        }
        source = source.heartbeat_timeout(Duration::from_millis(ms as u64));
    }
    #[cfg(feature = "share")]
    if let Some(share) = get(&options, "share") {
        match (share.as_bool(), share.as_string()) {
            (Some(true), _) => source = source.share_across_tabs(),
            (Some(false), _) => {}
            (None, Some(key)) if !key.is_empty() => source = source.share(key),
            _ => r.fail("`share` must be a boolean or a non-empty string"),
        }
    }
    #[cfg(not(feature = "share"))]
    if get(&options, "share").is_some() {
        r.fail(NO_SHARE);
    }
    let transport = r.string(&options, "transport");
    let source = r.finish(source)?;
    let fetch_only = FETCH_ONLY.iter().any(|key| get(&options, key).is_some());
    match transport.as_deref() {
        #[cfg(feature = "fetch")]
        None | Some("eventsource") if fetch_only => {
            Err("`method`, `headers`, `body`, `maxEventBytes` and `request` need `transport: \"fetch\"`".to_owned())
        }
        #[cfg(not(feature = "fetch"))]
        None | Some("eventsource") if fetch_only => Err(NO_FETCH.to_owned()),
        None | Some("eventsource") => Ok(source),
        #[cfg(feature = "fetch")]
        Some("fetch") => Ok(source.transport(fetch_request(&options)?)),
        #[cfg(not(feature = "fetch"))]
        Some("fetch") => Err(NO_FETCH.to_owned()),
        Some(other) => Err(concat(&["`transport` must be \"eventsource\" or \"fetch\", not \"", other, "\""])),
    }
}

/// What a build without the fetch transport (the entry point `typed-eventsource`) says of its options.
#[cfg(not(feature = "fetch"))]
const NO_FETCH: &str =
    "`transport: \"fetch\"` and its options (`method`, `headers`, `body`, `maxEventBytes`, `request`) \
                        are in the full entry point, typed-eventsource/full (Cargo feature `fetch`); this one has the \
                        EventSource transport only";

/// What a build without tab sharing (the entry point `typed-eventsource`) says of `share`.
#[cfg(not(feature = "share"))]
const NO_SHARE: &str = "`share` (one connection for every tab) is in the full entry point, typed-eventsource/full \
                        (Cargo feature `share`); this one opens a connection per source";

/// The fetch request described by `method`, `headers`, `body`, `maxEventBytes` and `request`.
#[cfg(feature = "fetch")]
fn fetch_request(options: &Object) -> Result<FetchRequest, String> {
    let mut r = Reader::default();
    let mut request = request_init(&mut r, options);
    if let Some(n) = r.number(options, "maxEventBytes") {
        request = request.max_event_bytes(n as usize);
    }
    if let Some(f) = get(options, "request") {
        match f.dyn_into::<Function>() {
            Ok(f) => request = request.prepare_with(Rc::new(move |attempt, done| prepare(&f, attempt, done))),
            Err(_) => r.fail("`request` must be a function"),
        }
    }
    r.finish(request)
}

/// Calls a `request` callback for `attempt` and hands `done` the `FetchRequestInit` it returns (or its Promise
/// resolves to).
#[cfg(feature = "fetch")]
fn prepare(f: &Function, attempt: RequestAttempt, done: Prepared) {
    let [connection, unauthorized] = ATTEMPT_KEYS;
    let arg = Object::new();
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(&arg, &JsValue::from_str(connection), &JsValue::from(attempt.connection));
    let _ = Reflect::set(&arg, &JsValue::from_str(unauthorized), &JsValue::from(attempt.unauthorized));
    let read = |value: &JsValue| {
        let mut r = Reader::default();
        let init = r.object(value, "request()", INIT_KEYS).unwrap_or_default();
        let request = request_init(&mut r, &init);
        r.finish(request)
    };
    match f.call1(&JsValue::NULL, &arg) {
        Err(e) => done(Err(concat(&["`request` threw: ", &js_message(&e)]))),
        Ok(value) => match value.dyn_ref::<Promise>() {
            Some(promise) => on_settled(promise, move |settled| {
                done(match settled {
                    Ok(value) => read(&value),
                    Err(e) => Err(concat(&["`request` rejected: ", &js_message(&e)])),
                })
            }),
            None => done(read(&value)),
        },
    }
}

/// The method, headers and body of `options` (a `TypedEventSourceOptions` or a `FetchRequestInit`).
#[cfg(feature = "fetch")]
fn request_init(r: &mut Reader, options: &Object) -> FetchRequest {
    let mut request = FetchRequest::new();
    if let Some(method) = r.string(options, "method") {
        request = request.method(method);
    }
    if let Some(h) = get(options, "headers") {
        match h.dyn_into::<Object>() {
            Ok(h) => {
                for name in Object::keys(&h).iter() {
                    let name = name.as_string().unwrap_or_default();
                    match get(&h, &name).and_then(|value| value.as_string()) {
                        Some(value) => request = request.header(name, value),
                        None => r.fail(concat(&["header `", &name, "` must be a string"])),
                    }
                }
            }
            Err(_) => r.fail("`headers` must be an object of strings"),
        }
    }
    if let Some(body) = r.string(options, "body") {
        request = request.body(body);
    }
    request
}

/// `reconnect: false | true | ReconnectOptions`.
fn policy(r: &mut Reader, value: &JsValue) -> ReconnectPolicy {
    if let Some(on) = value.as_bool() {
        return if on { ReconnectPolicy::default() } else { ReconnectPolicy::never() };
    }
    let options = r.object(value, "reconnect", RECONNECT_KEYS).unwrap_or_default();
    let mut p = ReconnectPolicy::default();
    if let Some(n) = r.number(&options, "maxRetries") {
        p = p.max_retries(if n >= f64::from(u32::MAX) { u32::MAX } else { n as u32 });
    }
    if let Some(ms) = r.number(&options, "initialDelayMs") {
        p = p.initial_delay(Duration::from_millis(ms as u64));
    }
    if let Some(ms) = r.number(&options, "maxDelayMs") {
        p = p.max_delay(Duration::from_millis(ms as u64));
    }
    if let Some(m) = r.number(&options, "multiplier") {
        p = p.multiplier(m);
    }
    if let Some(j) = r.number(&options, "jitter") {
        p = p.jitter(j);
    }
    p
}

/// Reads options objects, keeping the first error: a read that fails records it and gives `None`, and reading goes
/// on, its results unused. No read returns early: each early return would drop the options built so far, sizeable
/// code at every call site.
#[derive(Default)]
struct Reader {
    error: Option<String>,
}

impl Reader {
    /// Records `message`, unless an error came first.
    fn fail(&mut self, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(message.into());
        }
    }

    /// `value`, or the first error.
    fn finish<T>(self, value: T) -> Result<T, String> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    /// `value` as an object whose keys are all in `known`.
    fn object(&mut self, value: &JsValue, what: &str, known: &[&str]) -> Option<Object> {
        if !value.is_object() || Array::is_array(value) {
            self.fail(concat(&["`", what, "` must be an object"]));
            return None;
        }
        let obj: Object = value.clone().unchecked_into();
        for key in Object::keys(&obj).iter() {
            let key = key.as_string().unwrap_or_default();
            if !known.contains(&key.as_str()) {
                let mut expected = String::new();
                for (i, k) in known.iter().enumerate() {
                    expected.push_str(if i == 0 { "" } else { ", " });
                    expected.push_str(k);
                }
                self.fail(concat(&["unknown key `", &key, "` in `", what, "` (expected one of: ", &expected, ")"]));
            }
        }
        Some(obj)
    }

    /// The property `key` if it is an array (else the error `message`).
    fn array(&mut self, obj: &Object, key: &str, message: &str) -> Option<Array> {
        let value = get(obj, key)?;
        let array = value.dyn_into::<Array>().ok();
        if array.is_none() {
            self.fail(message);
        }
        array
    }

    fn boolean(&mut self, obj: &Object, key: &str) -> Option<bool> {
        let value = get(obj, key)?;
        self.check(key, value.as_bool(), "a boolean")
    }

    fn string(&mut self, obj: &Object, key: &str) -> Option<String> {
        let value = get(obj, key)?;
        self.check(key, value.as_string(), "a string")
    }

    /// A non-negative finite number.
    fn number(&mut self, obj: &Object, key: &str) -> Option<f64> {
        let value = get(obj, key)?;
        self.check(key, value.as_f64().filter(|n| n.is_finite() && *n >= 0.0), "a number ≥ 0")
    }

    /// `value`, or the error "`key` must be what".
    fn check<T>(&mut self, key: &str, value: Option<T>, what: &str) -> Option<T> {
        if value.is_none() {
            self.fail(concat(&["`", key, "` must be ", what]));
        }
        value
    }
}

/// The property `key`, unless absent or `undefined`.
fn get(obj: &Object, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key)).ok().filter(|v| !v.is_undefined())
}
