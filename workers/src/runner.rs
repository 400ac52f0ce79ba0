//! One queue's runner inside a worker process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use nestogy_domain::JobId;
use nestogy_domain::platform::jobs::JobState;
use nestogy_jobs::envelope::Envelope;
use nestogy_jobs::redis_queue::{Delivery, Settle};
use nestogy_jobs::store::{self, Finish};
use nestogy_jobs::{JobContext, JobError, JobMeta, Queue, registry};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::WorkerConfig;

/// A job this worker is running.
struct Held {
    job: JobId,
    envelope: Envelope,
    abort: AbortHandle,
}

/// How one attempt ended, for the settler.
struct Outcome {
    finish: Option<Finish>,
    settle: Settle,
}

struct Shared {
    ctx: JobContext,
    cfg: WorkerConfig,
    queue: Queue,
    permits: Arc<Semaphore>,
    held: Mutex<HashMap<String, Held>>,
    emptied: Notify,
    outcomes: mpsc::UnboundedSender<Outcome>,
    /// When the last heartbeat that succeeded was sent: no job this worker
    /// holds can be taken over before this plus the lease.
    beaten: Mutex<Instant>,
}

pub struct QueueRunner {
    shared: Arc<Shared>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
}

impl QueueRunner {
    pub fn new(ctx: JobContext, cfg: WorkerConfig, queue: Queue, concurrency: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        QueueRunner {
            shared: Arc::new(Shared {
                ctx,
                cfg,
                queue,
                permits: Arc::new(Semaphore::new(concurrency.max(1))),
                held: Mutex::new(HashMap::new()),
                emptied: Notify::new(),
                outcomes: tx,
                beaten: Mutex::new(Instant::now()),
            }),
            outcomes: rx,
        }
    }

    pub async fn run(self, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let s = self.shared;
        let (drained_tx, drained) = watch::channel(false);
        let settler = tokio::spawn(settle_loop(s.ctx.clone(), s.queue, self.outcomes));
        let fetcher = tokio::spawn(fetch_loop(s.clone(), stop.clone()));
        // Heartbeats go on while stopping, until every held job is finished
        // or handed back; reclaiming others' jobs stops with the signal.
        let beater = tokio::spawn(beat_loop(s.clone(), drained));
        let reclaimer = tokio::spawn(reclaim_loop(s.clone(), stop.clone()));
        let promoter = tokio::spawn(promote_loop(s.clone(), stop.clone()));
        let _ = fetcher.await;
        let _ = reclaimer.await;
        let _ = promoter.await;
        drain(&s).await;
        let _ = drained_tx.send(true);
        let _ = beater.await;
        // The settler ends when every sender is gone: the last is in `s`.
        // Jobs that finished during the grace are settled before it ends.
        drop(s);
        let _ = settler.await;
        Ok(())
    }
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
    s.held.lock().unwrap_or_else(|e| e.into_inner())
}

/// The latest moment this worker may still hold its jobs: one heartbeat
/// before the lease of the last heartbeat that succeeded could end, so a
/// hand-back is done before another worker may take them over.
fn lease_safe_until(s: &Shared) -> Instant {
    let beaten = *s.beaten.lock().unwrap_or_else(|e| e.into_inner());
    beaten + s.cfg.lease.saturating_sub(s.cfg.heartbeat)
}

/// Waits for running jobs up to the grace period (and never past the safe
/// end of their lease, should heartbeats fail), then hands back the rest.
async fn drain(s: &Arc<Shared>) {
    let grace_end = Instant::now() + s.cfg.grace;
    let mut lease_ending = false;
    loop {
        let notified = s.emptied.notified();
        if lock(s).is_empty() {
            break;
        }
        let safe = lease_safe_until(s);
        let until = grace_end.min(safe);
        if Instant::now() >= until {
            lease_ending = safe < grace_end;
            break;
        }
        // Woken when the last job finishes, or to look at the deadlines again.
        let _ = tokio::time::timeout_at(until, notified).await;
    }
    let remaining: Vec<(String, Held)> = lock(s).drain().collect();
    if remaining.is_empty() {
        return;
    }
    if lease_ending {
        tracing::warn!(
            queue = s.queue.name(),
            jobs = remaining.len(),
            "heartbeats failing and the lease ending: handing jobs back"
        );
    } else {
        tracing::warn!(
            queue = s.queue.name(),
            jobs = remaining.len(),
            "grace period over: handing jobs back"
        );
    }
    for (_, h) in &remaining {
        h.abort.abort();
    }
    let ids: Vec<JobId> = remaining.iter().map(|(_, h)| h.job).collect();
    let now = s.ctx.db.clock.now();
    if let Err(e) = store::hand_back(&s.ctx.db, &ids, now).await {
        tracing::error!(error = %e, "recording handed-back jobs; they return after the lease");
        return;
    }
    let settles: Vec<Settle> = remaining
        .into_iter()
        .map(|(stream_id, mut h)| {
            h.envelope.queued_ms = now.timestamp_millis();
            Settle::HandBack {
                stream_id,
                envelope: h.envelope,
            }
        })
        .collect();
    if let Err(e) = s.ctx.queue.settle(s.queue, &settles).await {
        tracing::error!(error = %e, "handing jobs back to Redis; they return after the lease");
    }
}

