//! Putting jobs on the queue: recorded in PostgreSQL first (so a worker
//! never fetches a job it cannot find), then pushed to Redis.

use chrono::{DateTime, Utc};
use nestogy_domain::platform::jobs::JobRecord;
use nestogy_domain::{JobId, SystemTx, TenantId};

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
    #[error("recording the job: {0}")]
    Database(#[from] sqlx::Error),
    #[error("queueing the job in Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A job that could not be put on the queue (the database or Redis did not
/// take it) fails its attempt and is tried again, whatever the cause.
impl From<EnqueueError> for JobError {
    fn from(e: EnqueueError) -> Self {
        JobError::retry(e.to_string())
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

/// Records prepared jobs in `tx`; returns the ones inserted (unique keys
/// already taken are skipped). Push them with [`push`] after commit.
pub async fn record(
    tx: &mut SystemTx,
    jobs: Vec<Prepared>,
    now: DateTime<Utc>,
) -> Result<Vec<Prepared>, EnqueueError> {
    let rows: Vec<NewJob> = jobs.iter().map(|p| p.row.clone()).collect();
    let inserted = store::insert(tx, &rows, now).await?;
    Ok(jobs
        .into_iter()
        .filter(|p| inserted.contains(&p.row.id))
        .collect())
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
/// counts them. A job recorded is durable: when Redis cannot take it (even
/// after [`push_items`]' retries), the failure is logged and counted
/// (`jobs_push_deferred_total`) and the job stays waiting in PostgreSQL,
/// where the workers' sweep for lost jobs finds it and pushes it once
/// Redis is back. So this does not fail on Redis errors: an enqueue whose
/// row committed has succeeded.
pub async fn push(
    queue: &RedisQueue,
    jobs: &[Prepared],
    now: DateTime<Utc>,
) -> Result<(), EnqueueError> {
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
    Ok(())
}

/// Enqueues one job now; returns its id.
pub async fn enqueue<J: Job>(ctx: &JobContext, job: &J) -> Result<JobId, EnqueueError> {
    enqueue_with(ctx, job, EnqueueOptions::default()).await
}

/// Enqueues one job with options; with a unique key already used, returns
/// the existing job's id and enqueues nothing.
pub async fn enqueue_with<J: Job>(
    ctx: &JobContext,
    job: &J,
    opts: EnqueueOptions,
) -> Result<JobId, EnqueueError> {
    let now = ctx.db.clock.now();
    let key = opts.unique_key.clone();
    let prepared = Prepared::typed(job, opts.run_at.unwrap_or(now), opts.unique_key)?;
    enqueue_prepared(ctx, prepared, key.as_deref(), now).await
}

pub(crate) async fn enqueue_prepared(
    ctx: &JobContext,
    prepared: Prepared,
    key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<JobId, EnqueueError> {
    let id = prepared.row.id;
    let mut tx = ctx.db.system().await?;
    let recorded = record(&mut tx, vec![prepared], now).await?;
    if recorded.is_empty() {
        let existing = match key {
            Some(k) => store::by_unique_key(&mut tx, k).await?,
            None => None,
        };
        tx.commit().await?;
        return existing.ok_or(EnqueueError::Database(sqlx::Error::RowNotFound));
    }
    tx.commit().await?;
    push(&ctx.queue, &recorded, now).await?;
    Ok(id)
}

/// Enqueues many jobs of one kind in one insert and one Redis round trip.
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
    let recorded = record(&mut tx, prepared, now).await?;
    tx.commit().await?;
    push(&ctx.queue, &recorded, now).await?;
    Ok(recorded.iter().map(|p| p.row.id).collect())
}

/// Pushes a job that is already recorded (a dead job replayed) to its queue.
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
    push(&ctx.queue, &[prepared], now).await
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
