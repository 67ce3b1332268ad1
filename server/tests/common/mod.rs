//! Test helpers: the real router served on 127.0.0.1:0, an SSE client (reqwest + eventsource-stream), metrics.
#![allow(dead_code, clippy::unwrap_used)]

pub mod process;
pub mod redis_cluster;
pub mod redis_server;

use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource as _};
use futures::{Stream, StreamExt as _};
use typed_eventsource_server::auth::Role;
use typed_eventsource_server::config::Config;
use typed_eventsource_server::{serve, AppState};

pub const SECRET: &str = "test-secret-test-secret-test-secret";

pub struct TestServer {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub fn token(&self, user: &str) -> String {
        self.state.auth.keys.mint(user, Role::Subscriber, 600).unwrap()
    }

    pub fn publisher(&self) -> String {
        self.state.auth.keys.mint("publisher", Role::Publisher, 600).unwrap()
    }

    /// The SSE id of `position` on this server.
    pub fn id(&self, position: u64) -> String {
        typed_eventsource_server::event_id::format(&self.state.hub.epoch(), position)
    }

    /// Publishes `text` on the broadcast topic (stored, then sent live).
    pub async fn publish(&self, text: &str) -> typed_eventsource_server::hub::Published {
        use typed_eventsource_server::store::{topic, Payload};
        self.state.hub.publish(topic::BROADCAST, Payload::new(None, text)).await.unwrap()
    }

    /// The value of one metric line (`name` including labels).
    pub async fn metric(&self, name: &str) -> u64 {
        metric_value(&reqwest::get(format!("{}/metrics", self.url)).await.unwrap().text().await.unwrap(), name)
    }

    /// Waits until `name` equals `want` (up to `secs` seconds).
    pub async fn wait_metric(&self, name: &str, want: u64, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.metric(name).await;
            if v == want {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{name} is {v}, want {want}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The value of the metric line `name` (labels included) in a `/metrics` text.
pub fn metric_value(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no metric {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// The position of an SSE id `<epoch>-<position>`.
pub fn pos(id: &str) -> u64 {
    typed_eventsource_server::event_id::parse(id).unwrap_or_else(|| panic!("not one of our ids: {id:?}")).1
}

/// Test config: auth on with [`SECRET`].
pub fn config() -> Config {
    Config { secret: SECRET.into(), ..Config::default() }
}

/// Dev config (no auth).
pub fn dev_config() -> Config {
    Config { dev: true, ..config() }
}

pub async fn spawn(config: Config) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::open(config).await.unwrap();
    let handle = tokio::spawn(serve(listener, state.clone(), std::future::pending()));
    TestServer { url: format!("http://{addr}"), addr, state, handle }
}

pub type Events = std::pin::Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// Opens an SSE stream; panics unless 200 text/event-stream.
pub async fn open(req: reqwest::RequestBuilder) -> Events {
    let res = req.header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(res.status(), 200, "stream status");
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    Box::pin(res.bytes_stream().eventsource())
}

pub async fn open_url(url: &str) -> Events {
    open(reqwest::Client::new().get(url)).await
}

/// The next event within `secs`, panicking on timeout or end.
pub async fn next(events: &mut Events) -> Event {
    tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("timed out waiting for an event")
        .expect("stream ended")
        .expect("stream error")
}

/// Reads events until one whose data contains `sentinel` (published last): everything before it, in order.
pub async fn until(events: &mut Events, sentinel: &str) -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let e = next(events).await;
        if e.data.contains(sentinel) {
            return out;
        }
        out.push(e);
    }
}

/// No event within `ms`, and the stream neither ends nor fails meanwhile. A wait proves little on its own: prefer
/// [`next_is_sentinel`] (a later event, arriving first, shows nothing came before it).
pub async fn assert_quiet(events: &mut Events, ms: u64) {
    if let Ok(e) = tokio::time::timeout(Duration::from_millis(ms), events.next()).await {
        panic!("expected nothing within {ms} ms, got {e:?}");
    }
}

/// The next event on `events` carries `sentinel` in its data: one stream keeps order, so nothing unexpected was
/// delivered before the sentinel (published after whatever must not arrive).
pub async fn next_is_sentinel(events: &mut Events, sentinel: &str) {
    let e = next(events).await;
    assert!(e.data.contains(sentinel), "expected the sentinel {sentinel:?} next, got {e:?}");
}

pub async fn post_json(url: &str, token: Option<&str>, body: &str) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(url).header("content-type", "application/json").body(body.to_owned());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// Reads raw bytes from a stream response until `needle` shows up (or panics after 5 s).
pub async fn raw_until(res: &mut reqwest::Response, needle: &str) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !text.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, res.chunk()).await.expect("timeout").unwrap().expect("ended");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}
