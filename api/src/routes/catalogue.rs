//! The catalogue: tax rates, products, payment terms (accountants and admins).

use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::billing::catalogue::{
    self, PaymentTerm, PaymentTermInput, Product, ProductInput, TaxRate, TaxRateInput,
};
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::{PaymentTermId, ProductId, TaxRateId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tax_rates, create_tax_rate))
        .routes(routes!(get_tax_rate, update_tax_rate))
        .routes(routes!(archive_tax_rate))
        .routes(routes!(restore_tax_rate))
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product))
        .routes(routes!(archive_product))
        .routes(routes!(restore_product))
        .routes(routes!(list_payment_terms, create_payment_term))
        .routes(routes!(update_payment_term, delete_payment_term))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CatalogueQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Case-insensitive search in names (products).
    pub q: Option<String>,
    /// Include archived entries (default false).
    pub include_archived: Option<bool>,
}

impl CatalogueQuery {
    fn page(&self) -> ApiResult<PageRequest> {
        let mut v = ValidationErrors::new();
        let page = PageRequest::parse(&mut v, self.limit, self.cursor.as_deref());
        v.finish()?;
        Ok(page)
    }
}

/// Tax rates, by name.
#[utoipa::path(get, path = "/api/v1/tax-rates", tag = "catalogue", params(CatalogueQuery),
    responses((status = 200, body = Page<TaxRate>)), security(("bearer" = [])))]
async fn list_tax_rates(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<CatalogueQuery>,
) -> ApiResult<axum::Json<Page<TaxRate>>> {
    p.require(Permission::BillingRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let out =
        catalogue::list_tax_rates(&mut tx, q.include_archived.unwrap_or(false), &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Create a tax rate.
#[utoipa::path(post, path = "/api/v1/tax-rates", tag = "catalogue", request_body = TaxRateInput,
    responses((status = 201, body = TaxRate), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_tax_rate(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<TaxRateInput>,
) -> ApiResult<(StatusCode, axum::Json<TaxRate>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let t = catalogue::create_tax_rate(&mut tx, body).await?;
    p.audit(&mut tx, "tax_rate.created", "tax_rate", t.id.as_uuid(), &t)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

/// Get a tax rate.
#[utoipa::path(get, path = "/api/v1/tax-rates/{id}", tag = "catalogue", params(("id" = TaxRateId, Path)),
    responses((status = 200, body = TaxRate), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_tax_rate(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TaxRateId>,
) -> ApiResult<axum::Json<TaxRate>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let t = catalogue::get_tax_rate(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(t))
}

/// Replace a tax rate. Documents already issued keep the rate they carry.
#[utoipa::path(put, path = "/api/v1/tax-rates/{id}", tag = "catalogue", params(("id" = TaxRateId, Path)),
    request_body = TaxRateInput,
    responses((status = 200, body = TaxRate), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_tax_rate(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TaxRateId>,
    Json(body): Json<TaxRateInput>,
) -> ApiResult<axum::Json<TaxRate>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let t = catalogue::update_tax_rate(&mut tx, id, body).await?;
    p.audit(&mut tx, "tax_rate.updated", "tax_rate", id.as_uuid(), &t)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(t))
}

/// Archive a tax rate: no new lines get it.
#[utoipa::path(post, path = "/api/v1/tax-rates/{id}/archive", tag = "catalogue", params(("id" = TaxRateId, Path)),
    responses((status = 200, body = TaxRate), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn archive_tax_rate(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TaxRateId>,
) -> ApiResult<axum::Json<TaxRate>> {
    tax_rate_archived(p, s, id, true).await
}

/// Restore an archived tax rate.
#[utoipa::path(post, path = "/api/v1/tax-rates/{id}/restore", tag = "catalogue", params(("id" = TaxRateId, Path)),
    responses((status = 200, body = TaxRate), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn restore_tax_rate(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TaxRateId>,
) -> ApiResult<axum::Json<TaxRate>> {
    tax_rate_archived(p, s, id, false).await
}

async fn tax_rate_archived(
    p: Principal,
    s: AppState,
    id: TaxRateId,
    archived: bool,
) -> ApiResult<axum::Json<TaxRate>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let t = catalogue::set_tax_rate_archived(&mut tx, id, archived).await?;
    let action = if archived {
        "tax_rate.archived"
    } else {
        "tax_rate.restored"
    };
    p.audit(&mut tx, action, "tax_rate", id.as_uuid(), &t)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(t))
}

/// Products and services, by name.
#[utoipa::path(get, path = "/api/v1/products", tag = "catalogue", params(CatalogueQuery),
    responses((status = 200, body = Page<Product>)), security(("bearer" = [])))]
async fn list_products(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<CatalogueQuery>,
) -> ApiResult<axum::Json<Page<Product>>> {
    p.require(Permission::BillingRead)?;
    let page = q.page()?;
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let mut tx = p.tx(&s).await?;
    let out = catalogue::list_products(&mut tx, search, q.include_archived.unwrap_or(false), &page)
        .await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Create a product or service with its default price and taxes.
#[utoipa::path(post, path = "/api/v1/products", tag = "catalogue", request_body = ProductInput,
    responses((status = 201, body = Product), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_product(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<ProductInput>,
) -> ApiResult<(StatusCode, axum::Json<Product>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let prod = catalogue::create_product(&mut tx, body).await?;
    p.audit(
        &mut tx,
        "product.created",
        "product",
        prod.id.as_uuid(),
        &prod,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(prod)))
}

/// Get a product.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "catalogue", params(("id" = ProductId, Path)),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_product(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ProductId>,
) -> ApiResult<axum::Json<Product>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let prod = catalogue::get_product(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(prod))
}

/// Replace a product.
#[utoipa::path(put, path = "/api/v1/products/{id}", tag = "catalogue", params(("id" = ProductId, Path)),
    request_body = ProductInput,
    responses((status = 200, body = Product), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_product(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ProductId>,
    Json(body): Json<ProductInput>,
) -> ApiResult<axum::Json<Product>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let prod = catalogue::update_product(&mut tx, id, body).await?;
    p.audit(&mut tx, "product.updated", "product", id.as_uuid(), &prod)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(prod))
}

