//! The Dioxus hooks in real headless Chromium against the real companion server: an app is launched into a div with
//! dioxus-web; its root shows, while a `mounted` signal is true, a component that calls the hook and shows the
//! stream's state and count (the tests read the DOM). The tests keep the returned signals and read them too.
//! Unmounting is the root no longer rendering that component, as a Dioxus app unmounts one.
//!
//! Run like tests/hooks.rs (scripts/test.sh passes the server's URL at compile time as `SSE_SERVER_URL`).
#![cfg(all(target_arch = "wasm32", feature = "dioxus-web"))]

use std::cell::RefCell;
use std::rc::Rc;

use dioxus::core::{DynamicNode, Properties};
use dioxus::prelude::*;
use typed_eventsource::dioxus::{use_event_source_typed, use_event_source_with_options, UseEventSource};
#[cfg(feature = "share")]
use typed_eventsource::ShareRole;
use typed_eventsource::{CloseReason, ReadyState, ReconnectPolicy, SourceOptions, TerminalRule, UseEventSourceOptions};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

mod support;
use support::hook_payloads::{open_witness, JobEvent, Note};
use support::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A hook, the signals it returned and every state its component rendered: the props of the app's root and of the
/// component that calls the hook.
struct Probe<T: 'static> {
    hook: Rc<dyn Fn() -> UseEventSource<T>>,
    stream: Rc<RefCell<Option<UseEventSource<T>>>>,
    states: Rc<RefCell<Vec<ReadyState>>>,
    mounted: Rc<RefCell<Option<Signal<bool>>>>,
}

impl<T> Clone for Probe<T> {
    fn clone(&self) -> Self {
        Probe {
            hook: self.hook.clone(),
            stream: self.stream.clone(),
            states: self.states.clone(),
            mounted: self.mounted.clone(),
        }
    }
}

/// The same probe (props compare by identity).
impl<T> PartialEq for Probe<T> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.stream, &other.stream)
    }
}

/// Props built by the test, not by `rsx!`'s builder.
impl<T: 'static> Properties for Probe<T> {
    type Builder = ();
    fn builder() -> Self::Builder {}
    fn memoize(&mut self, other: &Self) -> bool {
        self == other
    }
}

/// The app's root: the hook's component while `mounted`.
fn app_root<T: Clone + 'static>(probe: Probe<T>) -> Element {
    let mounted = use_signal(|| true);
    *probe.mounted.borrow_mut() = Some(mounted);
    if mounted() {
        let viewer = DynamicNode::Component(probe.into_vcomponent(hook_view::<T>));
        rsx! { {viewer} }
    } else {
        rsx! { p { "unmounted" } }
    }
}

/// Calls the hook; shows "state received".
fn hook_view<T: Clone + 'static>(probe: Probe<T>) -> Element {
    let stream = (probe.hook)();
    *probe.stream.borrow_mut() = Some(stream);
    let state = (stream.ready_state)();
    {
        let mut states = probe.states.borrow_mut();
        if states.last() != Some(&state) {
            states.push(state);
        }
    }
    rsx! { p { "{state} {stream.received}" } }
}

/// A launched app showing one hook's component, and its div.
struct Mounted<T: 'static> {
    probe: Probe<T>,
    stream: UseEventSource<T>,
    root: web_sys::HtmlElement,
}

impl<T: Clone + 'static> Mounted<T> {
    /// Launches an app calling `hook`, and waits for its first render.
    async fn new(hook: impl Fn() -> UseEventSource<T> + 'static) -> Self {
        let document = web_sys::window().and_then(|w| w.document()).expect("a document");
        let root: web_sys::HtmlElement = document.create_element("div").expect("a div").unchecked_into();
        document.body().expect("a body").append_child(&root).expect("appended");
        let probe = Probe { hook: Rc::new(hook), stream: Rc::default(), states: Rc::default(), mounted: Rc::default() };
        let app = VirtualDom::new_with_props(app_root::<T>, probe.clone());
        dioxus::web::launch::launch_virtual_dom(app, dioxus::web::Config::new().rootelement(root.clone().into()));
        for _ in 0..1000 {
            if let Some(stream) = *probe.stream.borrow() {
                return Mounted { probe: probe.clone(), stream, root };
            }
            sleep(10).await;
        }
        panic!("the app did not render the hook's component");
    }

    fn states(&self) -> Vec<ReadyState> {
        self.probe.states.borrow().clone()
    }

    /// Waits until `done` holds of the signals (read from outside the app, as a test does).
    async fn wait(&self, what: &str, done: impl Fn(&UseEventSource<T>) -> bool) {
        for _ in 0..1000 {
            if done(&self.stream) {
                return;
            }
            sleep(10).await;
        }
        panic!(
            "timed out waiting for {what}; state {:?}, received {}, error {:?}",
            (self.stream.ready_state)(),
            (self.stream.received)(),
            (self.stream.error)()
        );
    }

    /// Waits until the app shows `text`.
    async fn wait_text(&self, text: &str) {
        for _ in 0..1000 {
            if self.root.text_content().as_deref() == Some(text) {
                return;
            }
            sleep(10).await;
        }
        panic!("timed out waiting for the app to show {text:?}; it shows {:?}", self.root.text_content());
    }

    /// Unmounts the hook's component (the root stops rendering it) and waits until it is gone.
    async fn unmount(&mut self) {
        let mounted = self.probe.mounted.borrow_mut().take();
        if let Some(mut mounted) = mounted {
            mounted.set(false);
        }
        self.wait_text("unmounted").await;
    }
}

