//! Sign-in, token refresh with rotation, sign-out and TOTP.

use std::net::IpAddr;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use nestogy_domain::identity::tokens::{self, RefreshOutcome};
use nestogy_domain::identity::users::{self, User};
use nestogy_domain::kernel::audit::{self, Actor};
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::{DomainError, TenantId, TenantTx, UserId, identity::passwords};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use totp_rs::{Builder, Secret, Totp};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, request_id};
use crate::client_addr::client_addr;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_everywhere))
        .routes(routes!(me, update_me))
        .routes(routes!(totp_enroll))
        .routes(routes!(totp_confirm))
        .routes(routes!(totp_disable))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Required when the user has enabled TOTP.
    pub totp_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT for the `Authorization: Bearer` header.
    pub access_token: String,
    /// Exchange at `/api/v1/auth/refresh` for a new pair; usable once.
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Request metadata for audit rows written before a principal exists, and
/// the client's address sign-in throttling counts by.
pub struct RequestMeta {
    pub(crate) request_id: Option<String>,
    pub(crate) source: IpAddr,
}

impl axum::extract::FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        Ok(RequestMeta {
            request_id: request_id(parts),
            source: client_addr(parts, &s.trusted_proxies),
        })
    }
}

impl RequestMeta {
    fn actor(&self, user: UserId) -> Actor {
        Actor {
            user_id: Some(user),
            token_id: None,
            contact_id: None,
            request_id: self.request_id.clone(),
        }
    }
}

pub(crate) fn invalid_credentials() -> ApiError {
    ApiError::Domain(DomainError::unauthenticated(
        "invalid_credentials",
        "the e-mail address or password is wrong",
    ))
}

/// A hash to verify against when the e-mail is unknown, so that an unknown
/// address takes as long to refuse as a wrong password.
pub(crate) async fn dummy_hash() -> ApiResult<&'static str> {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    Ok(DUMMY
        .get_or_try_init(|| passwords::hash("not the password of anyone".to_owned()))
        .await?)
}

async fn audit_auth(
    tx: &mut TenantTx,
    meta: &RequestMeta,
    user: UserId,
    action: &str,
) -> ApiResult<()> {
    audit::record(
        tx,
        &meta.actor(user),
        action,
        "user",
        Some(user.as_uuid()),
        serde_json::json!({}),
    )
    .await?;
    Ok(())
}

async fn tokens_for(
    s: &AppState,
    tx: &mut TenantTx,
    tenant: TenantId,
    user: &User,
    refresh_token: String,
) -> ApiResult<TokenResponse> {
    let version = tokens::token_version(tx, user.id).await?;
    let access_token = s.jwt.issue(tenant, user.id, user.role, version, tx.now())?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: s.jwt.access_ttl.num_seconds(),
    })
}

fn totp_for(secret_b32: &str, account: &str) -> ApiResult<Totp> {
    let secret = Secret::try_from_base32(secret_b32)
        .map_err(|e| DomainError::Internal(format!("stored TOTP secret unreadable: {e}")))?;
    Builder::new()
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some("Nestogy"))
        .build()
        .map_err(|e| ApiError::Domain(DomainError::Internal(format!("TOTP: {e}"))))
}

fn totp_ok(totp: &Totp, code: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    let code = code.trim();
    code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && totp.check(code, now.timestamp() as u64).is_some()
}

/// Sign in with e-mail, password and (when enabled) a TOTP code.
///
/// Attempts are counted before the password is checked. Past 5 attempts
/// for one account from one client address in 15 minutes, 20 from one
/// address across accounts in 15 minutes, or 100 for one account from
/// anywhere in an hour, the answer is 429 with `Retry-After` and the
/// password is not checked. A successful sign-in starts its (account,
/// address) count over. Unknown e-mail addresses are counted the same way.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn login(
    State(s): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<LoginRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    Ok(axum::Json(sign_in(&s, &meta, body).await?))
}

