//! Resume you can trust (issue 12), in headless Chromium against the real server, on both transports: the resume
//! query parameter, gap signals, de-duplication, the server's `retry:`, fresh credentials per attempt, the reconnect
//! policy's delays, jitter, limit and reset on open, too-large events, and the browser's readyState after every kind of close.
#![cfg(all(target_arch = "wasm32", feature = "fetch"))]

use std::time::Duration;

use serde::Deserialize;
use typed_eventsource::{
    CloseReason, Error, ErrorKind, FetchRequest, Gap, ReadyState, ReconnectPolicy, TerminalRule, TypedEventSource,
    TypedEventSourceBuilder,
};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

mod support;
use support::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct N {
    n: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    EventSource,
    Fetch,
}

const BOTH: [Via; 2] = [Via::EventSource, Via::Fetch];

/// A builder on `url` over `via`.
fn on(via: Via, url: String) -> TypedEventSourceBuilder {
    let builder = TypedEventSource::builder(url);
    match via {
        Via::EventSource => builder,
        Via::Fetch => builder.transport(FetchRequest::new()),
    }
}

/// The errors other than transient ones (the browser reconnecting), by kind.
fn kinds(errors: &Log<Error>) -> Vec<ErrorKind> {
    errors.take().iter().map(Error::kind).filter(|k| *k != ErrorKind::Transient).collect()
}

#[derive(Debug, Deserialize)]
struct Text {
    text: String,
}

#[derive(Debug, Deserialize)]
struct Resumed {
    query: String,
    header: Option<String>,
}

#[wasm_bindgen_test]
async fn resume_across_a_forced_disconnect_with_each_resume_parameter_setting() {
    let _turn = Turn::take().await;
    // (transport, resume_param, what the re-opened connection must carry, duplicates the window must drop)
    let cases: [(Via, Option<&str>, &str, u64); 4] = [
        (Via::EventSource, Some("lastEventId"), "lastEventId=5", 0),
        (Via::EventSource, Some("last_event_id"), "last_event_id=5", 0),
        // No parameter: this server (no header on a new EventSource) replays from the start; the window drops 1..5.
        (Via::EventSource, None, "", 5),
        (Via::Fetch, Some("lastEventId"), "header 5", 0),
    ];
    for (via, param, expected, duplicates) in cases {
        let what = format!("{via:?} {param:?}");
        let numbers = Log::new();
        let resumed = Log::new();
        let errors = Log::new();
        let reasons = Log::new();
        let source = on(via, server_url(&format!("/fixtures/resume/{}", unique("resume"))))
            .resume_param(param)
            .reconnect(ReconnectPolicy::default().initial_delay(Duration::from_millis(50)).max_retries(3))
            .close_on(TerminalRule::event("done"))
            .on::<N>("message", numbers.push_with(|n: N, _| n.n))
            .on::<Resumed>("resumed", resumed.push_with(|r: Resumed, _| (r.query, r.header)))
            .on_error(errors.push_with_ref(|e: &Error| e.clone()))
            .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
            .open()
            .expect("open");
        reasons.wait_len(1, &format!("{what}: the terminal event after the re-open")).await;
        assert_eq!(numbers.take(), (1..=10).collect::<Vec<_>>(), "{what}: every event once");
        let (query, header) = resumed.take().pop().expect("a resumed event");
        match via {
            Via::Fetch => assert_eq!(header.as_deref(), Some("5"), "{what}: the Last-Event-ID header"),
            Via::EventSource if expected.is_empty() => {
                assert!(!query.contains('='), "{what}: no resume parameter, got {query:?}");
                assert_eq!(header, None, "{what}");
            }
            Via::EventSource => assert!(query.contains(expected), "{what}: {query:?} lacks {expected}"),
        }
        assert!(kinds(&errors).contains(&ErrorKind::Fatal), "{what}: the 503 was fatal");
        assert_eq!(source.duplicates_dropped(), duplicates, "{what}");
        assert_eq!(source.ready_state(), ReadyState::Closed, "{what}");
    }
}

