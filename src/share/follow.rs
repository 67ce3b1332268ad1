//! Which tab a member takes leader messages from, and in what order.
//!
//! Anything on the channel may come from another script of the origin, not from a member. A member follows one
//! leader, by its `from`: leader messages from any other tab are held back — not delivered — unless no leader is
//! known yet, the followed one said `bye`, or it has been silent for [`SILENT_MS`] (it died, or another tab took
//! its lock); then the first tab heard from is followed, and what it sent while held back is handled first, in
//! order. Its events must come with increasing sequence numbers. So a script that posts on the channel without
//! reading it first cannot make a tab deliver its messages, drop the leader's, or change leader while the leader is
//! alive. (One that reads the channel can copy the leader's `from`: see the trust model in the README.)

use super::protocol::Message;

/// How long the followed leader must have been silent before another tab's leader messages are taken: two ping
/// periods (a living leader answers every ping at once).
pub(super) const SILENT_MS: f64 = 2.0 * super::PING_MS as f64;

/// Leader messages held back from tabs not followed, at most (the oldest go first).
const HELD: usize = 256;

/// The leader a member follows.
pub(super) struct Follow {
    /// Its `from`, once known.
    leader: Option<f64>,
    /// When it was last heard (`Date.now()`).
    heard_at: f64,
    /// Whether it said `bye`.
    left: bool,
    /// The sequence number of its last event.
    seq: f64,
    /// Leader messages from other tabs, held back.
    held: Vec<(f64, Message)>,
}

impl Follow {
    pub(super) fn new() -> Follow {
        Follow { leader: None, heard_at: 0.0, left: false, seq: 0.0, held: Vec::new() }
    }

    /// Follows no one (this tab leads, or has just stopped leading): the next leader heard is followed.
    pub(super) fn forget(&mut self) {
        *self = Follow::new();
    }

    /// A leader message from `from` at `now`: the messages to handle now, in order (none when it is held back).
    pub(super) fn admit(&mut self, from: f64, message: Message, now: f64) -> Vec<Message> {
        if self.leader != Some(from) {
            let free = self.leader.is_none() || self.left || now - self.heard_at >= SILENT_MS;
            if !free {
                if self.held.len() >= HELD {
                    self.held.remove(0);
                }
                self.held.push((from, message));
                return Vec::new();
            }
            *self = Follow {
                leader: Some(from),
                heard_at: now,
                left: false,
                seq: 0.0,
                held: std::mem::take(&mut self.held),
            };
        }
        self.heard_at = now;
        let mut taken: Vec<Message> = Vec::new();
        let mut i = 0;
        while i < self.held.len() {
            if self.held[i].0 == from {
                taken.push(self.held.remove(i).1);
            } else {
                i += 1;
            }
        }
        taken.push(message);
        self.left |= taken.iter().any(|m| matches!(m, Message::Bye));
        taken
    }

    /// When the followed leader has been silent for [`SILENT_MS`] and a tab has announced itself (`leader`) since:
    /// follows the latest such tab and returns what it sent, in order (so a new leader that has nothing to relay
    /// yet is followed before this member would take the lock itself).
    pub(super) fn promote(&mut self, now: f64) -> Vec<Message> {
        let free = self.leader.is_none() || self.left || now - self.heard_at >= SILENT_MS;
        let announced = self.held.iter().rev().find(|(_, m)| matches!(m, Message::Leader)).map(|(from, _)| *from);
        match announced {
            Some(from) if free => self.admit(from, Message::Leader, now),
            _ => Vec::new(),
        }
    }

    /// Whether an event with sequence number `seq` from the followed leader is in order (each is greater than the
    /// one before; a repeat or an older one is dropped).
    pub(super) fn in_sequence(&mut self, seq: f64) -> bool {
        if seq <= self.seq {
            return false;
        }
        self.seq = seq;
        true
    }
}
