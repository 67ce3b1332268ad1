//! [`AppState`]: what every handler shares (configuration, store and hub, jobs, auth, budgets, metrics), opened
//! from a [`Config`], and the stream-opening methods the routes call.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::auth::{Auth, Keys};
use crate::config::{Config, StoreConfig};
use crate::error::AppError;
use crate::hub::{Hub, HubOptions, Start, Subscription};
use crate::jobs::Jobs;
use crate::limits::{Budgets, Owner, StreamGuard};
use crate::maintenance;
use crate::metrics::{Metrics, StreamKind};
use crate::sse::{self, Live, Prelude, StreamEnv};
use crate::store::{self, Store, StoreError, StoreOptions};

/// The client of a request (an extractor, [`crate::extract`]): its address group (from the connection's peer, or the last
/// address of the `--client-ip-header` when configured; an IPv6 address by its `--ipv6-prefix-len` prefix, see
/// [`crate::limits::address_group`]) and whether it asked for an event stream (`Accept: text/event-stream`, as every
/// `EventSource` does).
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The peer's address group, when known: what per-address budgets count.
    pub ip: Option<std::net::IpAddr>,
    /// Whether `Accept` names `text/event-stream`.
    pub wants_event_stream: bool,
}

/// What an idle stream gets every `--heartbeat-secs`: the `: keep-alive` comment (what proxies and the fetch
/// transport see) and a `heartbeat` event whose data is the period in milliseconds — comments never reach a browser
/// `EventSource`, so this is what lets its client notice a stream that went silent. No `id:` line: the client's last
/// event id does not move. typed-eventsource never hands it to handlers; other clients see an event named
/// `heartbeat` they can ignore.
pub fn heartbeat_frame(period: Duration) -> Bytes {
    let mut frame = sse_codec::comment("keep-alive");
    let millis = period.as_millis().to_string();
    // Encoding a fixed, valid event name and digits cannot fail.
    if let Ok(event) = sse_codec::Frame::message(&millis).event("heartbeat").to_bytes() {
        frame.extend_from_slice(&event);
    }
    Bytes::from(frame)
}

/// Everything the handlers share; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// Counters and gauges.
    pub metrics: Arc<Metrics>,
    /// Broadcast and per-user topics.
    pub hub: Arc<Hub>,
    /// Batch jobs.
    pub jobs: Arc<Jobs>,
    /// Token checks.
    pub auth: Arc<Auth>,
    /// What every stream needs (heartbeat, shutdown).
    pub env: StreamEnv,
    /// Stream admission (fair budgets).
    pub budgets: Arc<Budgets>,
}

impl AppState {
    /// Opens the configured store and builds the state: recovers stored jobs (ending those that were running as
    /// interrupted) and starts the background maintenance (retention, job expiry, store health).
    pub async fn open(config: Config) -> Result<Self, StoreError> {
        let options = StoreOptions {
            max_user_topics: config.max_user_topics,
            max_user_topic_bytes: config.max_user_topic_bytes,
            max_user_history_bytes: config.max_user_history_bytes,
            deployment: deployment_settings(&config),
            idempotency_window: config.idempotency_window,
            ..StoreOptions::default()
        };
        let store: Arc<dyn Store> = match &config.store {
            StoreConfig::Memory => Arc::new(store::memory::open(options)?),
            StoreConfig::Redis { url, prefix, settings } => {
                Arc::new(store::redis::RedisStore::open_with(url, prefix, options, settings.clone()).await?)
            }
            StoreConfig::Embedded { data_dir } => {
                let dir = data_dir.clone();
                Arc::new(
                    tokio::task::spawn_blocking(move || store::embedded::EmbeddedStore::open(&dir, options))
                        .await
                        .map_err(|e| StoreError::Unavailable(e.to_string()))??,
                )
            }
        };
        Self::with_store(config, store).await
    }