#[wasm_bindgen_test]
async fn a_gap_goes_to_on_gap_and_not_to_handlers() {
    let _turn = Turn::take().await;
    for via in BOTH {
        let gaps = Log::new();
        let as_event = Log::new();
        let opened = Flag::new();
        // An id of another epoch: what a client holds after the server's store was wiped.
        let requested = "deadbeefdeadbeef-3";
        let source = on(via, server_url("/subscribe"))
            .last_event_id(requested)
            .on_text("replay-gap", as_event.push_with(|t: String, _| t))
            .on_gap(gaps.push_with_ref(|g: &Gap| g.clone()))
            .on_open(opened.setter())
            .open()
            .expect("open");
        gaps.wait_len(1, &format!("{via:?}: the gap")).await;
        opened.wait("open").await;
        let gap = gaps.take().pop().expect("a gap");
        assert_eq!(gap.event, "replay-gap", "{via:?}");
        assert_eq!(gap.requested.as_deref(), Some(requested), "{via:?}");
        assert_eq!(gap.reason.as_deref(), Some("other-epoch"), "{via:?}");
        let epoch = gap.epoch.clone().expect("the epoch");
        assert!(gap.last_event_id.starts_with(&format!("{epoch}-")), "{via:?}: {gap:?}");
        assert_eq!(source.last_event_id(), gap.last_event_id, "{via:?}: the stream resumes after the gap's id");
        assert_eq!(source.last_gap(), Some(gap), "{via:?}");
        assert!(as_event.take().is_empty(), "{via:?}: no ordinary handler got the gap");
        source.close();
        assert_eq!(source.ready_state(), ReadyState::Closed, "{via:?}");
    }
}

#[wasm_bindgen_test]
async fn no_gap_from_a_stream_that_resumes_cleanly() {
    let _turn = Turn::take().await;
    for via in BOTH {
        let gaps = Log::new();
        let reasons = Log::new();
        let numbers = Log::new();
        let _source = on(via, server_url(&format!("/fixtures/flaky/{}", unique("nogap"))))
            .reconnect(ReconnectPolicy::default().initial_delay(Duration::from_millis(50)))
            .close_on(TerminalRule::event("done"))
            .on::<N>("message", numbers.push_with(|n: N, _| n.n))
            .on_gap(gaps.push_with_ref(|g: &Gap| g.clone()))
            .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
            .open()
            .expect("open");
        reasons.wait_len(1, "the end").await;
        assert_eq!(numbers.take(), (1..=10).collect::<Vec<_>>(), "{via:?}");
        assert!(gaps.take().is_empty(), "{via:?}");
    }
}

#[wasm_bindgen_test]
async fn duplicates_from_an_overlapping_replay_reach_handlers_once() {
    let _turn = Turn::take().await;
    for via in BOTH {
        for (window, expected_len, dropped) in [(64, 10, 3), (0, 13, 0)] {
            let numbers = Log::new();
            let reasons = Log::new();
            let source = on(via, server_url("/fixtures/overlap"))
                .dedup_window(window)
                .close_on(TerminalRule::event("done"))
                .on::<N>("message", numbers.push_with(|n: N, _| n.n))
                .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
                .open()
                .expect("open");
            reasons.wait_len(1, "the terminal event after the replay").await;
            let numbers = numbers.take();
            assert_eq!(numbers.len(), expected_len, "{via:?} window {window}: {numbers:?}");
            if window > 0 {
                assert_eq!(numbers, (1..=10).collect::<Vec<_>>(), "{via:?}");
            } else {
                assert_eq!(&numbers[5..8], &[3, 4, 5], "{via:?}: the replayed ones came again");
            }
            assert_eq!(source.duplicates_dropped(), dropped, "{via:?} window {window}");
        }
    }
}

