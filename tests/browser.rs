//! The library in real headless Chromium against the real companion server.
//!
//! Run by `scripts/test.sh`, which starts `typed-eventsource-server --dev --fixtures` on a free loopback port and
//! passes its URL at compile time as `SSE_SERVER_URL`. The test page is served from another loopback port, so every
//! stream here is cross-origin, as in production set-ups with a separate API host.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use typed_eventsource::{CloseReason, Error, EventMeta, ReadyState, ReconnectPolicy, TerminalRule, TypedEventSource};
use wasm_bindgen_test::*;

mod support;
use support::*;

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Note {
    text: String,
    n: u32,
}

/// Scenario 2's progress payload: `{target, status, message}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Progress {
    target: Target,
    status: String,
    message: String,
    step: u32,
    steps: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Target {
    db: String,
    operation: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mixed {
    #[serde(rename = "message")]
    Note(Note),
    Ping(String),
    CardAssigned {
        card: u32,
        title: String,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum JobEvent {
    #[serde(rename = "message")]
    Progress(Progress),
    Ping(String),
}

#[wasm_bindgen_test]
async fn typed_handler_decodes_json_into_a_struct_with_metadata() {
    let _turn = Turn::take().await;
    let user = unique("typed");
    let notes = Log::new();
    let opened = Flag::new();
    let _source = TypedEventSource::builder(server_url(&format!("/sse/{user}")))
        .on::<Note>("message", notes.push_with(|n: Note, meta| (n, meta)))
        .on_open(opened.setter())
        .open()
        .expect("open");
    opened.wait("open").await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "line one\nline two", "n": 1}}"#).await;
    notes.wait_len(1, "one note").await;
    let (note, meta) = notes.take().remove(0);
    assert_eq!(note, Note { text: "line one\nline two".into(), n: 1 });
    assert_eq!(meta.event, "message");
    assert!(!meta.last_event_id.is_empty(), "the server gives every event an id");
    assert_eq!(meta.origin, server_url(""));
}

#[wasm_bindgen_test]
async fn one_enum_dispatches_a_mixed_stream_by_event_type() {
    let _turn = Turn::take().await;
    let user = unique("enum");
    let events = Log::new();
    let opened = Flag::new();
    let _source = TypedEventSource::builder(server_url(&format!("/sse/{user}")))
        .on_enum::<Mixed>(events.push_with(|e: Mixed, meta: EventMeta| (e, meta.event)))
        .on_open(opened.setter())
        .open()
        .expect("open");
    opened.wait("open").await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "hi", "n": 2}}"#).await;
    post_json(&format!("/notify/{user}"), r#"{"event": "ping", "data": "still here"}"#).await;
    post_json(&format!("/notify/{user}"), r#"{"event": "card-assigned", "data": {"card": 7, "title": "Ship it"}}"#)
        .await;
    post_json(&format!("/notify/{user}"), r#"{"event": "not-in-the-enum", "data": 1}"#).await;
    // One stream keeps order: an event outside the enum, if delivered, would come before this last one.
    post_json(&format!("/notify/{user}"), r#"{"event": "ping", "data": "last"}"#).await;
    events.wait_len(4, "four events").await;
    assert_eq!(
        events.take(),
        vec![
            (Mixed::Note(Note { text: "hi".into(), n: 2 }), "message".to_owned()),
            (Mixed::Ping("still here".into()), "ping".to_owned()),
            (Mixed::CardAssigned { card: 7, title: "Ship it".into() }, "card-assigned".to_owned()),
            (Mixed::Ping("last".into()), "ping".to_owned()),
        ],
        "the event type outside the enum is not delivered"
    );
}

#[wasm_bindgen_test]
async fn data_that_does_not_decode_is_reported_with_its_raw_text_and_the_stream_goes_on() {
    let _turn = Turn::take().await;
    let user = unique("decode");
    let notes = Log::new();
    let errors = Log::new();
    let opened = Flag::new();
    let source = TypedEventSource::builder(server_url(&format!("/sse/{user}")))
        .on::<Note>("message", notes.push_with(|n: Note, _| n))
        .on_error(errors.push_with_ref(|e: &Error| e.clone()))
        .on_open(opened.setter())
        .open()
        .expect("open");
    opened.wait("open").await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "no n"}}"#).await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "ok", "n": 3}}"#).await;
    notes.wait_len(1, "the good note").await;
    let errors = errors.take();
    assert_eq!(errors.len(), 1, "{errors:?}");
    match &errors[0] {
        Error::Decode { event, data, reason } => {
            assert_eq!(event, "message");
            assert_eq!(data, r#"{"text":"no n"}"#);
            assert!(reason.contains('n'), "reason names the problem: {reason}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(notes.take(), vec![Note { text: "ok".into(), n: 3 }]);
    assert_eq!(source.state(), ReadyState::Open);
}

#[wasm_bindgen_test]
async fn scenario_2_job_closes_itself_on_ping_finished() {
    let _turn = Turn::take().await;
    let before = settled_streams("job").await;
    let job = start_job(4, 30).await;
    let progress = Log::new();
    let pings = Log::new();
    let reasons = Log::new();
    let states = Log::new();
    let source = TypedEventSource::builder(server_url(&format!("/jobs/{job}/events")))
        .close_on(TerminalRule::event_with_data("ping", "finished"))
        .on::<Progress>("message", progress.push_with(|p: Progress, _| p))
        .on_text("ping", pings.push_with(|t: String, _| t))
        .on_state_change(states.push_with_value(|s: ReadyState| s))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    assert_eq!(source.state(), ReadyState::Connecting);
    reasons.wait_len(1, "the close reason").await;
    let progress = progress.take();
    assert_eq!(progress.len(), 4, "every step, the first included: {progress:?}");
    assert_eq!(progress.iter().map(|p| p.step).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert!(progress.iter().all(|p| p.steps == 4 && !p.target.db.is_empty() && !p.message.is_empty()));
    assert!(!progress[0].status.is_empty() && !progress[0].target.operation.is_empty());
    assert_eq!(pings.take().last().map(String::as_str), Some("finished"), "the terminal event is delivered");
    assert_eq!(reasons.take(), vec![CloseReason::Terminal { event: "ping".into(), data: "finished".into() }]);
    assert_eq!(source.state(), ReadyState::Closed);
    assert_eq!(states.take(), vec![ReadyState::Open, ReadyState::Closed]);
    wait_for_streams("job", before, "the server sees the client leave").await;
    source.close(); // harmless, and no second reason
                    // Anything close() queued (a task) has run after this wait.
    sleep(50).await;
    assert_eq!(reasons.len(), 0);
}

#[wasm_bindgen_test]
async fn a_dropped_connection_is_transient_and_the_browser_reconnects() {
    let _turn = Turn::take().await;
    let errors = Log::new();
    let states = Log::new();
    let source = TypedEventSource::builder(server_url("/fixtures/drop?events=2"))
        .on_error(errors.push_with_ref(|e: &Error| e.clone()))
        .on_state_change(states.push_with_value(|s: ReadyState| s))
        .open()
        .expect("open");
    states.wait_until(|s| s.iter().filter(|s| **s == ReadyState::Open).count() >= 2, "a second open").await;
    source.close();
    let errors = errors.take();
    assert!(!errors.is_empty() && errors.iter().all(|e| *e == Error::Transient), "{errors:?}");
    let states = states.take();
    assert_eq!(&states[..3], &[ReadyState::Open, ReadyState::Connecting, ReadyState::Open], "{states:?}");
    assert_eq!(states.last(), Some(&ReadyState::Closed));
    assert_eq!(source.close_reason(), Some(CloseReason::Client));
}

#[wasm_bindgen_test]
async fn not_found_server_error_and_wrong_content_type_are_fatal() {
    let _turn = Turn::take().await;
    for path in ["/jobs/no-such-job/events", "/fixtures/status/500", "/fixtures/wrong-type"] {
        let errors = Log::new();
        let reasons = Log::new();
        let source = TypedEventSource::builder(server_url(path))
            .reconnect(ReconnectPolicy::never())
            .on_error(errors.push_with_ref(|e: &Error| e.clone()))
            .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
            .open()
            .expect("open");
        reasons.wait_len(1, path).await;
        let errors = errors.take();
        assert_eq!(errors.len(), 1, "{path}: {errors:?}");
        assert!(matches!(errors[0], Error::Fatal { .. }), "{path}: {errors:?}");
        assert!(matches!(reasons.take()[0], CloseReason::Failed { attempts: 0, .. }), "{path}");
        assert_eq!(source.state(), ReadyState::Closed, "{path}");
    }
}

#[wasm_bindgen_test]
async fn dropping_the_handle_closes_the_connection() {
    let _turn = Turn::take().await;
    let before = settled_streams("broadcast").await;
    let opened = Flag::new();
    let source = TypedEventSource::builder(server_url("/subscribe")).on_open(opened.setter()).open().expect("open");
    opened.wait("open").await;
    wait_for_streams("broadcast", before + 1, "the server counts the stream").await;
    drop(source);
    wait_for_streams("broadcast", before, "the server sees the stream go").await;
}

#[wasm_bindgen_test]
async fn reconnect_policy_resumes_after_the_last_id_without_loss_or_duplicate() {
    let _turn = Turn::take().await;
    let key = unique("flaky");
    let numbers = Log::new();
    let errors = Log::new();
    let reasons = Log::new();
    #[derive(Deserialize)]
    struct N {
        n: u32,
    }
    // No de-duplication: a re-open without the last id (the `lastEventId` query parameter) gets ids 1..5 again (the
    // fixture starts from 0), and they must show here instead of being dropped by the window.
    let source = TypedEventSource::builder(server_url(&format!("/fixtures/flaky/{key}")))
        .reconnect(ReconnectPolicy::default().initial_delay(Duration::from_millis(50)).max_retries(3))
        .dedup_window(0)
        .close_on(TerminalRule::event("done"))
        .on::<N>("message", numbers.push_with(|n: N, _| n.n))
        .on_error(errors.push_with_ref(|e: &Error| e.kind()))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    reasons.wait_len(1, "the terminal event after the re-open").await;
    assert_eq!(numbers.take(), (1..=10).collect::<Vec<_>>(), "no loss, no duplicate");
    assert_eq!(source.duplicates_dropped(), 0, "the server sent nothing twice: the re-open carried the last id");
    let kinds = errors.take();
    assert!(kinds.contains(&typed_eventsource::ErrorKind::Fatal), "the browser gave up once: {kinds:?}");
    assert_eq!(reasons.take(), vec![CloseReason::Terminal { event: "done".into(), data: "end".into() }]);
}

#[wasm_bindgen_test]
async fn with_credentials_sends_the_cookie_cross_origin() {
    let _turn = Turn::take().await;
    login("alice").await;
    for (credentials, expected) in [(true, "alice"), (false, "anonymous")] {
        let who = Log::new();
        let source = TypedEventSource::builder(server_url("/fixtures/whoami"))
            .with_credentials(credentials)
            .on::<String>("message", who.push_with(|w: String, _| w))
            .open()
            .expect("open");
        who.wait_len(1, "whoami").await;
        assert_eq!(who.take(), vec![expected.to_owned()], "withCredentials = {credentials}");
        drop(source);
    }
}

#[wasm_bindgen_test]
async fn the_stream_yields_typed_events_and_ends_when_the_source_closes() {
    let _turn = Turn::take().await;
    let job = start_job(3, 20).await;
    let mut events = TypedEventSource::builder(server_url(&format!("/jobs/{job}/events")))
        .close_on(TerminalRule::event_with_data("ping", "finished"))
        .into_stream::<JobEvent>()
        .expect("open");
    let mut steps = Vec::new();
    let mut last_ping = None;
    while let Some(item) = with_timeout(events.next(), "the next item").await {
        match item.expect("no error").data {
            JobEvent::Progress(p) => steps.push(p.step),
            JobEvent::Ping(text) => last_ping = Some(text),
        }
    }
    assert_eq!(steps, [1, 2, 3]);
    assert_eq!(last_ping.as_deref(), Some("finished"));
    assert_eq!(events.state(), ReadyState::Closed);
    assert!(events.close_reason().is_some_and(|r| r.is_terminal()));
}

#[wasm_bindgen_test]
async fn a_handler_closing_the_source_stops_delivery_at_once() {
    let _turn = Turn::take().await;
    let (job, seen, holder) = job_source_acting_at_step_2(TypedEventSource::builder, |holder| {
        if let Some(s) = &*holder.borrow() {
            s.close();
        }
    })
    .await;
    wait_for_steps(&seen, 2).await;
    witness_the_rest_of(&job).await;
    assert_eq!(*seen.borrow(), [1, 2], "nothing is delivered after the close");
    let closed = holder.borrow().as_ref().map(|s| (s.state(), s.close_reason()));
    assert_eq!(closed, Some((ReadyState::Closed, Some(CloseReason::Client))));
}

#[wasm_bindgen_test]
async fn deliver_terminal_false_closes_without_delivering_the_terminal_event() {
    let _turn = Turn::take().await;
    let job = start_job(2, 10).await;
    let pings = Log::new();
    let reasons = Log::new();
    let _source = TypedEventSource::builder(server_url(&format!("/jobs/{job}/events")))
        .close_on(TerminalRule::event_with_data("ping", "finished"))
        .deliver_terminal(false)
        .on_text("ping", pings.push_with(|t: String, _| t))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open");
    reasons.wait_len(1, "the terminal close").await;
    let pings = pings.take();
    assert!(!pings.is_empty(), "progress pings arrive");
    assert!(!pings.iter().any(|p| p == "finished"), "the terminal event is not delivered: {pings:?}");
    assert_eq!(reasons.take(), [CloseReason::Terminal { event: "ping".into(), data: "finished".into() }]);
}

/// Makes the page report itself hidden or visible, as a browser does when the tab changes.
fn set_hidden(hidden: bool) {
    let script = format!(
        "Object.defineProperty(document, 'hidden', {{ value: {hidden}, configurable: true }}); \
         document.dispatchEvent(new Event('visibilitychange'));"
    );
    js_sys::eval(&script).expect("visibility change");
}

#[wasm_bindgen_test]
async fn pause_when_hidden_disconnects_and_resumes_after_the_last_id() {
    let _turn = Turn::take().await;
    let user = unique("hidden");
    let before = settled_streams("user").await;
    // A second stream of the same user stays open throughout: the note sent while the page is hidden reaches it live,
    // so the server does not keep that note as an offline notification for the next connection. The paused source
    // gets it back only by resuming after its last id.
    let witnessed = Log::new();
    let witness_open = Flag::new();
    let _witness = TypedEventSource::builder(server_url(&format!("/sse/{user}")))
        .on::<Note>("message", witnessed.push_with(|n: Note, _| n.n))
        .on_open(witness_open.setter())
        .open()
        .expect("open");
    witness_open.wait("the witness open").await;
    let notes = Log::new();
    let states = Log::new();
    let source = TypedEventSource::builder(server_url(&format!("/sse/{user}")))
        .pause_when_hidden(true)
        .on::<Note>("message", notes.push_with(|n: Note, _| n.n))
        .on_state_change(states.push_with_value(|s: ReadyState| s))
        .open()
        .expect("open");
    states.wait_until(|s| s.contains(&ReadyState::Open), "open").await;
    wait_for_streams("user", before + 2, "the server counts both streams").await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "a", "n": 1}}"#).await;
    notes.wait_len(1, "the first note").await;
    set_hidden(true);
    assert_eq!(source.state(), ReadyState::Connecting, "paused while hidden");
    wait_for_streams("user", before + 1, "the server sees the paused stream go").await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "b", "n": 2}}"#).await;
    // The witness has the note: had the paused source a connection, the note would have reached it by now too.
    witnessed.wait_len(2, "the witness's copy of the note sent while hidden").await;
    assert_eq!(witnessed.take(), [1, 2]);
    assert_eq!(open_streams("user").await, before + 1, "no connection while hidden");
    assert_eq!(notes.len(), 1, "nothing arrives while hidden");
    set_hidden(false);
    notes.wait_len(2, "the note sent while hidden, replayed after the last id").await;
    assert_eq!(notes.take(), [1, 2]);
    assert_eq!(source.state(), ReadyState::Open);
    js_sys::eval("delete document.hidden").expect("restore");
}

#[wasm_bindgen_test]
async fn dropping_the_source_inside_its_own_handler_is_safe() {
    let _turn = Turn::take().await;
    let before = settled_streams("job").await;
    // An exception thrown by wasm-bindgen's glue (a closure called after being dropped) would land here.
    js_sys::eval(
        "window.__uncaught = []; window.addEventListener('error', (e) => window.__uncaught.push(String(e.message)));",
    )
    .expect("error hook");
    let reasons = Log::new();
    let on_close = reasons.push_with_ref(|r: &CloseReason| r.clone());
    let (job, seen, _holder) = job_source_acting_at_step_2(
        move |url| TypedEventSource::builder(url).on_close(on_close),
        |holder| {
            // The last owner goes away while its listener is running.
            let source = holder.borrow_mut().take();
            drop(source);
        },
    )
    .await;
    reasons.wait_len(1, "the close reason from the drop").await;
    witness_the_rest_of(&job).await;
    assert_eq!(*seen.borrow(), [1, 2], "nothing is delivered after the drop");
    assert_eq!(reasons.take(), [CloseReason::Client]);
    let uncaught = js_sys::eval("JSON.stringify(window.__uncaught)").ok().and_then(|v| v.as_string());
    assert_eq!(uncaught.as_deref(), Some("[]"), "no uncaught exception");
    wait_for_streams("job", before, "the server sees the stream go").await;
}

type Holder = Rc<RefCell<Option<TypedEventSource>>>;

/// Opens a 5-step job stream (builder from `builder`) whose message handler records each step and runs `act` on the
/// holder of the source itself when step 2 arrives; returns the job id, the steps seen and the holder.
async fn job_source_acting_at_step_2(
    builder: impl FnOnce(String) -> typed_eventsource::TypedEventSourceBuilder,
    act: impl Fn(&Holder) + 'static,
) -> (String, Rc<RefCell<Vec<u32>>>, Holder) {
    let job = start_job(5, 10).await;
    let seen = Rc::new(RefCell::new(Vec::new()));
    let holder: Holder = Rc::new(RefCell::new(None));
    let source = builder(server_url(&format!("/jobs/{job}/events")))
        .on::<Progress>("message", {
            let (seen, holder) = (seen.clone(), holder.clone());
            move |p, _| {
                seen.borrow_mut().push(p.step);
                if p.step == 2 {
                    act(&holder);
                }
            }
        })
        .open()
        .expect("open");
    *holder.borrow_mut() = Some(source);
    (job, seen, holder)
}

/// Waits until `seen` holds `n` steps.
async fn wait_for_steps(seen: &Rc<RefCell<Vec<u32>>>, n: usize) {
    for _ in 0..1000 {
        if seen.borrow().len() >= n {
            return;
        }
        sleep(10).await;
    }
    panic!("timed out waiting for step {n}; seen {:?}", seen.borrow());
}

/// Waits until a second source on job `job` has received every later step and the terminal message: by then the
/// server has sent them all, so a closed source that was still being delivered to would have them too.
async fn witness_the_rest_of(job: &str) {
    let steps = Log::new();
    let reasons = Log::new();
    let _witness = TypedEventSource::builder(server_url(&format!("/jobs/{job}/events")))
        .close_on(TerminalRule::event_with_data("ping", "finished"))
        .on::<Progress>("message", steps.push_with(|p: Progress, _| p.step))
        .on_close(reasons.push_with_ref(|r: &CloseReason| r.clone()))
        .open()
        .expect("open the witness");
    reasons.wait_len(1, "the witness to get the whole job").await;
    assert_eq!(steps.take(), [1, 2, 3, 4, 5], "the witness got every step");
}
