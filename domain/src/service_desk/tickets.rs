//! Tickets: what people ask of the MSP, with their replies, internal notes,
//! attachments and status history.
//!
//! Numbers are per tenant and gapless. With a random code they make the
//! subject token `[#number-CODE]` mail is threaded by; the code keeps the
//! token of one tenant's ticket 12 from matching another tenant's ticket 12.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{
    COUNT_CAP, Cursor, Page, PageRequest, SEARCH_COUNT_CAP, capped_count_sql,
};
use crate::kernel::text::{text_enum, truncate_chars};
use crate::kernel::validation::ValidationErrors;
use crate::service_desk::checklists::{self, ChecklistCounts};
use crate::service_desk::sla_clock::SlaState;
use crate::service_desk::threading::TicketToken;
use crate::{
    AttachmentId, ClientId, ContactId, DomainError, DomainResult, InboundId, MailId, MailboxId,
    TenantId, TenantTx, TicketId, TicketMessageId, UserId,
};

/// Most ids one bulk request may name.
pub const MAX_BULK: usize = 500;
const MAX_TAGS: usize = 20;

text_enum!(TicketStatus {
    New = "new",
    Open = "open",
    InProgress = "in_progress",
    /// Waiting for the client: by default this pauses the SLA clock.
    WaitingOnClient = "waiting_on_client",
    Resolved = "resolved",
    Closed = "closed",
});

impl TicketStatus {
    /// Resolved and closed tickets are done; the others are open work.
    pub fn is_done(self) -> bool {
        matches!(self, TicketStatus::Resolved | TicketStatus::Closed)
    }
}

pub use crate::kernel::priority::Priority;

text_enum!(TicketSource {
    Api = "api",
    Email = "email",
    /// A monitoring alert (`POST /api/v1/webhooks/rmm/{company}`).
    Rmm = "rmm",
    /// Opened by a client's contact in the client portal.
    Portal = "portal",
});

text_enum!(MessageKind {
    /// From the client, by mail or entered by staff for them.
    Incoming = "incoming",
    /// A public staff reply, mailed to the contact.
    Reply = "reply",
    /// An internal note, never mailed.
    Note = "note",
});

