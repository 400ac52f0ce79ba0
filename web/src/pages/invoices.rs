//! `/console/invoices`: the invoice list (status filter, number search,
//! cursor pages) and one invoice: its lines and totals as the API computed
//! them, its payments, and the actions finalize, send, record a payment,
//! refund a payment, apply the client's credit, duplicate, create a Stripe
//! payment link (and show the newest one) and void, each a form calling
//! the API's endpoint; the PDF through [`pdf`]. Who may do what is the
//! API's rule (a tech gets its 403). [`finance_nav`] is the finance
//! section's sub-navigation, on every finance page.

use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::billing::invoices::{Invoice, InvoiceStatus};
use nestogy_domain::billing::payments::{CreditBalance, Payment, Recorded};
use nestogy_domain::customers::clients::Client;
use nestogy_domain::integrations::stripe::{PaymentLink, StripeSettings};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::{ClientId, InvoiceId, PaymentId};
use serde::Deserialize;
use serde_json::json;

use crate::api_client::{ApiFailure, query};
use crate::layout::{self, Section};
use crate::names::client_names;
use crate::pages::clients::{document, input, next_link, parse_id, refusal};
use crate::pages::line_rows::{LineRows, add_rows_button};
use crate::picker::client_step;
use crate::session::{Console, Form, NoFields};

const STATUSES: [(&str, &str); 7] = [
    ("", "All"),
    ("draft", "Draft"),
    ("sent", "Sent"),
    ("partially_paid", "Partially paid"),
    ("overdue", "Overdue"),
    ("paid", "Paid"),
    ("void", "Void"),
];

const METHODS: [(&str, &str); 6] = [
    ("bank_transfer", "Bank transfer"),
    ("card", "Card"),
    ("cash", "Cash"),
    ("check", "Check"),
    ("credit", "Credit"),
    ("other", "Other"),
];

/// The pages of the finance section, for its sub-navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FinancePage {
    Invoices,
    Quotes,
    Recurring,
    BillingRuns,
}

/// The finance section's sub-navigation, `current` marked.
pub(crate) fn finance_nav(current: FinancePage) -> Markup {
    let pages = [
        (
            FinancePage::Invoices,
            "/console/invoices",
            "Invoices",
            "sub-invoices",
        ),
        (
            FinancePage::Quotes,
            "/console/quotes",
            "Quotes",
            "sub-quotes",
        ),
        (
            FinancePage::Recurring,
            "/console/recurring",
            "Recurring",
            "sub-recurring",
        ),
        (
            FinancePage::BillingRuns,
            "/console/billing-runs",
            "Billing runs",
            "sub-billing-runs",
        ),
    ];
    html! {
        nav.sub aria-label="Finance" {
            ul {
                @for (p, href, label, id) in pages {
                    li { a id=(id) href=(href) aria-current=[(p == current).then_some("page")] { (label) } }
                }
            }
        }
    }
}

fn status_class(s: InvoiceStatus) -> &'static str {
    match s {
        InvoiceStatus::Overdue => "bad",
        InvoiceStatus::Paid => "ok",
        InvoiceStatus::Draft | InvoiceStatus::Void => "muted",
        _ => "",
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    cursor: String,
}

pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    let filters = [
        ("status", p.status.as_str()),
        ("q", p.q.as_str()),
        ("client_id", p.client_id.as_str()),
    ];
    let mut pairs = filters.to_vec();
    pairs.push(("cursor", p.cursor.as_str()));
    let page: Page<Invoice> = c
        .api
        .get(format!("/api/v1/invoices{}", query(&pairs)))
        .await?;
    let names = client_names(&c, page.data.iter().map(|i| i.client_id)).await?;
    let body = html! {
        (finance_nav(FinancePage::Invoices))
        h1 { "Invoices" }
        form #invoice-filter method="get" action="/console/invoices" {
            label for="status" { "Status" } " "
            select #status name="status" {
                @for (v, l) in STATUSES {
                    option value=(v) selected[p.status == v] { (l) }
                }
            }
            " " label for="q" { "Number" } " "
            input #q name="q" type="search" value=(p.q);
            @if !p.client_id.is_empty() {
                input type="hidden" name="client_id" value=(p.client_id);
            }
            " " button type="submit" { "Filter" }
        }
        p.muted #invoice-count { (page.total) " invoices" }
        @if page.data.is_empty() {
            p.muted { "No invoice matches." }
        } @else {
            div.scroll { table #invoices {
                thead { tr {
                    th { "Number" } th { "Client" } th { "Status" } th { "Issued" } th { "Due" }
                    th.n { "Total" } th.n { "Balance" }
                } }
                tbody { @for i in &page.data {
                    tr id={ "invoice-" (i.id) } {
                        td { a href={ "/console/invoices/" (i.id) } { (i.number.as_deref().unwrap_or("draft")) } }
                        td { a href={ "/console/clients/" (i.client_id) } { (names.get(&i.client_id).map(String::as_str).unwrap_or("")) } }
                        td class=(status_class(i.status)) { (crate::fmt::label(i.status.as_str())) }
                        td { (c.fmt.date(i.issue_date)) }
                        td { (c.fmt.date(i.due_date)) }
                        td.n { (c.fmt.money(i.total, &i.currency)) }
                        td.n { (c.fmt.money(i.balance, &i.currency)) }
                    }
                } }
            } }
        }
        (next_link("/console/invoices", &filters, page.next_cursor.as_deref()))
    };
    Ok(c.page(Section::Finance, "Invoices", body))
}

