//! Refresh tokens (rotated, with reuse detection), scoped API tokens and
//! failed sign-in tracking.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::pagination::{Cursor, Page, PageRequest};
use crate::kernel::roles::Permission;
use crate::kernel::secrets::{hash_token, random_token};
use crate::kernel::validation::ValidationErrors;
use crate::{
    ApiTokenId, Db, DomainError, DomainResult, RefreshTokenId, TenantId, TenantTx, UserId,
};

pub const REFRESH_TTL: Duration = Duration::days(30);
/// Sign-in attempts allowed for one account from one client address within
/// [`LOCKOUT_WINDOW`]; a successful sign-in starts the count over.
pub const MAX_FAILED_LOGINS: i64 = 5;
pub const LOCKOUT_WINDOW: Duration = Duration::minutes(15);
/// Sign-in attempts allowed from one client address (an IPv6 /64) across
/// all accounts within [`SOURCE_WINDOW`].
pub const MAX_SOURCE_ATTEMPTS: i64 = 20;
pub const SOURCE_WINDOW: Duration = Duration::minutes(15);
/// Sign-in attempts allowed for one account from all addresses together
/// within [`ACCOUNT_WINDOW`]: past it the account is locked for everyone.
pub const MAX_ACCOUNT_ATTEMPTS: i64 = 100;
pub const ACCOUNT_WINDOW: Duration = Duration::hours(1);
pub const API_TOKEN_PREFIX: &str = "nst_";

// ---- refresh tokens -------------------------------------------------------

/// Issues a refresh token in `family` (a new family at sign-in).
pub async fn issue_refresh(
    tx: &mut TenantTx,
    user: UserId,
    family: Option<uuid::Uuid>,
) -> DomainResult<String> {
    let token = random_token(32);
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "INSERT INTO refresh_tokens (id, company_id, user_id, family_id, token_hash, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(RefreshTokenId::new())
    .bind(tenant)
    .bind(user)
    .bind(family.unwrap_or_else(uuid::Uuid::now_v7))
    .bind(hash_token(&token))
    .bind(now + REFRESH_TTL)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(token)
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    id: RefreshTokenId,
    user_id: UserId,
    family_id: uuid::Uuid,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// What presenting a refresh token came to.
pub enum RefreshOutcome {
    /// The token was good: here is its successor, for `user`.
    Rotated {
        tx: TenantTx,
        user: UserId,
        token: String,
    },
    /// The token had been used or revoked before: its whole family is now
    /// revoked. The transaction holds that revocation; commit it.
    Reused { tx: TenantTx, user: UserId },
    /// Unknown or expired.
    Invalid,
}

async fn resolve_refresh(db: &Db, token: &str) -> DomainResult<Option<(TenantTx, RefreshRow)>> {
    let found: Option<(RefreshTokenId, TenantId)> =
        sqlx::query_as("SELECT token_id, company_id FROM auth_refresh_token($1)")
            .bind(hash_token(token))
            .fetch_optional(&db.pool)
            .await?;
    let Some((id, tenant)) = found else {
        return Ok(None);
    };
    let mut tx = db.tenant(tenant).await?;
    let row: Option<RefreshRow> = sqlx::query_as(
        "SELECT id, user_id, family_id, expires_at, used_at, revoked_at FROM refresh_tokens \
         WHERE company_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|r| (tx, r)))
}

/// Rotates a refresh token: marks it used and issues its successor in the
/// same family. A token presented twice revokes the family.
pub async fn rotate_refresh(db: &Db, token: &str) -> DomainResult<RefreshOutcome> {
    let Some((mut tx, row)) = resolve_refresh(db, token).await? else {
        return Ok(RefreshOutcome::Invalid);
    };
    let now = tx.now();
    if row.used_at.is_some() || row.revoked_at.is_some() {
        revoke_family(&mut tx, row.family_id).await?;
        return Ok(RefreshOutcome::Reused {
            tx,
            user: row.user_id,
        });
    }
    if row.expires_at <= now {
        return Ok(RefreshOutcome::Invalid);
    }
    let tenant = tx.tenant();
    sqlx::query("UPDATE refresh_tokens SET used_at = $3 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(row.id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    let token = issue_refresh(&mut tx, row.user_id, Some(row.family_id)).await?;
    Ok(RefreshOutcome::Rotated {
        tx,
        user: row.user_id,
        token,
    })
}

/// Ends the session a refresh token belongs to. Returns the tenant
/// transaction (for the audit row) and the user, or `None` when the token is
/// unknown.
pub async fn logout(db: &Db, token: &str) -> DomainResult<Option<(TenantTx, UserId)>> {
    let Some((mut tx, row)) = resolve_refresh(db, token).await? else {
        return Ok(None);
    };
    revoke_family(&mut tx, row.family_id).await?;
    Ok(Some((tx, row.user_id)))
}

async fn revoke_family(tx: &mut TenantTx, family: uuid::Uuid) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $3 \
         WHERE company_id = $1 AND family_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant)
    .bind(family)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Revokes every refresh and API token of a user, every access token
/// issued to it so far (by moving its token version on), and its console
/// sessions.
pub async fn revoke_all_for_user(tx: &mut TenantTx, user: UserId) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    tx.forget_user_state(user);
    // Access tokens issued before carry the old version: they end too.
    sqlx::query(
        "UPDATE users SET token_version = token_version + 1 WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(user)
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $3 \
         WHERE company_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant)
    .bind(user)
    .bind(now)
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $3 \
         WHERE company_id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(tenant)
    .bind(user)
    .bind(now)
    .execute(tx.conn())
    .await?;
    // The console's sessions would die at their next request anyway (their
    // tokens carry the old version); end them now.
    crate::identity::web_sessions::delete_for_user(tx, user).await?;
    Ok(())
}

/// The version an access token issued now carries.
pub async fn token_version(tx: &mut TenantTx, user: UserId) -> DomainResult<i32> {
    let tenant = tx.tenant();
    Ok(
        sqlx::query_scalar("SELECT token_version FROM users WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(user)
            .fetch_one(tx.conn())
            .await?,
    )
}

// ---- sign-in throttling ------------------------------------------------------

/// What a sign-in attempt is counted under: the client address (IPv6 by its
/// /64, which one subscriber usually holds whole) and a hash of the
/// lowercased e-mail address, known to an account or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInKey {
    source: String,
    account: String,
}

impl SignInKey {
    pub fn new(email: &str, source: std::net::IpAddr) -> Self {
        use std::net::IpAddr;
        let source = match source {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                    format!("{net}/64")
                }
            },
        };
        let account = hex::encode(hash_token(&email.trim().to_lowercase()));
        Self { source, account }
    }

    /// A contact's attempt at the portal `slug`, for `purpose` (`login`,
    /// `magic_link`): counted apart from staff sign-ins with the same
    /// address and from the other purpose; the client address's own count
    /// is shared with every sign-in.
    pub fn portal(slug: &str, purpose: &str, email: &str, source: std::net::IpAddr) -> Self {
        Self::new(&format!("portal {slug} {purpose} {}", email.trim()), source)
    }
}

