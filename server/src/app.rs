//! The HTTP application: the router (every route, the static folder, body limit, CORS, the `Host` check, request
//! tracing) and the reserve's router.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::error::AppError;
use crate::host::{self, is_loopback_origin};
use crate::routes;
use crate::state::AppState;
use crate::store::StoreError;

/// `uri` for logs: path and query parameter names, the value of `token` (any case) replaced by `REDACTED`.
pub fn redacted_uri(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("token") || k.eq_ignore_ascii_case("access_token") => {
                format!("{k}=REDACTED")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
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
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("last-event-id"),
            HeaderName::from_static("idempotency-key"),
        ])
        .max_age(Duration::from_secs(600))
}

/// The router for `state`: every route, the static folder as fallback, body limit, CORS and tracing.
/// No compression layer: event streams must never be buffered by a compressor.
pub fn router(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    let router = Router::new()
        .merge(routes::broadcast::routes())
        .merge(routes::users::routes())
        .merge(routes::jobs::routes())
        .merge(routes::ops::routes());
    // Test-only routes: compiled in with the `fixtures` feature, served with `--fixtures`.
    #[cfg(feature = "fixtures")]
    let router = if config.fixtures { router.nest("/fixtures", routes::fixtures::routes()) } else { router };
    let mut router = router.fallback_service(ServeDir::new(&config.www));
    if config.dev || !config.allowed_hosts.is_empty() {
        router = router.layer(axum::middleware::from_fn_with_state(Arc::clone(&config), host::check_host));
    }
    router
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(cors(&config))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
            // Never the `?token=`: the URI is logged with its query values redacted.
            tracing::debug_span!("request", method = %req.method(), uri = %redacted_uri(req.uri()), version = ?req.version())
        })
        // 5xx are not all errors of ours (busy, store refusing writes): those are logged where they happen, at
        // their level (internal errors at ERROR, store errors and budget refusals at WARN, rate limited).
        .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG)))
        .with_state(state)
}

/// What connections past `--max-connections` (the reserve) are served: `/healthz` and `/metrics`, anything else
/// 503 (`Retry-After`), so monitoring keeps working while the server is full.
pub fn reserve_router(state: AppState) -> Router {
    Router::new()
        .merge(routes::ops::routes())
        .fallback(|| async { AppError::Unavailable("too many connections; try again later".into()) })
        .with_state(state)
}

/// The router for a fresh [`AppState`] of `config`.
pub async fn app(config: Config) -> Result<Router, StoreError> {
    Ok(router(AppState::open(config).await?))
}
