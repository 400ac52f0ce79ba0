//! CSV import jobs.

use std::time::Duration;

use nestogy_domain::integrations::imports::{self, ImportStatus};
use nestogy_domain::{ImportId, TenantId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Job, JobContext, JobError, JobMeta, Queue};

/// Runs one import over its stored file: validates every row, then writes
/// the valid ones (or, all-or-nothing with errors, none) with the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub tenant: TenantId,
    pub import: ImportId,
    /// Who uploaded the file: named in the assets' history.
    pub user: Option<UserId>,
}

impl Job for Run {
    const KIND: &'static str = "imports.run";
    const QUEUE: Queue = Queue::Default;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    fn timeout() -> Duration {
        Duration::from_secs(600)
    }

    /// Idempotent: the rows, the report and the status are written in one
    /// transaction; a run over an import no longer queued changes nothing and
    /// returns the same report. Rows match on natural keys, so even a second
    /// import of the same file creates nothing.
    ///
    /// The last attempt, or a failure no retry can fix, ends the import as
    /// `failed` with the error, so an import always reaches a final state.
    async fn run(self, ctx: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        match self.attempt(&ctx).await {
            Ok(report) => Ok(report),
            Err(e) => {
                let ends = !e.retryable || meta.attempt >= Self::retry_policy().max_attempts;
                if ends {
                    let mut tx = ctx.db.tenant(self.tenant).await?;
                    let reason = format!("the import could not run: {}", e.message);
                    imports::fail(&mut tx, self.import, &reason).await?;
                    tx.commit().await?;
                }
                Err(e)
            }
        }
    }
}

impl Run {
    async fn attempt(&self, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let imp = imports::get(&mut tx, self.import).await?;
        if imp.status == ImportStatus::Queued {
            let key = imports::file_key(&mut tx, self.import).await?;
            tx.end_read();
            let bytes = ctx.services.files.get(&key).await.map_err(|e| {
                if e.is_not_found() {
                    JobError::permanent(format!("the import's file is gone: {e}"))
                } else {
                    JobError::retry(e.to_string())
                }
            })?;
            let mut tx = ctx.db.tenant(self.tenant).await?;
            let started = std::time::Instant::now();
            let imp = imports::run(&mut tx, self.import, &bytes, self.user).await?;
            tx.commit().await?;
            return Ok(report(&imp, Some(started.elapsed())));
        }
        tx.end_read();
        Ok(report(&imp, None))
    }
}

fn report(imp: &imports::Import, took: Option<Duration>) -> serde_json::Value {
    json!({
        "import_id": imp.id,
        "status": imp.status,
        "total": imp.total_rows,
        "created": imp.created_rows,
        "updated": imp.updated_rows,
        "unchanged": imp.unchanged_rows,
        "failed": imp.failed_rows,
        "failure": imp.failure,
        "ms": took.map(|d| d.as_millis() as u64),
    })
}
