//! The client portal's money, for a signed-in billing contact: their
//! client's invoices (paid online through Stripe), statement of account and
//! quotes (accepted or declined here). Only the contact's own client: any
//! other id answers 404 as a nonexistent one does; drafts are never shown.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use nestogy_domain::billing::documents::DocRef;
use nestogy_domain::billing::invoices::{self, Invoice, InvoiceLine, InvoiceStatus};
use nestogy_domain::billing::payments::{self, PaymentFilter, Statement};
use nestogy_domain::billing::quotes::{self, Quote, QuoteDecider, QuoteStatus};
use nestogy_domain::identity::company;
use nestogy_domain::integrations::stripe::{self, PaymentLink};
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::{DomainError, InvoiceId, QuoteId, TenantTx};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::ContactPrincipal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Path, Query};
use crate::routes::PageQuery;
use crate::routes::documents::{self, Rendering, StatementPeriod, pdf_response};
use crate::routes::quotes::decide_in;
use crate::routes::stripe::start_payment_link;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_invoices))
        .routes(routes!(get_invoice))
        .routes(routes!(invoice_pdf))
        .routes(routes!(pay_invoice, latest_payment_link))
        .routes(routes!(statement))
        .routes(routes!(statement_pdf))
        .routes(routes!(list_quotes))
        .routes(routes!(get_quote))
        .routes(routes!(quote_pdf))
        .routes(routes!(accept_quote))
        .routes(routes!(decline_quote))
}

/// 403 `not_a_billing_contact` unless the contact is one.
fn require_billing(c: &ContactPrincipal) -> ApiResult<()> {
    if c.contact.billing {
        return Ok(());
    }
    Err(DomainError::forbidden(
        "not_a_billing_contact",
        "invoices, statements and quotes are for billing contacts: ask your provider to make you a billing contact",
    )
    .into())
}

/// The invoice if it is the contact's client's and not a draft; else 404.
async fn own_invoice(c: &ContactPrincipal, tx: &mut TenantTx, id: InvoiceId) -> ApiResult<Invoice> {
    let inv = invoices::get(tx, id).await?;
    if inv.client_id != c.contact.client_id || inv.status == InvoiceStatus::Draft {
        return Err(DomainError::not_found("invoice").into());
    }
    Ok(inv)
}

/// The quote if it is the contact's client's and was sent; else 404.
async fn own_quote(c: &ContactPrincipal, tx: &mut TenantTx, id: QuoteId) -> ApiResult<Quote> {
    let q = quotes::get(tx, id).await?;
    if q.client_id != c.contact.client_id || q.status == QuoteStatus::Draft {
        return Err(DomainError::not_found("quote").into());
    }
    Ok(q)
}

/// Which invoices the list shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PortalInvoiceFilter {
    /// Sent, partially paid or overdue: something is owed.
    Open,
    Paid,
    Void,
    /// Every finalized invoice (the default).
    #[default]
    All,
}

impl PortalInvoiceFilter {
    fn statuses(self) -> Vec<InvoiceStatus> {
        match self {
            Self::Open => vec![
                InvoiceStatus::Sent,
                InvoiceStatus::PartiallyPaid,
                InvoiceStatus::Overdue,
            ],
            Self::Paid => vec![InvoiceStatus::Paid],
            Self::Void => vec![InvoiceStatus::Void],
            Self::All => vec![
                InvoiceStatus::Sent,
                InvoiceStatus::PartiallyPaid,
                InvoiceStatus::Overdue,
                InvoiceStatus::Paid,
                InvoiceStatus::Void,
            ],
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PortalInvoiceQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `open`, `paid`, `void` or `all` (default).
    #[param(inline)]
    pub status: Option<PortalInvoiceFilter>,
}

/// An invoice as its client sees it in the portal.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PortalInvoice {
    pub id: InvoiceId,
    pub number: String,
    pub status: InvoiceStatus,
    #[serde(deserialize_with = "nestogy_domain::kernel::dates::de")]
    pub issue_date: NaiveDate,
    #[serde(deserialize_with = "nestogy_domain::kernel::dates::de")]
    pub due_date: NaiveDate,
    pub currency: String,
    pub total: Decimal,
    pub amount_paid: Decimal,
    pub balance: Decimal,
    /// Something is owed and the due date has passed.
    pub overdue: bool,
}

impl PortalInvoice {
    fn of(inv: &Invoice, today: NaiveDate) -> Self {
        let open = matches!(
            inv.status,
            InvoiceStatus::Sent | InvoiceStatus::PartiallyPaid | InvoiceStatus::Overdue
        );
        PortalInvoice {
            id: inv.id,
            number: inv.number.clone().unwrap_or_default(),
            status: inv.status,
            issue_date: inv.issue_date,
            due_date: inv.due_date,
            currency: inv.currency.clone(),
            total: inv.total,
            amount_paid: inv.amount_paid,
            balance: inv.balance,
            overdue: inv.status == InvoiceStatus::Overdue || (open && inv.due_date < today),
        }
    }
}

/// A line of an invoice or quote.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PortalLine {
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// The line's tax.
    pub tax: Decimal,
    /// The line's total, tax included.
    pub total: Decimal,
}

