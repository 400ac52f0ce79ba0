//! The audit log: one row for every change and every sign-in, written in
//! the same transaction as the change.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::{ApiTokenId, AuditId, ContactId, DomainResult, TenantTx, UserId};

/// Who did it: a signed-in user, a user acting through an API token, or a
/// client's contact in the portal.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub token_id: Option<ApiTokenId>,
    pub contact_id: Option<ContactId>,
    pub request_id: Option<String>,
}

impl Actor {
    /// A client's contact, in the portal.
    pub fn contact(contact: ContactId, request_id: Option<String>) -> Actor {
        Actor {
            contact_id: Some(contact),
            request_id,
            ..Actor::default()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: AuditId,
    pub actor_user_id: Option<UserId>,
    pub actor_token_id: Option<ApiTokenId>,
    /// Set when a client's contact did it, in the portal.
    pub actor_contact_id: Option<ContactId>,
    /// What happened, e.g. `client.created`, `auth.login`.
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<uuid::Uuid>,
    pub details: serde_json::Value,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

pub async fn record(
    tx: &mut TenantTx,
    actor: &Actor,
    action: &str,
    entity_type: &str,
    entity_id: Option<uuid::Uuid>,
    details: serde_json::Value,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO audit_log (id, company_id, actor_user_id, actor_token_id, action, \
         entity_type, entity_id, details, request_id, at, actor_contact_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(AuditId::new())
    .bind(tenant)
    .bind(actor.user_id)
    .bind(actor.token_id)
    .bind(action)
    .bind(entity_type)
    .bind(entity_id)
    .bind(details)
    .bind(actor.request_id.as_deref())
    .bind(now)
    .bind(actor.contact_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<uuid::Uuid>,
    pub actor_user_id: Option<UserId>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// Newest first.
pub async fn list(
    tx: &mut TenantTx,
    f: &AuditFilter,
    page: &PageRequest,
) -> DomainResult<Page<AuditEntry>> {
    const FILTER: &str = "company_id = $1 \
        AND ($2::text IS NULL OR entity_type = $2) \
        AND ($3::uuid IS NULL OR entity_id = $3) \
        AND ($4::uuid IS NULL OR actor_user_id = $4) \
        AND ($5::text IS NULL OR action = $5) \
        AND ($6::timestamptz IS NULL OR at >= $6)";
    let tenant = tx.tenant();
    let rows: Vec<AuditEntry> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, actor_user_id, actor_token_id, actor_contact_id, action, entity_type, entity_id, details, \
         request_id, at FROM audit_log WHERE {FILTER} \
         AND ($7::uuid IS NULL OR id < $7) ORDER BY id DESC LIMIT $8"
    )))
    .bind(tenant)
    .bind(f.entity_type.as_deref())
    .bind(f.entity_id)
    .bind(f.actor_user_id)
    .bind(f.action.as_deref())
    .bind(f.since)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM audit_log WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(f.entity_type.as_deref())
    .bind(f.entity_id)
    .bind(f.actor_user_id)
    .bind(f.action.as_deref())
    .bind(f.since)
    .fetch_one(tx.conn())
    .await?;
    Ok(Page::from_rows(rows, page, total, |r| Cursor {
        key: String::new(),
        id: r.id.as_uuid(),
    }))
}
