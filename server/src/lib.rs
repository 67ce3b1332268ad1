//! The companion server of typed-eventsource: broadcast, per-user and job event streams with ids, replay, auth and
//! hard limits, built on axum.
//!
//! [`app()`] builds the whole router from a [`config::Config`], so tests serve exactly what the binary serves:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use typed_eventsource_server::{config::Config, serve, AppState};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let state = AppState::open(Config { dev: true, ..Config::default() }).await?;
//! serve(listener, state, std::future::pending()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Layers, each using only the ones below it:
//!
//! - **Connections**: [`conn`] (the accept loop; HTTP/1.1 with the event-stream hand-off and pipelined short
//!   requests, or TLS with HTTP/2 and HTTP/1.1), [`tls`], [`net`] (the stall-detecting listener).
//! - **HTTP**: [`mod@app`] (the router: routes, static folder, body limit, CORS, the `Host` check of [`host`], tracing),
//!   [`routes`] (one module per area, plus the test-only fixtures), [`extract`], [`error`] (the one `AppError`),
//!   [`sse`] (the stream response), [`auth`] (tokens), [`state`] ([`AppState`]: what the handlers share).
//! - **Domain**: [`hub`] (durable publishing with group commit, live fan-out, replay and gap decisions), [`jobs`],
//!   [`limits`] (stream budgets, connection caps), [`maintenance`] (retention, job expiry, store health),
//!   [`metrics`], [`event_id`] (`<epoch>-<position>`), [`ratelog`] (rate-limited WARN lines).
//! - **Storage**: [`store`] (the seam: an append-only log per topic; embedded redb by default, memory, or Redis).
//! - [`config`]: the flags, read by every layer.

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod conn;
pub mod error;
pub mod event_id;
pub mod extract;
pub mod host;
pub mod hub;
pub mod jobs;
pub mod limits;
pub mod maintenance;
pub mod metrics;
pub mod net;
pub mod ratelog;
pub mod routes;
pub mod sse;
pub mod state;
pub mod store;
pub mod tls;

pub use app::{app, redacted_uri, reserve_router, router};
pub use conn::{serve, serve_tls, SHUTDOWN_GRACE};
pub use host::{is_loopback_host, is_loopback_origin};
pub use state::{heartbeat_frame, AppState};
