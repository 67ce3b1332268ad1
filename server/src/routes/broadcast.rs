//! Scenario 5 / 1: `GET /subscribe` (the broadcast stream) and `POST /update` (publish `{"text": ...}`).

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use crate::auth::Publisher;
use crate::error::AppError;
use crate::extract::{Client, JsonObject, StreamParams};
use crate::hub::Start;
use crate::metrics::StreamKind;
use crate::store::{topic, Payload};
use crate::AppState;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/subscribe", get(subscribe)).route("/update", post(update))
}

/// Live messages; with `Last-Event-ID` (or `?lastEventId=`) the ones missed first.
async fn subscribe(State(state): State<AppState>, client: Client, params: StreamParams) -> Result<Response, AppError> {
    let start = params.last_event_id.map_or(Start::Live, Start::After);
    state.subscribe_as(StreamKind::Broadcast, topic::BROADCAST, start, &client, None).await
}

/// Publishes `{id, text, timestamp}` (`id`: the event's position) as a `message` event once it is stored, and
/// answers with the same JSON. With an `Idempotency-Key` seen before (same text), the first answer again and nothing
/// published (see [`super::publish`]).
async fn update(
    State(state): State<AppState>,
    _: Publisher,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, AppError> {
    let text = match body.get("text") {
        Some(Value::String(t)) if !t.is_empty() => t,
        Some(Value::String(_)) => return Err(AppError::BadRequest("\"text\" must not be empty".into())),
        Some(_) => return Err(AppError::BadRequest("\"text\" must be a string".into())),
        None => return Err(AppError::BadRequest("missing field \"text\"".into())),
    };
    let key = super::publish::key(&headers, topic::BROADCAST, text.as_bytes())?;
    let timestamp = crate::store::now_ms();
    let text = serde_json::to_string(text).map_err(|e| AppError::Internal(e.to_string()))?;
    let payload = Payload::around_position(None, r#"{"id":"#, &format!(r#","text":{text},"timestamp":{timestamp}}}"#));
    let published = state.hub.publish_keyed(topic::BROADCAST, payload, key).await?;
    let res = ([(header::CONTENT_TYPE, "application/json")], published.data).into_response();
    Ok(super::publish::mark_repeated(res, published.repeated))
}
