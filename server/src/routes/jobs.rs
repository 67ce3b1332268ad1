//! Scenario 2: `POST /jobs` starts a batch job, `GET /jobs/{id}/events` streams its progress (history first),
//! `GET /jobs/{id}` tells whether it is still running.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::auth::Publisher;
use crate::error::AppError;
use crate::extract::{JsonBody, StreamParams};
use crate::hub::Start;
use crate::jobs::{MAX_INTERVAL_MS, MAX_STEPS};
use crate::metrics::StreamKind;
use crate::state::Client;
use crate::store::topic;
use crate::AppState;

/// Interval when `intervalMs` is omitted.
pub const DEFAULT_INTERVAL_MS: u64 = 500;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/jobs", post(create)).route("/jobs/{id}", get(status)).route("/jobs/{id}/events", get(events))
}

/// The body of `POST /jobs`: `{"steps": 1..=1000, "intervalMs"?: 0..=60000}` (other fields ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewJob {
    /// Progress events the job sends.
    #[serde(deserialize_with = "steps")]
    pub steps: u64,
    /// Milliseconds between them ([`DEFAULT_INTERVAL_MS`] when absent or null).
    #[serde(default = "default_interval", deserialize_with = "interval_ms")]
    pub interval_ms: u64,
}

fn default_interval() -> u64 {
    DEFAULT_INTERVAL_MS
}

fn steps<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    bounded(d, "steps", 1, MAX_STEPS)?.ok_or_else(|| serde::de::Error::missing_field("steps"))
}

fn interval_ms<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(bounded(d, "intervalMs", 0, MAX_INTERVAL_MS)?.unwrap_or(DEFAULT_INTERVAL_MS))
}

/// An integer from `min` to `max`, or null (`None`).
fn bounded<'de, D: Deserializer<'de>>(d: D, key: &str, min: u64, max: u64) -> Result<Option<u64>, D::Error> {
    let refusal = || serde::de::Error::custom(format!("\"{key}\" must be an integer from {min} to {max}"));
    match Option::<u64>::deserialize(d).map_err(|_| refusal())? {
        Some(n) if !(min..=max).contains(&n) => Err(refusal()),
        n => Ok(n),
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
    JsonBody(NewJob { steps, interval_ms: interval }): JsonBody<NewJob>,
) -> Result<Response, AppError> {
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

#[cfg(test)]
mod tests {
    use super::{NewJob, DEFAULT_INTERVAL_MS};
    use crate::extract::decode;

    fn job(body: &str) -> Result<(u64, u64), String> {
        decode::<NewJob>(serde_json::from_str(body).expect("JSON")).map(|j| (j.steps, j.interval_ms))
    }

    #[test]
    fn a_new_job_is_bounded_steps_and_interval_and_each_refusal_says_why() {
        assert_eq!(job(r#"{"steps":3}"#), Ok((3, DEFAULT_INTERVAL_MS)));
        assert_eq!(job(r#"{"steps":1000,"intervalMs":null}"#), Ok((1000, DEFAULT_INTERVAL_MS)));
        assert_eq!(job(r#"{"steps":1,"intervalMs":0,"x":1}"#), Ok((1, 0)));
        for missing in ["{}", r#"{"steps":null}"#, r#"{"intervalMs":1}"#] {
            assert_eq!(job(missing), Err(r#"missing field "steps""#.to_owned()), "{missing}");
        }
        for wrong in ["0", "1001", r#""3""#, "2.0", "-1", "[]"] {
            let message = r#""steps" must be an integer from 1 to 1000"#;
            assert_eq!(job(&format!(r#"{{"steps":{wrong}}}"#)), Err(message.to_owned()), "{wrong}");
        }
        for wrong in ["-1", "60001", "1e9", r#""5""#] {
            let message = r#""intervalMs" must be an integer from 0 to 60000"#;
            assert_eq!(job(&format!(r#"{{"steps":2,"intervalMs":{wrong}}}"#)), Err(message.to_owned()), "{wrong}");
        }
    }
}
