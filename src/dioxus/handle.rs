//! [`UseEventSource`]: the signals a hook returns, memos of the live core's snapshot, re-read on its change
//! notification.

use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use dioxus_signals::{Memo, ReadSignal, ReadableExt};

use crate::live::{Message, Outage, Snapshot};
use crate::{CloseReason, Error, Gap, ReadyState};

/// What a Dioxus hook returns: signals of its stream, and its controls. `Copy`: move it into as many closures as the
/// component needs; every copy is the same stream. Signals are read like any other (`job.ready_state()`,
/// `job.messages.read().len()`) and subscribe the component (or memo, effect) that reads them.
pub struct UseEventSource<T: 'static> {
    /// The connection state: `Connecting` while the browser or the reconnect policy retries.
    pub ready_state: ReadSignal<ReadyState>,
    /// The history, oldest first: at most [`capacity`](crate::UseEventSourceOptions::capacity) messages (shared, not
    /// copied, by each read).
    pub messages: ReadSignal<Rc<VecDeque<Message<T>>>>,
    /// The latest message, if any.
    pub last: ReadSignal<Option<Message<T>>>,
    /// How many messages arrived since the URL was set, including those the capacity dropped.
    pub received: ReadSignal<u64>,
    /// The latest error (transient, fatal, decode, open); cleared when a connection opens.
    pub error: ReadSignal<Option<Error>>,
    /// Why the stream closed, once it has; `None` while it is connecting or open.
    pub close_reason: ReadSignal<Option<CloseReason>>,
    /// The last event id seen ("" before any); [`reconnect`](Self::reconnect) resumes after it.
    pub last_event_id: ReadSignal<String>,
    /// The last gap the server signalled (events may have been missed: reload what they would have told).
    pub last_gap: ReadSignal<Option<Gap>>,
    /// The [`seq`](Message::seq) of the first message after the last gap (0 without one).
    pub gap_seq: ReadSignal<u64>,
    /// How many events were dropped as duplicates since the URL was set.
    pub duplicates_dropped: ReadSignal<u64>,
    /// The last time the stream went silent or the browser went offline, and when it recovered.
    pub last_outage: ReadSignal<Option<Outage>>,
    /// Whether the stream is waiting for the network (the browser is offline).
    pub offline: ReadSignal<bool>,
    #[cfg(target_arch = "wasm32")]
    pub(super) live: dioxus_signals::CopyValue<crate::live::state::Live<T>>,
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

/// The history and its last message, equal when taken from the same history (a new message makes a new one): a memo
/// of it notifies once per change of the history without comparing messages, so `T` needs no `PartialEq`.
struct Latest<T> {
    messages: Rc<VecDeque<Message<T>>>,
    last: Option<Message<T>>,
}

impl<T> PartialEq for Latest<T> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.messages, &other.messages)
    }
}

impl<T: Clone + 'static> UseEventSource<T> {
    /// The signals of a stream whose state `read` gives (it reads a signal that changes on each notification of the
    /// live core); `live` is the stream its controls act on. Creates memos: call it once per hook (in `use_hook`).
    pub(super) fn new(
        read: impl FnMut() -> Snapshot<T> + 'static,
        #[cfg(target_arch = "wasm32")] live: dioxus_signals::CopyValue<crate::live::state::Live<T>>,
    ) -> Self {
        let snapshot = Memo::new(read);
        let latest = Memo::new(move || {
            let messages = Rc::clone(&snapshot.read().messages);
            let last = messages.back().cloned();
            Latest { messages, last }
        });
        UseEventSource {
            ready_state: Memo::new(move || snapshot.read().state).into(),
            messages: latest.map(|l: &Latest<T>| &l.messages).into(),
            last: latest.map(|l: &Latest<T>| &l.last).into(),
            received: Memo::new(move || snapshot.read().received).into(),
            error: Memo::new(move || snapshot.read().error.clone()).into(),
            close_reason: Memo::new(move || snapshot.read().close_reason.clone()).into(),
            last_event_id: Memo::new(move || snapshot.read().last_event_id.clone()).into(),
            last_gap: Memo::new(move || snapshot.read().gap.clone()).into(),
            gap_seq: Memo::new(move || snapshot.read().gap_seq).into(),
            duplicates_dropped: Memo::new(move || snapshot.read().duplicates_dropped).into(),
            last_outage: Memo::new(move || snapshot.read().outage.clone()).into(),
            offline: Memo::new(move || snapshot.read().offline).into(),
            #[cfg(target_arch = "wasm32")]
            live,
        }
    }

    /// Closes the stream ([`CloseReason::Client`]); harmless when closed, or in a server build. The history stays.
    pub fn close(&self) {
        #[cfg(target_arch = "wasm32")]
        if let Ok(live) = self.live.try_peek() {
            live.close();
        }
    }

    /// Closes the stream if open and opens it again, resuming after the last event id (nothing missed, nothing
    /// repeated). The history stays. Does nothing before the first connection, or in a server build.
    pub fn reconnect(&self) {
        #[cfg(target_arch = "wasm32")]
        if let Ok(live) = self.live.try_peek() {
            live.reconnect();
        }
    }

    #[cfg(all(target_arch = "wasm32", feature = "share"))]
    /// With tab sharing: whether this tab holds the shared connection, follows another tab's, or has its own; `None`
    /// without sharing or once closed. Read when called (not a signal).
    pub fn share_role(&self) -> Option<crate::ShareRole> {
        self.live.try_peek().ok().and_then(|live| live.share_role())
    }
}