async fn fetch_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conn = None;
    let mut failures = 0u32;
    while !*stop.borrow() {
        // Wait for room, then read as many as there is room for.
        let first = tokio::select! {
            p = s.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let room = 1 + s
            .permits
            .available_permits()
            .min(s.cfg.fetch_batch.saturating_sub(1));
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match s.ctx.queue.dedicated().await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    backoff(&s, &mut failures, &e.to_string()).await;
                    continue;
                }
            },
        };
        match s
            .ctx
            .queue
            .fetch(c, s.queue, &s.cfg.consumer, room, 1000)
            .await
        {
            Ok(deliveries) => {
                failures = 0;
                if deliveries.is_empty() {
                } else if *stop.borrow() {
                    // Read as the stop came: not claimed, so back at once.
                    put_back(&s, deliveries).await;
                } else {
                    start(&s, deliveries, false, Some(first)).await;
                }
            }
            Err(e) => {
                if e.code() == Some("NOGROUP") {
                    let _ = s.ctx.queue.ensure_groups().await;
                } else {
                    conn = None;
                }
                backoff(&s, &mut failures, &e.to_string()).await;
            }
        }
    }
}

/// Returns entries fetched but never claimed to the end of the stream.
async fn put_back(s: &Shared, deliveries: Vec<Delivery>) {
    let settles: Vec<Settle> = deliveries
        .into_iter()
        .map(|d| match d.envelope {
            Some(envelope) => Settle::HandBack {
                stream_id: d.stream_id,
                envelope,
            },
            None => Settle::Done {
                stream_id: d.stream_id,
                job: None,
            },
        })
        .collect();
    if let Err(e) = s.ctx.queue.settle(s.queue, &settles).await {
        tracing::warn!(error = %e, "returning fetched jobs failed; they return after the lease");
    }
}

async fn backoff(s: &Shared, failures: &mut u32, error: &str) {
    *failures += 1;
    tracing::warn!(
        queue = s.queue.name(),
        error,
        "fetching jobs failed; retrying"
    );
    let wait =
        Duration::from_millis(100u64.saturating_mul(2u64.saturating_pow((*failures).min(5))));
    tokio::time::sleep(wait).await;
}

/// Claims fetched entries in PostgreSQL and starts the claimed ones.
async fn start(
    s: &Arc<Shared>,
    deliveries: Vec<Delivery>,
    reclaimed: bool,
    first: Option<OwnedSemaphorePermit>,
) {
    let now = s.ctx.db.clock.now();
    let mut drop_now = Vec::new();
    let mut readable = Vec::new();
    for d in deliveries {
        match d.envelope {
            Some(env) => readable.push((d.stream_id, env)),
            None => {
                tracing::error!(stream_id = %d.stream_id, "unreadable queue entry dropped");
                drop_now.push(Settle::Done {
                    stream_id: d.stream_id,
                    job: None,
                });
            }
        }
    }
    let ids: Vec<JobId> = readable.iter().map(|(_, e)| e.id).collect();
    let claimed = match store::claim(&s.ctx.db, &ids, reclaimed, now).await {
        Ok(c) => c,
        Err(e) => {
            // Left unacknowledged: reclaimed after the lease.
            tracing::error!(error = %e, "claiming fetched jobs failed");
            return;
        }
    };
    let mut claimed: HashMap<JobId, (i32, i32)> = claimed
        .into_iter()
        .map(|c| (c.id, (c.attempts, c.max_attempts)))
        .collect();
    let mut first = first;
    for (stream_id, env) in readable {
        // Taken out, so a second entry of one job in this batch runs nothing.
        let Some((attempt, max_attempts)) = claimed.remove(&env.id) else {
            // Cancelled, finished, or a duplicate entry: nothing to run.
            drop_now.push(Settle::Done {
                stream_id,
                job: Some(env.id),
            });
            continue;
        };
        let permit = match first.take() {
            Some(p) => p,
            None => match s.permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => match s.permits.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            },
        };
        spawn_job(s, stream_id, env, attempt, max_attempts, permit, now);
    }
    if !drop_now.is_empty()
        && let Err(e) = s.ctx.queue.settle(s.queue, &drop_now).await
    {
        tracing::warn!(error = %e, "dropping finished entries failed; they return after the lease");
    }
}

