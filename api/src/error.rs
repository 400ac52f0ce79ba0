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
    /// 422 `invalid_body`: JSON of the wrong shape, with the field at fault
    /// in `details.fields` as `validation_failed` lists its fields.
    #[error("{message}")]
    InvalidBody {
        message: String,
        field: nestogy_domain::kernel::validation::FieldError,
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
    /// Null, or an object with what the error has to add: the failing
    /// fields of `validation_failed`, the wait of `account_locked`, the
    /// SQLSTATE of `invalid_value`, the header of `invalid_idempotency_key`.
    #[schema(value_type = Option<ErrorDetails>, required)]
    pub details: serde_json::Value,
}

/// What `details` holds when it is not null: the key (or keys) its error
/// code sends, and no other.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetails {
    /// `validation_failed`: each failing field, by its JSON path;
    /// `invalid_body`: the field whose value or shape could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub fields: Option<Vec<nestogy_domain::kernel::validation::FieldError>>,
    /// `account_locked`: seconds until a sign-in is counted again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0)]
    pub retry_after_secs: Option<u64>,
    /// `invalid_value`: the SQLSTATE PostgreSQL refused the value with.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub sqlstate: Option<String>,
    /// `checklist_open`: the required checklist items not done yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub open_items: Option<Vec<nestogy_domain::service_desk::checklists::OpenItem>>,
    /// `invalid_idempotency_key`: the header at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub header: Option<String>,
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
            } => {
                let mut r = body(status, code, &message, Null);
                set_retry_after(&mut r);
                r
            }
            ApiError::InvalidBody { message, field } => body(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                &message,
                serde_json::json!({ "fields": [field] }),
            ),
            ApiError::Domain(e) => match e {
                DomainError::NotFound { entity } => body(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("{entity} not found"),
                    Null,
                ),
                DomainError::Conflict {
                    code,
                    message,
                    details,
                } => body(StatusCode::CONFLICT, code, &message, details),
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
                        unavailable("the database is unavailable; try again")
                    } else if nestogy_domain::kernel::error::is_transient_conflict(err) {
                        // A deadlock or serialization failure: the same
                        // request again gets past it.
                        unavailable("the request met a concurrent one; try again")
                    } else if let Some(code) = data_exception(err) {
                        // The boundary checks should have named the field;
                        // PostgreSQL refusing a value is still the
                        // client's input, not our failure.
                        body(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "invalid_value",
                            "a value in the request cannot be stored",
                            serde_json::json!({ "sqlstate": code }),
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

/// Seconds a client is asked to wait before trying again after a 503.
pub const RETRY_AFTER_SECS: u64 = 2;

/// 503 `unavailable` with `Retry-After`: a dependency is down for now.
pub fn unavailable(message: &str) -> Response {
    let mut r = body(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        message,
        serde_json::Value::Null,
    );
    set_retry_after(&mut r);
    r
}

/// Adds `Retry-After` to a 503 that has none.
pub fn set_retry_after(r: &mut Response) {
    if r.status() == StatusCode::SERVICE_UNAVAILABLE
        && !r.headers().contains_key(header::RETRY_AFTER)
    {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
}

/// The SQLSTATE of a data exception PostgreSQL raised about a value
/// (class 22: a NUL or untranslatable character, a number or date out of
/// range, a string too long).
fn data_exception(e: &sqlx::Error) -> Option<String> {
    let code = e.as_database_error()?.code()?.into_owned();
    code.starts_with("22").then_some(code)
}

/// True when `e` says PostgreSQL cannot be reached or is going away (a
/// restart, a crash, a full server, a connection dropped mid-query), so
/// the same request may well succeed in a moment: these answer 503.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| is_unavailable_sqlstate(&c)),
        _ => false,
    }
}

/// SQLSTATEs of an unreachable or stopping server: class 08 (connection
/// exception), 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
/// connect now (starting up or shutting down), 53300 too many connections.
pub fn is_unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
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
            // Recording the job failed: 503 when PostgreSQL is unreachable,
            // else 500, as for any other query. A job that was recorded is
            // accepted even when Redis is down (enqueueing defers the push),
            // so Redis errors reach here only from code that pushes without
            // recording.
            Database(e) => ApiError::Domain(DomainError::Database(e)),
            Domain(e) => ApiError::Domain(e),
            Redis(_) => {
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    /// A server error with only a SQLSTATE, as PostgreSQL sends them.
    #[derive(Debug)]
    struct Server(&'static str);

    impl std::fmt::Display for Server {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Server {}

    impl sqlx::error::DatabaseError for Server {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn server(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Server(code)))
    }

    #[test]
    fn an_unreachable_or_stopping_database_is_unavailable() {
        let io = |k| sqlx::Error::Io(std::io::Error::from(k));
        for e in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            io(std::io::ErrorKind::ConnectionRefused),
            io(std::io::ErrorKind::ConnectionReset),
            io(std::io::ErrorKind::UnexpectedEof),
            sqlx::Error::Tls("handshake interrupted".into()),
            sqlx::Error::Protocol("unexpected end of stream".into()),
            server("08000"),
            server("08003"),
            server("08006"),
            server("08P01"),
            server("57P01"),
            server("57P02"),
            server("57P03"),
            server("53300"),
        ] {
            assert!(is_unavailable(&e), "{e} should be unavailable");
        }
    }

    #[test]
    fn other_database_errors_are_not_unavailable() {
        for e in [
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("x".into()),
            server("23505"),
            server("42P01"),
            server("40001"),
            server("57014"),
        ] {
            assert!(!is_unavailable(&e), "{e} should not be unavailable");
        }
    }

    #[test]
    fn every_unavailable_answer_is_a_503_with_retry_after_and_the_error_shape() {
        for r in [
            ApiError::from(server("57P01")).into_response(),
            ApiError::from(sqlx::Error::PoolTimedOut).into_response(),
            ApiError::status(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "down")
                .into_response(),
        ] {
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                r.headers().get(header::RETRY_AFTER).unwrap(),
                &RETRY_AFTER_SECS.to_string()
            );
        }
        let r = ApiError::from(server("23505")).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }
}