/// Milliseconds from the first transient error (the server closed the stream) to the next open.
async fn reconnect_delay(via: Via, retry_ms: u32) -> f64 {
    let lost = Log::new();
    let opened = Log::new();
    let reasons = Log::new();
    let _source = on(via, server_url(&format!("/fixtures/retry/{retry_ms}")))
        .close_on(TerminalRule::event("done"))
        .on_error(lost.push_with_ref(|e: &Error| (e.kind(), js_sys::Date::now())))
        .on_open({
            let opened = opened.0.clone();
            move || opened.borrow_mut().push(js_sys::Date::now())
        })
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    reasons.wait_len(1, &format!("{via:?} retry {retry_ms}: the second connection")).await;
    let lost_at = lost.take().into_iter().find(|(k, _)| *k == ErrorKind::Transient).expect("a transient error").1;
    let opened = opened.take();
    assert_eq!(opened.len(), 2, "{via:?}: two connections");
    opened[1] - lost_at
}

#[wasm_bindgen_test]
async fn the_servers_retry_sets_the_reconnect_delay_on_both_transports() {
    let _turn = Turn::take().await;
    for via in BOTH {
        let short = reconnect_delay(via, 50).await;
        let long = reconnect_delay(via, 2000).await;
        assert!(short < 1000.0, "{via:?}: retry 50 waited {short} ms");
        assert!(long >= 1900.0, "{via:?}: retry 2000 waited only {long} ms");
    }
}

#[wasm_bindgen_test]
async fn the_servers_retry_is_the_base_of_the_fetch_re_open_backoff() {
    let _turn = Turn::take().await;
    // Connection 1 of the resume fixture sends `retry: 50` and closes, connection 2 answers 503: the re-open waits
    // the server's 50 ms, not the policy's 5 s.
    let reasons = Log::new();
    let started = js_sys::Date::now();
    let _source = on(Via::Fetch, server_url(&format!("/fixtures/resume/{}", unique("base"))))
        .reconnect(ReconnectPolicy::default().initial_delay(Duration::from_secs(5)).jitter(0.0))
        .close_on(TerminalRule::event("done"))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    reasons.wait_len(1, "the end").await;
    let took = js_sys::Date::now() - started;
    assert!(took < 4000.0, "the re-open used the policy's 5 s, not the server's retry: {took} ms");
}

#[wasm_bindgen_test]
async fn the_reconnect_limit_ends_in_fatal_errors_then_failed_with_the_attempt_count() {
    let _turn = Turn::take().await;
    for via in BOTH {
        let errors = Log::new();
        let reasons = Log::new();
        let source = on(via, server_url("/fixtures/status/503"))
            .reconnect(ReconnectPolicy::default().initial_delay(Duration::from_millis(20)).max_retries(2))
            .on_error(errors.push_with_ref(|e: &Error| e.clone()))
            .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
            .open()
            .expect("open");
        reasons.wait_len(1, "the failure").await;
        assert_eq!(kinds(&errors), [ErrorKind::Fatal; 3], "{via:?}: the first attempt and 2 re-opens");
        assert!(matches!(&reasons.take()[..], [CloseReason::Failed { attempts: 2, .. }]), "{via:?}");
        assert_eq!(source.ready_state(), ReadyState::Closed, "{via:?}");
    }
}

