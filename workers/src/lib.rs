//! The worker runtime: apalis 1.0 workers, one per job family's queue,
//! under apalis's `Monitor`, each reading our Redis Streams + PostgreSQL
//! store through [`StreamsBackend`]. Each queue has its own concurrency,
//! one retry path (the job's policy, applied by the backend's
//! [`SettleLayer`]; no apalis `RetryLayer`), per-kind timeouts, a lease
//! with heartbeats so a dead worker's jobs come back, and graceful shutdown
//! that finishes or hands back what it holds. Beside the workers, a sweeper
//! queues again the jobs Redis lost.
//!
//! Each worker's service stack, outermost first: the backend's
//! [`SettleLayer`] (the outcome to the store), `parallelize(tokio::spawn)`
//! (jobs on every core), apalis's tracing layer (a span per job, in which
//! the handler logs), apalis's panic capture (a panic fails the attempt, retryable), then
//! [`RunJob`] (the handler, within its kind's timeout).

mod backend;
mod run_job;
mod settle;
mod sweep;

use std::future::Future;
use std::time::Duration;

use nestogy_jobs::{JobContext, JobError, Queue};

pub use backend::{Claim, StreamsBackend};
pub use run_job::{HandedBack, RunJob};
pub use settle::{Ended, SettleLayer};
pub use sweep::{Swept, sweep_lost};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This process's consumer name in Redis; unique per process.
    pub consumer: String,
    /// How long a stopping worker lets running jobs finish before handing
    /// them back. At most `lease - heartbeat` (see [`WorkerConfig::check`]).
    pub grace: Duration,
    /// A held job without a heartbeat for this long is taken over by another worker.
    pub lease: Duration,
    /// How often held jobs are heartbeaten (until each is finished or handed
    /// back, a stopping worker's too) and abandoned ones reclaimed. At most a
    /// third of the lease.
    pub heartbeat: Duration,
    /// How often due delayed jobs (retries, scheduled) are moved to their queue.
    pub promote_every: Duration,
    /// Most entries fetched per read.
    pub fetch_batch: usize,
    /// The queues this worker serves, with their concurrency.
    pub queues: Vec<(Queue, usize)>,
    /// How often the sweeper looks for jobs lost from Redis (one process
    /// sweeps per period, whichever takes the turn).
    pub sweep_every: Duration,
    /// A waiting job untouched in PostgreSQL for this long and absent from
    /// Redis is lost: the sweeper queues it again. Longer than any enqueue
    /// takes between its commit and its push.
    pub lost_after: Duration,
    /// Most waiting jobs one sweep examines; the next sweep goes on from
    /// there.
    pub sweep_budget: usize,
}

impl WorkerConfig {
    pub fn new(consumer: String) -> Self {
        Self {
            consumer,
            grace: Duration::from_secs(20),
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            promote_every: Duration::from_millis(100),
            fetch_batch: 100,
            queues: Queue::ALL
                .into_iter()
                .map(|q| (q, q.concurrency()))
                .collect(),
            sweep_every: Duration::from_secs(5),
            lost_after: Duration::from_secs(10),
            sweep_budget: 10_000,
        }
    }

    /// Refuses timings under which a job could run twice: a heartbeat of
    /// more than a third of the lease (one late beat would lose the lease),
    /// or a grace that leaves less than one heartbeat of the lease (a
    /// stopping worker must hand its jobs back before anyone may take them).
    pub fn check(&self) -> Result<(), String> {
        if self.heartbeat.is_zero() || self.heartbeat * 3 > self.lease {
            return Err(format!(
                "the heartbeat ({:?}) must be more than zero and at most a third of the lease ({:?})",
                self.heartbeat, self.lease
            ));
        }
        if self.grace + self.heartbeat > self.lease {
            return Err(format!(
                "the grace ({:?}) must end at least one heartbeat ({:?}) before the lease ({:?})",
                self.grace, self.heartbeat, self.lease
            ));
        }
        Ok(())
    }
}

/// A consumer name unique to this process: host, pid and a random suffix.
pub fn consumer_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".to_owned());
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &suffix[24..])
}