    /// The state over an already opened `store`.
    pub async fn with_store(config: Config, store: Arc<dyn Store>) -> Result<Self, StoreError> {
        let metrics = Arc::new(Metrics::default());
        let hub_options = HubOptions {
            history: config.history,
            max_age_ms: config.history_max_age.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            client_buffer: config.client_buffer,
        };
        let hub = Arc::new(Hub::new(store, hub_options, Arc::clone(&metrics)));
        let jobs = Arc::new(
            Jobs::recover(Arc::clone(&hub), config.max_jobs, config.job_ttl, config.job_lease)
                .await?
                .with_max_per_publisher(config.max_jobs_per_publisher),
        );
        let auth = Arc::new(Auth { keys: Keys::with_policy(&config.secret, &config.token_policy), dev: config.dev });
        let env = StreamEnv {
            heartbeat: config.heartbeat,
            heartbeat_frame: heartbeat_frame(config.heartbeat),
            shutdown: CancellationToken::new(),
        };
        tokio::spawn(maintenance::run(Arc::clone(&hub), Arc::clone(&jobs), env.shutdown.clone()));
        tracing::info!(epoch = %hub.epoch(), "store ready");
        Ok(AppState {
            metrics,
            hub,
            jobs,
            auth,
            env,
            budgets: Budgets::new(config.stream_budgets()),
            config: Arc::new(config),
        })
    }

    /// Ends every open stream and starts the graceful shutdown of [`crate::serve`].
    pub fn shutdown(&self) {
        self.env.shutdown.cancel();
    }

    /// Registers a new stream of `kind` of an unknown client, or 503 past its budget (see [`crate::limits`]).
    pub fn open_stream(&self, kind: StreamKind) -> Result<StreamGuard, AppError> {
        self.budgets.admit(&self.metrics, kind, &Owner::default()).map_err(|_| AppError::TooManyStreams)
    }

    /// The answer to a stream request refused for lack of streams: for an event-stream client (a browser's
    /// `EventSource` never retries after a 503) a stream holding only `retry:` (the busy retry time plus jitter) that
    /// ends at once, so it reconnects later by itself; for others 503 with `Retry-After`.
    pub fn busy(&self, client: &Client) -> Result<Response, AppError> {
        if !client.wants_event_stream {
            return Err(AppError::TooManyStreams);
        }
        let base = u64::try_from(self.config.busy_retry.as_millis()).unwrap_or(u64::MAX);
        let mut r = [0u8; 8];
        let jitter = if getrandom::getrandom(&mut r).is_ok() { u64::from_le_bytes(r) % base.max(1) } else { 0 };
        let retry = Duration::from_millis(base.saturating_add(jitter));
        let body = format!("retry: {}\n: over capacity, reconnect later\n\n", retry.as_millis());
        Ok(sse::busy_response(Bytes::from(body)))
    }

    /// Opens a stream of `kind` on topic `name` from `start` for `client` (and `user`, on per-user streams): a busy
    /// answer ([`AppState::busy`]) over its budgets, 503 when the store fails.
    pub async fn subscribe_as(
        &self,
        kind: StreamKind,
        name: &str,
        start: Start,
        client: &Client,
        user: Option<&str>,
    ) -> Result<Response, AppError> {
        let owner = Owner { ip: client.ip, user: user.map(str::to_owned) };
        let Ok(guard) = self.budgets.admit(&self.metrics, kind, &owner) else {
            return self.busy(client);
        };
        let sub = self.hub.subscribe(name, start).await?;
        Ok(self.topic_stream(guard, sub))
    }

    /// A prelude starting with the configured `retry:`.
    pub fn prelude(&self) -> Prelude {
        Prelude::new(self.config.retry)
    }

    /// The stream response of a topic subscription: replay (with gap signal), then live events.
    pub fn topic_stream(&self, guard: StreamGuard, sub: Subscription) -> Response {
        let prelude = self.prelude().subscription(&sub);
        sse::response(&self.env, guard, prelude, Live::Topic(sub.rx))
    }

    /// Opens a stream of `kind` on topic `name` from `start`: 503 past `max_streams` or when the store fails.
    pub async fn subscribe(&self, kind: StreamKind, name: &str, start: Start) -> Result<Response, AppError> {
        let guard = self.open_stream(kind)?;
        let sub = self.hub.subscribe(name, start).await?;
        Ok(self.topic_stream(guard, sub))
    }
}

/// The settings every instance sharing one Redis prefix must agree on: another value trims or deletes the others'
/// streams and jobs (the deployment marker, see `store::redis`).
fn deployment_settings(config: &Config) -> Vec<(String, String)> {
    let max_age = config.history_max_age.map_or(0, |d| d.as_millis());
    [
        ("history", config.history.to_string()),
        ("history-max-age-ms", max_age.to_string()),
        ("max-user-topics", config.max_user_topics.to_string()),
        ("max-user-topic-bytes", config.max_user_topic_bytes.to_string()),
        ("max-user-history-bytes", config.max_user_history_bytes.to_string()),
        ("job-ttl-secs", config.job_ttl.as_secs().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
