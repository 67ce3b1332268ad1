//! `GET /healthz` (200 `{"status": "ok", "epoch": ...}`, or 503 `{"status": "unavailable", "error": ...}` while
//! the store refuses writes or, with Redis, live delivery is down) and `GET /metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics))
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    // The epoch as the data has it now (with Redis: asked, so a wiped Redis shows at once on every instance).
    let epoch = state.hub.refresh_epoch().await;
    match state
        .hub
        .write_error()
        .or_else(|| state.hub.live_error())
        .or_else(|| epoch.as_ref().err().map(|e| e.to_string()))
    {
        None => (StatusCode::OK, Json(serde_json::json!({ "status": "ok", "epoch": epoch.unwrap_or_default() }))),
        Some(error) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "unavailable", "error": error })))
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
