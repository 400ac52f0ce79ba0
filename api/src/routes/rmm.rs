//! RMM alerts in: the tenant's receiver (`POST /api/v1/webhooks/rmm/{company_id}`,
//! authenticated by the tenant's secret as a bearer token) and its settings
//! (admins).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use nestogy_domain::TenantId;
use nestogy_domain::inventory::rmm::{self, Action, Alert, Received, Settings, SettingsInput};
use nestogy_domain::kernel::roles::Permission;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, RawBody, json_from_bytes};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, configure, remove))
        .routes(routes!(rotate_secret))
        .routes(routes!(receive_alert))
}

/// The receiver's settings, with the secret when it was just made.
#[derive(Debug, Serialize, ToSchema)]
pub struct RmmSettingsView {
    #[serde(flatten)]
    pub settings: Settings,
    /// Where the RMM posts alerts.
    pub url: String,
    /// The bearer token the RMM sends; shown only when made.
    pub secret: Option<String>,
}

fn view(
    s: &AppState,
    tenant: TenantId,
    settings: Settings,
    secret: Option<String>,
) -> RmmSettingsView {
    RmmSettingsView {
        settings,
        url: format!(
            "{}/api/v1/webhooks/rmm/{tenant}",
            s.services.integrations.public_url
        ),
        secret,
    }
}

/// The RMM receiver's settings (never its secret).
#[utoipa::path(get, path = "/api/v1/company/rmm", tag = "rmm",
    responses((status = 200, body = RmmSettingsView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_settings(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<RmmSettingsView>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let settings = rmm::settings(&mut tx).await?;
    tx.end_read();
    Ok(axum::Json(view(&s, p.tenant, settings, None)))
}

/// Set up the RMM receiver (its secret is in this answer only), or change
/// whether a resolved alert resolves its ticket.
#[utoipa::path(put, path = "/api/v1/company/rmm", tag = "rmm", request_body = SettingsInput,
    responses((status = 201, body = RmmSettingsView), (status = 200, body = RmmSettingsView),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn configure(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<SettingsInput>,
) -> ApiResult<(StatusCode, axum::Json<RmmSettingsView>)> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let (settings, secret) = rmm::configure(&mut tx, body).await?;
    p.audit_company(&mut tx, "rmm.configured", &settings)
        .await?;
    tx.commit().await?;
    let status = if secret.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view(&s, p.tenant, settings, secret))))
}

/// Turn the RMM receiver off; alerts already received stay.
#[utoipa::path(delete, path = "/api/v1/company/rmm", tag = "rmm",
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn remove(p: Principal, State(s): State<AppState>) -> ApiResult<StatusCode> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    rmm::remove(&mut tx).await?;
    p.audit_company(&mut tx, "rmm.removed", &serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret for the RMM receiver; the old one stops working at once.
#[utoipa::path(post, path = "/api/v1/company/rmm/rotate-secret", tag = "rmm",
    responses((status = 200, body = RmmSettingsView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn rotate_secret(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<RmmSettingsView>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let (settings, secret) = rmm::rotate_secret(&mut tx).await?;
    p.audit_company(&mut tx, "rmm.secret_rotated", &settings)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(view(&s, p.tenant, settings, Some(secret))))
}

/// Receive a monitoring alert: `{"alert_id", "device": {"hostname",
/// "serial"}, "severity": "info|warning|error|critical", "message",
/// "status": "open|resolved"}` with `Authorization: Bearer <secret>`. A new
/// alert opens a ticket linked to the asset with that serial (or hostname);
/// the same alert id updates its open ticket; a resolved alert resolves it
/// when the receiver's `auto_resolve` is on. A wrong secret, an unknown
/// company and a company without a receiver all answer the same 401.
#[utoipa::path(post, path = "/api/v1/webhooks/rmm/{company_id}", tag = "rmm",
    params(("company_id" = TenantId, Path)), request_body = Alert,
    responses((status = 201, body = Received), (status = 200, body = Received),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn receive_alert(
    State(s): State<AppState>,
    Path(company): Path<TenantId>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, axum::Json<Received>)> {
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let refused = || ApiError::unauthenticated("send the receiver's secret as a bearer token");
    let secret = secret.ok_or_else(refused)?;
    let mut tx = s.db.tenant(company).await?;
    if !rmm::authenticate(&mut tx, secret).await? {
        return Err(refused());
    }
    let alert: Alert = json_from_bytes(&body)?;
    let received = rmm::receive(&mut tx, alert).await?;
    tx.commit().await?;
    let status = if received.action == Action::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(received)))
}
