//! Every message a mailbox delivered, once per (mailbox, content hash),
//! with its raw bytes in the object store and what became of it: a ticket,
//! a reply, a quarantine entry with its reason, or automated mail ignored
//! with its reason.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::text::text_enum;
use crate::{DomainError, DomainResult, InboundId, MailboxId, TenantTx, TicketId};

text_enum!(
    Outcome {
        /// It opened a ticket.
        Ticket = "ticket",
        /// It was added to a ticket.
        Reply = "reply",
        /// It could not be processed; see `reason`.
        Quarantined = "quarantined",
        /// Automated mail (out-of-office, bulk, list, no-reply) that answers no
        /// ticket, recorded without one; see `reason`.
        Ignored = "ignored",
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InboundMessage {
    pub id: InboundId,
    pub mailbox_id: MailboxId,
    pub uidvalidity: i64,
    pub uid: i64,
    pub message_id: Option<String>,
    pub content_hash: String,
    pub size_bytes: i64,
    pub from_address: Option<String>,
    pub subject: Option<String>,
    pub outcome: Outcome,
    pub ticket_id: Option<TicketId>,
    /// Why it is in quarantine, or ignored.
    pub reason: Option<String>,
    /// Why it was not answered (auto-reply, bounce, list mail).
    pub automated: Option<String>,
    /// Times it was processed, reprocessing included.
    pub attempts: i32,
    pub received_at: DateTime<Utc>,
    pub processed_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: InboundId,
    mailbox_id: MailboxId,
    uidvalidity: i64,
    uid: i64,
    message_id: Option<String>,
    content_hash: String,
    size_bytes: i64,
    from_address: Option<String>,
    subject: Option<String>,
    outcome: String,
    ticket_id: Option<TicketId>,
    reason: Option<String>,
    automated: Option<String>,
    attempts: i32,
    received_at: DateTime<Utc>,
    processed_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, mailbox_id, uidvalidity, uid, message_id, content_hash, size_bytes, \
    from_address, subject, outcome, ticket_id, reason, automated, attempts, received_at, processed_at";

impl From<Row> for InboundMessage {
    fn from(r: Row) -> Self {
        InboundMessage {
            id: r.id,
            mailbox_id: r.mailbox_id,
            uidvalidity: r.uidvalidity,
            uid: r.uid,
            message_id: r.message_id,
            content_hash: r.content_hash,
            size_bytes: r.size_bytes,
            from_address: r.from_address,
            subject: r.subject,
            // The table's check constraint allows only these four.
            outcome: Outcome::parse(&r.outcome).unwrap_or(Outcome::Quarantined),
            ticket_id: r.ticket_id,
            reason: r.reason,
            automated: r.automated,
            attempts: r.attempts,
            received_at: r.received_at,
            processed_at: r.processed_at,
        }
    }
}

/// What is known of a message before it is processed.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub mailbox_id: MailboxId,
    pub uidvalidity: i64,
    pub uid: i64,
    pub message_id: Option<String>,
    pub content_hash: String,
    pub raw_key: String,
    pub size_bytes: i64,
    pub from_address: Option<String>,
    pub subject: Option<String>,
}

/// Claims a message for processing: `Some(id)` the first time this
/// (mailbox, content hash) is seen, `None` for a duplicate. The row starts
/// quarantined ("processing") and the caller sets the real outcome in the
/// same transaction, so a crash in between leaves nothing behind.
pub async fn claim(tx: &mut TenantTx, a: &Arrival) -> DomainResult<Option<InboundId>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    Ok(sqlx::query_scalar(
        "INSERT INTO inbound_messages (id, company_id, mailbox_id, uidvalidity, uid, message_id, content_hash, \
         raw_key, size_bytes, from_address, subject, outcome, reason, received_at, processed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'quarantined', 'processing', $12, $12) \
         ON CONFLICT (mailbox_id, content_hash) DO NOTHING RETURNING id",
    )
    .bind(InboundId::new())
    .bind(tenant)
    .bind(a.mailbox_id)
    .bind(a.uidvalidity)
    .bind(a.uid)
    .bind(&a.message_id)
    .bind(&a.content_hash)
    .bind(&a.raw_key)
    .bind(a.size_bytes)
    .bind(&a.from_address)
    .bind(&a.subject)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?)
}

/// Sets what became of a claimed message.
pub async fn settle(
    tx: &mut TenantTx,
    id: InboundId,
    outcome: Outcome,
    ticket: Option<TicketId>,
    reason: Option<&str>,
    automated: Option<&str>,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE inbound_messages SET outcome = $3, ticket_id = $4, reason = $5, automated = $6, \
         processed_at = $7 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(outcome.as_str())
    .bind(ticket)
    .bind(reason)
    .bind(automated)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn get(tx: &mut TenantTx, id: InboundId) -> DomainResult<InboundMessage> {
    Ok(row(tx, id, "").await?.0.into())
}

async fn row(tx: &mut TenantTx, id: InboundId, suffix: &str) -> DomainResult<(Row, String)> {
    let tenant = tx.tenant();
    #[derive(sqlx::FromRow)]
    struct WithKey {
        #[sqlx(flatten)]
        row: Row,
        raw_key: String,
    }
    let r: Option<WithKey> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, raw_key FROM inbound_messages WHERE company_id = $1 AND id = $2 {suffix}"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    r.map(|w| (w.row, w.raw_key))
        .ok_or(DomainError::not_found("message"))
}

/// Locks a message of `mailbox` that is still `held` (quarantined or
/// ignored) for reprocessing; its raw key with it.
pub async fn lock_held(
    tx: &mut TenantTx,
    mailbox: MailboxId,
    id: InboundId,
    held: Outcome,
) -> DomainResult<(InboundMessage, String)> {
    let (r, key) = row(tx, id, "FOR UPDATE").await?;
    if r.mailbox_id != mailbox {
        return Err(DomainError::not_found("message"));
    }
    if r.outcome != held.as_str() {
        return Err(not_held(held));
    }
    Ok((r.into(), key))
}

/// The conflict of reprocessing a message that is not (any more) `held`.
pub fn not_held(held: Outcome) -> DomainError {
    match held {
        Outcome::Ignored => DomainError::conflict("not_ignored", "this message was not ignored"),
        _ => DomainError::conflict("not_quarantined", "this message is not in quarantine"),
    }
}

/// Counts another processing attempt of a message.
pub async fn count_attempt(tx: &mut TenantTx, id: InboundId) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE inbound_messages SET attempts = attempts + 1 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A mailbox's quarantine (`Quarantined`) or ignored mail (`Ignored`),
/// newest first.
pub async fn held(
    tx: &mut TenantTx,
    mailbox: MailboxId,
    outcome: Outcome,
    page: &PageRequest,
) -> DomainResult<Page<InboundMessage>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM inbound_messages WHERE company_id = $1 AND mailbox_id = $2 \
         AND outcome = $5 AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    )))
    .bind(tenant)
    .bind(mailbox)
    .bind(page.after_id())
    .bind(page.fetch())
    .bind(outcome.as_str())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inbound_messages WHERE company_id = $1 AND mailbox_id = $2 \
         AND outcome = $3",
    )
    .bind(tenant)
    .bind(mailbox)
    .bind(outcome.as_str())
    .fetch_one(tx.conn())
    .await?;
    let items = rows.into_iter().map(InboundMessage::from).collect();
    Ok(Page::from_rows(items, page, total, |m: &InboundMessage| {
        Cursor {
            key: String::new(),
            id: m.id.as_uuid(),
        }
    }))
}

