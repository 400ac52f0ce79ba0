//! Putting jobs on the queue.
//!
//! A job is recorded in PostgreSQL in the transaction of the change that
//! causes it (as River's `InsertTx` does): it exists exactly when that
//! change commits, and never without it. Recording returns a
//! [`PendingPush`] (or an [`Enqueued`] for one job); once the transaction
//! has committed, its `push` puts the jobs on their Redis streams. A push
//! that never happens (the process died between the commit and the push,
//! or Redis did not take it) is repaired by the workers' sweep, which
//! queues again the waiting jobs Redis does not hold. A worker therefore
//! never fetches a job it cannot find, and no committed job is lost.
//!
//! One way in per situation:
//! - [`enqueue_in`] (one typed job) and [`record_in`] (prepared jobs), in a
//!   tenant's business transaction ([`TenantTx`]): whenever a change of
//!   state causes the job. The usual case.
//! - [`record`], in a platform transaction ([`SystemTx`]): the platform's
//!   own bookkeeping, across tenants or for platform jobs (the scheduler's
//!   fires, sweeps), where the change that causes the job is a platform row.
//! - [`enqueue`], [`enqueue_with`], [`enqueue_many`]: a job no change of
//!   state causes (a pure trigger: "refresh this report", "test this
//!   mailbox", a benchmark's batch); they open, commit and push a
//!   transaction of their own.

use std::collections::HashSet;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use nestogy_domain::platform::jobs::JobRecord;
use nestogy_domain::{JobId, SystemTx, TenantId, TenantTx};

