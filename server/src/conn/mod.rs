//! Serving connections: plain HTTP/1.1, or TLS on which ALPN picks HTTP/2 or HTTP/1.1 on the same port.
//!
//! - **Admission**: at most `--max-connections` (never above the open-files limit minus a headroom) and
//!   `--max-connections-per-ip` (per address group: IPv6 by `--ipv6-prefix-len`); past the cap a small reserve,
//!   for `--ops-allow` addresses only, is served `/healthz` and `/metrics` (see [`crate::limits`]). Each request carries its connection's [`ClientAddr`].
//! - **HTTP/1.1** (plain, or TLS with ALPN `http/1.1`/none): event-stream requests are served without hyper's
//!   connection buffers, and anything else by hyper's http1 server from the first other request on (see
//!   `conn/stream_handoff.rs`); hyper's read buffer starts at 8 KiB and grows only for a larger request head, up to
//!   `--max-header-bytes` (431 past it); a time limit to send a request head, which also closes idle keep-alive
//!   connections (`--idle-timeout-secs`). Reserve connections are hyper's alone.
//! - **HTTP/2** (TLS with ALPN `h2`): hyper's http2 server with at most `--h2-max-streams` concurrent streams, a
//!   `--max-header-bytes` header list limit, small receive windows (requests are small) and a 64 KiB send buffer per
//!   stream. A connection without any stream for `--idle-timeout-secs` gets a GOAWAY.
//! - **TLS**: the handshake must finish within `--tls-handshake-timeout-secs` (plain HTTP, truncated or slow
//!   handshakes are closed, nothing else waits on them).
//! - **Slow consumers**: writes that stay blocked `--write-stall-secs` drop the TCP connection
//!   ([`crate::net::StallIo`], under TLS too). Over HTTP/2 one connection carries many streams and the client's
//!   per-stream flow-control window can stall one stream while the socket keeps flowing: every h2 stream runs in its
//!   own task, and an event stream that handed hyper a chunk that could not be sent for `--write-stall-secs` is
//!   reset (`RST_STREAM`), counted in `sse_slow_clients_evicted_total`; its siblings are not affected. What a stalled
//!   stream holds is bounded by the send buffer and one chunk.
//! - **Shutdown**: every stream ends, HTTP/1 connections close after their response, HTTP/2 connections get a
//!   GOAWAY and close; [`serve_tls`] returns within [`SHUTDOWN_GRACE`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use typed_eventsource_server::config::Config;
//! use typed_eventsource_server::tls::{Tls, TlsSource};
//! use typed_eventsource_server::{serve_tls, AppState};
//!
//! let tls = Tls::new(TlsSource::SelfSigned)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let state = AppState::open(Config { dev: true, ..Config::default() }).await?;
//! serve_tls(listener, state, tls, std::future::pending()).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;
use tower_http::add_extension::AddExtension;

use crate::config::ConnConfig;
use crate::limits::{Admission, ConnPermit};
use crate::metrics::{ConnectionGuard, Metrics, Protocol};
use crate::net::{ClientAddr, StallListener};
use crate::state::AppState;
use crate::tls::Tls;

mod h1;
mod h2;
mod pipeline;
mod stream_handoff;
mod streams;
mod tls;

use h1::{hyper_http1, serve_http1};
use tls::{handshake, serve_tls_connection};

/// What an open connection holds: its gauge in `sse_open_connections` and its admission permit.
type Gauge = (ConnectionGuard, ConnPermit);

use crate::config::MIN_HEADER_BYTES;

/// How long a reserve connection (past `--max-connections`) may take to send its one request head.
const RESERVE_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`serve`] waits for connections after shutdown began before returning anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// Serves `state` over plain HTTP/1.1 on `listener` until `signal` completes or [`AppState::shutdown`] is called;
/// then every stream ends and this returns within [`SHUTDOWN_GRACE`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, signal).await
}

/// Like [`serve`], over TLS: HTTP/2 or HTTP/1.1 as ALPN decides, on the same port.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Tls,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, Some(tls), signal).await
}

/// What every connection task shares.
#[derive(Debug)]
struct Shared {
    app: Router,
    http1: http1::Builder,
    /// What a reserve connection is served: `/healthz`, `/metrics`, else 503.
    reserve_app: Router,
    reserve_http1: http1::Builder,
    config: ConnConfig,
    /// The body limit (`--max-body-bytes`): larger requests go to hyper, which answers them as before.
    max_body_bytes: usize,
    /// `--body-timeout`: how long a pipelined request's body may take to arrive.
    body_timeout: Duration,
    write_stall: Duration,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    tls: Option<Tls>,
    /// Every connection's task (shutdown waits for them), also those that moved between runtimes.
    tracker: TaskTracker,
    /// The runtime `serve` runs on, where connections leaving the [streams runtime](streams) go.
    main: tokio::runtime::Handle,
}

