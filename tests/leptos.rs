//! The Leptos hooks in real headless Chromium against the real companion server: a view is mounted into a div with
//! `leptos::mount::mount_to`; it shows the stream's state and count (the tests read the DOM) and keeps the returned
//! signals, which the tests read too. Unmounting is dropping the mount handle, as a Leptos app does.
//!
//! Run like tests/hooks.rs (scripts/test.sh passes the server's URL at compile time as `SSE_SERVER_URL`).
#![cfg(all(target_arch = "wasm32", feature = "leptos-csr"))]

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use leptos::mount::mount_to;
use leptos::prelude::*;
use typed_eventsource::leptos::{use_event_source_typed, use_event_source_with_options, UseEventSource};
#[cfg(feature = "share")]
use typed_eventsource::ShareRole;
use typed_eventsource::{CloseReason, ReadyState, ReconnectPolicy, SourceOptions, TerminalRule, UseEventSourceOptions};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

mod support;
use support::hook_payloads::{open_witness, JobEvent, Note};
use support::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A mounted view of one hook: its signals, every state it rendered, and its div.
struct Mounted<T: 'static> {
    app: Option<Box<dyn Any>>,
    stream: UseEventSource<T>,
    states: Rc<RefCell<Vec<ReadyState>>>,
    root: web_sys::HtmlElement,
}

impl<T: Clone + 'static> Mounted<T> {
    /// Mounts a view calling `hook`, showing "state received".
    fn new(hook: impl FnOnce() -> UseEventSource<T> + 'static) -> Self {
        let document = web_sys::window().and_then(|w| w.document()).expect("a document");
        let root: web_sys::HtmlElement = document.create_element("div").expect("a div").unchecked_into();
        document.body().expect("a body").append_child(&root).expect("appended");
        let slot = Rc::new(RefCell::new(None));
        let states = Rc::new(RefCell::new(Vec::new()));
        let app = {
            let (slot, states) = (slot.clone(), states.clone());
            mount_to(root.clone(), move || {
                let stream = hook();
                *slot.borrow_mut() = Some(stream);
                Effect::new(move |_| {
                    let state = stream.ready_state.get();
                    let mut states = states.borrow_mut();
                    if states.last() != Some(&state) {
                        states.push(state);
                    }
                });
                view! { <p>{move || format!("{} {}", stream.ready_state.get(), stream.received.get())}</p> }
            })
        };
        let stream = slot.borrow_mut().take().expect("the view ran the hook");
        Mounted { app: Some(Box::new(app)), stream, states, root }
    }

    /// Waits until `done` holds of the signals (read untracked, as a test outside the view does).
    async fn wait(&self, what: &str, done: impl Fn(&UseEventSource<T>) -> bool) {
        for _ in 0..1000 {
            if done(&self.stream) {
                return;
            }
            sleep(10).await;
        }
        panic!(
            "timed out waiting for {what}; state {:?}, received {}, error {:?}",
            self.stream.ready_state.get_untracked(),
            self.stream.received.get_untracked(),
            self.stream.error.get_untracked()
        );
    }

    /// Waits until the view shows `text`.
    async fn wait_text(&self, text: &str) {
        for _ in 0..1000 {
            if self.root.text_content().as_deref() == Some(text) {
                return;
            }
            sleep(10).await;
        }
        panic!("timed out waiting for the view to show {text:?}; it shows {:?}", self.root.text_content());
    }

    /// Unmounts the view (drops the mount handle: the owner is cleaned up).
    fn unmount(&mut self) {
        self.app.take();
    }
}

fn job_hook(url: String, capacity: usize) -> impl FnOnce() -> UseEventSource<JobEvent> {
    move || {
        let options = UseEventSourceOptions::from(
            SourceOptions::default()
                .close_on(TerminalRule::event_with_data("ping", "finished"))
                .reconnect(ReconnectPolicy::never()),
        )
        .capacity(capacity);
        use_event_source_with_options::<JobEvent>(url, options)
    }
}

fn is_terminal(s: &UseEventSource<JobEvent>) -> bool {
    s.close_reason.get_untracked().is_some()
}

fn note_texts(s: &UseEventSource<Note>) -> Vec<String> {
    s.messages.get_untracked().iter().map(|m| m.data.text.clone()).collect()
}

