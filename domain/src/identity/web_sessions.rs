//! The staff console's and the client portal's sessions: a random value in
//! the browser's cookie, its SHA-256 in `web_sessions`. A session remembers
//! who signed in ([`Holder`]: a user, or a client's contact) and their token
//! version then; everything else (role, active, portal access, whether the
//! version is still current) is read on each request.
//!
//! A session ends [`IDLE_TIMEOUT`] after its last request or
//! [`ABSOLUTE_TIMEOUT`] after sign-in, whichever is first. Looking a
//! session up happens before the tenant is known, so [`find`] runs in a
//! platform transaction; creating and ending sessions run in the tenant's.

use chrono::{DateTime, Duration, Utc};

use crate::kernel::secrets::{hash_token, random_token};
use crate::{ContactId, Db, DomainResult, TenantId, TenantTx, UserId};

/// A session unused this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::hours(12);
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::days(7);
/// `last_seen_at` is written at most this often per session.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// Who a session is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A staff user (the console).
    User(UserId),
    /// A client's contact (the portal).
    Contact(ContactId),
}

/// A live session, as [`find`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// SHA-256 of the cookie's value.
    pub id: Vec<u8>,
    pub tenant: TenantId,
    pub holder: Holder,
    /// The holder's token version at sign-in.
    pub token_version: i32,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Where a sign-in came from, kept on the session for the user to see.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub user_agent: Option<String>,
    pub client_addr: Option<String>,
}

/// Creates a session for `holder` (token version `token_version`);
/// returns the cookie's value (32 random bytes, base64url), which is stored
/// only as its hash.
pub async fn create(
    tx: &mut TenantTx,
    holder: Holder,
    token_version: i32,
    origin: &Origin,
) -> DomainResult<String> {
    let cookie = random_token(32);
    let (tenant, now) = (tx.tenant(), tx.now());
    let cut = |s: &Option<String>, n: usize| {
        s.as_deref()
            .map(|s| crate::kernel::text::truncate_chars(s, n))
    };
    let (user, contact) = match holder {
        Holder::User(u) => (Some(u), None),
        Holder::Contact(c) => (None, Some(c)),
    };
    sqlx::query(
        "INSERT INTO web_sessions (id, company_id, user_id, contact_id, token_version, created_at, \
             last_seen_at, expires_at, user_agent, client_addr) \
         VALUES ($1, $2, $3, $9, $4, $5, $5, $6, $7, $8)",
    )
    .bind(hash_token(&cookie))
    .bind(tenant)
    .bind(user)
    .bind(token_version)
    .bind(now)
    .bind(now + ABSOLUTE_TIMEOUT)
    .bind(cut(&origin.user_agent, 500))
    .bind(cut(&origin.client_addr, 64))
    .bind(contact)
    .execute(tx.conn())
    .await?;
    Ok(cookie)
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Vec<u8>,
    company_id: TenantId,
    user_id: Option<UserId>,
    contact_id: Option<ContactId>,
    token_version: i32,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// The live session whose cookie value is `cookie`, seen now (its
/// `last_seen_at` moves on); `None` for an unknown or ended one, which is
/// deleted.
pub async fn find(db: &Db, cookie: &str) -> DomainResult<Option<WebSession>> {
    let now = db.clock.now();
    let id = hash_token(cookie);
    // Before the tenant is known: a platform transaction.
    let mut tx = db.system().await?;
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, company_id, user_id, contact_id, token_version, created_at, last_seen_at, expires_at \
         FROM web_sessions WHERE id = $1",
    )
    .bind(&id)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(None);
    };
    if row.expires_at <= now || row.last_seen_at + IDLE_TIMEOUT <= now {
        sqlx::query("DELETE FROM web_sessions WHERE id = $1")
            .bind(&id)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        return Ok(None);
    }
    let mut last_seen_at = row.last_seen_at;
    if now - row.last_seen_at >= TOUCH_EVERY {
        sqlx::query("UPDATE web_sessions SET last_seen_at = $2 WHERE id = $1")
            .bind(&id)
            .bind(now)
            .execute(tx.conn())
            .await?;
        last_seen_at = now;
    }
    tx.commit().await?;
    // The table's check: exactly one of the two.
    let holder = match (row.user_id, row.contact_id) {
        (Some(u), _) => Holder::User(u),
        (None, Some(c)) => Holder::Contact(c),
        (None, None) => return Ok(None),
    };
    Ok(Some(WebSession {
        id: row.id,
        tenant: row.company_id,
        holder,
        token_version: row.token_version,
        created_at: row.created_at,
        last_seen_at,
        expires_at: row.expires_at,
    }))
}

/// Ends the session whose cookie value is `cookie` (sign out); false when
/// there was none.
pub async fn delete(db: &Db, cookie: &str) -> DomainResult<bool> {
    let mut tx = db.system().await?;
    let n = sqlx::query("DELETE FROM web_sessions WHERE id = $1")
        .bind(hash_token(cookie))
        .execute(tx.conn())
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n > 0)
}

/// Ends every session of `user` (sign out everywhere, a new password, a
/// deactivation: whatever moves the user's token version on).
pub async fn delete_for_user(tx: &mut TenantTx, user: UserId) -> DomainResult<u64> {
    let tenant = tx.tenant();
    Ok(
        sqlx::query("DELETE FROM web_sessions WHERE company_id = $1 AND user_id = $2")
            .bind(tenant)
            .bind(user)
            .execute(tx.conn())
            .await?
            .rows_affected(),
    )
}

/// Ends every portal session of `contact` (sign out everywhere, a new
/// password: whatever moves the contact's token version on).
pub async fn delete_for_contact(tx: &mut TenantTx, contact: ContactId) -> DomainResult<u64> {
    let tenant = tx.tenant();
    Ok(
        sqlx::query("DELETE FROM web_sessions WHERE company_id = $1 AND contact_id = $2")
            .bind(tenant)
            .bind(contact)
            .execute(tx.conn())
            .await?
            .rows_affected(),
    )
}

/// Deletes the sessions ended at `now` (idle or past their absolute
/// expiry); returns how many. (A few per user a week: one statement.)
pub async fn delete_ended(db: &Db, now: DateTime<Utc>) -> DomainResult<u64> {
    let mut tx = db.system().await?;
    let n = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now)
        .bind(now - IDLE_TIMEOUT)
        .execute(tx.conn())
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n)
}
