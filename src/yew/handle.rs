//! The handle the hooks return, and the hook they all share.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::{Rc, Weak};

use ::yew::functional::{hook, use_effect_with, use_force_update, use_mut_ref, UseForceUpdateHandle};

use super::UseEventSourceOptions;
use crate::{CloseReason, Error, EventMeta, Gap, ReadyState, TypedEventSource, TypedEventSourceBuilder};

/// One received event: its decoded data and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<T> {
    /// The decoded data.
    pub data: T,
    /// Event type, `lastEventId` and origin.
    pub meta: EventMeta,
    /// The number of this message among all received since the URL was set, from 0 (dropped ones included), so a
    /// list can key on it and a gap shows what the capacity dropped.
    pub seq: u64,
    /// When it arrived, in milliseconds since the epoch (`Date.now()`).
    pub received_at: f64,
}

/// A time the stream went silent (a [`Error::HeartbeatTimeout`]) or the browser went offline ([`Error::Offline`]),
/// and when it recovered (the next open): what a component shows as "silent since 10:02:13, recovered at 10:02:18".
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    /// The error that began it: [`Error::HeartbeatTimeout`] or [`Error::Offline`].
    pub cause: Error,
    /// When it began, in milliseconds since the epoch (`Date.now()`).
    pub since: f64,
    /// When a connection opened again, if it has.
    pub recovered_at: Option<f64>,
}

/// What a hook's component sees: state, history and controls of its stream. Cheap to clone; every clone controls the
/// same stream. Read at render time, it is a snapshot of that render.
///
/// ```no_run
/// # use typed_eventsource::yew::{use_event_source_typed, UseEventSourceOptions};
/// # use yew::prelude::*;
/// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
/// # #[component]
/// # fn Board() -> Html {
/// let board = use_event_source_typed::<Post>("/subscribe".into(), UseEventSourceOptions::default());
/// html! {
///     <>
///         <p>{ format!("{} — {} messages", board.state(), board.messages().len()) }</p>
///         <ul>{ for board.messages().iter().map(|m| html! { <li key={m.seq}>{ &m.data.text }</li> }) }</ul>
///         <button onclick={let b = board.clone(); move |_| b.close()}>{ "close" }</button>
///     </>
/// }
/// # }
/// # fn main() {}
/// ```
pub struct UseEventSourceHandle<T> {
    state: ReadyState,
    messages: Rc<VecDeque<Message<T>>>,
    received: u64,
    error: Option<Error>,
    close_reason: Option<CloseReason>,
    last_event_id: String,
    gap: Option<Gap>,
    gap_seq: u64,
    duplicates_dropped: u64,
    outage: Option<Outage>,
    offline: bool,
    url: String,
    inner: Rc<RefCell<Inner<T>>>,
    trigger: UseForceUpdateHandle,
}

impl<T> Clone for UseEventSourceHandle<T> {
    fn clone(&self) -> Self {
        UseEventSourceHandle {
            state: self.state,
            messages: Rc::clone(&self.messages),
            received: self.received,
            error: self.error.clone(),
            close_reason: self.close_reason.clone(),
            last_event_id: self.last_event_id.clone(),
            gap: self.gap.clone(),
            gap_seq: self.gap_seq,
            duplicates_dropped: self.duplicates_dropped,
            outage: self.outage.clone(),
            offline: self.offline,
            url: self.url.clone(),
            inner: Rc::clone(&self.inner),
            trigger: self.trigger.clone(),
        }
    }
}

/// Equal when they show the same snapshot of the same stream (so a handle can be a component's prop).
impl<T> PartialEq for UseEventSourceHandle<T> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
            && Rc::ptr_eq(&self.messages, &other.messages)
            && self.state == other.state
            && self.received == other.received
            && self.error == other.error
            && self.close_reason == other.close_reason
            && self.gap == other.gap
            && self.gap_seq == other.gap_seq
            && self.duplicates_dropped == other.duplicates_dropped
            && self.outage == other.outage
            && self.offline == other.offline
            && self.url == other.url
    }
}

impl<T> fmt::Debug for UseEventSourceHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UseEventSourceHandle")
            .field("url", &self.url)
            .field("state", &self.state)
            .field("messages", &self.messages.len())
            .field("received", &self.received)
            .field("error", &self.error)
            .field("close_reason", &self.close_reason)
            .field("last_event_id", &self.last_event_id)
            .field("gap", &self.gap)
            .field("duplicates_dropped", &self.duplicates_dropped)
            .finish_non_exhaustive()
    }
}

impl<T> UseEventSourceHandle<T> {
    /// The connection state ([`ReadyState`]): `Connecting` while the browser or the reconnect policy retries.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// if stream.state() == ReadyState::Closed { /* show reconnect */ }
    /// # }
    /// ```
    pub fn state(&self) -> ReadyState {
        self.state
    }

