//! Topics: numbered events encoded once, a bounded history for replay, and a broadcast channel for live delivery.
//!
//! A [`Topic`] is one logical stream (the broadcast board, one user, one job). Publishing assigns the next id,
//! encodes the frame once (with `sse_codec`), stores it in the history and sends the shared [`Bytes`] to every live
//! subscriber. Subscribing takes the lock that publishing holds, registers for live events *before* taking the
//! history snapshot, so a replay has no gap and no duplicate even while events are being published.
//!
//! ```
//! use std::sync::Arc;
//! use typed_eventsource_server::hub::{Start, Topic};
//! use typed_eventsource_server::metrics::Metrics;
//!
//! let topic = Topic::new(16, 16, Arc::new(Metrics::default()));
//! topic.publish(None, "one").unwrap();
//! topic.publish(Some("note"), "two").unwrap();
//! let sub = topic.subscribe(Start::After(1));
//! assert_eq!(sub.replay.len(), 1);
//! assert_eq!(&sub.replay[0].frame[..], b"id: 2\nevent: note\ndata: two\n\n");
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::metrics::Metrics;

/// One published event: its id and its encoded frame, shared by every subscriber.
#[derive(Debug)]
pub struct Event {
    /// The id (per topic, increasing from 1).
    pub id: u64,
    /// The frame as it goes on the wire.
    pub frame: Bytes,
}

/// Where a new subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Live events only.
    Live,
    /// The whole retained history, then live events.
    All,
    /// The events after this id (a reconnect with `Last-Event-ID`), then live events.
    After(u64),
    /// The events published while nobody was subscribed (stored for an offline user), then live events.
    Undelivered,
}

/// The replay could not start where the client asked: the id is unknown or older than the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The id the client asked for.
    pub requested: u64,
    /// The oldest id still retained, if any.
    pub oldest: Option<u64>,
    /// The id to give the gap event: the one just before the replayed history.
    pub resume_id: u64,
}

/// A new subscription: what to replay first, then the live receiver.
#[derive(Debug)]
pub struct Subscription {
    /// Set when the requested id could not be honoured; `replay` is then the whole retained history.
    pub gap: Option<Gap>,
    /// Events to send before live ones, in order.
    pub replay: Vec<Arc<Event>>,
    /// Live events published after the snapshot.
    pub rx: broadcast::Receiver<Arc<Event>>,
}

#[derive(Debug)]
struct State {
    last_id: u64,
    history: VecDeque<Arc<Event>>,
    history_cap: usize,
    /// First id published while nobody was subscribed and not yet delivered.
    undelivered_from: Option<u64>,
}

/// One stream of events with its history; see the [module docs](self).
#[derive(Debug)]
pub struct Topic {
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<Event>>,
    metrics: Arc<Metrics>,
}

impl Topic {
    /// A topic keeping `history` events, whose subscribers may lag `buffer` events before being evicted.
    pub fn new(history: usize, buffer: usize, metrics: Arc<Metrics>) -> Self {
        let (tx, _) = broadcast::channel(buffer.max(1));
        Topic {
            state: Mutex::new(State {
                last_id: 0,
                history: VecDeque::new(),
                history_cap: history,
                undelivered_from: None,
            }),
            tx,
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent (every update is one push/pop).
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes one event (`event` `None` = `message`) and returns its id; an invalid name publishes nothing.
    pub fn publish(&self, event: Option<&str>, data: &str) -> Result<u64, sse_codec::EncodeError> {
        self.publish_with(event, |_| data.to_owned()).map(|(id, _)| id)
    }

    /// Publishes one event whose data is made from its id (so the data can contain the id); returns id and data.
    pub fn publish_with(
        &self,
        event: Option<&str>,
        make_data: impl FnOnce(u64) -> String,
    ) -> Result<(u64, String), sse_codec::EncodeError> {
        let mut st = self.lock();
        let id = st.last_id + 1;
        let data = make_data(id);
        let data = data.as_str();
        let id_text = id.to_string();
        let mut frame = sse_codec::Frame::message(data).id(&id_text);
        if let Some(event) = event {
            frame = frame.event(event);
        }
        let mut buf = Vec::with_capacity(data.len() + 48);
        sse_codec::encode_into(&frame, &mut buf)?;
        st.last_id = id;
        let event = Arc::new(Event { id, frame: Bytes::from(buf) });
        if st.history_cap > 0 {
            if st.history.len() >= st.history_cap {
                st.history.pop_front();
            }
            st.history.push_back(Arc::clone(&event));
        }
        if self.tx.receiver_count() == 0 && st.undelivered_from.is_none() {
            st.undelivered_from = Some(id);
        }
        // Sending while locked orders live events after every snapshot taken before them.
        let _ = self.tx.send(event);
        Metrics::inc(&self.metrics.published, 1);
        Ok((id, data.to_owned()))
    }

    /// Subscribes; see [`Start`] and [`Subscription`].
    pub fn subscribe(&self, start: Start) -> Subscription {
        let mut st = self.lock();
        let rx = self.tx.subscribe();
        let undelivered = st.undelivered_from.take();
        let oldest = st.history.front().map(|e| e.id);
        let resume_id = oldest.map_or(st.last_id, |o| o - 1);
        let all = || st.history.iter().cloned().collect::<Vec<_>>();
        let (gap, replay) = match start {
            Start::Live => (None, Vec::new()),
            Start::All => (None, all()),
            Start::Undelivered => match undelivered {
                Some(from) => (None, st.history.iter().filter(|e| e.id >= from).cloned().collect()),
                None => (None, Vec::new()),
            },
            Start::After(requested) => {
                let known = requested <= st.last_id && requested >= resume_id;
                if known {
                    (None, st.history.iter().filter(|e| e.id > requested).cloned().collect())
                } else {
                    (Some(Gap { requested, oldest, resume_id }), all())
                }
            }
        };
        Subscription { gap, replay, rx }
    }

    /// Live subscribers now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// The id of the last published event (0 if none).
    pub fn last_id(&self) -> u64 {
        self.lock().last_id
    }
}

/// Most per-user topics kept; past it, topics of users with no open stream are dropped (with their history).
pub const MAX_USER_TOPICS: usize = 100_000;

/// The broadcast topic and the per-user topics.
#[derive(Debug)]
pub struct Hub {
    /// `GET /subscribe` / `POST /update`.
    pub broadcast: Arc<Topic>,
    users: Mutex<HashMap<String, Arc<Topic>>>,
    history: usize,
    buffer: usize,
    metrics: Arc<Metrics>,
}

impl Hub {
    /// A hub whose topics keep `history` events and let subscribers lag `buffer` events.
    pub fn new(history: usize, buffer: usize, metrics: Arc<Metrics>) -> Self {
        Hub {
            broadcast: Arc::new(Topic::new(history, buffer, Arc::clone(&metrics))),
            users: Mutex::new(HashMap::new()),
            history,
            buffer,
            metrics,
        }
    }

    /// The topic of `user`, created on first use.
    pub fn user(&self, user: &str) -> Arc<Topic> {
        let mut users = self.users.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = users.get(user) {
            return Arc::clone(t);
        }
        if users.len() >= MAX_USER_TOPICS {
            users.retain(|_, t| t.subscribers() > 0);
        }
        // Per-user topics are many: a smaller live buffer keeps their memory low.
        let topic = Arc::new(Topic::new(self.history, self.buffer.min(128), Arc::clone(&self.metrics)));
        users.insert(user.to_owned(), Arc::clone(&topic));
        topic
    }
}
