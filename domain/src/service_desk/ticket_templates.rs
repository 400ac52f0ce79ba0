//! Ticket templates: what a ticket starts with (subject, description,
//! priority, tags and a checklist), per company. A ticket is opened from
//! one in one call, and recurring tickets open them on a schedule.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::error::OnConstraint;
use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::validation::ValidationErrors;
use crate::service_desk::checklists::{self, NewChecklistItem};
use crate::service_desk::tickets::{self, NewTicket, Priority, Ticket, validate_tags};
use crate::{ClientId, ContactId, DomainError, DomainResult, TenantTx, TicketTemplateId, UserId};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketTemplate {
    pub id: TicketTemplateId,
    /// Unique in the company, ignoring case.
    pub name: String,
    pub subject: String,
    /// Becomes the ticket's first message.
    pub description: Option<String>,
    pub priority: Priority,
    pub tags: Vec<String>,
    /// The ticket's checklist, in order.
    pub checklist: Vec<NewChecklistItem>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: TicketTemplateId,
    name: String,
    subject: String,
    description: Option<String>,
    priority: String,
    tags: Vec<String>,
    checklist: sqlx::types::Json<Vec<NewChecklistItem>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for TicketTemplate {
    fn from(r: Row) -> Self {
        TicketTemplate {
            id: r.id,
            name: r.name,
            subject: r.subject,
            description: r.description,
            priority: Priority::parse(&r.priority).unwrap_or(Priority::Medium),
            tags: r.tags,
            checklist: r.checklist.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const COLUMNS: &str =
    "id, name, subject, description, priority, tags, checklist, created_at, updated_at";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketTemplate {
    /// 1 to 100 characters, unique in the company.
    pub name: String,
    /// 1 to 300 characters.
    pub subject: String,
    pub description: Option<String>,
    /// Default `medium`.
    pub priority: Option<Priority>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Up to 100 items.
    #[serde(default)]
    pub checklist: Vec<NewChecklistItem>,
}

/// A change to a template. Absent fields stay; `null` clears the description.
/// A new `checklist` replaces the old one whole.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketTemplatePatch {
    pub name: Option<String>,
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub priority: Option<Priority>,
    pub tags: Option<Vec<String>>,
    pub checklist: Option<Vec<NewChecklistItem>>,
}

/// Who a ticket opened from a template is for; all optional, checked as a
/// new ticket's are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromTemplate {
    pub client_id: Option<ClientId>,
    /// A contact of `client_id`.
    pub contact_id: Option<ContactId>,
    /// An asset of `client_id`.
    pub asset_id: Option<uuid::Uuid>,
    /// A tech or admin.
    pub assignee_id: Option<UserId>,
}

fn name_taken() -> DomainError {
    DomainError::conflict(
        "template_name_taken",
        "a ticket template with this name exists",
    )
}

/// The template's fields, checked: (name, subject, description, tags, checklist).
type Checked = (
    String,
    String,
    Option<String>,
    Vec<String>,
    Vec<NewChecklistItem>,
);

fn check(
    v: &mut ValidationErrors,
    name: &str,
    subject: &str,
    description: Option<&str>,
    tags: &[String],
    checklist: &[NewChecklistItem],
) -> Checked {
    (
        v.required_text("name", name, 100),
        v.required_text("subject", subject, 300),
        v.optional_text("description", description, 100_000),
        validate_tags(v, tags),
        checklists::validate_items(v, "checklist", checklist),
    )
}

pub async fn create(tx: &mut TenantTx, new: NewTicketTemplate) -> DomainResult<TicketTemplate> {
    let mut v = ValidationErrors::new();
    let (name, subject, description, tags, checklist) = check(
        &mut v,
        &new.name,
        &new.subject,
        new.description.as_deref(),
        &new.tags,
        &new.checklist,
    );
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO ticket_templates (id, company_id, name, subject, description, priority, tags, \
         checklist, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         RETURNING {COLUMNS}"
    )))
    .bind(TicketTemplateId::new())
    .bind(tenant)
    .bind(name)
    .bind(subject)
    .bind(description)
    .bind(new.priority.unwrap_or(Priority::Medium).as_str())
    .bind(tags)
    .bind(sqlx::types::Json(checklist))
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .on_constraint("ticket_templates_company_name_key", name_taken)?;
    Ok(row.into())
}

