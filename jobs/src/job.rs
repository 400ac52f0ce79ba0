//! The [`Job`] trait and what goes with it.

use std::future::Future;
use std::time::Duration;

use nestogy_domain::{JobId, TenantId};
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{JobContext, Queue};

/// A job: a payload that names what to work on, and the idempotent work.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// A stable name, stored with every job: `family.action`.
    const KIND: &'static str;
    const QUEUE: Queue;
    /// Whether tenants may create schedules of this kind.
    const SCHEDULABLE: bool = false;

    fn retry_policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    /// Longest one attempt may run; past it the attempt fails.
    fn timeout() -> Duration {
        Duration::from_secs(60)
    }

    /// The tenant the job works for; `None` for platform jobs.
    fn tenant(&self) -> Option<TenantId>;

    /// Does the work. Running it twice must have the effect of running it
    /// once. Returns a small result for people to read.
    fn run(
        self,
        ctx: JobContext,
        meta: JobMeta,
    ) -> impl Future<Output = Result<serde_json::Value, JobError>> + Send;
}

/// What a handler knows about its own execution.
#[derive(Debug, Clone, Copy)]
pub struct JobMeta {
    pub id: JobId,
    /// 1 for the first attempt.
    pub attempt: i32,
}

/// Why an attempt failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    pub message: String,
    pub retryable: bool,
    /// When the other side said how long to wait (HTTP 429 `Retry-After`):
    /// the next attempt is due after this instead of the policy's backoff.
    pub retry_after: Option<Duration>,
    /// A conflict with a concurrent transaction (a deadlock): the handler
    /// runs again at once after a short random pause, without counting an
    /// attempt, a few times before it counts as a failed attempt.
    pub conflict: bool,
}

impl JobError {
    /// A failure worth another attempt (a timeout, a service down).
    pub fn retry(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            retry_after: None,
            conflict: false,
        }
    }

    /// A conflict with a concurrent transaction, worth running again at once.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            conflict: true,
            ..Self::retry(message)
        }
    }

    /// A failure worth another attempt no sooner than `delay` (a rate limit
    /// with `Retry-After`). Still counts as an attempt of the policy.
    pub fn retry_after(message: impl Into<String>, delay: Duration) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            retry_after: Some(delay),
            conflict: false,
        }
    }

    /// A failure no retry can fix (a malformed payload): straight to dead.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            retry_after: None,
            conflict: false,
        }
    }
}

impl From<nestogy_domain::DomainError> for JobError {
    fn from(e: nestogy_domain::DomainError) -> Self {
        if e.is_transient_conflict() {
            return JobError::conflict(e.to_string());
        }
        match e {
            nestogy_domain::DomainError::Database(_) | nestogy_domain::DomainError::Internal(_) => {
                JobError::retry(e.to_string())
            }
            other => JobError::permanent(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        if nestogy_domain::kernel::error::is_transient_conflict(&e) {
            return JobError::conflict(format!("database: {e}"));
        }
        JobError::retry(format!("database: {e}"))
    }
}

/// Attempts and exponential backoff with jitter. The one retry path: the
/// worker schedules the next attempt from this policy, nothing else retries.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: i32,
    /// Delay before the second attempt; doubles each time.
    pub base: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base: Duration::from_secs(2),
            max_delay: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt `attempt` (1-based): `base × 2^(attempt-1)`,
    /// capped, then scaled by a random factor in [0.5, 1.5).
    pub fn delay_after(&self, attempt: i32) -> Duration {
        let exp = attempt.clamp(1, 31) as u32 - 1;
        let raw = self
            .base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.max_delay);
        raw.mul_f64(rand::rng().random_range(0.5..1.5))
    }

    /// The delay before the attempt after failed attempt `attempt`: what
    /// the failure asked for (capped at an hour), else the backoff.
    pub fn next_delay(&self, attempt: i32, e: &JobError) -> Duration {
        match e.retry_after {
            Some(d) => d.min(Duration::from_secs(3600)),
            None => self.delay_after(attempt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let p = RetryPolicy {
            max_attempts: 10,
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        };
        for (attempt, nominal) in [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (30, 60.0)] {
            for _ in 0..50 {
                let d = p.delay_after(attempt).as_secs_f64();
                assert!(
                    d >= nominal * 0.5 && d < nominal * 1.5,
                    "attempt {attempt}: {d}"
                );
            }
        }
    }

    #[test]
    fn retry_after_overrides_backoff_and_is_capped() {
        let p = RetryPolicy::default();
        let e = JobError::retry_after("429", Duration::from_secs(37));
        assert!(e.retryable);
        assert_eq!(p.next_delay(1, &e), Duration::from_secs(37));
        assert_eq!(p.next_delay(4, &e), Duration::from_secs(37));
        let long = JobError::retry_after("429", Duration::from_secs(86_400));
        assert_eq!(p.next_delay(1, &long), Duration::from_secs(3600));
        let plain = JobError::retry("down");
        assert!(p.next_delay(1, &plain) < Duration::from_secs(3));
    }
}