/// Checks e-mail, password and TOTP code with throttling and audit, and
/// issues an access and a refresh token: the sign-in of both the API
/// (`POST /api/v1/auth/login`) and the admin pages (`POST /admin/login`).
pub async fn sign_in(
    s: &AppState,
    meta: &RequestMeta,
    body: LoginRequest,
) -> ApiResult<TokenResponse> {
    let key = tokens::SignInKey::new(&body.email, meta.source);
    let account = users::resolve_email(&s.db.pool, &body.email).await?;
    if let Err(locked) = tokens::sign_in_attempt(&s.db, &key).await {
        if let Some((user_id, tenant)) = account {
            let mut tx = s.db.tenant(tenant).await?;
            audit_auth(&mut tx, meta, user_id, "auth.login_locked").await?;
            tx.commit().await?;
        }
        return Err(locked.into());
    }
    let Some((user_id, tenant)) = account else {
        passwords::verify(body.password, dummy_hash().await?.to_owned()).await?;
        return Err(invalid_credentials());
    };
    let mut tx = s.db.tenant(tenant).await?;
    let creds = users::credentials(&mut tx, user_id).await?;
    let password_ok = passwords::verify(body.password, creds.password_hash.clone()).await?;
    if !password_ok || !creds.user.active {
        audit_auth(&mut tx, meta, user_id, "auth.login_failed").await?;
        tx.commit().await?;
        return Err(invalid_credentials());
    }
    if creds.user.totp_enabled {
        let secret = creds
            .totp(tx.tenant(), s.jobs().services.secrets.as_ref())?
            .unwrap_or_default();
        let secret = secret.as_str();
        let Some(code) = body.totp_code.as_deref() else {
            return Err(DomainError::unauthenticated(
                "totp_required",
                "this account needs a TOTP code",
            )
            .into());
        };
        if !totp_ok(&totp_for(secret, &creds.user.email)?, code, tx.now()) {
            audit_auth(&mut tx, meta, user_id, "auth.login_failed").await?;
            tx.commit().await?;
            return Err(
                DomainError::unauthenticated("invalid_totp", "the TOTP code is wrong").into(),
            );
        }
    }
    users::record_login(&mut tx, user_id).await?;
    let refresh_token = tokens::issue_refresh(&mut tx, user_id, None).await?;
    audit_auth(&mut tx, meta, user_id, "auth.login").await?;
    let resp = tokens_for(s, &mut tx, tenant, &creds.user, refresh_token).await?;
    tx.commit().await?;
    tokens::sign_in_succeeded(&s.db, &key).await?;
    Ok(resp)
}

/// Exchange a refresh token for a new pair. Each refresh token works once;
/// presenting one again revokes every token of its sign-in.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody)))]
async fn refresh(
    State(s): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    match tokens::rotate_refresh(&s.db, body.refresh_token.trim()).await? {
        RefreshOutcome::Invalid => Err(DomainError::unauthenticated(
            "invalid_refresh_token",
            "the refresh token is invalid or expired",
        )
        .into()),
        RefreshOutcome::Reused { mut tx, user } => {
            audit_auth(&mut tx, &meta, user, "auth.refresh_reused").await?;
            tx.commit().await?;
            Err(DomainError::unauthenticated(
                "refresh_token_reused",
                "this refresh token was already used; every session of this sign-in is revoked",
            )
            .into())
        }
        RefreshOutcome::Rotated {
            mut tx,
            user,
            token,
        } => {
            let tenant = tx.tenant();
            let u = users::get(&mut tx, user).await?;
            if !u.active {
                return Err(DomainError::unauthenticated(
                    "invalid_refresh_token",
                    "the user is deactivated",
                )
                .into());
            }
            let resp = tokens_for(&s, &mut tx, tenant, &u, token).await?;
            tx.commit().await?;
            Ok(axum::Json(resp))
        }
    }
}

