//! Job state as people read it. The queue itself lives in Redis (see
//! `nestogy-jobs`); this table is the record of each job: what it is, where
//! it stands, how many attempts, the last error and a small result.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::{DomainError, DomainResult, JobId, TenantTx};

text_enum!(JobState {
    Queued = "queued",
    Running = "running",
    Succeeded = "succeeded",
    /// Failed; another attempt is scheduled.
    FailedWillRetry = "failed_will_retry",
    /// Failed its last attempt; `retry` replays it.
    Dead = "dead",
    Cancelled = "cancelled",
});

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobRecord {
    pub id: JobId,
    pub kind: String,
    pub queue: String,
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i32,
    pub max_attempts: i32,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub last_error: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// When the job is (or was) due to run.
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub struct JobRow {
    pub id: JobId,
    pub kind: String,
    pub queue: String,
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub payload: serde_json::Value,
    pub last_error: Option<String>,
    pub result: Option<serde_json::Value>,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<JobRow> for JobRecord {
    type Error = DomainError;
    fn try_from(r: JobRow) -> DomainResult<Self> {
        let state = JobState::parse(&r.state)
            .ok_or_else(|| DomainError::Internal(format!("unknown job state {:?}", r.state)))?;
        Ok(JobRecord {
            id: r.id,
            kind: r.kind,
            queue: r.queue,
            state,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            payload: r.payload,
            last_error: r.last_error,
            result: r.result,
            run_at: r.run_at,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            updated_at: r.updated_at,
        })
    }
}

pub const COLUMNS: &str = "id, kind, queue, state, attempts, max_attempts, payload, last_error, \
                           result, run_at, created_at, started_at, finished_at, updated_at";

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    /// Only the jobs of this queue.
    pub queue: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

pub async fn get(tx: &mut TenantTx, id: JobId) -> DomainResult<JobRecord> {
    let tenant = tx.tenant();
    let row: Option<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("job"))?.try_into()
}

/// Newest first.
pub async fn list(
    tx: &mut TenantTx,
    f: &JobFilter,
    page: &PageRequest,
) -> DomainResult<Page<JobRecord>> {
    const FILTER: &str = "company_id = $1 AND ($2::text IS NULL OR state = $2) \
        AND ($3::text IS NULL OR kind = $3) AND ($4::timestamptz IS NULL OR created_at >= $4) \
        AND ($5::text IS NULL OR queue = $5)";
    let tenant = tx.tenant();
    let state = f.state.map(JobState::as_str);
    let rows: Vec<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jobs WHERE {FILTER} AND ($6::uuid IS NULL OR id < $6) \
         ORDER BY id DESC LIMIT $7"
    )))
    .bind(tenant)
    .bind(state)
    .bind(f.kind.as_deref())
    .bind(f.since)
    .bind(f.queue.as_deref())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM jobs WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(state)
    .bind(f.kind.as_deref())
    .bind(f.since)
    .bind(f.queue.as_deref())
    .fetch_one(tx.conn())
    .await?;
    let records = rows
        .into_iter()
        .map(JobRecord::try_from)
        .collect::<DomainResult<Vec<_>>>()?;
    Ok(Page::from_rows(records, page, total, |j| Cursor {
        key: String::new(),
        id: j.id.as_uuid(),
    }))
}

/// One queue's figures for one tenant: its depth by state now, and its
/// outcomes in the last minute and hour.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct QueueStats {
    pub queue: String,
    /// Queued and due: waiting for a worker.
    pub waiting: i64,
    /// Queued to run later (scheduled with a run-at in the future).
    pub delayed: i64,
    /// Failed an attempt; another is scheduled.
    pub retrying: i64,
    pub running: i64,
    pub dead: i64,
    pub succeeded: i64,
    pub cancelled: i64,
    /// Jobs that succeeded within the last minute / hour (by `finished_at`).
    pub succeeded_1m: i64,
    pub succeeded_1h: i64,
    /// Jobs whose latest attempt failed within the last minute / hour (now
    /// retrying or dead; by their last change).
    pub failed_1m: i64,
    pub failed_1h: i64,
}

/// The tenant's figures per queue, for the queues it has jobs in, by name.
/// One query over the tenant's own rows.
pub async fn queue_stats(tx: &mut TenantTx) -> DomainResult<Vec<QueueStats>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    Ok(sqlx::query_as(
        "SELECT queue, \
           count(*) FILTER (WHERE state = 'queued' AND run_at <= $2) AS waiting, \
           count(*) FILTER (WHERE state = 'queued' AND run_at > $2) AS delayed, \
           count(*) FILTER (WHERE state = 'failed_will_retry') AS retrying, \
           count(*) FILTER (WHERE state = 'running') AS running, \
           count(*) FILTER (WHERE state = 'dead') AS dead, \
           count(*) FILTER (WHERE state = 'succeeded') AS succeeded, \
           count(*) FILTER (WHERE state = 'cancelled') AS cancelled, \
           count(*) FILTER (WHERE state = 'succeeded' \
                            AND finished_at > $2 - interval '1 minute') AS succeeded_1m, \
           count(*) FILTER (WHERE state = 'succeeded' \
                            AND finished_at > $2 - interval '1 hour') AS succeeded_1h, \
           count(*) FILTER (WHERE state IN ('failed_will_retry', 'dead') \
                            AND updated_at > $2 - interval '1 minute') AS failed_1m, \
           count(*) FILTER (WHERE state IN ('failed_will_retry', 'dead') \
                            AND updated_at > $2 - interval '1 hour') AS failed_1h \
         FROM jobs WHERE company_id = $1 GROUP BY queue ORDER BY queue",
    )
    .bind(tenant)
    .bind(now)
    .fetch_all(tx.conn())
    .await?)
}

/// Cancels a job that has not started (queued, or waiting to retry). The
/// worker that later fetches it finds it cancelled and drops it.
pub async fn cancel(tx: &mut TenantTx, id: JobId) -> DomainResult<JobRecord> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Option<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs SET state = 'cancelled', finished_at = $3, updated_at = $3 \
         WHERE company_id = $1 AND id = $2 AND state <> ALL('{{running,succeeded,dead,cancelled}}') \
         RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    match row {
        Some(r) => r.try_into(),
        None => {
            let current = get(tx, id).await?;
            Err(DomainError::conflict(
                "job_not_cancellable",
                format!(
                    "only a queued job can be cancelled; this one is {}",
                    current.state.as_str()
                ),
            ))
        }
    }
}

/// Marks a dead job queued again with a fresh attempt budget; the caller
/// then pushes it to the queue.
pub async fn revive(tx: &mut TenantTx, id: JobId) -> DomainResult<JobRecord> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Option<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $3, finished_at = NULL, \
         updated_at = $3 WHERE company_id = $1 AND id = $2 AND state = 'dead' RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    match row {
        Some(r) => r.try_into(),
        None => {
            let current = get(tx, id).await?;
            Err(DomainError::conflict(
                "job_not_dead",
                format!(
                    "only a dead job can be retried; this one is {}",
                    current.state.as_str()
                ),
            ))
        }
    }
}
