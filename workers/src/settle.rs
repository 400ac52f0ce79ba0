//! How an attempt's end reaches the store: [`SettleLayer`] is the
//! backend's middleware (apalis's `BackendConfig::Layer`), outermost around
//! the worker's services. It starts only the jobs this worker still holds,
//! reads the typed [`JobError`] (retryable, `retry_after`) from the result,
//! decides with the job's [`RetryPolicy`](nestogy_jobs::RetryPolicy) (the
//! one retry path: no apalis `RetryLayer`), and hands the outcome to the
//! settler, which records outcomes in PostgreSQL in batches before it
//! acknowledges them in Redis.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::error::BoxDynError;
use apalis_core::task::Task;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use nestogy_domain::platform::jobs::JobState;
use nestogy_jobs::envelope::Envelope;
use nestogy_jobs::redis_queue::Settle;
use nestogy_jobs::store::{self, Finish};
use nestogy_jobs::{JobContext, JobError, Queue, registry};
use tokio::sync::{mpsc, oneshot};
use tower::{Layer, Service};

use crate::backend::{Claim, Shared, send_outcome};
use crate::run_job::HandedBack;

/// How one attempt ended, for the settler.
pub(crate) struct Outcome {
    finish: Finish,
    settle: Settle,
}

/// What the settler receives.
pub(crate) enum Message {
    Outcome(Box<Outcome>),
    /// Answered once every outcome sent before it is recorded and settled.
    Flush(oneshot::Sender<()>),
}

/// What became of a task, as the worker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Its outcome went to the settler.
    Settled,
    /// Handed back (the worker stops) or no longer this worker's: nothing recorded.
    NotRun,
}

#[derive(Clone)]
pub struct SettleLayer {
    shared: Arc<Shared>,
}

impl SettleLayer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl<S> Layer<S> for SettleLayer {
    type Service = SettleService<S>;

    fn layer(&self, inner: S) -> SettleService<S> {
        SettleService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct SettleService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, R> Service<Task<Envelope>> for SettleService<S>
where
    S: Service<Task<Envelope>, Response = R>,
    S::Error: Into<BoxDynError>,
    S::Future: Send + 'static,
    R: Into<serde_json::Value>,
{
    type Response = Ended;
    type Error = BoxDynError;
    type Future = BoxFuture<'static, Result<Ended, BoxDynError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxDynError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Envelope>) -> Self::Future {
        let Some(claim) = task.ctx().data().get::<Claim>().cloned() else {
            return futures_util::future::ready(Ok(Ended::NotRun)).boxed();
        };
        // Started only if still held: a drain may have handed it back.
        let max_attempts = {
            let mut held = self.shared.held();
            match held.get_mut(&claim.stream_id) {
                Some(h) if !h.started => {
                    h.started = true;
                    h.max_attempts
                }
                _ => return futures_util::future::ready(Ok(Ended::NotRun)).boxed(),
            }
        };
        let s = self.shared.clone();
        let kind = task.args.kind.clone();
        let lag_ms = (s.ctx.db.clock.now().timestamp_millis() - task.args.queued_ms).max(0);
        metrics::counter!("jobs_started_total", "kind" => kind.clone()).increment(1);
        metrics::histogram!("job_enqueue_to_start_seconds", "queue" => s.queue.name())
            .record(lag_ms as f64 / 1000.0);
        let began = std::time::Instant::now();
        let run = self.inner.call(task);
        async move {
            let result = run.await.map(Into::into).map_err(Into::into);
            let result: Result<serde_json::Value, JobError> = match result {
                Ok(v) => Ok(v),
                Err(e) if e.is::<HandedBack>() => return Ok(Ended::NotRun),
                Err(e) => Err(match e.downcast::<JobError>() {
                    Ok(e) => *e,
                    // A panic, caught by apalis's layer.
                    Err(other) => JobError::retry(format!("the handler failed: {other}")),
                }),
            };
            metrics::histogram!("job_duration_seconds", "kind" => kind)
                .record(began.elapsed().as_secs_f64());
            // Whoever removes the entry owns it: a drain may have handed it back.
            let Some(held) = s.release(&claim.stream_id) else {
                return Ok(Ended::NotRun);
            };
            let retry = registry::get(&held.envelope.kind).map(|h| h.retry);
            let outcome = decide(
                &s.ctx,
                claim.stream_id,
                held.envelope,
                claim.attempt,
                max_attempts,
                retry,
                result,
            );
            send_outcome(&s, outcome);
            Ok(Ended::Settled)
        }
        .boxed()
    }
}

/// The one retry path: succeeded, failed with attempts left (the delay from
/// the policy, or the other side's `retry_after`), or dead.
fn decide(
    ctx: &JobContext,
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
                finish: Finish {
                    id,
                    state: JobState::Succeeded,
                    error: None,
                    result: Some(value),
                    next_run_at: None,
                },
                settle: Settle::Done {
                    stream_id,
                    job: Some(id),
                },
            }
        }
        Err(e) if e.retryable && attempt < max_attempts => {
            let delay = retry.unwrap_or_default().next_delay(attempt, &e);
            let due = ctx.db.clock.now() + chrono::Duration::from_std(delay).unwrap_or_default();
            tracing::warn!(error = %e.message, attempt, retry_in_ms = delay.as_millis() as u64, "job failed; will retry");
            metrics::counter!("jobs_failed_total", "kind" => env.kind.clone()).increment(1);
            env.queued_ms = due.timestamp_millis();
            Outcome {
                finish: Finish {
                    id,
                    state: JobState::FailedWillRetry,
                    error: Some(e.message),
                    result: None,
                    next_run_at: Some(due),
                },
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
                finish: Finish {
                    id,
                    state: JobState::Dead,
                    error: Some(e.message),
                    result: None,
                    next_run_at: None,
                },
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
pub(crate) async fn settle_loop(
    ctx: JobContext,
    queue: Queue,
    mut rx: mpsc::UnboundedReceiver<Message>,
) {
    let mut batch = Vec::new();
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Message::Outcome(o) => batch.push(*o),
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() < 500 {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            settle_batch(&ctx, queue, &mut batch).await;
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn settle_batch(ctx: &JobContext, queue: Queue, batch: &mut Vec<Outcome>) {
    let finishes: Vec<Finish> = batch.iter().map(|o| o.finish.clone()).collect();
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
                return;
            }
        }
    }
    let settles: Vec<Settle> = batch.drain(..).map(|o| o.settle).collect();
    if let Err(e) = ctx.queue.settle(queue, &settles).await {
        tracing::error!(error = %e, "settling jobs in Redis failed; they return after the lease and are skipped");
    }
}
