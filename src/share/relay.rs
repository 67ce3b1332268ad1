//! The channel between the tabs: what a leader relays, and what a member does with what it hears.

use std::rc::Rc;

use gloo_events::EventListener;
use web_sys::BroadcastChannel;

use super::protocol::Message;
use super::{add_type, Role, Shared};
use crate::text::Text;
use crate::transport::{Ended, Received, Upstream};
use crate::{Error, ReadyState};

/// The `BroadcastChannel` and its listener; dropping it closes the channel.
pub(super) struct Channel {
    pub(super) channel: BroadcastChannel,
    pub(super) _listener: EventListener,
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.close();
    }
}

impl Shared {
    pub(super) fn post(&self, message: &Message) {
        if let Some(channel) = self.channel.borrow().as_ref() {
            // Fails only for values that cannot be cloned, and every message is plain data.
            let _ = channel.channel.post_message(&message.to_js(self.tab));
        }
    }

    /// Delivers a relayed event to this tab's engine unless its id was seen.
    pub(super) fn deliver(&self, event_type: &str, data: &str, id: &str, origin: &str, seq: f64) {
        {
            let mut seen = self.seen.borrow_mut();
            if !seen.admit(id) {
                return;
            }
            seen.sequenced(seq, id);
        }
        if let Some(up) = self.forward() {
            up.event(&Received {
                event_type,
                data: Text::Rust(data),
                last_event_id: Text::Rust(id),
                origin: Text::Rust(origin),
            });
        }
    }

    /// A message from tab `from`. Leader messages: ignored while this tab leads (its own connection is the truth,
    /// and it learns that another tab took the lock from its lock request, not from a message anyone can post);
    /// otherwise taken only from the leader this tab follows ([`follow`]).
    pub(super) fn on_message(self: &Rc<Self>, from: f64, message: Message) {
        let role = self.role.get();
        if role == Role::Left {
            return;
        }
        self.heard_peer.set(true);
        if !message.is_leaders() {
            self.handle(role, message);
            return;
        }
        if role == Role::Leader {
            return;
        }
        let taken = self.follow.borrow_mut().admit(from, message, js_sys::Date::now());
        self.handle_leaders(taken);
    }

    /// Handles leader messages [`Follow`] let through (each a sign of life of the followed leader).
    pub(super) fn handle_leaders(self: &Rc<Self>, taken: Vec<Message>) {
        if !taken.is_empty() {
            self.awaiting_since.set(None);
        }
        for message in taken {
            self.handle(self.role.get(), message);
        }
    }

    pub(super) fn handle(self: &Rc<Self>, role: Role, message: Message) {
        if role == Role::Left {
            return;
        }
        let following = role == Role::Follower;
        match message {
            Message::Ping { types } => {
                let mut new = Vec::new();
                for t in types {
                    if add_type(&self.types, &t) {
                        new.push(t);
                    }
                }
                if role == Role::Leader {
                    for t in new {
                        self.inner.borrow_mut().listen(t, &self.up_ref());
                    }
                }
                if matches!(role, Role::Leader | Role::Syncing) {
                    let open = role == Role::Leader && self.inner.borrow().ready_state() == ReadyState::Open;
                    self.post(&Message::Heartbeat { open });
                }
            }
            Message::Sync => {
                let seen = self.seen.borrow();
                let types = self.own_types.borrow().clone();
                let reply = Message::Seen { seq: seen.seq, id: seen.seq_id.clone(), types };
                drop(seen);
                self.post(&reply);
            }
            Message::Seen { seq, id, types } => {
                for t in types {
                    add_type(&self.types, &t);
                }
                if let Some(sync) = self.sync.borrow_mut().as_mut() {
                    if seq > sync.seq {
                        sync.seq = seq;
                        sync.id = id;
                    }
                }
            }
            // Followed from now on (see `on_message`); a leader that lost its lock learns it from its lock request.
            Message::Leader => {}
            Message::Heartbeat { open } => {
                if following && open && !self.relayed_open.replace(true) {
                    if let Some(up) = self.forward() {
                        up.opened();
                    }
                }
            }
            Message::Event { event, data, id, origin, seq } => {
                if self.follow.borrow_mut().in_sequence(seq) {
                    self.deliver(&event, &data, &id, &origin, seq);
                }
            }
            Message::Open => {
                if following && !self.relayed_open.replace(true) {
                    if let Some(up) = self.forward() {
                        up.opened();
                    }
                }
            }
            Message::End(end) => {
                if following {
                    self.relayed_open.set(false);
                    if let Some(up) = self.forward() {
                        up.ended(end);
                    }
                }
            }
            Message::Error(error) => {
                if following {
                    if let Some(up) = self.forward() {
                        up.error(&error);
                    }
                }
            }
            Message::Bye => {}
        }
    }
}

/// What the transport reports to a leader (or a lone tab): relayed to the others, then delivered here.
impl Upstream for Shared {
    fn opened(self: Rc<Self>) {
        if self.role.get() == Role::Left {
            return;
        }
        self.post(&Message::Open);
        if let Some(up) = self.forward() {
            up.opened();
        }
    }

    fn event(self: Rc<Self>, event: &Received<'_>) {
        if self.role.get() == Role::Left {
            return;
        }
        let last_event_id = event.last_event_id.as_str();
        // Posted before delivering here: a terminal event closes this tab's source, and the others must get it.
        let seq = {
            let mut seen = self.seen.borrow_mut();
            if !seen.admit(last_event_id) {
                return;
            }
            let seq = seen.seq + 1.0;
            seen.sequenced(seq, last_event_id);
            seq
        };
        self.post(&Message::Event {
            event: event.event_type.to_owned(),
            data: event.data.as_str().to_owned(),
            id: last_event_id.to_owned(),
            origin: event.origin.as_str().to_owned(),
            seq,
        });
        if let Some(up) = self.forward() {
            up.event(event);
        }
    }

    fn alive(self: Rc<Self>) {
        if let Some(up) = self.forward() {
            up.alive();
        }
    }

    fn error(self: Rc<Self>, error: &Error) {
        if self.role.get() == Role::Left {
            return;
        }
        if matches!(error, Error::Decode { .. }) {
            self.post(&Message::Error(error.clone()));
        }
        if let Some(up) = self.forward() {
            up.error(error);
        }
    }

    fn ended(self: Rc<Self>, end: Ended) {
        if self.role.get() == Role::Left {
            return;
        }
        self.post(&Message::End(end.clone()));
        if let Some(up) = self.forward() {
            up.ended(end);
        }
    }
}
