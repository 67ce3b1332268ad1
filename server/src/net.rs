//! The listener: TCP with `TCP_NODELAY`, whose connections are dropped when a write stays blocked too long.
//!
//! A client that stops reading fills the kernel buffers, then hyper stops polling the event stream, so no in-stream
//! check can notice it. [`StallIo`] times every blocked write: past `write_stall` the write fails, hyper closes the
//! connection, the stream (and its open-streams guard) is dropped and `sse_slow_clients_evicted_total` grows.
//! Memory per connection stays one pointer until a write actually blocks.

use std::future::Future as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use crate::metrics::Metrics;

/// The peer address of a request's connection, in its extensions (set by [`crate::conn`]; per-address budgets read
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A [`TcpListener`] handing out [`StallIo`] connections, accepted by [`crate::serve`]'s own hyper HTTP/1 loop.
#[derive(Debug)]
pub struct StallListener {
    inner: TcpListener,
    stall: Duration,
    metrics: Arc<Metrics>,
    log: crate::ratelog::RateLimitedLog,
}

impl StallListener {
    /// Wraps `inner`.
    pub fn new(inner: TcpListener, stall: Duration, metrics: Arc<Metrics>) -> Self {
        StallListener { inner, stall, metrics, log: crate::ratelog::RateLimitedLog::default() }
    }
}

impl axum::serve::Listener for StallListener {
    type Io = StallIo<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (StallIo::new(stream, self.stall, Arc::clone(&self.metrics)), addr);
                }
                Err(e) => {
                    // Out of file descriptors (EMFILE/ENFILE) and the like: back off (doubling, up to 1 s) instead
                    // of spinning, and log once per period instead of once per attempt.
                    if let Some(suppressed) = self.log.should_log() {
                        tracing::warn!(error = %e, suppressed, "accept failed; backing off");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An I/O object whose writes fail once they have been blocked for the stall time.
#[derive(Debug)]
pub struct StallIo<T> {
    io: T,
    stall: Duration,
    blocked_since: Option<Pin<Box<Sleep>>>,
    metrics: Arc<Metrics>,
}

impl<T> StallIo<T> {
    /// Wraps `io`.
    pub fn new(io: T, stall: Duration, metrics: Arc<Metrics>) -> Self {
        StallIo { io, stall, blocked_since: None, metrics }
    }

    fn ready<R>(&mut self, r: io::Result<R>) -> Poll<io::Result<R>> {
        self.blocked_since = None;
        Poll::Ready(r)
    }

    fn blocked<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let stall = self.stall;
        let timer = self.blocked_since.get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                Metrics::inc(&self.metrics.evicted, 1);
                tracing::debug!("dropping a connection whose writes stalled");
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading")))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(r) => this.ready(r),
            Poll::Pending => this.blocked(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => this.ready(r),
            Poll::Pending => this.blocked(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Ready(r) => this.ready(r),
            Poll::Pending => this.blocked(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
