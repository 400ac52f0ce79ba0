//! Platform upkeep.

use chrono::Duration;
use nestogy_domain::TenantId;
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext, JobError, JobMeta, Queue, store};

/// Deletes finished jobs past their retention (succeeded and cancelled after
/// `keep_hours`, dead after `keep_dead_hours`) and idempotency keys past
/// their expiry (24 hours after first use) and ended console sessions, and
/// removes stopped workers' consumers from the Redis groups. Running it twice deletes nothing more.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vacuum {
    #[serde(default = "default_keep")]
    pub keep_hours: i64,
    #[serde(default = "default_keep_dead")]
    pub keep_dead_hours: i64,
}

fn default_keep() -> i64 {
    24 * 7
}

fn default_keep_dead() -> i64 {
    24 * 30
}

impl Job for Vacuum {
    const KIND: &'static str = "maintenance.vacuum";
    const QUEUE: Queue = Queue::Maintenance;

    fn tenant(&self) -> Option<TenantId> {
        None
    }

    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let now = ctx.db.clock.now();
        let deleted = store::vacuum(
            &ctx.db,
            now - Duration::hours(self.keep_hours.max(0)),
            now - Duration::hours(self.keep_dead_hours.max(0)),
        )
        .await?;
        let keys = delete_expired_idempotency_keys(&ctx.db, now).await?;
        let sessions = nestogy_domain::identity::web_sessions::delete_ended(&ctx.db, now).await?;
        let mut consumers = 0;
        for q in Queue::ALL {
            consumers += ctx
                .queue
                .prune_consumers(q, 3_600_000)
                .await
                .map_err(|e| JobError::retry(format!("redis: {e}")))?;
        }
        Ok(serde_json::json!({
            "jobs_deleted": deleted,
            "idempotency_keys_deleted": keys,
            "console_sessions_deleted": sessions,
            "consumers_removed": consumers,
        }))
    }
}

/// Deletes the API's idempotency keys that expired before `now`, in
/// batches so no transaction grows large.
pub async fn delete_expired_idempotency_keys(
    db: &nestogy_domain::Db,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let mut tx = db.system().await?;
        let n = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (company_id, principal, key) IN \
             (SELECT company_id, principal, key FROM idempotency_keys \
              WHERE expires_at <= $1 LIMIT 5000)",
        )
        .bind(now)
        .execute(tx.conn())
        .await?
        .rows_affected();
        tx.commit().await?;
        total += n;
        if n < 5000 {
            return Ok(total);
        }
    }
}
