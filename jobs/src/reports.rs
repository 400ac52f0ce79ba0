//! Reports: the nightly (and on-demand) aggregation into snapshots, and the
//! monthly management report.

use std::time::Duration;

use chrono::NaiveDate;
use nestogy_domain::kernel::files::Files;
use nestogy_domain::kernel::roles::Role;
use nestogy_domain::reports::{self, AggregateMode, ReportName, management};
use nestogy_domain::{TenantId, identity::company, identity::users};
use nestogy_render::Template;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::mail::compose;
use crate::mail::message::{Attachment, Kpi, ManagementReport, Message};
use crate::{Job, JobContext, JobError, JobMeta, Queue, documents, mail};

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

/// The monthly management report: brings the snapshots up to date (as the
/// nightly run does), renders the month's report with charts, keeps the PDF
/// in the object store and mails it to the finance list
/// (`settings.report_recipients`, else the accountants and admins). By
/// schedule on the 1st, about the month before; `month` names another.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Management {
    pub tenant: TenantId,
    /// Any day of the month to report on; by default the month before today.
    #[serde(default)]
    pub month: Option<NaiveDate>,
}

impl Job for Management {
    const KIND: &'static str = "reports.management";
    const QUEUE: Queue = Queue::Reports;
    const SCHEDULABLE: bool = true;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    fn timeout() -> Duration {
        Duration::from_secs(600)
    }

    /// Idempotent: the message is one per tenant and month (its dedupe key),
    /// so a second run finds it and sends nothing; the PDF is named by the
    /// digest of its data, so storing it again overwrites it with the same
    /// bytes.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        reports::aggregate(&mut tx, None, AggregateMode::Incremental).await?;
        tx.commit().await?;

        let mut tx = ctx.db.tenant(self.tenant).await?;
        let settings = company::get(&mut tx).await?;
        let today = settings.today(tx.now());
        let month = self
            .month
            .unwrap_or_else(|| management::previous_month(today));
        let view = management::view(&mut tx, month).await?;
        tx.end_read();
        let pdf = documents::render_template(Template::Management, view.data, view.logo.as_ref())
            .await
            .map_err(documents::render_failure)?;
        let key = Files::key(
            self.tenant,
            &format!(
                "reports/management-{}-{}.pdf",
                view.month.format("%Y-%m"),
                &view.digest[..16]
            ),
        );
        let bytes = pdf.len();
        ctx.services
            .files
            .put(&key, pdf)
            .await
            .map_err(|e| JobError::retry(format!("storing the report: {e}")))?;

        let mut tx = ctx.db.tenant(self.tenant).await?;
        management::record(
            &mut tx,
            view.month,
            &key,
            &view.file_name,
            i64::try_from(bytes).unwrap_or(i64::MAX),
            &view.digest,
        )
        .await?;
        let configured = settings.report_recipients();
        let recipients = if configured.is_empty() {
            users::emails_of(&mut tx, &[Role::Accountant, Role::Admin]).await?
        } else {
            configured
        };
        if recipients.is_empty() {
            tx.commit().await?;
            return Ok(
                json!({"month": view.month, "file": key, "bytes": bytes, "mailed": false,
                             "reason": "no report recipients, accountants or admins"}),
            );
        }
        let report = ManagementReport {
            period: Some(view.month),
            period_label: view.period_label.clone(),
            kpis: view
                .kpis
                .iter()
                .map(|(label, value)| Kpi {
                    label: label.clone(),
                    value: value.clone(),
                })
                .collect(),
            attachments: vec![Attachment {
                filename: view.file_name.clone(),
                content_type: "application/pdf".into(),
                size: None,
                key: key.clone(),
            }],
        };
        let new = compose::new_message(
            &mut tx,
            &Message::ManagementReport { report },
            format!("management-report:{}", view.month.format("%Y-%m")),
            recipients,
        )
        .await?;
        let (m, created) = mail::create(&mut tx, &ctx, new).await?;
        let fresh = if created { vec![m.id] } else { Vec::new() };
        let (_, pending) = mail::dispatch_in(&mut tx, &fresh).await?;
        tx.commit().await?;
        pending.push(&ctx.queue).await;
        Ok(
            json!({"month": view.month, "file": key, "bytes": bytes, "mail": m.id, "created": created}),
        )
    }
}
