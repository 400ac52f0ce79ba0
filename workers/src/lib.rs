//! The worker runtime. It will register every job family of `nestogy-jobs`
//! with its queue, concurrency, retries and timeouts; no family exists yet,
//! so a worker today checks its connections and waits for shutdown.

use std::future::Future;

use nestogy_jobs::JobContext;

/// Runs until `shutdown` resolves.
pub async fn run(ctx: JobContext, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let mut conn = ctx.redis.get_multiplexed_async_connection().await?;
    redis::cmd("PING").query_async::<String>(&mut conn).await?;
    tracing::info!(families = 0, "worker started");
    shutdown.await;
    tracing::info!("worker stopped");
    Ok(())
}
