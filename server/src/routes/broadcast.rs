//! Scenario 5 / 1: `GET /subscribe` (the broadcast stream) and `POST /update` (publish `{"text": ...}`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use crate::auth::Publisher;
use crate::error::AppError;
use crate::extract::{JsonObject, StreamParams};
use crate::hub::Start;
use crate::metrics::StreamKind;
use crate::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/subscribe", get(subscribe)).route("/update", post(update))
}

/// Live messages; with `Last-Event-ID` (or `?lastEventId=`) the ones missed first.
async fn subscribe(State(state): State<AppState>, params: StreamParams) -> Result<Response, AppError> {
    let guard = state.open_stream(StreamKind::Broadcast)?;
    let start = params.last_event_id.map_or(Start::Live, Start::After);
    let sub = state.hub.broadcast.subscribe(start);
    Ok(state.topic_stream(guard, sub))
}

/// Publishes `{id, text, timestamp}` as a `message` event and answers with the same JSON.
async fn update(State(state): State<AppState>, _: Publisher, JsonObject(body): JsonObject) -> Result<Response, AppError> {
    let text = match body.get("text") {
        Some(Value::String(t)) if !t.is_empty() => t,
        Some(Value::String(_)) => return Err(AppError::BadRequest("\"text\" must not be empty".into())),
        Some(_) => return Err(AppError::BadRequest("\"text\" must be a string".into())),
        None => return Err(AppError::BadRequest("missing field \"text\"".into())),
    };
    let timestamp = super::now_millis();
    let (_, data) = state.hub.broadcast.publish_with(None, |id| {
        serde_json::json!({ "id": id, "text": text, "timestamp": timestamp }).to_string()
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], data).into_response())
}
