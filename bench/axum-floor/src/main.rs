//! The "just use axum" floor of the fan-out benchmark: `GET /subscribe` streams a tokio broadcast channel through
//! `axum::response::sse`, `POST /update {"text": ...}` publishes `{"id", "text", "timestamp"}` with the next id.
//! Written the way the axum examples do it (one `Event` built per subscriber per event), nothing tuned.
//!
//! `axum-floor [--listen 127.0.0.1:0]` prints `listening on http://ADDR`.

use std::convert::Infallible;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt as _};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

#[derive(Clone)]
struct Hub {
    tx: broadcast::Sender<(u64, Arc<str>)>,
    next: Arc<Mutex<u64>>,
}

async fn subscribe(State(hub): State<Hub>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = hub.tx.subscribe();
    let first = futures::stream::once(async { Ok(Event::default().retry(Duration::from_secs(3))) });
    let live = BroadcastStream::new(rx)
        .filter_map(|r| async move { r.ok().map(|(id, data)| Ok(Event::default().id(id.to_string()).data(&*data))) });
    Sse::new(first.chain(live)).keep_alive(KeepAlive::default())
}

async fn update(State(hub): State<Hub>, Json(body): Json<Value>) -> Json<Value> {
    let text = body.get("text").and_then(Value::as_str).unwrap_or_default().to_owned();
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut next = hub.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    *next += 1;
    let value = serde_json::json!({ "id": *next, "text": text, "timestamp": timestamp });
    // Sent under the lock so ids go out in order.
    let _ = hub.tx.send((*next, value.to_string().into()));
    Json(value)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut listen = String::from("127.0.0.1:0");
    while let Some(a) = args.next() {
        if a == "--listen" {
            listen = args.next().unwrap_or(listen);
        }
    }
    let (tx, _) = broadcast::channel(1024);
    let hub = Hub { tx, next: Arc::new(Mutex::new(0)) };
    let app = Router::new().route("/subscribe", get(subscribe)).route("/update", post(update)).with_state(hub);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}", listener.local_addr()?)?;
        out.flush()?;
    }
    axum::serve(listener, app).await
}
