//! Assets: the daily warranty alerts.

use nestogy_domain::inventory::assets::{self, WarrantyAlert};
use nestogy_domain::kernel::roles::Role;
use nestogy_domain::platform::mail::NewMessage;
use nestogy_domain::{DomainResult, TenantId, TenantTx, identity::company, identity::users};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::mail::compose;
use crate::mail::message::{ExpiringAsset, ExpiringWarranties, Message};
use crate::{Job, JobContext, JobError, JobMeta, Queue, mail};

/// Alerts the techs and admins by mail when warranties expire in 30, 7 and
/// 1 days (in the company's time zone), once per asset, threshold and
/// expiry date: one message per client and run, listing that client's
/// assets alerted now. An asset first seen 5 days before expiry gets the
/// 7-day alert only. Retired assets are left out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarrantyAlerts {
    pub tenant: TenantId,
}

impl Job for WarrantyAlerts {
    const KIND: &'static str = "assets.warranty_alerts";
    const QUEUE: Queue = Queue::Default;
    const SCHEDULABLE: bool = true;

    fn tenant(&self) -> Option<TenantId> {
        Some(self.tenant)
    }

    /// Idempotent: the alerts are recorded (unique per asset, threshold and
    /// expiry) in the transaction that creates their mail, whose dedupe key
    /// is derived from them; a second run finds nothing new to record.
    async fn run(self, ctx: JobContext, _: JobMeta) -> Result<serde_json::Value, JobError> {
        let mut tx = ctx.db.tenant(self.tenant).await?;
        let today = company::today(&mut tx).await?;
        let alerts = assets::record_warranty_alerts(&mut tx, today).await?;
        let mut mails = Vec::new();
        let mut unaddressed = 0usize;
        if !alerts.is_empty() {
            // No assignment of staff to clients exists yet: every active
            // tech and admin hears of every client.
            let recipients = users::emails_of(&mut tx, &[Role::Tech, Role::Admin]).await?;
            for group in alerts.chunk_by(|a, b| a.client_id == b.client_id) {
                if recipients.is_empty() {
                    unaddressed += group.len();
                    continue;
                }
                let new = message(&mut tx, group, recipients.clone()).await?;
                let (m, created) = mail::create(&mut tx, &ctx, new).await?;
                assets::set_alert_mail(&mut tx, group, m.id).await?;
                if created {
                    mails.push(m.id);
                }
            }
        }
        let (_, pending) = mail::dispatch_in(&mut tx, &mails).await?;
        tx.commit().await?;
        pending.push(&ctx.queue).await;
        Ok(json!({
            "as_of": today, "alerts": alerts.len(), "messages": mails.len(),
            "without_recipients": unaddressed,
        }))
    }
}

/// The message about one client's alerts; its key names the alerts.
async fn message(
    tx: &mut TenantTx,
    group: &[WarrantyAlert],
    recipients: Vec<String>,
) -> DomainResult<NewMessage> {
    let first = &group[0];
    let mut h = Sha256::new();
    for a in group {
        h.update(
            format!(
                "{}:{}:{};",
                a.asset_id, a.threshold_days, a.warranty_expires
            )
            .as_bytes(),
        );
    }
    let digest = hex::encode(h.finalize());
    let assets = group
        .iter()
        .map(|a| ExpiringAsset {
            asset_id: a.asset_id,
            name: a.asset_name.clone(),
            serial: a.serial.clone(),
            hostname: a.hostname.clone(),
            threshold_days: a.threshold_days,
            warranty_expires: Some(a.warranty_expires),
            days_left: a.days_left,
        })
        .collect();
    let message = Message::WarrantyExpiring {
        client: first.client_id,
        alert: ExpiringWarranties {
            client_name: first.client_name.clone(),
            assets,
        },
    };
    compose::new_message(
        tx,
        &message,
        format!("warranty:{}:{}", first.client_id, &digest[..32]),
        recipients,
    )
    .await
}
