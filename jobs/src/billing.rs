//! Billing runs: a run finds a tenant's templates with periods due and fans
//! out one job per chunk of templates; each chunk bills its templates, each
//! in its own transaction (see `nestogy_domain::billing::recurring::bill`). And the
//! daily job that marks invoices overdue.

use chrono::NaiveDate;
use nestogy_domain::billing::documents::DocRef;
use nestogy_domain::billing::recurring::{self, PeriodOutcome, PeriodResult};
use nestogy_domain::platform::mail::CreateError;
use nestogy_domain::{BillingRunId, MailId, RecurringId, TenantId, TenantTx};
use serde::{Deserialize, Serialize};

use crate::enqueue::{self, PendingPush, Prepared};
use crate::mail::compose;
use crate::mail::message::{Message, Reminder};
use crate::{Job, JobContext, JobError, JobMeta, Queue, documents, mail};

/// Templates per fan-out job.
pub const CHUNK: usize = 50;

/// How long after a chunk is billed its invoices are rendered. Rendering is
/// CPU-bound: started at once it would take the cores the rest of the run
/// needs (measured: 100,000 invoices billed at 581/s instead of 2,558/s).
/// A PDF asked for earlier is rendered on demand, and auto-send renders
/// what it mails.
pub const RENDER_AFTER_BILLING: chrono::Duration = chrono::Duration::minutes(5);

