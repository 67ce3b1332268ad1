//! What every publishing route shares: the `Idempotency-Key` request header (IETF draft "The Idempotency-Key HTTP
//! Header Field") and the answer to a repeated publish.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;

use crate::error::AppError;
use crate::store::idempotency::{Key, MAX_KEY_BYTES};

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on the answer to a repeated publish (the key was seen: nothing was published now).
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The request's `Idempotency-Key` for `topic`, fingerprinted with `request` (what makes two requests the same):
/// `None` without the header; 400 if it is not 1 to 255 visible ASCII characters (an sf-string's quotes allowed) or
/// sent twice.
pub fn key(headers: &HeaderMap, topic: &str, request: &[u8]) -> Result<Option<Key>, AppError> {
    Ok(client_key(headers)?.map(|client| Key::new(topic, &client, request)))
}

/// The keys of a batch of `events` events under the request's `Idempotency-Key` (see [`key`]), one per event, all
/// fingerprinted with the whole batch (`batch`, as JSON; encoded only when there is a key). An event's key is the
/// client's key + ` <events> <index>`: a space cannot occur in a client's key, so batch keys never meet a single
/// publish's, and a batch of another length under the same key is another set of keys (all new: it is published
/// whole, never in part).
pub fn batch_keys<T: serde::Serialize + ?Sized>(
    headers: &HeaderMap,
    topic: &str,
    batch: &T,
    events: usize,
) -> Result<Option<Vec<Key>>, AppError> {
    let Some(client) = client_key(headers)? else { return Ok(None) };
    let request = serde_json::to_vec(batch).map_err(|e| AppError::Internal(e.to_string()))?;
    // Hashed once here; each key then fingerprints this digest.
    let digest = ring::digest::digest(&ring::digest::SHA256, &request);
    Ok(Some((0..events).map(|i| Key::new(topic, &format!("{client} {events} {i}"), digest.as_ref())).collect()))
}

/// The request's `Idempotency-Key` value, validated.
fn client_key(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    let mut values = headers.get_all(&IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(AppError::BadRequest("only one Idempotency-Key header is allowed".into()));
    }
    let raw = value.as_bytes();
    let raw = raw.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")).unwrap_or(raw);
    if raw.is_empty() || raw.len() > MAX_KEY_BYTES || !raw.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(AppError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_BYTES} visible ASCII characters (e.g. a UUID)"
        )));
    }
    Ok(Some(String::from_utf8_lossy(raw).into_owned()))
}

/// Marks `res` as the answer of a repeated publish, if it is one.
pub fn mark_repeated(mut res: Response, repeated: bool) -> Response {
    if repeated {
        res.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    res
}
