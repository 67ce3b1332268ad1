//! Pipelined short requests (`POST`, `PUT`, `PATCH`, `DELETE` with a `Content-Length` body within the body limit)
//! on an HTTP/1.1 connection: up to [`WINDOW`] of them are in the router at once and answered in order.
//!
//! hyper's HTTP/1 server calls the service for one request at a time, so a publisher pipelining `POST /update`
//! waits for each publish's commit (and, under fan-out, for the runtime to come back to it) before the next one even
//! reaches the hub: about one publish per fan-out round, each its own commit. Here every complete request already
//! received is handed to the router at once, in arrival order; their writes reach the hub's committer together and
//! are committed as one store batch (one fsync), and the answers are written in request order as each is ready.
//!
//! Order: the requests are first polled in arrival order, outside tokio's cooperative budget (which would make a
//! request yield before the hub's queue and be overtaken), and the publishing routes reach the hub's queue (FIFO,
//! fair when full) before their first wait: a connection's publishes are committed in the order sent (the tests
//! check it on the stored positions).
//!
//! Anything else at the head of the buffer (an event-stream request, a request for hyper) waits until every answer
//! in flight is written, then goes back to [`super::stream_handoff`]. A request with `Connection: close` is the last
//! one read. A body not complete within `--body-timeout` is answered 408 and the connection closed (as on hyper's
//! path, where the router answers 408 and hyper then closes the connection it cannot read on).

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;

use axum::body::Body;
use axum::response::IntoResponse as _;
use bytes::{Buf as _, BytesMut};
use futures::stream::FuturesOrdered;
use futures::StreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::stream_handoff::{self, Next, Parsed, Ready, StreamError};
use super::Shared;

/// Most requests of one connection in the router at once (each holds at most its body, within the body limit).
pub(super) const WINDOW: usize = 64;
/// Bytes read from the socket at a time.
const READ: usize = 16 * 1024;

/// What the connection does once the pipelined requests are answered.
#[derive(Debug)]
pub(super) enum After {
    /// Serve what the buffer holds next (or read the next request head).
    Next,
    /// Close it.
    Close,
}

type Answer = Pin<Box<dyn Future<Output = Next> + Send>>;

/// What the buffer's head is, for the pipeline.
enum Take {
    /// A complete short request, taken out of the buffer.
    Request(Box<axum::http::Request<Body>>, bool),
    /// A short request whose body is not all read yet.
    Body,
    /// An incomplete head (within the head limit): more bytes are needed.
    Head,
    /// Not a short request: for the caller once nothing is in flight.
    Stop,
}

