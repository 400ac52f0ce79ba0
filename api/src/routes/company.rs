use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nestogy_domain::identity::company::{self, Company, CompanyPatch};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::platform::mail::{self, SmtpRequest, SmtpSettings};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_company, update_company))
        .routes(routes!(get_logo, put_logo, delete_logo))
        .routes(routes!(get_smtp, put_smtp, delete_smtp))
}

/// The caller's company and its settings.
#[utoipa::path(get, path = "/api/v1/company", tag = "company",
    responses((status = 200, body = Company)), security(("bearer" = [])))]
async fn get_company(p: Principal, State(s): State<AppState>) -> ApiResult<axum::Json<Company>> {
    p.require(Permission::CompanyRead)?;
    let mut tx = p.tx(&s).await?;
    let c = company::get(&mut tx).await?;
    tx.end_read();
    Ok(axum::Json(c))
}

/// Change the company's settings (admins).
#[utoipa::path(patch, path = "/api/v1/company", tag = "company", request_body = CompanyPatch,
    responses((status = 200, body = Company), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_company(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<CompanyPatch>,
) -> ApiResult<axum::Json<Company>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = company::update(&mut tx, body).await?;
    p.audit(&mut tx, "company.updated", "company", c.id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(c))
}

/// The company's logo, as uploaded.
#[utoipa::path(get, path = "/api/v1/company/logo", tag = "company",
    responses((status = 200, description = "The image, as uploaded",
            content((Vec<u8> = "image/png"), (String = "image/svg+xml"))),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_logo(p: Principal, State(s): State<AppState>) -> ApiResult<Response> {
    p.require(Permission::CompanyRead)?;
    let mut tx = p.tx(&s).await?;
    let logo = company::logo(&mut tx)
        .await?
        .ok_or(nestogy_domain::DomainError::not_found("logo"))?;
    tx.end_read();
    let mut resp = logo.bytes.into_response();
    if let Ok(v) = HeaderValue::from_str(&logo.content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(resp)
}

/// Upload the logo documents carry: the raw image as the body, with
/// `Content-Type: image/png` or `image/svg+xml`, at most 512 KiB (admins).
#[utoipa::path(put, path = "/api/v1/company/logo", tag = "company",
    request_body(content((Vec<u8> = "image/png"), (String = "image/svg+xml"))),
    responses((status = 204), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_logo(
    p: Principal,
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    p.require(Permission::CompanyWrite)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    company::validate_logo(&content_type, &body)?;
    if let Err(why) = nestogy_jobs::documents::check_logo(&content_type, body.to_vec()).await {
        let mut v = nestogy_domain::kernel::validation::ValidationErrors::new();
        v.add(
            "logo",
            "undecodable",
            format!("the image cannot be used: {why}"),
        );
        v.finish()?;
    }
    let mut tx = p.tx(&s).await?;
    company::set_logo(&mut tx, &content_type, body.to_vec()).await?;
    p.audit_company(
        &mut tx,
        "company.logo_set",
        &serde_json::json!({ "content_type": content_type, "bytes": body.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove the logo (admins).
#[utoipa::path(delete, path = "/api/v1/company/logo", tag = "company",
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_logo(p: Principal, State(s): State<AppState>) -> ApiResult<StatusCode> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    if !company::delete_logo(&mut tx).await? {
        return Err(nestogy_domain::DomainError::not_found("logo").into());
    }
    p.audit_company(&mut tx, "company.logo_deleted", &serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The company's own SMTP server, if it has one (never the password).
#[utoipa::path(get, path = "/api/v1/company/smtp", tag = "company",
    responses((status = 200, body = SmtpSettings), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_smtp(p: Principal, State(s): State<AppState>) -> ApiResult<axum::Json<SmtpSettings>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let out = mail::smtp_settings(&mut tx)
        .await?
        .ok_or(nestogy_domain::DomainError::not_found("SMTP settings"))?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Send the company's mail through its own SMTP server; the password is
/// encrypted at rest (admins).
#[utoipa::path(put, path = "/api/v1/company/smtp", tag = "company", request_body = SmtpRequest,
    responses((status = 200, body = SmtpSettings), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_smtp(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<SmtpRequest>,
) -> ApiResult<axum::Json<SmtpSettings>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let out = mail::set_smtp(&mut tx, body, s.services.secrets.as_ref()).await?;
    p.audit_company(&mut tx, "company.smtp_set", &out).await?;
    tx.commit().await?;
    Ok(axum::Json(out))
}

/// Go back to the platform's default mail server (admins).
#[utoipa::path(delete, path = "/api/v1/company/smtp", tag = "company",
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_smtp(p: Principal, State(s): State<AppState>) -> ApiResult<StatusCode> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    if !mail::delete_smtp(&mut tx).await? {
        return Err(nestogy_domain::DomainError::not_found("SMTP settings").into());
    }
    p.audit_company(&mut tx, "company.smtp_deleted", &serde_json::json!({}))
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
