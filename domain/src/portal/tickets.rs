//! Tickets as a client's contact sees them in the portal: which tickets
//! they may see ([`visible`], the one rule every portal route goes
//! through), the ticket without staff-only fields, and its public thread
//! (incoming messages and public replies, never internal notes).
//!
//! A portal admin sees every ticket of their client; any other contact the
//! tickets whose contact they are. A ticket the contact may not see is
//! "not found", exactly as an id that names nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::PortalContact;
use crate::customers::contacts::PortalRole;
use crate::kernel::pagination::{COUNT_CAP, Cursor, Page, PageRequest, capped_count_sql};
use crate::kernel::text::text_enum;
use crate::service_desk::threading::TicketToken;
use crate::service_desk::tickets::{
    self, Attachment, MessageKind, Priority, Ticket, TicketMessage, TicketStatus,
};
use crate::{AttachmentId, DomainError, DomainResult, TenantTx, TicketId, TicketMessageId};

/// The visibility rule, over `tickets t`: `$1` the tenant, `$2` the
/// contact's client, `$3` whether they are its portal admin, `$4` the
/// contact.
const VISIBLE: &str = "t.company_id = $1 AND t.client_id = $2 AND ($3 OR t.contact_id = $4)";

text_enum!(PortalTicketState {
    /// Tickets still being worked on (not resolved or closed).
    Open = "open",
    /// Resolved and closed tickets.
    Closed = "closed",
    All = "all",
});

/// A ticket as its client's contacts see it: no assignee, tags, SLA or
/// other staff-only fields.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PortalTicket {
    pub id: TicketId,
    pub number: i64,
    /// `[#number-CODE]`: in the subject of every mail about the ticket.
    pub token: String,
    pub subject: String,
    pub status: TicketStatus,
    pub priority: Priority,
    /// The contact the ticket is for (or who wrote, if not a contact).
    pub contact_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// A ticket merged into another is closed; this is the other one's
    /// token (`[#12-K7QX2P]`), where its conversation goes on.
    pub merged_into: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: TicketId,
    number: i64,
    token_code: String,
    subject: String,
    status: String,
    priority: String,
    contact_name: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    merged_number: Option<i64>,
    merged_code: Option<String>,
}

const COLUMNS: &str = "t.id, t.number, t.token_code, t.subject, t.status, t.priority, \
    COALESCE(c.name, t.requester_name) AS contact_name, t.created_at, t.updated_at, \
    t.resolved_at, t.closed_at, m.number AS merged_number, m.token_code AS merged_code";

const FROM: &str = "tickets t LEFT JOIN contacts c ON c.company_id = t.company_id AND c.id = t.contact_id \
    LEFT JOIN tickets m ON m.company_id = t.company_id AND m.id = t.merged_into";

impl From<Row> for PortalTicket {
    fn from(r: Row) -> PortalTicket {
        PortalTicket {
            id: r.id,
            number: r.number,
            token: TicketToken {
                number: r.number,
                code: r.token_code,
            }
            .render(),
            subject: r.subject,
            status: TicketStatus::parse(&r.status).unwrap_or(TicketStatus::Open),
            priority: Priority::parse(&r.priority).unwrap_or(Priority::Medium),
            contact_name: r.contact_name,
            created_at: r.created_at,
            updated_at: r.updated_at,
            resolved_at: r.resolved_at,
            closed_at: r.closed_at,
            merged_into: r
                .merged_number
                .zip(r.merged_code)
                .map(|(number, code)| TicketToken { number, code }.render()),
        }
    }
}

fn is_admin(contact: &PortalContact) -> bool {
    contact.portal_role == PortalRole::Admin
}

/// The ticket, if `contact` may see it; else not found, as for an id that
/// names no ticket.
pub async fn visible(
    tx: &mut TenantTx,
    contact: &PortalContact,
    id: TicketId,
) -> DomainResult<Ticket> {
    let tenant = tx.tenant();
    let found: Option<TicketId> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT t.id FROM tickets t WHERE {VISIBLE} AND t.id = $5"
    )))
    .bind(tenant)
    .bind(contact.client_id)
    .bind(is_admin(contact))
    .bind(contact.id)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    match found {
        Some(id) => tickets::get(tx, id).await,
        None => Err(DomainError::not_found("ticket")),
    }
}

/// The portal's view of a ticket the contact may see.
pub async fn ticket(
    tx: &mut TenantTx,
    contact: &PortalContact,
    id: TicketId,
) -> DomainResult<PortalTicket> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE {VISIBLE} AND t.id = $5"
    )))
    .bind(tenant)
    .bind(contact.client_id)
    .bind(is_admin(contact))
    .bind(contact.id)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(PortalTicket::from)
        .ok_or(DomainError::not_found("ticket"))
}

