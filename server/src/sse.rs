//! The event-stream response shared by every SSE route (real and fixture).
//!
//! The body is a stream that first writes the *prelude* (the `retry:` frame, a replay-gap signal if any, and replayed
//! events, coalesced into one write), then live frames from the topic's broadcast channel, several ready frames
//! coalesced into one write, and a heartbeat comment whenever the stream is idle. A subscriber that falls
//! `client_buffer` events behind catches up from the store at its own pace ([`crate::hub::LiveFeed`]); one that fell
//! behind what the store retains is evicted (the stream ends). An epoch change seen live sends `replay-gap` and the
//! new history. The server's shutdown ends every stream, and the [`StreamGuard`] dropped with the body updates
//! `sse_open_streams` at once.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::Notify;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::hub::feed::{Accepted, CatchUpError};
use crate::hub::{Delivery, Event, Gap, LiveFeed, Subscription};
use crate::limits::StreamGuard;
use crate::metrics::Metrics;

/// Most bytes coalesced into one write.
const COALESCE_BYTES: usize = 64 * 1024;

/// Builds the prelude of a stream: `retry:`, the gap signal, then replayed events.
#[derive(Debug)]
pub struct Prelude {
    buf: BytesMut,
    last_id: u64,
    replayed: u64,
}

impl Prelude {
    /// Starts with the `retry:` frame.
    pub fn new(retry: Duration) -> Self {
        let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(&sse_codec::Frame::retry_only(millis));
        Prelude { buf, last_id: 0, replayed: 0 }
    }

    /// Adds the `replay-gap` event: JSON `{"requested": "<id>", "oldest": "<id>"|null, "epoch": "<epoch>",
    /// "reason": "malformed"|"other-epoch"|"unknown"|"expired"}`, with the id just before the history that follows
    /// (so the client's `lastEventId` stays consistent).
    pub fn gap(mut self, gap: &Gap) -> Self {
        self.buf.extend_from_slice(&gap_frame(gap));
        self
    }

    /// Adds an already encoded event.
    pub fn event(mut self, event: &Event) -> Self {
        self.buf.extend_from_slice(&event.frame);
        self.last_id = self.last_id.max(event.pos);
        self.replayed += 1;
        self
    }

    /// Adds a subscription's gap signal and replay.
    pub fn subscription(mut self, sub: &Subscription) -> Self {
        self.last_id = self.last_id.max(sub.after);
        if let Some(gap) = &sub.gap {
            self = self.gap(gap);
        }
        for e in &sub.replay {
            self = self.event(e);
        }
        self
    }

    /// Adds raw frame bytes that are not topic events (fixtures).
    pub fn raw(mut self, frame: &[u8]) -> Self {
        self.buf.extend_from_slice(frame);
        self
    }
}

/// The `replay-gap` event of `gap` (see [`Prelude::gap`]).
fn gap_frame(gap: &Gap) -> Vec<u8> {
    let data = serde_json::json!({
        "requested": gap.requested,
        "oldest": gap.oldest,
        "epoch": gap.epoch,
        "reason": gap.reason.as_str(),
    })
    .to_string();
    let mut out = Vec::with_capacity(data.len() + 48);
    // The name and the JSON data are always valid and the id is ours (the client's text is only in the JSON,
    // escaped); if encoding failed anyway, the signal would be skipped.
    if sse_codec::encode_into(&sse_codec::Frame::message(&data).event("replay-gap").id(&gap.resume_id), &mut out)
        .is_err()
    {
        out.clear();
    }
    out
}

/// What happens after the prelude.
#[derive(Debug)]
pub enum Live {
    /// Live events from a topic.
    Topic(LiveFeed),
    /// Nothing but heartbeats until the client leaves or the server shuts down.
    Idle,
    /// The server closes the stream right after the prelude.
    Close,
}

/// Shared pieces every stream needs.
#[derive(Debug, Clone)]
pub struct StreamEnv {
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// The heartbeat comment, encoded once.
    pub heartbeat_frame: Bytes,
    /// Cancelled at shutdown: ends every stream.
    pub shutdown: CancellationToken,
}