/// Where a ticket stands against its SLA policy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketSla {
    pub response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub response_state: Option<SlaState>,
    pub resolution_state: Option<SlaState>,
    /// The worse of the two; absent without a policy for the priority.
    pub state: Option<SlaState>,
    pub checked_at: Option<DateTime<Utc>>,
    /// The client's contract whose targets the ticket ran on at its last
    /// check; absent when they were the company's.
    pub contract_id: Option<crate::ContractId>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Ticket {
    pub id: TicketId,
    pub number: i64,
    /// `[#number-CODE]`: in the subject of every mail about the ticket.
    pub token: String,
    pub subject: String,
    pub client_id: Option<ClientId>,
    pub contact_id: Option<ContactId>,
    pub asset_id: Option<uuid::Uuid>,
    /// Who wrote, for mail from someone who is not a contact.
    pub requester_email: Option<String>,
    pub requester_name: Option<String>,
    pub status: TicketStatus,
    pub priority: Priority,
    pub assignee_id: Option<UserId>,
    pub source: TicketSource,
    pub tags: Vec<String>,
    pub mailbox_id: Option<MailboxId>,
    /// The closed ticket this one continues.
    pub linked_ticket_id: Option<TicketId>,
    /// The ticket this one was merged into (`POST /api/v1/tickets/{id}/merge`):
    /// this one is closed, its thread lives there.
    pub merged_into: Option<TicketId>,
    /// The project the ticket is linked to (`PUT /projects/{id}/tickets/{ticket_id}`).
    pub project_id: Option<crate::ProjectId>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub sla: TicketSla,
    /// Its checklist in numbers (`GET /api/v1/tickets/{id}/checklist` for
    /// the items).
    pub checklist: ChecklistCounts,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: TicketId,
    number: i64,
    token_code: String,
    subject: String,
    client_id: Option<ClientId>,
    contact_id: Option<ContactId>,
    asset_id: Option<uuid::Uuid>,
    requester_email: Option<String>,
    requester_name: Option<String>,
    status: String,
    priority: String,
    assignee_id: Option<UserId>,
    source: String,
    tags: Vec<String>,
    mailbox_id: Option<MailboxId>,
    linked_ticket_id: Option<TicketId>,
    merged_into: Option<TicketId>,
    project_id: Option<crate::ProjectId>,
    first_response_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    sla_response_due: Option<DateTime<Utc>>,
    sla_resolution_due: Option<DateTime<Utc>>,
    sla_response_state: Option<String>,
    sla_resolution_state: Option<String>,
    sla_state: Option<String>,
    sla_checked_at: Option<DateTime<Utc>>,
    sla_source: Option<String>,
    checklist_total: i32,
    checklist_done: i32,
    checklist_open_required: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub(crate) const COLUMNS: &str = "id, number, token_code, subject, client_id, contact_id, asset_id, \
    requester_email, requester_name, status, priority, assignee_id, source, tags, mailbox_id, \
    linked_ticket_id, merged_into, project_id, first_response_at, resolved_at, closed_at, sla_response_due, \
    sla_resolution_due, sla_response_state, sla_resolution_state, sla_state, sla_checked_at, \
    sla_source, checklist_total, checklist_done, checklist_open_required, created_at, updated_at";

/// The contract an SLA source (`contract:<id>:...`) names.
fn source_contract(source: &str) -> Option<crate::ContractId> {
    source
        .strip_prefix("contract:")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

impl From<Row> for Ticket {
    fn from(r: Row) -> Ticket {
        let token = TicketToken {
            number: r.number,
            code: r.token_code,
        }
        .render();
        let state = |s: Option<String>| s.as_deref().and_then(SlaState::parse);
        Ticket {
            id: r.id,
            number: r.number,
            token,
            subject: r.subject,
            client_id: r.client_id,
            contact_id: r.contact_id,
            asset_id: r.asset_id,
            requester_email: r.requester_email,
            requester_name: r.requester_name,
            status: TicketStatus::parse(&r.status).unwrap_or(TicketStatus::Open),
            priority: Priority::parse(&r.priority).unwrap_or(Priority::Medium),
            assignee_id: r.assignee_id,
            source: TicketSource::parse(&r.source).unwrap_or(TicketSource::Api),
            tags: r.tags,
            mailbox_id: r.mailbox_id,
            linked_ticket_id: r.linked_ticket_id,
            merged_into: r.merged_into,
            project_id: r.project_id,
            first_response_at: r.first_response_at,
            resolved_at: r.resolved_at,
            closed_at: r.closed_at,
            sla: TicketSla {
                response_due: r.sla_response_due,
                resolution_due: r.sla_resolution_due,
                response_state: state(r.sla_response_state),
                resolution_state: state(r.sla_resolution_state),
                state: state(r.sla_state),
                checked_at: r.sla_checked_at,
                contract_id: r.sla_source.as_deref().and_then(source_contract),
            },
            checklist: ChecklistCounts {
                total: r.checklist_total,
                done: r.checklist_done,
                open_required: r.checklist_open_required,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A ticket opened through the API.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    pub subject: String,
    pub client_id: Option<ClientId>,
    /// A contact of `client_id`.
    pub contact_id: Option<ContactId>,
    pub asset_id: Option<uuid::Uuid>,
    /// Default `medium`.
    pub priority: Option<Priority>,
    /// A tech or admin.
    pub assignee_id: Option<UserId>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The request itself, stored as the first (incoming) message.
    pub description: Option<String>,
}

/// A change to a ticket. Absent fields stay; `null` clears an optional one.
/// Status and assignee have their own endpoints.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<ClientId>)]
    pub client_id: Option<Option<ClientId>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<ContactId>)]
    pub contact_id: Option<Option<ContactId>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub asset_id: Option<Option<uuid::Uuid>>,
    pub priority: Option<Priority>,
    pub tags: Option<Vec<String>>,
}

/// Everything a new ticket is made of, from the API or from mail.
#[derive(Debug, Clone)]
pub struct TicketDraft {
    pub subject: String,
    pub client_id: Option<ClientId>,
    pub contact_id: Option<ContactId>,
    pub asset_id: Option<uuid::Uuid>,
    pub requester_email: Option<String>,
    pub requester_name: Option<String>,
    pub priority: Priority,
    pub assignee_id: Option<UserId>,
    pub source: TicketSource,
    pub tags: Vec<String>,
    pub mailbox_id: Option<MailboxId>,
    pub linked_ticket_id: Option<TicketId>,
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub statuses: Vec<TicketStatus>,
    pub priority: Option<Priority>,
    pub client_id: Option<ClientId>,
    pub assignee_id: Option<UserId>,
    /// Only tickets with no assignee.
    pub unassigned: bool,
    pub sla_state: Option<SlaState>,
    pub tag: Option<String>,
    /// Full-text search in the subject and the whole thread (incoming mail,
    /// replies and internal notes): one vector per ticket (migration
    /// `20261205000062`).
    pub q: Option<String>,
}

pub(crate) fn validate_tags(v: &mut ValidationErrors, tags: &[String]) -> Vec<String> {
    if tags.len() > MAX_TAGS {
        v.add("tags", "too_many", format!("at most {MAX_TAGS} tags"));
    }
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_lowercase();
        if t.is_empty() || t.chars().count() > 50 || t.chars().any(char::is_control) {
            v.add("tags", "invalid", "a tag is 1 to 50 printable characters");
            continue;
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

pub async fn get(tx: &mut TenantTx, id: TicketId) -> DomainResult<Ticket> {
    fetch(tx, id, "").await
}

/// Reads the ticket and locks it until the transaction ends.
pub async fn lock(tx: &mut TenantTx, id: TicketId) -> DomainResult<Ticket> {
    fetch(tx, id, "FOR UPDATE").await
}

async fn fetch(tx: &mut TenantTx, id: TicketId, suffix: &str) -> DomainResult<Ticket> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tickets WHERE company_id = $1 AND id = $2 {suffix}"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(Ticket::from)
        .ok_or(DomainError::not_found("ticket"))
}

/// The ticket a subject token names, in this tenant only.
pub async fn by_token(tx: &mut TenantTx, token: &TicketToken) -> DomainResult<Option<Ticket>> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tickets WHERE company_id = $1 AND number = $2 AND token_code = $3"
    )))
    .bind(tenant)
    .bind(token.number)
    .bind(&token.code)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(Ticket::from))
}

