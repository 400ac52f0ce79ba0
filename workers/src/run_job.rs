//! The worker's service: runs a task's handler, found by its kind in the
//! registry, within the kind's own timeout (apalis's `TimeoutLayer` has one
//! duration per worker), and ends it at once when the worker hands its
//! jobs back.

use std::task::{Context, Poll};

use apalis_core::task::Task;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use nestogy_jobs::envelope::Envelope;
use nestogy_jobs::{JobContext, JobError, JobMeta, registry};
use tokio::sync::watch;
use tower::Service;

use crate::backend::Claim;

/// The attempt was stopped because the worker handed the job back.
#[derive(Debug, thiserror::Error)]
#[error("handed back: the worker is stopping")]
pub struct HandedBack;

#[derive(Clone)]
pub struct RunJob {
    ctx: JobContext,
    handing_back: watch::Receiver<bool>,
}

impl RunJob {
    pub fn new(ctx: JobContext, handing_back: watch::Receiver<bool>) -> Self {
        Self { ctx, handing_back }
    }
}

impl Service<Task<Envelope>> for RunJob {
    type Response = serde_json::Value;
    type Error = apalis_core::error::BoxDynError;
    type Future = BoxFuture<'static, Result<serde_json::Value, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, task: Task<Envelope>) -> Self::Future {
        let attempt = task
            .ctx()
            .data()
            .get::<Claim>()
            .map(|c| c.attempt)
            .unwrap_or(1);
        let env = task.args;
        let meta = JobMeta {
            id: env.id,
            attempt,
        };
        let ctx = self.ctx.clone();
        let mut handing_back = self.handing_back.clone();
        async move {
            let Some(handler) = registry::get(&env.kind) else {
                return Err(
                    JobError::permanent(format!("no handler for job kind {:?}", env.kind)).into(),
                );
            };
            let work = (handler.run)(ctx, meta, env.payload);
            tokio::select! {
                r = tokio::time::timeout(handler.timeout, work) => match r {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) => Err(e.into()),
                    Err(_) => Err(JobError::retry(format!(
                        "timed out after {} s",
                        handler.timeout.as_secs()
                    ))
                    .into()),
                },
                _ = handing_back.wait_for(|b| *b) => Err(HandedBack.into()),
            }
        }
        .boxed()
    }
}