async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<Tls>,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::Listener as _;

    let token = state.env.shutdown.clone();
    let config = state.config.conn.clone();
    let mut listener = StallListener::new(listener, state.config.write_stall, Arc::clone(&state.metrics));
    // HTTP/1: hyper's read buffer starts at 8 KiB and grows only for a larger request head, up to
    // `--max-header-bytes` (an idle stream's buffer stays 8 KiB).
    let max_header_bytes = config.max_header_bytes.max(MIN_HEADER_BYTES);
    let mut h1 = http1::Builder::new();
    h1.max_header_size(max_header_bytes)
        .max_buf_size(max_header_bytes + MIN_HEADER_BYTES)
        .timer(TokioTimer::new())
        .header_read_timeout(config.idle_timeout);
    let mut reserve_h1 = http1::Builder::new();
    reserve_h1
        .max_buf_size(MIN_HEADER_BYTES)
        .timer(TokioTimer::new())
        .header_read_timeout(RESERVE_HEAD_TIMEOUT.min(config.idle_timeout))
        .keep_alive(false);
    let fds = crate::limits::open_files_limit();
    let cap = crate::limits::connection_cap(config.max_connections, fds);
    if config.max_connections.is_some_and(|c| c > cap) {
        tracing::warn!(configured = ?config.max_connections, cap, open_files_limit = ?fds, "--max-connections lowered below the open-files limit (raise `ulimit -n` to allow more)");
    }
    tracing::info!(max_connections = cap, per_ip = config.max_connections_per_ip, open_files_limit = ?fds, ops_allow = ?config.addresses.ops_allow, "connection cap");
    let limiter = crate::limits::ConnLimiter::with_policy(cap, config.max_connections_per_ip, config.addresses.clone());
    let tracker = TaskTracker::new();
    let shared = Arc::new(Shared {
        app: crate::router(state.clone()),
        http1: h1,
        reserve_app: crate::reserve_router(state.clone()),
        reserve_http1: reserve_h1,
        config,
        max_body_bytes: state.config.max_body_bytes,
        body_timeout: state.config.body_timeout,
        write_stall: state.config.write_stall,
        metrics: Arc::clone(&state.metrics),
        shutdown: token.clone(),
        tls,
        tracker: tracker.clone(),
        main: tokio::runtime::Handle::current(),
    });
    let trigger = token.clone();
    let stop = async move {
        tokio::select! {
            () = signal => {}
            () = trigger.cancelled() => {}
        }
        tracing::info!("shutting down: closing every stream");
        trigger.cancel();
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            (io, addr) = listener.accept() => {
                let permit = match limiter.admit(addr.ip()) {
                    Admission::Normal(p) => p,
                    Admission::Reserve(p) => {
                        Metrics::inc(&shared.metrics.connections_refused, 1);
                        tracker.spawn(serve_reserve(io, Arc::clone(&shared), addr, p));
                        continue;
                    }
                    Admission::Refused(_) => {
                        Metrics::inc(&shared.metrics.connections_refused, 1);
                        continue;
                    }
                };
                // Two task types: a plain connection's task never holds room for TLS or HTTP/2 state.
                if shared.tls.is_some() {
                    if let Some(streams) = streams::handle() {
                        tracker.spawn_on(serve_tls_connection(io, Arc::clone(&shared), addr, permit, true), streams);
                    } else {
                        tracker.spawn(serve_tls_connection(io, Arc::clone(&shared), addr, permit, false));
                    }
                } else if let Some(streams) = streams::handle() {
                    tracker.spawn_on(serve_http1(io, Arc::clone(&shared), addr, permit, true), streams);
                } else {
                    tracker.spawn(serve_http1(io, Arc::clone(&shared), addr, permit, false));
                }
            }
            () = &mut stop => break,
        }
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await.is_err() {
        tracing::warn!("connections still open after the grace period; exiting anyway");
    }
    Ok(())
}

/// A connection's future once the protocol is known.
type Serving = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A connection past `--max-connections` (within the reserve): one request, `/healthz` and `/metrics` only.
async fn serve_reserve<I>(io: I, shared: Arc<Shared>, addr: SocketAddr, permit: ConnPermit)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if shared.tls.is_some() {
        if let Some(serving) = Box::pin(handshake(io, shared, addr, permit, true, false)).await {
            serving.await;
        }
    } else {
        let gauge = (shared.metrics.open_connection(Protocol::Http1), permit);
        hyper_http1(io, &shared, addr, true, gauge).await;
    }
}

/// The router for one connection (the reserve's for a reserve connection): every request carries the
/// connection's [`ClientAddr`].
fn connection_service(shared: &Shared, addr: SocketAddr, reserve: bool) -> AddExtension<Router, ClientAddr> {
    let app = if reserve { shared.reserve_app.clone() } else { shared.app.clone() };
    AddExtension::new(app, ClientAddr(addr))
}

