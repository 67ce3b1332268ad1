//! The JavaScript skin (`new TypedEventSource(url, options)`) in Chromium: options are read strictly, JS callbacks
//! get plain objects shaped as the TypeScript declarations say, and behaviour is the Rust API's.
#![cfg(all(target_arch = "wasm32", feature = "js"))]

use js_sys::{Array, Function, Reflect, JSON};
use typed_eventsource::JsTypedEventSource;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

mod support;
use support::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A JS function that pushes its arguments onto a fresh array, and that array.
fn recorder() -> (Function, Array) {
    let log = Array::new();
    let f = Function::new_with_args("log", "return (...args) => log.push(args)");
    let recorder = f.call1(&JsValue::NULL, &log).expect("recorder").into();
    (recorder, log)
}

fn options(json: &str) -> JsValue {
    JSON::parse(json).expect("valid JSON")
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).expect("property")
}

fn json(v: &JsValue) -> String {
    JSON::stringify(v).map(String::from).unwrap_or_default()
}

async fn wait_for(log: &Array, n: u32, what: &str) {
    for _ in 0..1000 {
        if log.length() >= n {
            return;
        }
        sleep(10).await;
    }
    panic!("timed out waiting for {what}: {}", json(log));
}

#[wasm_bindgen_test]
async fn js_handlers_get_decoded_data_meta_and_a_terminal_reason() {
    let _turn = Turn::take().await;
    let job = start_job(2, 20).await;
    let es = JsTypedEventSource::new(
        server_url(&format!("/jobs/{job}/events")),
        options(r#"{"closeOn": [{"event": "ping", "data": "finished"}], "reconnect": {"maxRetries": 2, "initialDelayMs": 100}}"#),
    )
    .expect("constructed");
    let (on_message, messages) = recorder();
    let (on_ping, pings) = recorder();
    let (on_close, closes) = recorder();
    let (on_state, states) = recorder();
    es.on("message", on_message);
    es.on_text("ping", on_ping);
    es.on_close(on_close);
    es.on_state_change(on_state);
    wait_for(&closes, 1, "onClose").await;
    assert_eq!(messages.length(), 2);
    let first = messages.get(0);
    assert_eq!(get(&get(&first, "0"), "step").as_f64(), Some(1.0), "data is the parsed JSON: {}", json(&first));
    let meta = get(&first, "1");
    assert_eq!(get(&meta, "event").as_string().as_deref(), Some("message"));
    assert!(get(&meta, "lastEventId").as_string().is_some_and(|id| !id.is_empty()));
    assert_eq!(get(&meta, "origin").as_string(), Some(server_url("")));
    // Each event has a meta object of its own (none reused and overwritten): the first keeps its id.
    let second_meta = get(&messages.get(1), "1");
    let id = |meta: &JsValue| get(meta, "lastEventId").as_string();
    assert!(id(&second_meta).is_some() && id(&second_meta) != id(&meta), "{} then {}", json(&meta), json(&second_meta));
    let last_ping = pings.get(pings.length() - 1);
    assert_eq!(get(&last_ping, "0").as_string().as_deref(), Some("finished"));
    let ping_meta = get(&last_ping, "1");
    assert_eq!(get(&ping_meta, "event").as_string().as_deref(), Some("ping"), "onText's meta: {}", json(&ping_meta));
    assert_eq!(get(&ping_meta, "origin").as_string(), Some(server_url("")));
    assert_eq!(json(&get(&closes.get(0), "0")), r#"{"kind":"terminal","event":"ping","data":"finished"}"#);
    assert_eq!(json(&states), "[[1],[2]]");
    assert_eq!(es.ready_state(), 2);
    assert_eq!(json(&es.close_reason()), r#"{"kind":"terminal","event":"ping","data":"finished"}"#);
    es.close();
    // Anything close() queued (a task) has run after this wait.
    sleep(50).await;
    assert_eq!(closes.length(), 1, "onClose is called once");
}

#[wasm_bindgen_test]
async fn data_that_is_not_json_reaches_on_error_as_decode_with_its_raw_text() {
    let _turn = Turn::take().await;
    let job = start_job(1, 10).await;
    let es = JsTypedEventSource::new(
        server_url(&format!("/jobs/{job}/events")),
        options(r#"{"closeOn": [{"event": "ping", "data": "finished"}]}"#),
    )
    .expect("constructed");
    let (on_error, errors) = recorder();
    let (on_ping, pings) = recorder();
    let (on_close, closes) = recorder();
    es.on("ping", on_ping); // ping data is plain text, not JSON
    es.on_error(on_error);
    es.on_close(on_close);
    wait_for(&closes, 1, "the terminal close").await;
    assert_eq!(pings.length(), 0, "nothing undecodable reaches the JSON handler");
    assert!(errors.length() >= 1);
    let last = get(&errors.get(errors.length() - 1), "0");
    assert_eq!(get(&last, "kind").as_string().as_deref(), Some("decode"));
    assert_eq!(get(&last, "event").as_string().as_deref(), Some("ping"));
    assert_eq!(get(&last, "data").as_string().as_deref(), Some("finished"));
    assert!(get(&last, "message").as_string().is_some_and(|m| m.contains("ping")), "{}", json(&last));
    assert_eq!(json(&es.close_reason()), r#"{"kind":"terminal","event":"ping","data":"finished"}"#);
}

#[cfg(feature = "fetch")]
#[wasm_bindgen_test]
async fn fetch_transport_options_send_headers() {
    let _turn = Turn::take().await;
    let es = JsTypedEventSource::new(
        server_url("/fixtures/echo"),
        options(r#"{"transport": "fetch", "method": "POST", "headers": {"Authorization": "Bearer js"}, "body": "hello", "closeOn": [{"event": "echo"}]}"#),
    )
    .expect("constructed");
    let (on_echo, echoes) = recorder();
    es.on("echo", on_echo);
    wait_for(&echoes, 1, "the echo").await;
    let echo = get(&echoes.get(0), "0");
    assert_eq!(get(&echo, "method").as_string().as_deref(), Some("POST"));
    assert_eq!(get(&echo, "body").as_string().as_deref(), Some("hello"));
    assert_eq!(get(&echo, "authorization").as_string().as_deref(), Some("Bearer js"));
}

/// What an option of the fetch transport without `transport: "fetch"` is told: use it, or (in the entry point
/// without fetch) the full entry point.
const FETCH_ONLY_OPTION: &str = if cfg!(feature = "fetch") {
    "need `transport: \"fetch\"`"
} else {
    "are in the full entry point, typed-eventsource/full"
};

#[wasm_bindgen_test]
fn bad_options_throw_a_clear_error() {
    for (opts, expected) in [
        (r#"{"closeOnn": []}"#, "unknown key `closeOnn`"),
        (
            r#"{"reconnect": {"maxRetrys": 1}}"#,
            "unknown key `maxRetrys` in `reconnect` (expected one of: maxRetries, initialDelayMs, maxDelayMs, multiplier, \
             jitter)",
        ),
        (r#"{"reconnect": "yes"}"#, "`reconnect` must be an object"),
        (r#"{"reconnect": {"maxRetries": -1}}"#, "`maxRetries` must be a number"),
        (r#"{"closeOn": [{"data": "x"}]}"#, "`closeOn[].event` is required"),
        (r#"{"headers": {"a": "b"}}"#, FETCH_ONLY_OPTION),
        (r#"{"transport": "websocket"}"#, "`transport` must be"),
        (r#"{"withCredentials": 1}"#, "`withCredentials` must be a boolean"),
        (r#"{"resumeParam": 5}"#, "`resumeParam` must be a non-empty string or null"),
        (r#"{"gapEvents": "replay-gap"}"#, "`gapEvents` must be an array of strings"),
        (r#"{"dedupWindow": -1}"#, "`dedupWindow` must be a number"),
        (r#"{"maxEventBytes": 10}"#, FETCH_ONLY_OPTION),
    ] {
        let err = JsTypedEventSource::new(server_url("/subscribe"), options(opts)).expect_err(opts);
        let message = get(&JsValue::from(err), "message").as_string().unwrap_or_default();
        assert!(message.contains(expected), "{opts}: {message}");
    }
}

#[cfg(feature = "fetch")]
#[wasm_bindgen_test]
fn a_request_option_that_is_not_a_function_throws() {
    let opts = r#"{"transport": "fetch", "request": "token"}"#;
    let err = JsTypedEventSource::new(server_url("/subscribe"), options(opts)).expect_err(opts);
    let message = get(&JsValue::from(err), "message").as_string().unwrap_or_default();
    assert!(message.contains("`request` must be a function"), "{message}");
}

/// The entry point without fetch (the npm package's `typed-eventsource`) names the full one when asked for the fetch
/// transport, rather than falling back to EventSource.
#[cfg(not(feature = "fetch"))]
#[wasm_bindgen_test]
fn without_the_fetch_feature_the_fetch_transport_is_a_clear_error() {
    let opts = r#"{"transport": "fetch", "headers": {"Authorization": "Bearer js"}}"#;
    let err = JsTypedEventSource::new(server_url("/subscribe"), options(opts)).expect_err(opts);
    let message = get(&JsValue::from(err), "message").as_string().unwrap_or_default();
    assert!(message.contains("`transport: \"fetch\"`") && message.contains("typed-eventsource/full"), "{message}");
}

/// The same for tab sharing.
#[cfg(not(feature = "share"))]
#[wasm_bindgen_test]
fn without_the_share_feature_sharing_is_a_clear_error() {
    let opts = r#"{"share": true}"#;
    let err = JsTypedEventSource::new(server_url("/subscribe"), options(opts)).expect_err(opts);
    let message = get(&JsValue::from(err), "message").as_string().unwrap_or_default();
    assert!(message.contains("`share`") && message.contains("typed-eventsource/full"), "{message}");
}

/// Waits until `es.closeReason` is set.
async fn wait_closed(es: &JsTypedEventSource, what: &str) {
    for _ in 0..1000 {
        if !es.close_reason().is_undefined() {
            return;
        }
        sleep(10).await;
    }
    panic!("timed out waiting for {what} to close");
}

/// The `n` of every `{n}` message recorded.
fn numbers(log: &Array) -> Vec<u32> {
    log.iter().filter_map(|args| get(&get(&args, "0"), "n").as_f64()).map(|n| n as u32).collect()
}

#[wasm_bindgen_test]
async fn resume_param_dedup_window_and_app_named_gap_events_from_js() {
    let _turn = Turn::take().await;
    let key = unique("js-resume");
    let es = JsTypedEventSource::new(
        server_url(&format!("/fixtures/resume/{key}")),
        options(r#"{"resumeParam": "last_event_id", "gapEvents": ["resumed"], "dedupWindow": 8, "closeOn": [{"event": "done"}], "reconnect": {"initialDelayMs": 50}}"#),
    )
    .expect("constructed");
    let (on_message, messages) = recorder();
    let (on_gap, gaps) = recorder();
    let (on_resumed, resumed) = recorder();
    es.on("message", on_message);
    es.on_gap(on_gap);
    es.on("resumed", on_resumed);
    wait_closed(&es, "the resumed stream").await;
    assert_eq!(numbers(&messages), (1..=10).collect::<Vec<_>>());
    assert_eq!(resumed.length(), 0, "an app-named gap event reaches onGap only");
    assert_eq!(gaps.length(), 1);
    let gap = get(&gaps.get(0), "0");
    assert_eq!(get(&gap, "event").as_string().as_deref(), Some("resumed"));
    let data = get(&gap, "data").as_string().unwrap_or_default();
    assert!(data.contains("last_event_id=5"), "the re-open carried the named parameter: {data}");
    assert!(get(&gap, "reason").is_undefined(), "no field the data did not have: {}", json(&gap));
    assert_eq!(json(&es.last_gap()), json(&gap));
    assert_eq!(es.duplicates_dropped(), 0.0);
    assert_eq!(es.ready_state(), 2);
}

#[wasm_bindgen_test]
async fn on_gap_gets_the_servers_replay_gap_and_duplicates_are_counted() {
    let _turn = Turn::take().await;
    // A user's stream (its id check is the broadcast one's) whose witness event leaves the broadcast history alone.
    let user = unique("js-no-param");
    let es = JsTypedEventSource::new(
        server_url(&format!("/sse/{user}")),
        options(r#"{"lastEventId": "0badc0de-1", "resumeParam": null}"#),
    )
    .expect("constructed");
    // Without the parameter this server never sees the id: no gap. With it (next source), one.
    let (on_gap, gaps) = recorder();
    es.on_gap(on_gap);
    let (on_open, opens) = recorder();
    let (on_message, messages) = recorder();
    es.on_open(on_open);
    es.on("message", on_message);
    wait_for(&opens, 1, "open").await;
    // A gap would be the stream's first event: a live one arriving with no gap before it shows there was none.
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "witness"}}"#).await;
    wait_for(&messages, 1, "the live event").await;
    es.close();
    assert_eq!(gaps.length(), 0, "resumeParam: null sent no id: {}", json(&gaps));
    let es = JsTypedEventSource::new(server_url("/subscribe"), options(r#"{"lastEventId": "0badc0de-1"}"#))
        .expect("constructed");
    let (on_gap, gaps) = recorder();
    let (on_replay_gap, as_event) = recorder();
    es.on_gap(on_gap);
    es.on_text("replay-gap", on_replay_gap);
    wait_for(&gaps, 1, "the gap").await;
    let gap = get(&gaps.get(0), "0");
    assert_eq!(get(&gap, "requested").as_string().as_deref(), Some("0badc0de-1"));
    assert_eq!(get(&gap, "reason").as_string().as_deref(), Some("other-epoch"));
    assert!(get(&gap, "epoch").as_string().is_some(), "{}", json(&gap));
    assert_eq!(as_event.length(), 0);
    es.close();
    assert_eq!(es.ready_state(), 2);

    let es = JsTypedEventSource::new(server_url("/fixtures/overlap"), options(r#"{"closeOn": [{"event": "done"}]}"#))
        .expect("constructed");
    let (on_message, messages) = recorder();
    es.on("message", on_message);
    wait_closed(&es, "the overlapping replay").await;
    assert_eq!(numbers(&messages), (1..=10).collect::<Vec<_>>());
    assert_eq!(es.duplicates_dropped(), 3.0);
}

#[cfg(feature = "fetch")]
#[wasm_bindgen_test]
async fn a_request_callback_may_return_a_promise_and_is_asked_per_attempt() {
    let _turn = Turn::take().await;
    let opts = options(r#"{"transport": "fetch", "closeOn": [{"event": "echo"}]}"#);
    let (asked_fn, asked) = recorder();
    let request = Function::new_with_args(
        "asked",
        "return async (attempt) => { asked(attempt); return { method: 'POST', body: 'from js', headers: { Authorization: 'Bearer attempt-' + attempt.connection } }; }",
    )
    .call1(&JsValue::NULL, &asked_fn)
    .expect("the callback");
    Reflect::set(&opts, &JsValue::from_str("request"), &request).expect("set");
    let es = JsTypedEventSource::new(server_url("/fixtures/echo"), opts).expect("constructed");
    let (on_echo, echoes) = recorder();
    es.on("echo", on_echo);
    wait_for(&echoes, 1, "the echo").await;
    let echo = get(&echoes.get(0), "0");
    assert_eq!(get(&echo, "method").as_string().as_deref(), Some("POST"));
    assert_eq!(get(&echo, "body").as_string().as_deref(), Some("from js"));
    assert_eq!(get(&echo, "authorization").as_string().as_deref(), Some("Bearer attempt-0"));
    assert_eq!(json(&get(&asked.get(0), "0")), r#"{"connection":0,"unauthorized":false}"#);
}

#[cfg(feature = "fetch")]
#[wasm_bindgen_test]
async fn an_oversize_event_is_a_too_large_error_with_the_limit() {
    let _turn = Turn::take().await;
    // A user's stream of its own (so that the broadcast history other tests read stays as it was).
    let user = unique("js-oversize");
    let url = server_url(&format!("/sse/{user}"));
    let es =
        JsTypedEventSource::new(url, options(r#"{"transport": "fetch", "maxEventBytes": 100}"#)).expect("constructed");
    let (on_error, errors) = recorder();
    let (on_open, opens) = recorder();
    let (on_message, messages) = recorder();
    es.on_error(on_error);
    es.on_open(on_open);
    es.on("message", on_message);
    wait_for(&opens, 1, "open").await;
    post_json(&format!("/notify/{user}"), &format!(r#"{{"data": {{"text": "{}"}}}}"#, "x".repeat(300))).await;
    wait_for(&errors, 1, "the error").await;
    let error = get(&errors.get(0), "0");
    assert_eq!(get(&error, "kind").as_string().as_deref(), Some("too-large"));
    assert_eq!(get(&error, "limit").as_f64(), Some(100.0));
    // The stream goes on: the next event arrives on it, and the oversize one was skipped.
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "small"}}"#).await;
    wait_for(&messages, 1, "the event after the oversize one").await;
    assert_eq!(get(&get(&messages.get(0), "0"), "text").as_string().as_deref(), Some("small"));
    assert_eq!(messages.length(), 1);
    assert_eq!(es.ready_state(), 1);
}
