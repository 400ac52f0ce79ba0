//! Checklists on tickets: tasks with done/undone, who and when. A ticket
//! keeps its checklist's counts beside it (`Ticket::checklist`), written
//! with every change of its items here.
//!
//! The rule: staff cannot resolve or close a ticket while a required item
//! is open. It is checked in one place, [`check_closable`], which
//! `tickets::set_status` calls for every change made by a staff user (the
//! API, bulk status, the console). A client's contact closing their own
//! ticket in the portal, and a monitoring alert resolving its ticket when
//! it clears, are not blocked: those are not the staff's word that the
//! work is done.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::validation::ValidationErrors;
use crate::{ChecklistItemId, DomainError, DomainResult, TenantTx, TicketId, UserId};

/// Most items one checklist (of a ticket or a template) may hold.
pub const MAX_ITEMS: usize = 100;
/// Longest item text, in characters.
pub const MAX_TEXT: usize = 500;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ChecklistItem {
    pub id: ChecklistItemId,
    pub text: String,
    /// A required item must be done before staff resolve or close the ticket.
    pub required: bool,
    pub done: bool,
    /// Who ticked it off; absent while open.
    pub done_by: Option<UserId>,
    pub done_at: Option<DateTime<Utc>>,
    /// 1-based order in the checklist.
    pub position: i32,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, text, required, done, done_by, done_at, position, created_at";

/// A ticket's checklist in numbers.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, ToSchema)]
pub struct ChecklistCounts {
    pub total: i32,
    pub done: i32,
    /// Required items not done: while above 0, staff cannot resolve or
    /// close the ticket.
    pub open_required: i32,
}

/// A required item not done yet, as a `checklist_open` error lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct OpenItem {
    pub ticket_id: TicketId,
    pub id: ChecklistItemId,
    pub text: String,
}

/// An item of a checklist: of a template, or to add to a ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NewChecklistItem {
    /// 1 to 500 characters.
    pub text: String,
    /// Default `false`.
    #[serde(default)]
    pub required: bool,
}

/// A change to an item. Absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistItemPatch {
    pub text: Option<String>,
    pub required: Option<bool>,
    /// `true` ticks the item off as the caller, now; `false` opens it again.
    pub done: Option<bool>,
}

/// Checks a checklist's items under `field` (`checklist`), trimmed.
pub fn validate_items(
    v: &mut ValidationErrors,
    field: &str,
    items: &[NewChecklistItem],
) -> Vec<NewChecklistItem> {
    if items.len() > MAX_ITEMS {
        v.add(
            field,
            "too_many",
            format!("at most {MAX_ITEMS} checklist items"),
        );
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| NewChecklistItem {
            text: v.required_text(&format!("{field}[{i}].text"), &item.text, MAX_TEXT),
            required: item.required,
        })
        .collect()
}

/// The ticket's items, in order.
pub async fn list(tx: &mut TenantTx, ticket: TicketId) -> DomainResult<Vec<ChecklistItem>> {
    crate::service_desk::tickets::get(tx, ticket).await?;
    read(tx, ticket).await
}

async fn read(tx: &mut TenantTx, ticket: TicketId) -> DomainResult<Vec<ChecklistItem>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM ticket_checklist_items WHERE company_id = $1 AND ticket_id = $2 \
         ORDER BY position, id"
    )))
    .bind(tenant)
    .bind(ticket)
    .fetch_all(tx.conn())
    .await?)
}

/// Adds an item at the end of the ticket's checklist.
pub async fn add(
    tx: &mut TenantTx,
    ticket: TicketId,
    new: NewChecklistItem,
) -> DomainResult<ChecklistItem> {
    let mut v = ValidationErrors::new();
    let text = v.required_text("text", &new.text, MAX_TEXT);
    v.finish()?;
    let mut added = append(tx, ticket, &[NewChecklistItem { text, ..new }]).await?;
    added
        .pop()
        .ok_or_else(|| DomainError::Internal("checklist item not added".into()))
}

