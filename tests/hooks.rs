//! The Yew hooks in real headless Chromium against the real companion server: a component is rendered into a div
//! with `yew::Renderer::with_root`, records the handle of every render, and the tests read those snapshots.
//!
//! Run like tests/browser.rs (scripts/test.sh passes the server's URL at compile time as `SSE_SERVER_URL`).
#![cfg(all(target_arch = "wasm32", feature = "yew"))]

use std::cell::RefCell;
use std::rc::Rc;

use typed_eventsource::yew::{use_event_source_typed, use_event_source_with_options, UseEventSourceHandle};
#[cfg(feature = "share")]
use typed_eventsource::ShareRole;
use typed_eventsource::{
    CloseReason, Error, ReadyState, ReconnectPolicy, SourceOptions, TerminalRule, UseEventSourceOptions,
};
use wasm_bindgen_test::*;
use yew::prelude::*;
use yew::AppHandle;

mod support;
use support::hook_payloads::{open_witness, JobEvent, Note};
use support::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Every handle a probe rendered, newest last.
struct Seen<T>(Rc<RefCell<Vec<UseEventSourceHandle<T>>>>);

impl<T> Clone for Seen<T> {
    fn clone(&self) -> Self {
        Seen(self.0.clone())
    }
}

impl<T> PartialEq for Seen<T> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl<T: Clone + 'static> Seen<T> {
    fn new() -> Self {
        Seen(Rc::new(RefCell::new(Vec::new())))
    }

    fn latest(&self) -> UseEventSourceHandle<T> {
        let latest = self.0.borrow().last().cloned();
        latest.expect("the probe rendered")
    }

    /// The distinct states rendered, in order.
    fn states(&self) -> Vec<ReadyState> {
        let mut states: Vec<ReadyState> = Vec::new();
        for h in self.0.borrow().iter() {
            if states.last() != Some(&h.state()) {
                states.push(h.state());
            }
        }
        states
    }

    /// Waits until the latest render satisfies `done`.
    async fn wait(&self, what: &str, done: impl Fn(&UseEventSourceHandle<T>) -> bool) -> UseEventSourceHandle<T> {
        for _ in 0..1000 {
            if let Some(h) = self.0.borrow().last() {
                if done(h) {
                    return h.clone();
                }
            }
            sleep(10).await;
        }
        panic!("timed out waiting for {what}; latest render: {:?}", self.0.borrow().last());
    }
}

#[derive(Properties, PartialEq)]
struct JobProbeProps {
    url: String,
    capacity: usize,
    seen: Seen<JobEvent>,
}

/// The job stream as one enum, closing itself on `ping`/`finished`.
#[component]
fn JobProbe(props: &JobProbeProps) -> Html {
    let options = UseEventSourceOptions::from(
        SourceOptions::default()
            .close_on(TerminalRule::event_with_data("ping", "finished"))
            .reconnect(ReconnectPolicy::never()),
    )
    .capacity(props.capacity);
    let job = use_event_source_with_options::<JobEvent>(props.url.clone(), options);
    props.seen.0.borrow_mut().push(job.clone());
    html! { <p>{ format!("{} {}", job.state(), job.messages().len()) }</p> }
}

#[derive(Properties, PartialEq)]
struct NoteProbeProps {
    url: String,
    seen: Seen<Note>,
}

/// A user's notifications as one struct type.
#[component]
fn NoteProbe(props: &NoteProbeProps) -> Html {
    let notes = use_event_source_typed::<Note>(props.url.clone());
    props.seen.0.borrow_mut().push(notes.clone());
    html! { <p>{ format!("{} {}", notes.state(), notes.messages().len()) }</p> }
}

/// A user's notifications, shared across tabs (two probes in one page share as two tabs would).
#[cfg(feature = "share")]
#[component]
fn SharedNoteProbe(props: &NoteProbeProps) -> Html {
    let notes = typed_eventsource::yew::use_event_source_typed_with_options::<Note>(
        props.url.clone(),
        SourceOptions::default().share_across_tabs().into(),
    );
    props.seen.0.borrow_mut().push(notes.clone());
    html! { <p>{ format!("{} {}", notes.state(), notes.messages().len()) }</p> }
}

fn root() -> web_sys::Element {
    let document = web_sys::window().and_then(|w| w.document()).expect("a document");
    let div = document.create_element("div").expect("a div");
    document.body().expect("a body").append_child(&div).expect("appended");
    div
}

fn mount_job(url: String, capacity: usize) -> (AppHandle<JobProbe>, Seen<JobEvent>) {
    let seen = Seen::new();
    let props = JobProbeProps { url, capacity, seen: seen.clone() };
    (yew::Renderer::<JobProbe>::with_root_and_props(root(), props).render(), seen)
}

