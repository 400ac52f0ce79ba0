//! Events of a tenant (`client.created`, `invoice.paid`, ...), recorded in the transaction of the change, for webhooks.
//!
//! An event is recorded only when the tenant has an enabled endpoint that
//! wants its type, and its deliveries (one per such endpoint) are created in
//! the same statement: a tenant without webhooks pays one indexed `EXISTS`
//! per change. When deliveries were made, a `NOTIFY` on
//! [`CHANNEL`] (sent by PostgreSQL only if the transaction commits) tells the
//! workers' listener to dispatch them; a per-tenant sweep every minute
//! catches anything a listener missed.

use serde::Serialize;
use uuid::Uuid;

use crate::{DomainResult, EventId, TenantTx};

/// The `LISTEN` channel; the payload is the tenant's id.
pub const CHANNEL: &str = "nestogy_webhooks";

pub const CLIENT_CREATED: &str = "client.created";
pub const INVOICE_FINALIZED: &str = "invoice.finalized";
pub const INVOICE_PAID: &str = "invoice.paid";
pub const PAYMENT_RECORDED: &str = "payment.recorded";
pub const TICKET_CREATED: &str = "ticket.created";
pub const TICKET_STATUS_CHANGED: &str = "ticket.status_changed";
pub const TICKET_REPLIED: &str = "ticket.replied";
/// A ticket merged into another; the subject is the merged one, the
/// payload the move (both tickets' ids and numbers, what moved).
pub const TICKET_MERGED: &str = "ticket.merged";
/// Messages split off a ticket into a new one (which also sends
/// `ticket.created`); the subject is the ticket split, the payload the move.
pub const TICKET_SPLIT: &str = "ticket.split";
/// Sent by `POST /webhooks/endpoints/{id}/ping` to that endpoint only.
pub const WEBHOOK_PING: &str = "webhook.ping";

/// The types endpoints may subscribe to (besides `*`).
pub const TYPES: &[&str] = &[
    CLIENT_CREATED,
    INVOICE_FINALIZED,
    INVOICE_PAID,
    PAYMENT_RECORDED,
    TICKET_CREATED,
    TICKET_STATUS_CHANGED,
    TICKET_REPLIED,
    TICKET_MERGED,
    TICKET_SPLIT,
];

/// The endpoints of the tenant that want `type`: `$1` tenant, `$2` type.
const WANTED: &str = "SELECT e.id FROM webhook_endpoints e \
     WHERE e.company_id = $1 AND e.enabled AND (e.event_types @> ARRAY[$2::text] OR e.event_types @> ARRAY['*'])";

/// Whether any enabled endpoint of the tenant wants `type`: callers that
/// must build costly payloads ask first.
pub async fn wanted(tx: &mut TenantTx, kind: &str) -> DomainResult<bool> {
    let tenant = tx.tenant();
    let yes: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT EXISTS ({WANTED})")))
        .bind(tenant)
        .bind(kind)
        .fetch_one(tx.conn())
        .await?;
    Ok(yes)
}

/// Records an event of `kind` about `subject` with `payload` (the entity as
/// the API shows it), with one delivery per endpoint that wants it, in the
/// caller's transaction. Nothing is written when no endpoint wants it.
/// Returns the event's id when it was recorded.
pub async fn emit<T: Serialize>(
    tx: &mut TenantTx,
    kind: &str,
    subject: Option<Uuid>,
    payload: &T,
) -> DomainResult<Option<EventId>> {
    let payload = serde_json::to_value(payload).unwrap_or_default();
    let ids = emit_many(tx, kind, vec![(subject, payload)]).await?;
    Ok(ids.into_iter().next())
}

/// [`emit`] for many subjects of one type in one statement (billing runs).
pub async fn emit_many(
    tx: &mut TenantTx,
    kind: &str,
    items: Vec<(Option<Uuid>, serde_json::Value)>,
) -> DomainResult<Vec<EventId>> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let ids: Vec<EventId> = items.iter().map(|_| EventId::new()).collect();
    let (subjects, payloads): (Vec<Option<Uuid>>, Vec<serde_json::Value>) =
        items.into_iter().unzip();
    let inserted: Vec<EventId> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH ev AS ( \
           INSERT INTO events (id, company_id, type, subject_id, payload, created_at) \
           SELECT t.id, $1, $2, t.subject, t.payload, $6 \
           FROM unnest($3::uuid[], $4::uuid[], $5::jsonb[]) AS t(id, subject, payload) \
           WHERE EXISTS ({WANTED}) RETURNING id), \
         d AS ( \
           INSERT INTO webhook_deliveries (id, company_id, endpoint_id, event_id, status, next_attempt_at, created_at, updated_at) \
           SELECT gen_random_uuid(), $1, w.id, ev.id, 'pending', $6, $6, $6 \
           FROM ev CROSS JOIN ({WANTED}) AS w RETURNING event_id) \
         SELECT DISTINCT event_id FROM d"
    )))
    .bind(tenant)
    .bind(kind)
    .bind(&ids)
    .bind(&subjects)
    .bind(&payloads)
    .bind(now)
    .fetch_all(tx.conn())
    .await?;
    if !inserted.is_empty() {
        notify(tx).await?;
    }
    Ok(inserted)
}

/// Tells the workers' listener, on commit, that the tenant has deliveries.
pub async fn notify(tx: &mut TenantTx) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(tenant.as_uuid().to_string())
        .execute(tx.conn())
        .await?;
    Ok(())
}
