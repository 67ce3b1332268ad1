//! An HTTP/2 connection (TLS with ALPN `h2`): hyper's http2 server, every stream in its own task, an event stream
//! whose client stopped reading reset after `--write-stall-secs` without touching its siblings, and a connection
//! without streams closed after `--idle-timeout-secs`.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http2;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

use super::{connection_service, Drive, Shared, RESERVE_HEAD_TIMEOUT};
use crate::limits::ConnPermit;
use crate::metrics::{Metrics, Protocol};

/// HTTP/2 receive window per stream: request bodies are at most `--max-body-bytes` (64 KiB by default).
const H2_STREAM_WINDOW: u32 = 64 * 1024;

/// HTTP/2 receive window per connection.
const H2_CONNECTION_WINDOW: u32 = 256 * 1024;

/// Bytes hyper may queue per HTTP/2 stream beyond what the client's window lets through.
const H2_SEND_BUFFER: usize = 64 * 1024;

pub(super) fn serve_h2<I>(
    io: I,
    shared: Arc<Shared>,
    addr: SocketAddr,
    permit: ConnPermit,
    reserve: bool,
) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let gauge = (shared.metrics.open_connection(Protocol::H2), permit);
    let streams = Arc::new(H2Streams {
        active: AtomicUsize::new(0),
        opened: AtomicU64::new(0),
        write_stall: shared.write_stall,
        metrics: Arc::clone(&shared.metrics),
    });
    let mut h2 = http2::Builder::new(StreamExecutor { streams: Arc::clone(&streams) });
    h2.timer(TokioTimer::new())
        .max_concurrent_streams(shared.config.h2_max_streams)
        .max_header_list_size(u32::try_from(shared.config.max_header_bytes).unwrap_or(u32::MAX))
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_send_buf_size(H2_SEND_BUFFER);
    let service =
        tower::ServiceBuilder::new().map_response(reported).service(connection_service(&shared, addr, reserve));
    let conn = h2.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    let idle_timeout =
        if reserve { RESERVE_HEAD_TIMEOUT.min(shared.config.idle_timeout) } else { shared.config.idle_timeout };
    let idle = async move { streams.idle(idle_timeout).await };
    Drive::new(conn, |c| c.graceful_shutdown(), &shared.shutdown, idle, gauge)
}

/// The streams of one HTTP/2 connection.
#[derive(Debug)]
struct H2Streams {
    active: AtomicUsize,
    opened: AtomicU64,
    write_stall: Duration,
    metrics: Arc<Metrics>,
}

impl H2Streams {
    /// Completes once the connection had no stream during a whole `timeout` period.
    async fn idle(&self, timeout: Duration) {
        let mut seen = self.opened.load(Ordering::Acquire);
        loop {
            tokio::time::sleep(timeout).await;
            let opened = self.opened.load(Ordering::Acquire);
            if opened == seen && self.active.load(Ordering::Acquire) == 0 {
                return;
            }
            seen = opened;
        }
    }
}

/// hyper's executor for the tasks of one HTTP/2 connection (one per stream): each runs under a [`Watched`].
#[derive(Debug, Clone)]
struct StreamExecutor {
    streams: Arc<H2Streams>,
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        self.streams.active.fetch_add(1, Ordering::AcqRel);
        self.streams.opened.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(Watched { fut, streams: Arc::clone(&self.streams), blocked_since: None, timer: None });
    }
}

/// What an event-stream body did during one poll of its task; see [`Reported`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    /// The body was not polled.
    None,
    /// The body's last poll handed hyper a chunk (hyper polls again once the chunk is on its way).
    Wrote,
    /// The body's last poll found nothing to send (or ended): hyper is waiting for the body.
    Waiting,
}

tokio::task_local! {
    static ACTIVITY: Cell<Activity>;
}

pin_project_lite::pin_project! {
    /// An HTTP/2 stream's task, reset when its event stream stays blocked past the write-stall time.
    struct Watched<F> {
        #[pin]
        fut: F,
        streams: Arc<H2Streams>,
        blocked_since: Option<Instant>,
        // Allocated when the stream first blocks, then reused.
        timer: Option<Pin<Box<Sleep>>>,
    }

    impl<F> PinnedDrop for Watched<F> {
        fn drop(this: Pin<&mut Self>) {
            this.streams.active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl<F: Future<Output = ()>> Future for Watched<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let fut = this.fut;
        let (done, activity) = ACTIVITY.sync_scope(Cell::new(Activity::None), || {
            let done = fut.poll(cx).is_ready();
            (done, ACTIVITY.with(Cell::get))
        });
        if done {
            return Poll::Ready(());
        }
        match activity {
            Activity::None => {}
            Activity::Wrote => *this.blocked_since = Some(Instant::now()),
            Activity::Waiting => *this.blocked_since = None,
        }
        let Some(since) = *this.blocked_since else {
            return Poll::Pending;
        };
        let deadline = since + this.streams.write_stall;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= deadline {
                Metrics::inc(&this.streams.metrics.evicted, 1);
                tracing::debug!("resetting an HTTP/2 event stream whose client stopped reading it");
                // Dropping the task drops hyper's handles of the stream: h2 sends RST_STREAM(CANCEL) and frees its
                // buffers; the body (and its open-streams guard) is dropped with it.
                return Poll::Ready(());
            }
            // The stream moved since the timer was set (or the timer is from an earlier stall): re-arm it.
            timer.as_mut().reset(deadline);
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that tells its HTTP/2 stream task ([`Watched`]) whether it is blocked: every response of an
    /// HTTP/2 connection is wrapped in one (stalls on HTTP/1 connections are seen by [`crate::net::StallIo`]).
    #[derive(Debug)]
    struct Reported<B> {
        #[pin]
        inner: B,
    }
}

impl<B: hyper::body::Body> hyper::body::Body for Reported<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        let r = self.project().inner.poll_frame(cx);
        let activity =
            if matches!(&r, Poll::Ready(Some(Ok(f))) if f.is_data()) { Activity::Wrote } else { Activity::Waiting };
        let _ = ACTIVITY.try_with(|a| a.set(activity));
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// `res` with its body [`Reported`].
fn reported(res: axum::response::Response) -> axum::response::Response {
    res.map(|body| axum::body::Body::new(Reported { inner: body }))
}