/// The ticket with this number, in this tenant only.
pub async fn by_number(tx: &mut TenantTx, number: i64) -> DomainResult<Option<Ticket>> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tickets WHERE company_id = $1 AND number = $2"
    )))
    .bind(tenant)
    .bind(number)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(Ticket::from))
}

/// Most merges [`follow_merges`] follows (a chain is never longer in
/// practice; the bound keeps a bad row from looping).
const MAX_MERGE_HOPS: usize = 32;

/// The ticket that holds `t`'s thread now: `t` itself, or the ticket it
/// was merged into, following chains (B into A, A into C: C).
pub async fn follow_merges(tx: &mut TenantTx, t: Ticket) -> DomainResult<Ticket> {
    let mut t = t;
    for _ in 0..MAX_MERGE_HOPS {
        let Some(next) = t.merged_into else {
            return Ok(t);
        };
        t = get(tx, next).await?;
    }
    Ok(t)
}

pub async fn list(
    tx: &mut TenantTx,
    f: &TicketFilter,
    page: &PageRequest,
) -> DomainResult<Page<Ticket>> {
    const FILTER: &str = "t.company_id = $1 \
        AND (cardinality($2::text[]) = 0 OR t.status = ANY($2)) \
        AND ($3::text IS NULL OR t.priority = $3) \
        AND ($4::uuid IS NULL OR t.client_id = $4) \
        AND ($5::uuid IS NULL OR t.assignee_id = $5) \
        AND (NOT $6 OR t.assignee_id IS NULL) \
        AND ($7::text IS NULL OR t.sla_state = $7) \
        AND ($8::text IS NULL OR $8 = ANY(t.tags)) \
        AND ($9::text IS NULL OR t.search @@ websearch_to_tsquery('simple', $9))";
    let tenant = tx.tenant();
    let statuses: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
    let priority = f.priority.map(Priority::as_str);
    let sla = f.sla_state.map(SlaState::as_str);
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM tickets t WHERE {FILTER} \
         AND ($10::uuid IS NULL OR t.id < $10) ORDER BY t.id DESC LIMIT $11"
    )))
    .bind(tenant)
    .bind(&statuses)
    .bind(priority)
    .bind(f.client_id)
    .bind(f.assignee_id)
    .bind(f.unassigned)
    .bind(sla)
    .bind(&f.tag)
    .bind(&f.q)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let cap = if f.q.is_some() {
        SEARCH_COUNT_CAP
    } else {
        COUNT_CAP
    };
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(capped_count_sql(
        &format!("tickets t WHERE {FILTER}"),
        cap,
    )))
    .bind(tenant)
    .bind(&statuses)
    .bind(priority)
    .bind(f.client_id)
    .bind(f.assignee_id)
    .bind(f.unassigned)
    .bind(sla)
    .bind(&f.tag)
    .bind(&f.q)
    .fetch_one(tx.conn())
    .await?;
    let tickets = rows.into_iter().map(Ticket::from).collect();
    Ok(Page::from_rows(tickets, page, total, |t: &Ticket| Cursor {
        key: String::new(),
        id: t.id.as_uuid(),
    })
    .capped(cap))
}

/// Checks that the client exists here and the contact belongs to it.
/// The client, contact and asset a ticket names must be this tenant's, the
/// contact and the asset the client's own.
pub(crate) async fn check_parties(
    tx: &mut TenantTx,
    v: &mut ValidationErrors,
    client: Option<ClientId>,
    contact: Option<ContactId>,
    asset: Option<uuid::Uuid>,
) -> DomainResult<()> {
    let tenant = tx.tenant();
    if let Some(c) = client {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM clients WHERE company_id = $1 AND id = $2")
                .bind(tenant)
                .bind(c)
                .fetch_optional(tx.conn())
                .await?;
        if found.is_none() {
            v.add("client_id", "not_found", "no such client");
        }
    }
    if let Some(k) = contact {
        let owner = client_of(tx, "contacts", k.as_uuid()).await?;
        check_owner(v, "contact_id", "contact", owner, client);
    }
    if let Some(a) = asset {
        let owner = client_of(tx, "assets", a).await?;
        check_owner(v, "asset_id", "asset", owner, client);
    }
    Ok(())
}

/// The client a row of `table` (contacts or assets) of this tenant belongs to.
async fn client_of(
    tx: &mut TenantTx,
    table: &'static str,
    id: uuid::Uuid,
) -> DomainResult<Option<ClientId>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT client_id FROM {table} WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?)
}

