//! The handle the hooks return, and the hook they all share: a thin layer over the live core ([`Live`]), whose
//! change notification re-renders the component.

use std::collections::VecDeque;
use std::fmt;

use ::yew::functional::{hook, use_effect_with, use_force_update, use_mut_ref};

use super::UseEventSourceOptions;
use crate::live::decode::Attach;
use crate::live::state::Live;
use crate::live::{Message, Outage, Snapshot};
use crate::{CloseReason, Error, Gap, ReadyState};

/// What a hook's component sees: state, history and controls of its stream. Cheap to clone; every clone controls the
/// same stream. Read at render time, it is a snapshot of that render.
///
/// ```no_run
/// # use typed_eventsource::yew::use_event_source_typed;
/// # use yew::prelude::*;
/// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
/// # #[component]
/// # fn Board() -> Html {
/// let board = use_event_source_typed::<Post>("/subscribe".into());
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
    snapshot: Snapshot<T>,
    url: String,
    live: Live<T>,
}

impl<T> Clone for UseEventSourceHandle<T> {
    fn clone(&self) -> Self {
        UseEventSourceHandle { snapshot: self.snapshot.clone(), url: self.url.clone(), live: self.live.clone() }
    }
}

/// Equal when they show the same snapshot of the same stream (so a handle can be a component's prop).
impl<T> PartialEq for UseEventSourceHandle<T> {
    fn eq(&self, other: &Self) -> bool {
        self.live == other.live && self.snapshot == other.snapshot && self.url == other.url
    }
}

impl<T> fmt::Debug for UseEventSourceHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.snapshot;
        f.debug_struct("UseEventSourceHandle")
            .field("url", &self.url)
            .field("state", &s.state)
            .field("messages", &s.messages.len())
            .field("received", &s.received)
            .field("error", &s.error)
            .field("close_reason", &s.close_reason)
            .field("last_event_id", &s.last_event_id)
            .field("gap", &s.gap)
            .field("duplicates_dropped", &s.duplicates_dropped)
            .finish_non_exhaustive()
    }
}

impl<T: Clone + 'static> UseEventSourceHandle<T> {
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
        self.snapshot.state
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
        &self.snapshot.messages
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
        self.snapshot.messages.back()
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
        self.snapshot.received
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
        self.snapshot.error.as_ref()
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
        self.snapshot.close_reason.as_ref()
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
        &self.snapshot.last_event_id
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
        self.snapshot.gap.as_ref()
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
        self.snapshot.gap_seq
    }

    /// How many events were dropped as duplicates since the URL was set (see
    /// [`SourceOptions::dedup_window`](crate::SourceOptions::dedup_window)).
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
        self.snapshot.duplicates_dropped
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
        self.snapshot.outage.as_ref()
    }

    /// Whether the stream is waiting for the network (the browser is offline; see
    /// [`TypedEventSource::offline`](crate::TypedEventSource::offline)): show "offline — waiting for the network".
    ///
    /// ```no_run
    /// # use typed_eventsource::yew::UseEventSourceHandle;
    /// # #[derive(Clone, PartialEq, serde::Deserialize)] struct Post { text: String }
    /// # fn demo(stream: UseEventSourceHandle<Post>) {
    /// let waiting = stream.offline();
    /// # }
    /// ```
    pub fn offline(&self) -> bool {
        self.snapshot.offline
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
    /// With [`share_across_tabs`](crate::SourceOptions::share_across_tabs): whether this tab holds the
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
        self.live.share_role()
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
        self.live.close();
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
        self.live.reconnect();
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
    let live = use_mut_ref(|| Live::new(attach, move || trigger.force_update())).borrow().clone();
    // The latest render's options are those a connection opens with (mount, URL change, reconnect).
    live.set_options(options);
    {
        let live = live.clone();
        use_effect_with(url.clone(), move |url| {
            live.connect(url);
            move || live.disconnect()
        });
    }
    UseEventSourceHandle { snapshot: live.snapshot(&url), url, live }
}
