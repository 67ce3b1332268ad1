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

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use clap::Args;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;
use tower_http::add_extension::AddExtension;

use crate::limits::{Admission, ConnPermit};
use crate::metrics::{ConnectionGuard, Metrics, Protocol};
use crate::net::StallListener;
use crate::tls::{Tls, TlsSource};
use crate::AppState;

mod pipeline;
mod stream_handoff;

/// What an open connection holds: its gauge in `sse_open_connections` and its admission permit.
type Gauge = (ConnectionGuard, ConnPermit);

/// hyper's smallest read-buffer cap (it refuses less); the buffer starts at this size and grows only for larger
/// request heads, up to `--max-header-bytes`.
pub const MIN_HEADER_BYTES: usize = 8192;

/// How long a reserve connection (past `--max-connections`) may take to send its one request head.
const RESERVE_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// HTTP/2 receive window per stream: request bodies are at most `--max-body-bytes` (64 KiB by default).
const H2_STREAM_WINDOW: u32 = 64 * 1024;

/// HTTP/2 receive window per connection.
const H2_CONNECTION_WINDOW: u32 = 256 * 1024;

/// Bytes hyper may queue per HTTP/2 stream beyond what the client's window lets through.
const H2_SEND_BUFFER: usize = 64 * 1024;

/// How long [`serve`] waits for connections after shutdown began before returning anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// Connection flags of `serve` (TLS, HTTP/2 limits, timeouts).
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// PEM certificate chain (leaf first): with `--tls-key`, serve HTTPS, HTTP/2 and HTTP/1.1 on the same port
    /// (ALPN). Both files are re-read on SIGHUP.
    #[arg(long, env = "SSE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SSE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With `--dev` and no certificate: serve HTTPS with a self-signed certificate for localhost made at start (its
    /// SHA-256 fingerprint is logged).
    #[arg(long, env = "SSE_DEV_TLS", requires = "dev", conflicts_with = "tls_cert")]
    pub dev_tls: bool,
    /// Seconds a client has to finish the TLS handshake.
    #[arg(long, env = "SSE_TLS_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub tls_handshake_timeout_secs: u64,
    /// Seconds an HTTP/1.1 connection may take to send a request head (also closes idle keep-alive connections)
    /// and an HTTP/2 connection may stay without any stream.
    #[arg(long, env = "SSE_IDLE_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout_secs: u64,
    /// Concurrent streams per HTTP/2 connection (browsers open at most this many event streams per origin).
    #[arg(long, env = "SSE_H2_MAX_STREAMS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub h2_max_streams: u32,
    /// Most open client connections; default and ceiling: the open-files limit minus a headroom and the reserve
    /// answering `/healthz` and `/metrics` past it.
    #[arg(long, env = "SSE_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Most open connections per client address group (more are closed at once).
    #[arg(long, env = "SSE_MAX_CONNECTIONS_PER_IP", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_ip: u64,
    /// Address ranges (repeatable or comma separated, e.g. `10.0.0.0/8,2001:db8::/32`) whose connections past
    /// `--max-connections` are still served `/healthz` and `/metrics` (the reserve); others are closed at once.
    #[arg(long = "ops-allow", env = "SSE_OPS_ALLOW", value_delimiter = ',', default_value = "127.0.0.0/8,::1")]
    pub ops_allow: Vec<crate::limits::IpNet>,
    /// IPv6 addresses count against per-address budgets (connections, streams, jobs) by this prefix: one client
    /// usually has a whole /64.
    #[arg(long, env = "SSE_IPV6_PREFIX_LEN", default_value_t = crate::limits::IPV6_GROUP_PREFIX, value_parser = clap::value_parser!(u8).range(1..=128))]
    pub ipv6_prefix_len: u8,
    /// Largest request head (request line and headers: HTTP/1.1 read buffer; HTTP/2 header list), in bytes (431 past it).
    #[arg(long, env = "SSE_MAX_HEADER_BYTES", default_value_t = 32 * 1024, value_parser = clap::value_parser!(u64).range(8192..=1_048_576))]
    pub max_header_bytes: u64,
}