/// Runs until `shutdown` resolves, then stops fetching, lets running jobs
/// finish within the grace period and hands back the rest.
pub async fn run(
    ctx: JobContext,
    cfg: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    cfg.check()
        .map_err(|e| anyhow::anyhow!("worker timing: {e}"))?;
    ctx.queue.ensure_groups().await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Jobs that wait (IMAP IDLE) end their wait at once on stop.
    let mut ctx = ctx;
    ctx.stop = nestogy_jobs::Stopping::new(stop_rx.clone());
    let mut monitor = apalis_core::monitor::Monitor::new();
    for (queue, concurrency) in cfg.queues.clone() {
        let (ctx, cfg, stop) = (ctx.clone(), cfg.clone(), stop_rx.clone());
        // One apalis worker per queue; the layers are the crate doc's.
        monitor = monitor.register(move |_| {
            use apalis::layers::catch_panic::CatchPanicLayer;
            use apalis::layers::tracing::TraceLayer;
            use apalis_core::worker::builder::WorkerBuilder;
            use apalis_core::worker::ext::parallelize::ParallelizeExt;
            let backend =
                StreamsBackend::new(ctx.clone(), cfg.clone(), queue, concurrency, stop.clone());
            let run = RunJob::new(ctx.clone(), backend.handing_back());
            WorkerBuilder::new(format!("{}/{}", cfg.consumer, queue.name()))
                .backend(backend)
                .parallelize(tokio::spawn)
                // Inside the spawned task, so the handler logs in the job's span.
                .layer(TraceLayer::new().make_span_with(job_span).on_failure(()))
                .layer(CatchPanicLayer::with_panic_handler(
                    |_: &Box<dyn std::any::Any + Send>| JobError::retry("the handler panicked"),
                ))
                .build(run)
        });
    }
    let mut side = tokio::task::JoinSet::new();
    // Jobs lost from Redis, found by their age whatever the queues hold.
    let (sweep_ctx, sweep_cfg, sweep_stop) = (ctx.clone(), cfg.clone(), stop_rx.clone());
    side.spawn(sweep::sweep_loop(sweep_ctx, sweep_cfg, sweep_stop));
    // This process on the queue dashboard: a heartbeat row per worker process.
    let (beat_ctx, beat_cfg, mut beat_stop) = (ctx.clone(), cfg.clone(), stop_rx.clone());
    side.spawn(async move {
        let started_at = beat_ctx.db.clock.now();
        let queues: Vec<Queue> = beat_cfg.queues.iter().map(|(q, _)| *q).collect();
        let mut tick = tokio::time::interval(beat_cfg.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = beat_stop.wait_for(|s| *s) => return,
            }
            let seen = nestogy_jobs::workers_seen::beat(
                &beat_ctx.db,
                &beat_cfg.consumer,
                &queues,
                started_at,
            );
            if let Err(e) = seen.await {
                tracing::warn!(error = %e, "recording this worker's heartbeat failed");
            }
        }
    });
    // Webhook deliveries made by committed transactions, dispatched at once.
    side.spawn(nestogy_jobs::webhooks::listen(ctx.clone(), stop_rx.clone()));
    tracing::info!(consumer = %cfg.consumer, queues = cfg.queues.len(), "worker started");
    let signal = async move {
        shutdown.await;
        tracing::info!("worker stopping: no new jobs; finishing or handing back what it holds");
        let _ = stop_tx.send(true);
        Ok(())
    };
    monitor
        .run_with_signal(signal)
        .await
        .map_err(|e| anyhow::anyhow!("the workers failed: {e}"))?;
    while let Some(done) = side.join_next().await {
        done?;
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// The span a job runs in: its id, kind, tenant and attempt.
fn job_span(task: &apalis_core::task::Task<nestogy_jobs::envelope::Envelope>) -> tracing::Span {
    let attempt = task.ctx().data().get::<Claim>().map_or(0, |c| c.attempt);
    let env = &task.args;
    tracing::info_span!("job", job_id = %env.id, kind = %env.kind, tenant = ?env.tenant, attempt)
}
