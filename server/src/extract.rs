//! Request extractors whose rejections are [`AppError`]s: a typed JSON body, a publish body (one object or a batch,
//! typed), the stream query, the `Last-Event-ID`, the [`Client`] and the [`Publisher`]. The types the rest of the
//! server uses live below the HTTP layer (`state`, `auth`); only their extraction from a request is here.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use bytes::BytesMut;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::Publisher;
use crate::error::AppError;
use crate::state::Client;
use crate::AppState;

/// A body that must be `Content-Type: application/json` (or `*+json`) holding a JSON object, decoded as `T` (a
/// derived struct; unknown fields are ignored).
///
/// Wrong content type → 415, over the body limit → 413, invalid JSON, not an object or not a `T` → 400 with what is
/// wrong (worded by `decode`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(AppError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state.config.max_body_bytes, state.config.body_timeout).await?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value @ Value::Object(_)) => decode(value).map(JsonBody).map_err(AppError::BadRequest),
            Ok(_) => Err(AppError::BadRequest("body must be a JSON object".into())),
            Err(e) => Err(AppError::BadRequest(format!("invalid JSON: {e}"))),
        }
    }
}

/// A JSON object as a `T`, or what is wrong with it for the client: the field's own message (the body types word
/// their refusals with `serde::de::Error::custom`) or serde's.
///
/// The body is parsed as JSON first and decoded from the value, so that a malformed body is always answered
/// `invalid JSON: ...` (a decoder reading the bytes would stop at the first wrong field) and a field's message
/// carries no position.
pub(crate) fn decode<T: DeserializeOwned>(object: Value) -> Result<T, String> {
    serde_json::from_value(object).map_err(|e| {
        let message = e.to_string();
        // serde words it "missing field `name`"; the API's messages quote names as JSON does.
        match message.strip_prefix("missing field `").and_then(|name| name.strip_suffix('`')) {
            Some(name) => format!("missing field \"{name}\""),
            None => message,
        }
    })
}

/// The body of a publishing route: one JSON object, or a batch — a JSON array of objects, or NDJSON
/// (`Content-Type: application/x-ndjson`, one object per line, blank lines ignored) — of at most
/// `--max-batch-events` objects; each decoded as a `T` (see [`JsonBody`]).
///
/// Wrong content type → 415, over the body limit or the event limit → 413, invalid JSON, an empty batch or an element
/// that is not an object or not a `T` → 400 naming the element's index. Every element is checked to be an object
/// before the first is decoded.
#[derive(Debug)]
pub enum PublishBody<T> {
    /// A single JSON object: answered as before batches existed.
    One(T),
    /// A batch, in order.
    Many(Vec<T>),
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/x-ndjson" || mime == "application/jsonl"
}

fn check_object(index: usize, value: &Value) -> Result<(), AppError> {
    if value.is_object() {
        return Ok(());
    }
    Err(AppError::BadRequest(format!("event {index}: must be a JSON object")))
}

fn check_batch_len(len: usize, max: usize) -> Result<(), AppError> {
    if len == 0 {
        return Err(AppError::BadRequest("a batch must carry at least one event".into()));
    }
    if len > max {
        return Err(AppError::TooManyEvents(max));
    }
    Ok(())
}

/// Parses an NDJSON body: one object per non-blank line.
fn parse_ndjson(bytes: &[u8], max: usize) -> Result<Vec<Value>, AppError> {
    let mut out = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let index = out.len();
        if index >= max {
            return Err(AppError::TooManyEvents(max));
        }
        let value = serde_json::from_slice(line)
            .map_err(|e| AppError::BadRequest(format!("event {index}: invalid JSON: {e}")))?;
        check_object(index, &value)?;
        out.push(value);
    }
    check_batch_len(out.len(), max)?;
    Ok(out)
}

/// One element of a JSON array batch decoded straight from the body's bytes (see [`fast_batch`]): an object, or an
/// error (a derived struct would also accept an array).
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Object<T> {
            type Value = ObjectOnly<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ObjectOnly)
            }
        }
        d.deserialize_map(Object(std::marker::PhantomData))
    }
}

/// A JSON array batch whose every element is a valid `T`, decoded from the bytes without building a [`Value`] per
/// element first; `None` for anything else (not an array, invalid JSON, an element that is not an object or not a
/// `T`), which the [`Value`] path then answers with its exact message. Accepts exactly what that path accepts.
fn fast_batch<T: DeserializeOwned>(bytes: &[u8]) -> Option<Vec<T>> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return None;
    }
    let items: Vec<ObjectOnly<T>> = serde_json::from_slice(bytes).ok()?;
    Some(items.into_iter().map(|ObjectOnly(t)| t).collect())
}

/// Decodes every object of a batch, in order; the first that is not a `T` is refused with its index.
fn decode_batch<T: DeserializeOwned>(objects: Vec<Value>) -> Result<Vec<T>, AppError> {
    objects
        .into_iter()
        .enumerate()
        .map(|(i, object)| decode(object).map_err(|m| AppError::BadRequest(format!("event {i}: {m}"))))
        .collect()
}

