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
//!
//! Resume fixtures (issue 12), all with `message` events `{"n": i}` and plain numeric ids:
//!
//! - `GET /fixtures/overlap` → an over-eager replay: without `Last-Event-ID`/`lastEventId`, `retry: 50`, ids 1..5,
//!   then close; after id N, the last 3 events again (ids N-2..N) and those after it up to 10, then `event: done` /
//!   `data: end` with id 11, then stays open.
//! - `GET /fixtures/resume/{key}` → by connection count for `key`: 1st: `retry: 50`, ids 1..5, then close; 2nd: 503
//!   (so that the client library re-opens by itself); 3rd and later: first an id-less `resumed` event with data
//!   `{"query": "<the raw query string>", "header": "<Last-Event-ID>"|null}`, then the ids after the one in the
//!   `Last-Event-ID` header or else the `lastEventId`, `last_event_id` or `lastEventID` query parameter (0 if none) up
//!   to 10, then `done`/`end` with id 11; stays open.
//! - `GET /fixtures/cycle/{key}` → by connection count `c` for `key`: odd `c` < 6: 503; `c` = 2, 4: `retry: 50`,
//!   id `c / 2` (`{"n": c / 2}`), then close; 6th and later: `done`/`end` with id 3, then stays open (a client whose
//!   reconnect policy allows one re-open gets through only if a successful open resets its count).
//! - `GET /fixtures/retry/{ms}` → `retry: {ms}`; without a last id: id 1, then close; after one: `done`/`end` with
//!   the next id, then stays open (a client measures its reconnection delay).
//! - `GET /fixtures/token/{user}?expires_in=S` → a subscriber token (text) that this server rejects S seconds from
//!   now (its validation allows 5 s of clock leeway: `exp` is set 5 s earlier).
//! - `GET /fixtures/authed-drop?retry=MS` → needs a valid subscriber token (as for `/sse/{user}`; 401 otherwise):
//!   `retry: MS` (default 50); without a last id: ids 1..3, then close; after id N: ids N+1..6, then `done`/`end`
//!   with id 7, then stays open.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;

use crate::auth::Role;
use crate::error::AppError;
use crate::extract::StreamParams;
use crate::metrics::StreamKind;
use crate::sse::{self, Live, Prelude};
use crate::AppState;

/// Per-key connection counters of `/fixtures/flaky/{key}` and the other fixtures that fail by connection count (a
/// layer of this router: the fixtures keep their state to themselves).
#[derive(Debug, Default)]
struct FixtureState {
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
        .route("/overlap", get(overlap))
        .route("/resume/{key}", get(resume))
        .route("/retry/{ms}", get(retry))
        .route("/cycle/{key}", get(cycle))
        .route("/token/{user}", get(token))
        .route("/authed-drop", get(authed_drop))
        .layer(Extension(Arc::new(FixtureState::default())))
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
    let prelude = n_frames(Prelude::new(Duration::from_millis(100)), after.saturating_add(1)..=after.saturating_add(n));
    Ok(sse::response(&state.env, guard, prelude, Live::Close))
}

/// Counts the connections for `key` (shared by the fixtures that fail by connection count).
fn connection_count(fixtures: &FixtureState, key: String) -> u32 {
    let mut map = fixtures.flaky.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if map.len() >= MAX_FLAKY_KEYS && !map.contains_key(&key) {
        map.clear();
    }
    let c = map.entry(key).or_insert(0);
    *c += 1;
    *c
}

