//! A stream that goes silent is noticed and resumed (issue 21), in headless Chromium against the real server: a dev
//! server with 1 s heartbeats (`SSE_QUICK_URL`) and, in front of it, a TCP proxy that silences the connections it
//! holds without closing them (tests/support/blackhole.mjs; `SSE_BLACKHOLE_URL`). Offline/online (CDP network
//! emulation) is in tests/e2e/liveness.mjs; the watchdog's timing (sleep, freeze, resume) in `src/liveness.rs`.
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use typed_eventsource::TypedEventSourceBuilder;
use typed_eventsource::{Error, ErrorKind, EventMeta, ReadyState, ReconnectPolicy, TypedEventSource};
use wasm_bindgen_test::*;

mod support;
use support::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The timeout of these tests: three heartbeats of the quick server.
const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct Post {
    text: String,
}

async fn publish(text: &str) {
    let status = post_to(&quick_url("/update"), &format!(r#"{{"text": "{text}"}}"#), &[]).await;
    assert_eq!(status, 200, "POST /update");
}

/// Re-opens quickly, so that a test waits for the timeout, not for the backoff.
fn quick_policy() -> ReconnectPolicy {
    ReconnectPolicy::default().initial_delay(Duration::from_millis(200)).jitter(0.0)
}

async fn wait_open(sources: &[&TypedEventSource], what: &str) {
    for _ in 0..400 {
        if sources.iter().all(|s| s.state() == ReadyState::Open) {
            return;
        }
        sleep(25).await;
    }
    panic!("{what}: not open: {:?}", sources.iter().map(|s| s.state()).collect::<Vec<_>>());
}

/// What one source saw: message texts and error kinds.
struct Seen {
    texts: Log<String>,
    errors: Log<ErrorKind>,
}

fn watched(builder: TypedEventSourceBuilder) -> (TypedEventSourceBuilder, Seen) {
    let seen = Seen { texts: Log::new(), errors: Log::new() };
    let builder = builder
        .on::<Post>("message", seen.texts.push_with(|p: Post, _: EventMeta| p.text))
        .on_error(seen.errors.push_with_ref(|e: &Error| e.kind()));
    (builder, seen)
}

/// Sources through the proxy (sharing or not): after the proxy goes silent, the events published meanwhile arrive once,
/// in order, after one heartbeat-timeout error in the tab that holds the connection; the source re-opened exactly one
/// connection; live delivery goes on.
async fn recovers_after_silence(builders: Vec<TypedEventSourceBuilder>) {
    let (sources, seen): (Vec<_>, Vec<_>) = builders
        .into_iter()
        .map(|b| {
            let (b, seen) = watched(b.heartbeat_timeout(TIMEOUT).reconnect(quick_policy()));
            (b.open().expect("open"), seen)
        })
        .unzip();
    let refs: Vec<&TypedEventSource> = sources.iter().collect();
    wait_open(&refs, "before the silence").await;
    let first = unique("before-silence");
    publish(&first).await;
    for s in &seen {
        s.texts.wait_len(1, "the event before the silence").await;
    }
    let accepted = proxy_stats().await.accepted;
    assert!(silence_proxy().await >= 1, "the proxy held the stream's connection");
    let lost = [unique("during-silence"), unique("during-silence")];
    for text in &lost {
        publish(text).await;
    }
    // Bounded by the wait (10 s): timeout 3 s + re-open 0.2 s + replay.
    for s in &seen {
        s.texts.wait_len(3, "the events published while the connection was silent").await;
    }
    let after = unique("after-recovery");
    publish(&after).await;
    for s in &seen {
        s.texts.wait_len(4, "live delivery after the recovery").await;
    }
    let expected = vec![first, lost[0].clone(), lost[1].clone(), after];
    let mut timeouts = 0;
    for (s, source) in seen.iter().zip(&sources) {
        assert_eq!(s.texts.take(), expected, "each event once, in order");
        assert_eq!(source.duplicates_dropped(), 0, "resumed after the last id: nothing replayed twice");
        timeouts += s.errors.take().iter().filter(|k| **k == ErrorKind::HeartbeatTimeout).count();
    }
    assert_eq!(timeouts, 1, "the silence is reported once, by the tab that holds the connection");
    assert_eq!(proxy_stats().await.accepted, accepted + 1, "one new connection, whatever the number of sources");
}

#[wasm_bindgen_test]
async fn a_silent_eventsource_stream_is_dropped_and_resumed_without_loss() {
    let _turn = Turn::take().await;
    recovers_after_silence(vec![TypedEventSource::builder(blackhole_url("/subscribe"))]).await;
}

#[cfg(feature = "fetch")]
#[wasm_bindgen_test]
async fn a_silent_fetch_stream_is_dropped_and_resumed_without_loss() {
    let _turn = Turn::take().await;
    let builder =
        TypedEventSource::builder(blackhole_url("/subscribe")).transport(typed_eventsource::FetchRequest::new());
    recovers_after_silence(vec![builder]).await;
}

#[cfg(feature = "share")]
#[wasm_bindgen_test]
async fn a_silent_shared_stream_is_recovered_by_the_leader_for_every_tab() {
    let _turn = Turn::take().await;
    let key = unique("liveness");
    let builders = (0..3).map(|_| TypedEventSource::builder(blackhole_url("/subscribe")).share(key.clone())).collect();
    recovers_after_silence(builders).await;
}

/// With 1 s heartbeats and a 3 s timeout, a stream that gets nothing else stays up for several timeouts, on both
/// transports; the heartbeats reach no handler (not even one for their own type) and leave the last event id alone.
#[wasm_bindgen_test]
async fn a_quiet_stream_with_heartbeats_never_times_out() {
    let _turn = Turn::take().await;
    #[cfg_attr(not(feature = "fetch"), allow(unused_mut))]
    let mut builders = vec![TypedEventSource::builder(quick_url("/subscribe"))];
    #[cfg(feature = "fetch")]
    builders.push(TypedEventSource::builder(quick_url("/subscribe")).transport(typed_eventsource::FetchRequest::new()));
    let mut all = Vec::new();
    for builder in builders {
        let (heartbeats, opens) = (Log::new(), Log::<()>::new());
        let (builder, seen) = watched(builder.heartbeat_timeout(TIMEOUT));
        let source = builder
            .on_text("heartbeat", heartbeats.push_with(|t: String, _: EventMeta| t))
            .on_open({
                let opens = opens.0.clone();
                move || opens.borrow_mut().push(())
            })
            .open()
            .expect("open");
        all.push((source, seen, heartbeats, opens));
    }
    let refs: Vec<&TypedEventSource> = all.iter().map(|(s, ..)| s).collect();
    wait_open(&refs, "the quiet streams").await;
    let seed = unique("seed");
    publish(&seed).await;
    for (_, seen, ..) in &all {
        seen.texts.wait_len(1, "the seed event").await;
    }
    let ids: Vec<String> = all.iter().map(|(s, ..)| s.last_event_id()).collect();
    sleep(10_000).await; // three timeouts and a bit: ten heartbeats
    for ((source, seen, heartbeats, opens), id) in all.iter().zip(ids) {
        assert_eq!(seen.errors.take(), vec![], "no heartbeat timeout on a stream that gets heartbeats");
        assert_eq!(opens.len(), 1, "never re-opened");
        assert_eq!(source.state(), ReadyState::Open);
        assert_eq!(heartbeats.take(), Vec::<String>::new(), "heartbeats are never delivered");
        assert_eq!(seen.texts.take(), vec![seed.clone()]);
        assert_eq!(source.last_event_id(), id, "heartbeats have no id and move none");
    }
}

/// `heartbeat_timeout(Duration::ZERO)` turns the watchdog off: next to a source with a 2 s timeout that the same
/// silence makes re-open, it stays as it is.
#[wasm_bindgen_test]
async fn a_zero_heartbeat_timeout_leaves_a_silent_stream_alone() {
    let _turn = Turn::take().await;
    let (off, off_seen) =
        watched(TypedEventSource::builder(blackhole_url("/subscribe")).heartbeat_timeout(Duration::ZERO));
    let off = off.open().expect("open");
    let (on, on_seen) = watched(
        TypedEventSource::builder(blackhole_url("/subscribe"))
            .heartbeat_timeout(Duration::from_secs(2))
            .reconnect(quick_policy()),
    );
    let on = on.open().expect("open");
    wait_open(&[&off, &on], "both sources").await;
    let accepted = proxy_stats().await.accepted;
    assert_eq!(silence_proxy().await, 2, "both connections silenced");
    on_seen.errors.wait_until(|e| e.contains(&ErrorKind::HeartbeatTimeout), "the 2 s source's timeout").await;
    sleep(1_500).await;
    assert_eq!(off_seen.errors.take(), vec![], "no timeout with heartbeat_timeout(0)");
    assert_eq!(off.state(), ReadyState::Open, "still the silent connection");
    assert_eq!(proxy_stats().await.accepted, accepted + 1, "only the other source re-opened");
    assert!(off_seen.texts.take().is_empty());
}

#[cfg(feature = "js")]
mod js {
    use js_sys::{Object, Reflect, JSON};
    use typed_eventsource::JsTypedEventSource;
    use wasm_bindgen::JsValue;
    use wasm_bindgen_test::*;

    use super::support::*;

    fn message(options: &JsValue) -> String {
        let err = JsTypedEventSource::new(quick_url("/subscribe"), options.clone()).expect_err("an options error");
        Reflect::get(&JsValue::from(err), &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_default()
    }

    fn with_timeout(value: JsValue) -> JsValue {
        let options = Object::new();
        Reflect::set(&options, &JsValue::from_str("heartbeatTimeout"), &value).expect("set");
        options.into()
    }

    #[wasm_bindgen_test]
    fn bad_heartbeat_timeouts_are_options_errors_naming_the_key() {
        for (value, expected) in [
            (JsValue::from(-1), "`heartbeatTimeout` must be a number ≥ 0"),
            (JsValue::from(f64::NAN), "`heartbeatTimeout` must be a number ≥ 0"),
            (JsValue::from(f64::INFINITY), "`heartbeatTimeout` must be a number ≥ 0"),
            (JsValue::from_str("45000"), "`heartbeatTimeout` must be a number ≥ 0"),
            (JsValue::TRUE, "`heartbeatTimeout` must be a number ≥ 0"),
            (JsValue::from(500), "`heartbeatTimeout` must be 0 (off) or at least 1000 (milliseconds)"),
        ] {
            let what = JSON::stringify(&value).map(String::from).unwrap_or_else(|_| format!("{value:?}"));
            let message = message(&with_timeout(value));
            assert!(message.contains(expected), "{what}: {message}");
        }
        for ok in [0, 1000, 45000] {
            let es = JsTypedEventSource::new(quick_url("/subscribe"), with_timeout(JsValue::from(ok)));
            assert!(es.is_ok(), "{ok} is accepted");
            es.expect("open").close();
        }
    }
}

/// The Yew hook: heartbeats never enter the history or the count (not even with `heartbeat` among the hook's event
/// types), and the handle shows when the stream went silent and when it recovered.
#[cfg(feature = "yew")]
mod hook {
    use std::cell::RefCell;
    use std::rc::Rc;

    use typed_eventsource::yew::{use_event_source_text_with_options, UseEventSourceHandle};
    use typed_eventsource::{Error, SourceOptions, UseEventSourceOptions};
    use wasm_bindgen_test::*;
    use yew::prelude::*;

    use super::support::*;
    use super::{publish, quick_policy, TIMEOUT};

    #[derive(Clone, Properties)]
    struct ProbeProps {
        seen: Rc<RefCell<Option<UseEventSourceHandle<String>>>>,
    }

    impl PartialEq for ProbeProps {
        fn eq(&self, other: &Self) -> bool {
            Rc::ptr_eq(&self.seen, &other.seen)
        }
    }

    #[component]
    fn Probe(props: &ProbeProps) -> Html {
        let options =
            UseEventSourceOptions::from(SourceOptions::default().heartbeat_timeout(TIMEOUT).reconnect(quick_policy()))
                .events(["message", "heartbeat"]);
        let stream = use_event_source_text_with_options(blackhole_url("/subscribe"), options);
        *props.seen.borrow_mut() = Some(stream.clone());
        html! { <p>{ stream.received() }</p> }
    }

    async fn wait(
        seen: &Rc<RefCell<Option<UseEventSourceHandle<String>>>>,
        what: &str,
        done: impl Fn(&UseEventSourceHandle<String>) -> bool,
    ) -> UseEventSourceHandle<String> {
        for _ in 0..1000 {
            if let Some(h) = seen.borrow().as_ref().filter(|h| done(h)) {
                return h.clone();
            }
            sleep(10).await;
        }
        panic!("timed out waiting for {what}: {:?}", seen.borrow());
    }

    #[wasm_bindgen_test]
    async fn heartbeats_stay_out_of_the_history_and_the_handle_shows_the_outage() {
        let _turn = Turn::take().await;
        let document = web_sys::window().and_then(|w| w.document()).expect("a document");
        let root = document.create_element("div").expect("a div");
        document.body().expect("a body").append_child(&root).expect("appended");
        let seen = Rc::new(RefCell::new(None));
        let app = yew::Renderer::<Probe>::with_root_and_props(root, ProbeProps { seen: seen.clone() }).render();
        wait(&seen, "open", |h| h.state() == typed_eventsource::ReadyState::Open).await;
        let seed = unique("seed");
        publish(&seed).await;
        wait(&seen, "the seed event", |h| h.received() == 1).await;
        sleep(2_500).await; // two heartbeats of the quick server
        let before = wait(&seen, "a render", |_| true).await;
        assert_eq!(before.received(), 1, "heartbeats are not counted");
        assert!(before.messages().iter().all(|m| m.meta.event == "message"), "no heartbeat in the history");
        assert_eq!(before.last_outage(), None);
        silence_proxy().await;
        let after = wait(&seen, "the recovery", |h| h.last_outage().is_some_and(|o| o.recovered_at.is_some())).await;
        let outage = after.last_outage().expect("an outage");
        assert!(matches!(outage.cause, Error::HeartbeatTimeout { timeout } if timeout == TIMEOUT), "{outage:?}");
        assert!(outage.recovered_at.unwrap_or_default() >= outage.since);
        assert_eq!(after.received(), 1);
        app.destroy();
    }
}
