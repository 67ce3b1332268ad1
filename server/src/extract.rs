//! Request extractors whose rejections are [`AppError`]s (JSON bodies): a JSON object body, the stream query, and
//! the `Last-Event-ID`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::Deserialize;

use crate::error::AppError;
use crate::AppState;

/// A body that must be `Content-Type: application/json` (or `*+json`) holding a JSON object.
///
/// Wrong content type → 415, over the body limit → 413, invalid JSON or not an object → 400.
#[derive(Debug)]
pub struct JsonObject(pub serde_json::Map<String, serde_json::Value>);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl FromRequest<AppState> for JsonObject {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(AppError::UnsupportedMediaType);
        }
        let limit = state.config.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge(limit)
            } else {
                AppError::BadRequest(format!("could not read the body: {rej}"))
            }
        })?;
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(AppError::BadRequest("body must be a JSON object".into())),
            Err(e) => Err(AppError::BadRequest(format!("invalid JSON: {e}"))),
        }
    }
}

/// The query parameters of stream routes.
#[derive(Debug, Default, Deserialize)]
pub struct StreamQuery {
    /// Replay position when the client cannot send the `Last-Event-ID` header.
    #[serde(rename = "lastEventId")]
    pub last_event_id: Option<String>,
    /// Subscriber token when the client cannot send cookies or headers.
    pub token: Option<String>,
}

/// The stream query plus the replay position (`Last-Event-ID` header, else `lastEventId` query parameter).
///
/// An empty id means none; a non-numeric one is rejected with 400.
#[derive(Debug)]
pub struct StreamParams {
    /// The parsed query.
    pub query: StreamQuery,
    /// The id to resume after, if any.
    pub last_event_id: Option<u64>,
}

/// Parses a `Last-Event-ID` value: empty → `None`, digits → the id, anything else → 400.
pub fn parse_last_event_id(raw: &str) -> Result<Option<u64>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<u64>()
        .map(Some)
        .map_err(|_| AppError::BadRequest(format!("malformed Last-Event-ID {raw:?}: expected a decimal event id")))
}

impl<S: Send + Sync> FromRequestParts<S> for StreamParams {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(query) = Query::<StreamQuery>::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::BadRequest(format!("bad query: {e}")))?;
        let header = match parts.headers.get("last-event-id") {
            Some(v) => Some(v.to_str().map_err(|_| AppError::BadRequest("malformed Last-Event-ID".into()))?),
            None => None,
        };
        let from_header = header.map(parse_last_event_id).transpose()?.flatten();
        let last_event_id = match from_header {
            Some(id) => Some(id),
            None => query.last_event_id.as_deref().map(parse_last_event_id).transpose()?.flatten(),
        };
        Ok(StreamParams { query, last_event_id })
    }
}
