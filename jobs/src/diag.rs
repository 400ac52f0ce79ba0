//! Diagnostic jobs: check the pipeline end to end (`diag.noop`), leave a
//! countable effect (`diag.record`), or fail on purpose (`diag.flaky`,
//! `diag.panic`, `diag.fail`). The test suite and the benchmark drive the platform with
//! them; operators can use them to probe a deployment.

use std::time::Duration;

use nestogy_domain::{JobId, TenantId};
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext, JobError, JobMeta, Queue, RetryPolicy};

const QUICK_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base: Duration::from_millis(50),
    max_delay: Duration::from_secs(1),
};

/// Does nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Noop {
    #[serde(default)]
    pub tenant: Option<TenantId>,
}

impl Job for Noop {
    const KIND: &'static str = "diag.noop";
    const QUEUE: Queue = Queue::Default;
    const SCHEDULABLE: bool = true;

    fn tenant(&self) -> Option<TenantId> {
        self.tenant
    }

    async fn run(self, _: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        Ok(serde_json::json!({}))
    }
}

/// Waits `sleep_ms`, then records its effect: one `job_effects` row per job
/// however often it runs, and a count of the runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    #[serde(default)]
    pub tenant: Option<TenantId>,
    #[serde(default)]
    pub sleep_ms: u64,
}

impl Job for Record {
    const KIND: &'static str = "diag.record";
    const QUEUE: Queue = Queue::Default;
    const SCHEDULABLE: bool = true;

    fn tenant(&self) -> Option<TenantId> {
        self.tenant
    }

    fn timeout() -> Duration {
        Duration::from_secs(120)
    }

    async fn run(self, ctx: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        if self.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.sleep_ms)).await;
        }
        let mut tx = ctx.db.system().await?;
        let runs = count_run(&mut tx, meta.id).await?;
        tx.commit().await?;
        Ok(serde_json::json!({ "runs": runs }))
    }
}

/// Counts one run of job `id` in `job_effects`; returns the runs so far.
async fn count_run(tx: &mut nestogy_domain::SystemTx, id: JobId) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO job_effects (job_id, runs) VALUES ($1, 1) \
         ON CONFLICT (job_id) DO UPDATE SET runs = job_effects.runs + 1 RETURNING runs",
    )
    .bind(id)
    .fetch_one(tx.conn())
    .await
}

/// Fails its first `failures` attempts, then succeeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flaky {
    pub failures: i32,
}

impl Job for Flaky {
    const KIND: &'static str = "diag.flaky";
    const QUEUE: Queue = Queue::Default;

    fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            ..QUICK_RETRY
        }
    }

    fn tenant(&self) -> Option<TenantId> {
        None
    }

    async fn run(self, _: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        if meta.attempt <= self.failures {
            return Err(JobError::retry(format!(
                "planned failure on attempt {}",
                meta.attempt
            )));
        }
        Ok(serde_json::json!({ "succeeded_on_attempt": meta.attempt }))
    }
}

/// Panics on its first `times` attempts, then succeeds: shows that a
/// panicking handler fails its attempt (retryable) and never the worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Panic {
    pub times: i32,
}

impl Job for Panic {
    const KIND: &'static str = "diag.panic";
    const QUEUE: Queue = Queue::Default;

    fn retry_policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            ..QUICK_RETRY
        }
    }

    fn tenant(&self) -> Option<TenantId> {
        None
    }

    async fn run(self, _: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        if meta.attempt <= self.times {
            panic!("diag.panic panics on attempt {}", meta.attempt);
        }
        Ok(serde_json::json!({ "succeeded_on_attempt": meta.attempt }))
    }
}

/// Always fails: ends dead after its attempts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Fail {
    #[serde(default)]
    pub tenant: Option<TenantId>,
}

impl Job for Fail {
    const KIND: &'static str = "diag.fail";
    const QUEUE: Queue = Queue::Default;

    fn retry_policy() -> RetryPolicy {
        QUICK_RETRY
    }

    fn tenant(&self) -> Option<TenantId> {
        self.tenant
    }

    async fn run(self, _: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        Err(JobError::retry(format!(
            "diag.fail fails, attempt {}",
            meta.attempt
        )))
    }
}

/// Deadlocks on its first `times` runs, then succeeds: each of those runs
/// locks two rows in two transactions of its own in opposite orders, so
/// PostgreSQL aborts one with a real deadlock error. Shows that a conflict
/// runs again at once, without costing an attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deadlock {
    pub times: i32,
}

impl Job for Deadlock {
    const KIND: &'static str = "diag.deadlock";
    const QUEUE: Queue = Queue::Default;

    fn tenant(&self) -> Option<TenantId> {
        None
    }

    async fn run(self, ctx: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let mut tx = ctx.db.system().await?;
        let runs = count_run(&mut tx, meta.id).await?;
        if runs > self.times {
            tx.commit().await?;
            return Ok(serde_json::json!({ "runs": runs }));
        }
        sqlx::query("INSERT INTO job_effects (job_id, runs) VALUES ($1, 0), ($2, 0)")
            .bind(a)
            .bind(b)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        let lock = "UPDATE job_effects SET runs = runs + 1 WHERE job_id = $1";
        let (mut one, mut two) = (ctx.db.system().await?, ctx.db.system().await?);
        sqlx::query(lock).bind(a).execute(one.conn()).await?;
        sqlx::query(lock).bind(b).execute(two.conn()).await?;
        // Each crosses over to the other's row; the one PostgreSQL picks as
        // the victim fails and rolls back, letting the other through.
        let cross = |mut tx: nestogy_domain::SystemTx, row: uuid::Uuid| async move {
            let r = sqlx::query(lock).bind(row).execute(tx.conn()).await;
            let _ = tx.rollback().await;
            r.map(drop)
        };
        let (first, second) = tokio::join!(cross(one, b), cross(two, a));
        let mut tx = ctx.db.system().await?;
        sqlx::query("DELETE FROM job_effects WHERE job_id = ANY($1)")
            .bind(vec![a, b])
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        first?;
        second?;
        Err(JobError::permanent("the planned deadlock did not happen"))
    }
}
