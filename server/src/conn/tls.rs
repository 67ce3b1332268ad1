//! A TLS connection: the handshake, bounded in time, then HTTP/2 or HTTP/1.1 as ALPN decided.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use super::h1::{hyper_http1, serve_http1};
use super::h2::serve_h2;
use super::{Serving, Shared};
use crate::limits::ConnPermit;
use crate::metrics::Protocol;

/// One TLS connection: the handshake (bounded in time), then HTTP/2 or HTTP/1.1 as ALPN decided. Each stage is
/// boxed, so the task holds only a pointer to the stage it is in (the handshake's state is freed once it is done,
/// and the TLS stream is held once, by the protocol's future).
///
/// `on_streams`: started on the [streams runtime](super::streams). An HTTP/2 connection stays there (it carries its
/// streams and any publishes in one connection); an HTTP/1.1 one moves to the main runtime with its first request
/// that is not an event stream, as a plain one does.
pub(super) async fn serve_tls_connection<I>(
    io: I,
    shared: Arc<Shared>,
    addr: SocketAddr,
    permit: ConnPermit,
    on_streams: bool,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let serving = Box::pin(handshake(io, shared, addr, permit, false, on_streams)).await;
    if let Some(serving) = serving {
        serving.await;
    }
}

pub(super) async fn handshake<I>(
    io: I,
    shared: Arc<Shared>,
    addr: SocketAddr,
    permit: ConnPermit,
    reserve: bool,
    on_streams: bool,
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
        Box::pin(serve_http1(stream, shared, addr, permit, on_streams))
    })
}