/// Counts a sign-in attempt before its password is checked: `Err(Locked)`
/// once the client address, the (account, address) pair or the account as
/// a whole has had its attempts in the window. Concurrent attempts are
/// counted one after another (a row lock each), so no more than the limit
/// get through however many arrive at once.
pub async fn sign_in_attempt(db: &Db, key: &SignInKey) -> DomainResult<()> {
    let limits = [MAX_SOURCE_ATTEMPTS, MAX_FAILED_LOGINS, MAX_ACCOUNT_ATTEMPTS].map(|n| n as i32);
    let windows = [SOURCE_WINDOW, LOCKOUT_WINDOW, ACCOUNT_WINDOW].map(|w| w.num_seconds() as i32);
    let refused: Option<(String, i32)> =
        sqlx::query_as("SELECT * FROM auth_sign_in_attempt($1, $2, $3, $4, $5)")
            .bind(&key.source)
            .bind(&key.account)
            .bind(db.clock.now())
            .bind(&limits[..])
            .bind(&windows[..])
            .fetch_optional(&db.pool)
            .await?;
    match refused {
        None => Ok(()),
        Some((scope, secs)) => {
            tracing::info!(scope, source = %key.source, "sign-in throttled");
            Err(DomainError::Locked {
                retry_after_secs: secs.max(1) as u64,
            })
        }
    }
}

/// A successful sign-in: its (account, address) count starts over.
pub async fn sign_in_succeeded(db: &Db, key: &SignInKey) -> DomainResult<()> {
    sqlx::query("SELECT auth_sign_in_succeeded($1, $2)")
        .bind(&key.source)
        .bind(&key.account)
        .execute(&db.pool)
        .await?;
    Ok(())
}

// ---- API tokens ---------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the token, to recognise it by.
    pub prefix: String,
    #[sqlx(try_from = "Vec<String>")]
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The permissions an API token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct Scopes(pub Vec<Permission>);

