//! Reports: the nightly (and on-demand) aggregation into snapshots, and the
//! monthly management report.

use std::time::Duration;

use nestogy_domain::TenantId;
use nestogy_domain::reports::{self, AggregateMode, ReportName};
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext, JobError, JobMeta, Queue};

/// Recomputes a tenant's report snapshots: the periods changed since the
/// last run (every report by schedule), or one report whole (`report`, as
/// `POST /api/v1/reports/{name}/refresh` asks), or all whole (`full`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Aggregate {
    pub tenant: TenantId,
    #[serde(default)]
    pub report: Option<ReportName>,
    #[serde(default)]
    pub full: bool,
}

impl Job for Aggregate {
    const KIND: &'static str = "reports.aggregate";
    const QUEUE: Queue = Queue::Reports;
    const SCHEDULABLE: bool = true;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    fn timeout() -> Duration {
        Duration::from_secs(600)
    }

    /// Idempotent: a run writes each period it computes from the data as it
    /// is, in one transaction under a per-tenant lock, so running twice (or
    /// twice at once) leaves the same rows; the changed days it takes are
    /// given back if it fails.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let mode = if self.full {
            AggregateMode::Full
        } else {
            AggregateMode::Incremental
        };
        let summary = reports::aggregate(&mut tx, self.report, mode).await?;
        tx.commit().await?;
        serde_json::to_value(summary).map_err(|e| JobError::permanent(e.to_string()))
    }
}
