//! Users of a company, with their roles.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::kernel::error::OnConstraint;
use crate::kernel::pagination::{Cursor, Page, PageRequest, like_pattern};
use crate::kernel::roles::Role;
use crate::kernel::validation::ValidationErrors;
use crate::{DomainError, DomainResult, TenantTx, UserId, identity::passwords};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub totp_enabled: bool,
    /// The hourly rate of the time this user logs, in the company's
    /// currency; without one the client's or the company's applies.
    #[schema(value_type = Option<String>)]
    pub hourly_rate: Option<rust_decimal::Decimal>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A colleague as every staff member may see them (the staff directory):
/// who can be assigned a ticket, who logged time, without e-mail, rates or
/// sign-in details.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StaffMember {
    pub id: UserId,
    pub name: String,
    pub role: Role,
}

impl From<User> for StaffMember {
    fn from(u: User) -> Self {
        StaffMember {
            id: u.id,
            name: u.name,
            role: u.role,
        }
    }
}

/// What sign-in needs to know about a user; never leaves the server.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    pub totp_secret: Option<String>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: UserId,
    email: String,
    name: String,
    role: String,
    active: bool,
    totp_enabled: bool,
    hourly_rate: Option<rust_decimal::Decimal>,
    /// The company's currency: the rate's digits.
    currency: String,
    last_login_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    password_hash: String,
    totp_secret: Option<String>,
}

impl UserRow {
    fn into_credentials(self) -> DomainResult<Credentials> {
        let role = Role::parse(&self.role)
            .ok_or_else(|| DomainError::Internal(format!("unknown role {:?}", self.role)))?;
        Ok(Credentials {
            user: User {
                id: self.id,
                email: self.email,
                name: self.name,
                role,
                active: self.active,
                totp_enabled: self.totp_enabled,
                hourly_rate: self.hourly_rate.map(|r| {
                    crate::kernel::money::to_price(
                        r,
                        crate::kernel::money::minor_units(self.currency.trim()).unwrap_or(2),
                    )
                }),
                last_login_at: self.last_login_at,
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
            password_hash: self.password_hash,
            totp_secret: self.totp_secret,
        })
    }
}

const COLUMNS: &str = "id, email, name, role, active, totp_enabled, hourly_rate, \
    (SELECT c.currency::text FROM companies c WHERE c.id = users.company_id) AS currency, last_login_at, created_at, \
                       updated_at, password_hash, totp_secret";

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// At least 12 characters.
    pub password: String,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub password: Option<String>,
    pub active: Option<bool>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub hourly_rate: Option<Option<rust_decimal::Decimal>>,
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub q: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

fn email_taken() -> DomainError {
    DomainError::conflict("email_taken", "this e-mail address is already in use")
}

/// Finds who signs in with `email`: the one SECURITY DEFINER look-up that
/// runs before the tenant is known. Returns the user's id and tenant.
pub async fn resolve_email(
    pool: &sqlx::PgPool,
    email: &str,
) -> DomainResult<Option<(UserId, crate::TenantId)>> {
    Ok(
        sqlx::query_as("SELECT user_id, company_id FROM auth_user_by_email($1)")
            .bind(email.trim())
            .fetch_optional(pool)
            .await?,
    )
}

/// The e-mail addresses of the active admins: whom platform notices go to.
pub async fn admin_emails(tx: &mut TenantTx) -> DomainResult<Vec<String>> {
    emails_of(tx, &[Role::Admin]).await
}

/// The e-mail addresses of the active users with one of `roles`.
pub async fn emails_of(tx: &mut TenantTx, roles: &[Role]) -> DomainResult<Vec<String>> {
    let tenant = tx.tenant();
    let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Ok(sqlx::query_scalar(
        "SELECT email FROM users WHERE company_id = $1 AND role = ANY($2) AND active ORDER BY email",
    )
    .bind(tenant)
    .bind(&roles)
    .fetch_all(tx.conn())
    .await?)
}

pub async fn credentials(tx: &mut TenantTx, id: UserId) -> DomainResult<Credentials> {
    let tenant = tx.tenant();
    let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE company_id = $1 AND id = $2"
    )))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.ok_or(DomainError::not_found("user"))?
        .into_credentials()
}

