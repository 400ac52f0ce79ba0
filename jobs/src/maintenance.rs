//! Platform upkeep.

use chrono::Duration;
use nestogy_domain::TenantId;
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext, JobError, JobMeta, Queue, store};

/// Deletes finished jobs past their retention (succeeded and cancelled after
/// `keep_hours`, dead after `keep_dead_hours`) and removes stopped workers'
/// consumers from the Redis groups. Running it twice deletes nothing more.
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
        let mut consumers = 0;
        for q in Queue::ALL {
            consumers += ctx
                .queue
                .prune_consumers(q, 3_600_000)
                .await
                .map_err(|e| JobError::retry(format!("redis: {e}")))?;
        }
        Ok(serde_json::json!({ "jobs_deleted": deleted, "consumers_removed": consumers }))
    }
}
