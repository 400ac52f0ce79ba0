//! The job table in PostgreSQL, as the queue keeps it: in batches, inside
//! platform transactions (the rows belong to every tenant), except new jobs,
//! which are recorded in the transaction of the change that causes them
//! (a tenant's, see [`insert_tenant`]).
//!
//! The batches that find jobs by id run in [`Db::system_by_id`]
//! transactions, which keep the planner on the primary key.
//!
//! A statement that finds jobs by id never says "waiting" as
//! `state IN ('queued', 'failed_will_retry')`: that is the predicate of the
//! sweeper's partial index (`jobs_stale_idx`), and when the table's
//! statistics were taken while few jobs waited (an ANALYZE of a quiet
//! queue), the planner proves the index usable, believes it tiny, and reads
//! every waiting job for each batch: with 50,000 jobs waiting, claims in
//! batches of 25 took 14 s instead of 0.3 s. Such statements name the states
//! they exclude instead (`state <> ALL(...)`), which no partial index
//! matches.

use chrono::{DateTime, Utc};
use nestogy_domain::kernel::tenancy::Commit;
use nestogy_domain::platform::jobs::JobState;
use nestogy_domain::{Db, JobId, SystemTx, TenantId, TenantTx};
use sqlx::PgConnection;

/// A job about to be recorded.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    pub tenant: Option<TenantId>,
    pub kind: String,
    pub queue: String,
    pub payload: serde_json::Value,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub unique_key: Option<String>,
}

/// Records jobs in a platform transaction (jobs of any tenant, and
/// platform jobs); returns the ids inserted (a job whose unique key exists
/// already is not).
pub async fn insert(
    tx: &mut SystemTx,
    jobs: &[NewJob],
    now: DateTime<Utc>,
) -> Result<Vec<JobId>, sqlx::Error> {
    insert_rows(tx.conn(), jobs, now).await
}

/// Records jobs of `tx`'s tenant in that tenant's transaction; returns the
/// ids inserted. The caller checks that every job is the tenant's; the
/// jobs table's row-level security refuses any other row (another tenant's,
/// or a platform job) as a second wall.
pub async fn insert_tenant(
    tx: &mut TenantTx,
    jobs: &[NewJob],
    now: DateTime<Utc>,
) -> Result<Vec<JobId>, sqlx::Error> {
    insert_rows(tx.conn(), jobs, now).await
}

async fn insert_rows(
    conn: &mut PgConnection,
    jobs: &[NewJob],
    now: DateTime<Utc>,
) -> Result<Vec<JobId>, sqlx::Error> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
    let tenants: Vec<Option<TenantId>> = jobs.iter().map(|j| j.tenant).collect();
    let kinds: Vec<&str> = jobs.iter().map(|j| j.kind.as_str()).collect();
    let queues: Vec<&str> = jobs.iter().map(|j| j.queue.as_str()).collect();
    let payloads: Vec<&serde_json::Value> = jobs.iter().map(|j| &j.payload).collect();
    let max: Vec<i32> = jobs.iter().map(|j| j.max_attempts).collect();
    let run_at: Vec<DateTime<Utc>> = jobs.iter().map(|j| j.run_at).collect();
    let keys: Vec<Option<&str>> = jobs.iter().map(|j| j.unique_key.as_deref()).collect();
    sqlx::query_scalar(
        "INSERT INTO jobs (id, company_id, kind, queue, payload, state, max_attempts, run_at, \
         unique_key, created_at, updated_at) \
         SELECT id, company_id, kind, queue, payload, 'queued', max_attempts, run_at, unique_key, $9, $9 \
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::int4[], \
                     $7::timestamptz[], $8::text[]) \
              AS t(id, company_id, kind, queue, payload, max_attempts, run_at, unique_key) \
         ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING RETURNING id",
    )
    .bind(ids)
    .bind(tenants)
    .bind(kinds)
    .bind(queues)
    .bind(payloads)
    .bind(max)
    .bind(run_at)
    .bind(keys)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// The id of the job holding `key`, among the jobs `conn`'s transaction
/// may see (a tenant transaction sees only its tenant's).
async fn by_key(conn: &mut PgConnection, key: &str) -> Result<Option<JobId>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM jobs WHERE unique_key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await
}

/// The id of the job holding `key`.
pub async fn by_unique_key(tx: &mut SystemTx, key: &str) -> Result<Option<JobId>, sqlx::Error> {
    by_key(tx.conn(), key).await
}

/// The id of the job of `tx`'s tenant holding `key`; `None` when no job of
/// this tenant holds it (another tenant's job is never seen).
pub async fn tenant_by_unique_key(
    tx: &mut TenantTx,
    key: &str,
) -> Result<Option<JobId>, sqlx::Error> {
    by_key(tx.conn(), key).await
}