fn job_hook(url: String, capacity: usize) -> impl Fn() -> UseEventSource<JobEvent> {
    move || {
        let options = UseEventSourceOptions::from(
            SourceOptions::default()
                .close_on(TerminalRule::event_with_data("ping", "finished"))
                .reconnect(ReconnectPolicy::never()),
        )
        .capacity(capacity);
        use_event_source_with_options::<JobEvent>(url.clone(), options)
    }
}

fn is_terminal(s: &UseEventSource<JobEvent>) -> bool {
    (s.close_reason)().is_some()
}

fn is_open<T: Clone>(s: &UseEventSource<T>) -> bool {
    (s.ready_state)() == ReadyState::Open
}

fn note_texts(s: &UseEventSource<Note>) -> Vec<String> {
    s.messages.read().iter().map(|m| m.data.text.clone()).collect()
}

#[wasm_bindgen_test]
async fn a_burst_of_1001_events_is_received_whole_and_the_terminal_message_closes_the_stream() {
    let _turn = Turn::take().await;
    let url = finished_job(500).await;
    let mut job = Mounted::new(job_hook(url, 2_000)).await;
    job.wait("the terminal message", is_terminal).await;
    let s = job.stream;
    assert_eq!((s.received)(), 1001);
    let messages = (s.messages)();
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
    assert_eq!((s.last)().map(|m| m.data), Some(JobEvent::Ping("finished".into())));
    assert_eq!((s.close_reason)(), Some(CloseReason::Terminal { event: "ping".into(), data: "finished".into() }));
    assert_eq!((s.ready_state)(), ReadyState::Closed);
    assert!(!(s.last_event_id)().is_empty());
    job.wait_text("closed 1001").await;
    job.unmount().await;
}

#[wasm_bindgen_test]
async fn beyond_capacity_the_oldest_are_dropped() {
    let _turn = Turn::take().await;
    let url = finished_job(500).await;
    let mut job = Mounted::new(job_hook(url, 100)).await;
    job.wait("the terminal message", is_terminal).await;
    let seqs: Vec<u64> = job.stream.messages.read().iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (901..1001).collect::<Vec<_>>(), "the newest 100 kept, in order");
    assert_eq!((job.stream.received)(), 1001);
    job.unmount().await;
}

#[wasm_bindgen_test]
async fn the_component_goes_connecting_open_closed_and_the_terminal_close_reaches_the_server() {
    let _turn = Turn::take().await;
    let baseline = settled_streams("job").await;
    let id = start_job(3, 200).await;
    let mut job = Mounted::new(job_hook(server_url(&format!("/jobs/{id}/events")), 100)).await;
    job.wait("the terminal message", is_terminal).await;
    job.wait_text(&format!("closed {}", (job.stream.received)())).await;
    assert_eq!(job.states(), [ReadyState::Connecting, ReadyState::Open, ReadyState::Closed]);
    let statuses: Vec<String> = job
        .stream
        .messages
        .read()
        .iter()
        .filter_map(|m| match &m.data {
            JobEvent::Progress(p) => Some(format!("{} {}/{}", p.status, p.step, p.steps)),
            JobEvent::Ping(_) => None,
        })
        .collect();
    assert_eq!(statuses, ["READY 1/3", "RUNNING 2/3", "DONE 3/3"]);
    assert!((job.stream.error)().is_none(), "no error: {:?}", (job.stream.error)());
    wait_for_streams("job", baseline, "the server to see the terminal close").await;
    job.unmount().await;
}

#[wasm_bindgen_test]
async fn unmounting_closes_the_stream() {
    let _turn = Turn::take().await;
    let user = unique("dioxus-unmount");
    let baseline = settled_streams("user").await;
    let url = server_url(&format!("/sse/{user}"));
    let mut notes = Mounted::new(move || use_event_source_typed::<Note>(url.clone())).await;
    notes.wait("open", is_open).await;
    wait_for_streams("user", baseline + 1, "the server to see the stream").await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "one"}}"#).await;
    notes.wait_text("open 1").await;
    assert_eq!(note_texts(&notes.stream), ["one"]);
    notes.unmount().await;
    wait_for_streams("user", baseline, "the server to see the stream go after unmount").await;
}