pin_project_lite::pin_project! {
    /// Runs `conn` to its end; at shutdown, or when `idle` completes (an HTTP/2 connection without streams), starts
    /// its graceful close (HTTP/2: GOAWAY). A plain struct rather than an `async fn`, so the task holds the
    /// connection once (an `async fn` awaiting a moved-in future reserves room for it twice).
    struct Drive<C, G, F> {
        #[pin]
        conn: C,
        graceful: G,
        #[pin]
        shutdown: WaitForCancellationFutureOwned,
        #[pin]
        idle: F,
        closing: bool,
        _gauge: Gauge,
    }
}

impl<C, G, F> Drive<C, G, F>
where
    G: Fn(Pin<&mut C>),
{
    fn new(conn: C, graceful: G, shutdown: &CancellationToken, idle: F, gauge: Gauge) -> Self {
        Drive { conn, graceful, shutdown: shutdown.clone().cancelled_owned(), idle, closing: false, _gauge: gauge }
    }
}

impl<C, E, G, F> Future for Drive<C, G, F>
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
    G: Fn(Pin<&mut C>),
    F: Future<Output = ()>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if !*this.closing {
            let stop = this.shutdown.poll(cx).is_ready();
            if stop || this.idle.poll(cx).is_ready() {
                if !stop {
                    tracing::debug!("closing an idle HTTP/2 connection");
                }
                *this.closing = true;
                (this.graceful)(this.conn.as_mut());
            }
        }
        match this.conn.poll(cx) {
            Poll::Ready(Err(e)) => {
                tracing::debug!(error = %e, "connection ended with an error");
                Poll::Ready(())
            }
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;

    use super::*;
    use crate::config::Config;

    /// The plain HTTP/1 path must not pay for TLS, HTTP/2 or hyper: its task holds the socket and the event-stream
    /// state, and hyper's connection only boxed, once another request comes (see `stream_handoff`). A reserve
    /// connection's task is hyper's connection plus a little. (Before TLS support it was 1,688 bytes: the connection
    /// was held twice.)
    #[tokio::test]
    async fn connection_tasks_hold_the_connection_once_and_plain_ones_nothing_of_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let state = AppState::open(Config::default()).await.unwrap();
        let shared = Arc::new(Shared {
            app: crate::router(state.clone()),
            http1: http1::Builder::new(),
            reserve_app: crate::reserve_router(state.clone()),
            reserve_http1: http1::Builder::new(),
            config: ConnConfig::default(),
            max_body_bytes: 64 * 1024,
            body_timeout: Duration::from_secs(10),
            write_stall: Duration::from_secs(1),
            metrics: Arc::clone(&state.metrics),
            shutdown: CancellationToken::new(),
            tls: None,
            tracker: TaskTracker::new(),
            main: tokio::runtime::Handle::current(),
        });
        let io = || async {
            let (tcp, _) = listener.accept().await.unwrap();
            crate::net::StallIo::new(tcp, Duration::from_secs(1), Arc::clone(&state.metrics))
        };
        let limiter = crate::limits::ConnLimiter::new(10, 10);
        let permit = || match limiter.admit(addr.ip()) {
            Admission::Normal(p) => p,
            other => panic!("{other:?}"),
        };
        let service = TowerToHyperService::new(connection_service(&shared, addr, false));
        let bare = shared.http1.serve_connection(TokioIo::new(io().await), service);
        let _c2 = tokio::net::TcpStream::connect(addr).await.unwrap();
        let task = serve_http1(io().await, Arc::clone(&shared), addr, permit(), true);
        let _c4 = tokio::net::TcpStream::connect(addr).await.unwrap();
        let gauge = (state.metrics.open_connection(Protocol::Http1), permit());
        let reserve_task = hyper_http1(io().await, &shared, addr, true, gauge);
        let _c3 = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls_task = serve_tls_connection(io().await, Arc::clone(&shared), addr, permit(), true);
        let (bare, task) = (std::mem::size_of_val(&bare), std::mem::size_of_val(&task));
        let (tls_task, reserve_task) = (std::mem::size_of_val(&tls_task), std::mem::size_of_val(&reserve_task));
        eprintln!(
            "hyper http1 connection: {bare} bytes; plain connection task: {task}; reserve task: {reserve_task}; \
             TLS task: {tls_task}"
        );
        // The socket, the gauge and an event stream's writing state (712 bytes with Rust 1.95, debug or release),
        // instead of hyper's connection (about as large, plus its two 8 KiB buffers on the heap).
        assert!(task <= 768, "the plain connection task grew to {task} bytes (hyper's connection: {bare})");
        assert!(
            reserve_task <= bare + 256,
            "the reserve task grew to {reserve_task} bytes (hyper's connection: {bare})"
        );
        // The TLS task holds pointers to its boxed stages, not the TLS stream or the handshake.
        assert!(tls_task <= 256, "the TLS connection task grew to {tls_task} bytes");
    }
}