fn mount_notes(user: &str) -> (AppHandle<NoteProbe>, Seen<Note>) {
    let seen = Seen::new();
    let props = NoteProbeProps { url: server_url(&format!("/sse/{user}")), seen: seen.clone() };
    (yew::Renderer::<NoteProbe>::with_root_and_props(root(), props).render(), seen)
}

fn is_terminal(h: &UseEventSourceHandle<JobEvent>) -> bool {
    h.close_reason().is_some()
}

#[wasm_bindgen_test]
async fn a_burst_of_1001_events_within_capacity_loses_none() {
    let _turn = Turn::take().await;
    let url = finished_job(500).await;
    let (app, seen) = mount_job(url, 2_000);
    let job = seen.wait("the terminal message", is_terminal).await;
    assert_eq!(job.received(), 1001);
    assert_eq!(job.messages().len(), 1001, "nothing dropped within the capacity");
    for (i, m) in job.messages().iter().enumerate() {
        assert_eq!(m.seq, i as u64, "in order, no gap");
    }
    let steps: Vec<u32> = job
        .messages()
        .iter()
        .filter_map(|m| match &m.data {
            JobEvent::Progress(p) => Some(p.step),
            JobEvent::Ping(_) => None,
        })
        .collect();
    assert_eq!(steps, (1..=500).collect::<Vec<_>>(), "every progress event, in order");
    assert_eq!(job.last().map(|m| &m.data), Some(&JobEvent::Ping("finished".into())));
    assert_eq!(job.close_reason(), Some(&CloseReason::Terminal { event: "ping".into(), data: "finished".into() }));
    assert_eq!(job.state(), ReadyState::Closed);
    assert!(!job.last_event_id().is_empty());
    app.destroy();
}

#[wasm_bindgen_test]
async fn beyond_capacity_the_oldest_are_dropped() {
    let _turn = Turn::take().await;
    let url = finished_job(500).await;
    let (app, seen) = mount_job(url, 100);
    let job = seen.wait("the terminal message", is_terminal).await;
    assert_eq!(job.received(), 1001);
    assert_eq!(job.messages().len(), 100);
    let seqs: Vec<u64> = job.messages().iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (901..1001).collect::<Vec<_>>(), "the newest 100 kept, in order");
    assert_eq!(job.last().map(|m| &m.data), Some(&JobEvent::Ping("finished".into())));
    app.destroy();
}

#[wasm_bindgen_test]
async fn states_go_connecting_open_closed_and_the_terminal_reason_is_kept() {
    let _turn = Turn::take().await;
    let baseline = settled_streams("job").await;
    let id = start_job(3, 200).await;
    let (app, seen) = mount_job(server_url(&format!("/jobs/{id}/events")), 100);
    seen.wait("the first render", |_| true).await;
    assert_eq!(seen.states()[0], ReadyState::Connecting, "first render: connecting");
    seen.wait("open", |h| h.state() == ReadyState::Open).await;
    assert!(seen.latest().close_reason().is_none());
    let job = seen.wait("the terminal message", is_terminal).await;
    assert_eq!(seen.states(), [ReadyState::Connecting, ReadyState::Open, ReadyState::Closed]);
    assert_eq!(job.close_reason(), Some(&CloseReason::Terminal { event: "ping".into(), data: "finished".into() }));
    let statuses: Vec<String> = job
        .messages()
        .iter()
        .filter_map(|m| match &m.data {
            JobEvent::Progress(p) => Some(format!("{} {}/{}", p.status, p.step, p.steps)),
            JobEvent::Ping(_) => None,
        })
        .collect();
    assert_eq!(statuses, ["READY 1/3", "RUNNING 2/3", "DONE 3/3"]);
    assert!(job.error().is_none(), "no error: {:?}", job.error());
    wait_for_streams("job", baseline, "the server to see the terminal close").await;
    app.destroy();
}