/// A contact or asset (`what`) named in `field` exists and is `client`'s.
fn check_owner(
    v: &mut ValidationErrors,
    field: &str,
    what: &str,
    owner: Option<ClientId>,
    client: Option<ClientId>,
) {
    match (owner, client) {
        (None, _) => v.add(field, "not_found", format!("no such {what}")),
        (Some(_), None) => v.add(
            field,
            "requires_client",
            format!("a {what} needs the client it belongs to"),
        ),
        (Some(o), Some(c)) if o != c => v.add(
            field,
            "other_client",
            format!("the {what} belongs to another client"),
        ),
        _ => {}
    }
}

/// Opens a ticket through the API, its description as the first message.
pub async fn create(
    tx: &mut TenantTx,
    new: NewTicket,
    author: Option<UserId>,
) -> DomainResult<Ticket> {
    let mut v = ValidationErrors::new();
    let subject = v.required_text("subject", &new.subject, 300);
    let description = v.optional_text("description", new.description.as_deref(), 100_000);
    let tags = validate_tags(&mut v, &new.tags);
    check_parties(tx, &mut v, new.client_id, new.contact_id, new.asset_id).await?;
    v.finish()?;
    if let Some(a) = new.assignee_id {
        crate::identity::users::check_staff(tx, a, "assignee_id").await?;
    }
    let ticket = insert(
        tx,
        TicketDraft {
            subject,
            client_id: new.client_id,
            contact_id: new.contact_id,
            asset_id: new.asset_id,
            requester_email: None,
            requester_name: None,
            priority: new.priority.unwrap_or(Priority::Medium),
            assignee_id: new.assignee_id,
            source: TicketSource::Api,
            tags,
            mailbox_id: None,
            linked_ticket_id: None,
        },
        author,
    )
    .await?;
    if let Some(body) = description {
        add_message(
            tx,
            &ticket,
            NewMessageRecord {
                kind: MessageKind::Incoming,
                author_id: author,
                from_address: None,
                from_name: None,
                body: body.clone(),
                full_body: body,
                message_id: None,
                inbound_id: None,
                mail_id: None,
                automated: None,
            },
        )
        .await?;
    }
    Ok(ticket)
}

/// Stores a new ticket with its number and token, status `new`: number,
/// ticket and first status change in one statement (mail ingestion makes
/// many in a row).
pub async fn insert(
    tx: &mut TenantTx,
    d: TicketDraft,
    author: Option<UserId>,
) -> DomainResult<Ticket> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let id = TicketId::new();
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH n AS (INSERT INTO number_sequences (company_id, kind, scope, last_value) \
                    VALUES ($2, 'ticket', '', 1) ON CONFLICT (company_id, kind, scope) \
                    DO UPDATE SET last_value = number_sequences.last_value + 1 RETURNING last_value), \
         t AS (INSERT INTO tickets (id, company_id, number, token_code, subject, client_id, contact_id, \
               asset_id, requester_email, requester_name, status, priority, assignee_id, source, tags, \
               mailbox_id, linked_ticket_id, created_at, updated_at) \
               SELECT $1, $2, n.last_value, $3, $4, $5, $6, $7, $8, $9, 'new', $10, $11, $12, $13, $14, \
               $15, $16, $16 FROM n RETURNING {COLUMNS}), \
         s AS (INSERT INTO ticket_status_changes (company_id, ticket_id, from_status, to_status, user_id, at) \
               SELECT $2, t.id, NULL, 'new', $17, $16 FROM t) \
         SELECT {COLUMNS} FROM t"
    )))
    .bind(id)
    .bind(tenant)
    .bind(crate::service_desk::threading::new_token_code())
    .bind(truncate_chars(&d.subject, 300))
    .bind(d.client_id)
    .bind(d.contact_id)
    .bind(d.asset_id)
    .bind(&d.requester_email)
    .bind(&d.requester_name)
    .bind(d.priority.as_str())
    .bind(d.assignee_id)
    .bind(d.source.as_str())
    .bind(&d.tags)
    .bind(d.mailbox_id)
    .bind(d.linked_ticket_id)
    .bind(now)
    .bind(author)
    .fetch_one(tx.conn())
    .await?;
    let ticket: Ticket = row.into();
    crate::kernel::events::emit(
        tx,
        crate::kernel::events::TICKET_CREATED,
        Some(ticket.id.as_uuid()),
        &ticket,
    )
    .await?;
    Ok(ticket)
}

pub async fn update(tx: &mut TenantTx, id: TicketId, patch: TicketPatch) -> DomainResult<Ticket> {
    let current = lock(tx, id).await?;
    let mut v = ValidationErrors::new();
    let subject = match &patch.subject {
        Some(s) => v.required_text("subject", s, 300),
        None => current.subject.clone(),
    };
    let tags = match &patch.tags {
        Some(t) => validate_tags(&mut v, t),
        None => current.tags.clone(),
    };
    let client = patch.client_id.unwrap_or(current.client_id);
    // A new client without a new contact drops a contact of the old one.
    let contact = match patch.contact_id {
        Some(c) => c,
        None if client != current.client_id => None,
        None => current.contact_id,
    };
    // Likewise an asset.
    let asset = match patch.asset_id {
        Some(a) => a,
        None if client != current.client_id => None,
        None => current.asset_id,
    };
    check_parties(tx, &mut v, client, contact, asset).await?;
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE tickets SET subject = $3, client_id = $4, contact_id = $5, asset_id = $6, priority = $7, \
         tags = $8, updated_at = $9 WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(subject)
    .bind(client)
    .bind(contact)
    .bind(asset)
    .bind(patch.priority.unwrap_or(current.priority).as_str())
    .bind(&tags)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok(row.into())
}