/// A job a worker may now run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: JobId,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// Marks fetched jobs running and counts the attempt. Only jobs waiting to
/// run are claimed (a cancelled, finished or duplicate entry is not); with
/// `reclaimed`, jobs a dead worker left running are claimed too.
pub async fn claim(
    db: &Db,
    ids: &[JobId],
    reclaimed: bool,
    now: DateTime<Utc>,
) -> Result<Vec<Claimed>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Not yet claimable: finished, or (unless reclaimed) running. Said by
    // exclusion; see the module's documentation.
    let not_claimable: &[&str] = if reclaimed {
        &["succeeded", "dead", "cancelled"]
    } else {
        &["running", "succeeded", "dead", "cancelled"]
    };
    // The claim need not wait for the disk: lost in a crash, the job is
    // waiting again in PostgreSQL while its entry stays unacknowledged in
    // Redis, so it is reclaimed after the lease and runs again (at least
    // once, as every job). Its outcome is recorded with a synchronous
    // commit before the entry is acknowledged, which makes this claim
    // durable first. Measured by `make bench-jobs`: about a fifth more jobs/s.
    let mut tx = db.system_by_id(Commit::Async).await?;
    let claimed = sqlx::query_as(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = $3, updated_at = $3 \
         WHERE id = ANY($1) AND state <> ALL($2) RETURNING id, attempts, max_attempts",
    )
    .bind(ids)
    .bind(not_claimable)
    .bind(now)
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub struct Finish {
    pub id: JobId,
    pub state: JobState,
    pub error: Option<String>,
    pub result: Option<serde_json::Value>,
    /// For a retry: when the next attempt is due.
    pub next_run_at: Option<DateTime<Utc>>,
}

/// Records finished attempts in one statement. Only running jobs change, so
/// a late duplicate never overwrites a newer state.
pub async fn finish(db: &Db, done: &[Finish], now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    if done.is_empty() {
        return Ok(());
    }
    let ids: Vec<JobId> = done.iter().map(|f| f.id).collect();
    let states: Vec<&str> = done.iter().map(|f| f.state.as_str()).collect();
    let errors: Vec<Option<&str>> = done.iter().map(|f| f.error.as_deref()).collect();
    let results: Vec<Option<&serde_json::Value>> = done.iter().map(|f| f.result.as_ref()).collect();
    let next: Vec<Option<DateTime<Utc>>> = done.iter().map(|f| f.next_run_at).collect();
    let mut tx = db.system_by_id(Commit::Durable).await?;
    sqlx::query(
        "UPDATE jobs SET state = v.state, last_error = COALESCE(v.error, jobs.last_error), \
         result = COALESCE(v.result, jobs.result), run_at = COALESCE(v.next_run_at, jobs.run_at), \
         finished_at = CASE WHEN v.state IN ('succeeded', 'dead', 'cancelled') THEN $6 END, updated_at = $6 \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[]) \
              AS v(id, state, error, result, next_run_at) \
         WHERE jobs.id = v.id AND jobs.state = 'running'",
    )
    .bind(ids)
    .bind(states)
    .bind(errors)
    .bind(results)
    .bind(next)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// Jobs a stopping worker hands back: queued again, the attempt not counted.
pub async fn hand_back(db: &Db, ids: &[JobId], now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut tx = db.system_by_id(Commit::Durable).await?;
    sqlx::query(
        "UPDATE jobs SET state = 'queued', attempts = greatest(attempts - 1, 0), updated_at = $2 \
         WHERE id = ANY($1) AND state = 'running'",
    )
    .bind(ids)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// Deletes finished jobs older than the retention, in bounded batches.
pub async fn vacuum(
    db: &Db,
    succeeded_before: DateTime<Utc>,
    dead_before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let mut tx = db.system().await?;
        let n = sqlx::query(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE finished_at IS NOT NULL AND \
             ((state IN ('succeeded', 'cancelled') AND finished_at < $1) OR (state = 'dead' AND finished_at < $2)) \
             LIMIT 5000)",
        )
        .bind(succeeded_before)
        .bind(dead_before)
        .execute(tx.conn())
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM schedule_fires WHERE fired_at < $1")
            .bind(dead_before)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        total += n;
        if n < 5000 {
            return Ok(total);
        }
    }
}

/// A job PostgreSQL says is waiting, to put back on its queue.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Waiting {
    pub id: JobId,
    pub company_id: Option<TenantId>,
    pub kind: String,
    pub queue: String,
    pub payload: serde_json::Value,
    pub run_at: DateTime<Utc>,
}

/// A waiting job as the sweeper first sees it: no payload yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WaitingRef {
    pub id: JobId,
    pub queue: String,
    pub updated_at: DateTime<Utc>,
}

/// Jobs waiting to run (`queued`, `failed_will_retry`) that nothing has
/// touched since `before`, of every queue, in (`updated_at`, `id`) order
/// after `after`, at most `limit`.
pub async fn old_waiting(
    db: &Db,
    before: DateTime<Utc>,
    after: Option<(DateTime<Utc>, JobId)>,
    limit: i64,
) -> Result<Vec<WaitingRef>, sqlx::Error> {
    let (after_at, after_id) = match after {
        Some((at, id)) => (Some(at), Some(id)),
        None => (None, None),
    };
    let mut tx = db.system().await?;
    let rows = sqlx::query_as(
        "SELECT id, queue, updated_at FROM jobs \
         WHERE state IN ('queued', 'failed_will_retry') AND updated_at < $1 \
           AND ($2::timestamptz IS NULL OR (updated_at, id) > ($2, $3)) \
         ORDER BY updated_at, id LIMIT $4",
    )
    .bind(before)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// The jobs of `ids` still waiting to run, whole, to push again.
pub async fn waiting_by_ids(db: &Db, ids: &[JobId]) -> Result<Vec<Waiting>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = db.system_by_id(Commit::Durable).await?;
    let rows = sqlx::query_as(
        "SELECT id, company_id, kind, queue, payload, run_at FROM jobs \
         WHERE id = ANY($1) AND state <> ALL('{running,succeeded,dead,cancelled}')",
    )
    .bind(ids)
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(rows)
}
