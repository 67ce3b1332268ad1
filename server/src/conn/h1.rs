//! An HTTP/1.1 connection: event streams and pipelined short requests served here ([`super::stream_handoff`],
//! [`super::pipeline`]), the rest of the connection by hyper's http1 server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{connection_service, stream_handoff, Drive, Gauge, Shared};
use crate::limits::ConnPermit;
use crate::metrics::Protocol;

/// An HTTP/1.1 connection: event streams served by [`stream_handoff`] (without hyper's buffers), the rest of the
/// connection by hyper from the first other request on. `on_streams`: started on the [streams
/// runtime](super::streams).
pub(super) fn serve_http1<I>(
    io: I,
    shared: Arc<Shared>,
    addr: SocketAddr,
    permit: ConnPermit,
    on_streams: bool,
) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let gauge = (shared.metrics.open_connection(Protocol::Http1), permit);
    stream_handoff::serve(io, shared, addr, gauge, on_streams)
}

/// hyper's HTTP/1.1 server on `io` (the reserve's for a reserve connection).
pub(super) fn hyper_http1<I>(
    io: I,
    shared: &Shared,
    addr: SocketAddr,
    reserve: bool,
    gauge: Gauge,
) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(connection_service(shared, addr, reserve));
    let builder = if reserve { &shared.reserve_http1 } else { &shared.http1 };
    let conn = builder.serve_connection(TokioIo::new(io), service);
    Drive::new(conn, |c| c.graceful_shutdown(), &shared.shutdown, std::future::pending(), gauge)
}
