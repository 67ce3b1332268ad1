//! The fetch transport in headless Chromium against the real server: methods, bodies, headers, Authorization,
//! Last-Event-ID, 204 and HTTP statuses in errors — with the same typed dispatch and close handling as EventSource.
#![cfg(all(target_arch = "wasm32", feature = "fetch"))]

use std::time::Duration;

use serde::Deserialize;
use typed_eventsource::{
    CloseReason, Error, ErrorKind, FetchRequest, ReadyState, ReconnectPolicy, TerminalRule, TypedEventSource,
};
use wasm_bindgen_test::*;

mod support;
use support::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Echo {
    method: String,
    body: String,
    authorization: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct N {
    n: u32,
}

fn fatal_status(e: &Error) -> Option<u16> {
    match e {
        Error::Fatal { status, .. } => *status,
        _ => None,
    }
}

#[wasm_bindgen_test]
async fn fetch_sends_method_headers_and_body() {
    let _turn = Turn::take().await;
    let echoes = Log::new();
    let source = TypedEventSource::builder(server_url("/fixtures/echo"))
        .transport(
            FetchRequest::new()
                .method("POST")
                .header("Content-Type", "application/json")
                .header("Authorization", "Bearer not-checked-here")
                .body(r#"{"query": "cards"}"#),
        )
        .close_on(TerminalRule::event("echo"))
        .on::<Echo>("echo", echoes.push_with(|e: Echo, _| e))
        .open()
        .expect("open");
    echoes.wait_len(1, "the echo").await;
    let echo = &echoes.take()[0];
    assert_eq!(echo.method, "POST");
    assert_eq!(echo.body, r#"{"query": "cards"}"#);
    assert_eq!(echo.authorization.as_deref(), Some("Bearer not-checked-here"));
    assert_eq!(source.state(), ReadyState::Closed);
}

#[wasm_bindgen_test]
async fn authorization_header_is_accepted_for_the_right_user_and_denied_otherwise() {
    let _turn = Turn::take().await;
    let (alice, publisher) = tokens();
    let notes = Log::new();
    let opened = Flag::new();
    let _source = TypedEventSource::builder(auth_server_url("/sse/alice"))
        .transport(FetchRequest::new().header("Authorization", format!("Bearer {alice}")))
        .on::<String>("message", notes.push_with(|s: String, _| s))
        .on_open(opened.setter())
        .open()
        .expect("open");
    opened.wait("alice's stream to open").await;
    let status = post_to(
        &auth_server_url("/notify/alice"),
        r#"{"data": "for alice"}"#,
        &[("authorization", &format!("Bearer {publisher}"))],
    )
    .await;
    assert_eq!(status, 200);
    notes.wait_len(1, "alice's notification").await;
    assert_eq!(notes.take(), ["for alice"]);

    for (path, token, expected) in [("/sse/bob", alice, 403), ("/sse/alice", "not.a.token", 401)] {
        let errors = Log::new();
        let reasons = Log::new();
        let _denied = TypedEventSource::builder(auth_server_url(path))
            .transport(FetchRequest::new().header("Authorization", format!("Bearer {token}")))
            .reconnect(ReconnectPolicy::never())
            .on_error(errors.push_with_ref(|e: &Error| e.clone()))
            .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
            .open()
            .expect("open");
        reasons.wait_len(1, "the denial").await;
        let errors = errors.take();
        assert_eq!(errors.iter().map(fatal_status).collect::<Vec<_>>(), [Some(expected)], "{path}: {errors:?}");
        assert!(errors[0].to_string().contains(&expected.to_string()), "the message says the status: {}", errors[0]);
        assert!(matches!(reasons.take()[0], CloseReason::Failed { .. }));
    }
}

#[wasm_bindgen_test]
async fn reconnects_resume_with_the_last_event_id_header() {
    let _turn = Turn::take().await;
    let key = unique("fetch-flaky");
    let numbers = Log::new();
    let errors = Log::new();
    let reasons = Log::new();
    // No de-duplication: a re-open without `Last-Event-ID` gets ids 1..5 again (the fixture starts from 0), and they
    // must show here instead of being dropped by the window.
    let source = TypedEventSource::builder(server_url(&format!("/fixtures/flaky/{key}")))
        .transport(FetchRequest::new())
        .reconnect(ReconnectPolicy::default().initial_delay(Duration::from_millis(50)))
        .dedup_window(0)
        .close_on(TerminalRule::event("done"))
        .on::<N>("message", numbers.push_with(|n: N, _| n.n))
        .on_error(errors.push_with_ref(|e: &Error| (e.kind(), fatal_status(e))))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    reasons.wait_len(1, "the terminal event").await;
    assert_eq!(numbers.take(), (1..=10).collect::<Vec<_>>(), "no loss, no duplicate");
    assert_eq!(source.duplicates_dropped(), 0, "the server sent nothing twice: the re-opens carried the last id");
    assert_eq!(
        errors.take(),
        [(ErrorKind::Transient, None), (ErrorKind::Fatal, Some(503))],
        "the body ended (transient: reconnect with Last-Event-ID), then 503 (fatal: the policy re-opens)"
    );
    assert_eq!(reasons.take(), [CloseReason::Terminal { event: "done".into(), data: "end".into() }]);
}

#[wasm_bindgen_test]
async fn no_content_stops_reconnecting() {
    let _turn = Turn::take().await;
    let errors = Log::new();
    let reasons = Log::new();
    let source = TypedEventSource::builder(server_url("/fixtures/status/204"))
        .transport(FetchRequest::new())
        .reconnect(ReconnectPolicy::default().initial_delay(Duration::from_millis(10)))
        .on_error(errors.push_with_ref(|e: &Error| fatal_status(e)))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    // A retry would have come before the close (10 ms apart): the errors seen by the close are all there are.
    reasons.wait_len(1, "the close").await;
    assert_eq!(errors.take(), [Some(204)], "one failure, no retry despite the policy");
    assert!(matches!(&reasons.take()[0], CloseReason::Failed { attempts: 0, message } if message.contains("204")));
    assert_eq!(source.state(), ReadyState::Closed);
}

#[wasm_bindgen_test]
async fn errors_carry_the_status_and_content_type() {
    let _turn = Turn::take().await;
    for (path, status, content_type, says) in [
        ("/fixtures/status/500", 500, "text/plain", "the server answered 500 "),
        ("/fixtures/wrong-type", 200, "text/plain", "the server answered with content type \"text/plain"),
    ] {
        let errors = Log::new();
        let reasons = Log::new();
        let _source = TypedEventSource::builder(server_url(path))
            .transport(FetchRequest::new())
            .reconnect(ReconnectPolicy::never())
            .on_error(errors.push_with_ref(|e: &Error| e.clone()))
            .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
            .open()
            .expect("open");
        reasons.wait_len(1, path).await;
        match &errors.take()[..] {
            [Error::Fatal { status: Some(s), content_type: Some(ct), message }] => {
                assert_eq!(*s, status, "{path}");
                assert!(ct.starts_with(content_type), "{path}: {ct}");
                assert!(message.starts_with(says), "{path}: {message}");
            }
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[wasm_bindgen_test]
async fn typed_dispatch_terminal_close_and_states_are_the_same_over_fetch() {
    let _turn = Turn::take().await;
    let before = settled_streams("job").await;
    let job = start_job(3, 20).await;
    #[derive(Debug, Deserialize)]
    struct Progress {
        step: u32,
    }
    let steps = Log::new();
    let states = Log::new();
    let reasons = Log::new();
    let source = TypedEventSource::builder(server_url(&format!("/jobs/{job}/events")))
        .transport(FetchRequest::new())
        .close_on(TerminalRule::event_with_data("ping", "finished"))
        .on::<Progress>("message", steps.push_with(|p: Progress, _| p.step))
        .on_state_change(states.push_with_value(|s: ReadyState| s))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    reasons.wait_len(1, "the terminal close").await;
    assert_eq!(steps.take(), [1, 2, 3]);
    assert_eq!(states.take(), [ReadyState::Open, ReadyState::Closed]);
    assert_eq!(reasons.take(), [CloseReason::Terminal { event: "ping".into(), data: "finished".into() }]);
    assert!(!source.last_event_id().is_empty());
    wait_for_streams("job", before, "the aborted fetch to reach the server").await;
}

#[wasm_bindgen_test]
async fn dropping_a_fetch_source_aborts_the_request() {
    let _turn = Turn::take().await;
    let before = settled_streams("broadcast").await;
    let opened = Flag::new();
    let source = TypedEventSource::builder(server_url("/subscribe"))
        .transport(FetchRequest::new())
        .on_open(opened.setter())
        .open()
        .expect("open");
    opened.wait("open").await;
    wait_for_streams("broadcast", before + 1, "the server counts the stream").await;
    drop(source);
    wait_for_streams("broadcast", before, "the server sees the stream go").await;
}