async fn today(ctx: &JobContext, tenant: TenantId) -> Result<NaiveDate, JobError> {
    let mut tx = ctx.db.tenant(tenant).await?;
    Ok(nestogy_domain::identity::company::today(&mut tx).await?)
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
    /// enqueued twice bills nothing twice. A run fanned out already is left
    /// as it is: what it found due stays what it found.
    async fn run(self, ctx: JobContext, meta: JobMeta) -> Result<serde_json::Value, JobError> {
        let run = BillingRunId(meta.id.as_uuid());
        let as_of = match self.as_of {
            Some(d) => d,
            None => today(&ctx, self.tenant).await?,
        };
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let opened = recurring::open_run(
            &mut tx,
            run,
            as_of,
            if self.manual { "manual" } else { "schedule" },
            true,
        )
        .await?;
        let as_of = opened.as_of;
        if opened.fanned_out {
            tx.commit().await?;
            return Ok(
                serde_json::json!({ "run_id": run, "as_of": as_of, "chunks": 0, "fanned_out_before": true }),
            );
        }
        let due = recurring::due_periods(&mut tx, as_of).await?;
        tx.commit().await?;
        let now = ctx.db.clock.now();
        let mut chunks = Vec::new();
        let mut records = Vec::new();
        for c in due.chunks(CHUNK) {
            let templates: Vec<RecurringId> = c.iter().map(|(id, _)| *id).collect();
            let key = format!("billing:{run}:{}", templates[0]);
            records.push(recurring::ChunkRecord {
                job_key: key.clone(),
                templates: templates.clone(),
                periods: c.iter().map(|(_, p)| p.len() as i32).sum(),
            });
            let job = Bill {
                tenant: self.tenant,
                run,
                as_of,
                templates,
                due: c.iter().map(|(_, p)| p.clone()).collect(),
            };
            chunks.push(Prepared::typed(&job, now, Some(key))?);
        }
        // The chunks' jobs, the run's record of them and the run's mark
        // commit together: a repeated fan-out finds the run fanned out and
        // leaves it (a push lost here is queued again by the workers' sweep).
        // A platform transaction, because the run's chunk records are
        // platform bookkeeping (billing_run_chunks accepts `app.system`).
        let periods: i32 = records.iter().map(|r| r.periods).sum();
        let mut sys = ctx.db.system().await?;
        let pending = enqueue::record(&mut sys, chunks, now).await?;
        recurring::record_chunks(&mut sys, self.tenant, run, &records).await?;
        recurring::mark_fanned_out(&mut sys, self.tenant, run, due.len() as i32, periods, now)
            .await?;
        sys.commit().await?;
        let chunks = pending.len();
        pending.push(&ctx.queue).await;
        Ok(
            serde_json::json!({ "run_id": run, "as_of": as_of, "templates": due.len(), "periods": periods, "chunks": chunks }),
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
    /// The periods (their starts) of each template the run found due when
    /// it looked, in the order of `templates`: the chunk accounts for each.
    /// (Empty in chunks enqueued before it existed.)
    #[serde(default)]
    pub due: Vec<Vec<NaiveDate>>,
}

impl Job for Bill {
    const KIND: &'static str = "billing.bill";
    const QUEUE: Queue = Queue::Billing;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: a template's periods are billed under its row lock and the
    /// invoice table's unique (template, period start); a period billed
    /// before is `skipped` (naming its invoice and run), never billed again.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        // The whole chunk in one transaction; if a template cannot be billed,
        // the chunk is billed again template by template so only that one fails.
        // The invoices, their mail and the jobs that render and send them
        // commit together.
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let billed =
            recurring::bill_many(&mut tx, &self.templates, self.as_of, Some(self.run), false).await;
        let (items, mailed) = match billed {
            Ok(items) => {
                recurring::record_outcomes(&mut tx, self.run, &items, &self.seen()).await?;
                let messages = auto_send(&mut tx, &ctx, &items, self.as_of).await?;
                let pending = follow_up(&mut tx, &items, &messages).await?;
                tx.commit().await?;
                pending.push(&ctx.queue).await;
                (items, messages.len())
            }
            Err(e @ nestogy_domain::DomainError::Database(_)) => return Err(e.into()),
            Err(_) => {
                drop(tx);
                let (mut items, mut mailed) = (Vec::new(), 0);
                for id in &self.templates {
                    let (one, sent) = self.bill_one(&ctx, *id).await?;
                    items.extend(one);
                    mailed += sent;
                }
                (items, mailed)
            }
        };
        let (mut created, mut skipped, mut failed) = (0u64, 0u64, 0u64);
        for i in &items {
            match i.outcome {
                PeriodResult::Created => created += 1,
                PeriodResult::Skipped => skipped += 1,
                PeriodResult::Failed => failed += 1,
            }
        }
        metrics::counter!("invoices_billed_total").increment(created);
        Ok(
            serde_json::json!({ "created": created, "skipped": skipped, "failed": failed, "mailed": mailed }),
        )
    }
}

/// Records in the billing transaction `tx` what follows the invoices it
/// created: a rendering of each (a little later), and the delivery of the
/// mail created for auto-send ones (which renders them too). Push the
/// answer after `tx` commits.
async fn follow_up(
    tx: &mut TenantTx,
    items: &[PeriodOutcome],
    messages: &[MailId],
) -> Result<PendingPush, JobError> {
    let docs: Vec<DocRef> = items
        .iter()
        .filter(|i| i.outcome == PeriodResult::Created)
        .filter_map(|i| i.invoice_id)
        .map(|id| DocRef::Invoice { id })
        .collect();
    let mut pending = PendingPush::none();
    if !docs.is_empty() {
        let job = documents::RenderMany {
            tenant: tx.tenant(),
            docs,
        };
        let opts = enqueue::EnqueueOptions {
            run_at: Some(tx.now() + RENDER_AFTER_BILLING),
            unique_key: None,
        };
        pending.merge(enqueue::enqueue_in(tx, &job, opts).await?.into_pending());
    }
    let (_, mail) = mail::dispatch_in(tx, messages).await?;
    pending.merge(mail);
    Ok(pending)
}

impl Bill {
    /// What the run found due, per template.
    fn seen(&self) -> Vec<(RecurringId, Vec<NaiveDate>)> {
        self.templates
            .iter()
            .copied()
            .zip(self.due.iter().cloned())
            .collect()
    }

    /// Bills one template in a transaction of its own; returns its
    /// outcomes and how many invoices it mailed.
    async fn bill_one(
        &self,
        ctx: &JobContext,
        id: RecurringId,
    ) -> Result<(Vec<PeriodOutcome>, usize), JobError> {
        let seen: Vec<(RecurringId, Vec<NaiveDate>)> =
            self.seen().into_iter().filter(|(t, _)| *t == id).collect();
        let mut tx = ctx.db.tenant(self.tenant).await?;
        match recurring::bill(&mut tx, id, self.as_of, Some(self.run), false).await {
            Ok(items) => {
                recurring::record_outcomes(&mut tx, self.run, &items, &seen).await?;
                let messages = auto_send(&mut tx, ctx, &items, self.as_of).await?;
                let pending = follow_up(&mut tx, &items, &messages).await?;
                tx.commit().await?;
                pending.push(&ctx.queue).await;
                Ok((items, messages.len()))
            }
            Err(e @ nestogy_domain::DomainError::Database(_)) => Err(e.into()),
            Err(e) => {
                drop(tx);
                // A template that cannot be billed (an archived tax, say)
                // fails each period the run found due (or, without those,
                // once as of the run's date), and the run goes on.
                let reason = e.describe();
                let mut starts: Vec<NaiveDate> =
                    seen.iter().flat_map(|(_, s)| s.iter().copied()).collect();
                if starts.is_empty() {
                    starts.push(self.as_of);
                }
                let failures: Vec<PeriodOutcome> = starts
                    .into_iter()
                    .map(|start| PeriodOutcome::failed(id, start, reason.clone()))
                    .collect();
                let mut tx = ctx.db.tenant(self.tenant).await?;
                recurring::record_outcomes(&mut tx, self.run, &failures, &[]).await?;
                tx.commit().await?;
                Ok((failures, 0))
            }
        }
    }
}

/// Creates, in the billing transaction, the mail of every invoice just
/// created from a template with auto-send (one per invoice, by its dedupe
/// key), so an invoice billed is an invoice mailed, exactly once.
///
/// A period caught up late (its invoice already past due on the run's
/// as-of day) is not mailed: the invoice is created and listed in the run,
/// and finance sends it on request (`POST /api/v1/invoices/{id}/send`), so a
/// client is never sent a pile of invoices already overdue at once.
async fn auto_send(
    tx: &mut nestogy_domain::TenantTx,
    ctx: &JobContext,
    items: &[PeriodOutcome],
    as_of: NaiveDate,
) -> Result<Vec<MailId>, JobError> {
    let created: Vec<(RecurringId, nestogy_domain::InvoiceId)> = items
        .iter()
        .filter(|i| i.outcome == PeriodResult::Created)
        .filter_map(|i| i.invoice_id.map(|inv| (i.template_id, inv)))
        .collect();
    if created.is_empty() {
        return Ok(Vec::new());
    }
    let tenant = tx.tenant();
    let template_ids: Vec<RecurringId> = created.iter().map(|(t, _)| *t).collect();
    let sending: Vec<RecurringId> = sqlx::query_scalar(
        "SELECT id FROM recurring_invoices WHERE company_id = $1 AND id = ANY($2) \
         AND auto_send AND auto_finalize",
    )
    .bind(tenant)
    .bind(&template_ids)
    .fetch_all(tx.conn())
    .await?;
    let invoice_ids: Vec<nestogy_domain::InvoiceId> = created.iter().map(|(_, i)| *i).collect();
    let backfilled: Vec<nestogy_domain::InvoiceId> = sqlx::query_scalar(
        "SELECT id FROM invoices WHERE company_id = $1 AND id = ANY($2) AND due_date < $3",
    )
    .bind(tenant)
    .bind(&invoice_ids)
    .bind(as_of)
    .fetch_all(tx.conn())
    .await?;
    let mut out = Vec::new();
    for (template, invoice) in created {
        if !sending.contains(&template) || backfilled.contains(&invoice) {
            continue;
        }
        let new = compose::document_message(
            tx,
            Message::Invoice { invoice },
            format!("invoice:{invoice}:auto"),
        )
        .await?;
        match mail::create(tx, ctx, new).await {
            Ok((m, true)) => out.push(m.id),
            Ok((_, false)) => {}
            // A client with no one to send to: the invoice stands unsent.
            Err(CreateError::NoRecipients) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
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
        let n = nestogy_domain::billing::invoices::mark_overdue(&mut tx, today).await?;
        let expired = nestogy_domain::billing::quotes::expire(&mut tx, today).await?;
        tx.commit().await?;
        Ok(serde_json::json!({ "marked_overdue": n, "quotes_expired": expired, "as_of": today }))
    }
}

/// Sends payment reminders. The policy (README, "Reminders"):
/// - only for an open invoice the client was sent: one whose invoice mail
///   was delivered (a reminder is never the first the client hears of it);
/// - counted from the later of its due date and that first delivery (in the
///   company's time zone), so an invoice mailed late gets its full grace;
/// - at each of the company's reminder offsets (`settings.reminder_days`,
///   default 3, 7 and 14 days) it has reached, the latest one only, at most
///   once per offset; none once the invoice is paid or voided;
/// - the text states how late the invoice really is (days since its due date).
///
/// Also dispatches any message whose enqueue was lost. Running it twice
/// sends nothing more.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Remind {
    pub tenant: TenantId,
}

impl Job for Remind {
    const KIND: &'static str = "billing.remind";
    const QUEUE: Queue = Queue::Billing;
    const SCHEDULABLE: bool = true;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let company = nestogy_domain::identity::company::get(&mut tx).await?;
        let today = company.today(tx.now());
        let days = company.reminder_days();
        let due: Vec<(nestogy_domain::InvoiceId, i32, i32, NaiveDate)> = sqlx::query_as(
            "SELECT i.id, o.d, $3 - i.due_date, f.first_sent FROM invoices i \
             CROSS JOIN LATERAL (SELECT (min(m.sent_at) AT TIME ZONE $4)::date AS first_sent \
               FROM mail_messages m WHERE m.company_id = $1 AND m.subject_kind = 'invoice' \
               AND m.subject_id = i.id AND m.template = 'invoice' AND m.status = 'sent') f \
             CROSS JOIN LATERAL (SELECT max(x) AS d FROM unnest($2::int[]) x \
               WHERE x <= $3 - greatest(i.due_date, f.first_sent)) o \
             WHERE i.company_id = $1 AND i.status IN ('sent', 'partially_paid', 'overdue') \
             AND f.first_sent IS NOT NULL AND o.d IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM mail_messages m WHERE m.company_id = $1 \
               AND m.dedupe_key = 'invoice:' || i.id || ':reminder:' || o.d) \
             ORDER BY i.id",
        )
        .bind(self.tenant)
        .bind(&days)
        .bind(today)
        .bind(&company.time_zone)
        .fetch_all(tx.conn())
        .await?;
        let (mut created, mut unaddressed) = (Vec::new(), 0u32);
        for (invoice, d, late, first_sent) in due {
            let reminder = Reminder {
                days: d,
                days_late: Some(late),
                first_sent: Some(first_sent),
            };
            let new = compose::document_message(
                &mut tx,
                Message::OverdueReminder { invoice, reminder },
                format!("invoice:{invoice}:reminder:{d}"),
            )
            .await?;
            match mail::create(&mut tx, &ctx, new).await {
                Ok((m, true)) => created.push(m.id),
                Ok((_, false)) => {}
                Err(CreateError::NoRecipients) => unaddressed += 1,
                Err(e) => return Err(e.into()),
            }
        }
        let stale = ctx.db.clock.now() - chrono::Duration::minutes(10);
        let orphans = nestogy_domain::platform::mail::orphaned(&mut tx, stale).await?;
        let mut all = created.clone();
        all.extend(orphans.iter().filter(|o| !created.contains(o)));
        let (_, pending) = mail::dispatch_in(&mut tx, &all).await?;
        tx.commit().await?;
        pending.push(&ctx.queue).await;
        Ok(serde_json::json!({
            "as_of": today, "reminders": created.len(), "without_recipients": unaddressed,
            "redispatched": orphans.len(),
        }))
    }
}
