//! The client portal's identity: which tenant a portal address names,
//! which contacts may sign in, and their one-time links.
//!
//! A contact signs in at `/portal/{slug}` of their company (the tenant) by
//! an invitation link, a sign-in link mailed to them (bound to the browser
//! that asked for it), or a password. Every read here runs in the tenant's
//! transaction; only [`company_by_slug`] looks across tenants, through a
//! function that answers the company's id and nothing else.

pub mod links;
pub mod tickets;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::customers::contacts::PortalRole;
use crate::identity::company::is_valid_portal_slug;
use crate::{ClientId, ContactId, Db, DomainResult, TenantId, TenantTx};

/// The tenant whose portal lives at `slug`, if any.
pub async fn company_by_slug(db: &Db, slug: &str) -> DomainResult<Option<TenantId>> {
    if !is_valid_portal_slug(slug) {
        return Ok(None);
    }
    let id: Option<Option<TenantId>> = sqlx::query_scalar("SELECT portal_company($1)")
        .bind(slug)
        .fetch_optional(&db.pool)
        .await?;
    Ok(id.flatten())
}

/// A contact as the portal knows them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct PortalContact {
    pub id: ContactId,
    pub client_id: ClientId,
    pub client_name: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[sqlx(try_from = "String")]
    pub portal_role: PortalRole,
    /// Billing contacts see the client's invoices.
    pub billing: bool,
    /// Whether the contact has set a password (else: sign-in links only).
    pub has_password: bool,
    /// The version every access token of the contact must carry.
    #[serde(skip)]
    pub token_version: i32,
    /// Portal access granted and the client not archived: may sign in.
    #[serde(skip)]
    pub may_sign_in: bool,
    #[serde(skip)]
    pub password_hash: Option<String>,
}

const SELECT: &str = "SELECT c.id, c.client_id, k.name AS client_name, c.name, c.email, c.phone, \
    c.portal_role, c.is_billing AS billing, c.password_hash IS NOT NULL AS has_password, \
    c.token_version, (c.portal_access AND k.archived_at IS NULL) AS may_sign_in, c.password_hash \
    FROM contacts c JOIN clients k ON k.company_id = c.company_id AND k.id = c.client_id";

/// The contact as it is now (whether or not they may sign in).
pub async fn contact(tx: &mut TenantTx, id: ContactId) -> DomainResult<Option<PortalContact>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE c.company_id = $1 AND c.id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?)
}

/// The contact with portal access and this e-mail address, if they may
/// sign in (one per address and tenant).
pub async fn by_email(tx: &mut TenantTx, email: &str) -> DomainResult<Option<PortalContact>> {
    let tenant = tx.tenant();
    let found: Option<PortalContact> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE c.company_id = $1 AND c.portal_access AND lower(c.email) = lower($2)"
    )))
    .bind(tenant)
    .bind(email.trim())
    .fetch_optional(tx.conn())
    .await?;
    Ok(found.filter(|c| c.may_sign_in))
}

/// Sets (or, with `None`, removes) the contact's password hash; ends
/// every token and portal session the contact holds. Returns the new token
/// version.
pub async fn set_password(
    tx: &mut TenantTx,
    id: ContactId,
    password_hash: Option<String>,
) -> DomainResult<i32> {
    let tenant = tx.tenant();
    crate::identity::web_sessions::delete_for_contact(tx, id).await?;
    Ok(sqlx::query_scalar(
        "UPDATE contacts SET password_hash = $3, token_version = token_version + 1 \
         WHERE company_id = $1 AND id = $2 RETURNING token_version",
    )
    .bind(tenant)
    .bind(id)
    .bind(password_hash)
    .fetch_one(tx.conn())
    .await?)
}

/// Ends every token and portal session the contact holds ("sign out
/// everywhere").
pub async fn revoke_tokens(tx: &mut TenantTx, id: ContactId) -> DomainResult<()> {
    let tenant = tx.tenant();
    crate::identity::web_sessions::delete_for_contact(tx, id).await?;
    sqlx::query(
        "UPDATE contacts SET token_version = token_version + 1 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(())
}