fn spawn_job(
    s: &Arc<Shared>,
    stream_id: String,
    env: Envelope,
    attempt: i32,
    max_attempts: i32,
    permit: OwnedSemaphorePermit,
    started: DateTime<Utc>,
) {
    let kind = env.kind.clone();
    let span =
        tracing::info_span!("job", job_id = %env.id, kind = %kind, tenant = ?env.tenant, attempt);
    let meta = JobMeta {
        id: env.id,
        attempt,
    };
    let handler = registry::get(&kind);
    let lag_ms = (started.timestamp_millis() - env.queued_ms).max(0);
    metrics::counter!("jobs_started_total", "kind" => kind.clone()).increment(1);
    metrics::histogram!("job_enqueue_to_start_seconds", "queue" => s.queue.name())
        .record(lag_ms as f64 / 1000.0);

    let work = match handler {
        Some(h) => (h.run)(s.ctx.clone(), meta, env.payload.clone()),
        None => {
            let k = kind.clone();
            Box::pin(async move {
                Err(JobError::permanent(format!(
                    "no handler for job kind {k:?}"
                )))
            })
        }
    };
    let timeout = handler
        .map(|h| h.timeout)
        .unwrap_or(Duration::from_secs(60));
    let inner = tokio::spawn(work.instrument(span.clone()));
    lock(s).insert(
        stream_id.clone(),
        Held {
            job: env.id,
            envelope: env.clone(),
            abort: inner.abort_handle(),
        },
    );
    let s = s.clone();
    tokio::spawn(
        async move {
            let began = std::time::Instant::now();
            let abort = inner.abort_handle();
            let result = match tokio::time::timeout(timeout, inner).await {
                Ok(Ok(r)) => r,
                Ok(Err(join)) if join.is_cancelled() => return drop(permit),
                Ok(Err(_)) => Err(JobError::retry("the handler panicked")),
                Err(_) => {
                    abort.abort();
                    Err(JobError::retry(format!(
                        "timed out after {} s",
                        timeout.as_secs()
                    )))
                }
            };
            metrics::histogram!("job_duration_seconds", "kind" => kind.clone())
                .record(began.elapsed().as_secs_f64());
            // Whoever removes the entry owns it: a drain may have handed it back.
            let mine = {
                let mut held = lock(&s);
                let mine = held.remove(&stream_id).is_some();
                if held.is_empty() {
                    s.emptied.notify_waiters();
                }
                mine
            };
            if mine {
                let outcome = decide(
                    &s,
                    stream_id,
                    env,
                    attempt,
                    max_attempts,
                    handler.map(|h| h.retry),
                    result,
                );
                let _ = s.outcomes.send(outcome);
            }
            drop(permit);
        }
        .instrument(span),
    );
}

fn decide(
    s: &Shared,
    stream_id: String,
    mut env: Envelope,
    attempt: i32,
    max_attempts: i32,
    retry: Option<nestogy_jobs::RetryPolicy>,
    result: Result<serde_json::Value, JobError>,
) -> Outcome {
    let id = env.id;
    match result {
        Ok(value) => {
            metrics::counter!("jobs_succeeded_total", "kind" => env.kind.clone()).increment(1);
            Outcome {
                finish: Some(Finish {
                    id,
                    state: JobState::Succeeded,
                    error: None,
                    result: Some(value),
                    next_run_at: None,
                }),
                settle: Settle::Done {
                    stream_id,
                    job: Some(id),
                },
            }
        }
        Err(e) if e.retryable && attempt < max_attempts => {
            let delay = retry.unwrap_or_default().next_delay(attempt, &e);
            let due = s.ctx.db.clock.now() + chrono::Duration::from_std(delay).unwrap_or_default();
            tracing::warn!(error = %e.message, attempt, retry_in_ms = delay.as_millis() as u64, "job failed; will retry");
            metrics::counter!("jobs_failed_total", "kind" => env.kind.clone()).increment(1);
            env.queued_ms = due.timestamp_millis();
            Outcome {
                finish: Some(Finish {
                    id,
                    state: JobState::FailedWillRetry,
                    error: Some(e.message),
                    result: None,
                    next_run_at: Some(due),
                }),
                settle: Settle::Retry {
                    stream_id,
                    envelope: env,
                    due_ms: due.timestamp_millis(),
                },
            }
        }
        Err(e) => {
            tracing::error!(error = %e.message, attempt, "job failed for good: dead");
            metrics::counter!("jobs_dead_total", "kind" => env.kind.clone()).increment(1);
            Outcome {
                finish: Some(Finish {
                    id,
                    state: JobState::Dead,
                    error: Some(e.message),
                    result: None,
                    next_run_at: None,
                }),
                settle: Settle::Done {
                    stream_id,
                    job: Some(id),
                },
            }
        }
    }
}

