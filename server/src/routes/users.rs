//! Scenario 4: `GET /sse/{userId}` (that user's stream, every tab gets every event) and `POST /notify/{userId}`.
//!
//! Notifications sent while the user has no open stream are kept in the user's history (in the store: they survive a
//! restart); the next connection without a `Last-Event-ID` receives them first (each stored notification is delivered
//! once that way). A reconnect with an id replays exactly what followed it.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::Publisher;
use crate::error::AppError;
use crate::extract::{Client, JsonObject, StreamParams};
use crate::hub::Start;
use crate::metrics::StreamKind;
use crate::store::{topic, Payload};
use crate::AppState;

/// Event names only the server sends (a publisher could otherwise fake a gap signal).
pub const RESERVED_EVENTS: [&str; 1] = ["replay-gap"];

/// Longest accepted user id.
pub const MAX_USER_ID: usize = 256;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/sse/{user_id}", get(stream)).route("/notify/{user_id}", post(notify))
}

fn check_user_id(user: &str) -> Result<(), AppError> {
    if user.is_empty() || user.len() > MAX_USER_ID {
        return Err(AppError::BadRequest(format!("user id must be 1 to {MAX_USER_ID} bytes")));
    }
    Ok(())
}

async fn stream(
    State(state): State<AppState>,
    Path(user): Path<String>,
    headers: HeaderMap,
    client: Client,
    params: StreamParams,
) -> Result<Response, AppError> {
    check_user_id(&user)?;
    state.auth.check_subscriber(&state.metrics, &headers, params.query.token.as_deref(), &user)?;
    let start = params.last_event_id.map_or(Start::Offline, Start::After);
    state.subscribe_as(StreamKind::User, &topic::user(&user), start, &client, Some(&user)).await
}

/// `{"event"?: string, "data": any}` → `{"id": "<SSE id>"}` once stored; the event's data is `data` serialized as
/// JSON. With an `Idempotency-Key` seen before (same event and data), the first id again and nothing published.
async fn notify(
    State(state): State<AppState>,
    Path(user): Path<String>,
    _: Publisher,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, AppError> {
    check_user_id(&user)?;
    let event = match body.get("event") {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) if RESERVED_EVENTS.contains(&e.as_str()) => {
            return Err(AppError::BadRequest(format!("event name {e:?} is reserved by the server")));
        }
        Some(Value::String(e)) => Some(e.as_str()),
        Some(_) => return Err(AppError::BadRequest("\"event\" must be a string".into())),
    };
    let data = body.get("data").ok_or_else(|| AppError::BadRequest("missing field \"data\"".into()))?;
    let data = serde_json::to_string(data).map_err(|e| AppError::Internal(e.to_string()))?;
    let name = topic::user(&user);
    let request = format!("{}\n{data}", event.unwrap_or(""));
    let key = super::publish::key(&headers, &name, request.as_bytes())?;
    let published = state.hub.publish_keyed(&name, Payload::new(event, data), key).await?;
    let res = Json(serde_json::json!({ "id": published.id })).into_response();
    Ok(super::publish::mark_repeated(res, published.repeated))
}