/// Milliseconds between consecutive fatal errors of a source on `/fixtures/status/503` under `policy` (each is one
/// attempt: the first connect, then the policy's re-opens), once it has given up.
async fn delays_between_failures(via: Via, policy: ReconnectPolicy) -> Vec<f64> {
    let failures = Log::new();
    let reasons = Log::new();
    let retries = policy.retries();
    let _source = on(via, server_url("/fixtures/status/503"))
        .reconnect(policy)
        .on_error(failures.push_with_ref(|e: &Error| (e.kind(), js_sys::Date::now())))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    reasons.wait_len(1, &format!("{via:?}: the policy to give up")).await;
    assert!(
        matches!(&reasons.take()[..], [CloseReason::Failed { attempts, .. }] if *attempts == retries),
        "{via:?}: failed after {retries} re-opens"
    );
    let times: Vec<f64> = failures.take().into_iter().filter(|(k, _)| *k == ErrorKind::Fatal).map(|(_, t)| t).collect();
    assert_eq!(times.len(), retries as usize + 1, "{via:?}: one failure per attempt");
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[wasm_bindgen_test]
async fn reconnect_delays_grow_by_the_multiplier_up_to_the_maximum() {
    let _turn = Turn::take().await;
    // Bases 100, 300, 900 (the cap), 900 (not 2700). Each failure comes one delay plus one request after the one
    // before: never sooner (browser timers do not fire early), so each delay is at least its base. The upper bounds
    // only need to tell these bases apart, so they leave wide margins for a loaded machine: a constant delay (which
    // must be >= 898 ms to pass the third) fails the first below 600 ms (500 ms to spare), and a delay that grows past
    // the cap (2700 ms) fails the last below 1800 ms (900 ms to spare).
    let policy = ReconnectPolicy::default()
        .initial_delay(Duration::from_millis(100))
        .multiplier(3.0)
        .max_delay(Duration::from_millis(900))
        .jitter(0.0)
        .max_retries(4);
    for via in BOTH {
        let delays = delays_between_failures(via, policy.clone()).await;
        let what = format!("{via:?}: {delays:?} against 100, 300, 900, 900");
        for (delay, base) in delays.iter().zip([100.0, 300.0, 900.0, 900.0]) {
            assert!(*delay >= base - 2.0, "{what}: a re-open came before its delay");
        }
        assert!(delays[0] < 600.0, "{what}: the first delay is not the initial one (constant delays?)");
        assert!(delays[3] < 1800.0, "{what}: the delay grew past the maximum");
    }
}

#[wasm_bindgen_test]
async fn jitter_spreads_the_reconnect_delays_below_the_base() {
    let _turn = Turn::take().await;
    // Full jitter: each delay is anywhere from 0 to 400 ms. Eight of them all above 250 ms, or all within 80 ms of
    // each other, happens by chance less than once in 2,000 runs; without jitter, always.
    let policy = ReconnectPolicy::default()
        .initial_delay(Duration::from_millis(400))
        .multiplier(1.0)
        .max_delay(Duration::from_millis(400))
        .jitter(1.0)
        .max_retries(8);
    for via in BOTH {
        let delays = delays_between_failures(via, policy.clone()).await;
        let (min, max) = delays.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), d| (lo.min(*d), hi.max(*d)));
        assert!(max < 400.0 + 600.0, "{via:?}: a delay above the base: {delays:?}");
        assert!(min < 250.0, "{via:?}: no delay shortened by jitter: {delays:?}");
        assert!(max - min > 80.0, "{via:?}: the delays do not spread: {delays:?}");
    }
}

#[wasm_bindgen_test]
async fn a_successful_open_resets_the_reconnect_attempts() {
    let _turn = Turn::take().await;
    for via in BOTH {
        // Connections 1, 3 and 5 fail (503), 2 and 4 open and close: one re-open allowed is enough for each failure
        // only if every open starts the count again.
        let numbers = Log::new();
        let failures = Log::new();
        let reasons = Log::new();
        let source = on(via, server_url(&format!("/fixtures/cycle/{}", unique("reset"))))
            .reconnect(ReconnectPolicy::default().initial_delay(Duration::from_millis(20)).max_retries(1))
            .close_on(TerminalRule::event("done"))
            .on::<N>("message", numbers.push_with(|m: N, _| m.n))
            .on_error(failures.push_with_ref(|e: &Error| e.kind()))
            .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
            .open()
            .expect("open");
        reasons.wait_len(1, &format!("{via:?}: the end")).await;
        assert_eq!(reasons.take(), [CloseReason::Terminal { event: "done".into(), data: "end".into() }], "{via:?}");
        assert_eq!(numbers.take(), [1, 2], "{via:?}");
        let fatal = failures.take().into_iter().filter(|k| *k == ErrorKind::Fatal).count();
        assert_eq!(fatal, 3, "{via:?}: connections 1, 3 and 5 failed");
        assert_eq!(source.ready_state(), ReadyState::Closed, "{via:?}");
    }
}