pub async fn delete(tx: &mut TenantTx, id: TicketId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done = sqlx::query("DELETE FROM tickets WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("ticket"));
    }
    Ok(())
}

/// Assigns the ticket (or unassigns it with `None`). Returns the ticket and
/// whether the assignee changed.
pub async fn assign(
    tx: &mut TenantTx,
    id: TicketId,
    assignee: Option<UserId>,
) -> DomainResult<(Ticket, bool)> {
    if let Some(a) = assignee {
        crate::identity::users::check_staff(tx, a, "assignee_id").await?;
    }
    let current = lock(tx, id).await?;
    if current.assignee_id == assignee {
        return Ok((current, false));
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE tickets SET assignee_id = $3, updated_at = $4 WHERE company_id = $1 AND id = $2 \
         RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(assignee)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok((row.into(), true))
}

/// Moves the ticket to `status`, recording the change; resolving and
/// closing stamp their times, reopening clears them. No-op if unchanged.
///
/// A staff `user` cannot resolve or close a ticket with required checklist
/// items open (`checklist_open`, see [`checklists`]); without a user (a
/// contact in the portal, a monitoring alert that cleared) the change is
/// not blocked.
///
/// A merged ticket stays closed: any other status is 409 `ticket_merged`.
pub async fn set_status(
    tx: &mut TenantTx,
    id: TicketId,
    status: TicketStatus,
    user: Option<UserId>,
) -> DomainResult<Ticket> {
    change_status(tx, id, status, user, true).await
}

/// [`set_status`], the checklist rule applied only when `checklist`
/// (a merge closes the merged ticket whatever its checklist says).
pub(crate) async fn change_status(
    tx: &mut TenantTx,
    id: TicketId,
    status: TicketStatus,
    user: Option<UserId>,
    checklist: bool,
) -> DomainResult<Ticket> {
    let current = lock(tx, id).await?;
    if current.status == status {
        return Ok(current);
    }
    refuse_merged(&current, status)?;
    if checklist && status.is_done() && user.is_some() && current.checklist.open_required > 0 {
        checklists::check_closable(tx, id).await?;
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE tickets SET status = $3, \
         resolved_at = CASE WHEN $3 = 'resolved' THEN $4 WHEN $3 = 'closed' THEN COALESCE(resolved_at, $4) END, \
         closed_at = CASE WHEN $3 = 'closed' THEN $4 END, \
         updated_at = $4 WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(status.as_str())
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    record_status(tx, id, Some(current.status), status, user).await?;
    let ticket: Ticket = row.into();
    if crate::kernel::events::wanted(tx, crate::kernel::events::TICKET_STATUS_CHANGED).await? {
        let mut payload = serde_json::to_value(&ticket).unwrap_or_default();
        if let Some(o) = payload.as_object_mut() {
            o.insert("previous_status".into(), current.status.as_str().into());
        }
        crate::kernel::events::emit(
            tx,
            crate::kernel::events::TICKET_STATUS_CHANGED,
            Some(id.as_uuid()),
            &payload,
        )
        .await?;
    }
    Ok(ticket)
}

/// A merged ticket takes no status but closed: 409 `ticket_merged`.
fn refuse_merged(t: &Ticket, status: TicketStatus) -> DomainResult<()> {
    match t.merged_into {
        Some(_) if status != TicketStatus::Closed => Err(DomainError::conflict(
            "ticket_merged",
            "the ticket was merged into another one and stays closed; work on that one",
        )),
        _ => Ok(()),
    }
}

/// The id of the ticket's latest status change (its history's newest
/// entry), if it ever had one.
pub async fn last_status_change(tx: &mut TenantTx, id: TicketId) -> DomainResult<Option<i64>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_scalar(
        "SELECT id FROM ticket_status_changes WHERE company_id = $1 AND ticket_id = $2 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?)
}

async fn record_status(
    tx: &mut TenantTx,
    id: TicketId,
    from: Option<TicketStatus>,
    to: TicketStatus,
    user: Option<UserId>,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO ticket_status_changes (company_id, ticket_id, from_status, to_status, user_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant)
    .bind(id)
    .bind(from.map(TicketStatus::as_str))
    .bind(to.as_str())
    .bind(user)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// One status change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub from: Option<TicketStatus>,
    pub to: TicketStatus,
    pub user_id: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// A ticket's status history, oldest first.
pub async fn status_history(tx: &mut TenantTx, id: TicketId) -> DomainResult<Vec<StatusChange>> {
    let tenant = tx.tenant();
    type ChangeRow = (Option<String>, String, Option<UserId>, DateTime<Utc>);
    let rows: Vec<ChangeRow> = sqlx::query_as(
        "SELECT from_status, to_status, user_id, at FROM ticket_status_changes \
         WHERE company_id = $1 AND ticket_id = $2 ORDER BY at, id",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(from, to, user_id, at)| {
            Some(StatusChange {
                from: from.as_deref().and_then(TicketStatus::parse),
                to: TicketStatus::parse(&to)?,
                user_id,
                at,
            })
        })
        .collect())
}

/// Checks that every id names a ticket of this tenant; the unknown ones are
/// reported as one validation error.
async fn check_bulk(tx: &mut TenantTx, ids: &[TicketId]) -> DomainResult<()> {
    let mut v = ValidationErrors::new();
    if ids.is_empty() || ids.len() > MAX_BULK {
        v.add(
            "ids",
            "out_of_range",
            format!("give 1 to {MAX_BULK} ticket ids"),
        );
        return v.finish();
    }
    let tenant = tx.tenant();
    let found: Vec<TicketId> =
        sqlx::query_scalar("SELECT id FROM tickets WHERE company_id = $1 AND id = ANY($2)")
            .bind(tenant)
            .bind(ids)
            .fetch_all(tx.conn())
            .await?;
    let missing: Vec<String> = ids
        .iter()
        .filter(|i| !found.contains(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        v.add(
            "ids",
            "not_found",
            format!("no such tickets: {}", missing.join(", ")),
        );
    }
    v.finish()
}

/// Assigns many tickets at once, all or none. Returns those whose assignee changed.
pub async fn bulk_assign(
    tx: &mut TenantTx,
    ids: &[TicketId],
    assignee: Option<UserId>,
) -> DomainResult<Vec<Ticket>> {
    check_bulk(tx, ids).await?;
    let mut changed = Vec::new();
    for id in dedup(ids) {
        let (t, did) = assign(tx, id, assignee).await?;
        if did {
            changed.push(t);
        }
    }
    Ok(changed)
}

/// Sets the status of many tickets at once, all or none. Returns those
/// whose status changed.
pub async fn bulk_status(
    tx: &mut TenantTx,
    ids: &[TicketId],
    status: TicketStatus,
    user: Option<UserId>,
) -> DomainResult<Vec<Ticket>> {
    check_bulk(tx, ids).await?;
    let mut changed = Vec::new();
    for id in dedup(ids) {
        if lock(tx, id).await?.status != status {
            changed.push(set_status(tx, id, status, user).await?);
        }
    }
    Ok(changed)
}

/// The ids in order, each once; sorted so concurrent bulk requests lock in
/// the same order.
fn dedup(ids: &[TicketId]) -> Vec<TicketId> {
    let mut v = ids.to_vec();
    v.sort();
    v.dedup();
    v
}

// ---- messages ----

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub id: AttachmentId,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketMessage {
    pub id: TicketMessageId,
    pub kind: MessageKind,
    pub author_id: Option<UserId>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    /// The new text; quoted history removed from mail.
    pub body: String,
    /// Everything, quoted history included.
    pub full_body: String,
    pub message_id: Option<String>,
    /// For replies, the outbound mail (`GET /api/v1/mail/{id}`).
    pub mail_id: Option<MailId>,
    /// Why an incoming message was not answered (auto-reply, bounce).
    pub automated: Option<String>,
    pub attachments: Vec<Attachment>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: TicketMessageId,
    kind: String,
    author_id: Option<UserId>,
    from_address: Option<String>,
    from_name: Option<String>,
    body: String,
    full_body: String,
    message_id: Option<String>,
    mail_id: Option<MailId>,
    automated: Option<String>,
    created_at: DateTime<Utc>,
}

const MESSAGE_COLUMNS: &str = "id, kind, author_id, from_address, from_name, body, full_body, \
    message_id, mail_id, automated, created_at";

impl MessageRow {
    fn into_message(self, attachments: Vec<Attachment>) -> TicketMessage {
        TicketMessage {
            id: self.id,
            kind: MessageKind::parse(&self.kind).unwrap_or(MessageKind::Note),
            author_id: self.author_id,
            from_address: self.from_address,
            from_name: self.from_name,
            body: self.body,
            full_body: self.full_body,
            message_id: self.message_id,
            mail_id: self.mail_id,
            automated: self.automated,
            attachments,
            created_at: self.created_at,
        }
    }
}

/// A message to store on a ticket.
#[derive(Debug, Clone)]
pub struct NewMessageRecord {
    pub kind: MessageKind,
    pub author_id: Option<UserId>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub body: String,
    pub full_body: String,
    pub message_id: Option<String>,
    pub inbound_id: Option<InboundId>,
    pub mail_id: Option<MailId>,
    pub automated: Option<String>,
}

/// Stores a message on `ticket` and applies what it means for the ticket:
/// the first public reply is the first response (and a new ticket becomes
/// open); a client's message reopens a resolved ticket and ends a wait on
/// the client.
pub async fn add_message(
    tx: &mut TenantTx,
    ticket: &Ticket,
    m: NewMessageRecord,
) -> DomainResult<TicketMessageId> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let id = TicketMessageId::new();
    sqlx::query(
        "INSERT INTO ticket_messages (id, company_id, ticket_id, kind, author_id, from_address, from_name, \
         body, full_body, message_id, inbound_id, mail_id, automated, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(id)
    .bind(tenant)
    .bind(ticket.id)
    .bind(m.kind.as_str())
    .bind(m.author_id)
    .bind(&m.from_address)
    .bind(&m.from_name)
    .bind(&m.body)
    .bind(&m.full_body)
    .bind(&m.message_id)
    .bind(m.inbound_id)
    .bind(m.mail_id)
    .bind(&m.automated)
    .bind(now)
    .execute(tx.conn())
    .await?;
    if m.kind != MessageKind::Note && m.automated.is_none() {
        crate::kernel::events::emit(
            tx,
            crate::kernel::events::TICKET_REPLIED,
            Some(ticket.id.as_uuid()),
            &serde_json::json!({
                "ticket_id": ticket.id,
                "ticket_number": ticket.token,
                "subject": ticket.subject,
                "message": {
                    "id": id,
                    "kind": m.kind,
                    "author_id": m.author_id,
                    "from_address": m.from_address,
                    "from_name": m.from_name,
                    "body": m.body,
                    "created_at": now,
                },
            }),
        )
        .await?;
    }
    match m.kind {
        MessageKind::Reply => {
            sqlx::query(
                "UPDATE tickets SET first_response_at = COALESCE(first_response_at, $3), updated_at = $3 \
                 WHERE company_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(ticket.id)
            .bind(now)
            .execute(tx.conn())
            .await?;
            if ticket.status == TicketStatus::New {
                set_status(tx, ticket.id, TicketStatus::Open, m.author_id).await?;
            }
        }
        MessageKind::Incoming if m.automated.is_none() => {
            if matches!(
                ticket.status,
                TicketStatus::Resolved | TicketStatus::WaitingOnClient | TicketStatus::Closed
            ) {
                set_status(tx, ticket.id, TicketStatus::Open, None).await?;
            } else {
                touch(tx, ticket).await?;
            }
        }
        _ => touch(tx, ticket).await?,
    }
    Ok(id)
}

async fn touch(tx: &mut TenantTx, ticket: &Ticket) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    // Written in this transaction already (PostgreSQL keeps microseconds).
    if ticket.updated_at.timestamp_micros() == now.timestamp_micros() {
        return Ok(());
    }
    let id = ticket.id;
    sqlx::query("UPDATE tickets SET updated_at = $3 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// A ticket's messages with their attachments, oldest first.
pub async fn messages(tx: &mut TenantTx, ticket: TicketId) -> DomainResult<Vec<TicketMessage>> {
    read_messages(tx, ticket, None).await
}

/// One message of a ticket with its attachments.
pub async fn message(
    tx: &mut TenantTx,
    ticket: TicketId,
    id: TicketMessageId,
) -> DomainResult<TicketMessage> {
    read_messages(tx, ticket, Some(id))
        .await?
        .pop()
        .ok_or(DomainError::not_found("message"))
}

/// The message that carries outbound mail `mail`, if any.
pub async fn message_of_mail(
    tx: &mut TenantTx,
    ticket: TicketId,
    mail: MailId,
) -> DomainResult<Option<TicketMessageId>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_scalar(
        "SELECT id FROM ticket_messages WHERE company_id = $1 AND ticket_id = $2 AND mail_id = $3",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(mail)
    .fetch_optional(tx.conn())
    .await?)
}

/// The messages of `ticket` (or just `only`), with their attachments.
async fn read_messages(
    tx: &mut TenantTx,
    ticket: TicketId,
    only: Option<TicketMessageId>,
) -> DomainResult<Vec<TicketMessage>> {
    let tenant = tx.tenant();
    let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM ticket_messages WHERE company_id = $1 AND ticket_id = $2 \
         AND ($3::uuid IS NULL OR id = $3) ORDER BY created_at, id"
    )))
    .bind(tenant)
    .bind(ticket)
    .bind(only)
    .fetch_all(tx.conn())
    .await?;
    let files: Vec<(TicketMessageId, AttachmentId, String, String, i64)> = sqlx::query_as(
        "SELECT message_id, id, filename, content_type, size_bytes FROM ticket_attachments \
         WHERE company_id = $1 AND ticket_id = $2 AND ($3::uuid IS NULL OR message_id = $3) \
         ORDER BY created_at, id",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(only)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mine = files
                .iter()
                .filter(|f| f.0 == r.id)
                .map(|f| Attachment {
                    id: f.1,
                    filename: f.2.clone(),
                    content_type: f.3.clone(),
                    size_bytes: f.4,
                })
                .collect();
            r.into_message(mine)
        })
        .collect())
}