/// Appends checked `items` to the ticket's checklist (locking the ticket),
/// at most [`MAX_ITEMS`] in all.
pub async fn append(
    tx: &mut TenantTx,
    ticket: TicketId,
    items: &[NewChecklistItem],
) -> DomainResult<Vec<ChecklistItem>> {
    let current = crate::service_desk::tickets::lock(tx, ticket).await?;
    if current.checklist.total as usize + items.len() > MAX_ITEMS {
        let mut v = ValidationErrors::new();
        v.add(
            "text",
            "too_many",
            format!("a checklist holds at most {MAX_ITEMS} items"),
        );
        v.finish()?;
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let row: ChecklistItem = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO ticket_checklist_items (id, company_id, ticket_id, text, required, position, created_at) \
             SELECT $1, $2, $3, $4, $5, COALESCE(max(position), 0) + 1, $6 FROM ticket_checklist_items \
             WHERE company_id = $2 AND ticket_id = $3 RETURNING {COLUMNS}"
        )))
        .bind(ChecklistItemId::new())
        .bind(tenant)
        .bind(ticket)
        .bind(&item.text)
        .bind(item.required)
        .bind(now)
        .fetch_one(tx.conn())
        .await?;
        out.push(row);
    }
    recount(tx, ticket).await?;
    Ok(out)
}

/// Changes an item's text, required flag or done state; ticking it off
/// records `user` and the time.
pub async fn update(
    tx: &mut TenantTx,
    ticket: TicketId,
    id: ChecklistItemId,
    patch: ChecklistItemPatch,
    user: Option<UserId>,
) -> DomainResult<ChecklistItem> {
    crate::service_desk::tickets::lock(tx, ticket).await?;
    let current = item(tx, ticket, id).await?;
    let mut v = ValidationErrors::new();
    let text = match &patch.text {
        Some(t) => v.required_text("text", t, MAX_TEXT),
        None => current.text.clone(),
    };
    v.finish()?;
    let (done, done_by, done_at) = match patch.done {
        Some(true) if !current.done => (true, user, Some(tx.now())),
        Some(false) => (false, None, None),
        _ => (current.done, current.done_by, current.done_at),
    };
    let tenant = tx.tenant();
    let row: ChecklistItem = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE ticket_checklist_items SET text = $4, required = $5, done = $6, done_by = $7, \
         done_at = $8 WHERE company_id = $1 AND ticket_id = $2 AND id = $3 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(ticket)
    .bind(id)
    .bind(text)
    .bind(patch.required.unwrap_or(current.required))
    .bind(done)
    .bind(done_by)
    .bind(done_at)
    .fetch_one(tx.conn())
    .await?;
    recount(tx, ticket).await?;
    Ok(row)
}

/// Removes an item; the others keep their order.
pub async fn delete(
    tx: &mut TenantTx,
    ticket: TicketId,
    id: ChecklistItemId,
) -> DomainResult<ChecklistItem> {
    crate::service_desk::tickets::lock(tx, ticket).await?;
    let current = item(tx, ticket, id).await?;
    let tenant = tx.tenant();
    sqlx::query(
        "DELETE FROM ticket_checklist_items WHERE company_id = $1 AND ticket_id = $2 AND id = $3",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(id)
    .execute(tx.conn())
    .await?;
    recount(tx, ticket).await?;
    Ok(current)
}

async fn item(
    tx: &mut TenantTx,
    ticket: TicketId,
    id: ChecklistItemId,
) -> DomainResult<ChecklistItem> {
    let tenant = tx.tenant();
    let row: Option<ChecklistItem> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM ticket_checklist_items WHERE company_id = $1 AND ticket_id = $2 AND id = $3"
    )))
    .bind(tenant)
    .bind(ticket)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("checklist item"))
}

/// Writes the ticket's checklist counts from its items.
async fn recount(tx: &mut TenantTx, ticket: TicketId) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE tickets t SET checklist_total = c.total, checklist_done = c.done, \
         checklist_open_required = c.open_required, updated_at = $3 \
         FROM (SELECT count(*)::int AS total, count(*) FILTER (WHERE done)::int AS done, \
                      count(*) FILTER (WHERE required AND NOT done)::int AS open_required \
               FROM ticket_checklist_items WHERE company_id = $1 AND ticket_id = $2) c \
         WHERE t.company_id = $1 AND t.id = $2",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// `checklist_open` (409) while the ticket has required items not done,
/// listing them in the error's `details.open_items`.
pub async fn check_closable(tx: &mut TenantTx, ticket: TicketId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let open: Vec<OpenItem> = sqlx::query_as(
        "SELECT ticket_id, id, text FROM ticket_checklist_items \
         WHERE company_id = $1 AND ticket_id = $2 AND required AND NOT done ORDER BY position, id",
    )
    .bind(tenant)
    .bind(ticket)
    .fetch_all(tx.conn())
    .await?;
    if open.is_empty() {
        return Ok(());
    }
    Err(DomainError::conflict_with(
        "checklist_open",
        format!(
            "the ticket has {} required checklist item(s) not done",
            open.len()
        ),
        serde_json::json!({ "open_items": open }),
    ))
}