    /// The history, oldest first: at most [`capacity`](UseEventSourceOptions::capacity) messages.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// for m in stream.messages() { log(&m.meta.last_event_id) }
    /// # }
    /// ```
    pub fn messages(&self) -> &VecDeque<Message<T>> {
        &self.messages
    }

    /// The latest message, if any.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// let latest = stream.last().map(|m| &m.data);
    /// # }
    /// ```
    pub fn last(&self) -> Option<&Message<T>> {
        self.messages.back()
    }

    /// How many messages arrived since the URL was set, including those the capacity dropped.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// let dropped = stream.received() - stream.messages().len() as u64;
    /// # }
    /// ```
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The latest error (transient, fatal, decode, open); cleared when a connection opens.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// if let Some(e) = stream.error() { log(&e.to_string()) }
    /// # }
    /// ```
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Why the stream closed ([`CloseReason`]), once it has; `None` while it is connecting or open.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// let terminal = stream.close_reason().is_some_and(CloseReason::is_terminal);
    /// # }
    /// ```
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close_reason.as_ref()
    }

    /// The last event id seen ("" before any); [`reconnect`](Self::reconnect) resumes after it.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// let id = stream.last_event_id();
    /// # }
    /// ```
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The last gap the server signalled ([`Gap`]: events may have been missed — reload what they would have told);
    /// `None` until one arrives for this URL.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// # let _: Html =
    /// html! { if stream.last_gap().is_some() { <p>{ "missed events — reloading" }</p> } }
    /// # ;
    /// # }
    /// ```
    pub fn last_gap(&self) -> Option<&Gap> {
        self.gap.as_ref()
    }

    /// The [`seq`](Message::seq) of the first message after the [last gap](Self::last_gap) (0 without one): the
    /// messages before it belong to a stream the server could not continue — show only those from here to reload
    /// (the project's server replays what it still has right after the gap).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// let current = stream.messages().iter().filter(|m| m.seq >= stream.gap_seq());
    /// # }
    /// ```
    pub fn gap_seq(&self) -> u64 {
        self.gap_seq
    }

    /// How many events were dropped as duplicates since the URL was set (see
    /// [`UseEventSourceOptions::dedup_window`](super::UseEventSourceOptions::dedup_window)).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// let dropped = stream.duplicates_dropped();
    /// # }
    /// ```
    pub fn duplicates_dropped(&self) -> u64 {
        self.duplicates_dropped
    }

    /// The last time the stream went silent or the browser went offline, and when it recovered ([`Outage`]);
    /// `None` until it happens for this URL.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// let recovered = stream.last_outage().is_some_and(|o| o.recovered_at.is_some());
    /// # }
    /// ```
    pub fn last_outage(&self) -> Option<&Outage> {
        self.outage.as_ref()
    }

    /// Whether the stream is waiting for the network (the browser is offline; see
    /// [`TypedEventSource::offline`]): show "offline — waiting for the network".
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// let waiting = stream.offline();
    /// # }
    /// ```
    pub fn offline(&self) -> bool {
        self.offline
    }

    /// The URL of the stream.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// assert_eq!(stream.url(), "/subscribe");
    /// # }
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    #[cfg(feature = "share")]
    /// With [`share_across_tabs`](super::UseEventSourceOptions::share_across_tabs): whether this tab holds the
    /// shared connection, follows another tab's, or has its own (the browser cannot share); `None` without sharing or
    /// once closed. Read when called (a hand-off re-renders nothing by itself; the next event or state change does).
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// # use typed_eventsource::ShareRole;
    /// let leads = stream.share_role() == Some(ShareRole::Leader);
    /// # }
    /// ```
    pub fn share_role(&self) -> Option<crate::ShareRole> {
        self.inner.borrow().source.as_ref().and_then(TypedEventSource::share_role)
    }

    /// Closes the stream ([`CloseReason::Client`]); harmless when closed. The history stays.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// let onclick = { let s = stream.clone(); move |_| s.close() };
    /// # let _: Callback<MouseEvent> = Callback::from(onclick);
    /// # }
    /// ```
    pub fn close(&self) {
        // Taken out while it closes (its close handlers update the shared state), then kept: the state stays the
        // browser's readyState, and `reconnect` resumes after its last id.
        let source = self.inner.borrow_mut().source.take();
        if let Some(source) = &source {
            source.close();
        }
        let mut st = self.inner.borrow_mut();
        if st.source.is_none() {
            st.source = source;
        }
    }

    /// Closes the stream if open and opens it again, resuming after [`last_event_id`](Self::last_event_id) (sent as
    /// the `lastEventId` query parameter), so nothing is missed and nothing repeated. The history stays.
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # use typed_eventsource::{CloseReason, ReadyState};
    /// # use yew::prelude::*;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn log(_: &str) {}
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// let onclick = { let s = stream.clone(); move |_| s.reconnect() };
    /// # let _: Callback<MouseEvent> = Callback::from(onclick);
    /// # }
    /// ```
    pub fn reconnect(&self) {
        self.inner.borrow_mut().generation += 1;
        self.trigger.force_update();
    }
}