#[wasm_bindgen_test]
async fn close_then_reconnect_resumes_after_the_last_event_id() {
    let _turn = Turn::take().await;
    let user = unique("dioxus-close");
    let baseline = settled_streams("user").await;
    // A witness on the same user throughout: the hook gets the note sent while it is closed only by resuming.
    let (_witness, witnessed) = open_witness(&user).await;
    let url = server_url(&format!("/sse/{user}"));
    let mut notes = Mounted::new(move || use_event_source_typed::<Note>(url.clone())).await;
    notes.wait("open", is_open).await;
    wait_for_streams("user", baseline + 2, "the server to see the hook's stream and the witness").await;
    for text in ["one", "two"] {
        post_json(&format!("/notify/{user}"), &format!(r#"{{"data": {{"text": "{text}"}}}}"#)).await;
    }
    notes.wait("two notes", |s| (s.received)() == 2).await;
    notes.stream.close();
    notes.wait("closed", |s| (s.ready_state)() == ReadyState::Closed).await;
    assert_eq!((notes.stream.close_reason)(), Some(CloseReason::Client));
    wait_for_streams("user", baseline + 1, "the server to see the close").await;

    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "three"}}"#).await;
    witnessed.wait_len(3, "the witness's copy of the note sent while closed").await;
    notes.stream.reconnect();
    notes.wait("the missed note", |s| (s.received)() >= 3).await;
    // One stream keeps order: a repeated note would arrive before this one.
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "four"}}"#).await;
    notes.wait("the next note", |s| note_texts(s).iter().any(|t| t == "four")).await;
    assert_eq!(note_texts(&notes.stream), ["one", "two", "three", "four"], "the missed note once, nothing repeated");
    assert!((notes.stream.close_reason)().is_none(), "a reconnected stream has no close reason");
    notes.unmount().await;
    wait_for_streams("user", baseline + 1, "the stream to close on unmount").await;
}

#[wasm_bindgen_test]
async fn a_render_with_a_new_url_closes_the_old_stream_and_opens_the_new_one() {
    let _turn = Turn::take().await;
    let (alice, bob) = (unique("dioxus-alice"), unique("dioxus-bob"));
    let baseline = settled_streams("user").await;
    let url = Rc::new(RefCell::new(None::<Signal<String>>));
    let mut notes = {
        let (url, first) = (url.clone(), server_url(&format!("/sse/{alice}")));
        Mounted::new(move || {
            // The URL a signal the component reads while rendering (as a prop would be).
            let signal = use_signal(|| first.clone());
            *url.borrow_mut() = Some(signal);
            use_event_source_typed::<Note>(signal())
        })
        .await
    };
    let mut url = url.borrow_mut().take().expect("the url signal");
    notes.wait("open", is_open).await;
    post_json(&format!("/notify/{alice}"), r#"{"data": {"text": "for alice"}}"#).await;
    notes.wait("alice's note", |s| (s.received)() == 1).await;

    url.set(server_url(&format!("/sse/{bob}")));
    notes.wait("bob's stream", |s| (s.received)() == 0).await;
    wait_for_streams("user", baseline + 1, "alice's stream closed, bob's open").await;
    notes.wait("bob's stream open", is_open).await;
    post_json(&format!("/notify/{alice}"), r#"{"data": {"text": "alice again"}}"#).await;
    post_json(&format!("/notify/{bob}"), r#"{"data": {"text": "for bob"}}"#).await;
    post_json(&format!("/notify/{bob}"), r#"{"data": {"text": "bob again"}}"#).await;
    notes.wait("bob's notes", |s| note_texts(s).iter().any(|t| t == "bob again")).await;
    assert_eq!(note_texts(&notes.stream), ["for bob", "bob again"], "nothing from alice's stream");
    notes.unmount().await;
    wait_for_streams("user", baseline, "bob's stream closed on unmount").await;
}

#[cfg(feature = "share")]
#[wasm_bindgen_test]
async fn two_components_sharing_across_tabs_use_one_connection_and_the_follower_goes_on_when_the_leader_unmounts() {
    let _turn = Turn::take().await;
    let user = unique("dioxus-shared");
    let baseline = settled_streams("user").await;
    let mount = || {
        let url = server_url(&format!("/sse/{user}"));
        Mounted::new(move || {
            typed_eventsource::dioxus::use_event_source_typed_with_options::<Note>(
                url.clone(),
                SourceOptions::default().share_across_tabs().into(),
            )
        })
    };
    let mut first = mount().await;
    first.wait("the first open", is_open).await;
    let mut second = mount().await;
    second.wait("the second open", is_open).await;
    wait_for_streams("user", baseline + 1, "one connection for both components").await;
    assert_eq!(first.stream.share_role(), Some(ShareRole::Leader));
    assert_eq!(second.stream.share_role(), Some(ShareRole::Follower));
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "one"}}"#).await;
    first.wait_text("open 1").await;
    second.wait_text("open 1").await;
    // The leader unmounts: the follower takes over and resumes; it gets what follows once.
    first.unmount().await;
    second.wait("the take-over", |s| s.share_role() == Some(ShareRole::Leader)).await;
    wait_for_streams("user", baseline + 1, "the second component's own connection").await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "two"}}"#).await;
    post_json(&format!("/notify/{user}"), r#"{"data": {"text": "three"}}"#).await;
    second.wait("the notes after the hand-off", |s| note_texts(s).iter().any(|t| t == "three")).await;
    assert_eq!(note_texts(&second.stream), ["one", "two", "three"]);
    second.unmount().await;
    wait_for_streams("user", baseline, "no connection once both unmounted").await;
}
