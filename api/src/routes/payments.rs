//! Payments, refunds, client credit and statements (accountants and admins).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Duration, NaiveDate};
use nestogy_domain::billing::documents::DocRef;
use nestogy_domain::billing::invoices::Invoice;
use nestogy_domain::billing::payments::{
    self, ApplyCreditRequest, CreditBalance, Payment, PaymentFilter, PaymentRequest, Recorded,
    RefundRequest, Statement,
};
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::{ClientId, InvoiceId, PaymentId};
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
        .routes(routes!(record_payment))
        .routes(routes!(apply_credit))
        .routes(routes!(list_payments))
        .routes(routes!(refund_payment))
        .routes(routes!(client_credit))
        .routes(routes!(client_statement))
}

/// Record a payment on a finalized invoice. What exceeds the balance
/// becomes the client's credit.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/payments", tag = "payments", params(("id" = InvoiceId, Path)),
    request_body = PaymentRequest,
    responses((status = 201, body = Recorded), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn record_payment(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
    Json(body): Json<PaymentRequest>,
) -> ApiResult<(StatusCode, axum::Json<Recorded>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let r = payments::record(&mut tx, id, body).await?;
    p.audit(
        &mut tx,
        "payment.recorded",
        "payment",
        r.payment.id.as_uuid(),
        &r.payment,
    )
    .await?;
    let render = render_in(
        &mut tx,
        DocRef::Invoice {
            id: r.payment.invoice_id,
        },
    )
    .await?;
    tx.commit().await?;
    render.push(&s.queue).await;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// Apply the client's credit to an invoice.
#[utoipa::path(post, path = "/api/v1/invoices/{id}/apply-credit", tag = "payments", params(("id" = InvoiceId, Path)),
    request_body = ApplyCreditRequest,
    responses((status = 200, body = Invoice), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn apply_credit(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
    Json(body): Json<ApplyCreditRequest>,
) -> ApiResult<axum::Json<Invoice>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let inv = payments::apply_credit(&mut tx, id, body).await?;
    p.audit(&mut tx, "credit.applied", "invoice", id.as_uuid(), &inv)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(inv))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PaymentQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub client_id: Option<ClientId>,
    pub invoice_id: Option<InvoiceId>,
}

/// Payments and refunds, newest first.
#[utoipa::path(get, path = "/api/v1/payments", tag = "payments", params(PaymentQuery),
    responses((status = 200, body = Page<Payment>)), security(("bearer" = [])))]
async fn list_payments(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<PaymentQuery>,
) -> ApiResult<axum::Json<Page<Payment>>> {
    p.require(Permission::BillingRead)?;
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let filter = PaymentFilter {
        client_id: q.client_id,
        invoice_id: q.invoice_id,
    };
    let mut tx = p.tx(&s).await?;
    let out = payments::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Refund (part of) what a payment applied to its invoice.
#[utoipa::path(post, path = "/api/v1/payments/{id}/refund", tag = "payments", params(("id" = PaymentId, Path)),
    request_body = RefundRequest,
    responses((status = 201, body = Recorded), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn refund_payment(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<PaymentId>,
    Json(body): Json<RefundRequest>,
) -> ApiResult<(StatusCode, axum::Json<Recorded>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let r = payments::refund(&mut tx, id, body).await?;
    p.audit(
        &mut tx,
        "payment.refunded",
        "payment",
        r.payment.id.as_uuid(),
        &r.payment,
    )
    .await?;
    let render = render_in(
        &mut tx,
        DocRef::Invoice {
            id: r.payment.invoice_id,
        },
    )
    .await?;
    tx.commit().await?;
    render.push(&s.queue).await;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// The client's unapplied credit, per currency.
#[utoipa::path(get, path = "/api/v1/clients/{id}/credit", tag = "payments", params(("id" = ClientId, Path)),
    responses((status = 200, body = Vec<CreditBalance>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn client_credit(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
) -> ApiResult<axum::Json<Vec<CreditBalance>>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let out = payments::credit(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// First day (YYYY-MM-DD); defaults to 90 days before `to`.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub from: Option<NaiveDate>,
    /// Last day; defaults to today in the company's time zone.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub to: Option<NaiveDate>,
    /// Defaults to the company's currency.
    pub currency: Option<String>,
}

/// The client's statement of account: opening balance, invoices, payments
/// and refunds with running balances, closing balance.
#[utoipa::path(get, path = "/api/v1/clients/{id}/statement", tag = "payments", params(("id" = ClientId, Path), StatementQuery),
    responses((status = 200, body = Statement), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn client_statement(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
    Query(q): Query<StatementQuery>,
) -> ApiResult<axum::Json<Statement>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let company = nestogy_domain::identity::company::get(&mut tx).await?;
    let to = q.to.unwrap_or_else(|| company.today(tx.now()));
    let from = q.from.unwrap_or(to - Duration::days(90));
    let currency = q.currency.unwrap_or(company.currency);
    let mut v = ValidationErrors::new();
    if from > to {
        v.add("from", "after_to", "from must not be after to");
    }
    nestogy_domain::identity::company::validate_currency(&mut v, &currency);
    v.finish()?;
    let out = payments::statement(&mut tx, id, &currency, from, to).await?;
    tx.end_read();
    Ok(axum::Json(out))
}
