//! Contracts: the daily expiry warnings.

use nestogy_domain::platform::mail::NewMessage;
use nestogy_domain::service_desk::contracts::{self, ExpiryAlert};
use nestogy_domain::{DomainResult, TenantId, TenantTx, identity::company, identity::users};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::mail::compose;
use crate::mail::message::{ExpiringContract, Message};
use crate::{Job, JobContext, JobError, JobMeta, Queue, mail};

/// Marks active contracts whose end date has passed expired, and warns the
/// admins by mail 30 and 7 days before an active contract ends (in the
/// company's time zone), once per contract, threshold and end date: a
/// contract first seen 5 days before its end gets the 7-day warning only,
/// and a moved end date warns again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpiryWarnings {
    pub tenant: TenantId,
}

impl Job for ExpiryWarnings {
    const KIND: &'static str = "contracts.expiry_warnings";
    const QUEUE: Queue = Queue::Default;
    const SCHEDULABLE: bool = true;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: the warnings are recorded (unique per contract,
    /// threshold and end date) in the transaction that creates their mail,
    /// whose dedupe key names them; a second run finds nothing new.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let today = company::today(&mut tx).await?;
        let expired = contracts::expire_ended(&mut tx, today).await?;
        let alerts = contracts::record_expiry_alerts(&mut tx, today).await?;
        let mut mails = Vec::new();
        let mut unaddressed = 0usize;
        if !alerts.is_empty() {
            let recipients = users::admin_emails(&mut tx).await?;
            for a in &alerts {
                if recipients.is_empty() {
                    unaddressed += 1;
                    continue;
                }
                let (m, created) = {
                    let new = message(&mut tx, a, recipients.clone()).await?;
                    mail::create(&mut tx, &ctx, new).await?
                };
                contracts::set_alert_mail(&mut tx, a, m.id).await?;
                if created {
                    mails.push(m.id);
                }
            }
        }
        let (_, pending) = mail::dispatch_in(&mut tx, &mails).await?;
        tx.commit().await?;
        pending.push(&ctx.queue).await;
        Ok(json!({
            "as_of": today, "expired": expired.len(), "alerts": alerts.len(),
            "messages": mails.len(), "without_recipients": unaddressed,
        }))
    }
}

/// The warning about one contract; its key names the alert.
async fn message(
    tx: &mut TenantTx,
    a: &ExpiryAlert,
    recipients: Vec<String>,
) -> DomainResult<NewMessage> {
    let message = Message::ContractExpiring {
        contract: a.contract_id,
        alert: ExpiringContract {
            contract_name: a.contract_name.clone(),
            client_name: a.client_name.clone(),
            end_date: Some(a.end_date),
            threshold_days: a.threshold_days,
            days_left: a.days_left,
        },
    };
    let key = format!(
        "contract-expiry:{}:{}:{}",
        a.contract_id, a.threshold_days, a.end_date
    );
    compose::new_message(tx, &message, key, recipients).await
}
