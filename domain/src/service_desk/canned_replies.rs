//! Canned replies: texts staff insert into replies, with placeholders
//! (`{{contact.first_name}}`, `{{ticket.number}}`, ...) filled from a ticket
//! and the person replying. `company` replies are shared: admins write
//! them, everyone reads them. `personal` replies are their owner's alone:
//! to anyone else they do not exist.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, Page, PageRequest, like_pattern};
use crate::kernel::placeholders::{self, Template};
use crate::kernel::text::text_enum;
use crate::kernel::validation::ValidationErrors;
use crate::service_desk::tickets;
use crate::{
    CannedReplyId, DomainError, DomainResult, TenantTx, TicketId, UserId, customers::clients,
    customers::contacts, identity::company, identity::users,
};

/// The longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// The longest body, in characters.
pub const MAX_BODY: usize = 20_000;

/// The placeholders a canned reply may use.
pub const PLACEHOLDERS: &[&str] = &[
    "contact.name",
    "contact.first_name",
    "ticket.number",
    "ticket.subject",
    "client.name",
    "agent.name",
    "agent.first_name",
    "company.name",
];

text_enum!(
    /// Who a canned reply is for.
    CannedScope {
        /// Everyone in the company reads it; admins write it.
        Company = "company",
        /// Its owner's alone.
        Personal = "personal",
    }
);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct CannedReply {
    pub id: CannedReplyId,
    pub title: String,
    /// The text, with placeholders such as `{{contact.first_name}}`.
    pub body: String,
    #[sqlx(try_from = "String")]
    pub scope: CannedScope,
    /// The owner of a personal reply; absent for a company one.
    pub owner_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new canned reply. Placeholders: `{{contact.name}}`,
/// `{{contact.first_name}}`, `{{ticket.number}}`, `{{ticket.subject}}`,
/// `{{client.name}}`, `{{agent.name}}`, `{{agent.first_name}}`,
/// `{{company.name}}`; any other, or a `{{` never closed, is refused.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCannedReply {
    pub title: String,
    pub body: String,
    /// Default `personal`; `company` needs an admin.
    pub scope: Option<CannedScope>,
}

/// A change to a canned reply: absent fields stay. Its scope stays.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedReplyPatch {
    pub title: Option<String>,
    pub body: Option<String>,
}

const COLUMNS: &str = "id, title, body, scope, owner_id, created_at, updated_at";

/// The replies `user` may see: the company's and their own.
const VISIBLE: &str = "company_id = $1 AND (scope = 'company' OR owner_id = $2)";

/// Checks a title; returns it trimmed.
pub fn check_title(v: &mut ValidationErrors, title: &str) -> String {
    v.required_text("title", title, MAX_TITLE)
}

/// Checks a body and its placeholders; returns it as given (its spacing is
/// the author's).
pub fn check_body(v: &mut ValidationErrors, body: &str) -> String {
    if body.trim().is_empty() {
        v.add("body", "required", "body must not be empty");
    } else if body.chars().count() > MAX_BODY {
        v.add(
            "body",
            "too_long",
            format!("body must be at most {MAX_BODY} characters"),
        );
    } else {
        placeholders::check(v, "body", body, PLACEHOLDERS);
    }
    body.to_owned()
}

/// The replies `user` sees (the company's and their own), by title;
/// `q` searches titles.
pub async fn list(
    tx: &mut TenantTx,
    user: UserId,
    q: Option<&str>,
    page: &PageRequest,
) -> DomainResult<Page<CannedReply>> {
    let tenant = tx.tenant();
    let q = q.map(like_pattern);
    let rows: Vec<CannedReply> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM canned_replies WHERE {VISIBLE} \
         AND ($3::text IS NULL OR title ILIKE $3) \
         AND ($4::text IS NULL OR (lower(title), id) > ($4, $5)) \
         ORDER BY lower(title), id LIMIT $6"
    )))
    .bind(tenant)
    .bind(user)
    .bind(&q)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM canned_replies WHERE {VISIBLE} \
         AND ($3::text IS NULL OR title ILIKE $3)"
    )))
    .bind(tenant)
    .bind(user)
    .bind(&q)
    .fetch_one(tx.conn())
    .await?;
    Ok(Page::from_rows(rows, page, total, |r: &CannedReply| {
        Cursor {
            key: r.title.to_lowercase(),
            id: r.id.as_uuid(),
        }
    }))
}

