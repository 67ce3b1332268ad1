//! The whole stream as a [`futures::Stream`]: the same source, with handlers that push into a channel.

use std::cell::RefCell;
use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::channel::mpsc::{self, UnboundedReceiver, UnboundedSender};
use futures::Stream;
use serde::de::DeserializeOwned;

use crate::{CloseReason, Error, EventMeta, ReadyState, TypedEventSource, TypedEventSourceBuilder};

type SharedSender<E> = Rc<RefCell<Option<UnboundedSender<Result<Received<E>, Error>>>>>;

/// An event with its metadata, as yielded by an [`EventStream`].
///
/// ```
/// let r = typed_eventsource::Received { data: 5u32, meta: Default::default() };
/// assert_eq!(r.data, 5);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Received<T> {
    /// The decoded data.
    pub data: T,
    /// The event type, last event id and origin.
    pub meta: EventMeta,
}

/// A typed stream of events that **ends when the source closes** (terminal message, `close()`, or failure); errors
/// (transient, fatal, decode) come as `Err` items without ending it. Dropping it closes the source.
///
/// ```no_run
/// # use typed_eventsource::{TerminalRule, TypedEventSource};
/// # #[derive(serde::Deserialize)] enum JobEvent { Ping(String) }
/// # fn render(_: JobEvent) {}
/// # fn log(_: &str) {}
/// # async fn run() -> Result<(), typed_eventsource::Error> {
/// use futures::StreamExt;
/// let mut events = TypedEventSource::builder("/jobs/7/events")
///     .close_on(TerminalRule::event_with_data("ping", "finished"))
///     .into_stream::<JobEvent>()?;
/// while let Some(item) = events.next().await {
///     match item { Ok(ev) => render(ev.data), Err(e) => log(&e.to_string()) }
/// }
/// assert!(events.close_reason().unwrap().is_terminal());
/// # Ok(())
/// # }
/// ```
#[must_use = "streams do nothing unless polled; dropping one closes its source"]
pub struct EventStream<T> {
    source: TypedEventSource,
    receiver: UnboundedReceiver<Result<Received<T>, Error>>,
}

impl<T> fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream").field("source", &self.source).finish_non_exhaustive()
    }
}

impl<T> EventStream<T> {
    /// The source's state.
    ///
    /// ```no_run
    /// # use typed_eventsource::{ReadyState, TypedEventSource};
    /// # #[derive(serde::Deserialize)] enum JobEvent { Ping(String) }
    /// # let events = TypedEventSource::builder("/jobs/7/events").into_stream::<JobEvent>()?;
    /// assert_eq!(events.state(), ReadyState::Closed);
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn state(&self) -> ReadyState {
        self.source.state()
    }

    /// Why the source closed, once it has.
    ///
    /// ```no_run
    /// # use typed_eventsource::{ReadyState, TypedEventSource};
    /// # #[derive(serde::Deserialize)] enum JobEvent { Ping(String) }
    /// # let events = TypedEventSource::builder("/jobs/7/events").into_stream::<JobEvent>()?;
    /// assert!(events.close_reason().unwrap().is_terminal());
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.source.close_reason()
    }

    /// Closes the source; the stream yields what was already received, then ends.
    ///
    /// ```no_run
    /// # use typed_eventsource::{ReadyState, TypedEventSource};
    /// # #[derive(serde::Deserialize)] enum JobEvent { Ping(String) }
    /// # let events = TypedEventSource::builder("/jobs/7/events").into_stream::<JobEvent>()?;
    /// events.close();
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn close(&self) {
        self.source.close();
    }

    /// The source behind the stream.
    ///
    /// ```no_run
    /// # use typed_eventsource::{ReadyState, TypedEventSource};
    /// # #[derive(serde::Deserialize)] enum JobEvent { Ping(String) }
    /// # let events = TypedEventSource::builder("/jobs/7/events").into_stream::<JobEvent>()?;
    /// let id = events.source().last_event_id();
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn source(&self) -> &TypedEventSource {
        &self.source
    }
}

impl<T> Stream for EventStream<T> {
    type Item = Result<Received<T>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.receiver).poll_next(cx)
    }
}

impl TypedEventSourceBuilder {
    /// Opens the source as a stream of the whole-stream enum `E` (see [`on_enum`](Self::on_enum)); handlers already
    /// set on the builder still run.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    ///
    /// ```no_run
    /// # use typed_eventsource::TypedEventSource;
    /// # #[derive(serde::Deserialize)] enum BoardEvent { Ping(String) }
    /// let events = TypedEventSource::builder("/subscribe").into_stream::<BoardEvent>()?;
    /// # Ok::<(), typed_eventsource::Error>(())
    /// ```
    pub fn into_stream<E: DeserializeOwned + 'static>(self) -> Result<EventStream<E>, Error> {
        let (sender, receiver) = mpsc::unbounded();
        // Closing drops the sender, which ends the stream once the buffered items are read.
        let sender: SharedSender<E> = Rc::new(RefCell::new(Some(sender)));
        let send = move |sender: &SharedSender<E>, item| {
            if let Some(s) = &*sender.borrow() {
                let _ = s.unbounded_send(item); // the receiver is gone only once the stream is dropped
            }
        };
        let source = self
            .on_enum::<E>({
                let sender = sender.clone();
                move |data, meta| send(&sender, Ok(Received { data, meta }))
            })
            .on_error({
                let sender = sender.clone();
                move |e| send(&sender, Err(e.clone()))
            })
            .on_close(move |_| drop(sender.borrow_mut().take()))
            .open()?;
        Ok(EventStream { source, receiver })
    }
}