/// Records outcomes in PostgreSQL, then settles them in Redis, in batches.
/// PostgreSQL first: if the process dies in between, the entry is delivered
/// again and the claim sees the job finished.
async fn settle_loop(ctx: JobContext, queue: Queue, mut rx: mpsc::UnboundedReceiver<Outcome>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < 500 {
            match rx.try_recv() {
                Ok(o) => batch.push(o),
                Err(_) => break,
            }
        }
        let finishes: Vec<Finish> = batch.iter().filter_map(|o| o.finish.clone()).collect();
        let mut tries = 0;
        loop {
            match store::finish(&ctx.db, &finishes, ctx.db.clock.now()).await {
                Ok(()) => break,
                Err(e) if tries < 20 => {
                    tries += 1;
                    tracing::warn!(error = %e, "recording job outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "recording job outcomes failed; they run again after the lease");
                    batch.clear();
                    break;
                }
            }
        }
        let settles: Vec<Settle> = batch.drain(..).map(|o| o.settle).collect();
        if let Err(e) = ctx.queue.settle(queue, &settles).await {
            tracing::error!(error = %e, "settling jobs in Redis failed; they return after the lease and are skipped");
        }
    }
}

/// Heartbeats held jobs until `drained`: while running, and while stopping
/// until each is finished or handed back.
async fn beat_loop(s: Arc<Shared>, mut drained: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(s.cfg.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = drained.changed() => return,
        }
        let sent = Instant::now();
        let held: Vec<String> = lock(&s).keys().cloned().collect();
        match s.ctx.queue.touch(s.queue, &s.cfg.consumer, &held).await {
            Ok(()) => *s.beaten.lock().unwrap_or_else(|e| e.into_inner()) = sent,
            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
        }
    }
}

/// Takes over jobs whose worker stopped heartbeating (it died), as many as
/// there is room for; a stopping worker takes over nothing.
async fn reclaim_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(s.cfg.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        loop {
            if *stop.borrow() {
                return;
            }
            let room = s.permits.available_permits().min(s.cfg.fetch_batch);
            if room == 0 {
                break;
            }
            let lease_ms = s.cfg.lease.as_millis() as u64;
            match s
                .ctx
                .queue
                .reclaim(s.queue, &s.cfg.consumer, lease_ms, room)
                .await
            {
                Ok(found) if found.is_empty() => break,
                Ok(found) => {
                    let n = found.len();
                    let mine: Vec<String> = lock(&s).keys().cloned().collect();
                    let found: Vec<Delivery> = found
                        .into_iter()
                        .filter(|d| !mine.contains(&d.stream_id))
                        .collect();
                    if !found.is_empty() {
                        tracing::warn!(
                            queue = s.queue.name(),
                            jobs = found.len(),
                            "reclaimed jobs of a worker that stopped answering"
                        );
                        metrics::counter!("jobs_reclaimed_total", "queue" => s.queue.name())
                            .increment(found.len() as u64);
                        start(&s, found, true, None).await;
                    }
                    if n < room {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reclaiming failed");
                    break;
                }
            }
        }
    }
}

/// Moves due delayed jobs to the stream, and reports queue depth.
async fn promote_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(s.cfg.promote_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let now_ms = s.ctx.db.clock.now().timestamp_millis();
        loop {
            match s.ctx.queue.promote(s.queue, now_ms, 1000).await {
                Ok(1000) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "promoting delayed jobs failed");
                    break;
                }
            }
        }
        n += 1;
        if n % 10 == 1
            && let Ok((stream, delayed)) = s.ctx.queue.depth(s.queue).await
        {
            metrics::gauge!("queue_depth", "queue" => s.queue.name(), "part" => "stream")
                .set(stream as f64);
            metrics::gauge!("queue_depth", "queue" => s.queue.name(), "part" => "delayed")
                .set(delayed as f64);
        }
    }
}
