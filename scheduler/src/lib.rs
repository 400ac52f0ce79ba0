//! The scheduler: fires schedules stored in PostgreSQL from their cron
//! expressions in their time zones. Any number of replicas may run: due
//! schedules are locked with `FOR UPDATE SKIP LOCKED` and every fire is
//! recorded under the key (schedule, fire time), in the same transaction
//! as the job it enqueues, so each tick enqueues exactly once. After
//! downtime, missed ticks are caught up once each, at most `max_catch_up`
//! per schedule (the most recent ones).

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;
use nestogy_domain::platform::schedules::{self, CronSpec, DueSchedule};
use nestogy_jobs::JobContext;
use nestogy_jobs::enqueue::{self, Prepared};
use nestogy_jobs::registry;

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Most missed ticks caught up per schedule after downtime.
    pub max_catch_up: usize,
    /// Longest sleep between looks at the schedules.
    pub max_sleep: Duration,
    /// Schedules handled per transaction.
    pub batch: i64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_catch_up: 1440,
            max_sleep: Duration::from_secs(1),
            batch: 100,
        }
    }
}

/// Runs until `shutdown` resolves.
pub async fn run(
    ctx: JobContext,
    cfg: SchedulerConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    tracing::info!("scheduler started");
    tokio::pin!(shutdown);
    loop {
        let sleep = match tick(&ctx, &cfg).await {
            Ok(Tick { more: true, .. }) => Duration::ZERO,
            Ok(Tick { next_due, .. }) => {
                let now = ctx.db.clock.now();
                next_due
                    .map(|t| (t - now).to_std().unwrap_or(Duration::ZERO))
                    .unwrap_or(cfg.max_sleep)
                    .clamp(Duration::from_millis(10), cfg.max_sleep)
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "scheduler tick failed");
                cfg.max_sleep
            }
        };
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(sleep) => {}
        }
    }
    tracing::info!("scheduler stopped");
    Ok(())
}

/// What one look at the schedules did.
#[derive(Debug, Default)]
pub struct Tick {
    pub fired: usize,
    /// A full batch was due: look again at once.
    pub more: bool,
    pub next_due: Option<chrono::DateTime<Utc>>,
}

/// Fires every schedule due now, once per fire time.
pub async fn tick(ctx: &JobContext, cfg: &SchedulerConfig) -> anyhow::Result<Tick> {
    let now = ctx.db.clock.now();
    let mut tx = ctx.db.system().await?;
    let due = schedules::lock_due(&mut tx, now, cfg.batch).await?;
    let more = due.len() as i64 == cfg.batch;
    let mut jobs = Vec::new();
    for s in &due {
        let parsed = CronSpec::parse(&s.cron)
            .ok()
            .zip(s.time_zone.parse::<Tz>().ok());
        let Some((spec, tz)) = parsed else {
            tracing::error!(schedule = %s.id, "schedule has an invalid cron or time zone; not firing it");
            schedules::advance(&mut tx, s.id, now, None).await?;
            continue;
        };
        let fires = spec.fires_between(tz, s.fired_through, now, 1_000_000);
        let skip = fires.len().saturating_sub(cfg.max_catch_up);
        if skip > 0 {
            tracing::warn!(schedule = %s.id, skipped = skip, "too many missed ticks; catching up the latest only");
            metrics::counter!("scheduler_skipped_total", "kind" => s.kind.clone())
                .increment(skip as u64);
        }
        for fire_at in &fires[skip..] {
            if let Some(job) = fire(&mut tx, s, *fire_at, now).await? {
                jobs.push(job);
            }
        }
        schedules::advance(&mut tx, s.id, now, spec.next_after(tz, now)).await?;
    }
    // The fires, the schedules' advance and the fired jobs commit together,
    // in a platform transaction: one tick serves every tenant's schedules.
    let pending = enqueue::record(&mut tx, jobs, now).await?;
    let next_due = schedules::next_due(&mut tx).await?;
    tx.commit().await?;
    let fired = pending.len();
    pending.push(&ctx.queue).await;
    Ok(Tick {
        fired,
        more,
        next_due,
    })
}

async fn fire(
    tx: &mut nestogy_domain::SystemTx,
    s: &DueSchedule,
    fire_at: chrono::DateTime<Utc>,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<Option<Prepared>> {
    let mut payload = s.payload.clone();
    if let (Some(tenant), Some(obj)) = (s.company_id, payload.as_object_mut()) {
        obj.insert("tenant".into(), serde_json::json!(tenant));
    }
    let key = format!("schedule:{}:{}", s.id, fire_at.timestamp());
    let job = match registry::prepare(&s.kind, s.company_id, payload, now, Some(key)) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(schedule = %s.id, error = %e, "schedule names a job kind this build does not know");
            return Ok(None);
        }
    };
    let caught_up = now - fire_at > chrono::Duration::seconds(60);
    if !schedules::record_fire(tx, s, fire_at, job.row.id, caught_up, now).await? {
        return Ok(None);
    }
    metrics::counter!("scheduler_fires_total", "kind" => s.kind.clone()).increment(1);
    if caught_up {
        metrics::counter!("scheduler_catch_ups_total", "kind" => s.kind.clone()).increment(1);
    }
    Ok(Some(job))
}