impl<T: DeserializeOwned> FromRequest<AppState> for PublishBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let ndjson = is_ndjson(req.headers());
        if !ndjson && !is_json(req.headers()) {
            return Err(AppError::UnsupportedMediaType);
        }
        let max = state.config.max_batch_events;
        let bytes = read_body(req, state.config.max_body_bytes, state.config.body_timeout).await?;
        if ndjson {
            return decode_batch(parse_ndjson(&bytes, max)?).map(PublishBody::Many);
        }
        if let Some(items) = fast_batch(&bytes) {
            check_batch_len(items.len(), max)?;
            return Ok(PublishBody::Many(items));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value @ Value::Object(_)) => decode(value).map(PublishBody::One).map_err(AppError::BadRequest),
            Ok(Value::Array(items)) => {
                check_batch_len(items.len(), max)?;
                items.iter().enumerate().try_for_each(|(i, v)| check_object(i, v))?;
                decode_batch(items).map(PublishBody::Many)
            }
            Ok(_) => Err(AppError::BadRequest("body must be a JSON object or an array of objects".into())),
            Err(e) => Err(AppError::BadRequest(format!("invalid JSON: {e}"))),
        }
    }
}

/// Most bytes of an oversized body read and discarded before answering 413, so that a client still sending it reads
/// the answer instead of a reset connection (nginx's "lingering close"); bodies declared larger get the 413 at once.
pub const LINGER_BYTES: u64 = 16 * 1024 * 1024;

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// Reads a whole body of at most `limit` bytes within `timeout`: 413 past the limit (early, from `Content-Length`,
/// when declared), 408 past the time.
pub async fn read_body(req: Request, limit: usize, timeout: Duration) -> Result<Bytes, AppError> {
    use futures::StreamExt as _;
    let deadline = tokio::time::Instant::now() + timeout;
    let declared = content_length(req.headers());
    let limit64 = u64::try_from(limit).unwrap_or(u64::MAX);
    let mut body = req.into_body().into_data_stream();
    if declared.is_some_and(|n| n > limit64) {
        if declared.is_some_and(|n| n <= LINGER_BYTES) {
            drain(&mut body, deadline).await;
        }
        return Err(AppError::PayloadTooLarge(limit));
    }
    let mut buf = BytesMut::with_capacity(declared.map_or(0, |n| usize::try_from(n).unwrap_or(0)));
    loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => return Err(AppError::RequestTimeout(timeout.as_secs())),
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(e))) => return Err(AppError::BadRequest(format!("could not read the body: {e}"))),
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > limit {
                    drain(&mut body, deadline).await;
                    return Err(AppError::PayloadTooLarge(limit));
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

/// Reads and discards the rest of `body`, up to [`LINGER_BYTES`] and `deadline`.
async fn drain(body: &mut axum::body::BodyDataStream, deadline: tokio::time::Instant) {
    use futures::StreamExt as _;
    let mut drained = 0u64;
    while drained <= LINGER_BYTES {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Ok(Some(Ok(chunk))) => drained += chunk.len() as u64,
            _ => return,
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
/// An empty id means none. Any other value is kept as sent: whether it is one of ours is the hub's decision (an
/// id it cannot honour gets a `replay-gap` event, never a refusal — a browser `EventSource` would not retry after
/// one).
#[derive(Debug)]
pub struct StreamParams {
    /// The parsed query.
    pub query: StreamQuery,
    /// The id to resume after, if any.
    pub last_event_id: Option<String>,
}

/// Longest `Last-Event-ID` kept (ours are ~33 bytes); a longer one is cut, and so is unknown anyway.
pub const MAX_LAST_EVENT_ID: usize = 128;

/// Normalizes a `Last-Event-ID` value: empty → `None`, else the trimmed value (at most [`MAX_LAST_EVENT_ID`] bytes).
pub fn parse_last_event_id(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let mut end = raw.len().min(MAX_LAST_EVENT_ID);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    raw.get(..end).map(str::to_owned)
}

impl<S: Send + Sync> FromRequestParts<S> for StreamParams {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(query) = Query::<StreamQuery>::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::BadRequest(format!("bad query: {e}")))?;
        // A header that is not visible ASCII is not one of our ids: it is kept lossily and will get a replay-gap.
        let from_header = parts
            .headers
            .get("last-event-id")
            .and_then(|v| parse_last_event_id(&String::from_utf8_lossy(v.as_bytes())));
        let last_event_id = from_header.or_else(|| query.last_event_id.as_deref().and_then(parse_last_event_id));
        Ok(StreamParams { query, last_event_id })
    }
}

/// The last address in the `name` headers (`X-Forwarded-For: client, proxy1` → `proxy1` is what the nearest proxy
/// saw; with one proxy in front, the client).
fn forwarded_ip(headers: &HeaderMap, name: &str) -> Option<std::net::IpAddr> {
    let last = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).last()?;
    let last = last.trim();
    last.parse().ok().or_else(|| last.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

impl FromRequestParts<AppState> for Publisher {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        state.auth.check_publisher(&state.metrics, &parts.headers).map(Publisher)
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let forwarded = state.config.client_ip_header.as_deref().and_then(|h| forwarded_ip(&parts.headers, h));
        let ip = forwarded
            .or_else(|| parts.extensions.get::<crate::net::ClientAddr>().map(|a| a.0.ip()))
            .map(|ip| crate::limits::address_group(ip, state.config.conn.addresses.ipv6_prefix));
        let wants_event_stream = parts
            .headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("text/event-stream"));
        Ok(Client { ip, wants_event_stream })
    }
}