use crate::envelope::Envelope;
use crate::handler::Handler;
use crate::store::{self, NewJob};
use crate::{Job, JobContext, JobError, Queue, RedisQueue};

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("unknown job kind {0:?}")]
    UnknownKind(String),
    #[error("the job's payload does not serialize: {0}")]
    Payload(String),
    /// A tenant's transaction may record only that tenant's jobs.
    #[error("a job of kind {0:?} for another tenant (or none) in a tenant's transaction")]
    OtherTenant(String),
    /// The unique key is taken by a job this transaction may not see
    /// (another tenant's, or a platform job).
    #[error("the unique key {0:?} is held by a job of another tenant")]
    KeyHeldElsewhere(String),
    #[error("recording the job: {0}")]
    Database(#[from] sqlx::Error),
    /// A change made with the job in its transaction failed.
    #[error(transparent)]
    Domain(#[from] nestogy_domain::DomainError),
    #[error("queueing the job in Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A job that could not be put on the queue (the database or Redis did not
/// take it) fails its attempt and is tried again, whatever the cause; a
/// change made beside it fails as that change does.
impl From<EnqueueError> for JobError {
    fn from(e: EnqueueError) -> Self {
        match e {
            EnqueueError::Domain(e) => e.into(),
            e => JobError::retry(e.to_string()),
        }
    }
}

/// When to run, and an optional key that makes the enqueue happen once.
#[derive(Debug, Clone, Default)]
pub struct EnqueueOptions {
    pub run_at: Option<DateTime<Utc>>,
    /// A second enqueue with the same key returns the first job's id.
    pub unique_key: Option<String>,
}

/// A job recorded (or about to be) and what to push once it is.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub row: NewJob,
    pub queue: Queue,
}

impl Prepared {
    /// Prepares a job of the kind `h` runs.
    pub fn of(
        h: &Handler,
        tenant: Option<TenantId>,
        payload: serde_json::Value,
        run_at: DateTime<Utc>,
        unique_key: Option<String>,
    ) -> Prepared {
        Prepared {
            row: NewJob {
                id: JobId::new(),
                tenant,
                kind: h.kind.to_owned(),
                queue: h.queue.name().to_owned(),
                payload,
                max_attempts: h.retry.max_attempts,
                run_at,
                unique_key,
            },
            queue: h.queue,
        }
    }

    pub fn typed<J: Job>(
        job: &J,
        run_at: DateTime<Utc>,
        unique_key: Option<String>,
    ) -> Result<Prepared, EnqueueError> {
        let payload = serde_json::to_value(job)
            .map_err(|e| EnqueueError::Payload(format!("{}: {e}", J::KIND)))?;
        Ok(Prepared::of(
            &Handler::of::<J>(),
            job.tenant(),
            payload,
            run_at,
            unique_key,
        ))
    }

    fn push_item(&self, now: DateTime<Utc>) -> (Queue, Envelope, Option<i64>) {
        let due = self.row.run_at > now;
        let env = Envelope {
            id: self.row.id,
            kind: self.row.kind.clone(),
            tenant: self.row.tenant,
            payload: self.row.payload.clone(),
            queued_ms: self.row.run_at.max(now).timestamp_millis(),
        };
        (
            self.queue,
            env,
            due.then(|| self.row.run_at.timestamp_millis()),
        )
    }
}

/// Jobs recorded in a transaction that has not committed yet: push them
/// once it has. Dropped without a push (the transaction rolled back, or an
/// error came first), nothing is queued; a job whose transaction committed
/// and whose push never came is queued again by the workers' sweep, late.
#[must_use = "recorded jobs are queued only when pushed: call `push` once the transaction commits"]
#[derive(Debug, Default)]
pub struct PendingPush {
    jobs: Vec<Prepared>,
    now: DateTime<Utc>,
}

impl PendingPush {
    /// Nothing to push.
    pub fn none() -> PendingPush {
        PendingPush::default()
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The jobs recorded (a unique key already taken records none).
    pub fn jobs(&self) -> &[Prepared] {
        &self.jobs
    }

    /// Adds `other`'s jobs, to push them together.
    pub fn merge(&mut self, other: PendingPush) {
        self.now = self.now.max(other.now);
        self.jobs.extend(other.jobs);
    }

    /// Pushes the jobs to Redis. Call it after the transaction that
    /// recorded them committed, never before (a worker would fetch a job it
    /// cannot find yet). It does not fail: a recorded job is durable, and
    /// when Redis cannot take it the failure is logged and counted
    /// (`jobs_push_deferred_total`) and the workers' sweep pushes it once
    /// Redis is back.
    pub async fn push(self, queue: &RedisQueue) {
        if self.jobs.is_empty() {
            return;
        }
        failpoint::after_commit_before_push();
        push(queue, &self.jobs, self.now).await;
    }
}

/// One job recorded in a transaction (or found by its unique key): its id,
/// and what to push after the commit.
#[must_use = "a recorded job is queued only when pushed: call `push` once the transaction commits"]
#[derive(Debug)]
pub struct Enqueued {
    id: JobId,
    pending: PendingPush,
}

impl Enqueued {
    /// The job's id (with a unique key already taken, the first job's).
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Pushes the job (see [`PendingPush::push`]) after the commit; returns
    /// its id.
    pub async fn push(self, queue: &RedisQueue) -> JobId {
        self.pending.push(queue).await;
        self.id
    }

    /// What to push, to push it with other jobs.
    pub fn into_pending(self) -> PendingPush {
        self.pending
    }
}

/// Records `job` in the tenant's business transaction `tx`, the one that
/// makes the change causing it; `opts.run_at` defaults to the
/// transaction's "now". With a unique key some job of this tenant holds
/// already, records nothing and answers that job's id. Push the answer
/// after `tx` commits.
pub async fn enqueue_in<J: Job>(
    tx: &mut TenantTx,
    job: &J,
    opts: EnqueueOptions,
) -> Result<Enqueued, EnqueueError> {
    let run_at = opts.run_at.unwrap_or_else(|| tx.now());
    let prepared = Prepared::typed(job, run_at, opts.unique_key)?;
    enqueue_prepared_in(tx, prepared).await
}

pub(crate) async fn enqueue_prepared_in(
    tx: &mut TenantTx,
    prepared: Prepared,
) -> Result<Enqueued, EnqueueError> {
    let id = prepared.row.id;
    let key = prepared.row.unique_key.clone();
    let pending = record_in(tx, vec![prepared]).await?;
    if !pending.is_empty() {
        return Ok(Enqueued { id, pending });
    }
    let key = key.ok_or(EnqueueError::Database(sqlx::Error::RowNotFound))?;
    match store::tenant_by_unique_key(tx, &key).await? {
        Some(id) => Ok(Enqueued {
            id,
            pending: PendingPush::none(),
        }),
        None => Err(EnqueueError::KeyHeldElsewhere(key)),
    }
}

/// Records prepared jobs of `tx`'s tenant in `tx` (unique keys already
/// taken are skipped), stamped with the transaction's "now". A job of
/// another tenant, or a platform job, is refused before the database
/// (whose row-level security would refuse it too). Push the answer after
/// `tx` commits.
pub async fn record_in(
    tx: &mut TenantTx,
    jobs: Vec<Prepared>,
) -> Result<PendingPush, EnqueueError> {
    let tenant = tx.tenant();
    if let Some(p) = jobs.iter().find(|p| p.row.tenant != Some(tenant)) {
        return Err(EnqueueError::OtherTenant(p.row.kind.clone()));
    }
    let now = tx.now();
    let rows: Vec<NewJob> = jobs.iter().map(|p| p.row.clone()).collect();
    let inserted = store::insert_tenant(tx, &rows, now).await?;
    Ok(recorded(jobs, &inserted, now))
}

/// Records prepared jobs in the platform transaction `tx` (unique keys
/// already taken are skipped); for the platform's own bookkeeping across
/// tenants (see the module's documentation). Push the answer after `tx`
/// commits.
pub async fn record(
    tx: &mut SystemTx,
    jobs: Vec<Prepared>,
    now: DateTime<Utc>,
) -> Result<PendingPush, EnqueueError> {
    let rows: Vec<NewJob> = jobs.iter().map(|p| p.row.clone()).collect();
    let inserted = store::insert(tx, &rows, now).await?;
    Ok(recorded(jobs, &inserted, now))
}

/// The jobs of `jobs` that were inserted (those whose unique key was
/// taken were not), to push after the commit.
fn recorded(jobs: Vec<Prepared>, inserted: &[JobId], now: DateTime<Utc>) -> PendingPush {
    // Ids are new, so as many inserted as given means all of them; else
    // look each up in a set (a batch is up to thousands of jobs).
    let jobs = if inserted.len() == jobs.len() {
        jobs
    } else {
        let inserted: HashSet<JobId> = inserted.iter().copied().collect();
        jobs.into_iter()
            .filter(|p| inserted.contains(&p.row.id))
            .collect()
    };
    PendingPush { jobs, now }
}

/// A test-only knob: with `NESTOGY_FAILPOINT=after_commit_before_push` in
/// its environment, a process aborts (`std::process::abort`, as a kill
/// would end it) at its first push of recorded jobs: right after the
/// transaction that recorded them committed, before Redis hears of them.
/// The multi-process test of that crash (tests/api/processes/enqueue.rs)
/// sets it on an API process. The variable is read once, at start-up
/// ([`failpoint::init`]) or else at the first push; never set it in
/// production.
pub mod failpoint {
    use super::LazyLock;

    static AFTER_COMMIT_BEFORE_PUSH: LazyLock<bool> = LazyLock::new(|| {
        std::env::var("NESTOGY_FAILPOINT").is_ok_and(|v| v == "after_commit_before_push")
    });

    /// Reads `NESTOGY_FAILPOINT` now (the binary calls it at start-up);
    /// true when the failpoint is armed.
    pub fn init() -> bool {
        *AFTER_COMMIT_BEFORE_PUSH
    }

    /// Aborts the process when the failpoint is armed.
    pub(crate) fn after_commit_before_push() {
        if *AFTER_COMMIT_BEFORE_PUSH {
            eprintln!("NESTOGY_FAILPOINT=after_commit_before_push: aborting after the commit");
            std::process::abort();
        }
    }
}

/// Attempts at a push when the connection to Redis is broken; each retry
/// runs on the connection the manager sets up again after the failure.
const PUSH_ATTEMPTS: usize = 3;
/// Pause before the second and the third attempt.
const PUSH_BACKOFF: [std::time::Duration; 2] = [
    std::time::Duration::from_millis(10),
    std::time::Duration::from_millis(100),
];

/// Puts items on their queues. When the connection is broken (Redis
/// restarted: "broken pipe", "connection reset", or the last reconnect was
/// refused while it was down), the failed call makes the connection manager
/// reconnect, and the push is tried again at once on the new connection, a
/// few times with a short pause; so the first push after Redis returns
/// succeeds instead of waiting for a later tick or sweep. With Redis down,
/// this gives up within about a second (see `RedisQueue::connect`).
pub async fn push_items(
    queue: &RedisQueue,
    items: &[(Queue, Envelope, Option<i64>)],
) -> Result<(), redis::RedisError> {
    let mut attempt = 0;
    loop {
        match queue.push(items).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt + 1 < PUSH_ATTEMPTS && e.is_connection_dropped() => {
                tracing::info!(error = %e, "the connection to Redis is broken; pushing again");
                metrics::counter!("queue_push_retries_total").increment(1);
                tokio::time::sleep(PUSH_BACKOFF[attempt]).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Pushes jobs already recorded (and committed) in PostgreSQL to Redis and
/// counts them. When Redis cannot take them (even after [`push_items`]'
/// retries), the failure is logged and counted (`jobs_push_deferred_total`)
/// and the jobs stay waiting in PostgreSQL, where the workers' sweep for
/// lost jobs finds them and pushes them once Redis is back. So this does
/// not fail: an enqueue whose row committed has succeeded.
async fn push(queue: &RedisQueue, jobs: &[Prepared], now: DateTime<Utc>) {
    let items: Vec<_> = jobs.iter().map(|p| p.push_item(now)).collect();
    match push_items(queue, &items).await {
        Ok(()) => {
            for p in jobs {
                metrics::counter!("jobs_enqueued_total", "kind" => p.row.kind.clone()).increment(1);
            }
        }
        Err(e) => {
            let ids: Vec<String> = jobs.iter().map(|p| p.row.id.to_string()).collect();
            tracing::warn!(
                error = %e,
                jobs = ?ids,
                "Redis did not take recorded jobs; they wait in PostgreSQL and are pushed when Redis is back"
            );
            for p in jobs {
                metrics::counter!("jobs_push_deferred_total", "kind" => p.row.kind.clone())
                    .increment(1);
            }
        }
    }
}

/// Enqueues one job now, in a transaction of its own; returns its id. Only
/// for a job no change of state causes (a pure trigger); a job caused by a
/// change is recorded in that change's transaction ([`enqueue_in`]).
pub async fn enqueue<J: Job>(ctx: &JobContext, job: &J) -> Result<JobId, EnqueueError> {
    enqueue_with(ctx, job, EnqueueOptions::default()).await
}

/// [`enqueue`] with options; with a unique key already used, returns the
/// existing job's id and enqueues nothing.
pub async fn enqueue_with<J: Job>(
    ctx: &JobContext,
    job: &J,
    opts: EnqueueOptions,
) -> Result<JobId, EnqueueError> {
    let now = ctx.db.clock.now();
    let prepared = Prepared::typed(job, opts.run_at.unwrap_or(now), opts.unique_key)?;
    enqueue_prepared(ctx, prepared, now).await
}

async fn enqueue_prepared(
    ctx: &JobContext,
    prepared: Prepared,
    now: DateTime<Utc>,
) -> Result<JobId, EnqueueError> {
    let id = prepared.row.id;
    let key = prepared.row.unique_key.clone();
    let mut tx = ctx.db.system().await?;
    let pending = record(&mut tx, vec![prepared], now).await?;
    if pending.is_empty() {
        let existing = match key {
            Some(k) => store::by_unique_key(&mut tx, &k).await?,
            None => None,
        };
        tx.commit().await?;
        return existing.ok_or(EnqueueError::Database(sqlx::Error::RowNotFound));
    }
    tx.commit().await?;
    pending.push(&ctx.queue).await;
    Ok(id)
}

/// Enqueues many jobs of one kind in one insert and one Redis round trip,
/// in a transaction of its own (a batch no change of state causes, as
/// [`enqueue`]).
pub async fn enqueue_many<J: Job>(
    ctx: &JobContext,
    jobs: &[J],
) -> Result<Vec<JobId>, EnqueueError> {
    let now = ctx.db.clock.now();
    let prepared = jobs
        .iter()
        .map(|j| Prepared::typed(j, now, None))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tx = ctx.db.system().await?;
    let pending = record(&mut tx, prepared, now).await?;
    tx.commit().await?;
    let ids = pending.jobs().iter().map(|p| p.row.id).collect();
    pending.push(&ctx.queue).await;
    Ok(ids)
}

/// Pushes a job already recorded and committed (a dead job revived in the
/// caller's transaction, after its commit) to its queue.
pub async fn push_existing(
    ctx: &JobContext,
    job: &JobRecord,
    tenant: Option<TenantId>,
) -> Result<(), EnqueueError> {
    let now = ctx.db.clock.now();
    let queue =
        Queue::parse(&job.queue).ok_or_else(|| EnqueueError::UnknownKind(job.queue.clone()))?;
    let prepared = Prepared {
        row: NewJob {
            id: job.id,
            tenant,
            kind: job.kind.clone(),
            queue: job.queue.clone(),
            payload: job.payload.clone(),
            max_attempts: job.max_attempts,
            run_at: now,
            unique_key: None,
        },
        queue,
    };
    PendingPush {
        jobs: vec![prepared],
        now,
    }
    .push(&ctx.queue)
    .await;
    Ok(())
}

/// Puts back on its queue a job that PostgreSQL holds as waiting but Redis
/// lost (the enqueuing process died between its commit and its push, or
/// Redis restarted empty). A duplicate entry is harmless: only one claim of
/// a job succeeds.
pub async fn requeue(
    queue: &RedisQueue,
    q: Queue,
    jobs: &[store::Waiting],
    now: DateTime<Utc>,
) -> Result<(), EnqueueError> {
    let items: Vec<(Queue, Envelope, Option<i64>)> = jobs
        .iter()
        .map(|j| {
            let due = (j.run_at > now).then(|| j.run_at.timestamp_millis());
            let env = Envelope {
                id: j.id,
                kind: j.kind.clone(),
                tenant: j.company_id,
                payload: j.payload.clone(),
                queued_ms: j.run_at.max(now).timestamp_millis(),
            };
            (q, env, due)
        })
        .collect();
    queue.push(&items).await?;
    Ok(())
}
