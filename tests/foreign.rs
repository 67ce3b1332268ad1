//! Against an SSE server nobody on this project wrote (better-sse from npm, tests/foreign/server.mjs), on both
//! transports and through the JavaScript API: typed dispatch, resume after the server drops the connection (its
//! `Last-Event-ID` handling, not ours), terminal close.
#![cfg(all(target_arch = "wasm32", feature = "fetch", feature = "js"))]

use serde::Deserialize;
use typed_eventsource::{
    CloseReason, Error, ErrorKind, FetchRequest, Gap, JsTypedEventSource, ReadyState, TerminalRule, TypedEventSource,
};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

mod support;
use support::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Tick {
    n: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Status {
    state: String,
}

#[wasm_bindgen_test]
async fn typed_dispatch_resume_after_a_drop_and_terminal_close_on_both_transports() {
    let _turn = Turn::take().await;
    for fetch in [false, true] {
        let what = if fetch { "fetch" } else { "EventSource" };
        let ticks = Log::new();
        let statuses = Log::new();
        let errors = Log::new();
        let reasons = Log::new();
        let gaps = Log::new();
        let mut builder = TypedEventSource::builder(foreign_url("/feed"))
            .close_on(TerminalRule::event("status"))
            .on::<Tick>(
                "tick",
                ticks.push_with(|t: Tick, meta: typed_eventsource::EventMeta| (t.n, meta.last_event_id)),
            )
            .on::<Status>("status", statuses.push_with(|s: Status, _| s.state))
            .on_error(errors.push_with_ref(|e: &Error| e.kind()))
            .on_gap(gaps.push_with_ref(|g: &Gap| g.clone()))
            .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()));
        if fetch {
            builder = builder.transport(FetchRequest::new());
        }
        let source = builder.open().expect("open");
        reasons.wait_len(1, &format!("{what}: the terminal status")).await;
        let expected: Vec<(u32, String)> = (1..=6).map(|n| (n, n.to_string())).collect();
        assert_eq!(ticks.take(), expected, "{what}: every tick once, in order, with its id");
        assert_eq!(statuses.take(), ["done"], "{what}");
        assert_eq!(errors.take(), [ErrorKind::Transient], "{what}: the drop, and nothing else");
        assert!(gaps.take().is_empty(), "{what}: no gap from a server that sends none");
        assert_eq!(
            reasons.take(),
            [CloseReason::Terminal { event: "status".into(), data: r#"{"state":"done"}"#.into() }]
        );
        assert_eq!(source.ready_state(), ReadyState::Closed, "{what}");
        assert_eq!(source.duplicates_dropped(), 0, "{what}");
    }
}

#[wasm_bindgen_test]
async fn the_javascript_api_against_the_foreign_server_on_both_transports() {
    let _turn = Turn::take().await;
    for transport in ["eventsource", "fetch"] {
        let options =
            js_sys::JSON::parse(&format!(r#"{{"transport": "{transport}", "closeOn": [{{"event": "status"}}]}}"#))
                .expect("JSON");
        let es = JsTypedEventSource::new(foreign_url("/feed"), options).expect("constructed");
        let log = js_sys::Array::new();
        let push = js_sys::Function::new_with_args("log", "return (data) => log.push(data.n)")
            .call1(&JsValue::NULL, &log)
            .expect("recorder");
        es.on("tick", push.into());
        for _ in 0..1000 {
            if !es.close_reason().is_undefined() {
                break;
            }
            sleep(10).await;
        }
        let ns: Vec<f64> = log.iter().filter_map(|v| v.as_f64()).collect();
        assert_eq!(ns, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "{transport}");
        assert_eq!(es.ready_state(), 2, "{transport}");
    }
}
