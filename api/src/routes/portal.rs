//! The client portal's identity, as a JSON API: staff invite a contact;
//! contacts sign in at their company's portal (`{slug}`) by the invitation
//! link, a sign-in link mailed to them, or a password, and get a contact
//! access token that only the portal's routes accept.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use nestogy_domain::customers::contacts;
use nestogy_domain::identity::company;
use nestogy_domain::identity::{passwords, tokens};
use nestogy_domain::kernel::audit::{self, Actor};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::portal::links::{self, LinkKind};
use nestogy_domain::portal::{self, PortalContact};
use nestogy_domain::service_desk::tickets::Priority;
use nestogy_domain::{ClientId, ContactId, DomainError, TenantId, TenantTx};
use nestogy_jobs::mail as mailer;
use nestogy_jobs::mail::compose;
use nestogy_jobs::mail::message::{Message, PortalLink};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{ContactPrincipal, Principal};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path};
use crate::routes::auth::{RequestMeta, dummy_hash, invalid_credentials};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite))
        .routes(routes!(accept_invitation))
        .routes(routes!(magic_link))
        .routes(routes!(consume_magic_link))
        .routes(routes!(login))
        .routes(routes!(logo))
        .routes(routes!(brand))
        .routes(routes!(logout_everywhere))
        .routes(routes!(me))
}

/// A browser key: what the portal's page keeps in the browser that asks
/// for a sign-in link (at least 16 characters).
const BROWSER_KEY_LEN: std::ops::RangeInclusive<usize> = 16..=256;

#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    /// When the invitation link stops working (7 days).
    pub expires_at: DateTime<Utc>,
}