async fn flaky(
    State(state): State<AppState>,
    Extension(fixtures): Extension<Arc<FixtureState>>,
    Path(key): Path<String>,
    params: StreamParams,
) -> Result<Response, AppError> {
    let count = connection_count(&fixtures, key);
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
            let prelude = n_frames(Prelude::new(Duration::from_millis(50)), after.saturating_add(1)..=10).raw(&frame(
                11,
                Some("done"),
                "end",
            ));
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

async fn overlap(State(state): State<AppState>, params: StreamParams) -> Result<Response, AppError> {
    let guard = state.open_stream(StreamKind::Fixture)?;
    let prelude = Prelude::new(Duration::from_millis(50));
    Ok(match numeric(&params) {
        0 => sse::response(&state.env, guard, n_frames(prelude, 1..=5), Live::Close),
        after => {
            let prelude = n_frames(prelude, after.saturating_sub(2).max(1)..=10).raw(&frame(11, Some("done"), "end"));
            sse::response(&state.env, guard, prelude, Live::Idle)
        }
    })
}

async fn resume(
    State(state): State<AppState>,
    Extension(fixtures): Extension<Arc<FixtureState>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    match connection_count(&fixtures, format!("resume/{key}")) {
        1 => {
            let guard = state.open_stream(StreamKind::Fixture)?;
            let prelude = n_frames(Prelude::new(Duration::from_millis(50)), 1..=5);
            Ok(sse::response(&state.env, guard, prelude, Live::Close))
        }
        2 => Err(AppError::Unavailable("resume fixture: second connection fails".into())),
        _ => {
            let header = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let query = query.unwrap_or_default();
            let from_query = query.split('&').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                ["lastEventId", "last_event_id", "lastEventID"].contains(&name).then_some(value)
            });
            let after = header.as_deref().or(from_query).and_then(|id| id.parse::<u64>().ok()).unwrap_or(0);
            let data = serde_json::json!({ "query": query, "header": header }).to_string();
            let mut resumed = Vec::new();
            // A fixed name and JSON data: always valid.
            let _ = sse_codec::encode_into(&sse_codec::Frame::message(&data).event("resumed"), &mut resumed);
            let guard = state.open_stream(StreamKind::Fixture)?;
            let prelude = Prelude::new(Duration::from_millis(50)).raw(&resumed);
            let prelude = n_frames(prelude, after.saturating_add(1)..=10).raw(&frame(11, Some("done"), "end"));
            Ok(sse::response(&state.env, guard, prelude, Live::Idle))
        }
    }
}

async fn cycle(
    State(state): State<AppState>,
    Extension(fixtures): Extension<Arc<FixtureState>>,
    Path(key): Path<String>,
) -> Result<Response, AppError> {
    let count = connection_count(&fixtures, format!("cycle/{key}"));
    if count < 6 && count % 2 == 1 {
        return Err(AppError::Unavailable(format!("cycle fixture: connection {count} fails")));
    }
    let guard = state.open_stream(StreamKind::Fixture)?;
    let prelude = Prelude::new(Duration::from_millis(50));
    Ok(match count {
        2 | 4 => sse::response(&state.env, guard, n_frames(prelude, [u64::from(count / 2)].into_iter()), Live::Close),
        _ => sse::response(&state.env, guard, prelude.raw(&frame(3, Some("done"), "end")), Live::Idle),
    })
}

async fn retry(State(state): State<AppState>, Path(ms): Path<u64>, params: StreamParams) -> Result<Response, AppError> {
    let guard = state.open_stream(StreamKind::Fixture)?;
    let prelude = Prelude::new(Duration::from_millis(ms.min(60_000)));
    Ok(match numeric(&params) {
        0 => sse::response(&state.env, guard, n_frames(prelude, 1..=1), Live::Close),
        after => sse::response(
            &state.env,
            guard,
            prelude.raw(&frame(after.saturating_add(1), Some("done"), "end")),
            Live::Idle,
        ),
    })
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    expires_in: Option<u64>,
}

/// The clock leeway of the server's token validation (`auth::Keys::new`).
const LEEWAY_SECS: u64 = 5;

async fn token(
    State(state): State<AppState>,
    Path(user): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, AppError> {
    let expires_in = q.expires_in.unwrap_or(3600);
    let claims = crate::auth::Claims {
        sub: user,
        exp: crate::auth::now_secs().saturating_add(expires_in).saturating_sub(LEEWAY_SECS),
        role: None,
        ..crate::auth::Claims::default()
    };
    let token = state.auth.keys.mint_claims(&claims).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], token).into_response())
}

#[derive(Debug, Deserialize)]
struct AuthedDropQuery {
    retry: Option<u64>,
}

async fn authed_drop(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: StreamParams,
    Query(q): Query<AuthedDropQuery>,
) -> Result<Response, AppError> {
    let claims = state.auth.subscriber_claims(&headers, params.query.token.as_deref())?;
    let guard = state.open_stream(StreamKind::Fixture)?;
    let prelude = Prelude::new(Duration::from_millis(q.retry.unwrap_or(50).min(60_000)));
    let user = serde_json::Value::from(claims.sub);
    let frames = |prelude: Prelude, ids: std::ops::RangeInclusive<u64>| {
        ids.fold(prelude, |p, i| p.raw(&frame(i, None, &serde_json::json!({ "n": i, "user": user }).to_string())))
    };
    Ok(match numeric(&params) {
        0 => sse::response(&state.env, guard, frames(prelude, 1..=3), Live::Close),
        after => {
            let prelude = frames(prelude, after.saturating_add(1)..=6).raw(&frame(7, Some("done"), "end"));
            sse::response(&state.env, guard, prelude, Live::Idle)
        }
    })
}