/// Counts of a mailbox's messages by outcome.
pub async fn counts(tx: &mut TenantTx, mailbox: MailboxId) -> DomainResult<Vec<(String, i64)>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(
        "SELECT outcome, count(*) FROM inbound_messages WHERE company_id = $1 AND mailbox_id = $2 \
         GROUP BY outcome ORDER BY outcome",
    )
    .bind(tenant)
    .bind(mailbox)
    .fetch_all(tx.conn())
    .await?)
}

/// Records an automatic answer to `address` unless `limit` were already
/// sent to it within `window`; `true` when this one may go.
pub async fn allow_auto_reply(
    tx: &mut TenantTx,
    address: &str,
    limit: i64,
    window: chrono::Duration,
) -> DomainResult<bool> {
    let (tenant, now) = (tx.tenant(), tx.now());
    // One statement: serialise decisions about this address within the
    // tenant, count what went out in the window, and record this one if
    // there is room.
    let sent: Option<i32> = sqlx::query_scalar(
        "WITH l AS (SELECT pg_advisory_xact_lock(hashtext($1::uuid::text || ':' || $2))), \
         c AS (SELECT count(*) AS n FROM auto_replies, l WHERE company_id = $1 AND address = $2 \
               AND sent_at > $3) \
         INSERT INTO auto_replies (company_id, address, sent_at) SELECT $1, $2, $4 FROM c \
         WHERE c.n < $5 RETURNING 1",
    )
    .bind(tenant)
    .bind(address.to_lowercase())
    .bind(now - window)
    .bind(now)
    .bind(limit)
    .fetch_optional(tx.conn())
    .await?;
    Ok(sent.is_some())
}
