//! Invoices (accountants and admins).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use nestogy_domain::billing::documents::DocRef;
use nestogy_domain::billing::invoices::{
    self, Invoice, InvoiceFilter, InvoiceRequest, InvoiceStatus,
};
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::{BillingRunId, ClientId, InvoiceId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::routes::documents::render_in;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_invoices, create_invoice))
        .routes(routes!(get_invoice, update_invoice, delete_invoice))
        .routes(routes!(finalize_invoice))
        .routes(routes!(void_invoice))
        .routes(routes!(duplicate_invoice))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InvoiceQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub status: Option<InvoiceStatus>,
    pub client_id: Option<ClientId>,
    /// Search in numbers.
    pub q: Option<String>,
    /// Issued on or after (YYYY-MM-DD).
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub from: Option<NaiveDate>,
    /// Issued on or before (YYYY-MM-DD).
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub to: Option<NaiveDate>,
    /// Created by this billing run.
    pub billing_run_id: Option<BillingRunId>,
}

/// Invoices, newest first, with their lines.
#[utoipa::path(get, path = "/api/v1/invoices", tag = "invoices", params(InvoiceQuery),
    responses((status = 200, body = Page<Invoice>), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
async fn list_invoices(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<InvoiceQuery>,
) -> ApiResult<axum::Json<Page<Invoice>>> {
    p.require(Permission::BillingRead)?;
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let filter = InvoiceFilter {
        statuses: q.status.into_iter().collect(),
        client_id: q.client_id,
        q: q.q.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
        issued_from: q.from,
        issued_to: q.to,
        billing_run_id: q.billing_run_id,
    };
    let mut tx = p.tx(&s).await?;
    let out = invoices::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Create a draft invoice. Lines may name a product for their defaults.
#[utoipa::path(post, path = "/api/v1/invoices", tag = "invoices", request_body = InvoiceRequest,
    responses((status = 201, body = Invoice), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_invoice(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<InvoiceRequest>,
) -> ApiResult<(StatusCode, axum::Json<Invoice>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let inv = invoices::create(&mut tx, body).await?;
    p.audit(
        &mut tx,
        "invoice.created",
        "invoice",
        inv.id.as_uuid(),
        &inv,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(inv)))
}

/// Get an invoice with its lines.
#[utoipa::path(get, path = "/api/v1/invoices/{id}", tag = "invoices", params(("id" = InvoiceId, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_invoice(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<axum::Json<Invoice>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let inv = invoices::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(inv))
}

/// Replace a draft invoice (finalized invoices cannot change: 409).
#[utoipa::path(put, path = "/api/v1/invoices/{id}", tag = "invoices", params(("id" = InvoiceId, Path)),
    request_body = InvoiceRequest,
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_invoice(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
    Json(body): Json<InvoiceRequest>,
) -> ApiResult<axum::Json<Invoice>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let inv = invoices::update(&mut tx, id, body).await?;
    p.audit(&mut tx, "invoice.updated", "invoice", id.as_uuid(), &inv)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(inv))
}

/// Delete a draft invoice (finalized ones are voided instead: 409).
#[utoipa::path(delete, path = "/api/v1/invoices/{id}", tag = "invoices", params(("id" = InvoiceId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_invoice(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let inv = invoices::delete(&mut tx, id).await?;
    p.audit(&mut tx, "invoice.deleted", "invoice", id.as_uuid(), &inv)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Finalize a draft: it gets the next number of the company's pattern
/// (`settings.invoice_number_pattern`, default `INV-{YYYY}-{SEQ:6}`) and
/// becomes `sent`.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/finalize", tag = "invoices", params(("id" = InvoiceId, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn finalize_invoice(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<axum::Json<Invoice>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let inv = invoices::finalize(&mut tx, id).await?;
    p.audit(&mut tx, "invoice.finalized", "invoice", id.as_uuid(), &inv)
        .await?;
    let render = render_in(&mut tx, DocRef::Invoice { id }).await?;
    tx.commit().await?;
    render.push(&s.queue).await;
    Ok(axum::Json(inv))
}

/// Void a finalized invoice without payments; it keeps its number.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/void", tag = "invoices", params(("id" = InvoiceId, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn void_invoice(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<axum::Json<Invoice>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let inv = invoices::void(&mut tx, id).await?;
    p.audit(&mut tx, "invoice.voided", "invoice", id.as_uuid(), &inv)
        .await?;
    let render = render_in(&mut tx, DocRef::Invoice { id }).await?;
    tx.commit().await?;
    render.push(&s.queue).await;
    Ok(axum::Json(inv))
}

/// Copy an invoice into a new draft dated today.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/duplicate", tag = "invoices", params(("id" = InvoiceId, Path)),
    responses((status = 201, body = Invoice), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn duplicate_invoice(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<(StatusCode, axum::Json<Invoice>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let inv = invoices::duplicate(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "invoice.created",
        "invoice",
        inv.id.as_uuid(),
        &inv,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(inv)))
}