#[wasm_bindgen_test]
async fn a_burst_of_1001_events_is_received_whole_and_the_terminal_message_closes_the_stream() {
    let _turn = Turn::take().await;
    let url = finished_job(500).await;
    let mut job = Mounted::new(job_hook(url, 2_000));
    job.wait("the terminal message", is_terminal).await;
    let s = job.stream;
    assert_eq!(s.received.get_untracked(), 1001);
    let messages = s.messages.get_untracked();
    assert_eq!(messages.len(), 1001, "nothing dropped within the capacity");
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m.seq, i as u64, "in order, no gap");
    }
    let steps: Vec<u32> = messages
        .iter()
        .filter_map(|m| match &m.data {
            JobEvent::Progress(p) => Some(p.step),
            JobEvent::Ping(_) => None,
        })
        .collect();
    assert_eq!(steps, (1..=500).collect::<Vec<_>>(), "every progress event, in order");
    assert_eq!(s.last.get_untracked().map(|m| m.data), Some(JobEvent::Ping("finished".into())));
    assert_eq!(
        s.close_reason.get_untracked(),
        Some(CloseReason::Terminal { event: "ping".into(), data: "finished".into() })
    );
    assert_eq!(s.ready_state.get_untracked(), ReadyState::Closed);
    assert!(!s.last_event_id.get_untracked().is_empty());
    job.wait_text("closed 1001").await;
    job.unmount();
}

#[wasm_bindgen_test]
async fn beyond_capacity_the_oldest_are_dropped() {
    let _turn = Turn::take().await;
    let url = finished_job(500).await;
    let mut job = Mounted::new(job_hook(url, 100));
    job.wait("the terminal message", is_terminal).await;
    let seqs: Vec<u64> = job.stream.messages.get_untracked().iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (901..1001).collect::<Vec<_>>(), "the newest 100 kept, in order");
    assert_eq!(job.stream.received.get_untracked(), 1001);
    job.unmount();
}

#[wasm_bindgen_test]
async fn the_view_goes_connecting_open_closed_and_the_terminal_close_reaches_the_server() {
    let _turn = Turn::take().await;
    let baseline = settled_streams("job").await;
    let id = start_job(3, 200).await;
    let mut job = Mounted::new(job_hook(server_url(&format!("/jobs/{id}/events")), 100));
    job.wait("the terminal message", is_terminal).await;
    assert_eq!(*job.states.borrow(), [ReadyState::Connecting, ReadyState::Open, ReadyState::Closed]);
    let statuses: Vec<String> = job
        .stream
        .messages
        .get_untracked()
        .iter()
        .filter_map(|m| match &m.data {
            JobEvent::Progress(p) => Some(format!("{} {}/{}", p.status, p.step, p.steps)),
            JobEvent::Ping(_) => None,
        })
        .collect();
    assert_eq!(statuses, ["READY 1/3", "RUNNING 2/3", "DONE 3/3"]);
    assert!(job.stream.error.get_untracked().is_none(), "no error: {:?}", job.stream.error.get_untracked());
    wait_for_streams("job", baseline, "the server to see the terminal close").await;
    job.wait_text(&format!("closed {}", job.stream.received.get_untracked())).await;
    job.unmount();
}

#[wasm_bindgen_test]
async fn unmounting_closes_the_stream() {
    let _turn = Turn::take().await;
    let user = unique("leptos-unmount");
    let baseline = settled_streams("user").await;
    let url = server_url(&format!("/sse/{user}"));
    let mut notes = Mounted::new(move || use_event_source_typed::<Note>(url));
    notes.wait("open", |s| s.ready_state.get_untracked() == ReadyState::Open).await;
    wait_for_streams("user", baseline + 1, "the server to see the stream").await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "one"}}"#).await;
    notes.wait_text("open 1").await;
    assert_eq!(note_texts(&notes.stream), ["one"]);
    notes.unmount();
    wait_for_streams("user", baseline, "the server to see the stream go after unmount").await;
}

#[wasm_bindgen_test]
async fn close_then_reconnect_resumes_after_the_last_event_id() {
    let _turn = Turn::take().await;
    let user = unique("leptos-close");
    let baseline = settled_streams("user").await;
    // A witness on the same user throughout: the hook gets the note sent while it is closed only by resuming.
    let (_witness, witnessed) = open_witness(&user).await;
    let url = server_url(&format!("/sse/{user}"));
    let mut notes = Mounted::new(move || use_event_source_typed::<Note>(url));
    notes.wait("open", |s| s.ready_state.get_untracked() == ReadyState::Open).await;
    wait_for_streams("user", baseline + 2, "the server to see the hook's stream and the witness").await;
    for text in ["one", "two"] {
        post_json(&format!("/notify/{user}"), &format!(r#"{{"data": {{"text": "{text}"}}}}"#)).await;
    }
    notes.wait("two notes", |s| s.received.get_untracked() == 2).await;
    notes.stream.close();
    notes.wait("closed", |s| s.ready_state.get_untracked() == ReadyState::Closed).await;
    assert_eq!(notes.stream.close_reason.get_untracked(), Some(CloseReason::Client));
    wait_for_streams("user", baseline + 1, "the server to see the close").await;

    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "three"}}"#).await;
    witnessed.wait_len(3, "the witness's copy of the note sent while closed").await;
    notes.stream.reconnect();
    notes.wait("the missed note", |s| s.received.get_untracked() >= 3).await;
    // One stream keeps order: a repeated note would arrive before this one.
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "four"}}"#).await;
    notes.wait("the next note", |s| note_texts(s).iter().any(|t| t == "four")).await;
    assert_eq!(note_texts(&notes.stream), ["one", "two", "three", "four"], "the missed note once, nothing repeated");
    assert!(notes.stream.close_reason.get_untracked().is_none(), "a reconnected stream has no close reason");
    notes.unmount();
    wait_for_streams("user", baseline + 1, "the stream to close on unmount").await;
}