#[wasm_bindgen_test]
async fn close_then_reconnect_resumes_after_the_last_event_id() {
    let _turn = Turn::take().await;
    let user = unique("hook-close");
    let baseline = settled_streams("user").await;
    // A witness on the same user throughout: the hook gets the note sent while it is closed only by resuming.
    let (_witness, witnessed) = open_witness(&user).await;
    let (app, seen) = mount_notes(&user);
    seen.wait("open", |h| h.state() == ReadyState::Open).await;
    wait_for_streams("user", baseline + 2, "the server to see the hook's stream and the witness").await;
    for text in ["one", "two"] {
        post_json(&format!("/notify/{user}"), &format!(r#"{{"data": {{"text": "{text}"}}}}"#)).await;
    }
    seen.wait("two notes", |h| h.messages().len() == 2).await.close();
    let closed = seen.wait("closed", |h| h.state() == ReadyState::Closed).await;
    assert_eq!(closed.close_reason(), Some(&CloseReason::Client));
    wait_for_streams("user", baseline + 1, "the server to see the close").await;

    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "three"}}"#).await;
    witnessed.wait_len(3, "the witness's copy of the note sent while closed").await;
    closed.reconnect();
    seen.wait("open again", |h| h.state() == ReadyState::Open).await;
    let notes = seen.wait("the missed note", |h| h.messages().len() >= 3).await;
    // One stream keeps order: a repeated note would arrive before this one.
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "four"}}"#).await;
    seen.wait("the next note", |h| h.messages().iter().any(|m| m.data.text == "four")).await;
    let texts: Vec<String> = seen.latest().messages().iter().map(|m| m.data.text.clone()).collect();
    assert_eq!(texts, ["one", "two", "three", "four"], "the missed note once, nothing repeated");
    assert!(notes.close_reason().is_none(), "a reconnected stream has no close reason");
    app.destroy();
    wait_for_streams("user", baseline + 1, "the stream to close on unmount").await;
}

#[wasm_bindgen_test]
async fn unmounting_closes_the_stream() {
    let _turn = Turn::take().await;
    let user = unique("hook-unmount");
    let baseline = settled_streams("user").await;
    let (app, seen) = mount_notes(&user);
    seen.wait("open", |h| h.state() == ReadyState::Open).await;
    wait_for_streams("user", baseline + 1, "the server to see the stream").await;
    app.destroy();
    wait_for_streams("user", baseline, "the server to see the stream go after unmount").await;
}