/// Archive a product.
#[utoipa::path(post, path = "/api/v1/products/{id}/archive", tag = "catalogue", params(("id" = ProductId, Path)),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn archive_product(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ProductId>,
) -> ApiResult<axum::Json<Product>> {
    product_archived(p, s, id, true).await
}

/// Restore an archived product.
#[utoipa::path(post, path = "/api/v1/products/{id}/restore", tag = "catalogue", params(("id" = ProductId, Path)),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn restore_product(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ProductId>,
) -> ApiResult<axum::Json<Product>> {
    product_archived(p, s, id, false).await
}

async fn product_archived(
    p: Principal,
    s: AppState,
    id: ProductId,
    archived: bool,
) -> ApiResult<axum::Json<Product>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let prod = catalogue::set_product_archived(&mut tx, id, archived).await?;
    let action = if archived {
        "product.archived"
    } else {
        "product.restored"
    };
    p.audit(&mut tx, action, "product", id.as_uuid(), &prod)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(prod))
}

/// Payment terms (net N days), by name.
#[utoipa::path(get, path = "/api/v1/payment-terms", tag = "catalogue", params(CatalogueQuery),
    responses((status = 200, body = Page<PaymentTerm>)), security(("bearer" = [])))]
async fn list_payment_terms(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<CatalogueQuery>,
) -> ApiResult<axum::Json<Page<PaymentTerm>>> {
    p.require(Permission::BillingRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let out = catalogue::list_payment_terms(&mut tx, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Create payment terms.
#[utoipa::path(post, path = "/api/v1/payment-terms", tag = "catalogue", request_body = PaymentTermInput,
    responses((status = 201, body = PaymentTerm), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_payment_term(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<PaymentTermInput>,
) -> ApiResult<(StatusCode, axum::Json<PaymentTerm>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let t = catalogue::create_payment_term(&mut tx, body).await?;
    p.audit(
        &mut tx,
        "payment_term.created",
        "payment_term",
        t.id.as_uuid(),
        &t,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

/// Replace payment terms.
#[utoipa::path(put, path = "/api/v1/payment-terms/{id}", tag = "catalogue", params(("id" = PaymentTermId, Path)),
    request_body = PaymentTermInput,
    responses((status = 200, body = PaymentTerm), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_payment_term(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<PaymentTermId>,
    Json(body): Json<PaymentTermInput>,
) -> ApiResult<axum::Json<PaymentTerm>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let t = catalogue::update_payment_term(&mut tx, id, body).await?;
    p.audit(
        &mut tx,
        "payment_term.updated",
        "payment_term",
        id.as_uuid(),
        &t,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(t))
}

/// Delete payment terms.
#[utoipa::path(delete, path = "/api/v1/payment-terms/{id}", tag = "catalogue", params(("id" = PaymentTermId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_payment_term(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<PaymentTermId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    catalogue::delete_payment_term(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "payment_term.deleted",
        "payment_term",
        id.as_uuid(),
        &serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