/// The tickets the contact may see, newest first.
pub async fn list(
    tx: &mut TenantTx,
    contact: &PortalContact,
    state: PortalTicketState,
    page: &PageRequest,
) -> DomainResult<Page<PortalTicket>> {
    let tenant = tx.tenant();
    let done: Vec<&str> = TicketStatus::ALL
        .iter()
        .filter(|s| s.is_done())
        .map(|s| s.as_str())
        .collect();
    // $5: the state filter; $6 the statuses that are done.
    let filter =
        format!("{VISIBLE} AND ($5 = 'all' OR ($5 = 'closed') = (t.status = ANY($6::text[])))");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE {filter} \
         AND ($7::uuid IS NULL OR t.id < $7) ORDER BY t.id DESC LIMIT $8"
    )))
    .bind(tenant)
    .bind(contact.client_id)
    .bind(is_admin(contact))
    .bind(contact.id)
    .bind(state.as_str())
    .bind(&done)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(capped_count_sql(
        &format!("tickets t WHERE {filter}"),
        COUNT_CAP,
    )))
    .bind(tenant)
    .bind(contact.client_id)
    .bind(is_admin(contact))
    .bind(contact.id)
    .bind(state.as_str())
    .bind(&done)
    .fetch_one(tx.conn())
    .await?;
    let items = rows.into_iter().map(PortalTicket::from).collect();
    Ok(
        Page::from_rows(items, page, total, |t: &PortalTicket| Cursor {
            key: String::new(),
            id: t.id.as_uuid(),
        })
        .capped(COUNT_CAP),
    )
}

/// A message of a ticket's public thread.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PortalMessage {
    pub id: TicketMessageId,
    /// `incoming` (from the client) or `reply` (from the MSP's staff).
    pub kind: MessageKind,
    /// Who wrote it, as the portal shows them.
    pub author_name: String,
    /// The new text (quoted history removed from mail).
    pub body: String,
    pub attachments: Vec<Attachment>,
    pub created_at: DateTime<Utc>,
}

/// Whether a message belongs to the public thread: incoming messages and
/// public replies, not internal notes nor automatic mail (auto-replies,
/// bounces).
fn is_public(m: &TicketMessage) -> bool {
    matches!(m.kind, MessageKind::Incoming | MessageKind::Reply) && m.automated.is_none()
}

/// The public thread of a ticket the contact may see (check with
/// [`visible`] first), oldest first.
pub async fn thread(tx: &mut TenantTx, ticket: &Ticket) -> DomainResult<Vec<PortalMessage>> {
    let all = tickets::messages(tx, ticket.id).await?;
    let public: Vec<TicketMessage> = all.into_iter().filter(is_public).collect();
    let tenant = tx.tenant();
    let staff: Vec<crate::UserId> = public.iter().filter_map(|m| m.author_id).collect();
    let names: Vec<(crate::UserId, String)> =
        sqlx::query_as("SELECT id, name FROM users WHERE company_id = $1 AND id = ANY($2)")
            .bind(tenant)
            .bind(&staff)
            .fetch_all(tx.conn())
            .await?;
    let contact_name: Option<String> = match ticket.contact_id {
        Some(c) => {
            sqlx::query_scalar("SELECT name FROM contacts WHERE company_id = $1 AND id = $2")
                .bind(tenant)
                .bind(c)
                .fetch_optional(tx.conn())
                .await?
        }
        None => None,
    };
    let company = crate::identity::company::get(tx).await?.name;
    let staff_name = |id: Option<crate::UserId>| {
        id.and_then(|id| names.iter().find(|n| n.0 == id).map(|n| n.1.clone()))
    };
    Ok(public
        .into_iter()
        .map(|m| {
            let author_name = match m.kind {
                MessageKind::Reply => staff_name(m.author_id).unwrap_or_else(|| company.clone()),
                _ => m
                    .from_name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .or_else(|| contact_name.clone())
                    .or_else(|| m.from_address.clone())
                    .or_else(|| ticket.requester_name.clone())
                    .unwrap_or_else(|| company.clone()),
            };
            PortalMessage {
                id: m.id,
                kind: m.kind,
                author_name,
                body: m.body,
                attachments: m.attachments,
                created_at: m.created_at,
            }
        })
        .collect())
}

/// One message of the public thread of a ticket the contact may see.
pub async fn message(
    tx: &mut TenantTx,
    ticket: &Ticket,
    id: TicketMessageId,
) -> DomainResult<PortalMessage> {
    thread(tx, ticket)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or(DomainError::not_found("message"))
}

/// An attachment of a public message of a ticket the contact may see, and
/// where its bytes are; else not found.
pub async fn attachment(
    tx: &mut TenantTx,
    contact: &PortalContact,
    ticket: TicketId,
    id: AttachmentId,
) -> DomainResult<(Attachment, String)> {
    let ticket = visible(tx, contact, ticket).await?;
    let public = thread(tx, &ticket)
        .await?
        .iter()
        .any(|m| m.attachments.iter().any(|a| a.id == id));
    if !public {
        return Err(DomainError::not_found("attachment"));
    }
    tickets::attachment(tx, ticket.id, id).await
}

/// When a done ticket was done: the later of its resolution and closing.
pub fn done_at(t: &Ticket) -> Option<DateTime<Utc>> {
    t.resolved_at.max(t.closed_at)
}
