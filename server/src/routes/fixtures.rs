//! Test-only routes under `/fixtures`, enabled by `--fixtures`: **for the browser test suite; never enable in
//! production** (they mint tokens for anyone). Every stream here counts as `kind="fixture"` in `sse_open_streams`
//! and uses the same stream response as the real routes.
//!
//! - `GET /fixtures/status/{code}` → that status (200–599), `text/plain` body.
//! - `GET /fixtures/wrong-type` → 200 with `Content-Type: text/plain`.
//! - `GET /fixtures/drop?events=N` → `retry: 100`, N `message` events with data `{"n": i}` and ids continuing after
//!   the `Last-Event-ID` (1..N on a first connection), then the server closes the stream.
//! - `GET /fixtures/flaky/{key}` → by connection count for `key`: 1st: `retry: 50`, ids 1..5 (`{"n": i}`), then
//!   close; 2nd: 503; 3rd and later: `retry: 50`, the ids after `Last-Event-ID`/`lastEventId` up to 10, then
//!   `event: done` / `data: end` with id 11, then stays open.
//! - `GET /fixtures/whoami` → one `message` event (id 1) whose data is the JSON string of the user of a valid
//!   `sse_token` cookie (or `token` query parameter), or `"anonymous"`; then stays open.
//! - `POST /fixtures/echo` → one `echo` event (id 1) with data `{"method", "body", "authorization", "lastEventId"}`
//!   describing the request (for the fetch transport's tests), then stays open.
//! - `POST|GET /fixtures/login/{user}` → sets cookie `sse_token=<JWT>; Path=/; HttpOnly; SameSite=Lax`, 204.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::auth::Role;
use crate::error::AppError;
use crate::extract::StreamParams;
use crate::metrics::StreamKind;
use crate::sse::{self, Live, Prelude};
use crate::AppState;

/// Per-key connection counters of `/fixtures/flaky/{key}`.
#[derive(Debug, Default)]
pub struct FixtureState {
    flaky: Mutex<HashMap<String, u32>>,
}

/// Most flaky keys remembered (the map is cleared past it).
const MAX_FLAKY_KEYS: usize = 10_000;

/// The routes of this module (nested under `/fixtures`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/status/{code}", get(status))
        .route("/wrong-type", get(wrong_type))
        .route("/drop", get(drop_after))
        .route("/flaky/{key}", get(flaky))
        .route("/whoami", get(whoami))
        .route("/login/{user}", get(login).post(login))
        .route("/echo", axum::routing::post(echo))
}

fn frame(id: u64, event: Option<&str>, data: &str) -> Vec<u8> {
    let id = id.to_string();
    let mut f = sse_codec::Frame::message(data).id(&id);
    if let Some(e) = event {
        f = f.event(e);
    }
    let mut out = Vec::new();
    // Fixed names and numeric ids: always valid.
    let _ = sse_codec::encode_into(&f, &mut out);
    out
}

fn n_frames(prelude: Prelude, ids: impl Iterator<Item = u64>) -> Prelude {
    ids.fold(prelude, |p, i| p.raw(&frame(i, None, &serde_json::json!({ "n": i }).to_string())))
}

/// The fixtures' ids are plain numbers; anything else starts from 0.
fn numeric(params: &StreamParams) -> u64 {
    params.last_event_id.as_deref().and_then(|id| id.parse().ok()).unwrap_or(0)
}

async fn status(Path(code): Path<u16>) -> Result<Response, AppError> {
    let status = StatusCode::from_u16(code)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
        .ok_or_else(|| AppError::BadRequest("status must be 200 to 599".into()))?;
    Ok((status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("status {code}\n")).into_response())
}

async fn wrong_type() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "this is not an event stream\n")
}

#[derive(Debug, Deserialize)]
struct DropQuery {
    events: Option<u64>,
}

async fn drop_after(
    State(state): State<AppState>,
    params: StreamParams,
    Query(q): Query<DropQuery>,
) -> Result<Response, AppError> {
    let n = q.events.unwrap_or(3).min(1000);
    let guard = state.open_stream(StreamKind::Fixture)?;
    let after = numeric(&params);
    let prelude = n_frames(Prelude::new(Duration::from_millis(100)), (after + 1)..=(after + n));
    Ok(sse::response(&state.env, guard, prelude, Live::Close))
}

async fn flaky(State(state): State<AppState>, Path(key): Path<String>, params: StreamParams) -> Result<Response, AppError> {
    let count = {
        let mut map = state.fixtures.flaky.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_FLAKY_KEYS && !map.contains_key(&key) {
            map.clear();
        }
        let c = map.entry(key).or_insert(0);
        *c += 1;
        *c
    };
    match count {
        1 => {
            let guard = state.open_stream(StreamKind::Fixture)?;
            let prelude = n_frames(Prelude::new(Duration::from_millis(50)), 1..=5);
            Ok(sse::response(&state.env, guard, prelude, Live::Close))
        }
        2 => Err(AppError::Unavailable("flaky fixture: second connection fails".into())),
        _ => {
            let guard = state.open_stream(StreamKind::Fixture)?;
            let after = numeric(&params);
            let prelude = n_frames(Prelude::new(Duration::from_millis(50)), (after + 1)..=10).raw(&frame(11, Some("done"), "end"));
            Ok(sse::response(&state.env, guard, prelude, Live::Idle))
        }
    }
}

async fn whoami(State(state): State<AppState>, headers: HeaderMap, params: StreamParams) -> Result<Response, AppError> {
    let user = state
        .auth
        .subscriber_claims(&headers, params.query.token.as_deref())
        .map_or_else(|_| "anonymous".to_owned(), |c| c.sub);
    let guard = state.open_stream(StreamKind::Fixture)?;
    let data = serde_json::to_string(&user).map_err(|e| AppError::Internal(e.to_string()))?;
    let prelude = state.prelude().raw(&frame(1, None, &data));
    Ok(sse::response(&state.env, guard, prelude, Live::Idle))
}

async fn echo(
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: String,
) -> Result<Response, AppError> {
    let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let data = serde_json::json!({
        "method": method.as_str(),
        "body": body,
        "authorization": header(header::AUTHORIZATION),
        "lastEventId": header(header::HeaderName::from_static("last-event-id")),
    })
    .to_string();
    let guard = state.open_stream(StreamKind::Fixture)?;
    let prelude = state.prelude().raw(&frame(1, Some("echo"), &data));
    Ok(sse::response(&state.env, guard, prelude, Live::Idle))
}

async fn login(State(state): State<AppState>, Path(user): Path<String>) -> Result<Response, AppError> {
    let token = state.auth.keys.mint(&user, Role::Subscriber, 3600).map_err(|e| AppError::Internal(e.to_string()))?;
    let cookie = HeaderValue::from_str(&format!("{}={token}; Path=/; HttpOnly; SameSite=Lax", crate::auth::COOKIE))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}
