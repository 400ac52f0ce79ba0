//! Billing runs: a run finds a tenant's templates with periods due and fans
//! out one job per chunk of templates; each chunk bills its templates, each
//! in its own transaction (see `nestogy_domain::recurring::bill`). And the
//! daily job that marks invoices overdue.

use chrono::NaiveDate;
use nestogy_domain::recurring::{self, PeriodOutcome};
use nestogy_domain::{BillingRunId, RecurringId, TenantId};
use serde::{Deserialize, Serialize};

use crate::enqueue::{self, Prepared};
use crate::{Job, JobContext, JobError, JobMeta, Queue};

/// Templates per fan-out job.
pub const CHUNK: usize = 50;

async fn today(ctx: &JobContext, tenant: TenantId) -> Result<NaiveDate, JobError> {
    let mut tx = ctx.db.tenant(tenant).await?;
    Ok(nestogy_domain::company::today(&mut tx).await?)
}

/// A tenant's billing run. Its job id is the run's id; scheduled runs bill
/// up to the tenant's today when they run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub tenant: TenantId,
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
    #[serde(default)]
    pub manual: bool,
}

impl Job for Run {
    const KIND: &'static str = "billing.run";
    const QUEUE: Queue = Queue::Billing;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: the run row is keyed by this job's id, and each chunk job
    /// by (run, first template), so a rerun enqueues no chunk twice; a chunk
    /// enqueued twice bills nothing twice.
    async fn run(self, ctx: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        let run = BillingRunId(meta.id.as_uuid());
        let as_of = match self.as_of {
            Some(d) => d,
            None => today(&ctx, self.tenant).await?,
        };
        let mut tx = ctx.db.tenant(self.tenant).await?;
        recurring::open_run(
            &mut tx,
            run,
            as_of,
            if self.manual { "manual" } else { "schedule" },
        )
        .await?;
        let as_of = recurring::run_as_of(&mut tx, run).await?;
        let due = recurring::due_ids(&mut tx, as_of).await?;
        tx.commit().await?;
        let now = ctx.db.clock.now();
        let chunks: Vec<Prepared> = due
            .chunks(CHUNK)
            .map(|c| {
                let job = Bill {
                    tenant: self.tenant,
                    run,
                    as_of,
                    templates: c.to_vec(),
                };
                let key = format!("billing:{run}:{}", c[0]);
                Prepared::typed(&job, now, Some(key))
            })
            .collect::<Result<_, _>>()
            .map_err(|e| JobError::retry(e.to_string()))?;
        let mut sys = ctx.db.system().await?;
        let recorded = enqueue::record(&mut sys, chunks, now)
            .await
            .map_err(|e| JobError::retry(e.to_string()))?;
        sys.commit().await?;
        enqueue::push(&ctx.queue, &recorded, now)
            .await
            .map_err(|e| JobError::retry(e.to_string()))?;
        let mut tx = ctx.db.tenant(self.tenant).await?;
        recurring::mark_fanned_out(&mut tx, run, due.len() as i32).await?;
        tx.commit().await?;
        Ok(
            serde_json::json!({ "run_id": run, "as_of": as_of, "templates": due.len(), "chunks": recorded.len() }),
        )
    }
}

/// Bills a chunk of templates for a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bill {
    pub tenant: TenantId,
    pub run: BillingRunId,
    pub as_of: NaiveDate,
    pub templates: Vec<RecurringId>,
}

impl Job for Bill {
    const KIND: &'static str = "billing.bill";
    const QUEUE: Queue = Queue::Billing;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: a template's periods are billed under its row lock and the
    /// invoice table's unique (template, period start); a period billed
    /// before is `skipped`, never billed again.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        // The whole chunk in one transaction; if a template cannot be billed,
        // the chunk is billed again template by template so only that one fails.
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let items = match recurring::bill_many(&mut tx, &self.templates, self.as_of, false).await {
            Ok(items) => {
                recurring::record_items(&mut tx, self.run, &items).await?;
                tx.commit().await?;
                items
            }
            Err(e @ nestogy_domain::DomainError::Database(_)) => return Err(e.into()),
            Err(_) => {
                drop(tx);
                let mut items = Vec::new();
                for id in &self.templates {
                    items.extend(self.bill_one(&ctx, *id).await?);
                }
                items
            }
        };
        let (mut created, mut skipped, mut failed) = (0u64, 0u64, 0u64);
        for i in &items {
            match i.outcome.as_str() {
                "created" => created += 1,
                "skipped" => skipped += 1,
                _ => failed += 1,
            }
        }
        metrics::counter!("invoices_billed_total").increment(created);
        Ok(serde_json::json!({ "created": created, "skipped": skipped, "failed": failed }))
    }
}

impl Bill {
    async fn bill_one(
        &self,
        ctx: &JobContext,
        id: RecurringId,
    ) -> Result<Vec<PeriodOutcome>, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        match recurring::bill(&mut tx, id, self.as_of, false).await {
            Ok(items) => {
                recurring::record_items(&mut tx, self.run, &items).await?;
                tx.commit().await?;
                Ok(items)
            }
            Err(e @ nestogy_domain::DomainError::Database(_)) => Err(e.into()),
            Err(e) => {
                drop(tx);
                // A template that cannot be billed (an archived tax, say) is
                // recorded, and the run goes on.
                let failure = PeriodOutcome {
                    template_id: id,
                    period_start: self.as_of,
                    outcome: "failed".into(),
                    invoice_id: None,
                    total: None,
                    reason: Some(describe(&e)),
                };
                let mut tx = ctx.db.tenant(self.tenant).await?;
                recurring::record_items(&mut tx, self.run, std::slice::from_ref(&failure)).await?;
                tx.commit().await?;
                Ok(vec![failure])
            }
        }
    }
}

fn describe(e: &nestogy_domain::DomainError) -> String {
    match e {
        nestogy_domain::DomainError::Validation(v) => {
            v.0.iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        }
        other => other.to_string(),
    }
}

/// Marks a tenant's open invoices past their due date (in its time zone)
/// overdue, and its sent quotes past their validity expired. Running it
/// twice changes nothing more.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkOverdue {
    pub tenant: TenantId,
}

impl Job for MarkOverdue {
    const KIND: &'static str = "billing.overdue";
    const QUEUE: Queue = Queue::Billing;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let today = today(&ctx, self.tenant).await?;
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let n = nestogy_domain::invoices::mark_overdue(&mut tx, today).await?;
        let expired = nestogy_domain::quotes::expire(&mut tx, today).await?;
        tx.commit().await?;
        Ok(serde_json::json!({ "marked_overdue": n, "quotes_expired": expired, "as_of": today }))
    }
}
