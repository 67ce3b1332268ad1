//! A stream's side of a topic: its live receiver, and the store to catch up from when live delivery cannot keep up
//! with it or the epoch changed.
//!
//! - **Catch-up from the store.** A stream whose live buffer overflowed (a burst, the refill after a Redis
//!   subscription reconnect) reads what it missed from the store, [`CATCH_UP_EVENTS`] at a time, at its own pace,
//!   then goes on live (events it already has are dropped by position). Only a stream that fell behind what the store
//!   retains is evicted: its client was too slow even for the store's history, and its reconnect gets `replay-gap`.
//! - **Epoch change seen live** (a wiped or replaced Redis): positions start again, so the stream's position means
//!   nothing any more. It sends `replay-gap` (reason `other-epoch`) and the new epoch's history, and starts over from
//!   there. Live events carry the fan-out's generation ([`super::Delivery`]), so an event of the old epoch still in
//!   flight is never taken for one of the new.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::TryRecvError};
use tokio::sync::Notify;

use super::{resume_position, Delivery, Event, Fanout, Gap, GapReason, MAX_REPLAY};
use crate::event_id;
use crate::store::Snapshot;
use crate::store::{Store, StoreError};

/// Most events read from the store per catch-up step (bounds a stream's memory during catch-up).
pub const CATCH_UP_EVENTS: usize = 64;

/// Live events of one topic for one stream, and what it needs to catch up; see the [module docs](self).
pub struct LiveFeed {
    rx: broadcast::Receiver<Delivery>,
    /// Notified once per commit that sent this topic events (the channel's sends wake nobody).
    ready: Arc<Notify>,
    store: Arc<dyn Store>,
    fanout: Arc<Fanout>,
    topic: Arc<str>,
    /// The epoch of the events this stream sent.
    epoch: String,
    /// The fan-out generation known to carry `epoch` (if `adopted`), or the newest one known not to.
    generation: u64,
    adopted: bool,
    /// A delivery of a generation of another epoch arrived: switch at the next catch-up.
    switch: bool,
}

impl std::fmt::Debug for LiveFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFeed").field("topic", &self.topic).field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

/// What to do with one live delivery.
#[derive(Debug)]
pub enum Accepted {
    /// Send it.
    Event(Arc<Event>),
    /// Already sent, or of an old epoch.
    Skip,
    /// The epoch changed: catch up (which switches).
    CatchUp,
}

/// What one catch-up step found.
#[derive(Debug, Default)]
pub struct CatchUp {
    /// The epoch changed: the gap signal to send first.
    pub gap: Option<Gap>,
    /// With `gap`: the stream's position starts again here (in the new epoch).
    pub restart_at: Option<u64>,
    /// Events to send, in order.
    pub events: Vec<Arc<Event>>,
    /// Whether the stream has caught up (otherwise: call again after sending these).
    pub done: bool,
}

/// Why a stream cannot catch up.
#[derive(Debug, thiserror::Error)]
pub enum CatchUpError {
    /// Events the client has not seen were removed by retention: it is too slow (or was away too long).
    #[error("the client fell behind the retained history")]
    Behind,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LiveFeed {
    pub(super) fn new(
        rx: broadcast::Receiver<Delivery>,
        ready: Arc<Notify>,
        store: Arc<dyn Store>,
        fanout: Arc<Fanout>,
        topic: &str,
        generation: u64,
        epoch: String,
    ) -> Self {
        let topic = topic.into();
        let mut feed = LiveFeed { rx, ready, store, fanout, topic, epoch, generation, adopted: false, switch: false };
        // The generation the receiver started in carries our epoch unless the store learnt a new one meanwhile.
        let (current, epoch) = feed.fanout.current();
        feed.adopted = current == generation && epoch == feed.epoch;
        feed
    }

    /// What to wait on when [`Self::try_recv`] finds nothing: notified once a commit's events are all in. Enable
    /// the `notified()` future *before* the `try_recv` that found nothing, or a commit in between is missed.
    pub fn ready(&self) -> Arc<Notify> {
        Arc::clone(&self.ready)
    }

    /// A live delivery already waiting, if any.
    pub fn try_recv(&mut self) -> Result<Delivery, TryRecvError> {
        self.rx.try_recv()
    }

    /// What to do with `delivery` for a stream at position `last`.
    pub fn accept(&mut self, delivery: Delivery, last: u64) -> Accepted {
        if delivery.generation > self.generation {
            let (current, epoch) = self.fanout.current();
            if epoch == self.epoch {
                // The stream already switched (by a catch-up) to the epoch the fan-out now carries.
                self.generation = current;
                self.adopted = true;
            } else {
                self.switch = true;
                return Accepted::CatchUp;
            }
        }
        if delivery.generation != self.generation || !self.adopted {
            return Accepted::Skip;
        }
        match delivery.event {
            Some(event) if event.pos > last => Accepted::Event(event),
            _ => Accepted::Skip,
        }
    }

    /// One catch-up step for a stream at position `last`: what it missed (at most [`CATCH_UP_EVENTS`]), or, if the
    /// epoch changed, the gap signal and the new epoch's history.
    pub async fn catch_up(&mut self, last: u64) -> Result<CatchUp, CatchUpError> {
        if self.switch || self.store.epoch() != self.epoch {
            return Ok(self.switch_epoch(last).await?);
        }
        let snap = self.store.read(&self.topic, last, CATCH_UP_EVENTS).await?;
        if self.store.epoch() != self.epoch {
            return Ok(self.switch_epoch(last).await?);
        }
        // A record that failed verification (logged by the store) cannot be caught up past silently: the stream
        // ends like one that fell behind, and its reconnect's replay carries the `corrupt` gap.
        if behind(&snap, last) || !snap.corrupt.is_empty() {
            return Err(CatchUpError::Behind);
        }
        let done = snap.events.len() < CATCH_UP_EVENTS;
        Ok(CatchUp { events: snap.events, done, ..CatchUp::default() })
    }

    async fn switch_epoch(&mut self, last: u64) -> Result<CatchUp, StoreError> {
        self.switch = false;
        let (generation, live_epoch) = self.fanout.current();
        let snap = self.store.read(&self.topic, 0, MAX_REPLAY).await?;
        let epoch = self.store.epoch();
        self.generation = generation;
        self.adopted = live_epoch == epoch;
        if epoch == self.epoch {
            return Ok(CatchUp { done: true, ..CatchUp::default() });
        }
        let restart_at = resume_position(&snap);
        let gap = Gap {
            requested: event_id::format(&self.epoch, last),
            oldest: snap.events.first().map(|e| event_id::format(&epoch, e.pos)),
            resume_id: event_id::format(&epoch, restart_at),
            epoch: epoch.clone(),
            reason: GapReason::OtherEpoch,
        };
        tracing::info!(topic = %self.topic, old = %self.epoch, new = %epoch, "stream switched to a new epoch");
        self.epoch = epoch;
        Ok(CatchUp { gap: Some(gap), restart_at: Some(restart_at), events: snap.events, done: true })
    }
}

/// Whether events after `last` were removed (retention, or the topic was deleted) before the stream read them.
fn behind(snap: &Snapshot, last: u64) -> bool {
    match &snap.topic {
        Some(t) => last < t.trimmed_upto,
        None => last < snap.deleted_upto,
    }
}