/// Answers the short requests at the start of `buf` (the first is there, its body possibly incomplete) and those
/// that follow, until something else comes or the connection ends.
pub(super) async fn serve<I>(
    io: &mut I,
    buf: &mut BytesMut,
    shared: &Shared,
    addr: SocketAddr,
) -> Result<After, StreamError>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut in_flight: FuturesOrdered<Answer> = FuturesOrdered::new();
    // No more requests are read: a `Connection: close` request was, the client closed its side, or the head of the
    // buffer is not a short request.
    let mut last_read = false;
    let mut eof = false;
    let mut body_deadline: Option<tokio::time::Instant> = None;
    loop {
        while !last_read && in_flight.len() < WINDOW && !shared.shutdown.is_cancelled() {
            match take(buf, shared) {
                Take::Request(req, close) => {
                    body_deadline = None;
                    // Unconstrained: under tokio's cooperative budget a request polled late in a round would
                    // yield before reaching the hub's queue and be re-polled after the ones pushed behind it
                    // (publishes committed out of order). Each request's work up to its answer is short.
                    let call = tokio::task::unconstrained(stream_handoff::call(shared, addr, *req, close));
                    in_flight.push_back(Box::pin(call));
                    last_read = close;
                }
                Take::Body | Take::Head if eof => return Ok(After::Close),
                Take::Body => {
                    body_deadline.get_or_insert_with(|| tokio::time::Instant::now() + shared.body_timeout);
                    break;
                }
                // Nothing in flight: the caller reads the head (within the idle timeout) and comes back here.
                Take::Head if in_flight.is_empty() => {
                    last_read = true;
                    break;
                }
                Take::Head => break,
                Take::Stop => {
                    last_read = true;
                    break;
                }
            }
        }
        if in_flight.is_empty() {
            if last_read || shared.shutdown.is_cancelled() {
                return Ok(if eof || shared.shutdown.is_cancelled() { After::Close } else { After::Next });
            }
            if body_deadline.is_some_and(|d| d <= tokio::time::Instant::now()) {
                return late_body(io, shared).await;
            }
        }
        let reading = !last_read && !eof && in_flight.len() < WINDOW;
        let deadline = body_deadline.filter(|_| in_flight.is_empty());
        let sleep = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let mut sleep = std::pin::pin!(sleep);
        let event = poll_fn(|cx| {
            if !in_flight.is_empty() {
                if let Poll::Ready(answer) = in_flight.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Answer(answer));
                }
            }
            if reading {
                let mut space = [0u8; READ];
                let mut read = ReadBuf::new(&mut space);
                match Pin::new(&mut *io).poll_read(cx, &mut read) {
                    Poll::Ready(Err(e)) => return Poll::Ready(Event::Failed(e)),
                    Poll::Ready(Ok(())) if read.filled().is_empty() => return Poll::Ready(Event::Eof),
                    Poll::Ready(Ok(())) => {
                        buf.extend_from_slice(read.filled());
                        return Poll::Ready(Event::Read);
                    }
                    Poll::Pending => {}
                }
            }
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Read);
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Answer(Some(Next::Respond(Ready { head, body, framing, close }))) => {
                stream_handoff::stream(io, head, body, framing, buf, shared.config.max_header_bytes).await?;
                if close {
                    return Ok(After::Close);
                }
            }
            Event::Answer(_) => return Ok(After::Close),
            Event::Read => {}
            Event::Eof => {
                // The client sent everything it will: the requests read are still answered (as hyper does).
                eof = true;
                last_read = true;
            }
            Event::Failed(e) => return Err(e.into()),
        }
    }
}

/// What woke the pipeline.
enum Event {
    Answer(Option<Next>),
    Read,
    Eof,
    Failed(io::Error),
}

/// Takes the short request at the head of `buf`, if it is complete.
fn take(buf: &mut BytesMut, shared: &Shared) -> Take {
    if buf.is_empty() {
        return Take::Head;
    }
    let (mut req, close, len, body) = match stream_handoff::parse(buf, shared.max_body_bytes) {
        Parsed::Short { req, close, len, body } => (req, close, len, body),
        Parsed::Partial if buf.len() < shared.config.max_header_bytes => return Take::Head,
        Parsed::Partial | Parsed::Other | Parsed::EventStream { .. } => return Take::Stop,
    };
    if buf.len() < len + body {
        return Take::Body;
    }
    buf.advance(len);
    *req.body_mut() = Body::from(buf.split_to(body).freeze());
    if buf.is_empty() {
        // Nothing kept between requests.
        *buf = BytesMut::new();
    }
    Take::Request(req, close)
}

/// A body that did not arrive within `--body-timeout`: 408, and the connection closes.
async fn late_body<I: AsyncWrite + AsyncRead + Unpin>(io: &mut I, shared: &Shared) -> Result<After, StreamError> {
    let res = crate::error::AppError::RequestTimeout(shared.body_timeout.as_secs()).into_response();
    if let Next::Respond(Ready { head, body, framing, .. }) = stream_handoff::respond(res, true) {
        let mut rest = BytesMut::new();
        stream_handoff::stream(io, head, body, framing, &mut rest, 0).await?;
    }
    Ok(After::Close)
}
