//! The portal's finance pages, for billing contacts: invoices (status,
//! balance, PDF, paying the balance through the Stripe payment link),
//! the statement and its PDF, quotes (PDF, accept or decline); and the
//! pages a payer comes back to from Stripe's checkout.

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_api::routes::portal_billing::{
    PortalInvoice, PortalInvoiceDetail, PortalLine, PortalPaymentLink, PortalQuote,
};
use nestogy_domain::billing::invoices::InvoiceStatus;
use nestogy_domain::billing::payments::{Statement, StatementEntry};
use nestogy_domain::billing::quotes::QuoteStatus;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::{InvoiceId, QuoteId};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;

use super::layout::PortalSection;
use super::session::{Portal, PortalForm};
use crate::WebState;
use crate::api_client::{ApiFailure, query};
use crate::pages::clients::{fetch_document, rendering, rendering_body};
use crate::session::NoFields;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/portal/{slug}/invoices", get(invoices))
        .route("/portal/{slug}/invoices/{id}", get(invoice))
        .route("/portal/{slug}/invoices/{id}/pdf", get(invoice_pdf))
        .route(
            "/portal/{slug}/invoices/{id}/pay",
            get(pay_status).post(pay),
        )
        .route("/portal/{slug}/statement", get(statement))
        .route("/portal/{slug}/statement/pdf", get(statement_pdf))
        .route("/portal/{slug}/quotes", get(quotes))
        .route("/portal/{slug}/quotes/{id}", get(quote))
        .route("/portal/{slug}/quotes/{id}/pdf", get(quote_pdf))
        .route("/portal/{slug}/quotes/{id}/accept", post(accept))
        .route("/portal/{slug}/quotes/{id}/decline", post(decline))
        .route("/portal/{slug}/payments/{invoice}/done", get(payment_done))
        .route(
            "/portal/{slug}/payments/{invoice}/cancelled",
            get(payment_cancelled),
        )
}

fn invoice_id(raw: &str) -> Result<InvoiceId, ApiFailure> {
    raw.parse().map_err(|_| ApiFailure::not_found("invoice"))
}