/// Hands a decoded event to the hook's state.
pub(crate) type Sink<T> = Rc<dyn Fn(T, EventMeta)>;
/// Adds the handlers of one kind of hook to the builder.
pub(crate) type Attach<T> = fn(TypedEventSourceBuilder, &[String], Sink<T>) -> TypedEventSourceBuilder;

/// The state shared by the handle, the effect and the source's handlers.
struct Inner<T> {
    url: Option<String>,
    /// Bumped by `reconnect()`; part of the effect's dependencies.
    generation: u64,
    /// The connection whose handlers may change the state (0: none); handlers of older ones are ignored.
    active: u64,
    connections: u64,
    messages: Rc<VecDeque<Message<T>>>,
    received: u64,
    error: Option<Error>,
    close_reason: Option<CloseReason>,
    /// The last event id of the sources dropped so far, where the next connection resumes (the live source owns the
    /// current one).
    resume: String,
    /// The last gap signalled since the URL was set, and how many duplicates the sources dropped so far dropped.
    gap: Option<Gap>,
    gap_seq: u64,
    duplicates_before: u64,
    outage: Option<Outage>,
    source: Option<TypedEventSource>,
}

impl<T> Inner<T> {
    fn new() -> Self {
        Inner {
            url: None,
            generation: 0,
            active: 0,
            connections: 0,
            messages: Rc::new(VecDeque::new()),
            received: 0,
            error: None,
            close_reason: None,
            resume: String::new(),
            gap: None,
            gap_seq: 0,
            duplicates_before: 0,
            outage: None,
            source: None,
        }
    }

    /// Duplicates dropped since the URL was set.
    fn duplicates_dropped(&self) -> u64 {
        self.duplicates_before + self.source.as_ref().map_or(0, TypedEventSource::duplicates_dropped)
    }

    /// The source's readyState (the browser's, also once closed); `Closed` without one (it failed to open).
    fn state(&self) -> ReadyState {
        self.source.as_ref().map_or(ReadyState::Closed, TypedEventSource::ready_state)
    }

    /// The source's last event id; without one, that of the last source dropped.
    fn last_event_id(&self) -> String {
        self.source.as_ref().map_or_else(|| self.resume.clone(), TypedEventSource::last_event_id)
    }

    /// Takes the source out (to drop it), keeping its last event id to resume after.
    fn take_source(&mut self) -> Option<TypedEventSource> {
        let source = self.source.take();
        if let Some(source) = &source {
            self.resume = source.last_event_id();
            self.duplicates_before += source.duplicates_dropped();
        }
        source
    }
}

/// The hook behind every public one: `attach` decides how events are decoded.
#[hook]
pub(crate) fn use_source<T: Clone + 'static>(
    url: String,
    options: UseEventSourceOptions,
    attach: Attach<T>,
) -> UseEventSourceHandle<T> {
    let trigger = use_force_update();
    let inner = use_mut_ref(Inner::<T>::new);
    let latest_options = use_mut_ref(UseEventSourceOptions::default);
    *latest_options.borrow_mut() = options;
    let generation = inner.borrow().generation;
    {
        let inner = Rc::clone(&inner);
        let trigger = trigger.clone();
        use_effect_with((url.clone(), generation), move |(url, _)| {
            connect(&inner, &trigger, url, &latest_options.borrow(), attach);
            move || disconnect(&inner)
        });
    }
    let st = inner.borrow();
    if st.url.as_deref() != Some(url.as_str()) {
        // The effect has not connected this URL yet (first render, or a new URL whose render comes before the effect
        // that closes the old stream): what shows is a stream about to connect, nothing of another URL's.
        return UseEventSourceHandle {
            state: ReadyState::Connecting,
            messages: Rc::new(VecDeque::new()),
            received: 0,
            error: None,
            close_reason: None,
            last_event_id: String::new(),
            gap: None,
            gap_seq: 0,
            duplicates_dropped: 0,
            outage: None,
            offline: false,
            url,
            inner: Rc::clone(&inner),
            trigger,
        };
    }
    UseEventSourceHandle {
        state: st.state(),
        messages: Rc::clone(&st.messages),
        received: st.received,
        error: st.error.clone(),
        close_reason: st.close_reason.clone(),
        last_event_id: st.last_event_id(),
        gap: st.gap.clone(),
        gap_seq: st.gap_seq,
        duplicates_dropped: st.duplicates_dropped(),
        outage: st.outage.clone(),
        offline: st.source.as_ref().is_some_and(TypedEventSource::offline),
        url,
        inner: Rc::clone(&inner),
        trigger,
    }
}