#[wasm_bindgen_test]
async fn the_browser_reads_closed_after_every_kind_of_close() {
    let _turn = Turn::take().await;
    for via in BOTH {
        // Terminal message.
        let errors = Log::new();
        let reasons = Log::new();
        let terminal = on(via, server_url("/fixtures/overlap"))
            .close_on(TerminalRule::event("done"))
            .on_error(errors.push_with_ref(|e: &Error| e.kind()))
            .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
            .open()
            .expect("open");
        reasons.wait_len(1, "terminal").await;
        assert_eq!(terminal.ready_state(), ReadyState::Closed, "{via:?} terminal");
        // The client, while open.
        let opened = Flag::new();
        let client = on(via, server_url("/subscribe")).on_open(opened.setter()).open().expect("open");
        opened.wait("open").await;
        assert_eq!(client.ready_state(), ReadyState::Open, "{via:?}");
        client.close();
        assert_eq!(client.ready_state(), ReadyState::Closed, "{via:?} client");
        // The client, while the connection is still being made.
        let early = on(via, server_url("/subscribe")).open().expect("open");
        assert_eq!(early.ready_state(), ReadyState::Connecting, "{via:?}");
        early.close();
        assert_eq!(early.ready_state(), ReadyState::Closed, "{via:?} client while connecting");
        // Failed: the browser (or fetch) gave up and the policy too.
        let failed_reasons = Log::new();
        let failed = on(via, server_url("/fixtures/status/500"))
            .reconnect(ReconnectPolicy::never())
            .on_error(errors.push_with_ref(|e: &Error| e.kind()))
            .on_close(failed_reasons.push_with_ref(|r: &CloseReason| r.clone()))
            .open()
            .expect("open");
        failed_reasons.wait_len(1, "failed").await;
        assert_eq!(failed.ready_state(), ReadyState::Closed, "{via:?} failed");
        assert!(!errors.take().contains(&ErrorKind::NotClosed), "{via:?}: the browser agreed every time");
    }
    // 204 No Content (fetch only: the browser's EventSource treats it as a failed connection, covered above).
    let reasons = Log::new();
    let no_content = on(Via::Fetch, server_url("/fixtures/status/204"))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    reasons.wait_len(1, "204").await;
    assert_eq!(no_content.ready_state(), ReadyState::Closed, "204");
}

async fn fetch_text(url: &str) -> String {
    let window = web_sys::window().expect("a window");
    let resp = JsFuture::from(window.fetch_with_str(url)).await.expect("fetch");
    let resp: web_sys::Response = resp.dyn_into().expect("a Response");
    assert!(resp.ok(), "GET {url} -> {}", resp.status());
    JsFuture::from(resp.text().expect("text()")).await.expect("body").as_string().unwrap_or_default()
}

#[derive(Debug, Deserialize)]
struct UserN {
    n: u32,
    user: String,
}

