//! Scenario 2: `POST /jobs` starts a batch job, `GET /jobs/{id}/events` streams its progress (history first),
//! `GET /jobs/{id}` tells whether it is still running.

use std::time::Duration;

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
use crate::jobs::{MAX_INTERVAL_MS, MAX_STEPS};
use crate::metrics::StreamKind;
use crate::store::topic;
use crate::AppState;

/// Interval when `intervalMs` is omitted.
pub const DEFAULT_INTERVAL_MS: u64 = 500;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/jobs", post(create)).route("/jobs/{id}", get(status)).route("/jobs/{id}/events", get(events))
}

fn bounded(
    body: &serde_json::Map<String, Value>,
    key: &str,
    min: u64,
    max: u64,
    default: Option<u64>,
) -> Result<u64, AppError> {
    match body.get(key) {
        None | Some(Value::Null) => default.ok_or_else(|| AppError::BadRequest(format!("missing field \"{key}\""))),
        Some(v) => v
            .as_u64()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| AppError::BadRequest(format!("\"{key}\" must be an integer from {min} to {max}"))),
    }
}

/// `{"steps": 1..=1000, "intervalMs"?: 0..=60000}` → `{"id": "<job id>"}`. With an `Idempotency-Key` seen before
/// (same steps and interval), the job it created and nothing started (see [`super::publish`]).
/// A job's total run time (`steps × intervalMs`) may not exceed `--max-job-secs` (400), and a publisher may have
/// `--max-jobs-per-publisher` running at once (429).
async fn create(
    State(state): State<AppState>,
    Publisher(publisher): Publisher,
    client: Client,
    headers: HeaderMap,
    JsonObject(body): JsonObject,
) -> Result<Response, AppError> {
    let steps = bounded(&body, "steps", 1, MAX_STEPS, None)?;
    let interval = bounded(&body, "intervalMs", 0, MAX_INTERVAL_MS, Some(DEFAULT_INTERVAL_MS))?;
    let max = state.config.max_job_duration;
    if Duration::from_millis(steps.saturating_mul(interval)) > max {
        return Err(AppError::BadRequest(format!("steps × intervalMs must be at most {} ms", max.as_millis())));
    }
    // In `--dev` without a token, publishers are told apart by address.
    let publisher =
        publisher.unwrap_or_else(|| client.ip.map_or_else(|| "anonymous".to_owned(), |ip| format!("address {ip}")));
    let key = super::publish::key(&headers, "jobs", format!("{steps}\n{interval}").as_bytes())?;
    let shutdown = state.env.shutdown.clone();
    let (id, repeated) =
        state.jobs.start_keyed(&publisher, steps, Duration::from_millis(interval), shutdown, key).await?;
    let res = Json(serde_json::json!({ "id": id })).into_response();
    Ok(super::publish::mark_repeated(res, repeated))
}

/// `{"id", "steps", "intervalMs", "createdMs", "state": "running" | "finished" | "interrupted", "endedMs"?}`. Once
/// the state is not `running`, the job's whole history (its terminal `ping` included) is stored: a stream opened
/// then gets it at once.
async fn status(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    let job = state.jobs.record(&id).await?.ok_or_else(|| AppError::NotFound(format!("no job {id:?}")))?;
    let mut body = serde_json::json!({
        "id": job.id,
        "steps": job.steps,
        "intervalMs": job.interval_ms,
        "createdMs": job.created_ms,
        "state": job.ended.as_ref().map_or("running", |end| end.outcome.as_str()),
    });
    if let (Some(end), Some(fields)) = (&job.ended, body.as_object_mut()) {
        fields.insert("endedMs".to_owned(), end.at_ms.into());
    }
    Ok(Json(body))
}

/// The job's whole history, then live progress; after a `Last-Event-ID`, only what followed it.
async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    client: Client,
    params: StreamParams,
) -> Result<Response, AppError> {
    if !state.jobs.exists(&id).await? {
        return Err(AppError::NotFound(format!("no job {id:?}")));
    }
    let start = params.last_event_id.map_or(Start::All, Start::After);
    state.subscribe_as(StreamKind::Job, &topic::job(&id), start, &client, None).await
}
