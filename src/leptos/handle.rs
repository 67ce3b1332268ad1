//! [`UseEventSource`]: the signals a hook returns, fed by the live core's change notification.

use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use ::leptos::prelude::*;

use crate::live::{Message, Outage, Snapshot};
use crate::{CloseReason, Error, Gap, ReadyState};

/// What a Leptos hook returns: signals of its stream, and its controls. `Copy`: move it into as many closures as the
/// view needs; every copy is the same stream. Signals are read like any other (`job.ready_state.get()`,
/// `job.messages.with(|m| m.len())`) and track in effects and views.
pub struct UseEventSource<T: 'static> {
    /// The connection state: `Connecting` while the browser or the reconnect policy retries.
    pub ready_state: Signal<ReadyState>,
    /// The history, oldest first: at most [`capacity`](crate::UseEventSourceOptions::capacity) messages (shared, not
    /// copied, by each read).
    pub messages: Signal<Rc<VecDeque<Message<T>>>, LocalStorage>,
    /// The latest message, if any.
    pub last: Signal<Option<Message<T>>, LocalStorage>,
    /// How many messages arrived since the URL was set, including those the capacity dropped.
    pub received: Signal<u64>,
    /// The latest error (transient, fatal, decode, open); cleared when a connection opens.
    pub error: Signal<Option<Error>>,
    /// Why the stream closed, once it has; `None` while it is connecting or open.
    pub close_reason: Signal<Option<CloseReason>>,
    /// The last event id seen ("" before any); [`reconnect`](Self::reconnect) resumes after it.
    pub last_event_id: Signal<String>,
    /// The last gap the server signalled (events may have been missed: reload what they would have told).
    pub last_gap: Signal<Option<Gap>>,
    /// The [`seq`](Message::seq) of the first message after the last gap (0 without one).
    pub gap_seq: Signal<u64>,
    /// How many events were dropped as duplicates since the URL was set.
    pub duplicates_dropped: Signal<u64>,
    /// The last time the stream went silent or the browser went offline, and when it recovered.
    pub last_outage: Signal<Option<Outage>>,
    /// Whether the stream is waiting for the network (the browser is offline).
    pub offline: Signal<bool>,
    #[cfg(target_arch = "wasm32")]
    pub(super) live: StoredValue<crate::live::state::Live<T>, LocalStorage>,
}

impl<T> Clone for UseEventSource<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for UseEventSource<T> {}

impl<T> fmt::Debug for UseEventSource<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UseEventSource").finish_non_exhaustive()
    }
}

impl<T: Clone + 'static> UseEventSource<T> {
    /// The signals of a stream whose state `read` gives, re-read when `changed` is notified; `live` is the stream
    /// its controls act on.
    pub(super) fn new(
        read: impl Fn() -> Snapshot<T> + Send + Sync + Copy + 'static,
        changed: Trigger,
        #[cfg(target_arch = "wasm32")] live: StoredValue<crate::live::state::Live<T>, LocalStorage>,
    ) -> Self {
        let read = move || {
            changed.track();
            read()
        };
        UseEventSource {
            ready_state: Memo::new(move |_| read().state).into(),
            messages: Signal::derive_local(move || read().messages),
            last: Signal::derive_local(move || read().messages.back().cloned()),
            received: Memo::new(move |_| read().received).into(),
            error: Memo::new(move |_| read().error).into(),
            close_reason: Memo::new(move |_| read().close_reason).into(),
            last_event_id: Memo::new(move |_| read().last_event_id).into(),
            last_gap: Memo::new(move |_| read().gap).into(),
            gap_seq: Memo::new(move |_| read().gap_seq).into(),
            duplicates_dropped: Memo::new(move |_| read().duplicates_dropped).into(),
            last_outage: Memo::new(move |_| read().outage).into(),
            offline: Memo::new(move |_| read().offline).into(),
            #[cfg(target_arch = "wasm32")]
            live,
        }
    }

    /// Closes the stream ([`CloseReason::Client`]); harmless when closed, or in a server build. The history stays.
    pub fn close(&self) {
        #[cfg(target_arch = "wasm32")]
        self.live.with_value(crate::live::state::Live::close);
    }

    /// Closes the stream if open and opens it again, resuming after the last event id (nothing missed, nothing
    /// repeated). The history stays. Does nothing before the first connection, or in a server build.
    pub fn reconnect(&self) {
        #[cfg(target_arch = "wasm32")]
        self.live.with_value(crate::live::state::Live::reconnect);
    }

    #[cfg(all(target_arch = "wasm32", feature = "share"))]
    /// With tab sharing: whether this tab holds the shared connection, follows another tab's, or has its own; `None`
    /// without sharing or once closed. Read when called (not a signal).
    pub fn share_role(&self) -> Option<crate::ShareRole> {
        self.live.with_value(crate::live::state::Live::share_role)
    }
}
