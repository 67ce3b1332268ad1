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
pub(super) const SILENT_MS: f64 = 2.0 * super::watchdog::PING_MS as f64;

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
    pub(super) fn reset(&mut self) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: f64) -> Message {
        Message::Event {
            event: "message".into(),
            data: format!("{seq}"),
            id: String::new(),
            origin: String::new(),
            seq,
        }
    }

    fn seqs(messages: &[Message]) -> Vec<f64> {
        messages.iter().filter_map(|m| if let Message::Event { seq, .. } = m { Some(*seq) } else { None }).collect()
    }

    const A: f64 = 0.1;
    const B: f64 = 0.2;
    const FORGER: f64 = 0.9;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn another_tab_is_held_back_while_the_leader_lives() {
        let mut f = Follow::new();
        assert_eq!(f.admit(A, Message::Leader, 0.0).len(), 1, "the first leader heard is followed");
        assert!(f.admit(FORGER, Message::Leader, 10.0).is_empty());
        assert!(f.admit(FORGER, ev(1.0), 20.0).is_empty());
        assert!(f.admit(FORGER, Message::Bye, 30.0).is_empty(), "a bye under another identity ends nothing");
        assert_eq!(seqs(&f.admit(A, ev(1.0), 100.0)), [1.0]);
        // The leader answered recently: the forger's announcement is not promoted.
        assert!(f.promote(100.0 + SILENT_MS - 1.0).is_empty());
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn after_bye_or_silence_the_next_leader_is_followed_with_what_it_sent() {
        let mut f = Follow::new();
        f.admit(A, Message::Leader, 0.0);
        f.admit(A, Message::Bye, 10.0);
        assert_eq!(f.admit(B, Message::Leader, 20.0).len(), 1, "followed at once after bye");
        // B dies without bye; C announces itself and relays before B has been silent long enough.
        const C: f64 = 0.3;
        assert!(f.admit(C, Message::Leader, 30.0).is_empty());
        assert!(f.admit(C, ev(5.0), 40.0).is_empty());
        assert!(f.admit(C, ev(6.0), 50.0).is_empty());
        // Silent long enough: C is followed and its held events come first, in order.
        assert_eq!(seqs(&f.admit(C, ev(7.0), 20.0 + SILENT_MS)), [5.0, 6.0, 7.0]);
        // Or, with nothing more sent, the watchdog promotes the tab that announced itself.
        let mut g = Follow::new();
        g.admit(A, Message::Leader, 0.0);
        assert!(g.admit(B, Message::Leader, 100.0).is_empty());
        assert!(g.promote(SILENT_MS - 1.0).is_empty());
        assert_eq!(g.promote(SILENT_MS).len(), 2);
        assert_eq!(seqs(&g.admit(B, ev(1.0), SILENT_MS + 1.0)), [1.0], "B is followed now");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn events_must_come_in_sequence() {
        let mut f = Follow::new();
        f.admit(A, Message::Leader, 0.0);
        assert!(f.in_sequence(3.0) && f.in_sequence(4.0));
        assert!(!f.in_sequence(4.0) && !f.in_sequence(2.0), "a repeat or an older one is dropped");
        // A new leader starts its own sequence.
        f.admit(A, Message::Bye, 1.0);
        f.admit(B, Message::Leader, 2.0);
        assert!(f.in_sequence(1.0));
    }
}
