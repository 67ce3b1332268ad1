//! Scenario 5 / 1: `GET /subscribe` (the broadcast stream) and `POST /update` (publish `{"text": ...}`).

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Deserializer};

use crate::auth::Publisher;
use crate::error::AppError;
use crate::extract::{PublishBody, StreamParams};
use crate::hub::Start;
use crate::metrics::StreamKind;
use crate::state::Client;
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
    body: PublishBody<Update>,
) -> Result<Response, AppError> {
    let events = match body {
        PublishBody::One(update) => return update_one(&state, &headers, &update.text).await,
        PublishBody::Many(events) => events,
    };
    let texts: Vec<&str> = events.iter().map(|update| update.text.as_str()).collect();
    let keys = super::publish::batch_keys(&headers, topic::BROADCAST, &texts, texts.len())?;
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

async fn update_one(state: &AppState, headers: &HeaderMap, text: &str) -> Result<Response, AppError> {
    let key = super::publish::key(headers, topic::BROADCAST, text.as_bytes())?;
    let published = state.hub.publish_keyed(topic::BROADCAST, payload(text)?, key).await?;
    let res = ([(header::CONTENT_TYPE, "application/json")], published.data).into_response();
    Ok(super::publish::mark_repeated(res, published.repeated))
}

/// One update: `{"text": "<not empty>"}` (other fields ignored).
#[derive(Debug, Deserialize)]
pub struct Update {
    /// The message.
    #[serde(deserialize_with = "non_empty_text")]
    pub text: String,
}

fn non_empty_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error as _;
    let text = String::deserialize(d).map_err(|_| D::Error::custom("\"text\" must be a string"))?;
    if text.is_empty() {
        return Err(D::Error::custom("\"text\" must not be empty"));
    }
    Ok(text)
}

/// The stored payload of an update: `{"id":<position>,"text":...,"timestamp":...}` (written into one buffer).
fn payload(text: &str) -> Result<Payload, AppError> {
    use std::io::Write as _;
    const BEFORE: &str = r#"{"id":"#;
    let timestamp = crate::store::now_ms();
    let mut data = Vec::with_capacity(BEFORE.len() + text.len() + 48);
    data.extend_from_slice(BEFORE.as_bytes());
    data.extend_from_slice(br#","text":"#);
    serde_json::to_writer(&mut data, text).map_err(|e| AppError::Internal(e.to_string()))?;
    write!(data, r#","timestamp":{timestamp}}}"#).map_err(|e| AppError::Internal(e.to_string()))?;
    let data = String::from_utf8(data).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Payload { event: None, data, position_at: Some(BEFORE.len()) })
}

#[cfg(test)]
mod tests {
    use super::Update;
    use crate::extract::decode;

    #[test]
    fn an_update_is_a_non_empty_text_and_each_refusal_says_why() {
        let text = |body: &str| decode::<Update>(serde_json::from_str(body).expect("JSON")).map(|u| u.text);
        assert_eq!(text(r#"{"text":"hi","other":1}"#), Ok("hi".to_owned()), "other fields are ignored");
        assert_eq!(text("{}"), Err(r#"missing field "text""#.to_owned()));
        assert_eq!(text(r#"{"text":""}"#), Err(r#""text" must not be empty"#.to_owned()));
        for wrong in ["5", "null", "[]", "{}", "true"] {
            assert_eq!(
                text(&format!(r#"{{"text":{wrong}}}"#)),
                Err(r#""text" must be a string"#.to_owned()),
                "{wrong}"
            );
        }
    }
}
