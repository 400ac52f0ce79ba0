use crate::kernel::validation::ValidationErrors;

/// What can go wrong in the domain. The API maps each variant to one status
/// code in one place (`nestogy_api::error`).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The row does not exist for this tenant (it may exist for another: we
    /// never say so).
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// `details`: null, or what the conflict has to add (the open
    /// checklist items of `checklist_open`).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: serde_json::Value,
    },
    #[error("validation failed")]
    Validation(ValidationErrors),
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("too many failed sign-ins; retry in {retry_after_secs} s")]
    Locked { retry_after_secs: u64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// The error in one line for a log or a command's output: each field
    /// and its message for a validation error, the error's text otherwise.
    pub fn describe(&self) -> String {
        match self {
            DomainError::Validation(v) => {
                v.0.iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
            other => other.to_string(),
        }
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

/// Whether a database error is a conflict between concurrent transactions
/// (a deadlock, a serialization failure) that the same work, tried again at
/// once, gets past.
pub fn is_transient_conflict(e: &sqlx::Error) -> bool {
    matches!(
        e.as_database_error().and_then(|d| d.code()).as_deref(),
        Some("40P01" | "40001")
    )
}

impl DomainError {
    /// See [`is_transient_conflict`].
    pub fn is_transient_conflict(&self) -> bool {
        matches!(self, Self::Database(e) if is_transient_conflict(e))
    }

    pub fn not_found(entity: &'static str) -> Self {
        Self::NotFound { entity }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::conflict_with(code, message, serde_json::Value::Null)
    }

    /// A conflict with `details` for the error body.
    pub fn conflict_with(
        code: &'static str,
        message: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            details,
        }
    }

    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthenticated {
            code,
            message: message.into(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }
}

/// Turns a unique-key violation on `constraint` into a conflict, right where
/// the query is written; every other error passes through.
pub trait OnConstraint<T> {
    fn on_constraint(self, constraint: &str, make: impl FnOnce() -> DomainError)
    -> DomainResult<T>;
}

impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_constraint(
        self,
        constraint: &str,
        make: impl FnOnce() -> DomainError,
    ) -> DomainResult<T> {
        self.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.constraint() == Some(constraint) => make(),
            _ => DomainError::Database(e),
        })
    }
}

/// So checks for several constraints chain.
impl<T> OnConstraint<T> for DomainResult<T> {
    fn on_constraint(
        self,
        constraint: &str,
        make: impl FnOnce() -> DomainError,
    ) -> DomainResult<T> {
        self.map_err(|e| match &e {
            DomainError::Database(sqlx::Error::Database(db))
                if db.constraint() == Some(constraint) =>
            {
                make()
            }
            _ => e,
        })
    }
}
