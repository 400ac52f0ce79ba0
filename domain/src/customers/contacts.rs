//! Contacts: the people of a client. An e-mail address is unique per client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::error::OnConstraint;
use crate::kernel::pagination::{Cursor, Page, PageRequest, like_pattern};
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, ContactId, DomainError, DomainResult, TenantTx, customers::clients};

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Contact {
    pub id: ContactId,
    pub client_id: ClientId,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    /// At most one contact per client is primary.
    pub is_primary: bool,
    /// Billing contacts receive invoices, statements and reminders; with
    /// none, the primary contact does.
    pub is_billing: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, client_id, name, email, phone, title, is_primary, is_billing, created_at, updated_at";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    #[serde(default)]
    pub is_primary: bool,
    #[serde(default)]
    pub is_billing: bool,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    pub is_primary: Option<bool>,
    pub is_billing: Option<bool>,
}

fn email_taken() -> DomainError {
    DomainError::conflict(
        "contact_email_taken",
        "this client already has a contact with this e-mail address",
    )
}

pub async fn get(tx: &mut TenantTx, client: ClientId, id: ContactId) -> DomainResult<Contact> {
    let tenant = tx.tenant();
    let row: Option<Contact> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM contacts WHERE company_id = $1 AND client_id = $2 AND id = $3"
    )))
    .bind(tenant)
    .bind(client)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("contact"))
}

pub async fn list(
    tx: &mut TenantTx,
    client: ClientId,
    q: Option<&str>,
    page: &PageRequest,
) -> DomainResult<Page<Contact>> {
    clients::ensure_exists(tx, client).await?;
    const FILTER: &str = "company_id = $1 AND client_id = $2 \
        AND ($3::text IS NULL OR name ILIKE $3 OR email ILIKE $3)";
    let tenant = tx.tenant();
    let q = q.map(like_pattern);
    let rows: Vec<Contact> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM contacts WHERE {FILTER} \
         AND ($4::text IS NULL OR (lower(name), id) > ($4, $5)) \
         ORDER BY lower(name), id LIMIT $6"
    )))
    .bind(tenant)
    .bind(client)
    .bind(&q)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM contacts WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(client)
    .bind(&q)
    .fetch_one(tx.conn())
    .await?;
    Ok(Page::from_rows(rows, page, total, |c| Cursor {
        key: c.name.to_lowercase(),
        id: c.id.as_uuid(),
    }))
}

pub(crate) fn validate(v: &mut ValidationErrors, c: NewContact) -> NewContact {
    NewContact {
        name: v.required_text("name", &c.name, 200),
        email: v.optional_email("email", c.email.as_deref()),
        phone: v.optional_text("phone", c.phone.as_deref(), 50),
        title: v.optional_text("title", c.title.as_deref(), 100),
        is_primary: c.is_primary,
        is_billing: c.is_billing,
    }
}

async fn clear_primary(tx: &mut TenantTx, client: ClientId, except: ContactId) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE contacts SET is_primary = false \
         WHERE company_id = $1 AND client_id = $2 AND id <> $3 AND is_primary",
    )
    .bind(tenant)
    .bind(client)
    .bind(except)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn create(tx: &mut TenantTx, client: ClientId, new: NewContact) -> DomainResult<Contact> {
    let mut v = ValidationErrors::new();
    let c = validate(&mut v, new);
    v.finish()?;
    clients::ensure_exists(tx, client).await?;
    let id = ContactId::new();
    if c.is_primary {
        clear_primary(tx, client, id).await?;
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO contacts (id, company_id, client_id, name, email, phone, title, is_primary, is_billing, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, $9, $9) RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(tenant)
    .bind(client)
    .bind(c.name)
    .bind(c.email)
    .bind(c.phone)
    .bind(c.title)
    .bind(c.is_primary)
    .bind(now)
    .bind(c.is_billing)
    .fetch_one(tx.conn())
    .await
    .on_constraint("contacts_client_email_key", email_taken)
}

pub async fn update(
    tx: &mut TenantTx,
    client: ClientId,
    id: ContactId,
    patch: ContactPatch,
) -> DomainResult<Contact> {
    let current = get(tx, client, id).await?;
    let merged = NewContact {
        name: patch.name.unwrap_or(current.name),
        email: patch.email.unwrap_or(current.email),
        phone: patch.phone.unwrap_or(current.phone),
        title: patch.title.unwrap_or(current.title),
        is_primary: patch.is_primary.unwrap_or(current.is_primary),
        is_billing: patch.is_billing.unwrap_or(current.is_billing),
    };
    let mut v = ValidationErrors::new();
    let c = validate(&mut v, merged);
    v.finish()?;
    if c.is_primary {
        clear_primary(tx, client, id).await?;
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE contacts SET name = $4, email = $5, phone = $6, title = $7, is_primary = $8, \
         updated_at = $9, is_billing = $10 WHERE company_id = $1 AND client_id = $2 AND id = $3 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(client)
    .bind(id)
    .bind(c.name)
    .bind(c.email)
    .bind(c.phone)
    .bind(c.title)
    .bind(c.is_primary)
    .bind(now)
    .bind(c.is_billing)
    .fetch_one(tx.conn())
    .await
    .on_constraint("contacts_client_email_key", email_taken)
}

/// Where a client's invoices, statements and reminders go: its billing
/// contacts with an e-mail address, or else its primary contact's.
pub async fn billing_recipients(tx: &mut TenantTx, client: ClientId) -> DomainResult<Vec<String>> {
    let tenant = tx.tenant();
    let rows: Vec<(String, bool)> = sqlx::query_as(
        "SELECT email, is_billing FROM contacts WHERE company_id = $1 AND client_id = $2 \
         AND email IS NOT NULL AND (is_billing OR is_primary) ORDER BY lower(email)",
    )
    .bind(tenant)
    .bind(client)
    .fetch_all(tx.conn())
    .await?;
    let billing: Vec<String> = rows
        .iter()
        .filter(|(_, b)| *b)
        .map(|(e, _)| e.clone())
        .collect();
    Ok(if billing.is_empty() {
        rows.into_iter().map(|(e, _)| e).collect()
    } else {
        billing
    })
}

/// The contact with this e-mail address (case-insensitive), oldest first
/// when several clients list the same person; with its client.
pub async fn by_email(
    tx: &mut TenantTx,
    email: &str,
) -> DomainResult<Option<(ContactId, ClientId)>> {
    let email = email.to_lowercase();
    Ok(by_emails(tx, std::slice::from_ref(&email))
        .await?
        .remove(&email))
}

/// [`by_email`] for many lowercased addresses at once.
pub async fn by_emails(
    tx: &mut TenantTx,
    emails: &[String],
) -> DomainResult<std::collections::HashMap<String, (ContactId, ClientId)>> {
    let tenant = tx.tenant();
    let rows: Vec<(String, ContactId, ClientId)> = sqlx::query_as(
        "SELECT DISTINCT ON (lower(email)) lower(email), id, client_id FROM contacts \
         WHERE company_id = $1 AND lower(email) = ANY($2) ORDER BY lower(email), created_at, id",
    )
    .bind(tenant)
    .bind(emails)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|(e, k, c)| (e, (k, c))).collect())
}

pub async fn delete(tx: &mut TenantTx, client: ClientId, id: ContactId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done =
        sqlx::query("DELETE FROM contacts WHERE company_id = $1 AND client_id = $2 AND id = $3")
            .bind(tenant)
            .bind(client)
            .bind(id)
            .execute(tx.conn())
            .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("contact"));
    }
    Ok(())
}