/// A reply `user` may see; another user's personal reply is not found.
pub async fn get(tx: &mut TenantTx, user: UserId, id: CannedReplyId) -> DomainResult<CannedReply> {
    fetch(tx, user, id, "").await
}

async fn fetch(
    tx: &mut TenantTx,
    user: UserId,
    id: CannedReplyId,
    suffix: &str,
) -> DomainResult<CannedReply> {
    let tenant = tx.tenant();
    let row: Option<CannedReply> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM canned_replies WHERE {VISIBLE} AND id = $3 {suffix}"
    )))
    .bind(tenant)
    .bind(user)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("canned reply"))
}

/// Stores a checked reply: `owner` for a personal one.
pub async fn create(
    tx: &mut TenantTx,
    title: &str,
    body: &str,
    scope: CannedScope,
    owner: UserId,
) -> DomainResult<CannedReply> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let owner = (scope == CannedScope::Personal).then_some(owner);
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO canned_replies (id, company_id, title, body, scope, owner_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
    )))
    .bind(CannedReplyId::new())
    .bind(tenant)
    .bind(title)
    .bind(body)
    .bind(scope.as_str())
    .bind(owner)
    .bind(now)
    .fetch_one(tx.conn())
    .await?)
}

/// Locks a reply `user` may see, for a change; the caller checks that
/// they may change it.
pub async fn lock(tx: &mut TenantTx, user: UserId, id: CannedReplyId) -> DomainResult<CannedReply> {
    fetch(tx, user, id, "FOR UPDATE").await
}

/// Writes checked fields of a locked reply.
pub async fn update(
    tx: &mut TenantTx,
    id: CannedReplyId,
    title: &str,
    body: &str,
) -> DomainResult<CannedReply> {
    let (tenant, now) = (tx.tenant(), tx.now());
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE canned_replies SET title = $3, body = $4, updated_at = $5 \
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(title)
    .bind(body)
    .bind(now)
    .fetch_one(tx.conn())
    .await?)
}

pub async fn delete(tx: &mut TenantTx, id: CannedReplyId) -> DomainResult<()> {
    let tenant = tx.tenant();
    sqlx::query("DELETE FROM canned_replies WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The first word of a name.
fn first_name(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The values of the placeholders for `ticket` answered by `agent`. A value
/// the ticket does not have (no contact, no client) is left out, so it
/// fills as the empty string.
pub async fn values(
    tx: &mut TenantTx,
    ticket: TicketId,
    agent: UserId,
) -> DomainResult<HashMap<&'static str, String>> {
    let t = tickets::get(tx, ticket).await?;
    let mut out = HashMap::new();
    // As mail names the ticket: `#12-K7QX`.
    out.insert("ticket.number", t.token.trim_matches(['[', ']']).to_owned());
    out.insert("ticket.subject", t.subject.clone());
    let contact_name = match (t.client_id, t.contact_id) {
        (Some(client), Some(contact)) => Some(contacts::get(tx, client, contact).await?.name),
        _ => t.requester_name.clone(),
    };
    if let Some(name) = contact_name {
        out.insert("contact.first_name", first_name(&name));
        out.insert("contact.name", name);
    }
    if let Some(client) = t.client_id {
        out.insert("client.name", clients::get(tx, client).await?.name);
    }
    let agent = users::get(tx, agent).await?;
    out.insert("agent.first_name", first_name(&agent.name));
    out.insert("agent.name", agent.name);
    out.insert("company.name", company::get(tx).await?.name);
    Ok(out)
}

/// `reply`'s body filled for `ticket` answered by `agent`.
pub async fn render(
    tx: &mut TenantTx,
    reply: &CannedReply,
    ticket: TicketId,
    agent: UserId,
) -> DomainResult<String> {
    let values = values(tx, ticket, agent).await?;
    // Checked when saved; a body saved before a placeholder was withdrawn
    // would be refused here rather than sent half-filled.
    let template = Template::parse(&reply.body, PLACEHOLDERS).map_err(|e| {
        DomainError::conflict(
            "canned_reply_invalid",
            format!("the canned reply's body: {e}"),
        )
    })?;
    Ok(template.fill(&values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked_for_their_placeholders() {
        let mut v = ValidationErrors::new();
        check_body(&mut v, "Hi {{contact.first_name}}, {{agent.name}}");
        assert!(v.is_empty());
        check_body(&mut v, "Hi {{contact.nickname}}");
        assert!(!v.is_empty());
        assert_eq!(first_name("  Alice  Smith "), "Alice");
    }
}
