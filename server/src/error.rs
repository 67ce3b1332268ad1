//! The one error type of the handlers: [`AppError`] answers with a status and a JSON body `{"error": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Every way a request can fail; the message is safe to show to clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: valid credentials that do not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 408: the body was not sent in time.
    #[error("the request body was not sent within {0} s")]
    RequestTimeout(u64),
    /// 429: this client has too much going on.
    #[error("{0}")]
    TooManyRequests(String),
    /// 413: the body is over the limit.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 413: a batch publish carries more events than allowed.
    #[error("a batch carries at most {0} events")]
    TooManyEvents(usize),
    /// 415: the body is not JSON.
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// 503: too many open streams.
    #[error("too many open streams, try again later")]
    TooManyStreams,
    /// 503 with a reason.
    #[error("{0}")]
    Unavailable(String),
    /// 422: an `Idempotency-Key` used again with another request.
    #[error("{0}")]
    Unprocessable(String),
    /// 504: the store did not answer in time; the publish may or may not have been stored.
    #[error("{0}")]
    OutcomeUnknown(String),
    /// 500: something went wrong on our side (details are logged, not sent).
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::PayloadTooLarge(_) | AppError::TooManyEvents(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyStreams | AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::OutcomeUnknown(_) => StatusCode::GATEWAY_TIMEOUT,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let mut res = (self.status(), Json(serde_json::json!({ "error": self.to_string() }))).into_response();
        use axum::http::{header, HeaderValue};
        match res.status() {
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
            }
            // The body may be unread: the connection cannot be reused (HTTP/2 ignores this header).
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT => {
                res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        res
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(e: crate::store::StoreError) -> Self {
        if let crate::store::StoreError::OutcomeUnknown(_) = e {
            tracing::warn!(error = %e, "store timeout answered with 504 (outcome unknown)");
            return AppError::OutcomeUnknown(format!(
                "{e}: the outcome is unknown, the event may or may not have been stored; retry with the same \
                 Idempotency-Key (a retry with it publishes at most once; without one, a retry may publish twice)"
            ));
        }
        tracing::warn!(error = %e, "store error answered with 503");
        AppError::Unavailable(format!("{e} (nothing was stored); try again later"))
    }
}

impl From<crate::hub::PublishError> for AppError {
    fn from(e: crate::hub::PublishError) -> Self {
        match e {
            crate::hub::PublishError::Encode(e) => e.into(),
            crate::hub::PublishError::Store(e) => e.into(),
            crate::hub::PublishError::KeyReused => AppError::Unprocessable(
                "this Idempotency-Key was already used with another request; use a new key for a new request".into(),
            ),
        }
    }
}

impl From<crate::jobs::JobError> for AppError {
    fn from(e: crate::jobs::JobError) -> Self {
        match e {
            crate::jobs::JobError::PublisherBusy(_) => AppError::TooManyRequests(e.to_string()),
            crate::jobs::JobError::Busy(_) => AppError::Unavailable(e.to_string()),
            crate::jobs::JobError::Publish(e) => e.into(),
        }
    }
}

impl From<sse_codec::EncodeError> for AppError {
    fn from(e: sse_codec::EncodeError) -> Self {
        AppError::BadRequest(e.to_string())
    }
}
