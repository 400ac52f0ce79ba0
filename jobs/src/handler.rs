//! A job kind made runnable by name: its queue, its policies and its `run`
//! with the payload still JSON, as the workers and the scheduler need it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::{Job, JobContext, JobError, JobMeta, Queue, RetryPolicy};

pub type JobFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, JobError>> + Send>>;

/// How to run one kind, type-erased.
pub struct Handler {
    pub kind: &'static str,
    pub queue: Queue,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub schedulable: bool,
    pub run: fn(JobContext, JobMeta, serde_json::Value) -> JobFuture,
}

impl Handler {
    /// How to run `J`.
    pub fn of<J: Job>() -> Handler {
        Handler {
            kind: J::KIND,
            queue: J::QUEUE,
            retry: J::retry_policy(),
            timeout: J::timeout(),
            schedulable: J::SCHEDULABLE,
            run: |ctx, meta, payload| {
                Box::pin(async move {
                    let mut conflicts = 0;
                    loop {
                        let job: J = serde_json::from_value(payload.clone()).map_err(|e| {
                            JobError::permanent(format!("payload does not fit {}: {e}", J::KIND))
                        })?;
                        match job.run(ctx.clone(), meta).await {
                            Err(e) if e.conflict && conflicts < CONFLICT_RETRIES => {
                                conflicts += 1;
                                metrics::counter!("job_conflicts_total", "kind" => J::KIND)
                                    .increment(1);
                                tracing::info!(error = %e.message, conflicts, "conflict with a concurrent transaction; running again");
                                tokio::time::sleep(conflict_pause(conflicts)).await;
                            }
                            other => return other,
                        }
                    }
                })
            },
        }
    }
}

/// How often a handler that hit a deadlock or serialization failure runs
/// again at once, before the failure counts as an attempt.
pub const CONFLICT_RETRIES: u32 = 5;

/// A random pause before running again after the `n`th conflict: 5–50 ms,
/// then 10–100 ms, ... so the transactions that collided go apart.
fn conflict_pause(n: u32) -> Duration {
    use rand::Rng;
    let ms = rand::rng().random_range(5..50u64) * u64::from(n.min(8));
    Duration::from_millis(ms)
}
