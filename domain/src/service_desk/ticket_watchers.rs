//! Watchers of a ticket: staff users and contacts of the ticket's client who
//! receive its public replies and its status changes, besides the ticket's
//! own contact. Each person watches a ticket once. Contacts named in the Cc
//! of incoming mail become watchers too (see the mailbox ingestion).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::validation::ValidationErrors;
use crate::service_desk::tickets::Ticket;
use crate::{ContactId, DomainError, DomainResult, TenantTx, TicketId, TicketWatcherId, UserId};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Watcher {
    pub id: TicketWatcherId,
    /// A staff watcher.
    pub user_id: Option<UserId>,
    /// A contact watcher (a contact of the ticket's client).
    pub contact_id: Option<ContactId>,
    pub name: String,
    /// Where their mail goes; a contact without an address receives none.
    pub email: Option<String>,
    /// Who added them; absent when incoming mail's Cc did.
    pub added_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

/// A watcher to add: exactly one of `user_id` (a user of the company) and
/// `contact_id` (a contact of the ticket's client).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWatcher {
    pub user_id: Option<UserId>,
    pub contact_id: Option<ContactId>,
}

/// Whom a watcher's mail goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub watcher: TicketWatcherId,
    pub email: String,
    /// A contact (not staff).
    pub contact: bool,
}

const SELECT: &str = "SELECT w.id, w.user_id, w.contact_id, \
    COALESCE(u.name, k.name, '') AS name, COALESCE(u.email, k.email) AS email, \
    w.added_by, w.created_at \
    FROM ticket_watchers w \
    LEFT JOIN users u ON u.company_id = w.company_id AND u.id = w.user_id \
    LEFT JOIN contacts k ON k.company_id = w.company_id AND k.id = w.contact_id";

/// A ticket's watchers, first added first.
pub async fn list(tx: &mut TenantTx, ticket: TicketId) -> DomainResult<Vec<Watcher>> {
    let tenant = tx.tenant();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE w.company_id = $1 AND w.ticket_id = $2 ORDER BY w.created_at, w.id"
    )))
    .bind(tenant)
    .bind(ticket)
    .fetch_all(tx.conn())
    .await?)
}

async fn one(tx: &mut TenantTx, id: TicketWatcherId) -> DomainResult<Watcher> {
    let tenant = tx.tenant();
    let row: Option<Watcher> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE w.company_id = $1 AND w.id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("watcher"))
}

/// Adds a watcher to `ticket`: a user of this company, or a contact of the
/// ticket's client (422 otherwise). Someone already watching is a
/// conflict.
pub async fn add(
    tx: &mut TenantTx,
    ticket: &Ticket,
    new: &NewWatcher,
    by: Option<UserId>,
) -> DomainResult<Watcher> {
    let tenant = tx.tenant();
    let mut v = ValidationErrors::new();
    match (new.user_id, new.contact_id) {
        (Some(_), Some(_)) | (None, None) => {
            v.add(
                "user_id",
                "one_of",
                "give exactly one of user_id and contact_id",
            );
        }
        (Some(u), None) => {
            let found: Option<bool> =
                sqlx::query_scalar("SELECT active FROM users WHERE company_id = $1 AND id = $2")
                    .bind(tenant)
                    .bind(u)
                    .fetch_optional(tx.conn())
                    .await?;
            match found {
                None => v.add("user_id", "not_found", "no such user"),
                Some(false) => v.add("user_id", "inactive", "the user is deactivated"),
                Some(true) => {}
            }
        }
        (None, Some(k)) => {
            let owner: Option<crate::ClientId> = sqlx::query_scalar(
                "SELECT client_id FROM contacts WHERE company_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(k)
            .fetch_optional(tx.conn())
            .await?;
            match (owner, ticket.client_id) {
                (None, _) => v.add("contact_id", "not_found", "no such contact"),
                (Some(_), None) => v.add(
                    "contact_id",
                    "requires_client",
                    "the ticket has no client, so it has no contacts to watch it",
                ),
                (Some(o), Some(c)) if o != c => v.add(
                    "contact_id",
                    "wrong_client",
                    "the contact is not one of the ticket's client's",
                ),
                _ => {}
            }
        }
    }
    v.finish()?;
    match insert(tx, ticket.id, new.user_id, new.contact_id, by).await? {
        Some(id) => one(tx, id).await,
        None => Err(DomainError::conflict(
            "already_watching",
            "they already watch this ticket",
        )),
    }
}

/// Makes contact `contact` (checked by the caller to be the ticket's
/// client's) a watcher unless it is one already; true when added.
pub async fn add_contact(
    tx: &mut TenantTx,
    ticket: TicketId,
    contact: ContactId,
) -> DomainResult<bool> {
    Ok(insert(tx, ticket, None, Some(contact), None)
        .await?
        .is_some())
}

async fn insert(
    tx: &mut TenantTx,
    ticket: TicketId,
    user: Option<UserId>,
    contact: Option<ContactId>,
    by: Option<UserId>,
) -> DomainResult<Option<TicketWatcherId>> {
    let (tenant, now) = (tx.tenant(), tx.now());
    Ok(sqlx::query_scalar(
        "INSERT INTO ticket_watchers (id, company_id, ticket_id, user_id, contact_id, added_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(TicketWatcherId::new())
    .bind(tenant)
    .bind(ticket)
    .bind(user)
    .bind(contact)
    .bind(by)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?)
}

/// Removes a watcher of `ticket`; returns who it was.
pub async fn remove(
    tx: &mut TenantTx,
    ticket: TicketId,
    id: TicketWatcherId,
) -> DomainResult<Watcher> {
    let w = one(tx, id).await?;
    let tenant = tx.tenant();
    let done = sqlx::query(
        "DELETE FROM ticket_watchers WHERE company_id = $1 AND ticket_id = $2 AND id = $3",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(id)
    .execute(tx.conn())
    .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("watcher"));
    }
    Ok(w)
}

/// Where a ticket's watchers' mail goes: active users and contacts with an
/// address (only contacts when `contacts_only`), each address once and none
/// of `except` (the addresses the mail goes to anyway), first added first.
pub async fn recipients(
    tx: &mut TenantTx,
    ticket: TicketId,
    contacts_only: bool,
    except: &[String],
) -> DomainResult<Vec<Recipient>> {
    let tenant = tx.tenant();
    let rows: Vec<(TicketWatcherId, String, bool)> = sqlx::query_as(
        "SELECT w.id, COALESCE(u.email, k.email), w.contact_id IS NOT NULL \
         FROM ticket_watchers w \
         LEFT JOIN users u ON u.company_id = w.company_id AND u.id = w.user_id AND u.active \
         LEFT JOIN contacts k ON k.company_id = w.company_id AND k.id = w.contact_id \
         WHERE w.company_id = $1 AND w.ticket_id = $2 AND COALESCE(u.email, k.email) IS NOT NULL \
         AND (NOT $3 OR w.contact_id IS NOT NULL) ORDER BY w.created_at, w.id",
    )
    .bind(tenant)
    .bind(ticket)
    .bind(contacts_only)
    .fetch_all(tx.conn())
    .await?;
    let mut seen: Vec<String> = except.iter().map(|e| e.to_lowercase()).collect();
    let mut out = Vec::new();
    for (watcher, email, contact) in rows {
        let key = email.to_lowercase();
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        out.push(Recipient {
            watcher,
            email,
            contact,
        });
    }
    Ok(out)
}
