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
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::auth::Publisher;
use crate::error::AppError;
use crate::extract::{PublishBody, StreamParams};
use crate::hub::Start;
use crate::metrics::StreamKind;
use crate::state::Client;
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
    body: PublishBody<Notification>,
) -> Result<Response, AppError> {
    check_user_id(&user)?;
    let name = topic::user(&user);
    let events = match body {
        PublishBody::One(note) => {
            let (event, data) = note.into_parts();
            let request = format!("{}\n{data}", event.as_deref().unwrap_or(""));
            let key = super::publish::key(&headers, &name, request.as_bytes())?;
            let published = state.hub.publish_keyed(&name, Payload::new(event.as_deref(), data), key).await?;
            let res = Json(serde_json::json!({ "id": published.id })).into_response();
            return Ok(super::publish::mark_repeated(res, published.repeated));
        }
        PublishBody::Many(events) => events,
    };
    let notes: Vec<_> = events.into_iter().map(Notification::into_parts).collect();
    let keys = super::publish::batch_keys(&headers, &name, &notes, notes.len())?;
    let payloads = notes.into_iter().map(|(event, data)| Payload::new(event.as_deref(), data)).collect();
    let published = state.hub.publish_batch(&name, payloads, keys).await?;
    let repeated = published.first().is_some_and(|p| p.repeated);
    let ids: Vec<Value> = published.into_iter().map(|p| serde_json::json!({ "id": p.id })).collect();
    Ok(super::publish::mark_repeated(Json(ids).into_response(), repeated))
}

/// One notification: `{"event"?: "<name>", "data": <any JSON>}` (other fields ignored).
#[derive(Debug, Deserialize)]
pub struct Notification {
    /// The event name (`message` when absent or null); never a [`RESERVED_EVENTS`] name.
    #[serde(default, deserialize_with = "event_name")]
    pub event: Option<String>,
    /// The event's data, any JSON value (`null` included).
    pub data: Value,
}

impl Notification {
    /// The event name and the data serialized as JSON (what the event carries).
    fn into_parts(self) -> (Option<String>, String) {
        // `Value`'s `Display` is its compact JSON.
        (self.event, self.data.to_string())
    }
}

fn event_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error as _;
    let event = Option::<String>::deserialize(d).map_err(|_| D::Error::custom("\"event\" must be a string"))?;
    if let Some(e) = &event {
        if RESERVED_EVENTS.contains(&e.as_str()) {
            return Err(D::Error::custom(format!("event name {e:?} is reserved by the server")));
        }
        // Checked here too, so that a batch names the bad element (the hub checks again before storing).
        sse_codec::Frame::message("").event(e).validate().map_err(D::Error::custom)?;
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::Notification;
    use crate::extract::decode;

    fn parts(body: &str) -> Result<(Option<String>, String), String> {
        decode::<Notification>(serde_json::from_str(body).expect("JSON")).map(Notification::into_parts)
    }

    #[test]
    fn a_notification_is_an_optional_event_name_and_any_data_and_each_refusal_says_why() {
        assert_eq!(parts(r#"{"data":{"b":1,"a":[2]}}"#), Ok((None, r#"{"a":[2],"b":1}"#.to_owned())));
        assert_eq!(parts(r#"{"event":null,"data":null,"x":1}"#), Ok((None, "null".to_owned())));
        assert_eq!(parts(r#"{"event":"card","data":"t"}"#), Ok((Some("card".to_owned()), r#""t""#.to_owned())));
        assert_eq!(parts(r#"{"event":"card"}"#), Err(r#"missing field "data""#.to_owned()));
        assert_eq!(parts(r#"{"event":5,"data":1}"#), Err(r#""event" must be a string"#.to_owned()));
        // The event's refusal comes first, whatever else is wrong.
        assert_eq!(
            parts(r#"{"event":"replay-gap"}"#),
            Err(r#"event name "replay-gap" is reserved by the server"#.to_owned())
        );
        let bad_name = parts(r#"{"event":"a\nb","data":1}"#).expect_err("a line break in a name");
        assert!(!bad_name.is_empty() && !bad_name.contains("line 1"), "{bad_name}");
    }
}