#[wasm_bindgen_test]
async fn a_url_change_closes_the_old_stream_and_opens_the_new_one() {
    let _turn = Turn::take().await;
    let (alice, bob) = (unique("hook-alice"), unique("hook-bob"));
    let baseline = settled_streams("user").await;
    let (mut app, seen) = mount_notes(&alice);
    seen.wait("open", |h| h.state() == ReadyState::Open).await;
    post_json(&format!("/notify/{alice}"), r#"{"data": {"text": "for alice"}}"#).await;
    seen.wait("alice's note", |h| h.messages().len() == 1).await;

    app.update(NoteProbeProps { url: server_url(&format!("/sse/{bob}")), seen: seen.clone() });
    seen.wait("bob's stream", |h| h.url().ends_with(&bob) && h.state() == ReadyState::Open).await;
    assert!(seen.latest().messages().is_empty(), "a new URL starts a new history");
    wait_for_streams("user", baseline + 1, "alice's stream closed, bob's open").await;
    post_json(&format!("/notify/{alice}"), r#"{"data": {"text": "alice again"}}"#).await;
    post_json(&format!("/notify/{bob}"), r#"{"data": {"text": "for bob"}}"#).await;
    post_json(&format!("/notify/{bob}"), r#"{"data": {"text": "bob again"}}"#).await;
    seen.wait("bob's notes", |h| h.messages().iter().any(|m| m.data.text == "bob again")).await;
    let texts: Vec<String> = seen.latest().messages().iter().map(|m| m.data.text.clone()).collect();
    assert_eq!(texts, ["for bob", "bob again"], "nothing from alice's stream, which the server saw close");
    app.destroy();
    wait_for_streams("user", baseline, "bob's stream closed on unmount").await;
}

#[wasm_bindgen_test]
async fn data_that_does_not_decode_is_the_handle_error() {
    let _turn = Turn::take().await;
    let user = unique("hook-decode");
    let baseline = settled_streams("user").await;
    let (app, seen) = mount_notes(&user);
    seen.wait("open", |h| h.state() == ReadyState::Open).await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"wrong": 1}}"#).await;
    let h = seen.wait("a decode error", |h| h.error().is_some()).await;
    match h.error() {
        Some(Error::Decode { event, data, .. }) => {
            assert_eq!(event, "message");
            assert_eq!(data, r#"{"wrong":1}"#);
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert!(h.messages().is_empty());
    assert_eq!(h.state(), ReadyState::Open, "a decode error does not close the stream");
    // The stream goes on: a later note arrives on it.
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "after"}}"#).await;
    let h = seen.wait("the note after the bad one", |h| !h.messages().is_empty()).await;
    let texts: Vec<String> = h.messages().iter().map(|m| m.data.text.clone()).collect();
    assert_eq!(texts, ["after"]);
    app.destroy();
    wait_for_streams("user", baseline, "the stream to close on unmount").await;
}

#[derive(Properties, PartialEq)]
struct ResumeProbeProps {
    url: String,
    last_event_id: String,
    seen: Seen<String>,
}

/// A text stream resuming after a given id, closing on `done`.
#[component]
fn ResumeProbe(props: &ResumeProbeProps) -> Html {
    let options = SourceOptions::default()
        .last_event_id(props.last_event_id.clone())
        .close_on(TerminalRule::event("done"))
        .deliver_terminal(false);
    let stream = typed_eventsource::yew::use_event_source_text_with_options(props.url.clone(), options.into());
    props.seen.0.borrow_mut().push(stream.clone());
    html! { <p>{ format!("{} {}", stream.state(), stream.messages().len()) }</p> }
}

fn mount_resume(url: String, last_event_id: &str) -> (AppHandle<ResumeProbe>, Seen<String>) {
    let seen = Seen::new();
    let props = ResumeProbeProps { url, last_event_id: last_event_id.to_owned(), seen: seen.clone() };
    (yew::Renderer::<ResumeProbe>::with_root_and_props(root(), props).render(), seen)
}

#[wasm_bindgen_test]
async fn the_handle_exposes_the_last_gap_and_where_it_happened() {
    let _turn = Turn::take().await;
    let (app, seen) = mount_resume(server_url("/subscribe"), "deadbeefdeadbeef-9");
    let h = seen.wait("the gap", |h| h.last_gap().is_some()).await;
    let gap = h.last_gap().expect("a gap");
    assert_eq!(gap.requested.as_deref(), Some("deadbeefdeadbeef-9"));
    assert_eq!(gap.reason.as_deref(), Some("other-epoch"));
    assert_eq!(h.gap_seq(), 0, "no message came before the gap");
    assert!(h.messages().iter().all(|m| m.meta.event == "message"), "the gap is not a message");
    h.close();
    let closed = seen.wait("closed", |h| h.close_reason().is_some()).await;
    assert_eq!(closed.state(), ReadyState::Closed, "the browser's readyState after the handle's close");
    assert_eq!(closed.last_gap(), Some(gap), "the gap stays after the close");
    app.destroy();
}

#[wasm_bindgen_test]
async fn the_handle_drops_replayed_duplicates_and_counts_them() {
    let _turn = Turn::take().await;
    let (app, seen) = mount_resume(server_url("/fixtures/overlap"), "");
    let h = seen.wait("the terminal event", |h| h.close_reason().is_some()).await;
    let ids: Vec<&str> = h.messages().iter().map(|m| m.meta.last_event_id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    assert_eq!(h.duplicates_dropped(), 3);
    assert_eq!(h.state(), ReadyState::Closed);
    assert!(h.last_gap().is_none(), "no gap from a server that sends none");
    app.destroy();
}

#[cfg(feature = "share")]
#[wasm_bindgen_test]
async fn two_hooks_sharing_across_tabs_use_one_connection_and_the_follower_goes_on_when_the_leader_unmounts() {
    let _turn = Turn::take().await;
    let user = unique("hook-shared");
    let baseline = settled_streams("user").await;
    let mount = || {
        let seen = Seen::new();
        let props = NoteProbeProps { url: server_url(&format!("/sse/{user}")), seen: seen.clone() };
        (yew::Renderer::<SharedNoteProbe>::with_root_and_props(root(), props).render(), seen)
    };
    let (first, first_seen) = mount();
    first_seen.wait("the first open", |h| h.state() == ReadyState::Open).await;
    let (second, second_seen) = mount();
    second_seen.wait("the second open", |h| h.state() == ReadyState::Open).await;
    wait_for_streams("user", baseline + 1, "one connection for both hooks").await;
    assert_eq!(first_seen.latest().share_role(), Some(ShareRole::Leader));
    assert_eq!(second_seen.latest().share_role(), Some(ShareRole::Follower));
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "one"}}"#).await;
    first_seen.wait("the note in the first", |h| h.messages().len() == 1).await;
    second_seen.wait("the note in the second", |h| h.messages().len() == 1).await;
    // The leader unmounts: the follower takes over and resumes; it gets what follows once.
    first.destroy();
    for _ in 0..200 {
        if second_seen.latest().share_role() == Some(ShareRole::Leader) {
            break;
        }
        sleep(25).await;
    }
    assert_eq!(second_seen.latest().share_role(), Some(ShareRole::Leader), "the second hook took over");
    wait_for_streams("user", baseline + 1, "the second hook's own connection").await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "two"}}"#).await;
    second_seen.wait("the note after the hand-off", |h| h.messages().len() >= 2).await;
    // One stream keeps order: a repeated note would arrive before this one.
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "three"}}"#).await;
    second_seen.wait("the next note", |h| h.messages().iter().any(|m| m.data.text == "three")).await;
    let texts: Vec<String> = second_seen.latest().messages().iter().map(|m| m.data.text.clone()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    second.destroy();
    wait_for_streams("user", baseline, "no connection once both unmounted").await;
}
