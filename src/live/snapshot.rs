//! [`Snapshot`]: what a component shows of its stream at one moment.

use std::collections::VecDeque;
use std::rc::Rc;

use super::{Message, Outage};
use crate::{CloseReason, Error, Gap, ReadyState};

/// What a component shows of its stream at one moment.
#[derive(Debug)]
pub(crate) struct Snapshot<T> {
    pub(crate) state: ReadyState,
    pub(crate) messages: Rc<VecDeque<Message<T>>>,
    pub(crate) received: u64,
    pub(crate) error: Option<Error>,
    pub(crate) close_reason: Option<CloseReason>,
    pub(crate) last_event_id: String,
    pub(crate) gap: Option<Gap>,
    pub(crate) gap_seq: u64,
    pub(crate) duplicates_dropped: u64,
    pub(crate) outage: Option<Outage>,
    pub(crate) offline: bool,
}

impl<T> Clone for Snapshot<T> {
    fn clone(&self) -> Self {
        Snapshot {
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
        }
    }
}

/// Equal when they show the same thing (the history compared by identity: a new message makes a new history).
impl<T> PartialEq for Snapshot<T> {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.messages, &other.messages)
            && self.state == other.state
            && self.received == other.received
            && self.error == other.error
            && self.close_reason == other.close_reason
            && self.last_event_id == other.last_event_id
            && self.gap == other.gap
            && self.gap_seq == other.gap_seq
            && self.duplicates_dropped == other.duplicates_dropped
            && self.outage == other.outage
            && self.offline == other.offline
    }
}

impl<T> Snapshot<T> {
    /// A stream about to connect, nothing received.
    pub(crate) fn connecting() -> Self {
        Snapshot {
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
        }
    }
}
