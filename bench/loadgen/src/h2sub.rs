//! Subscriber streams over HTTP/2 over TLS: one connection (ALPN `h2`) carries up to [`STREAMS_PER_CONNECTION`]
//! `GET /subscribe` streams, as a browser's tabs share one connection per origin; each stream's DATA is decoded and
//! checked like an HTTP/1.1 stream's ([`crate::subscriber::deliver`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::check::{Shared, StreamCheck};
use crate::subscriber::{connect, deliver};
use crate::Res;

/// Streams per HTTP/2 connection (the server's default `--h2-max-streams` is larger).
pub(crate) const STREAMS_PER_CONNECTION: usize = 100;

/// One connection from `source` with `streams` event streams; runs until aborted (which ends every stream).
pub(crate) async fn connection(
    shared: Arc<Shared>,
    server: SocketAddr,
    source: Ipv4Addr,
    streams: usize,
    gate: Arc<tokio::sync::Semaphore>,
) {
    let permit = gate.acquire_owned().await;
    let mut tasks = tokio::task::JoinSet::new();
    if let Err(e) = open(&shared, server, source, streams, &mut tasks).await {
        eprintln!("h2 connection from {source}: {e}");
        shared.broken.fetch_add(streams as u64, Relaxed);
        return;
    }
    drop(permit);
    while tasks.join_next().await.is_some() {}
}

async fn open(
    shared: &Arc<Shared>,
    server: SocketAddr,
    source: Ipv4Addr,
    streams: usize,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Res<()> {
    let tcp = connect(server, source).await?;
    let tls = crate::tls::h2().connect(crate::tls::server_name(), tcp).await?;
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(16 << 20)
        .handshake::<_, bytes::Bytes>(tls)
        .await?;
    tasks.spawn(async move {
        let _ = conn.await;
    });
    for _ in 0..streams {
        let mut send = send.clone().ready().await?;
        let req =
            http::Request::get(format!("https://{server}/subscribe")).header("accept", "text/event-stream").body(())?;
        let (response, _) = send.send_request(req, true)?;
        let shared = Arc::clone(shared);
        tasks.spawn(async move {
            if let Err(e) = stream(&shared, response).await {
                eprintln!("h2 stream: {e}");
            }
            shared.broken.fetch_add(1, Relaxed);
        });
    }
    Ok(())
}

async fn stream(shared: &Shared, response: h2::client::ResponseFuture) -> Res<()> {
    let response = response.await?;
    if response.status() != http::StatusCode::OK {
        return Err(format!("status {}", response.status()).into());
    }
    let mut body = response.into_body();
    let mut decoder = sse_codec::Decoder::new();
    let mut check = StreamCheck { last_id: None };
    let mut ready = false;
    let result = async {
        while let Some(data) = body.data().await {
            let data = data?;
            let _ = body.flow_control().release_capacity(data.len());
            if !data.is_empty() && !ready {
                ready = true;
                shared.ready.fetch_add(1, Relaxed);
            }
            decoder.push(&data);
            deliver(shared, &mut decoder, &mut check);
        }
        Ok::<(), h2::Error>(())
    }
    .await;
    if ready {
        shared.ready.fetch_sub(1, Relaxed);
    }
    Ok(result?)
}
