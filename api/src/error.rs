//! The API's one error type. Every failure leaves as
//! `{"error": {"code", "message", "details"}}` with its status decided here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nestogy_domain::DomainError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Domain(#[from] DomainError),
    #[error("{message}")]
    Status {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code, e.g. `validation_failed`.
    pub code: String,
    pub message: String,
    /// For validation errors, the failing fields; otherwise an object or null.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Status {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::status(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::status(StatusCode::FORBIDDEN, "forbidden", message)
    }
}

/// The response body for `status` with `code` and `message`.
pub fn body(status: StatusCode, code: &str, message: &str, details: serde_json::Value) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
            details,
        },
    };
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use serde_json::Value::Null;
        match self {
            ApiError::BadRequest { code, message } => {
                body(StatusCode::BAD_REQUEST, code, &message, Null)
            }
            ApiError::Status {
                status,
                code,
                message,
            } => body(status, code, &message, Null),
            ApiError::Domain(e) => match e {
                DomainError::NotFound { entity } => body(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("{entity} not found"),
                    Null,
                ),
                DomainError::Conflict { code, message } => {
                    body(StatusCode::CONFLICT, code, &message, Null)
                }
                DomainError::Validation(errors) => body(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    "the request has invalid fields",
                    serde_json::json!({ "fields": errors.0 }),
                ),
                DomainError::Unauthenticated { code, message } => {
                    body(StatusCode::UNAUTHORIZED, code, &message, Null)
                }
                DomainError::Forbidden { code, message } => {
                    body(StatusCode::FORBIDDEN, code, &message, Null)
                }
                DomainError::Locked { retry_after_secs } => {
                    let mut r = body(
                        StatusCode::TOO_MANY_REQUESTS,
                        "account_locked",
                        "too many failed sign-ins; try again later",
                        serde_json::json!({ "retry_after_secs": retry_after_secs }),
                    );
                    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                        r.headers_mut().insert(header::RETRY_AFTER, v);
                    }
                    r
                }
                DomainError::Database(ref err) => {
                    tracing::error!(error = %err, "database error");
                    if is_unavailable(err) {
                        body(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "unavailable",
                            "the database is unavailable; try again",
                            Null,
                        )
                    } else {
                        internal()
                    }
                }
                DomainError::Internal(ref msg) => {
                    tracing::error!(error = %msg, "internal error");
                    internal()
                }
            },
        }
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
    )
}

pub fn internal() -> Response {
    body(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "something went wrong on our side; it has been logged",
        serde_json::Value::Null,
    )
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Domain(DomainError::Database(e))
    }
}

impl From<nestogy_jobs::EnqueueError> for ApiError {
    fn from(e: nestogy_jobs::EnqueueError) -> Self {
        use nestogy_jobs::EnqueueError::*;
        match e {
            // The queue or the database is down: the client may try again.
            Redis(_) | Database(_) => {
                tracing::error!(error = %e, "enqueueing failed");
                ApiError::status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the job queue is unavailable; try again",
                )
            }
            other => ApiError::Domain(DomainError::Internal(other.to_string())),
        }
    }
}