/// Sign out: revokes the refresh token and every token rotated from it.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(
    State(s): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    if !sign_out(&s, &meta, &body.refresh_token).await? {
        return Err(DomainError::unauthenticated(
            "invalid_refresh_token",
            "the refresh token is unknown",
        )
        .into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes `refresh_token` and every token rotated from it, with its audit
/// row; false when the token is unknown. The API's sign-out and the admin
/// pages' both come here.
pub async fn sign_out(s: &AppState, meta: &RequestMeta, refresh_token: &str) -> ApiResult<bool> {
    let Some((mut tx, user)) = tokens::logout(&s.db, refresh_token.trim()).await? else {
        return Ok(false);
    };
    audit_auth(&mut tx, meta, user, "auth.logout").await?;
    tx.commit().await?;
    Ok(true)
}

/// Sign out everywhere: ends every access, refresh and API token of the
/// caller at once (another device's next request answers 401).
#[utoipa::path(post, path = "/api/v1/auth/logout-everywhere", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn logout_everywhere(
    p: Principal,
    State(s): State<AppState>,
    meta: RequestMeta,
) -> ApiResult<StatusCode> {
    p.require_session()?;
    let mut tx = p.tx(&s).await?;
    tokens::revoke_all_for_user(&mut tx, p.user_id).await?;
    audit_auth(&mut tx, &meta, p.user_id, "auth.logout_everywhere").await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub company_id: TenantId,
    /// The scopes of the API token in use, if the caller used one.
    pub scopes: Option<Vec<String>>,
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn me(p: Principal, State(s): State<AppState>) -> ApiResult<axum::Json<Me>> {
    let mut tx = p.tx(&s).await?;
    let user = users::get(&mut tx, p.user_id).await?;
    tx.end_read();
    Ok(axum::Json(Me {
        user,
        company_id: p.tenant,
        scopes: p
            .api_token
            .map(|(_, s)| s.0.iter().map(|p| p.as_str().to_owned()).collect()),
    }))
}

/// What a user may change of their own account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    /// 1 to 200 characters.
    pub name: Option<String>,
    /// Unique across Nestogy (409 `email_taken` otherwise).
    pub email: Option<String>,
    /// The password in use now; required with `new_password`.
    pub current_password: Option<String>,
    /// At least 12 characters, with `current_password`.
    pub new_password: Option<String>,
}

/// Change your own name, e-mail address or password (signed-in users, not
/// API tokens). A new password needs the current one: a wrong one answers
/// 422 on `current_password` and is counted like a sign-in attempt (429
/// once throttled). A new password ends every session and token of the
/// user, the caller's included: sign in again with it.
#[utoipa::path(patch, path = "/api/v1/auth/me", tag = "auth", request_body = MePatch,
    responses((status = 200, body = User), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_me(
    p: Principal,
    State(s): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<MePatch>,
) -> ApiResult<axum::Json<User>> {
    p.require_session()?;
    let mut v = ValidationErrors::new();
    match (&body.current_password, &body.new_password) {
        (None, Some(_)) => v.add(
            "current_password",
            "required",
            "current_password is required to set a new password",
        ),
        (Some(_), None) => v.add(
            "new_password",
            "required",
            "new_password is required with current_password",
        ),
        _ => {}
    }
    if let Some(new) = &body.new_password {
        passwords::validate(&mut v, "new_password", new);
    }
    v.finish()?;
    let mut tx = p.tx(&s).await?;
    let creds = users::credentials(&mut tx, p.user_id).await?;
    if let Some(current) = body.current_password {
        let key = tokens::SignInKey::new(&creds.user.email, meta.source);
        tokens::sign_in_attempt(&s.db, &key).await?;
        if !passwords::verify(current, creds.password_hash).await? {
            audit_auth(&mut tx, &meta, p.user_id, "auth.password_check_failed").await?;
            tx.commit().await?;
            let mut v = ValidationErrors::new();
            v.add(
                "current_password",
                "invalid_password",
                "the current password is wrong",
            );
            return Err(DomainError::Validation(v).into());
        }
        tokens::sign_in_succeeded(&s.db, &key).await?;
    }
    if body.name.is_none() && body.email.is_none() && body.new_password.is_none() {
        tx.end_read();
        return Ok(axum::Json(creds.user));
    }
    let password_changed = body.new_password.is_some();
    let patch = users::UserPatch {
        name: body.name,
        email: body.email,
        password: body.new_password,
        ..users::UserPatch::default()
    };
    let u = users::update(&mut tx, p.user_id, patch).await?;
    p.audit(
        &mut tx,
        "user.self_updated",
        "user",
        u.id.as_uuid(),
        &serde_json::json!({"user": u, "password_changed": password_changed}),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(u))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrollment {
    /// Base32 secret, for entering by hand.
    pub secret: String,
    /// `otpauth://` URL, for a QR code.
    pub otpauth_url: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

/// Start TOTP enrolment: returns a new secret, active once confirmed.
#[utoipa::path(post, path = "/api/v1/auth/totp/enroll", tag = "auth",
    responses((status = 200, body = TotpEnrollment), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn totp_enroll(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<TotpEnrollment>> {
    p.require_session()?;
    let mut tx = p.tx(&s).await?;
    let user = users::get(&mut tx, p.user_id).await?;
    if user.totp_enabled {
        return Err(DomainError::conflict(
            "totp_already_enabled",
            "TOTP is already enabled; disable it first",
        )
        .into());
    }
    let secret = Secret::generate().to_base32();
    let totp = totp_for(&secret, &user.email)?;
    let otpauth_url = totp
        .to_url()
        .map_err(|e| ApiError::Domain(DomainError::Internal(format!("TOTP URL: {e}"))))?;
    users::set_pending_totp(
        &mut tx,
        p.user_id,
        &secret,
        s.jobs().services.secrets.as_ref(),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(TotpEnrollment {
        secret,
        otpauth_url,
    }))
}

/// Confirm TOTP enrolment with a current code; from now on sign-in needs one.
#[utoipa::path(post, path = "/api/v1/auth/totp/confirm", tag = "auth", request_body = TotpCode,
    responses((status = 204), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn totp_confirm(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<TotpCode>,
) -> ApiResult<StatusCode> {
    totp_change(p, s, body, true).await
}

/// Disable TOTP with a current code.
#[utoipa::path(post, path = "/api/v1/auth/totp/disable", tag = "auth", request_body = TotpCode,
    responses((status = 204), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn totp_disable(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<TotpCode>,
) -> ApiResult<StatusCode> {
    totp_change(p, s, body, false).await
}

async fn totp_change(
    p: Principal,
    s: AppState,
    body: TotpCode,
    enable: bool,
) -> ApiResult<StatusCode> {
    p.require_session()?;
    let mut tx = p.tx(&s).await?;
    let creds = users::credentials(&mut tx, p.user_id).await?;
    let secret = creds.totp(p.tenant, s.jobs().services.secrets.as_ref())?;
    let Some(secret) = secret.as_deref() else {
        return Err(DomainError::conflict(
            "totp_not_enrolled",
            "start enrolment at /api/v1/auth/totp/enroll first",
        )
        .into());
    };
    if creds.user.totp_enabled == enable {
        let state = if enable { "enabled" } else { "disabled" };
        return Err(
            DomainError::conflict("totp_unchanged", format!("TOTP is already {state}")).into(),
        );
    }
    if !totp_ok(&totp_for(secret, &creds.user.email)?, &body.code, tx.now()) {
        let mut v = nestogy_domain::kernel::validation::ValidationErrors::new();
        v.add("code", "invalid_totp", "the TOTP code is wrong");
        return Err(DomainError::Validation(v).into());
    }
    users::set_totp_enabled(&mut tx, p.user_id, enable).await?;
    let action = if enable {
        "auth.totp_enabled"
    } else {
        "auth.totp_disabled"
    };
    audit::record(
        &mut tx,
        &p.actor(),
        action,
        "user",
        Some(p.user_id.as_uuid()),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