/// Invite a contact to the client portal: mails them a link (single use,
/// 7 days) to `{public URL}/portal/{slug}/invitation/{token}`. A newer
/// invitation voids the older ones. The contact needs portal access.
#[utoipa::path(post, path = "/api/v1/clients/{id}/contacts/{contact_id}/portal-invitation",
    tag = "contacts", params(("id" = ClientId, Path), ("contact_id" = ContactId, Path)),
    responses((status = 202, body = Invitation), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn invite(
    p: Principal,
    State(s): State<AppState>,
    Path((client, id)): Path<(ClientId, ContactId)>,
) -> ApiResult<(StatusCode, axum::Json<Invitation>)> {
    p.require(Permission::ClientsWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = contacts::get(&mut tx, client, id).await?;
    let Some(email) = c.email.clone().filter(|_| c.portal_access) else {
        return Err(DomainError::conflict(
            "no_portal_access",
            "give the contact portal access (and an e-mail address) first",
        )
        .into());
    };
    let link = links::create(&mut tx, id, LinkKind::Invitation, None).await?;
    let invitation = Invitation {
        expires_at: link.expires_at,
    };
    let pending = mail_link(&s, &mut tx, id, email, LinkKind::Invitation, link).await?;
    p.audit(
        &mut tx,
        "contact.portal_invited",
        "contact",
        id.as_uuid(),
        &invitation,
    )
    .await?;
    tx.commit().await?;
    pending.push(&s.queue).await;
    Ok((StatusCode::ACCEPTED, axum::Json(invitation)))
}

/// Creates and dispatches, in `tx`, the mail carrying a link; push the
/// answer after `tx` commits.
async fn mail_link(
    s: &AppState,
    tx: &mut TenantTx,
    contact: ContactId,
    email: String,
    kind: LinkKind,
    link: links::NewLink,
) -> ApiResult<nestogy_jobs::PendingPush> {
    let company = company::get(tx).await?;
    let path = match kind {
        LinkKind::Invitation => "invitation",
        LinkKind::SignIn => "sign-in",
    };
    let url = format!(
        "{}/portal/{}/{path}/{}",
        s.services.integrations.public_url.trim_end_matches('/'),
        company.portal_slug,
        link.token
    );
    let link = PortalLink::sealed(
        &url,
        link.expires_at,
        tx.tenant(),
        s.services.secrets.as_ref(),
    );
    let message = match kind {
        LinkKind::Invitation => Message::PortalInvitation { contact, link },
        LinkKind::SignIn => Message::PortalSignIn { contact, link },
    };
    let key = format!(
        "contact:{contact}:portal_{}:{}",
        kind.as_str(),
        uuid::Uuid::now_v7()
    );
    let new = compose::new_message(tx, &message, key, vec![email]).await?;
    let (msg, _) = mailer::create(tx, &s.jobs(), new)
        .await
        .map_err(DomainError::from)?;
    let (_, pending) = mailer::dispatch_in(tx, &[msg.id]).await?;
    Ok(pending)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalToken {
    /// A contact access token for `Authorization: Bearer` on the portal's
    /// routes (refused by every staff route).
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The token of the invitation link.
    pub token: String,
    /// The password to sign in with later (the staff password policy);
    /// without one the contact signs in by sign-in links only.
    pub password: Option<String>,
}

/// The tenant of a portal address, or 401 `link_invalid` (an unknown
/// portal and an unknown link answer alike).
async fn tenant_of(s: &AppState, slug: &str) -> ApiResult<TenantId> {
    portal::company_by_slug(&s.db, slug).await?.ok_or_else(|| {
        DomainError::unauthenticated("link_invalid", "this link is not valid").into()
    })
}

pub(crate) async fn audit_contact(
    tx: &mut TenantTx,
    actor: &Actor,
    action: &str,
    contact: ContactId,
) -> ApiResult<()> {
    audit::record(
        tx,
        actor,
        action,
        "contact",
        Some(contact.as_uuid()),
        serde_json::json!({}),
    )
    .await?;
    Ok(())
}

pub(crate) fn contact_token(
    s: &AppState,
    tenant: TenantId,
    contact: ContactId,
    version: i32,
    now: DateTime<Utc>,
) -> ApiResult<PortalToken> {
    Ok(PortalToken {
        access_token: s.jwt.issue_contact(tenant, contact, version, now)?,
        token_type: "Bearer",
        expires_in: s.jwt.access_ttl.num_seconds(),
    })
}

/// Accept an invitation: uses its link (once), sets the password if one is
/// given, and signs the contact in.
#[utoipa::path(post, path = "/api/v1/portal/{slug}/auth/accept-invitation", tag = "portal",
    params(("slug" = String, Path, description = "The company's portal slug")),
    request_body = AcceptInvitation,
    responses((status = 200, body = PortalToken), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn accept_invitation(
    State(s): State<AppState>,
    meta: RequestMeta,
    Path(slug): Path<String>,
    Json(body): Json<AcceptInvitation>,
) -> ApiResult<axum::Json<PortalToken>> {
    if let Some(pw) = &body.password {
        let mut v = ValidationErrors::new();
        passwords::validate(&mut v, "password", pw);
        v.finish()?;
    }
    let tenant = tenant_of(&s, &slug).await?;
    let hash = match body.password {
        Some(pw) => Some(passwords::hash(pw).await?),
        None => None,
    };
    let mut tx = s.db.tenant(tenant).await?;
    let contact = links::consume(&mut tx, LinkKind::Invitation, body.token.trim(), None).await?;
    let version = match hash {
        Some(h) => portal::set_password(&mut tx, contact, Some(h)).await?,
        None => current_version(&mut tx, contact).await?,
    };
    let actor = Actor::contact(contact, meta.request_id.clone());
    audit_contact(&mut tx, &actor, "portal.invitation_accepted", contact).await?;
    let token = contact_token(&s, tenant, contact, version, tx.now())?;
    tx.commit().await?;
    Ok(axum::Json(token))
}

async fn current_version(tx: &mut TenantTx, contact: ContactId) -> ApiResult<i32> {
    Ok(portal::contact(tx, contact)
        .await?
        .map(|c| c.token_version)
        .ok_or(DomainError::not_found("contact"))?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MagicLinkRequest {
    pub email: String,
    /// A random key the asking browser keeps (16 to 256 characters); the
    /// link works only together with it.
    pub browser_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MagicLinkSent {
    /// The same words whether or not the address has portal access.
    pub message: &'static str,
}

fn check_browser_key(v: &mut ValidationErrors, key: &str) {
    if !BROWSER_KEY_LEN.contains(&key.chars().count()) {
        v.add(
            "browser_key",
            "invalid",
            "browser_key must be 16 to 256 characters",
        );
    }
}

/// Ask for a sign-in link. Always 202 with the same body: when the address
/// is a contact with portal access at this company, a link (single use,
/// 15 minutes, working only with this `browser_key`) is mailed to
/// `{public URL}/portal/{slug}/sign-in/{token}`. Requests are throttled as
/// sign-ins are (429).
#[utoipa::path(post, path = "/api/v1/portal/{slug}/auth/magic-link", tag = "portal",
    params(("slug" = String, Path, description = "The company's portal slug")),
    request_body = MagicLinkRequest,
    responses((status = 202, body = MagicLinkSent), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn magic_link(
    State(s): State<AppState>,
    meta: RequestMeta,
    Path(slug): Path<String>,
    Json(body): Json<MagicLinkRequest>,
) -> ApiResult<(StatusCode, axum::Json<MagicLinkSent>)> {
    let mut v = ValidationErrors::new();
    let email = v.optional_email("email", Some(&body.email));
    if email.is_none() && v.is_empty() {
        v.add("email", "required", "email must not be empty");
    }
    check_browser_key(&mut v, &body.browser_key);
    v.finish()?;
    let email = email.unwrap_or_default();
    let sent = (
        StatusCode::ACCEPTED,
        axum::Json(MagicLinkSent {
            message: "if this address may use the portal, a sign-in link is on its way",
        }),
    );
    let key = tokens::SignInKey::portal(&slug, "magic_link", &email, meta.source);
    tokens::sign_in_attempt(&s.db, &key).await?;
    let Some(tenant) = portal::company_by_slug(&s.db, &slug).await? else {
        return Ok(sent);
    };
    let mut tx = s.db.tenant(tenant).await?;
    let Some(contact) = portal::by_email(&mut tx, &email).await? else {
        return Ok(sent);
    };
    let link = links::create(
        &mut tx,
        contact.id,
        LinkKind::SignIn,
        Some(&body.browser_key),
    )
    .await?;
    let to = contact.email.clone().unwrap_or(email);
    let pending = mail_link(&s, &mut tx, contact.id, to, LinkKind::SignIn, link).await?;
    let actor = Actor::contact(contact.id, meta.request_id.clone());
    audit_contact(&mut tx, &actor, "portal.sign_in_link_sent", contact.id).await?;
    tx.commit().await?;
    pending.push(&s.queue).await;
    Ok(sent)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumeMagicLink {
    /// The token of the sign-in link.
    pub token: String,
    /// The key of the browser that asked for the link.
    pub browser_key: String,
}

/// Use a sign-in link: once, before it expires, with the key of the browser
/// that asked for it (a wrong key leaves the link unused). 401 says why:
/// `link_invalid`, `link_expired`, `link_used` or `link_other_browser`.
#[utoipa::path(post, path = "/api/v1/portal/{slug}/auth/magic-link/consume", tag = "portal",
    params(("slug" = String, Path, description = "The company's portal slug")),
    request_body = ConsumeMagicLink,
    responses((status = 200, body = PortalToken), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn consume_magic_link(
    State(s): State<AppState>,
    meta: RequestMeta,
    Path(slug): Path<String>,
    Json(body): Json<ConsumeMagicLink>,
) -> ApiResult<axum::Json<PortalToken>> {
    let mut v = ValidationErrors::new();
    check_browser_key(&mut v, &body.browser_key);
    v.finish()?;
    let tenant = tenant_of(&s, &slug).await?;
    let mut tx = s.db.tenant(tenant).await?;
    let contact = links::consume(
        &mut tx,
        LinkKind::SignIn,
        body.token.trim(),
        Some(&body.browser_key),
    )
    .await;
    let contact = match contact {
        Ok(c) => c,
        Err(e) => {
            // The failed attempt is not kept: a wrong browser leaves the
            // link as it was.
            tx.end_read();
            return Err(e.into());
        }
    };
    let version = current_version(&mut tx, contact).await?;
    let actor = Actor::contact(contact, meta.request_id.clone());
    audit_contact(&mut tx, &actor, "portal.login_link", contact).await?;
    let token = contact_token(&s, tenant, contact, version, tx.now())?;
    tx.commit().await?;
    Ok(axum::Json(token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalLogin {
    pub email: String,
    pub password: String,
}

/// Sign in with e-mail and password, throttled as staff sign-in is
/// (counted before the password is checked; past the limit 429 with
/// `Retry-After`). An unknown address, a contact without a password and a
/// wrong password answer the same 401 `invalid_credentials`.
#[utoipa::path(post, path = "/api/v1/portal/{slug}/auth/login", tag = "portal",
    params(("slug" = String, Path, description = "The company's portal slug")),
    request_body = PortalLogin,
    responses((status = 200, body = PortalToken), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn login(
    State(s): State<AppState>,
    meta: RequestMeta,
    Path(slug): Path<String>,
    Json(body): Json<PortalLogin>,
) -> ApiResult<axum::Json<PortalToken>> {
    let key = tokens::SignInKey::portal(&slug, "login", &body.email, meta.source);
    let tenant = portal::company_by_slug(&s.db, &slug).await?;
    let account = match tenant {
        Some(t) => {
            let mut tx = s.db.tenant(t).await?;
            let c = portal::by_email(&mut tx, &body.email).await?;
            tx.end_read();
            c.map(|c| (t, c))
        }
        None => None,
    };
    if let Err(locked) = tokens::sign_in_attempt(&s.db, &key).await {
        if let Some((t, c)) = &account {
            let mut tx = s.db.tenant(*t).await?;
            let actor = Actor::contact(c.id, meta.request_id.clone());
            audit_contact(&mut tx, &actor, "portal.login_locked", c.id).await?;
            tx.commit().await?;
        }
        return Err(locked.into());
    }
    let Some((tenant, contact)) = account.filter(|(_, c)| c.password_hash.is_some()) else {
        passwords::verify(body.password, dummy_hash().await?.to_owned()).await?;
        return Err(invalid_credentials());
    };
    let stored = contact.password_hash.clone().unwrap_or_default();
    let ok = passwords::verify(body.password, stored).await?;
    let mut tx = s.db.tenant(tenant).await?;
    let actor = Actor::contact(contact.id, meta.request_id.clone());
    if !ok {
        audit_contact(&mut tx, &actor, "portal.login_failed", contact.id).await?;
        tx.commit().await?;
        return Err(invalid_credentials());
    }
    audit_contact(&mut tx, &actor, "portal.login", contact.id).await?;
    let token = contact_token(&s, tenant, contact.id, contact.token_version, tx.now())?;
    tx.commit().await?;
    tokens::sign_in_succeeded(&s.db, &key).await?;
    Ok(axum::Json(token))
}

/// The company's logo for its portal's pages, as uploaded.
#[utoipa::path(get, path = "/api/v1/portal/{slug}/logo", tag = "portal",
    params(("slug" = String, Path, description = "The company's portal slug")),
    responses((status = 200, description = "The image, as uploaded",
            content((Vec<u8> = "image/png"), (String = "image/svg+xml"))),
        (status = 404, body = ErrorBody)))]
async fn logo(State(s): State<AppState>, Path(slug): Path<String>) -> ApiResult<Response> {
    let tenant = portal::company_by_slug(&s.db, &slug)
        .await?
        .ok_or(DomainError::not_found("logo"))?;
    let mut tx = s.db.tenant(tenant).await?;
    let logo = company::logo(&mut tx)
        .await?
        .ok_or(DomainError::not_found("logo"))?;
    tx.end_read();
    let mut resp = logo.bytes.into_response();
    if let Ok(v) = HeaderValue::from_str(&logo.content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(resp)
}

/// Sign out everywhere: ends every access token of the contact at once.
#[utoipa::path(post, path = "/api/v1/portal/auth/logout-everywhere", tag = "portal",
    responses((status = 204), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn logout_everywhere(
    c: ContactPrincipal,
    State(s): State<AppState>,
) -> ApiResult<StatusCode> {
    let mut tx = c.tx(&s).await?;
    portal::revoke_tokens(&mut tx, c.contact.id).await?;
    audit_contact(
        &mut tx,
        &c.actor(),
        "portal.logout_everywhere",
        c.contact.id,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The company as its portal shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PortalCompany {
    pub name: String,
    pub portal_slug: String,
    /// `/api/v1/portal/{slug}/logo` when the company has a logo.
    pub logo_url: Option<String>,
    /// `#rrggbb`, when the company has chosen one.
    pub accent_color: Option<String>,
    /// Days after closing that a contact may reopen a ticket.
    pub reopen_days: i32,
    /// The priorities a contact may choose.
    pub priorities: Vec<Priority>,
    /// Whether contacts see their client's assets.
    pub show_assets: bool,
    /// How the portal writes amounts and dates (`en-US`, `de-DE`, ...).
    pub locale: String,
    /// IANA name, e.g. `Europe/Berlin`: the portal shows times in it.
    pub time_zone: String,
    /// ISO 4217 code of the company's prices.
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PortalMe {
    pub contact: PortalContact,
    pub company: PortalCompany,
}

/// The company as its portal shows it, read in `tx`.
async fn portal_company(tx: &mut TenantTx) -> ApiResult<PortalCompany> {
    let co = company::get(tx).await?;
    let has_logo = company::has_logo(tx).await?;
    Ok(PortalCompany {
        logo_url: has_logo.then(|| format!("/api/v1/portal/{}/logo", co.portal_slug)),
        accent_color: co.branding.accent_color,
        name: co.name,
        portal_slug: co.portal_slug,
        reopen_days: co.portal_reopen_days,
        priorities: co.portal_priorities,
        show_assets: co.portal_show_assets,
        locale: co.locale,
        time_zone: co.time_zone,
        currency: co.currency,
    })
}

/// The company a portal address belongs to, for its sign-in page: name,
/// branding and portal settings (what any visitor of the portal sees).
#[utoipa::path(get, path = "/api/v1/portal/{slug}/brand", tag = "portal",
    params(("slug" = String, Path, description = "The company's portal slug")),
    responses((status = 200, body = PortalCompany), (status = 404, body = ErrorBody)))]
async fn brand(
    State(s): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult<axum::Json<PortalCompany>> {
    let tenant = portal::company_by_slug(&s.db, &slug)
        .await?
        .ok_or(DomainError::not_found("portal"))?;
    let mut tx = s.db.tenant(tenant).await?;
    let out = portal_company(&mut tx).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// The signed-in contact, their client, role and billing flag, and the
/// company's name, branding and portal settings.
#[utoipa::path(get, path = "/api/v1/portal/me", tag = "portal",
    responses((status = 200, body = PortalMe), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn me(c: ContactPrincipal, State(s): State<AppState>) -> ApiResult<axum::Json<PortalMe>> {
    let mut tx = c.tx(&s).await?;
    let company = portal_company(&mut tx).await?;
    tx.end_read();
    Ok(axum::Json(PortalMe {
        company,
        contact: c.contact,
    }))
}