impl TryFrom<Vec<String>> for Scopes {
    type Error = String;
    fn try_from(v: Vec<String>) -> Result<Self, String> {
        v.iter()
            .map(|s| Permission::parse(s).ok_or_else(|| format!("unknown scope {s:?}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Scopes)
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    pub name: String,
    /// Permissions the token carries; each must also be allowed to its owner's role.
    pub scopes: Vec<Permission>,
    pub expires_at: Option<DateTime<Utc>>,
}

const API_COLUMNS: &str =
    "id, user_id, name, prefix, scopes, expires_at, last_used_at, revoked_at, created_at";

/// Creates a token for `owner`; returns it with the secret, shown only now.
pub async fn create_api_token(
    tx: &mut TenantTx,
    owner: UserId,
    owner_role: crate::kernel::roles::Role,
    new: NewApiToken,
) -> DomainResult<(ApiToken, String)> {
    let mut v = ValidationErrors::new();
    let name = v.required_text("name", &new.name, 100);
    if new.scopes.is_empty() {
        v.add(
            "scopes",
            "required",
            "scopes must name at least one permission",
        );
    }
    for s in &new.scopes {
        if !owner_role.allows(*s) {
            v.add(
                "scopes",
                "not_allowed",
                format!("your role may not grant {}", s.as_str()),
            );
        }
    }
    if new.expires_at.is_some_and(|e| e <= tx.now()) {
        v.add("expires_at", "in_past", "expires_at must be in the future");
    }
    v.finish()?;
    let mut scopes: Vec<&str> = new.scopes.iter().map(|s| s.as_str()).collect();
    scopes.sort_unstable();
    scopes.dedup();
    let secret = format!("{API_TOKEN_PREFIX}{}", random_token(32));
    let (tenant, now) = (tx.tenant(), tx.now());
    let token: ApiToken = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO api_tokens (id, company_id, user_id, name, prefix, token_hash, scopes, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {API_COLUMNS}"
    )))
    .bind(ApiTokenId::new())
    .bind(tenant)
    .bind(owner)
    .bind(&name)
    .bind(&secret[..API_TOKEN_PREFIX.len() + 6])
    .bind(hash_token(&secret))
    .bind(&scopes)
    .bind(new.expires_at)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    Ok((token, secret))
}

pub async fn list_api_tokens(
    tx: &mut TenantTx,
    page: &PageRequest,
) -> DomainResult<Page<ApiToken>> {
    let tenant = tx.tenant();
    let rows: Vec<ApiToken> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {API_COLUMNS} FROM api_tokens WHERE company_id = $1 \
         AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    )))
    .bind(tenant)
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE company_id = $1")
        .bind(tenant)
        .fetch_one(tx.conn())
        .await?;
    Ok(Page::from_rows(rows, page, total, |t| Cursor {
        key: String::new(),
        id: t.id.as_uuid(),
    }))
}

pub async fn revoke_api_token(tx: &mut TenantTx, id: ApiTokenId) -> DomainResult<ApiToken> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: Option<ApiToken> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3) \
         WHERE company_id = $1 AND id = $2 RETURNING {API_COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("api token"))
}

/// An API token with what its owner is now.
type TokenRow = (
    UserId,
    Vec<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    String,
    bool,
);

/// Who an API token acts for.
#[derive(Debug, Clone)]
pub struct ApiTokenPrincipal {
    pub tenant: TenantId,
    pub token_id: ApiTokenId,
    pub user_id: UserId,
    pub role: crate::kernel::roles::Role,
    pub scopes: Scopes,
}

/// Authenticates a presented API token: known, not revoked, not expired,
/// its user active. Touches `last_used_at` at most once a minute.
pub async fn authenticate_api_token(
    db: &Db,
    secret: &str,
) -> DomainResult<Option<ApiTokenPrincipal>> {
    let found: Option<(ApiTokenId, TenantId)> =
        sqlx::query_as("SELECT token_id, company_id FROM auth_api_token($1)")
            .bind(hash_token(secret))
            .fetch_optional(&db.pool)
            .await?;
    let Some((id, tenant)) = found else {
        return Ok(None);
    };
    let mut tx = db.tenant(tenant).await?;
    let now = tx.now();
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT t.user_id, t.scopes, t.expires_at, t.revoked_at, t.last_used_at, u.role, u.active \
             FROM api_tokens t JOIN users u ON u.id = t.user_id AND u.company_id = t.company_id \
             WHERE t.company_id = $1 AND t.id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let Some((user_id, scopes, expires_at, revoked_at, last_used_at, role, active)) = row else {
        return Ok(None);
    };
    if revoked_at.is_some() || expires_at.is_some_and(|e| e <= now) || !active {
        return Ok(None);
    }
    let role = crate::kernel::roles::Role::parse(&role)
        .ok_or_else(|| DomainError::Internal(format!("unknown role {role:?}")))?;
    let scopes = Scopes::try_from(scopes).map_err(DomainError::Internal)?;
    if last_used_at.is_none_or(|t| now - t > Duration::minutes(1)) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $3 WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .bind(now)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
    }
    Ok(Some(ApiTokenPrincipal {
        tenant,
        token_id: id,
        user_id,
        role,
        scopes,
    }))
}