#[wasm_bindgen_test]
async fn a_new_url_signal_value_closes_the_old_stream_and_opens_the_new_one() {
    let _turn = Turn::take().await;
    let (alice, bob) = (unique("leptos-alice"), unique("leptos-bob"));
    let baseline = settled_streams("user").await;
    let url = Rc::new(RefCell::new(None::<RwSignal<String>>));
    let mut notes = {
        let (url, first) = (url.clone(), server_url(&format!("/sse/{alice}")));
        Mounted::new(move || {
            let signal = RwSignal::new(first);
            *url.borrow_mut() = Some(signal);
            use_event_source_typed::<Note>(signal)
        })
    };
    let url = url.borrow_mut().take().expect("the url signal");
    notes.wait("open", |s| s.ready_state.get_untracked() == ReadyState::Open).await;
    post_json(&format!("/notify/{alice}"), r#"{"data": {"text": "for alice"}}"#).await;
    notes.wait("alice's note", |s| s.received.get_untracked() == 1).await;

    url.set(server_url(&format!("/sse/{bob}")));
    notes.wait("bob's stream", |s| s.received.get_untracked() == 0).await;
    wait_for_streams("user", baseline + 1, "alice's stream closed, bob's open").await;
    notes.wait("bob's stream open", |s| s.ready_state.get_untracked() == ReadyState::Open).await;
    post_json(&format!("/notify/{alice}"), r#"{"data": {"text": "alice again"}}"#).await;
    post_json(&format!("/notify/{bob}"), r#"{"data": {"text": "for bob"}}"#).await;
    post_json(&format!("/notify/{bob}"), r#"{"data": {"text": "bob again"}}"#).await;
    notes.wait("bob's notes", |s| note_texts(s).iter().any(|t| t == "bob again")).await;
    assert_eq!(note_texts(&notes.stream), ["for bob", "bob again"], "nothing from alice's stream");
    notes.unmount();
    wait_for_streams("user", baseline, "bob's stream closed on unmount").await;
}

#[cfg(feature = "share")]
#[wasm_bindgen_test]
async fn two_views_sharing_across_tabs_use_one_connection_and_the_follower_goes_on_when_the_leader_unmounts() {
    let _turn = Turn::take().await;
    let user = unique("leptos-shared");
    let baseline = settled_streams("user").await;
    let mount = || {
        let url = server_url(&format!("/sse/{user}"));
        Mounted::new(move || {
            typed_eventsource::leptos::use_event_source_typed_with_options::<Note>(
                url,
                SourceOptions::default().share_across_tabs().into(),
            )
        })
    };
    let mut first = mount();
    first.wait("the first open", |s| s.ready_state.get_untracked() == ReadyState::Open).await;
    let mut second = mount();
    second.wait("the second open", |s| s.ready_state.get_untracked() == ReadyState::Open).await;
    wait_for_streams("user", baseline + 1, "one connection for both views").await;
    assert_eq!(first.stream.share_role(), Some(ShareRole::Leader));
    assert_eq!(second.stream.share_role(), Some(ShareRole::Follower));
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "one"}}"#).await;
    first.wait_text("open 1").await;
    second.wait_text("open 1").await;
    // The leader unmounts: the follower takes over and resumes; it gets what follows once.
    first.unmount();
    second.wait("the take-over", |s| s.share_role() == Some(ShareRole::Leader)).await;
    wait_for_streams("user", baseline + 1, "the second view's own connection").await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "two"}}"#).await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "three"}}"#).await;
    second.wait("the notes after the hand-off", |s| note_texts(s).iter().any(|t| t == "three")).await;
    assert_eq!(note_texts(&second.stream), ["one", "two", "three"]);
    second.unmount();
    wait_for_streams("user", baseline, "no connection once both unmounted").await;
}