impl From<InvoiceLine> for PortalLine {
    fn from(l: InvoiceLine) -> Self {
        PortalLine {
            description: l.description,
            quantity: l.quantity,
            unit_price: l.unit_price,
            tax: l.tax,
            total: l.total,
        }
    }
}

/// A payment on (or refund of) an invoice.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PortalPayment {
    #[serde(deserialize_with = "nestogy_domain::kernel::dates::de")]
    pub paid_on: NaiveDate,
    /// `payment` or `refund`.
    pub kind: String,
    pub amount: Decimal,
    /// `card`, `bank_transfer`, `check`, ...
    pub method: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PortalInvoiceDetail {
    #[serde(flatten)]
    pub invoice: PortalInvoice,
    pub subtotal: Decimal,
    pub discount_total: Decimal,
    pub tax_total: Decimal,
    pub notes: Option<String>,
    pub terms: Option<String>,
    pub lines: Vec<PortalLine>,
    /// Oldest first.
    pub payments: Vec<PortalPayment>,
    /// Finalized with a balance, and the company takes payments online:
    /// `POST /api/v1/portal/invoices/{id}/pay`.
    pub payable_online: bool,
}

/// The client's finalized invoices, newest first (drafts never).
#[utoipa::path(get, path = "/api/v1/portal/invoices", tag = "portal", params(PortalInvoiceQuery),
    responses((status = 200, body = Page<PortalInvoice>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_invoices(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Query(q): Query<PortalInvoiceQuery>,
) -> ApiResult<axum::Json<Page<PortalInvoice>>> {
    require_billing(&c)?;
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let filter = invoices::InvoiceFilter {
        statuses: q.status.unwrap_or_default().statuses(),
        client_id: Some(c.contact.client_id),
        ..Default::default()
    };
    let mut tx = c.tx(&s).await?;
    let today = company::today(&mut tx).await?;
    let out = invoices::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(out.map(|i| PortalInvoice::of(&i, today))))
}

/// One of the client's invoices with its lines and payments.
#[utoipa::path(get, path = "/api/v1/portal/invoices/{id}", tag = "portal",
    params(("id" = InvoiceId, Path)),
    responses((status = 200, body = PortalInvoiceDetail), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_invoice(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<axum::Json<PortalInvoiceDetail>> {
    require_billing(&c)?;
    let mut tx = c.tx(&s).await?;
    let inv = own_invoice(&c, &mut tx, id).await?;
    let today = company::today(&mut tx).await?;
    let filter = PaymentFilter {
        invoice_id: Some(id),
        ..Default::default()
    };
    let mut paid = payments::list(&mut tx, &filter, &PageRequest::first(200))
        .await?
        .data;
    let stripe_ready = stripe::configured(&mut tx).await?;
    tx.end_read();
    paid.reverse();
    let summary = PortalInvoice::of(&inv, today);
    let payable_online = stripe_ready
        && !matches!(inv.status, InvoiceStatus::Paid | InvoiceStatus::Void)
        && inv.balance > Decimal::ZERO;
    Ok(axum::Json(PortalInvoiceDetail {
        invoice: summary,
        subtotal: inv.subtotal,
        discount_total: inv.discount_total,
        tax_total: inv.tax_total,
        notes: inv.notes,
        terms: inv.terms,
        lines: inv.lines.into_iter().map(PortalLine::from).collect(),
        payments: paid
            .into_iter()
            .map(|p| PortalPayment {
                paid_on: p.paid_on,
                kind: p.kind,
                amount: p.amount,
                method: p.method,
            })
            .collect(),
        payable_online,
    }))
}

/// The invoice as PDF, as staff get it (void ones marked VOID); 202 while
/// it is being rendered.
#[utoipa::path(get, path = "/api/v1/portal/invoices/{id}/pdf", tag = "portal",
    params(("id" = InvoiceId, Path)),
    responses((status = 200, description = "The PDF", content_type = "application/pdf"),
        (status = 202, body = Rendering, description = "Being rendered; retry after a second"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn invoice_pdf(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<Response> {
    require_billing(&c)?;
    let mut tx = c.tx(&s).await?;
    own_invoice(&c, &mut tx, id).await?;
    tx.end_read();
    pdf_response(c.tenant, &s, DocRef::Invoice { id }).await
}

/// A Stripe payment link as the portal shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PortalPaymentLink {
    pub id: Uuid,
    /// `pending` (being created at Stripe), `ready` or `failed`.
    pub status: String,
    pub currency: String,
    pub amount: Decimal,
    /// Where to pay, once `ready`.
    pub url: Option<String>,
    /// The job creating the Checkout Session.
    pub job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<PaymentLink> for PortalPaymentLink {
    fn from(l: PaymentLink) -> Self {
        PortalPaymentLink {
            id: l.id,
            status: l.status,
            currency: l.currency,
            amount: l.amount,
            url: l.url,
            job_id: l.job_id,
            created_at: l.created_at,
        }
    }
}

/// Pay the invoice's balance online: starts a Stripe Checkout link (or
/// answers the one still open for the same amount). Poll
/// `GET .../pay` until its `url` is there. 409 `not_payable` when nothing
/// is owed, `stripe_not_configured` when the company takes no payments
/// online.
#[utoipa::path(post, path = "/api/v1/portal/invoices/{id}/pay", tag = "portal",
    params(("id" = InvoiceId, Path)),
    responses((status = 202, body = PortalPaymentLink), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn pay_invoice(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<(StatusCode, axum::Json<PortalPaymentLink>)> {
    require_billing(&c)?;
    let mut tx = c.tx(&s).await?;
    // One link for payers pressing Pay at once (through any process): the
    // second waits here and then reuses the first's.
    invoices::lock_row(&mut tx, id).await?;
    let inv = own_invoice(&c, &mut tx, id).await?;
    if let Some(link) = stripe::usable_link(&mut tx, &inv).await? {
        tx.end_read();
        return Ok((StatusCode::ACCEPTED, axum::Json(link.into())));
    }
    let started = start_payment_link(&s, tx, id, &c.actor(), "portal.payment_link_created").await?;
    Ok((StatusCode::ACCEPTED, axum::Json(started.link.into())))
}

/// The invoice's newest payment link (poll it until its `url` is there).
#[utoipa::path(get, path = "/api/v1/portal/invoices/{id}/pay", tag = "portal",
    params(("id" = InvoiceId, Path)),
    responses((status = 200, body = PortalPaymentLink), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn latest_payment_link(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<InvoiceId>,
) -> ApiResult<axum::Json<PortalPaymentLink>> {
    require_billing(&c)?;
    let mut tx = c.tx(&s).await?;
    own_invoice(&c, &mut tx, id).await?;
    let link = stripe::latest_link(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(link.into()))
}

/// The client's statement of account for a period, as staff see it.
#[utoipa::path(get, path = "/api/v1/portal/statement", tag = "portal", params(StatementPeriod),
    responses((status = 200, body = Statement), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn statement(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Query(q): Query<StatementPeriod>,
) -> ApiResult<axum::Json<Statement>> {
    require_billing(&c)?;
    let period = documents::period(c.tenant, &s, q).await?;
    let mut tx = c.tx(&s).await?;
    let out = payments::statement(
        &mut tx,
        c.contact.client_id,
        &period.currency,
        period.from,
        period.to,
    )
    .await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// The client's statement of account for a period, as PDF.
#[utoipa::path(get, path = "/api/v1/portal/statement/pdf", tag = "portal", params(StatementPeriod),
    responses((status = 200, description = "The PDF", content_type = "application/pdf"),
        (status = 202, body = Rendering), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn statement_pdf(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Query(q): Query<StatementPeriod>,
) -> ApiResult<Response> {
    require_billing(&c)?;
    let period = documents::period(c.tenant, &s, q).await?;
    let client = c.contact.client_id;
    pdf_response(c.tenant, &s, DocRef::Statement { client, period }).await
}

/// A quote as its client sees it in the portal.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PortalQuote {
    pub id: QuoteId,
    pub number: String,
    /// `sent` (waiting for the client's answer), `accepted`, `declined`,
    /// `expired` or `converted` (invoiced).
    pub status: QuoteStatus,
    pub currency: String,
    #[serde(deserialize_with = "nestogy_domain::kernel::dates::de")]
    pub issue_date: NaiveDate,
    #[serde(deserialize_with = "nestogy_domain::kernel::dates::de")]
    pub valid_until: NaiveDate,
    pub lines: Vec<PortalLine>,
    pub subtotal: Decimal,
    pub discount_total: Decimal,
    pub tax_total: Decimal,
    pub total: Decimal,
    /// When it was accepted or declined.
    pub decided_at: Option<DateTime<Utc>>,
    /// Who accepted or declined it in the portal.
    pub decided_by: Option<QuoteDecider>,
}

impl From<Quote> for PortalQuote {
    fn from(q: Quote) -> Self {
        PortalQuote {
            id: q.id,
            number: q.number.unwrap_or_default(),
            status: q.status,
            currency: q.currency,
            issue_date: q.issue_date,
            valid_until: q.valid_until,
            lines: q.lines.into_iter().map(PortalLine::from).collect(),
            subtotal: q.subtotal,
            discount_total: q.discount_total,
            tax_total: q.tax_total,
            total: q.total,
            decided_at: q.decided_at,
            decided_by: q.decided_by,
        }
    }
}

/// The quotes sent to the client, newest first (drafts never).
#[utoipa::path(get, path = "/api/v1/portal/quotes", tag = "portal", params(PageQuery),
    responses((status = 200, body = Page<PortalQuote>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_quotes(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<PortalQuote>>> {
    require_billing(&c)?;
    let page = q.page()?;
    let shown = [
        QuoteStatus::Sent,
        QuoteStatus::Accepted,
        QuoteStatus::Declined,
        QuoteStatus::Expired,
        QuoteStatus::Converted,
    ];
    let mut tx = c.tx(&s).await?;
    let out = quotes::list(&mut tx, Some(c.contact.client_id), &shown, &page).await?;
    tx.end_read();
    Ok(axum::Json(out.map(PortalQuote::from)))
}

/// One of the client's quotes with its lines.
#[utoipa::path(get, path = "/api/v1/portal/quotes/{id}", tag = "portal",
    params(("id" = QuoteId, Path)),
    responses((status = 200, body = PortalQuote), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_quote(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
) -> ApiResult<axum::Json<PortalQuote>> {
    require_billing(&c)?;
    let mut tx = c.tx(&s).await?;
    let q = own_quote(&c, &mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(q.into()))
}

/// The quote as PDF; 202 while it is being rendered.
#[utoipa::path(get, path = "/api/v1/portal/quotes/{id}/pdf", tag = "portal",
    params(("id" = QuoteId, Path)),
    responses((status = 200, description = "The PDF", content_type = "application/pdf"),
        (status = 202, body = Rendering), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn quote_pdf(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
) -> ApiResult<Response> {
    require_billing(&c)?;
    let mut tx = c.tx(&s).await?;
    own_quote(&c, &mut tx, id).await?;
    tx.end_read();
    pdf_response(c.tenant, &s, DocRef::Quote { id }).await
}

/// Accept a sent quote: recorded with who and when. 409 when it was
/// decided already or has expired.
#[utoipa::path(post, path = "/api/v1/portal/quotes/{id}/accept", tag = "portal",
    params(("id" = QuoteId, Path)),
    responses((status = 200, body = PortalQuote), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn accept_quote(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
) -> ApiResult<axum::Json<PortalQuote>> {
    require_billing(&c)?;
    let mut tx = c.tx(&s).await?;
    own_quote(&c, &mut tx, id).await?;
    let by = Some(c.contact.id);
    let q = decide_in(tx, &c.actor(), id, "portal.quote_accepted", async |tx| {
        quotes::accept(tx, id, by).await
    })
    .await?;
    Ok(axum::Json(q.into()))
}

/// Decline a sent quote: recorded with who and when. 409 when it was
/// decided already or has expired.
#[utoipa::path(post, path = "/api/v1/portal/quotes/{id}/decline", tag = "portal",
    params(("id" = QuoteId, Path)),
    responses((status = 200, body = PortalQuote), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn decline_quote(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<QuoteId>,
) -> ApiResult<axum::Json<PortalQuote>> {
    require_billing(&c)?;
    let mut tx = c.tx(&s).await?;
    own_quote(&c, &mut tx, id).await?;
    let by = Some(c.contact.id);
    let q = decide_in(tx, &c.actor(), id, "portal.quote_declined", async |tx| {
        quotes::decline(tx, id, by).await
    })
    .await?;
    Ok(axum::Json(q.into()))
}