/// The connection settings, from [`ConnArgs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnConfig {
    /// TLS, if any (the binary loads it with [`Tls::new`] and calls [`serve_tls`]).
    pub tls: Option<TlsSource>,
    /// TLS handshake time limit.
    pub tls_handshake_timeout: Duration,
    /// HTTP/1 request-head limit and HTTP/2 idle-connection limit.
    pub idle_timeout: Duration,
    /// Concurrent streams per HTTP/2 connection.
    pub h2_max_streams: u32,
    /// Connection cap (`None`: from the open-files limit).
    pub max_connections: Option<usize>,
    /// Connections per address group.
    pub max_connections_per_ip: usize,
    /// Who may use the reserve past the cap, and how addresses are grouped in per-address budgets.
    pub addresses: crate::limits::AddressPolicy,
    /// Request head limit.
    pub max_header_bytes: usize,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            h2_max_streams: 100,
            max_connections: None,
            max_connections_per_ip: 512,
            addresses: crate::limits::AddressPolicy::default(),
            max_header_bytes: 32 * 1024,
        }
    }
}

impl From<ConnArgs> for ConnConfig {
    fn from(a: ConnArgs) -> Self {
        let tls = match (a.tls_cert, a.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSource::Files { cert, key }),
            _ if a.dev_tls => Some(TlsSource::SelfSigned),
            _ => None,
        };
        ConnConfig {
            tls,
            tls_handshake_timeout: Duration::from_secs(a.tls_handshake_timeout_secs),
            idle_timeout: Duration::from_secs(a.idle_timeout_secs),
            h2_max_streams: a.h2_max_streams,
            max_connections: a.max_connections.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            max_connections_per_ip: usize::try_from(a.max_connections_per_ip).unwrap_or(usize::MAX),
            addresses: crate::limits::AddressPolicy { ops_allow: a.ops_allow, ipv6_prefix: a.ipv6_prefix_len },
            max_header_bytes: usize::try_from(a.max_header_bytes).unwrap_or(MIN_HEADER_BYTES).max(MIN_HEADER_BYTES),
        }
    }
}

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
    });
    let tracker = TaskTracker::new();
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
                    tracker.spawn(serve_tls_connection(io, Arc::clone(&shared), addr, permit));
                } else {
                    tracker.spawn(serve_http1(io, Arc::clone(&shared), addr, permit));
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

/// One TLS connection: the handshake (bounded in time), then HTTP/2 or HTTP/1.1 as ALPN decided. Each stage is
/// boxed, so the task holds only a pointer to the stage it is in (the handshake's state is freed once it is done,
/// and the TLS stream is held once, by the protocol's future).
async fn serve_tls_connection<I>(io: I, shared: Arc<Shared>, addr: SocketAddr, permit: ConnPermit)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let serving = Box::pin(handshake(io, shared, addr, permit, false)).await;
    if let Some(serving) = serving {
        serving.await;
    }
}

/// A connection past `--max-connections` (within the reserve): one request, `/healthz` and `/metrics` only.
async fn serve_reserve<I>(io: I, shared: Arc<Shared>, addr: SocketAddr, permit: ConnPermit)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if shared.tls.is_some() {
        if let Some(serving) = Box::pin(handshake(io, shared, addr, permit, true)).await {
            serving.await;
        }
    } else {
        let gauge = (shared.metrics.open_connection(Protocol::Http1), permit);
        hyper_http1(io, &shared, addr, true, gauge).await;
    }
}