/// Every Message-ID on the ticket, oldest first: a reply's `References`.
pub async fn message_ids(tx: &mut TenantTx, ticket: TicketId) -> DomainResult<Vec<String>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_scalar(
        "SELECT message_id FROM ticket_messages WHERE company_id = $1 AND ticket_id = $2 \
         AND message_id IS NOT NULL ORDER BY created_at, id",
    )
    .bind(tenant)
    .bind(ticket)
    .fetch_all(tx.conn())
    .await?)
}

/// The ticket holding a message with this Message-ID (incoming or ours).
pub async fn by_message_id(tx: &mut TenantTx, message_id: &str) -> DomainResult<Option<TicketId>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_scalar(
        "SELECT ticket_id FROM ticket_messages WHERE company_id = $1 AND message_id = $2 \
         ORDER BY created_at LIMIT 1",
    )
    .bind(tenant)
    .bind(message_id)
    .fetch_optional(tx.conn())
    .await?)
}

/// Records a stored attachment of a message.
pub async fn add_attachment(
    tx: &mut TenantTx,
    ticket: TicketId,
    message: TicketMessageId,
    filename: &str,
    content_type: &str,
    size: i64,
    object_key: &str,
) -> DomainResult<AttachmentId> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let id = AttachmentId::new();
    sqlx::query(
        "INSERT INTO ticket_attachments (id, company_id, ticket_id, message_id, filename, content_type, \
         size_bytes, object_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(tenant)
    .bind(ticket)
    .bind(message)
    .bind(filename)
    .bind(content_type)
    .bind(size)
    .bind(object_key)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// Most files one message may carry.
pub const MAX_ATTACHMENTS: usize = 10;
/// The content type of a file that names none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// At most [`MAX_ATTACHMENTS`] files to a message (an error in `v` when
/// `count` is more).
pub fn check_attachment_count(v: &mut ValidationErrors, count: usize) {
    if count > MAX_ATTACHMENTS {
        v.add(
            "attachments",
            "too_many",
            format!("at most {MAX_ATTACHMENTS} attachments"),
        );
    }
}

/// An attachment's file name as given, trimmed: 1 to 200 characters,
/// without path separators or control characters (else `None`, and an
/// error in `v` under `field`).
pub fn attachment_filename(v: &mut ValidationErrors, field: &str, name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > 200
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        v.add(
            field,
            "invalid",
            "filename must be 1 to 200 characters, without path separators",
        );
        return None;
    }
    Some(name.to_owned())
}

