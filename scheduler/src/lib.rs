//! The scheduler. It will fire cron schedules stored in PostgreSQL, once per
//! (schedule, fire time) across replicas; no schedule kind exists yet, so a
//! scheduler today checks its connections and waits for shutdown.

use std::future::Future;

use nestogy_jobs::JobContext;

/// Runs until `shutdown` resolves.
pub async fn run(ctx: JobContext, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    sqlx::query("SELECT 1").execute(&ctx.db.pool).await?;
    tracing::info!(schedules = 0, "scheduler started");
    shutdown.await;
    tracing::info!("scheduler stopped");
    Ok(())
}