/// The record-payment form as entered.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentFields {
    amount: String,
    #[serde(default)]
    paid_on: String,
    method: String,
    #[serde(default)]
    reference: String,
    /// The form's own key ([`layout::once_field`]): posted twice, the
    /// payment is recorded once.
    #[serde(default)]
    once: String,
}

/// The apply-credit form as entered (empty: as much as the credit and the
/// balance allow).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditFields {
    #[serde(default)]
    amount: String,
}

/// A refund form as entered (empty amount: all the payment has applied).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundFields {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    paid_on: String,
    #[serde(default)]
    reference: String,
}

/// A form of the invoice page the API refused, with what was entered.
enum Refused {
    Payment(PaymentFields, ApiFailure),
    Credit(CreditFields, ApiFailure),
    Refund(PaymentId, RefundFields, ApiFailure),
    /// The edit-draft form as typed: refused, or drawn again with more
    /// rows (no failure).
    Draft(EditFields, LineRows, Option<ApiFailure>),
}

impl Refused {
    fn failure(&self) -> Option<&ApiFailure> {
        match self {
            Refused::Payment(_, e) | Refused::Credit(_, e) | Refused::Refund(_, _, e) => Some(e),
            Refused::Draft(_, _, e) => e.as_ref(),
        }
    }
}

