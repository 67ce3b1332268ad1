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
    assert_eq!(get(&pings.get(pings.length() - 1), "0").as_string().as_deref(), Some("finished"));
    assert_eq!(json(&get(&closes.get(0), "0")), r#"{"kind":"terminal","event":"ping","data":"finished"}"#);
    assert_eq!(json(&states), "[[1],[2]]");
    assert_eq!(es.ready_state(), 2);
    assert_eq!(json(&es.close_reason()), r#"{"kind":"terminal","event":"ping","data":"finished"}"#);
    es.close();
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

#[wasm_bindgen_test]
fn bad_options_throw_a_clear_error() {
    for (opts, expected) in [
        (r#"{"closeOnn": []}"#, "unknown key `closeOnn`"),
        (r#"{"reconnect": "yes"}"#, "`reconnect` must be an object"),
        (r#"{"reconnect": {"maxRetries": -1}}"#, "`maxRetries` must be a number"),
        (r#"{"closeOn": [{"data": "x"}]}"#, "`closeOn[].event` is required"),
        (r#"{"headers": {"a": "b"}}"#, "need `transport: \"fetch\"`"),
        (r#"{"transport": "websocket"}"#, "`transport` must be"),
        (r#"{"withCredentials": 1}"#, "`withCredentials` must be a boolean"),
    ] {
        let err = JsTypedEventSource::new(server_url("/subscribe"), options(opts)).expect_err(opts);
        let message = get(&JsValue::from(err), "message").as_string().unwrap_or_default();
        assert!(message.contains(expected), "{opts}: {message}");
    }
}