/// Checks that `user` is an active tech or admin of this tenant, one who
/// may hold tickets, tasks and projects; a 422 on `field` otherwise.
pub async fn check_staff(tx: &mut TenantTx, user: UserId, field: &str) -> DomainResult<()> {
    let tenant = tx.tenant();
    let row: Option<(String, bool)> =
        sqlx::query_as("SELECT role, active FROM users WHERE company_id = $1 AND id = $2")
            .bind(tenant)
            .bind(user)
            .fetch_optional(tx.conn())
            .await?;
    let ok = matches!(&row, Some((role, true)) if Role::parse(role).is_some_and(|r| r != Role::Accountant));
    if ok {
        Ok(())
    } else {
        let mut v = ValidationErrors::new();
        v.add(
            field,
            "invalid",
            format!("{field} must be an active tech or admin of this company"),
        );
        Err(DomainError::Validation(v))
    }
}

pub async fn get(tx: &mut TenantTx, id: UserId) -> DomainResult<User> {
    Ok(credentials(tx, id).await?.user)
}

pub async fn list(
    tx: &mut TenantTx,
    f: &UserFilter,
    page: &PageRequest,
) -> DomainResult<Page<User>> {
    const FILTER: &str = "company_id = $1 \
        AND ($2::text IS NULL OR name ILIKE $2 OR email ILIKE $2) \
        AND ($3::text IS NULL OR role = $3) \
        AND ($4::bool IS NULL OR active = $4)";
    let tenant = tx.tenant();
    let q = f.q.as_deref().map(like_pattern);
    let role = f.role.map(Role::as_str);
    let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE {FILTER} \
         AND ($5::text IS NULL OR (lower(name), id) > ($5, $6)) \
         ORDER BY lower(name), id LIMIT $7"
    )))
    .bind(tenant)
    .bind(&q)
    .bind(role)
    .bind(f.active)
    .bind(page.after_key())
    .bind(page.after_id())
    .bind(page.fetch())
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM users WHERE {FILTER}"
    )))
    .bind(tenant)
    .bind(&q)
    .bind(role)
    .bind(f.active)
    .fetch_one(tx.conn())
    .await?;
    let users = rows
        .into_iter()
        .map(|r| r.into_credentials().map(|c| c.user))
        .collect::<DomainResult<Vec<_>>>()?;
    Ok(Page::from_rows(users, page, total, |u| Cursor {
        key: u.name.to_lowercase(),
        id: u.id.as_uuid(),
    }))
}

pub async fn create(tx: &mut TenantTx, new: NewUser) -> DomainResult<User> {
    let mut v = ValidationErrors::new();
    let email = v.email("email", &new.email);
    let name = v.required_text("name", &new.name, 200);
    passwords::validate(&mut v, "password", &new.password);
    v.finish()?;
    let hash = passwords::hash(new.password).await?;
    insert(tx, &email, &name, new.role, &hash).await
}

async fn insert(
    tx: &mut TenantTx,
    email: &str,
    name: &str,
    role: Role,
    password_hash: &str,
) -> DomainResult<User> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (id, company_id, email, name, role, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
    )))
    .bind(UserId::new())
    .bind(tenant)
    .bind(email)
    .bind(name)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(now)
    .fetch_one(tx.conn())
    .await
    .on_constraint("users_email_key", email_taken)?;
    Ok(row.into_credentials()?.user)
}

