//! [`Live`]: one live stream's state in a component, framework-free — the history ring, the connection generation,
//! where the next connection resumes, the duplicates and gaps and outages seen since the URL was set — with
//! connect / disconnect / reconnect / close and a change notification. Each framework adapter keeps one per hook and
//! turns the notification into its own re-render (Yew) or signal update (Leptos, Dioxus).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use super::decode::{Attach, Sink};
use super::{Message, Outage, Snapshot, UseEventSourceOptions};
use crate::{CloseReason, Error, EventMeta, Gap, ReadyState, TypedEventSource, TypedEventSourceBuilder};

/// One live stream's state and connection. Cheap to clone; every clone is the same stream.
pub(crate) struct Live<T>(Rc<RefCell<Inner<T>>>);

impl<T> Clone for Live<T> {
    fn clone(&self) -> Self {
        Live(Rc::clone(&self.0))
    }
}

impl<T> Live<T> {
    /// The options the next connection opens with.
    pub(crate) fn set_options(&self, options: UseEventSourceOptions) {
        self.0.borrow_mut().options = options;
    }
}

/// Equal when both are the same stream.
impl<T> PartialEq for Live<T> {
    fn eq(&self, other: &Live<T>) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> std::fmt::Debug for Live<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.0.borrow();
        f.debug_struct("Live").field("url", &st.url).field("received", &st.received).finish_non_exhaustive()
    }
}

struct Inner<T> {
    attach: Attach<T>,
    /// Told after every change (from the source's handlers, and after connect / reconnect).
    notify: Rc<dyn Fn()>,
    options: UseEventSourceOptions,
    url: Option<String>,
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

impl<T: Clone + 'static> Live<T> {
    /// A stream not connected yet: `attach` decides how events are decoded, `notify` is told after every change.
    pub(crate) fn new(attach: Attach<T>, notify: impl Fn() + 'static) -> Self {
        Live(Rc::new(RefCell::new(Inner {
            attach,
            notify: Rc::new(notify),
            options: UseEventSourceOptions::default(),
            url: None,
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
        })))
    }

    /// What shows for `url`: the state if this is the URL connected, else a stream about to connect (a new URL whose
    /// connection has not opened yet shows nothing of another URL's).
    pub(crate) fn snapshot(&self, url: &str) -> Snapshot<T> {
        let st = self.0.borrow();
        if st.url.as_deref() != Some(url) {
            return Snapshot::connecting();
        }
        Snapshot {
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
        }
    }

    /// What shows for the URL connected last (a stream about to connect before the first connection).
    #[cfg_attr(not(any(feature = "leptos", feature = "dioxus")), allow(dead_code))]
    pub(crate) fn current(&self) -> Snapshot<T> {
        let url = self.0.borrow().url.clone();
        url.map_or_else(Snapshot::connecting, |url| self.snapshot(&url))
    }

    #[cfg(feature = "share")]
    pub(crate) fn share_role(&self) -> Option<crate::ShareRole> {
        self.0.borrow().source.as_ref().and_then(TypedEventSource::share_role)
    }

    /// Opens a connection to `url` (dropping any open one first). A new URL is a new stream: its history starts
    /// empty; the same URL again resumes after the last event id seen.
    pub(crate) fn connect(&self, url: &str) {
        self.drop_source();
        let (id, resume, options, attach) = {
            let mut st = self.0.borrow_mut();
            if st.url.as_deref() != Some(url) {
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
            (st.active, st.resume.clone(), st.options.clone(), st.attach)
        };
        let weak = Rc::downgrade(&self.0);
        let capacity = options.capacity.max(1);
        let sink: Sink<T> = {
            let weak = weak.clone();
            Rc::new(move |data: T, meta: EventMeta| {
                update(&weak, id, |st| {
                    // Copies the history only if a snapshot still shares it: once per render, not per event.
                    let messages = Rc::make_mut(&mut st.messages);
                    while messages.len() >= capacity {
                        messages.pop_front();
                    }
                    messages.push_back(Message { data, meta, seq: st.received, received_at: js_sys::Date::now() });
                    st.received += 1;
                });
            })
        };
        let mut builder = TypedEventSourceBuilder::with_options(url, options.source);
        if !resume.is_empty() {
            builder = builder.last_event_id(resume);
        }
        let builder = attach(builder, &options.events, sink)
            .on_open({
                let weak = weak.clone();
                move || {
                    update(&weak, id, |st| {
                        st.error = None;
                        if let Some(outage) = st.outage.as_mut().filter(|o| o.recovered_at.is_none()) {
                            outage.recovered_at = Some(js_sys::Date::now());
                        }
                    })
                }
            })
            .on_state_change({
                let weak = weak.clone();
                // The state is read from the source by the snapshot: this only notifies.
                move |_| update(&weak, id, |_| {})
            })
            .on_error({
                let weak = weak.clone();
                move |e| {
                    update(&weak, id, |st| {
                        let began = matches!(e, Error::HeartbeatTimeout { .. } | Error::Offline);
                        // One outage until the next open (a silence can be followed by offline: it began with the
                        // first).
                        if began && st.outage.as_ref().is_none_or(|o| o.recovered_at.is_some()) {
                            st.outage =
                                Some(Outage { cause: e.clone(), since: js_sys::Date::now(), recovered_at: None });
                        }
                        st.error = Some(e.clone());
                    })
                }
            })
            .on_gap({
                let weak = weak.clone();
                move |gap| {
                    update(&weak, id, |st| {
                        st.gap = Some(gap.clone());
                        st.gap_seq = st.received;
                    });
                }
            })
            .on_close(move |reason| update(&weak, id, |st| st.close_reason = Some(reason.clone())));
        let opened = builder.open();
        let notify = {
            let mut st = self.0.borrow_mut();
            match opened {
                Ok(source) => st.source = Some(source),
                Err(e) => st.error = Some(e),
            }
            Rc::clone(&st.notify)
        };
        notify();
    }

    /// Drops the connection (closing it); its handlers stop counting. The state stays, to resume from.
    pub(crate) fn disconnect(&self) {
        self.drop_source();
    }

    /// Closes the connection if open and opens it again to the same URL, resuming after the last event id (so
    /// nothing is missed and nothing repeated). The history stays. Nothing happens before a first connect.
    pub(crate) fn reconnect(&self) {
        let url = self.0.borrow().url.clone();
        if let Some(url) = url {
            self.connect(&url);
        }
    }

    /// Closes the stream ([`CloseReason::Client`]); harmless when closed. The history stays.
    pub(crate) fn close(&self) {
        // Taken out while it closes (its close handlers update the state), then kept: the state stays the browser's
        // readyState, and `reconnect` resumes after its last id.
        let source = self.0.borrow_mut().source.take();
        if let Some(source) = &source {
            source.close();
        }
        let mut st = self.0.borrow_mut();
        if st.source.is_none() {
            st.source = source;
        }
    }

    fn drop_source(&self) {
        let source = {
            let mut st = self.0.borrow_mut();
            st.active = 0;
            st.take_source()
        };
        drop(source);
    }
}

/// Runs `f` on the state if it still exists and `id` is its current connection; then notifies (no borrow held: the
/// notification may read the state at once).
fn update<T>(weak: &Weak<RefCell<Inner<T>>>, id: u64, f: impl FnOnce(&mut Inner<T>)) {
    let Some(inner) = weak.upgrade() else { return };
    let notify = {
        let mut st = inner.borrow_mut();
        if st.active != id {
            return;
        }
        f(&mut st);
        Rc::clone(&st.notify)
    };
    notify();
}