/// An attachment's content type as given, [`DEFAULT_CONTENT_TYPE`] when
/// it names none.
pub fn attachment_content_type(given: Option<&str>) -> String {
    given
        .filter(|c| !c.trim().is_empty())
        .unwrap_or(DEFAULT_CONTENT_TYPE)
        .to_owned()
}

/// Where the bytes of a ticket's attachment are kept in the object store:
/// named by their content, so storing the same file again (a retried
/// request, a message read twice) writes the same object.
pub fn attachment_key(tenant: TenantId, ticket: TicketId, filename: &str, bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(bytes));
    crate::kernel::files::Files::key(
        tenant,
        &format!("tickets/{ticket}/{}/{filename}", &digest[..16]),
    )
}

/// An attachment of a ticket: its metadata and where the bytes are.
pub async fn attachment(
    tx: &mut TenantTx,
    ticket: TicketId,
    id: AttachmentId,
) -> DomainResult<(Attachment, String)> {
    let tenant = tx.tenant();
    let row: Option<(String, String, i64, String)> = sqlx::query_as(
        "SELECT filename, content_type, size_bytes, object_key FROM ticket_attachments \
         WHERE company_id = $1 AND ticket_id = $2 AND id = $3",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let (filename, content_type, size_bytes, key) =
        row.ok_or(DomainError::not_found("attachment"))?;
    Ok((
        Attachment {
            id,
            filename,
            content_type,
            size_bytes,
        },
        key,
    ))
}

/// Where a public reply goes: the contact's address, else the requester's.
pub async fn reply_address(tx: &mut TenantTx, t: &Ticket) -> DomainResult<Option<String>> {
    if let Some(contact) = t.contact_id {
        let tenant = tx.tenant();
        let email: Option<Option<String>> =
            sqlx::query_scalar("SELECT email FROM contacts WHERE company_id = $1 AND id = $2")
                .bind(tenant)
                .bind(contact)
                .fetch_optional(tx.conn())
                .await?;
        if let Some(Some(e)) = email {
            return Ok(Some(e));
        }
    }
    Ok(t.requester_email.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        for s in TicketStatus::ALL {
            assert_eq!(TicketStatus::parse(s.as_str()), Some(*s));
        }
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(*p));
        }
        assert!(TicketStatus::Closed.is_done());
        assert!(!TicketStatus::WaitingOnClient.is_done());
    }

    #[test]
    fn tags_are_trimmed_lowercased_and_unique() {
        let mut v = ValidationErrors::new();
        let t = validate_tags(&mut v, &[" VPN ".into(), "vpn".into(), "urgent".into()]);
        assert!(v.is_empty());
        assert_eq!(t, vec!["vpn".to_string(), "urgent".to_string()]);
        validate_tags(&mut v, &["".into()]);
        assert!(!v.is_empty());
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate_chars("żółw", 2), "żó");
        assert_eq!(truncate_chars("ab", 5), "ab");
    }
}