fn quote_id(raw: &str) -> Result<QuoteId, ApiFailure> {
    raw.parse().map_err(|_| ApiFailure::not_found("quote"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListParams {
    status: String,
    cursor: String,
}

const INVOICE_FILTERS: [(&str, &str); 3] = [("open", "To pay"), ("paid", "Paid"), ("all", "All")];

/// An invoice's status as a client reads it.
fn invoice_status(i: &PortalInvoice) -> &'static str {
    match i.status {
        InvoiceStatus::Paid => "Paid",
        InvoiceStatus::Void => "Void",
        _ if i.overdue => "Overdue",
        InvoiceStatus::PartiallyPaid => "Partly paid",
        _ => "Open",
    }
}

/// `GET /portal/{slug}/invoices`.
pub async fn invoices(p: Portal, Query(q): Query<ListParams>) -> Result<Response, ApiFailure> {
    let status = INVOICE_FILTERS
        .iter()
        .map(|(v, _)| *v)
        .find(|v| *v == q.status)
        .unwrap_or("all");
    let page: Page<PortalInvoice> = p
        .api
        .get(format!(
            "/api/v1/portal/invoices{}",
            query(&[("status", status), ("cursor", &q.cursor), ("limit", "25")])
        ))
        .await?;
    let body = html! {
        h1 { "Invoices" }
        p { a #statement href=(p.href("/statement")) { "Statement of account" } }
        nav.sub aria-label="Which invoices" {
            @for (v, label) in INVOICE_FILTERS {
                @if v == status {
                    a href=(p.href(&format!("/invoices?status={v}"))) aria-current="page" { (label) }
                } @else {
                    a href=(p.href(&format!("/invoices?status={v}"))) { (label) }
                }
                " "
            }
        }
        @if page.data.is_empty() {
            p #no-invoices.muted { "No invoices here." }
        } @else {
            div.scroll {
                table #invoices {
                    thead { tr { th { "Invoice" } th { "Date" } th { "Due" } th { "Status" } th.n { "Total" } th.n { "Balance" } } }
                    tbody {
                        @for i in &page.data {
                            tr {
                                td { a href=(p.href(&format!("/invoices/{}", i.id))) { (i.number) } }
                                td { (p.fmt.date(i.issue_date)) }
                                td { (p.fmt.date(i.due_date)) }
                                td.status { (invoice_status(i)) }
                                td.n { (p.fmt.money(i.total, &i.currency)) }
                                td.n { (p.fmt.money(i.balance, &i.currency)) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &page.next_cursor {
            p { a #next-page href=(p.href(&format!("/invoices{}", query(&[("status", status), ("cursor", next)])))) { "Next page" } }
        }
    };
    Ok(p.page(PortalSection::Invoices, "Invoices", body))
}

/// `GET /portal/{slug}/invoices/{id}`.
pub async fn invoice(
    p: Portal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let id = invoice_id(&id)?;
    invoice_page(&p, id, None).await
}

async fn invoice_page(
    p: &Portal,
    id: InvoiceId,
    failure: Option<ApiFailure>,
) -> Result<Response, ApiFailure> {
    let d: PortalInvoiceDetail = p.api.get(format!("/api/v1/portal/invoices/{id}")).await?;
    let i = &d.invoice;
    let number = i.number.clone();
    let money = |a: Decimal| p.fmt.money(a, &i.currency);
    let status = failure.as_ref().map_or(StatusCode::OK, |f| f.status);
    let body = html! {
        h1 { "Invoice " (number) }
        @if let Some(f) = &failure {
            p.problem #problem role="alert" { (f.message) }
        }
        dl.figures {
            dt { "Status" } dd #invoice-status { (invoice_status(i)) }
            dt { "Date" } dd { (p.fmt.date(i.issue_date)) }
            dt { "Due" } dd { (p.fmt.date(i.due_date)) }
            dt { "Total" } dd { (money(i.total)) }
            dt { "Paid" } dd { (money(i.amount_paid)) }
            dt { "Balance" } dd #invoice-balance { (money(i.balance)) }
        }
        p { a #invoice-pdf href=(p.href(&format!("/invoices/{id}/pdf"))) { "Download the PDF" } }
        @if d.payable_online {
            form method="post" action=(p.href(&format!("/invoices/{id}/pay"))) {
                (p.csrf())
                button type="submit" #pay { "Pay " (money(i.balance)) " online" }
            }
        }
        section.card {
            h2 { "Lines" }
            div.scroll {
                table #lines {
                    (lines_table(&d.lines, &money))
                    tfoot {
                        tr { th colspan="4" { "Subtotal" } td.n { (money(d.subtotal)) } }
                        @if !d.discount_total.is_zero() {
                            tr { th colspan="4" { "Discount" } td.n { (money(-d.discount_total)) } }
                        }
                        tr { th colspan="4" { "Tax" } td.n { (money(d.tax_total)) } }
                        tr { th colspan="4" { "Total" } td.n { (money(i.total)) } }
                    }
                }
            }
        }
        @if !d.payments.is_empty() {
            section.card {
                h2 { "Payments" }
                table #payments {
                    thead { tr { th { "Date" } th { "" } th { "How" } th.n { "Amount" } } }
                    tbody {
                        @for pay in &d.payments {
                            tr {
                                td { (p.fmt.date(pay.paid_on)) }
                                td { @if pay.kind == "refund" { "Refund" } @else { "Payment" } }
                                td { (crate::fmt::label(&pay.method)) }
                                td.n { (money(pay.amount)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(p.page_with(
        status,
        Some(PortalSection::Invoices),
        &format!("Invoice {number}"),
        body,
    ))
}

/// A document of the portal's API, or a page saying it is being prepared.
async fn document(p: &Portal, path: &str, what: &str) -> Result<Response, ApiFailure> {
    match fetch_document(&p.api, path).await? {
        Some(r) => Ok(r),
        None => Ok(rendering(p.page_with(
            StatusCode::ACCEPTED,
            None,
            what,
            rendering_body(what),
        ))),
    }
}

/// `GET /portal/{slug}/invoices/{id}/pdf`.
pub async fn invoice_pdf(
    p: Portal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let id = invoice_id(&id)?;
    document(&p, &format!("/api/v1/portal/invoices/{id}/pdf"), "Invoice").await
}

/// `POST /portal/{slug}/invoices/{id}/pay`: starts (or reuses) the
/// payment link, then waits for it on the pay page.
pub async fn pay(
    p: Portal,
    Path((_, id)): Path<(String, String)>,
    PortalForm(NoFields {}): PortalForm<NoFields>,
) -> Result<Response, ApiFailure> {
    let id = invoice_id(&id)?;
    match p
        .api
        .send::<PortalPaymentLink>(
            Method::POST,
            format!("/api/v1/portal/invoices/{id}/pay"),
            &json!({}),
        )
        .await
    {
        Ok(_) => Ok(see_other(&p.href(&format!("/invoices/{id}/pay")))),
        Err(f) if f.status == StatusCode::CONFLICT => invoice_page(&p, id, Some(f)).await,
        Err(f) => Err(f),
    }
}

/// `GET /portal/{slug}/invoices/{id}/pay`: the newest payment link. The
/// page leaves for Stripe's payment page by itself once the link is ready
/// (a form's answer may not redirect to another site under the pages'
/// `form-action 'self'`), and reloads itself every second until then.
pub async fn pay_status(
    p: Portal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let id = invoice_id(&id)?;
    let link: PortalPaymentLink = p
        .api
        .get(format!("/api/v1/portal/invoices/{id}/pay"))
        .await?;
    let here = p.href(&format!("/invoices/{id}/pay"));
    let (status, refresh, body) = match (link.status.as_str(), &link.url) {
        ("ready", Some(url)) => (
            StatusCode::OK,
            Some((0, url.as_str())),
            html! {
                h1 { "Paying online" }
                p.notice #ready role="status" { "Taking you to the payment page…" }
                p { a #to-checkout href=(url) { "Continue to the payment page" } }
            },
        ),
        ("failed", _) => (
            StatusCode::OK,
            None,
            html! {
                h1 { "Paying online" }
                p.problem #problem role="alert" { "The payment page could not be prepared. Try again later, or contact us." }
                p { a href=(p.href(&format!("/invoices/{id}"))) { "Back to the invoice" } }
            },
        ),
        _ => (
            StatusCode::ACCEPTED,
            Some((1, here.as_str())),
            html! {
                h1 { "Paying online" }
                p.notice #preparing role="status" { "Preparing the payment page…" }
                p { a href=(p.href(&format!("/invoices/{id}"))) { "Back to the invoice" } }
            },
        ),
    };
    let chrome = &p.chrome;
    Ok(super::layout::respond(
        chrome,
        status,
        super::layout::page_refreshing(
            chrome,
            Some(PortalSection::Invoices),
            "Paying online",
            refresh,
            body,
        ),
    ))
}

/// The period of a statement: `from` and `to` (dates), both optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Period {
    from: String,
    to: String,
}

impl Period {
    fn query(&self) -> String {
        query(&[("from", &self.from), ("to", &self.to)])
    }
}

/// What a statement's entry is, as a client reads it.
fn entry_label(e: &StatementEntry) -> String {
    let what = match e.kind.as_str() {
        "invoice" => "Invoice",
        "payment" => "Payment",
        "refund" => "Refund",
        "credit_applied" => "Credit applied",
        other => other,
    };
    match &e.reference {
        Some(r) => format!("{what} {r}"),
        None => what.to_owned(),
    }
}

/// `GET /portal/{slug}/statement`.
pub async fn statement(p: Portal, Query(q): Query<Period>) -> Result<Response, ApiFailure> {
    let s: Statement = p
        .api
        .get(format!("/api/v1/portal/statement{}", q.query()))
        .await?;
    let money = |a: Decimal| p.fmt.money(a, &s.currency);
    let body = html! {
        h1 { "Statement of account" }
        form.inline method="get" action=(p.href("/statement")) {
            label for="from" { "From" }
            input #from name="from" type="date" value=(s.from);
            label for="to" { "To" }
            input #to name="to" type="date" value=(s.to);
            button type="submit" { "Show" }
        }
        p { a #statement-pdf href=(p.href(&format!("/statement/pdf{}", q.query()))) { "Download the PDF" } }
        div.scroll {
            table #statement-rows {
                thead { tr { th { "Date" } th { "" } th.n { "Amount" } th.n { "Balance" } } }
                tbody {
                    tr { td { (p.fmt.date(s.from)) } td { "Opening balance" } td.n {} td.n { (money(s.opening_balance)) } }
                    @for r in &s.entries {
                        tr { td { (p.fmt.date(r.date)) } td { (entry_label(r)) } td.n { (money(r.amount)) } td.n { (money(r.balance)) } }
                    }
                    tr { td { (p.fmt.date(s.to)) } td { "Closing balance" } td.n {} td.n #closing { (money(s.closing_balance)) } }
                }
            }
        }
    };
    Ok(p.page(PortalSection::Invoices, "Statement of account", body))
}

/// `GET /portal/{slug}/statement/pdf`.
pub async fn statement_pdf(p: Portal, Query(q): Query<Period>) -> Result<Response, ApiFailure> {
    document(
        &p,
        &format!("/api/v1/portal/statement/pdf{}", q.query()),
        "Statement",
    )
    .await
}

/// The lines of an invoice or quote, as a table's head and body.
fn lines_table(lines: &[PortalLine], money: &dyn Fn(Decimal) -> String) -> Markup {
    html! {
        thead { tr { th { "Description" } th.n { "Quantity" } th.n { "Unit price" } th.n { "Tax" } th.n { "Amount" } } }
        tbody {
            @for l in lines {
                tr {
                    td { (l.description) }
                    td.n { (l.quantity.normalize()) }
                    td.n { (money(l.unit_price)) }
                    td.n { (money(l.tax)) }
                    td.n { (money(l.total)) }
                }
            }
        }
    }
}

/// `GET /portal/{slug}/quotes`.
pub async fn quotes(p: Portal, Query(q): Query<ListParams>) -> Result<Response, ApiFailure> {
    let page: Page<PortalQuote> = p
        .api
        .get(format!(
            "/api/v1/portal/quotes{}",
            query(&[("cursor", &q.cursor), ("limit", "25")])
        ))
        .await?;
    let body = html! {
        h1 { "Quotes" }
        @if page.data.is_empty() {
            p #no-quotes.muted { "No quotes." }
        } @else {
            div.scroll {
                table #quotes {
                    thead { tr { th { "Quote" } th { "Date" } th { "Valid until" } th { "Status" } th.n { "Total" } } }
                    tbody {
                        @for x in &page.data {
                            tr {
                                td { a href=(p.href(&format!("/quotes/{}", x.id))) { (x.number) } }
                                td { (p.fmt.date(x.issue_date)) }
                                td { (p.fmt.date(x.valid_until)) }
                                td.status { (crate::fmt::label(x.status.as_str())) }
                                td.n { (p.fmt.money(x.total, &x.currency)) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &page.next_cursor {
            p { a #next-page href=(p.href(&format!("/quotes{}", query(&[("cursor", next)])))) { "Next page" } }
        }
    };
    Ok(p.page(PortalSection::Quotes, "Quotes", body))
}

/// `GET /portal/{slug}/quotes/{id}`.
pub async fn quote(
    p: Portal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let id = quote_id(&id)?;
    quote_page(&p, id, None).await
}

async fn quote_page(
    p: &Portal,
    id: QuoteId,
    failure: Option<ApiFailure>,
) -> Result<Response, ApiFailure> {
    let x: PortalQuote = p.api.get(format!("/api/v1/portal/quotes/{id}")).await?;
    let number = x.number.clone();
    let money = |a: Decimal| p.fmt.money(a, &x.currency);
    let status = failure.as_ref().map_or(StatusCode::OK, |f| f.status);
    let body = html! {
        h1 { "Quote " (number) }
        @if let Some(f) = &failure {
            p.problem #problem role="alert" { (f.message) }
        }
        dl.figures {
            dt { "Status" } dd #quote-status { (crate::fmt::label(x.status.as_str())) }
            dt { "Valid until" } dd { (p.fmt.date(x.valid_until)) }
            dt { "Total" } dd { (money(x.total)) }
            @if let Some(at) = x.decided_at {
                dt { "Decided" } dd #decided {
                    @if let Some(who) = &x.decided_by { (who.name) ", " }
                    (p.fmt.datetime(at))
                }
            }
        }
        p { a #quote-pdf href=(p.href(&format!("/quotes/{id}/pdf"))) { "Download the PDF" } }
        @if x.status == QuoteStatus::Sent {
            div.inline {
                form method="post" action=(p.href(&format!("/quotes/{id}/accept"))) {
                    (p.csrf())
                    button type="submit" #accept-quote { "Accept the quote" }
                }
                form method="post" action=(p.href(&format!("/quotes/{id}/decline"))) {
                    (p.csrf())
                    button type="submit" #decline-quote { "Decline" }
                }
            }
        }
        section.card {
            h2 { "Lines" }
            div.scroll {
                table #lines {
                    (lines_table(&x.lines, &money))
                    tfoot {
                        tr { th colspan="4" { "Subtotal" } td.n { (money(x.subtotal)) } }
                        @if !x.discount_total.is_zero() {
                            tr { th colspan="4" { "Discount" } td.n { (money(-x.discount_total)) } }
                        }
                        tr { th colspan="4" { "Tax" } td.n { (money(x.tax_total)) } }
                        tr { th colspan="4" { "Total" } td.n { (money(x.total)) } }
                    }
                }
            }
        }
    };
    Ok(p.page_with(
        status,
        Some(PortalSection::Quotes),
        &format!("Quote {number}"),
        body,
    ))
}

/// `GET /portal/{slug}/quotes/{id}/pdf`.
pub async fn quote_pdf(
    p: Portal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let id = quote_id(&id)?;
    document(&p, &format!("/api/v1/portal/quotes/{id}/pdf"), "Quote").await
}

async fn decide(p: Portal, raw: &str, how: &str) -> Result<Response, ApiFailure> {
    let id = quote_id(raw)?;
    match p
        .api
        .send::<serde_json::Value>(
            Method::POST,
            format!("/api/v1/portal/quotes/{id}/{how}"),
            &json!({}),
        )
        .await
    {
        Ok(_) => Ok(see_other(&p.href(&format!("/quotes/{id}")))),
        Err(f) if f.status == StatusCode::CONFLICT || f.is_validation() => {
            quote_page(&p, id, Some(f)).await
        }
        Err(f) => Err(f),
    }
}

/// `POST /portal/{slug}/quotes/{id}/accept`.
pub async fn accept(
    p: Portal,
    Path((_, id)): Path<(String, String)>,
    PortalForm(NoFields {}): PortalForm<NoFields>,
) -> Result<Response, ApiFailure> {
    decide(p, &id, "accept").await
}

/// `POST /portal/{slug}/quotes/{id}/decline`.
pub async fn decline(
    p: Portal,
    Path((_, id)): Path<(String, String)>,
    PortalForm(NoFields {}): PortalForm<NoFields>,
) -> Result<Response, ApiFailure> {
    decide(p, &id, "decline").await
}

/// Where Stripe's checkout sends a payer back: a page of the portal that
/// needs no sign-in and shows nothing of the invoice but a link to it.
async fn payment_return(
    s: &WebState,
    parts: &axum::http::request::Parts,
    slug: &str,
    invoice: &str,
    paid: bool,
) -> Response {
    let company = match super::session::brand_of(s, parts, slug).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(id) = invoice.parse::<InvoiceId>() else {
        return super::layout::no_portal();
    };
    let base = format!("/portal/{}", company.portal_slug);
    let body: Markup = html! {
        @if paid {
            h1 { "Thank you" }
            p.notice #paid role="status" { "Your payment to " (company.name) " was received. It shows on the invoice within a minute." }
        } @else {
            h1 { "Payment cancelled" }
            p #cancelled { "Nothing was charged." }
        }
        p { a #to-invoice href={ (base) "/invoices/" (id) } { "See the invoice" } }
    };
    super::session::anonymous_page(
        &company,
        StatusCode::OK,
        if paid {
            "Thank you"
        } else {
            "Payment cancelled"
        },
        body,
    )
}

/// `GET /portal/{slug}/payments/{invoice}/done`.
pub async fn payment_done(
    axum::extract::State(s): axum::extract::State<WebState>,
    Path((slug, invoice)): Path<(String, String)>,
    parts: axum::http::request::Parts,
) -> Response {
    payment_return(&s, &parts, &slug, &invoice, true).await
}

/// `GET /portal/{slug}/payments/{invoice}/cancelled`.
pub async fn payment_cancelled(
    axum::extract::State(s): axum::extract::State<WebState>,
    Path((slug, invoice)): Path<(String, String)>,
    parts: axum::http::request::Parts,
) -> Response {
    payment_return(&s, &parts, &slug, &invoice, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_statuses_read_as_a_client_would() {
        use chrono::NaiveDate;
        let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let mut i = PortalInvoice {
            id: InvoiceId::new(),
            number: "INV-1".into(),
            status: InvoiceStatus::Sent,
            issue_date: day,
            due_date: day,
            currency: "USD".into(),
            total: Decimal::ONE,
            amount_paid: Decimal::ZERO,
            balance: Decimal::ONE,
            overdue: false,
        };
        assert_eq!(invoice_status(&i), "Open");
        i.overdue = true;
        assert_eq!(invoice_status(&i), "Overdue");
        i.status = InvoiceStatus::Paid;
        assert_eq!(invoice_status(&i), "Paid");
    }
}