#[wasm_bindgen_test]
async fn a_token_that_expires_after_the_first_connection_is_refreshed_on_the_reconnect() {
    let _turn = Turn::take().await;
    // Valid for 2 to 3 s (`exp` has whole seconds): the first connection must use it in time — it is made at once,
    // which leaves ~2 s for a loaded machine — and the reconnect, 5 s after the first stream ends (`retry: 5000`),
    // sends it stale for sure (2 s to spare) and gets 401, then refreshes.
    let stale = fetch_text(&auth_server_url("/fixtures/token/alice?expires_in=3")).await;
    let asked = Log::new();
    let numbers = Log::new();
    let errors = Log::new();
    let reasons = Log::new();
    let request = FetchRequest::new().prepare({
        let asked = asked.0.clone();
        move |attempt| {
            asked.borrow_mut().push((attempt.connection, attempt.unauthorized));
            let stale = stale.clone();
            async move {
                let token = if attempt.unauthorized {
                    fetch_text(&auth_server_url("/fixtures/token/alice?expires_in=3600")).await
                } else {
                    stale
                };
                Ok(FetchRequest::new().header("Authorization", format!("Bearer {token}")))
            }
        }
    });
    let source = TypedEventSource::builder(auth_server_url("/fixtures/authed-drop?retry=5000"))
        .transport(request)
        .reconnect(ReconnectPolicy::never())
        .close_on(TerminalRule::event("done"))
        .on::<UserN>("message", numbers.push_with(|u: UserN, _| (u.n, u.user)))
        .on_error(errors.push_with_ref(|e: &Error| e.clone()))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    reasons.wait_len(1, "the end of the stream after the refresh").await;
    let expected: Vec<(u32, String)> = (1..=6).map(|n| (n, "alice".to_owned())).collect();
    assert_eq!(numbers.take(), expected);
    assert_eq!(asked.take(), [(0, false), (1, false), (1, true)], "the stale token, its 401, the refresh");
    assert_eq!(kinds(&errors), [], "a refreshed 401 is not an error");
    assert_eq!(reasons.take(), [CloseReason::Terminal { event: "done".into(), data: "end".into() }]);
    assert_eq!(source.ready_state(), ReadyState::Closed);
}

#[wasm_bindgen_test]
async fn a_second_401_is_fatal() {
    let _turn = Turn::take().await;
    let asked = Log::new();
    let errors = Log::new();
    let reasons = Log::new();
    let request = FetchRequest::new().prepare({
        let asked = asked.0.clone();
        move |attempt| {
            asked.borrow_mut().push(attempt.unauthorized);
            async { Ok(FetchRequest::new().header("Authorization", "Bearer not-a-token")) }
        }
    });
    let _source = TypedEventSource::builder(auth_server_url("/fixtures/authed-drop"))
        .transport(request)
        .reconnect(ReconnectPolicy::never())
        .on_error(errors.push_with_ref(|e: &Error| e.clone()))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    reasons.wait_len(1, "the failure").await;
    assert_eq!(asked.take(), [false, true]);
    let errors = errors.take();
    assert!(matches!(&errors[..], [Error::Fatal { status: Some(401), .. }]), "{errors:?}");
}

#[wasm_bindgen_test]
async fn an_oversize_event_is_its_own_error_with_the_limit_and_the_stream_goes_on() {
    let _turn = Turn::take().await;
    let errors = Log::new();
    let texts = Log::new();
    let opened = Flag::new();
    // A user's stream of its own (so that the broadcast history other tests read stays as it was).
    let user = unique("oversize");
    let source = TypedEventSource::builder(server_url(&format!("/sse/{user}")))
        .transport(FetchRequest::new().max_event_bytes(1024))
        .on::<Text>("message", texts.push_with(|t: Text, _| t.text.len()))
        .on_error(errors.push_with_ref(|e: &Error| e.clone()))
        .on_open(opened.setter())
        .open()
        .expect("open");
    opened.wait("open").await;
    post_json(&format!("/notify/{user}"), &format!(r#"{{"data": {{"text": "{}"}}}}"#, "x".repeat(2000))).await;
    errors.wait_len(1, "the too-large error").await;
    assert_eq!(errors.take(), [Error::TooLarge { limit: 1024 }]);
    // The stream goes on: the next event arrives on the same connection, and the oversize one was skipped.
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "small"}}"#).await;
    texts.wait_len(1, "the event after the oversize one").await;
    assert_eq!(texts.take(), [5], "only the small event");
    assert_eq!(source.ready_state(), ReadyState::Open);
}