/// Runs `f` on the state if the hook still exists and `id` is its current connection; then re-renders.
fn update<T>(weak: &Weak<RefCell<Inner<T>>>, trigger: &UseForceUpdateHandle, id: u64, f: impl FnOnce(&mut Inner<T>)) {
    let Some(inner) = weak.upgrade() else { return };
    {
        let mut st = inner.borrow_mut();
        if st.active != id {
            return;
        }
        f(&mut st);
    }
    trigger.force_update();
}

fn connect<T: Clone + 'static>(
    inner: &Rc<RefCell<Inner<T>>>,
    trigger: &UseForceUpdateHandle,
    url: &str,
    options: &UseEventSourceOptions,
    attach: Attach<T>,
) {
    let (id, resume) = {
        let mut st = inner.borrow_mut();
        if st.url.as_deref() != Some(url) {
            // A new URL is a new stream: nothing of the old one carries over.
            st.url = Some(url.to_owned());
            st.messages = Rc::new(VecDeque::new());
            st.received = 0;
            st.resume.clear();
            st.gap = None;
            st.gap_seq = 0;
            st.duplicates_before = 0;
            st.outage = None;
        }
        st.connections += 1;
        st.active = st.connections;
        st.error = None;
        st.close_reason = None;
        (st.active, st.resume.clone())
    };
    let weak = Rc::downgrade(inner);
    let capacity = options.capacity.max(1);
    let sink: Sink<T> = {
        let (weak, trigger) = (weak.clone(), trigger.clone());
        Rc::new(move |data: T, meta: EventMeta| {
            update(&weak, &trigger, id, |st| {
                // Copies the history only if a rendered handle still shares it: once per render, not per event.
                let messages = Rc::make_mut(&mut st.messages);
                while messages.len() >= capacity {
                    messages.pop_front();
                }
                messages.push_back(Message { data, meta, seq: st.received, received_at: js_sys::Date::now() });
                st.received += 1;
            });
        })
    };
    let mut builder = TypedEventSourceBuilder::with_options(url, options.source.clone());
    if !resume.is_empty() {
        builder = builder.last_event_id(resume);
    }
    let builder = attach(builder, &options.events, sink)
        .on_open({
            let (weak, trigger) = (weak.clone(), trigger.clone());
            move || {
                update(&weak, &trigger, id, |st| {
                    st.error = None;
                    if let Some(outage) = st.outage.as_mut().filter(|o| o.recovered_at.is_none()) {
                        outage.recovered_at = Some(js_sys::Date::now());
                    }
                })
            }
        })
        .on_state_change({
            let (weak, trigger) = (weak.clone(), trigger.clone());
            // The state is read from the source at render time: this only re-renders.
            move |_| update(&weak, &trigger, id, |_| {})
        })
        .on_error({
            let (weak, trigger) = (weak.clone(), trigger.clone());
            move |e| {
                update(&weak, &trigger, id, |st| {
                    let began = matches!(e, Error::HeartbeatTimeout { .. } | Error::Offline);
                    // One outage until the next open (a silence can be followed by offline: it began with the first).
                    if began && st.outage.as_ref().is_none_or(|o| o.recovered_at.is_some()) {
                        st.outage = Some(Outage { cause: e.clone(), since: js_sys::Date::now(), recovered_at: None });
                    }
                    st.error = Some(e.clone());
                })
            }
        })
        .on_gap({
            let (weak, trigger) = (weak.clone(), trigger.clone());
            move |gap| {
                update(&weak, &trigger, id, |st| {
                    st.gap = Some(gap.clone());
                    st.gap_seq = st.received;
                });
            }
        })
        .on_close({
            let (weak, trigger) = (weak.clone(), trigger.clone());
            move |reason| {
                update(&weak, &trigger, id, |st| st.close_reason = Some(reason.clone()));
            }
        });
    match builder.open() {
        Ok(source) => inner.borrow_mut().source = Some(source),
        Err(e) => inner.borrow_mut().error = Some(e),
    }
}

/// The effect's cleanup: the old connection's handlers stop counting, then it is dropped (closed).
fn disconnect<T>(inner: &Rc<RefCell<Inner<T>>>) {
    let source = {
        let mut st = inner.borrow_mut();
        st.active = 0;
        st.take_source()
    };
    drop(source);
}