struct State {
    live: Live,
    last_id: u64,
    /// Fires at most once per heartbeat period; the heartbeat is due `env.heartbeat` after `last_write`. Writes only
    /// move `last_write` (no timer reset per write: that took the timer driver's lock on every delivery).
    heartbeat: Interval,
    last_write: Instant,
    /// Registered once with the shutdown token (a fresh `cancelled()` per chunk locked its waiter list every time).
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    env: StreamEnv,
    guard: StreamGuard,
    next: Pending,
}

/// What the stream does before waiting for live events again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Nothing: wait.
    Wait,
    /// Catch up from the store (the live buffer overflowed, or the epoch changed).
    CatchUp,
}

/// The `text/event-stream` response: `prelude`, then `live`.
pub fn response(env: &StreamEnv, guard: StreamGuard, prelude: Prelude, live: Live) -> Response {
    let metrics: &Metrics = guard.metrics();
    Metrics::inc(&metrics.replayed, prelude.replayed);
    Metrics::inc(&metrics.delivered, prelude.replayed);
    let mut heartbeat = tokio::time::interval_at(Instant::now() + env.heartbeat, env.heartbeat);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let first = prelude.buf.freeze();
    let state = State {
        live,
        last_id: prelude.last_id,
        heartbeat,
        last_write: Instant::now(),
        shutdown: Box::pin(env.shutdown.clone().cancelled_owned()),
        env: env.clone(),
        guard,
        next: Pending::Wait,
    };
    let first = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(first) });
    let rest = futures::stream::unfold(state, |mut st| async move {
        let chunk = next_chunk(&mut st).await?;
        Some((Ok(chunk), st))
    });
    use futures::StreamExt as _;
    let body = Body::from_stream(first.chain(rest));
    let mut res = Response::new(body);
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// A complete `text/event-stream` response holding only `body` (no stream budget is used): the busy answer.
pub fn busy_response(body: Bytes) -> Response {
    let mut res = Response::new(Body::from(body));
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// Takes the live delivery already waiting, or else waits for the next commit's wake-up, the heartbeat or shutdown.
///
/// The wake-up comes once per commit, after all its events are in the channel (see `hub::Channel`): the stream then
/// writes the commit whole. It is enabled before the channel is checked, so a commit in between is not missed.
async fn next_step(st: &mut State) -> Step {
    if st.env.shutdown.is_cancelled() {
        return Step::Stop;
    }
    let State { live, shutdown, heartbeat, .. } = st;
    let ready = match live {
        Live::Topic(feed) => Some(feed.ready()),
        Live::Idle | Live::Close => None,
    };
    let mut notified = std::pin::pin!(ready.as_deref().map(Notify::notified));
    if let Some(n) = notified.as_mut().as_pin_mut() {
        n.enable();
    }
    if let Live::Topic(feed) = live {
        match feed.try_recv() {
            Ok(delivery) => return Step::Event(delivery),
            Err(TryRecvError::Lagged(_)) => return Step::Lagged,
            Err(TryRecvError::Closed) => return Step::Stop,
            Err(TryRecvError::Empty) => {}
        }
    }
    let woken = async {
        match notified.as_mut().as_pin_mut() {
            Some(n) => n.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        () = shutdown.as_mut() => Step::Stop,
        () = woken => Step::Woken,
        _ = heartbeat.tick() => Step::Beat,
    }
}

fn evict(st: &State) {
    Metrics::inc(&st.guard.metrics().evicted, 1);
    tracing::debug!("evicting a slow client");
}

/// The next bytes to write, or `None` to end the stream.
async fn next_chunk(st: &mut State) -> Option<Bytes> {
    if matches!(st.live, Live::Close) || st.env.shutdown.is_cancelled() {
        return None;
    }
    loop {
        match st.next {
            Pending::Wait => {}
            Pending::CatchUp => match catch_up(st).await {
                Ok(Some(chunk)) => return Some(chunk),
                Ok(None) => continue,
                Err(()) => return None,
            },
        }
        match next_step(st).await {
            Step::Stop => return None,
            Step::Woken => {}
            Step::Beat => {
                let due = st.last_write + st.env.heartbeat;
                let now = Instant::now();
                if now >= due {
                    st.last_write = now;
                    return Some(st.env.heartbeat_frame.clone());
                }
                // Something was written since: the heartbeat is due one period after that write.
                st.heartbeat.reset_at(due);
            }
            Step::Lagged => st.next = Pending::CatchUp,
            Step::Event(delivery) => {
                let Live::Topic(feed) = &mut st.live else { continue };
                match feed.accept(delivery, st.last_id) {
                    Accepted::Skip => {}
                    Accepted::CatchUp => st.next = Pending::CatchUp,
                    Accepted::Event(ev) => {
                        st.last_id = ev.pos;
                        let chunk = coalesce(st, ev);
                        st.last_write = Instant::now();
                        return Some(chunk);
                    }
                }
            }
        }
    }
}

/// One catch-up step: the bytes to send (`None`: nothing, go on live), or `Err` to end the stream.
async fn catch_up(st: &mut State) -> Result<Option<Bytes>, ()> {
    let Live::Topic(feed) = &mut st.live else { return Ok(None) };
    let step = match feed.catch_up(st.last_id).await {
        Ok(step) => step,
        Err(CatchUpError::Behind) => {
            evict(st);
            return Err(());
        }
        Err(CatchUpError::Store(e)) => {
            // Its client reconnects with its last id and gets exactly what it missed once the store answers.
            tracing::warn!(error = %e, "a stream could not catch up from the store; closing it");
            return Err(());
        }
    };
    st.next = if step.done { Pending::Wait } else { Pending::CatchUp };
    let mut buf = BytesMut::new();
    if let (Some(gap), Some(at)) = (&step.gap, step.restart_at) {
        buf.extend_from_slice(&gap_frame(gap));
        st.last_id = at;
    }
    let mut count = 0u64;
    for ev in &step.events {
        if ev.pos > st.last_id {
            buf.extend_from_slice(&ev.frame);
            st.last_id = ev.pos;
            count += 1;
        }
    }
    let metrics = st.guard.metrics();
    Metrics::inc(&metrics.delivered, count);
    Metrics::inc(&metrics.catch_up_events, count);
    if step.done {
        Metrics::inc(&metrics.catch_ups, 1);
    }
    if buf.is_empty() {
        return Ok(None);
    }
    st.last_write = Instant::now();
    Ok(Some(buf.freeze()))
}

enum Step {
    Stop,
    Beat,
    /// A commit's wake-up: look at the channel again.
    Woken,
    /// The live buffer overflowed: catch up from the store.
    Lagged,
    Event(Delivery),
}

/// Appends the frames already waiting to `first`, up to [`COALESCE_BYTES`]; one frame is sent without copying.
fn coalesce(st: &mut State, first: Arc<Event>) -> Bytes {
    let mut count = 1u64;
    let mut buf: Option<BytesMut> = None;
    if let Live::Topic(feed) = &mut st.live {
        while buf.as_ref().map_or(first.frame.len(), BytesMut::len) < COALESCE_BYTES {
            let ev = match feed.try_recv() {
                Ok(delivery) => match feed.accept(delivery, st.last_id) {
                    Accepted::Event(ev) => ev,
                    Accepted::Skip => continue,
                    Accepted::CatchUp => {
                        st.next = Pending::CatchUp;
                        break;
                    }
                },
                Err(TryRecvError::Lagged(_)) => {
                    st.next = Pending::CatchUp;
                    break;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            };
            st.last_id = ev.pos;
            let b = buf.get_or_insert_with(|| {
                let mut b = BytesMut::with_capacity(first.frame.len() * 4);
                b.extend_from_slice(&first.frame);
                b
            });
            b.extend_from_slice(&ev.frame);
            count += 1;
        }
    }
    Metrics::inc(&st.guard.metrics().delivered, count);
    match buf {
        Some(b) => b.freeze(),
        None => first.frame.clone(),
    }
}
