//! What a tab has delivered: de-duplication of event ids and the resume point of a hand-off.

use crate::recent_ids::RecentIds;

/// How many recent event ids a tab remembers to drop duplicates (a hand-off repeats at most what a frozen leader
/// relays late; scanned linearly, which keeps a hasher out of the wasm).
const RECENT_IDS: usize = 512;

/// What a tab has delivered: recent ids (to drop duplicates) and the latest relayed event (sequence number and id).
pub(super) struct Seen {
    /// The last event id of the previous event: an event with the same one carries no id of its own.
    previous: String,
    /// The last [`RECENT_IDS`] ids (the engine's ring: a `VecDeque` here would link its own code).
    recent: RecentIds,
    /// The highest sequence number delivered, and the id of that event.
    pub(super) seq: f64,
    pub(super) seq_id: String,
    /// The id the engine asked to resume after, for when no event has been delivered yet.
    pub(super) resume: String,
}

impl Seen {
    pub(super) fn new() -> Seen {
        Seen {
            previous: String::new(),
            recent: RecentIds::new(RECENT_IDS),
            seq: 0.0,
            seq_id: String::new(),
            resume: String::new(),
        }
    }

    /// Whether an event with this last event id is new; remembers it.
    pub(super) fn admit(&mut self, id: &str) -> bool {
        if id == self.previous {
            return true; // no id of its own: nothing to tell it by
        }
        id.clone_into(&mut self.previous);
        if id.is_empty() {
            return true;
        }
        self.recent.insert(id)
    }

    /// Forgets the ids delivered so far for duplicate checks (they may have come over the channel); keeps the resume
    /// point. Called when this tab starts leading: it resumes after them, so its connection does not repeat them.
    pub(super) fn own_ids_only(&mut self) {
        self.previous.clear();
        self.recent = RecentIds::new(RECENT_IDS);
    }

    /// Records the sequence number of a delivered event.
    pub(super) fn sequenced(&mut self, seq: f64, id: &str) {
        if seq > self.seq {
            self.seq = seq;
            id.clone_into(&mut self.seq_id);
        }
    }

    /// The id to resume after: that of the latest relayed event, else the engine's.
    pub(super) fn resume_id(&self) -> &str {
        if self.seq > 0.0 {
            &self.seq_id
        } else {
            &self.resume
        }
    }
}
