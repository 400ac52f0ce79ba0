//! The client portal's account pages, for any signed-in contact: their
//! client's assets (when the company shares them), and their own name,
//! phone and password.

use axum::extract::State;
use chrono::NaiveDate;
use nestogy_domain::customers::contacts::{self, ContactPatch};
use nestogy_domain::identity::{company, passwords, tokens};
use nestogy_domain::inventory::assets::{self, Asset, AssetFilter, AssetStatus, AssetType};
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::portal::{self, PortalContact};
use nestogy_domain::{AssetId, DomainError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::ContactPrincipal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Query};
use crate::routes::PageQuery;
use crate::routes::auth::RequestMeta;
use crate::routes::portal::{PortalToken, audit_contact, contact_token};
use crate::state::AppState;
use nestogy_domain::kernel::pagination::Page;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_assets))
        .routes(routes!(update_me))
        .routes(routes!(change_password))
}

/// An asset as its client sees it in the portal.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PortalAsset {
    pub id: AssetId,
    pub name: String,
    #[serde(rename = "type")]
    pub asset_type: AssetType,
    pub make: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub warranty_expires: Option<NaiveDate>,
    pub status: AssetStatus,
}

impl From<Asset> for PortalAsset {
    fn from(a: Asset) -> Self {
        PortalAsset {
            id: a.id,
            name: a.name,
            asset_type: a.asset_type,
            make: a.make,
            model: a.model,
            serial: a.serial,
            warranty_expires: a.warranty_expires,
            status: a.status,
        }
    }
}

/// The client's assets by name, read-only, when the company shares them
/// with its contacts (else 403 `assets_not_shared`).
#[utoipa::path(get, path = "/api/v1/portal/assets", tag = "portal", params(PageQuery),
    responses((status = 200, body = Page<PortalAsset>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_assets(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<PortalAsset>>> {
    let page = q.page()?;
    let mut tx = c.tx(&s).await?;
    if !company::get(&mut tx).await?.portal_show_assets {
        tx.end_read();
        return Err(DomainError::forbidden(
            "assets_not_shared",
            "your provider does not show assets in the portal",
        )
        .into());
    }
    let filter = AssetFilter {
        client_id: Some(c.contact.client_id),
        ..Default::default()
    };
    let out = assets::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(out.map(PortalAsset::from)))
}

/// What a contact may change of themselves.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalProfile {
    /// Checked as staff's contact edits are.
    pub name: Option<String>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::patch::nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
}

/// Change your name or phone number (validated as staff's contact edits
/// are: 422 with the fields).
#[utoipa::path(patch, path = "/api/v1/portal/me", tag = "portal", request_body = PortalProfile,
    responses((status = 200, body = PortalContact), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_me(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Json(body): Json<PortalProfile>,
) -> ApiResult<axum::Json<PortalContact>> {
    let mut tx = c.tx(&s).await?;
    let patch = ContactPatch {
        name: body.name,
        phone: body.phone,
        ..ContactPatch::default()
    };
    let updated = contacts::update(&mut tx, c.contact.client_id, c.contact.id, patch).await?;
    audit_contact(&mut tx, &c.actor(), "portal.profile_updated", c.contact.id).await?;
    let me = portal::contact(&mut tx, updated.id)
        .await?
        .ok_or(DomainError::not_found("contact"))?;
    tx.commit().await?;
    Ok(axum::Json(me))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password in use now; required when the contact has one.
    pub current_password: Option<String>,
    /// The staff password policy.
    pub new_password: String,
}

/// Set or change your password. With a password already set, the current
/// one is needed (a wrong one: 422 `wrong_password` on `current_password`,
/// counted like a sign-in attempt, 429 once throttled). Ends every other
/// token and portal session of the contact and answers a fresh token.
#[utoipa::path(post, path = "/api/v1/portal/me/password", tag = "portal",
    request_body = PasswordChange,
    responses((status = 200, body = PortalToken), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)),
    security(("bearer" = [])))]
async fn change_password(
    c: ContactPrincipal,
    State(s): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<PasswordChange>,
) -> ApiResult<axum::Json<PortalToken>> {
    let mut v = ValidationErrors::new();
    passwords::validate(&mut v, "new_password", &body.new_password);
    let stored = c.contact.password_hash.clone();
    if stored.is_some() && body.current_password.is_none() {
        v.add(
            "current_password",
            "required",
            "current_password is required to change the password",
        );
    }
    v.finish()?;
    let mut tx = c.tx(&s).await?;
    if let (Some(stored), Some(current)) = (stored, body.current_password) {
        let slug = company::get(&mut tx).await?.portal_slug;
        let email = c.contact.email.clone().unwrap_or_default();
        let key = tokens::SignInKey::portal(&slug, "login", &email, meta.source);
        tokens::sign_in_attempt(&s.db, &key).await?;
        if !passwords::verify(current, stored).await? {
            audit_contact(
                &mut tx,
                &c.actor(),
                "portal.password_check_failed",
                c.contact.id,
            )
            .await?;
            tx.commit().await?;
            let mut v = ValidationErrors::new();
            v.add(
                "current_password",
                "wrong_password",
                "the current password is wrong",
            );
            return Err(DomainError::Validation(v).into());
        }
        tokens::sign_in_succeeded(&s.db, &key).await?;
    }
    let hash = passwords::hash(body.new_password).await?;
    let version = portal::set_password(&mut tx, c.contact.id, Some(hash)).await?;
    audit_contact(&mut tx, &c.actor(), "portal.password_changed", c.contact.id).await?;
    let token = contact_token(&s, c.tenant, c.contact.id, version, tx.now())?;
    tx.commit().await?;
    Ok(axum::Json(token))
}
