//! The companion server of typed-eventsource: broadcast, per-user and job event streams with ids, replay, auth and
//! hard limits, built on axum.
//!
//! [`app`] builds the whole router from a [`Config`], so tests serve exactly what the binary serves:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use typed_eventsource_server::{config::Config, serve, AppState};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let state = AppState::new(Config { dev: true, ..Config::default() });
//! serve(listener, state, std::future::pending()).await
//! # }
//! ```
//!
//! Modules: [`config`] (flags), [`error`] (the one `AppError`), [`auth`] (tokens), [`hub`] (topics with history),
//! [`sse`] (the stream response), [`jobs`], [`metrics`], [`net`] (the stall-detecting listener), [`conn`] (serving
//! connections: HTTP/1.1, or TLS with HTTP/2 and HTTP/1.1), [`tls`], [`extract`] and [`routes`] (one module per
//! area, plus the test-only fixtures).

pub mod auth;
pub mod config;
pub mod conn;
pub mod error;
pub mod extract;
pub mod hub;
pub mod jobs;
pub mod metrics;
pub mod net;
pub mod routes;
pub mod sse;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::auth::{Auth, Keys};
use crate::config::Config;
use crate::error::AppError;
use crate::hub::{Hub, Subscription};
use crate::jobs::Jobs;
use crate::metrics::{Metrics, StreamGuard, StreamKind};
use crate::sse::{Live, Prelude, StreamEnv};

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
    /// State of the `/fixtures` routes.
    pub fixtures: Arc<routes::fixtures::FixtureState>,
}

impl AppState {
    /// Fresh state for `config`.
    pub fn new(config: Config) -> Self {
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::new(config.history, config.client_buffer, Arc::clone(&metrics)));
        let jobs = Arc::new(Jobs::new(config.max_jobs, config.job_ttl, config.client_buffer, Arc::clone(&metrics)));
        let auth = Arc::new(Auth { keys: Keys::new(&config.secret), dev: config.dev });
        let env = StreamEnv {
            heartbeat: config.heartbeat,
            heartbeat_frame: Bytes::from(sse_codec::comment("keep-alive")),
            shutdown: CancellationToken::new(),
        };
        AppState {
            config: Arc::new(config),
            metrics,
            hub,
            jobs,
            auth,
            env,
            fixtures: Arc::default(),
        }
    }

    /// Ends every open stream and starts the graceful shutdown of [`serve`].
    pub fn shutdown(&self) {
        self.env.shutdown.cancel();
    }

    /// Registers a new stream of `kind`, or 503 past `max_streams`.
    pub fn open_stream(&self, kind: StreamKind) -> Result<StreamGuard, AppError> {
        self.metrics.try_open(kind, self.config.max_streams).ok_or(AppError::TooManyStreams)
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
}

/// Whether `origin` is `http(s)://127.0.0.1`, `localhost` or `[::1]` with any port.
pub fn is_loopback_origin(origin: &[u8]) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) else {
        return false;
    };
    let host_port_ok = |host: &str| {
        rest.strip_prefix(host).is_some_and(|port| {
            port.is_empty() || port.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    ["127.0.0.1", "localhost", "[::1]"].into_iter().any(host_port_ok)
}

fn cors(config: &Config) -> CorsLayer {
    let allowed: Vec<HeaderValue> = config.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    let dev = config.dev;
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            allowed.iter().any(|o| o == origin) || (dev && is_loopback_origin(origin.as_bytes()))
        }))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, HeaderName::from_static("last-event-id")])
        .max_age(Duration::from_secs(600))
}

/// The router for `state`: every route, the static folder as fallback, body limit, CORS and tracing.
/// No compression layer: event streams must never be buffered by a compressor.
pub fn router(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let mut router = Router::new()
        .merge(routes::broadcast::routes())
        .merge(routes::users::routes())
        .merge(routes::jobs::routes())
        .merge(routes::ops::routes());
    if config.fixtures {
        router = router.nest("/fixtures", routes::fixtures::routes());
    }
    router
        .fallback_service(ServeDir::new(&config.www))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(cors(&config))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The router for a fresh [`AppState`] of `config`.
pub fn app(config: Config) -> Router {
    router(AppState::new(config))
}

pub use conn::{serve, serve_tls, SHUTDOWN_GRACE};
