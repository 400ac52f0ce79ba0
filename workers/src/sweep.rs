//! The sweeper: finds jobs PostgreSQL holds as waiting that have no entry in
//! Redis (the enqueuing process died between its commit and its push, or
//! Redis restarted without its data) and queues them again.
//!
//! A job is lost when it is waiting (`queued`, `failed_will_retry`), nothing
//! has touched its row for `lost_after`, and its queue's presence set does
//! not hold it. That test depends only on the job itself, never on what else
//! the queue holds: a queue kept busy by a steady trickle is swept like an
//! idle one, and a job legitimately waiting in a deep backlog (present) is
//! never pushed twice.
//!
//! The bound: every `sweep_every` one process (whichever takes the turn, a
//! short Redis lock) examines up to `sweep_budget` of the oldest waiting jobs
//! of all queues, going on where the previous sweep stopped. With the
//! defaults (lost after 10 s, a sweep every 5 s, 10,000 jobs a sweep) a job
//! lost from Redis is queued again within 15 s while fewer than 10,000 jobs
//! older than 10 s wait; each further 10,000 adds at most one sweep (5 s).
//! A duplicate entry (a job found absent just as its own entry arrives) is
//! harmless: only one claim of a job succeeds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use nestogy_domain::JobId;
use nestogy_jobs::store::{self, WaitingRef};
use nestogy_jobs::{JobContext, Queue};
use tokio::sync::watch;

use crate::WorkerConfig;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Waiting jobs older than `lost_after` looked at.
    pub examined: usize,
    /// Of those, the ones absent from Redis and queued again.
    pub requeued: usize,
}

const PAGE: usize = 1000;

/// Sweeps on a timer until `stop`; at most one process sweeps per period.
pub(crate) async fn sweep_loop(
    ctx: JobContext,
    cfg: WorkerConfig,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(cfg.sweep_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The turn lasts a little less than the period, so this process's next
    // tick finds it free again when it is the only worker.
    let turn_ms = (cfg.sweep_every.as_millis() as u64 * 4 / 5).max(1);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        match ctx.queue.sweep_turn(&cfg.consumer, turn_ms).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "sweeping for lost jobs: taking the turn failed");
                continue;
            }
        }
        if let Err(e) = sweep_lost(&ctx, &cfg).await {
            tracing::warn!(error = %format!("{e:#}"), "sweeping for lost jobs failed");
        }
    }
}

/// One sweep, whoever has the turn: queues again the waiting jobs older
/// than `cfg.lost_after` that Redis does not hold, examining at most
/// `cfg.sweep_budget` jobs from where the previous sweep stopped.
pub async fn sweep_lost(ctx: &JobContext, cfg: &WorkerConfig) -> anyhow::Result<Swept> {
    let now = ctx.db.clock.now();
    let before = now - chrono::Duration::from_std(cfg.lost_after)?;
    let mut cursor = ctx
        .queue
        .sweep_cursor()
        .await?
        .as_deref()
        .and_then(parse_cursor);
    let mut swept = Swept::default();
    let mut absent: Vec<JobId> = Vec::new();
    loop {
        let page = store::old_waiting(&ctx.db, before, cursor, PAGE as i64).await?;
        swept.examined += page.len();
        absent.extend(absent_from_redis(ctx, &page).await?);
        cursor = page.last().map(|j| (j.updated_at, j.id));
        if page.len() < PAGE {
            // The end: the next sweep starts from the oldest again.
            cursor = None;
            break;
        }
        if swept.examined >= cfg.sweep_budget {
            break;
        }
    }
    let saved = cursor.map(|(at, id)| format!("{} {id}", at.timestamp_micros()));
    ctx.queue.set_sweep_cursor(saved.as_deref()).await?;
    if absent.is_empty() {
        return Ok(swept);
    }
    // Read whole and still waiting: one claimed meanwhile is not pushed.
    let lost = store::waiting_by_ids(&ctx.db, &absent).await?;
    let mut by_queue: HashMap<Queue, Vec<store::Waiting>> = HashMap::new();
    for job in lost {
        if let Some(q) = Queue::parse(&job.queue) {
            by_queue.entry(q).or_default().push(job);
        }
    }
    for (q, jobs) in by_queue {
        tracing::warn!(
            queue = q.name(),
            jobs = jobs.len(),
            "jobs missing from Redis: queueing them again"
        );
        metrics::counter!("jobs_requeued_total", "queue" => q.name()).increment(jobs.len() as u64);
        nestogy_jobs::enqueue::requeue(&ctx.queue, q, &jobs, now).await?;
        swept.requeued += jobs.len();
    }
    Ok(swept)
}

/// The jobs of `page` their queue's presence set does not hold.
async fn absent_from_redis(ctx: &JobContext, page: &[WaitingRef]) -> anyhow::Result<Vec<JobId>> {
    let mut by_queue: HashMap<Queue, Vec<JobId>> = HashMap::new();
    for j in page {
        // A queue this build does not know has no worker to run it.
        if let Some(q) = Queue::parse(&j.queue) {
            by_queue.entry(q).or_default().push(j.id);
        }
    }
    let mut absent = Vec::new();
    for (q, ids) in by_queue {
        let present = ctx.queue.present(q, &ids).await?;
        absent.extend(
            ids.into_iter()
                .zip(present)
                .filter(|(_, p)| !p)
                .map(|(id, _)| id),
        );
    }
    Ok(absent)
}

fn parse_cursor(s: &str) -> Option<(DateTime<Utc>, JobId)> {
    let (at, id) = s.split_once(' ')?;
    Some((
        DateTime::from_timestamp_micros(at.parse().ok()?)?,
        id.parse().ok()?,
    ))
}
