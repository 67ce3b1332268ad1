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
use serde_json::{Map, Value};

use crate::auth::Publisher;
use crate::error::AppError;
use crate::extract::{Client, PublishBody, StreamParams};
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
///
/// A batch (a JSON array of such objects, or NDJSON) is one commit — all stored or none — answered with the array of
/// `{"id"}` objects, in order; an invalid element → 400 naming its index, nothing stored. Its `Idempotency-Key`
/// covers the whole batch.
async fn notify(
    State(state): State<AppState>,
    Path(user): Path<String>,
    _: Publisher,
    headers: HeaderMap,
    body: PublishBody,
) -> Result<Response, AppError> {
    check_user_id(&user)?;
    let name = topic::user(&user);
    let events = match body {
        PublishBody::One(body) => {
            let (event, data) = notification(&body).map_err(AppError::BadRequest)?;
            let request = format!("{}\n{data}", event.unwrap_or(""));
            let key = super::publish::key(&headers, &name, request.as_bytes())?;
            let published = state.hub.publish_keyed(&name, Payload::new(event, data), key).await?;
            let res = Json(serde_json::json!({ "id": published.id })).into_response();
            return Ok(super::publish::mark_repeated(res, published.repeated));
        }
        PublishBody::Many(events) => events,
    };
    let notes = super::publish::read_batch(&events, notification)?;
    let request = serde_json::to_vec(&notes).map_err(|e| AppError::Internal(e.to_string()))?;
    let keys = super::publish::batch_keys(&headers, &name, &request, notes.len())?;
    let payloads = notes.into_iter().map(|(event, data)| Payload::new(event, data)).collect();
    let published = state.hub.publish_batch(&name, payloads, keys).await?;
    let repeated = published.first().is_some_and(|p| p.repeated);
    let ids: Vec<Value> = published.into_iter().map(|p| serde_json::json!({ "id": p.id })).collect();
    Ok(super::publish::mark_repeated(Json(ids).into_response(), repeated))
}

/// The event name and data (serialized) of one notification, or what is wrong with it.
fn notification(body: &Map<String, Value>) -> Result<(Option<&str>, String), String> {
    let event = match body.get("event") {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) if RESERVED_EVENTS.contains(&e.as_str()) => {
            return Err(format!("event name {e:?} is reserved by the server"));
        }
        Some(Value::String(e)) => {
            // Checked here too, so that a batch names the bad element (the hub checks again before storing).
            sse_codec::Frame::message("").event(e).validate().map_err(|err| err.to_string())?;
            Some(e.as_str())
        }
        Some(_) => return Err("\"event\" must be a string".into()),
    };
    let data = body.get("data").ok_or_else(|| "missing field \"data\"".to_owned())?;
    let data = serde_json::to_string(data).map_err(|e| e.to_string())?;
    Ok((event, data))
}
