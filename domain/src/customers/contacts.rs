//! Contacts: the people of a client. An e-mail address is unique per client.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::error::OnConstraint;
use crate::kernel::pagination::{Cursor, Page, PageRequest, like_pattern};
use crate::kernel::validation::ValidationErrors;
use crate::{ClientId, ContactId, DomainError, DomainResult, TenantTx, customers::clients};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
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
    /// Whether the contact may sign in to the client portal (needs an
    /// e-mail address). Billing contacts see invoices there.
    pub portal_access: bool,
    /// `admin`: sees all of the client's tickets in the portal.
    #[sqlx(try_from = "String")]
    pub portal_role: PortalRole,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

crate::kernel::text::text_enum!(
    /// A contact's role in the client portal.
    #[derive(Default)]
    PortalRole {
        /// Sees the tickets they opened or are on.
        #[default]
        Member = "member",
        /// Sees all of their client's tickets.
        Admin = "admin",
    }
);

const COLUMNS: &str = "id, client_id, name, email, phone, title, is_primary, is_billing, \
    portal_access, portal_role, created_at, updated_at";

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
    /// Set by the API only (imports leave it as it is).
    #[serde(default)]
    pub portal_access: bool,
    #[serde(default)]
    pub portal_role: PortalRole,
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
    /// Removing access ends the contact's portal sign-ins at once.
    pub portal_access: Option<bool>,
    pub portal_role: Option<PortalRole>,
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
        portal_access: c.portal_access,
        portal_role: c.portal_role,
    }
}

/// A contact with portal access needs an e-mail address to sign in with.
fn validate_portal(v: &mut ValidationErrors, c: &NewContact) {
    if c.portal_access && c.email.is_none() {
        v.add(
            "portal_access",
            "email_required",
            "a contact needs an e-mail address to get portal access",
        );
    }
}

/// Sets a contact's portal flags; removing access bumps its token version,
/// which ends every portal token it holds.
async fn set_portal(tx: &mut TenantTx, id: ContactId, c: &NewContact) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE contacts SET portal_access = $3, portal_role = $4, \
         token_version = token_version + CASE WHEN portal_access AND NOT $3 THEN 1 ELSE 0 END \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(c.portal_access)
    .bind(c.portal_role.as_str())
    .execute(tx.conn())
    .await
    .on_constraint("contacts_portal_email_key", portal_email_taken)?;
    Ok(())
}

fn portal_email_taken() -> DomainError {
    DomainError::conflict(
        "portal_email_taken",
        "another contact of this company has portal access with this e-mail address",
    )
}

/// Makes each given contact the only primary one of its client: the
/// client's other contacts stop being primary.
pub(crate) async fn clear_other_primaries(
    tx: &mut TenantTx,
    primaries: &[(ContactId, ClientId)],
) -> DomainResult<()> {
    if primaries.is_empty() {
        return Ok(());
    }
    let tenant = tx.tenant();
    sqlx::query(
        "UPDATE contacts SET is_primary = false WHERE company_id = $1 AND client_id = ANY($2) \
         AND is_primary AND NOT (id = ANY($3))",
    )
    .bind(tenant)
    .bind(primaries.iter().map(|p| p.1).collect::<Vec<_>>())
    .bind(primaries.iter().map(|p| p.0).collect::<Vec<_>>())
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn create(tx: &mut TenantTx, client: ClientId, new: NewContact) -> DomainResult<Contact> {
    let mut v = ValidationErrors::new();
    let c = validate(&mut v, new);
    validate_portal(&mut v, &c);
    v.finish()?;
    clients::ensure_exists(tx, client).await?;
    let id = ContactId::new();
    if c.is_primary {
        clear_other_primaries(tx, &[(id, client)]).await?;
    }
    insert(tx, &[(id, client, c.clone())]).await?;
    set_portal(tx, id, &c).await?;
    get(tx, client, id).await
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
        portal_access: patch.portal_access.unwrap_or(current.portal_access),
        portal_role: patch.portal_role.unwrap_or(current.portal_role),
    };
    let mut v = ValidationErrors::new();
    let c = validate(&mut v, merged);
    validate_portal(&mut v, &c);
    v.finish()?;
    if c.is_primary {
        clear_other_primaries(tx, &[(id, client)]).await?;
    }
    // Access removed first, so the address is free of the portal's
    // uniqueness before it changes.
    if !c.portal_access {
        set_portal(tx, id, &c).await?;
    }
    overwrite(tx, &[(id, client, c.clone())]).await?;
    if c.portal_access {
        set_portal(tx, id, &c).await?;
    }
    get(tx, client, id).await
}

/// The columns [`insert`] and [`overwrite`] write, as `unnest` arrays from
/// `$3`: one element per contact.
const WRITTEN: &str = "unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], \
    $8::text[], $9::bool[], $10::bool[]) AS u(id, client, name, email, phone, title, pri, bill)";

/// Inserts validated contacts, many at once: the one statement that creates
/// contacts (the API's [`create`] and the CSV import). Leaves other
/// contacts' `is_primary` as it is.
pub(crate) async fn insert(
    tx: &mut TenantTx,
    rows: &[(ContactId, ClientId, NewContact)],
) -> DomainResult<()> {
    write(
        tx,
        rows,
        &format!(
            "INSERT INTO contacts (id, company_id, client_id, name, email, phone, title, is_primary, \
             is_billing, created_at, updated_at) \
             SELECT u.id, $1, u.client, u.name, u.email, u.phone, u.title, u.pri, u.bill, $2, $2 \
             FROM {WRITTEN}"
        ),
    )
    .await
}

/// Sets every field of existing contacts to the validated ones, many at
/// once: the one statement that updates a contact (the API's [`update`] and
/// the CSV import). Leaves other contacts' `is_primary` as it is.
pub(crate) async fn overwrite(
    tx: &mut TenantTx,
    rows: &[(ContactId, ClientId, NewContact)],
) -> DomainResult<()> {
    write(
        tx,
        rows,
        &format!(
            "UPDATE contacts c SET name = u.name, email = u.email, phone = u.phone, title = u.title, \
             is_primary = u.pri, is_billing = u.bill, updated_at = $2 FROM {WRITTEN} \
             WHERE c.company_id = $1 AND c.id = u.id AND c.client_id = u.client"
        ),
    )
    .await
}

async fn write(
    tx: &mut TenantTx,
    rows: &[(ContactId, ClientId, NewContact)],
    sql: &str,
) -> DomainResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (tenant, now) = (tx.tenant(), tx.now());
    let col =
        |g: fn(&NewContact) -> Option<String>| rows.iter().map(|r| g(&r.2)).collect::<Vec<_>>();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(now)
        .bind(rows.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.name.clone()).collect::<Vec<_>>())
        .bind(col(|c| c.email.clone()))
        .bind(col(|c| c.phone.clone()))
        .bind(col(|c| c.title.clone()))
        .bind(rows.iter().map(|r| r.2.is_primary).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.2.is_billing).collect::<Vec<_>>())
        .execute(tx.conn())
        .await
        .on_constraint("contacts_client_email_key", email_taken)
        .on_constraint("contacts_portal_email_key", portal_email_taken)
        .on_constraint("contacts_portal_needs_email", || {
            DomainError::conflict(
                "portal_needs_email",
                "a contact with portal access keeps an e-mail address; remove the access first",
            )
        })?;
    Ok(())
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
