//! Saved views of the ticket queue: a user's named filters. The filters
//! are kept as the query string of the ticket list (`status=new,open&
//! priority=high`), which the API checks before they are saved; a view is
//! its owner's alone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::validation::ValidationErrors;
use crate::{DomainError, DomainResult, TenantTx, TicketViewId, UserId};

/// The most views one user keeps.
pub const MAX_VIEWS: i64 = 50;
/// The longest name of a view, in characters.
pub const MAX_NAME: usize = 80;
/// The longest query string of a view, in bytes.
pub const MAX_QUERY: usize = 2000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    pub id: TicketViewId,
    pub name: String,
    /// The ticket list's filters as a query string (no `limit` or `cursor`).
    pub query: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketView {
    pub name: String,
    /// The ticket list's filters as a query string, as in
    /// `GET /api/v1/tickets?<query>`; empty for every ticket.
    #[serde(default)]
    pub query: String,
}

const COLUMNS: &str = "id, name, query, created_at";

type Row = (TicketViewId, String, String, DateTime<Utc>);

fn view((id, name, query, created_at): Row) -> TicketView {
    TicketView {
        id,
        name,
        query,
        created_at,
    }
}

/// Checks a new view's name; the query string is the caller's to check
/// against the ticket list's filters. Returns the trimmed name.
pub fn check_name(v: &mut ValidationErrors, name: &str) -> String {
    v.required_text("name", name, MAX_NAME)
}

/// `user`'s views, by name.
pub async fn list(tx: &mut TenantTx, user: UserId) -> DomainResult<Vec<TicketView>> {
    let tenant = tx.tenant();
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM ticket_views WHERE company_id = $1 AND user_id = $2 \
         ORDER BY lower(name), id"
    )))
    .bind(tenant)
    .bind(user)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(view).collect())
}

/// Saves a view of `user`'s, whose name and query the caller has checked.
/// A second view of the same name is a conflict; so is a 51st view.
pub async fn create(
    tx: &mut TenantTx,
    user: UserId,
    name: &str,
    query: &str,
) -> DomainResult<TicketView> {
    let tenant = tx.tenant();
    // One user's views are counted under a lock on the user's row, so two
    // saves at once cannot both pass the limit.
    sqlx::query("SELECT 1 FROM users WHERE company_id = $1 AND id = $2 FOR UPDATE")
        .bind(tenant)
        .bind(user)
        .execute(tx.conn())
        .await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ticket_views WHERE company_id = $1 AND user_id = $2",
    )
    .bind(tenant)
    .bind(user)
    .fetch_one(tx.conn())
    .await?;
    if n >= MAX_VIEWS {
        return Err(DomainError::conflict(
            "too_many_views",
            format!("you already keep {MAX_VIEWS} views; delete one first"),
        ));
    }
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO ticket_views (id, company_id, user_id, name, query, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (company_id, user_id, name) DO NOTHING RETURNING {COLUMNS}"
    )))
    .bind(TicketViewId::new())
    .bind(tenant)
    .bind(user)
    .bind(name)
    .bind(query)
    .bind(tx.now())
    .fetch_optional(tx.conn())
    .await?;
    row.map(view).ok_or_else(|| {
        DomainError::conflict(
            "view_exists",
            format!("you already have a view named {name:?}"),
        )
    })
}

/// Deletes one of `user`'s views; another user's (or tenant's) is not found.
pub async fn delete(tx: &mut TenantTx, user: UserId, id: TicketViewId) -> DomainResult<()> {
    let tenant = tx.tenant();
    let done =
        sqlx::query("DELETE FROM ticket_views WHERE company_id = $1 AND user_id = $2 AND id = $3")
            .bind(tenant)
            .bind(user)
            .bind(id)
            .execute(tx.conn())
            .await?;
    if done.rows_affected() == 0 {
        return Err(DomainError::not_found("ticket view"));
    }
    Ok(())
}