/// A labelled input with its own id (several forms of the invoice page
/// have fields of the same name) and the API's problem for `name`.
fn field(
    label: &str,
    id: &str,
    name: &str,
    kind: &str,
    value: &str,
    problem: Option<&ApiFailure>,
) -> Markup {
    let message = problem.and_then(|f| f.field(name));
    html! {
        label for=(id) { (label) }
        input id=(id) name=(name) type=(kind) value=(value)
            aria-invalid=[message.map(|_| "true")];
        @if let Some(m) = message { p.field-problem { (m) } }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    #[serde(default)]
    done: String,
}

pub async fn show(
    c: Console,
    Path(id): Path<String>,
    Query(p): Query<ShowParams>,
) -> Result<Response, ApiFailure> {
    invoice_page(c, &id, &p.done, None).await
}

/// The invoice's newest payment link, if it has one.
async fn payment_link(c: &Console, id: InvoiceId) -> Result<Option<PaymentLink>, ApiFailure> {
    match c
        .api
        .get::<PaymentLink>(format!("/api/v1/invoices/{id}/payment-link"))
        .await
    {
        Ok(l) => Ok(Some(l)),
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

async fn invoice_page(
    c: Console,
    id: &str,
    done: &str,
    refused: Option<Refused>,
) -> Result<Response, ApiFailure> {
    let id: InvoiceId = parse_id(&c, id, "invoice")?;
    let inv: Invoice = c.api.get(format!("/api/v1/invoices/{id}")).await?;
    let (client, payments, credit, link, stripe) = tokio::join!(
        c.api
            .get::<Client>(format!("/api/v1/clients/{}", inv.client_id)),
        c.api
            .get::<Page<Payment>>(format!("/api/v1/payments?invoice_id={id}&limit=200")),
        c.api
            .get::<Vec<CreditBalance>>(format!("/api/v1/clients/{}/credit", inv.client_id)),
        payment_link(&c, id),
        // Whether payment links can be made (unknown to who may not see it).
        c.api
            .get_optional::<StripeSettings>("/api/v1/company/stripe"),
    );
    let (client, payments, credit, link) = (client?, payments?, credit?, link?);
    let stripe = stripe?.map(|s| s.has_secret_key);
    let credit = credit
        .into_iter()
        .find(|b| b.currency == inv.currency)
        .map(|b| b.amount)
        .filter(|a| *a > rust_decimal::Decimal::ZERO);
    let title = match &inv.number {
        Some(n) => format!("Invoice {n}"),
        None => "Draft invoice".to_owned(),
    };
    let base = format!("/console/invoices/{id}");
    let cur = inv.currency.as_str();
    let money = |d| c.fmt.money(d, cur);
    let notice = match done {
        "finalized" => Some("The invoice is finalized."),
        "sent" => Some("The invoice is on its way to the client's billing contacts."),
        "paid" => Some("The payment is recorded."),
        "voided" => Some("The invoice is void."),
        "credited" => Some("The client's credit is applied."),
        "refunded" => Some("The refund is recorded."),
        "link" => Some("The payment link is being created at Stripe; reload in a moment."),
        "saved" => Some("The draft is saved."),
        _ => None,
    };
    let open = matches!(
        inv.status,
        InvoiceStatus::Sent | InvoiceStatus::PartiallyPaid | InvoiceStatus::Overdue
    );
    let (pf, pp) = match &refused {
        Some(Refused::Payment(f, e)) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let (cf, cp) = match &refused {
        Some(Refused::Credit(f, e)) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let refund_refused = match &refused {
        Some(Refused::Refund(pid, f, e)) => Some((*pid, f, e)),
        _ => None,
    };
    let no_refund = RefundFields::default();
    let no_credit = CreditFields::default();
    let cf = cf.unwrap_or(&no_credit);
    let default_fields = PaymentFields {
        amount: inv.balance.to_string(),
        paid_on: c.fmt.today(c.now).to_string(),
        method: "bank_transfer".to_owned(),
        ..PaymentFields::default()
    };
    let f = pf.unwrap_or(&default_fields);
    let status = refused
        .as_ref()
        .and_then(|r| r.failure())
        .map(|e| e.status)
        .unwrap_or(StatusCode::OK);
    let draft = inv.status == InvoiceStatus::Draft;
    let as_stored;
    let (edit_fields, edit_rows, ep) = match &refused {
        Some(Refused::Draft(f, rows, e)) => (f, rows, e.as_ref()),
        _ => {
            as_stored = (EditFields::of(&inv), LineRows::of_lines(&inv.lines));
            (&as_stored.0, &as_stored.1, None)
        }
    };
    let body = html! {
        (finance_nav(FinancePage::Invoices))
        h1 { (title) " " span #invoice-status class=(status_class(inv.status)) { "(" (crate::fmt::label(inv.status.as_str())) ")" } }
        @if let Some(n) = notice { p.notice #done role="status" { (n) } }
        div.grid {
            section.card #summary aria-labelledby="summary-title" {
                h2 #summary-title { "Summary" }
                dl.figures {
                    dt { "Client" } dd { a #client-link href={ "/console/clients/" (client.id) } { (client.name) } }
                    dt { "Issued" } dd { (c.fmt.date(inv.issue_date)) }
                    dt { "Due" } dd { (c.fmt.date(inv.due_date)) }
                    @if let (Some(a), Some(b)) = (inv.period_start, inv.period_end) {
                        dt { "Period" } dd { (c.fmt.date(a)) " – " (c.fmt.date(b)) }
                    }
                    @if let Some(t) = inv.finalized_at { dt { "Finalized" } dd { (c.fmt.datetime(t)) } }
                    @if let Some(t) = inv.voided_at { dt { "Voided" } dd { (c.fmt.datetime(t)) } }
                    @if let Some(q) = inv.quote_id { dt { "From" } dd { a #quote-link href={ "/console/quotes/" (q) } { "its quote" } } }
                    @if let Some(r) = inv.recurring_invoice_id { dt { "Billed by" } dd { a #template-link href={ "/console/recurring/" (r) } { "its recurring invoice" } } }
                    @if let Some(r) = inv.billing_run_id { dt { "Billing run" } dd { a #run-link href={ "/console/billing-runs/" (r) } { "the run that created it" } } }
                    @if let Some(d) = inv.duplicated_from { dt { "Copy of" } dd { a #original-link href={ "/console/invoices/" (d) } { "the original" } } }
                }
                p { a #invoice-pdf href={ (base) "/pdf" } { "PDF" } }
            }
            section.card #totals aria-labelledby="totals-title" {
                h2 #totals-title { "Totals" }
                dl.figures {
                    dt { "Subtotal" } dd #subtotal { (money(inv.subtotal)) }
                    dt { "Discount" } dd #discount-total { (money(inv.discount_total)) }
                    dt { "Tax" } dd #tax-total { (money(inv.tax_total)) }
                    dt { "Total" } dd #total { (money(inv.total)) }
                    dt { "Paid" } dd #amount-paid { (money(inv.amount_paid)) }
                    dt { "Balance" } dd #balance { (money(inv.balance)) }
                }
            }
        }
        section.card #lines aria-labelledby="lines-title" {
            h2 #lines-title { "Lines" }
            div.scroll { table {
                thead { tr {
                    th { "Description" } th.n { "Quantity" } th.n { "Unit price" }
                    th.n { "Discount" } th.n { "Tax" } th.n { "Total" }
                } }
                tbody { @for l in &inv.lines {
                    tr {
                        td { (l.description) }
                        td.n { (l.quantity.normalize()) }
                        td.n { (money(l.unit_price)) }
                        td.n { (money(l.discount_amount)) }
                        td.n {
                            (money(l.tax))
                            @for t in &l.taxes { br; span.muted { (t.name) " " (t.percent.normalize()) "%" } }
                        }
                        td.n { (money(l.total)) }
                    }
                } }
            } }
            @if let Some(n) = &inv.notes { p { (n) } }
            @if let Some(t) = &inv.terms { p.muted { (t) } }
        }
        @if draft {
            section.card #edit-draft aria-labelledby="edit-draft-title" {
                h2 #edit-draft-title { "Edit draft" }
                form.stack.wide #edit-lines method="post" action={ (base) "/lines" } {
                    (layout::csrf_field(c.csrf()))
                    (refusal(ep))
                    (field("Due date", "draft-due_date", "due_date", "date", &edit_fields.due_date, ep))
                    (edit_rows.table(ep))
                    label for="draft-notes" { "Notes" }
                    textarea #draft-notes name="notes" rows="3" { (edit_fields.notes) }
                    button type="submit" { "Save draft" }
                    (add_rows_button())
                }
            }
        }
        section.card #payments aria-labelledby="payments-title" {
            h2 #payments-title { "Payments " span.muted { "(" (payments.total) ")" } }
            @if payments.data.is_empty() { p.muted { "No payment yet." } } @else {
                div.scroll { table {
                    thead { tr { th { "Date" } th { "Kind" } th { "Method" } th { "Reference" } th.n { "Amount" } th.n { "Applied" } th { "Refund" } } }
                    tbody { @for p in &payments.data {
                        tr id={ "payment-" (p.id) } {
                            td { (c.fmt.date(p.paid_on)) }
                            td { (p.kind) }
                            td { (p.method) }
                            td { (p.reference.as_deref().unwrap_or("")) }
                            td.n { (c.fmt.money(p.amount, &p.currency)) }
                            td.n { (c.fmt.money(p.applied, &p.currency)) }
                            td {
                                @if p.kind == "payment" && p.applied > rust_decimal::Decimal::ZERO {
                                    @let mine = refund_refused.filter(|(pid, _, _)| *pid == p.id);
                                    @let (rf, rp) = match mine { Some((_, f, e)) => (f, Some(e)), None => (&no_refund, None) };
                                    @let fid = format!("refund-{}", p.id);
                                    details open[rp.is_some()] {
                                        summary { "Refund" }
                                        form.stack id=(fid) method="post" action={ (base) "/payments/" (p.id) "/refund" } {
                                            (layout::csrf_field(c.csrf()))
                                            (refusal(rp))
                                            (field(&format!("Amount ({}; empty: all applied)", p.currency), &format!("{fid}-amount"), "amount", "text", &rf.amount, rp))
                                            (field("Refunded on", &format!("{fid}-paid_on"), "paid_on", "date", &rf.paid_on, rp))
                                            (field("Reference", &format!("{fid}-reference"), "reference", "text", &rf.reference, rp))
                                            button type="submit" { "Refund" }
                                        }
                                    }
                                }
                            }
                        }
                    } }
                } }
            }
        }
        section.card #actions aria-labelledby="actions-title" {
            h2 #actions-title { "Actions" }
            div.grid {
                @if inv.status == InvoiceStatus::Draft {
                    (layout::post_button(&format!("{base}/finalize"), c.csrf(), "finalize", "Finalize"))
                }
                @if inv.status != InvoiceStatus::Draft && inv.status != InvoiceStatus::Void {
                    (layout::post_button(&format!("{base}/send"), c.csrf(), "send", "Send to the client"))
                }
                @if inv.status != InvoiceStatus::Void {
                    (layout::post_button(&format!("{base}/void"), c.csrf(), "void", "Void"))
                }
                (layout::post_button(&format!("{base}/duplicate"), c.csrf(), "duplicate", "Duplicate as a new draft"))
            }
            @if (open && credit.is_some()) || cp.is_some() {
                form.stack #apply-credit method="post" action={ (base) "/apply-credit" } {
                    h2 { "Apply credit" }
                    (layout::csrf_field(c.csrf()))
                    (refusal(cp))
                    @if let Some(a) = credit {
                        p #credit-available { "The client has " (money(a)) " of credit." }
                    }
                    (field(&format!("Amount ({cur}; empty: as much as the credit and the balance allow)"), "credit-amount", "amount", "text", &cf.amount, cp))
                    button type="submit" { "Apply credit" }
                }
            }
            @if open || pp.is_some() {
                form.stack #record-payment method="post" action={ (base) "/payments" } {
                    h2 { "Record a payment" }
                    (layout::csrf_field(c.csrf()))
                    (layout::once_field())
                    (refusal(pp))
                    (input(&format!("Amount ({cur})"), "amount", "text", &f.amount, pp))
                    (input("Paid on", "paid_on", "date", &f.paid_on, pp))
                    label for="f-method" { "Method" }
                    select #f-method name="method" {
                        @for (v, l) in METHODS {
                            option value=(v) selected[f.method == v] { (l) }
                        }
                    }
                    (input("Reference", "reference", "text", &f.reference, pp))
                    button type="submit" { "Record payment" }
                }
            }
        }
        @if open || link.is_some() {
            section.card #payment-link aria-labelledby="payment-link-title" {
                h2 #payment-link-title { "Online payment" }
                @if let Some(l) = &link {
                    dl.figures {
                        dt { "Link" } dd #payment-link-status { (l.status) }
                        dt { "Amount" } dd { (c.fmt.money(l.amount, &l.currency)) }
                        dt { "Created" } dd { (c.fmt.datetime(l.created_at)) }
                        @if let Some(u) = &l.url { dt { "Pay at" } dd { a #payment-link-url href=(u) rel="noreferrer" { (u) } } }
                        @if let Some(e) = &l.error { dt { "Error" } dd.bad { (e) } }
                    }
                } @else {
                    p.muted { "No payment link yet." }
                }
                @if open && stripe == Some(false) {
                    p #stripe-missing {
                        "Stripe is not set up for this company, and a payment link needs it. An admin sets it up under "
                        a href="/console/settings/stripe" { "Settings → Stripe" } "."
                    }
                } @else if open {
                    (layout::post_button(&format!("{base}/payment-link"), c.csrf(), "create-payment-link", "Create a Stripe payment link"))
                }
            }
        }
    };
    Ok(c.page_with(status, Some(Section::Finance), &title, body))
}

/// One of the invoice's actions without fields: `POST api_path`, then the
/// invoice page saying `done`.
async fn act(c: &Console, id: &str, action: &str, done: &str) -> Result<Response, ApiFailure> {
    let id: InvoiceId = parse_id(c, id, "invoice")?;
    c.api
        .send::<serde_json::Value>(
            Method::POST,
            format!("/api/v1/invoices/{id}/{action}"),
            &json!({}),
        )
        .await?;
    Ok(see_other(&format!("/console/invoices/{id}?done={done}")))
}

pub async fn finalize(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    act(&c, &id, "finalize", "finalized").await
}

pub async fn send(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    act(&c, &id, "send", "sent").await
}

pub async fn void(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    act(&c, &id, "void", "voided").await
}

pub async fn record_payment(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<PaymentFields>,
) -> Result<Response, ApiFailure> {
    let iid: InvoiceId = parse_id(&c, &id, "invoice")?;
    let s = |v: &str| {
        let v = v.trim();
        (!v.is_empty()).then(|| v.to_owned())
    };
    let body = json!({
        "amount": f.amount.trim(),
        "method": f.method,
        "paid_on": s(&f.paid_on),
        "reference": s(&f.reference),
    });
    match c
        .api
        .once(&f.once)
        .send::<Recorded>(
            Method::POST,
            format!("/api/v1/invoices/{iid}/payments"),
            &body,
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/invoices/{iid}?done=paid"))),
        Err(e) if e.is_validation() => invoice_page(c, &id, "", Some(Refused::Payment(f, e))).await,
        Err(e) => Err(e),
    }
}

fn optional(v: &str) -> Option<&str> {
    let v = v.trim();
    (!v.is_empty()).then_some(v)
}

pub async fn apply_credit(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<CreditFields>,
) -> Result<Response, ApiFailure> {
    let iid: InvoiceId = parse_id(&c, &id, "invoice")?;
    let body = json!({ "amount": optional(&f.amount) });
    match c
        .api
        .send::<Invoice>(
            Method::POST,
            format!("/api/v1/invoices/{iid}/apply-credit"),
            &body,
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/invoices/{iid}?done=credited"))),
        Err(e) if e.is_validation() => invoice_page(c, &id, "", Some(Refused::Credit(f, e))).await,
        Err(e) => Err(e),
    }
}

pub async fn refund(
    c: Console,
    Path((id, payment)): Path<(String, String)>,
    Form(f): Form<RefundFields>,
) -> Result<Response, ApiFailure> {
    let iid: InvoiceId = parse_id(&c, &id, "invoice")?;
    let pid: PaymentId = parse_id(&c, &payment, "payment")?;
    let body = json!({
        "amount": optional(&f.amount),
        "paid_on": optional(&f.paid_on),
        "reference": optional(&f.reference),
    });
    match c
        .api
        .send::<Recorded>(
            Method::POST,
            format!("/api/v1/payments/{pid}/refund"),
            &body,
        )
        .await
    {
        // The refund's own invoice: the payment's.
        Ok(r) => Ok(see_other(&format!(
            "/console/invoices/{}?done=refunded",
            r.invoice.id
        ))),
        Err(e) if e.is_validation() => {
            invoice_page(c, &iid.to_string(), "", Some(Refused::Refund(pid, f, e))).await
        }
        Err(e) => Err(e),
    }
}

pub async fn duplicate(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let iid: InvoiceId = parse_id(&c, &id, "invoice")?;
    let copy: Invoice = c
        .api
        .send_empty(Method::POST, format!("/api/v1/invoices/{iid}/duplicate"))
        .await?;
    Ok(see_other(&format!("/console/invoices/{}", copy.id)))
}

pub async fn create_payment_link(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let iid: InvoiceId = parse_id(&c, &id, "invoice")?;
    c.api
        .send_empty::<serde_json::Value>(
            Method::POST,
            format!("/api/v1/invoices/{iid}/payment-link"),
        )
        .await?;
    Ok(see_other(&format!(
        "/console/invoices/{iid}?done=link#payment-link"
    )))
}

pub async fn pdf(c: Console, Path(id): Path<String>) -> Result<Response, ApiFailure> {
    let id: InvoiceId = parse_id(&c, &id, "invoice")?;
    document(&c, &format!("/api/v1/invoices/{id}/pdf"), "Invoice").await
}

/// The new-draft form's fields beside its lines.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftFields {
    client_id: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    notes: String,
}

impl DraftFields {
    /// The body of `POST /invoices`.
    fn body(&self, rows: &LineRows) -> serde_json::Value {
        json!({
            "client_id": self.client_id.trim(),
            "due_date": trimmed(&self.due_date),
            "notes": trimmed(&self.notes),
            "lines": rows.json(),
        })
    }
}

/// A form's text, trimmed; empty is `None` (the API's default applies).
pub(crate) fn trimmed(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

#[derive(Debug, Default, Deserialize)]
pub struct NewParams {
    #[serde(default)]
    client_id: String,
    /// The client picker's search.
    #[serde(default)]
    client_q: String,
}

fn draft_page(
    c: &Console,
    status: StatusCode,
    client: &Client,
    f: &DraftFields,
    rows: &LineRows,
    problem: Option<&ApiFailure>,
) -> Response {
    let body = html! {
        (finance_nav(FinancePage::Invoices))
        h1 { "New draft invoice" }
        p { "For " a href={ "/console/clients/" (client.id) } { (client.name) } ", in " (c.company.currency) "." }
        form.stack.wide #new-draft method="post" action="/console/invoices/new" {
            (layout::csrf_field(c.csrf()))
            (refusal(problem))
            input type="hidden" name="client_id" value=(client.id);
            (input("Due date (empty: by the payment terms)", "due_date", "date", &f.due_date, problem))
            (rows.table(problem))
            label for="f-notes" { "Notes" }
            textarea #f-notes name="notes" rows="3" { (f.notes) }
            button type="submit" { "Create draft" }
            (add_rows_button())
        }
    };
    c.page_with(status, Some(Section::Finance), "New draft invoice", body)
}

pub async fn new_draft(c: Console, Query(p): Query<NewParams>) -> Result<Response, ApiFailure> {
    if p.client_id.is_empty() {
        let body = client_step(
            &c,
            "/console/invoices/new",
            "New draft invoice",
            &p.client_q,
        )
        .await?;
        let body = html! { (finance_nav(FinancePage::Invoices)) (body) };
        return Ok(c.page(Section::Finance, "New draft invoice", body));
    }
    let id: ClientId = parse_id(&c, &p.client_id, "client")?;
    let client: Client = c.api.get(format!("/api/v1/clients/{id}")).await?;
    let f = DraftFields {
        client_id: id.to_string(),
        ..Default::default()
    };
    let rows = LineRows::new_document();
    Ok(draft_page(&c, StatusCode::OK, &client, &f, &rows, None))
}

pub async fn create_draft(
    c: Console,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let (f, rows): (DraftFields, LineRows) = LineRows::read(&c, raw)?;
    let id: ClientId = parse_id(&c, &f.client_id, "client")?;
    if rows.add_rows {
        let client: Client = c.api.get(format!("/api/v1/clients/{id}")).await?;
        let rows = rows.more();
        return Ok(draft_page(&c, StatusCode::OK, &client, &f, &rows, None));
    }
    match c
        .api
        .send::<Invoice>(Method::POST, "/api/v1/invoices", &f.body(&rows))
        .await
    {
        Ok(inv) => Ok(see_other(&format!("/console/invoices/{}", inv.id))),
        Err(e) if e.is_validation() => {
            let client: Client = c.api.get(format!("/api/v1/clients/{id}")).await?;
            Ok(draft_page(&c, e.status, &client, &f, &rows, Some(&e)))
        }
        Err(e) => Err(e),
    }
}

/// The edit-draft form's fields beside its lines (client, currency,
/// dates of issue, discount and terms stay the draft's).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditFields {
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    notes: String,
}

impl EditFields {
    fn of(inv: &Invoice) -> Self {
        EditFields {
            due_date: inv.due_date.to_string(),
            notes: inv.notes.clone().unwrap_or_default(),
        }
    }

    /// The body of `PUT /invoices/{id}`, which replaces the whole draft:
    /// what the form does not show is sent as the draft has it.
    fn body(&self, inv: &Invoice, rows: &LineRows) -> serde_json::Value {
        json!({
            "client_id": inv.client_id,
            "currency": inv.currency,
            "issue_date": inv.issue_date,
            "due_date": trimmed(&self.due_date),
            "discount": inv.discount,
            "notes": trimmed(&self.notes),
            "terms": inv.terms,
            "lines": rows.json(),
        })
    }
}

/// `POST /console/invoices/{id}/lines`: the draft's due date, notes and
/// lines, through `PUT /api/v1/invoices/{id}` (a finalized invoice: the
/// API's 409, as its page).
pub async fn update_draft(
    c: Console,
    Path(id): Path<String>,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let iid: InvoiceId = parse_id(&c, &id, "invoice")?;
    let (f, rows): (EditFields, LineRows) = LineRows::read(&c, raw)?;
    if rows.add_rows {
        let rows = rows.more();
        return invoice_page(c, &id, "", Some(Refused::Draft(f, rows, None))).await;
    }
    let inv: Invoice = c.api.get(format!("/api/v1/invoices/{iid}")).await?;
    match c
        .api
        .send::<Invoice>(
            Method::PUT,
            format!("/api/v1/invoices/{iid}"),
            &f.body(&inv, &rows),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/invoices/{iid}?done=saved"))),
        Err(e) if e.is_validation() => {
            invoice_page(c, &id, "", Some(Refused::Draft(f, rows, Some(e)))).await
        }
        Err(e) => Err(e),
    }
}
