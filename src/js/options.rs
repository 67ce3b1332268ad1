//! `TypedEventSourceOptions` (a plain JS object) → [`SourceOptions`], the options value every front end shares.
//!
//! Read with `Reflect` rather than serde: it keeps serde's deserializer machinery and float formatting out of the
//! npm package's wasm, and the checks stay as strict (unknown keys and wrong types are errors naming the key). The
//! messages are joined with [`concat`] rather than `format!`, whose every call site is sizeable code.

use std::time::Duration;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

#[cfg(feature = "fetch")]
use js_sys::{Function, Promise};

#[cfg(feature = "fetch")]
use super::contract::{REQUEST_ATTEMPT as ATTEMPT_KEYS, REQUEST_INIT as INIT_KEYS};
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
    let options = object(options, "options", KEYS)?;
    if let Some(yes) = boolean(&options, "withCredentials")? {
        source = source.with_credentials(yes);
    }
    if let Some(rules) = get(&options, "closeOn") {
        let rules = rules.dyn_into::<Array>().map_err(|_| "`closeOn` must be an array of { event, data? }")?;
        for rule in rules.iter() {
            let rule = object(&rule, "closeOn[]", RULE_KEYS)?;
            let event = string(&rule, "event")?.ok_or("`closeOn[].event` is required")?;
            source = source.close_on(match string(&rule, "data")? {
                Some(data) => TerminalRule::event_with_data(event, data),
                None => TerminalRule::event(event),
            });
        }
    }
    if let Some(yes) = boolean(&options, "deliverTerminal")? {
        source = source.deliver_terminal(yes);
    }
    if let Some(reconnect) = get(&options, "reconnect") {
        source = source.reconnect(policy(&reconnect)?);
    }
    if let Some(id) = string(&options, "lastEventId")? {
        source = source.last_event_id(id);
    }
    if let Some(yes) = boolean(&options, "pauseWhenHidden")? {
        source = source.pause_when_hidden(yes);
    }
    if let Some(param) = get(&options, "resumeParam") {
        if param.is_null() {
            source = source.resume_param(None);
        } else {
            let name = param
                .as_string()
                .filter(|n| !n.is_empty())
                .ok_or("`resumeParam` must be a non-empty string or null")?;
            source = source.resume_param(Some(&name));
        }
    }
    if let Some(events) = get(&options, "gapEvents") {
        let events = events.dyn_into::<Array>().map_err(|_| "`gapEvents` must be an array of strings")?;
        for event in events.iter() {
            source = source.gap_event(event.as_string().ok_or("`gapEvents` must be an array of strings")?);
        }
    }
    if let Some(n) = number(&options, "dedupWindow")? {
        source = source.dedup_window(n as usize);
    }
    #[cfg(feature = "share")]
    if let Some(share) = get(&options, "share") {
        match (share.as_bool(), share.as_string()) {
            (Some(true), _) => source = source.share_across_tabs(),
            (Some(false), _) => {}
            (None, Some(key)) if !key.is_empty() => source = source.share(key),
            _ => return Err("`share` must be a boolean or a non-empty string".to_owned()),
        }
    }
    #[cfg(not(feature = "share"))]
    if get(&options, "share").is_some() {
        return Err(NO_SHARE.to_owned());
    }
    let fetch_only = FETCH_ONLY.iter().any(|key| get(&options, key).is_some());
    match string(&options, "transport")?.as_deref() {
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
    let mut request = request_init(options)?;
    if let Some(n) = number(options, "maxEventBytes")? {
        request = request.max_event_bytes(n as usize);
    }
    if let Some(f) = get(options, "request") {
        let f = f.dyn_into::<Function>().map_err(|_| "`request` must be a function")?;
        request = request.prepare_with(Rc::new(move |attempt, done| prepare(&f, attempt, done)));
    }
    Ok(request)
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
    let read = |value: &JsValue| object(value, "request()", INIT_KEYS).and_then(|init| request_init(&init));
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
fn request_init(options: &Object) -> Result<FetchRequest, String> {
    let method = string(options, "method")?;
    let body = string(options, "body")?;
    let mut request = FetchRequest::new();
    if let Some(method) = method {
        request = request.method(method);
    }
    if let Some(h) = get(options, "headers") {
        let h = h.dyn_into::<Object>().map_err(|_| "`headers` must be an object of strings")?;
        for name in Object::keys(&h).iter() {
            let name = name.as_string().unwrap_or_default();
            let value = string(&h, &name)?.ok_or_else(|| concat(&["header `", &name, "` must be a string"]))?;
            request = request.header(name, value);
        }
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    Ok(request)
}

/// `reconnect: false | true | ReconnectOptions`.
fn policy(value: &JsValue) -> Result<ReconnectPolicy, String> {
    if let Some(on) = value.as_bool() {
        return Ok(if on { ReconnectPolicy::default() } else { ReconnectPolicy::never() });
    }
    let options = object(value, "reconnect", RECONNECT_KEYS)?;
    let mut p = ReconnectPolicy::default();
    if let Some(n) = number(&options, "maxRetries")? {
        p = p.max_retries(if n >= f64::from(u32::MAX) { u32::MAX } else { n as u32 });
    }
    if let Some(ms) = number(&options, "initialDelayMs")? {
        p = p.initial_delay(Duration::from_millis(ms as u64));
    }
    if let Some(ms) = number(&options, "maxDelayMs")? {
        p = p.max_delay(Duration::from_millis(ms as u64));
    }
    if let Some(m) = number(&options, "multiplier")? {
        p = p.multiplier(m);
    }
    if let Some(j) = number(&options, "jitter")? {
        p = p.jitter(j);
    }
    Ok(p)
}

/// `value` as an object whose keys are all in `known`.
fn object(value: &JsValue, what: &str, known: &[&str]) -> Result<Object, String> {
    if !value.is_object() || Array::is_array(value) {
        return Err(concat(&["`", what, "` must be an object"]));
    }
    let obj: Object = value.clone().unchecked_into();
    for key in Object::keys(&obj).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            let mut message = concat(&["unknown key `", &key, "` in `", what, "` (expected one of: "]);
            for (i, k) in known.iter().enumerate() {
                message.push_str(if i == 0 { "" } else { ", " });
                message.push_str(k);
            }
            message.push(')');
            return Err(message);
        }
    }
    Ok(obj)
}

/// The property `key`, unless absent or `undefined`.
fn get(obj: &Object, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key)).ok().filter(|v| !v.is_undefined())
}

fn boolean(obj: &Object, key: &str) -> Result<Option<bool>, String> {
    get(obj, key).map(|v| v.as_bool().ok_or_else(|| must_be(key, "a boolean"))).transpose()
}

fn string(obj: &Object, key: &str) -> Result<Option<String>, String> {
    get(obj, key).map(|v| v.as_string().ok_or_else(|| must_be(key, "a string"))).transpose()
}

/// A non-negative finite number.
fn number(obj: &Object, key: &str) -> Result<Option<f64>, String> {
    get(obj, key)
        .map(|v| v.as_f64().filter(|n| n.is_finite() && *n >= 0.0).ok_or_else(|| must_be(key, "a number ≥ 0")))
        .transpose()
}

/// "`key` must be what".
fn must_be(key: &str, what: &str) -> String {
    concat(&["`", key, "` must be ", what])
}

/// The parts, joined.
pub(super) fn concat(parts: &[&str]) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(part);
    }
    out
}
