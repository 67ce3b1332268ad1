//! Scenario 5 / 1: `GET /subscribe` (the broadcast stream) and `POST /update` (publish `{"text": ...}`).

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{Map, Value};

use crate::auth::Publisher;
use crate::error::AppError;
use crate::extract::{Client, PublishBody, StreamParams};
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
///
/// A batch (a JSON array of `{"text"}` objects, or NDJSON) is one commit — all stored or none — and is answered with
/// the array of those JSON objects, in order; an invalid element → 400 naming its index, nothing stored. Its
/// `Idempotency-Key` covers the whole batch.
async fn update(
    State(state): State<AppState>,
    _: Publisher,
    headers: HeaderMap,
    body: PublishBody,
) -> Result<Response, AppError> {
    let events = match body {
        PublishBody::One(body) => return update_one(&state, &headers, &body).await,
        PublishBody::Many(events) => events,
    };
    let texts = super::publish::read_batch(&events, text_of)?;
    let request = serde_json::to_vec(&texts).map_err(|e| AppError::Internal(e.to_string()))?;
    let keys = super::publish::batch_keys(&headers, topic::BROADCAST, &request, texts.len())?;
    let payloads = texts.iter().map(|t| payload(t)).collect::<Result<Vec<_>, _>>()?;
    let published = state.hub.publish_batch(topic::BROADCAST, payloads, keys).await?;
    let repeated = published.first().is_some_and(|p| p.repeated);
    let mut answer = String::with_capacity(published.iter().map(|p| p.data.len() + 1).sum::<usize>() + 2);
    answer.push('[');
    for (i, p) in published.iter().enumerate() {
        if i > 0 {
            answer.push(',');
        }
        answer.push_str(&p.data);
    }
    answer.push(']');
    let res = ([(header::CONTENT_TYPE, "application/json")], answer).into_response();
    Ok(super::publish::mark_repeated(res, repeated))
}

async fn update_one(state: &AppState, headers: &HeaderMap, body: &Map<String, Value>) -> Result<Response, AppError> {
    let text = text_of(body).map_err(AppError::BadRequest)?;
    let key = super::publish::key(headers, topic::BROADCAST, text.as_bytes())?;
    let published = state.hub.publish_keyed(topic::BROADCAST, payload(text)?, key).await?;
    let res = ([(header::CONTENT_TYPE, "application/json")], published.data).into_response();
    Ok(super::publish::mark_repeated(res, published.repeated))
}

/// The `text` of one update, or what is wrong with it.
fn text_of(body: &Map<String, Value>) -> Result<&str, String> {
    match body.get("text") {
        Some(Value::String(t)) if !t.is_empty() => Ok(t),
        Some(Value::String(_)) => Err("\"text\" must not be empty".into()),
        Some(_) => Err("\"text\" must be a string".into()),
        None => Err("missing field \"text\"".into()),
    }
}

/// The stored payload of an update: `{"id":<position>,"text":...,"timestamp":...}`.
fn payload(text: &str) -> Result<Payload, AppError> {
    let timestamp = crate::store::now_ms();
    let text = serde_json::to_string(text).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Payload::around_position(None, r#"{"id":"#, &format!(r#","text":{text},"timestamp":{timestamp}}}"#)))
}