pub async fn get(tx: &mut TenantTx, id: TicketTemplateId) -> DomainResult<TicketTemplate> {
    let tenant = tx.tenant();
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM ticket_templates WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(TicketTemplate::from)
        .ok_or(DomainError::not_found("ticket template"))
}

/// The company's templates by name.
pub async fn list(tx: &mut TenantTx, page: &PageRequest) -> DomainResult<Page<TicketTemplate>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM ticket_templates WHERE company_id = $1 \
         AND ($2::text IS NULL OR (lower(name), id) > ($2, $3)) ORDER BY lower(name), id LIMIT $4"
    )))
    .bind(tenant)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ticket_templates WHERE company_id = $1")
            .bind(tenant)
            .fetch_one(tx.conn())
            .await?;
    let templates = rows.into_iter().map(TicketTemplate::from).collect();
    Ok(Page::from_rows(
        templates,
        page,
        total,
        |t: &TicketTemplate| Cursor {
            key: t.name.to_lowercase(),
            id: t.id.as_uuid(),
        },
    ))
}

pub async fn update(
    tx: &mut TenantTx,
    id: TicketTemplateId,
    patch: TicketTemplatePatch,
) -> DomainResult<TicketTemplate> {
    let current = get(tx, id).await?;
    let mut v = ValidationErrors::new();
    let description = match &patch.description {
        Some(d) => d.as_deref(),
        None => current.description.as_deref(),
    };
    let (name, subject, description, tags, checklist) = check(
        &mut v,
        patch.name.as_deref().unwrap_or(&current.name),
        patch.subject.as_deref().unwrap_or(&current.subject),
        description,
        patch.tags.as_deref().unwrap_or(&current.tags),
        patch.checklist.as_deref().unwrap_or(&current.checklist),
    );
    v.finish()?;
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE ticket_templates SET name = $3, subject = $4, description = $5, priority = $6, \
         tags = $7, checklist = $8, updated_at = $9 WHERE company_id = $1 AND id = $2 \
         RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(name)
    .bind(subject)
    .bind(description)
    .bind(patch.priority.unwrap_or(current.priority).as_str())
    .bind(tags)
    .bind(sqlx::types::Json(checklist))
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .on_constraint("ticket_templates_company_name_key", name_taken)?;
    Ok(row.into())
}

/// Deletes a template; `template_in_use` (409) while a recurring ticket
/// opens it. Tickets opened from it keep what they copied.
pub async fn delete(tx: &mut TenantTx, id: TicketTemplateId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done = sqlx::query("DELETE FROM ticket_templates WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await
        .on_constraint("recurring_tickets_template_id_fkey", || {
            DomainError::conflict(
                "template_in_use",
                "a recurring ticket opens this template; delete or change it first",
            )
        })?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("ticket template"));
    }
    Ok(())
}

/// Opens a ticket from the template: its subject, description (the first
/// message), priority, tags and checklist, for the parties in `to`.
pub async fn open_ticket(
    tx: &mut TenantTx,
    id: TicketTemplateId,
    to: FromTemplate,
    author: Option<UserId>,
) -> DomainResult<Ticket> {
    let t = get(tx, id).await?;
    let ticket = tickets::create(
        tx,
        NewTicket {
            subject: t.subject,
            client_id: to.client_id,
            contact_id: to.contact_id,
            asset_id: to.asset_id,
            priority: Some(t.priority),
            assignee_id: to.assignee_id,
            tags: t.tags,
            description: t.description,
        },
        author,
    )
    .await?;
    if !t.checklist.is_empty() {
        checklists::append(tx, ticket.id, &t.checklist).await?;
    }
    tickets::get(tx, ticket.id).await
}
