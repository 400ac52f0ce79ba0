//! Argon2id password hashing, off the async runtime's threads.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::{DomainError, DomainResult};

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 256;

pub async fn hash(password: String) -> DomainResult<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| DomainError::Internal(format!("hashing password: {e}")))
    })
    .await
    .map_err(|e| DomainError::Internal(format!("hashing task: {e}")))?
}

pub async fn verify(password: String, stored: String) -> DomainResult<bool> {
    tokio::task::spawn_blocking(move || -> DomainResult<bool> {
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), stored.as_str())
            .is_ok())
    })
    .await
    .map_err(|e| DomainError::Internal(format!("verify task: {e}")))?
}

/// Checks a new password's length; collects into `v`.
pub fn validate(v: &mut crate::kernel::validation::ValidationErrors, field: &str, password: &str) {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        v.add(
            field,
            "too_short",
            format!("{field} must be at least {MIN_PASSWORD_LEN} characters"),
        );
    } else if n > MAX_PASSWORD_LEN {
        v.add(
            field,
            "too_long",
            format!("{field} must be at most {MAX_PASSWORD_LEN} characters"),
        );
    }
}