/// Creates the user with `email`, or resets its name, role (admin), password
/// and activity when it exists in this tenant. For seeding.
pub async fn upsert_admin(
    tx: &mut TenantTx,
    email: &str,
    name: &str,
    password: String,
) -> DomainResult<User> {
    let mut v = ValidationErrors::new();
    let email = v.email("admin_email", email);
    passwords::validate(&mut v, "admin_password", &password);
    v.finish()?;
    let hash = passwords::hash(password).await?;
    let tenant = tx.tenant();
    let existing: Option<UserId> = sqlx::query_scalar(
        "SELECT id FROM users WHERE company_id = $1 AND lower(email) = lower($2)",
    )
    .bind(tenant)
    .bind(&email)
    .fetch_optional(tx.conn())
    .await?;
    match existing {
        None => insert(tx, &email, name, Role::Admin, &hash).await,
        Some(id) => {
            let now = tx.now();
            sqlx::query(
                "UPDATE users SET role = 'admin', active = true, password_hash = $3, \
                 updated_at = $4 WHERE company_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(id)
            .bind(&hash)
            .bind(now)
            .execute(tx.conn())
            .await?;
            tx.forget_user_state(id);
            get(tx, id).await
        }
    }
}

/// Applies `patch`. Refuses to leave the company without an active admin.
pub async fn update(tx: &mut TenantTx, id: UserId, patch: UserPatch) -> DomainResult<User> {
    let mut v = ValidationErrors::new();
    let email = patch.email.as_deref().map(|e| v.email("email", e));
    let name = patch
        .name
        .as_deref()
        .map(|n| v.required_text("name", n, 200));
    if let Some(p) = &patch.password {
        passwords::validate(&mut v, "password", p);
    }
    let rate = patch
        .hourly_rate
        .map(|r| crate::kernel::money::validate_rate(&mut v, "hourly_rate", r));
    v.finish()?;
    let current = get(tx, id).await?;
    let loses_admin = current.role == Role::Admin
        && current.active
        && (patch.role.is_some_and(|r| r != Role::Admin) || patch.active == Some(false));
    if loses_admin {
        ensure_another_admin(tx, id).await?;
    }
    let hash = match patch.password {
        Some(p) => Some(passwords::hash(p).await?),
        None => None,
    };
    let password_changed = hash.is_some();
    let (tenant, now) = (tx.tenant(), tx.now());
    let row: UserRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE users SET email = COALESCE($3, email), name = COALESCE($4, name), \
         role = COALESCE($5, role), password_hash = COALESCE($6, password_hash), \
         active = COALESCE($7, active), updated_at = $8, \
         hourly_rate = CASE WHEN $9 THEN $10 ELSE hourly_rate END \
         WHERE company_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(tenant)
    .bind(id)
    .bind(email)
    .bind(name)
    .bind(patch.role.map(Role::as_str))
    .bind(hash)
    .bind(patch.active)
    .bind(now)
    .bind(rate.is_some())
    .bind(rate.flatten())
    .fetch_one(tx.conn())
    .await
    .on_constraint("users_email_key", email_taken)?;
    let user = row.into_credentials()?.user;
    tx.forget_user_state(id);
    // A deactivated user or a new password ends every session and token.
    if !user.active || password_changed {
        crate::identity::tokens::revoke_all_for_user(tx, id).await?;
    }
    Ok(user)
}

/// Deactivates a user (rows stay for the audit trail) and revokes its tokens.
pub async fn deactivate(tx: &mut TenantTx, id: UserId) -> DomainResult<User> {
    update(
        tx,
        id,
        UserPatch {
            active: Some(false),
            ..UserPatch::default()
        },
    )
    .await
}

async fn ensure_another_admin(tx: &mut TenantTx, except: UserId) -> DomainResult<()> {
    let tenant = tx.tenant();
    // Lock the admins so two concurrent demotions cannot both pass.
    let admins: Vec<UserId> = sqlx::query_scalar(
        "SELECT id FROM users WHERE company_id = $1 AND role = 'admin' AND active \
         ORDER BY id FOR UPDATE",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    if admins.iter().any(|a| *a != except) {
        Ok(())
    } else {
        Err(DomainError::conflict(
            "last_admin",
            "the company must keep at least one active admin",
        ))
    }
}

pub async fn record_login(tx: &mut TenantTx, id: UserId) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query("UPDATE users SET last_login_at = $3 WHERE company_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

impl Credentials {
    /// The TOTP secret, opened with `key` when it is sealed (one stored
    /// before secrets were sealed is plain text, and still read).
    pub fn totp(
        &self,
        tenant: crate::TenantId,
        key: Option<&crate::kernel::crypto::SecretKey>,
    ) -> DomainResult<Option<String>> {
        let Some(stored) = self.totp_secret.as_deref() else {
            return Ok(None);
        };
        crate::kernel::crypto::open_text(key, tenant, stored, "TOTP secret").map(Some)
    }
}

/// Stores a new, not yet confirmed TOTP secret: sealed with AES-256-GCM
/// under `key` (the tenant bound to it) when there is a key.
pub async fn set_pending_totp(
    tx: &mut TenantTx,
    id: UserId,
    secret: &str,
    key: Option<&crate::kernel::crypto::SecretKey>,
) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    let secret = crate::kernel::crypto::seal_text(key, tenant, secret);
    sqlx::query(
        "UPDATE users SET totp_secret = $3, totp_enabled = false, updated_at = $4 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(&secret)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn set_totp_enabled(tx: &mut TenantTx, id: UserId, enabled: bool) -> DomainResult<()> {
    let (tenant, now) = (tx.tenant(), tx.now());
    sqlx::query(
        "UPDATE users SET totp_enabled = $3, \
         totp_secret = CASE WHEN $3 THEN totp_secret ELSE NULL END, updated_at = $4 \
         WHERE company_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(enabled)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok(())
}