async fn handshake<I>(
    io: I,
    shared: Arc<Shared>,
    addr: SocketAddr,
    permit: ConnPermit,
    reserve: bool,
) -> Option<Serving>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tls = shared.tls.as_ref()?;
    let handshake = tokio::time::timeout(shared.config.tls_handshake_timeout, tls.acceptor().accept(io));
    let handshake = tokio::select! {
        r = handshake => r,
        () = shared.shutdown.cancelled() => return None,
    };
    let stream = match handshake {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            return None;
        }
    };
    Some(if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        Box::pin(serve_h2(stream, shared, addr, permit, reserve))
    } else if reserve {
        let gauge = (shared.metrics.open_connection(Protocol::Http1), permit);
        Box::pin(hyper_http1(stream, &shared, addr, true, gauge))
    } else {
        Box::pin(serve_http1(stream, shared, addr, permit))
    })
}

/// The peer address of a request's connection, in its extensions (per-address budgets read it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The router for one connection (the reserve's for a reserve connection): every request carries the
/// connection's [`ClientAddr`].
fn connection_service(
    shared: &Shared,
    addr: SocketAddr,
    reserve: bool,
) -> TowerToHyperService<AddExtension<Router, ClientAddr>> {
    let app = if reserve { shared.reserve_app.clone() } else { shared.app.clone() };
    TowerToHyperService::new(AddExtension::new(app, ClientAddr(addr)))
}

/// An HTTP/1.1 connection: event streams served by [`stream_handoff`] (without hyper's buffers), the rest of the
/// connection by hyper from the first other request on.
fn serve_http1<I>(
    io: I,
    shared: Arc<Shared>,
    addr: SocketAddr,
    permit: ConnPermit,
) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let gauge = (shared.metrics.open_connection(Protocol::Http1), permit);
    stream_handoff::serve(io, shared, addr, gauge)
}

/// hyper's HTTP/1.1 server on `io` (the reserve's for a reserve connection).
fn hyper_http1<I>(
    io: I,
    shared: &Shared,
    addr: SocketAddr,
    reserve: bool,
    gauge: Gauge,
) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = connection_service(shared, addr, reserve);
    let builder = if reserve { &shared.reserve_http1 } else { &shared.http1 };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    Drive::new(conn, |c| c.graceful_shutdown(), &shared.shutdown, std::future::pending(), gauge)
}

fn serve_h2<I>(
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
    let service = connection_service(&shared, addr, reserve);
    let conn = h2.serve_connection(TokioIo::new(io), service);
    let idle_timeout =
        if reserve { RESERVE_HEAD_TIMEOUT.min(shared.config.idle_timeout) } else { shared.config.idle_timeout };
    let idle = async move { streams.idle(idle_timeout).await };
    Drive::new(conn, |c| c.graceful_shutdown(), &shared.shutdown, idle, gauge)
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
    /// An event-stream body that tells its HTTP/2 stream task ([`Watched`]) whether it is blocked; a no-op on
    /// HTTP/1 connections (stalls there are seen by [`crate::net::StallIo`]).
    #[derive(Debug)]
    pub struct Reported<S> {
        #[pin]
        inner: S,
    }
}

impl<S> Reported<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Reported { inner }
    }
}

impl<S: futures::Stream> futures::Stream for Reported<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let r = self.project().inner.poll_next(cx);
        let activity = if matches!(r, Poll::Ready(Some(_))) { Activity::Wrote } else { Activity::Waiting };
        let _ = ACTIVITY.try_with(|a| a.set(activity));
        r
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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
        let service = connection_service(&shared, addr, false);
        let bare = shared.http1.serve_connection(TokioIo::new(io().await), service);
        let _c2 = tokio::net::TcpStream::connect(addr).await.unwrap();
        let task = serve_http1(io().await, Arc::clone(&shared), addr, permit());
        let _c4 = tokio::net::TcpStream::connect(addr).await.unwrap();
        let gauge = (state.metrics.open_connection(Protocol::Http1), permit());
        let reserve_task = hyper_http1(io().await, &shared, addr, true, gauge);
        let _c3 = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls_task = serve_tls_connection(io().await, Arc::clone(&shared), addr, permit());
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
