//! `/console/quotes`: the quote list (status and client filters, cursor
//! pages), the new-draft form, and one quote: its lines and totals as the
//! API computed them, its PDF through [`pdf`], and the actions send,
//! accept, decline and convert to an invoice (then a link to the invoice).

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use nestogy_api::admin::session::see_other;
use nestogy_domain::billing::quotes::{Quote, QuoteStatus};
use nestogy_domain::customers::clients::Client;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::{ClientId, QuoteId};
use serde::Deserialize;
use serde_json::json;

use crate::api_client::{ApiFailure, query};
use crate::layout::{self, Section};
use crate::pages::clients::{document, input, next_link, parse_id, refusal};
use crate::pages::invoices::{FinancePage, finance_nav, trimmed};
use crate::pages::line_rows::{LineRows, add_rows_button};
use crate::picker::client_step;
use crate::session::{Console, Form, NoFields};

const STATUSES: [(&str, &str); 7] = [
    ("", "All"),
    ("draft", "Draft"),
    ("sent", "Sent"),
    ("accepted", "Accepted"),
    ("declined", "Declined"),
    ("expired", "Expired"),
    ("converted", "Converted"),
];

fn status_class(s: QuoteStatus) -> &'static str {
    match s {
        QuoteStatus::Accepted | QuoteStatus::Converted => "ok",
        QuoteStatus::Declined | QuoteStatus::Expired => "bad",
        QuoteStatus::Draft => "muted",
        QuoteStatus::Sent => "",
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    cursor: String,
}

pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    let filters = [
        ("status", p.status.as_str()),
        ("client_id", p.client_id.as_str()),
    ];
    let mut pairs = filters.to_vec();
    pairs.push(("cursor", p.cursor.as_str()));
    let page: Page<Quote> = c
        .api
        .get(format!("/api/v1/quotes{}", query(&pairs)))
        .await?;
    let mut names: HashMap<ClientId, String> = HashMap::new();
    for q in &page.data {
        if let std::collections::hash_map::Entry::Vacant(e) = names.entry(q.client_id) {
            let cl: Client = c
                .api
                .get(format!("/api/v1/clients/{}", q.client_id))
                .await?;
            e.insert(cl.name);
        }
    }
    let new_href = format!(
        "/console/quotes/new{}",
        query(&[("client_id", &p.client_id)])
    );
    let body = html! {
        (finance_nav(FinancePage::Quotes))
        h1 { "Quotes" }
        p { a #new-quote href=(new_href) { "New quote" } }
        form #quote-filter method="get" action="/console/quotes" {
            label for="status" { "Status" } " "
            select #status name="status" {
                @for (v, l) in STATUSES {
                    option value=(v) selected[p.status == v] { (l) }
                }
            }
            @if !p.client_id.is_empty() {
                input type="hidden" name="client_id" value=(p.client_id);
            }
            " " button type="submit" { "Filter" }
        }
        @if !p.client_id.is_empty() {
            p { "One client's quotes. " a href={ "/console/quotes" (query(&[("status", &p.status)])) } { "All clients" } }
        }
        p.muted #quote-count { (page.total) " quotes" }
        @if page.data.is_empty() {
            p.muted { "No quote matches." }
        } @else {
            div.scroll { table #quotes {
                thead { tr {
                    th { "Number" } th { "Client" } th { "Status" } th { "Issued" } th { "Valid until" } th.n { "Total" }
                } }
                tbody { @for q in &page.data {
                    tr id={ "quote-" (q.id) } {
                        td { a href={ "/console/quotes/" (q.id) } { (q.number.as_deref().unwrap_or("draft")) } }
                        td { a href={ "/console/quotes?client_id=" (q.client_id) } { (names.get(&q.client_id).map(String::as_str).unwrap_or("")) } }
                        td class=(status_class(q.status)) { (crate::fmt::label(q.status.as_str())) }
                        td { (c.fmt.date(q.issue_date)) }
                        td { (c.fmt.date(q.valid_until)) }
                        td.n { (c.fmt.money(q.total, &q.currency)) }
                    }
                } }
            } }
        }
        (next_link("/console/quotes", &filters, page.next_cursor.as_deref()))
    };
    Ok(c.page(Section::Finance, "Quotes", body))
}

// ---------------------------------------------------------------- one quote

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
    quote_page(c, &id, &p.done, None).await
}

/// The edit-draft form's fields beside its lines (client, currency, date
/// of issue, discount and terms stay the draft's).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditFields {
    #[serde(default)]
    valid_until: String,
    #[serde(default)]
    notes: String,
}

impl EditFields {
    fn of(q: &Quote) -> Self {
        EditFields {
            valid_until: q.valid_until.to_string(),
            notes: q.notes.clone().unwrap_or_default(),
        }
    }

    /// The body of `PUT /quotes/{id}`, which replaces the whole draft:
    /// what the form does not show is sent as the draft has it.
    fn body(&self, q: &Quote, rows: &LineRows) -> serde_json::Value {
        json!({
            "client_id": q.client_id,
            "currency": q.currency,
            "issue_date": q.issue_date,
            "valid_until": trimmed(&self.valid_until),
            "discount": q.discount,
            "notes": trimmed(&self.notes),
            "terms": q.terms,
            "lines": rows.json(),
        })
    }
}

/// The edit-draft form as posted: refused (or drawn again with more rows).
type Draft = (EditFields, LineRows, Option<ApiFailure>);

async fn quote_page(
    c: Console,
    id: &str,
    done: &str,
    draft: Option<Draft>,
) -> Result<Response, ApiFailure> {
    let id: QuoteId = parse_id(&c, id, "quote")?;
    let q: Quote = c.api.get(format!("/api/v1/quotes/{id}")).await?;
    let client: Client = c
        .api
        .get(format!("/api/v1/clients/{}", q.client_id))
        .await?;
    let title = match &q.number {
        Some(n) => format!("Quote {n}"),
        None => "Draft quote".to_owned(),
    };
    let base = format!("/console/quotes/{id}");
    let money = |d| c.fmt.money(d, &q.currency);
    let notice = match done {
        "created" | "saved" => Some("The draft quote is saved."),
        "sent" => Some("The quote is on its way to the client's billing contacts."),
        "accepted" => Some("The quote is accepted."),
        "declined" => Some("The quote is declined."),
        "converted" => Some("The quote is now a draft invoice."),
        _ => None,
    };
    let as_stored;
    let (edit_fields, edit_rows, ep) = match &draft {
        Some((f, rows, e)) => (f, rows, e.as_ref()),
        None => {
            as_stored = (EditFields::of(&q), LineRows::of_lines(&q.lines));
            (&as_stored.0, &as_stored.1, None)
        }
    };
    let status = ep.map(|e| e.status).unwrap_or(StatusCode::OK);
    let body = html! {
        (finance_nav(FinancePage::Quotes))
        h1 { (title) " " span #quote-status class=(status_class(q.status)) { "(" (crate::fmt::label(q.status.as_str())) ")" } }
        @if let Some(n) = notice { p.notice #done role="status" { (n) } }
        @if let Some(inv) = q.invoice_id {
            p #converted { "Converted to " a #invoice-link href={ "/console/invoices/" (inv) } { "this invoice" } "." }
        }
        div.grid {
            section.card #summary aria-labelledby="summary-title" {
                h2 #summary-title { "Summary" }
                dl.figures {
                    dt { "Client" } dd { a #client-link href={ "/console/clients/" (client.id) } { (client.name) } }
                    dt { "Issued" } dd { (c.fmt.date(q.issue_date)) }
                    dt { "Valid until" } dd { (c.fmt.date(q.valid_until)) }
                    @if let Some(t) = q.sent_at { dt { "Sent" } dd { (c.fmt.datetime(t)) } }
                    @if let Some(t) = q.decided_at { dt { "Decided" } dd { (c.fmt.datetime(t)) } }
                    @if let Some(by) = &q.decided_by { dt { "Decided by" } dd { (by.name) " (client portal)" } }
                }
                p { a #quote-pdf href={ (base) "/pdf" } { "PDF" } }
            }
            section.card #totals aria-labelledby="totals-title" {
                h2 #totals-title { "Totals" }
                dl.figures {
                    dt { "Subtotal" } dd #subtotal { (money(q.subtotal)) }
                    dt { "Discount" } dd #discount-total { (money(q.discount_total)) }
                    dt { "Tax" } dd #tax-total { (money(q.tax_total)) }
                    dt { "Total" } dd #total { (money(q.total)) }
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
                tbody { @for l in &q.lines {
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
            @if let Some(n) = &q.notes { p { (n) } }
            @if let Some(t) = &q.terms { p.muted { (t) } }
        }
        @if q.status == QuoteStatus::Draft {
            section.card #edit-draft aria-labelledby="edit-draft-title" {
                h2 #edit-draft-title { "Edit draft" }
                form.stack.wide #edit-lines method="post" action={ (base) "/lines" } {
                    (layout::csrf_field(c.csrf()))
                    (refusal(ep))
                    (input("Valid until", "valid_until", "date", &edit_fields.valid_until, ep))
                    (edit_rows.table(ep))
                    label for="f-notes" { "Notes" }
                    textarea #f-notes name="notes" rows="3" { (edit_fields.notes) }
                    button type="submit" { "Save draft" }
                    (add_rows_button())
                }
            }
        }
        section.card #actions aria-labelledby="actions-title" {
            h2 #actions-title { "Actions" }
            div.grid {
                @match q.status {
                    QuoteStatus::Draft => (layout::post_button(&format!("{base}/send"), c.csrf(), "send", "Send to the client")),
                    QuoteStatus::Sent => {
                        (layout::post_button(&format!("{base}/send"), c.csrf(), "send", "Send again"))
                        (layout::post_button(&format!("{base}/accept"), c.csrf(), "accept", "Accepted by the client"))
                        (layout::post_button(&format!("{base}/decline"), c.csrf(), "decline", "Declined by the client"))
                        (layout::post_button(&format!("{base}/convert"), c.csrf(), "convert", "Convert to invoice"))
                    },
                    QuoteStatus::Accepted => (layout::post_button(&format!("{base}/convert"), c.csrf(), "convert", "Convert to invoice")),
                    _ => p.muted { "A quote that is " (crate::fmt::label(q.status.as_str()).to_lowercase()) " has nothing left to do." },
                }
            }
        }
    };
    Ok(c.page_with(status, Some(Section::Finance), &title, body))
}

/// `POST /console/quotes/{id}/lines`: the draft's validity, notes and
/// lines, through `PUT /api/v1/quotes/{id}` (a quote sent: the API's 409,
/// as its page).
pub async fn update_draft(
    c: Console,
    Path(id): Path<String>,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let qid: QuoteId = parse_id(&c, &id, "quote")?;
    let (f, rows): (EditFields, LineRows) = LineRows::read(&c, raw)?;
    if rows.add_rows {
        let rows = rows.more();
        return quote_page(c, &id, "", Some((f, rows, None))).await;
    }
    let q: Quote = c.api.get(format!("/api/v1/quotes/{qid}")).await?;
    match c
        .api
        .send::<Quote>(
            Method::PUT,
            format!("/api/v1/quotes/{qid}"),
            &f.body(&q, &rows),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/quotes/{qid}?done=saved"))),
        Err(e) if e.is_validation() => quote_page(c, &id, "", Some((f, rows, Some(e)))).await,
        Err(e) => Err(e),
    }
}

/// One of the quote's actions: `POST /quotes/{id}/{action}`, then the
/// quote page saying `done`.
async fn act(c: &Console, id: &str, action: &str, done: &str) -> Result<Response, ApiFailure> {
    let id: QuoteId = parse_id(c, id, "quote")?;
    c.api
        .send_empty::<serde_json::Value>(Method::POST, format!("/api/v1/quotes/{id}/{action}"))
        .await?;
    Ok(see_other(&format!("/console/quotes/{id}?done={done}")))
}

pub async fn send(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    act(&c, &id, "send", "sent").await
}

pub async fn accept(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    act(&c, &id, "accept", "accepted").await
}

pub async fn decline(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    act(&c, &id, "decline", "declined").await
}

pub async fn convert(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    act(&c, &id, "convert", "converted").await
}

pub async fn pdf(c: Console, Path(id): Path<String>) -> Result<Response, ApiFailure> {
    let id: QuoteId = parse_id(&c, &id, "quote")?;
    document(&c, &format!("/api/v1/quotes/{id}/pdf"), "Quote").await
}

// ---------------------------------------------------------------- new draft

/// The new-quote form's fields beside its lines.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteFields {
    client_id: String,
    #[serde(default)]
    valid_until: String,
    #[serde(default)]
    notes: String,
}

impl QuoteFields {
    /// The body of `POST /quotes`.
    fn body(&self, rows: &LineRows) -> serde_json::Value {
        json!({
            "client_id": self.client_id.trim(),
            "valid_until": trimmed(&self.valid_until),
            "notes": trimmed(&self.notes),
            "lines": rows.json(),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NewParams {
    #[serde(default)]
    client_id: String,
    /// The client picker's search.
    #[serde(default)]
    client_q: String,
}

fn new_page(
    c: &Console,
    status: StatusCode,
    client: &Client,
    f: &QuoteFields,
    rows: &LineRows,
    problem: Option<&ApiFailure>,
) -> Response {
    let body = html! {
        (finance_nav(FinancePage::Quotes))
        h1 { "New quote" }
        p { "For " a href={ "/console/clients/" (client.id) } { (client.name) } ", in " (c.company.currency) "." }
        form.stack.wide #new-quote-form method="post" action="/console/quotes/new" {
            (layout::csrf_field(c.csrf()))
            (refusal(problem))
            input type="hidden" name="client_id" value=(client.id);
            (input("Valid until (empty: 30 days)", "valid_until", "date", &f.valid_until, problem))
            (rows.table(problem))
            label for="f-notes" { "Notes" }
            textarea #f-notes name="notes" rows="3" { (f.notes) }
            button type="submit" { "Create draft quote" }
            (add_rows_button())
        }
    };
    c.page_with(status, Some(Section::Finance), "New quote", body)
}

pub async fn new_form(c: Console, Query(p): Query<NewParams>) -> Result<Response, ApiFailure> {
    if p.client_id.is_empty() {
        let body = client_step(&c, "/console/quotes/new", "New quote", &p.client_q).await?;
        let body = html! { (finance_nav(FinancePage::Quotes)) (body) };
        return Ok(c.page(Section::Finance, "New quote", body));
    }
    let id: ClientId = parse_id(&c, &p.client_id, "client")?;
    let client: Client = c.api.get(format!("/api/v1/clients/{id}")).await?;
    let f = QuoteFields {
        client_id: id.to_string(),
        ..Default::default()
    };
    let rows = LineRows::new_document();
    Ok(new_page(&c, StatusCode::OK, &client, &f, &rows, None))
}

pub async fn create(
    c: Console,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let (f, rows): (QuoteFields, LineRows) = LineRows::read(&c, raw)?;
    let id: ClientId = parse_id(&c, &f.client_id, "client")?;
    if rows.add_rows {
        let client: Client = c.api.get(format!("/api/v1/clients/{id}")).await?;
        let rows = rows.more();
        return Ok(new_page(&c, StatusCode::OK, &client, &f, &rows, None));
    }
    match c
        .api
        .send::<Quote>(Method::POST, "/api/v1/quotes", &f.body(&rows))
        .await
    {
        Ok(q) => Ok(see_other(&format!("/console/quotes/{}?done=created", q.id))),
        Err(e) if e.is_validation() => {
            let client: Client = c.api.get(format!("/api/v1/clients/{id}")).await?;
            Ok(new_page(&c, e.status, &client, &f, &rows, Some(&e)))
        }
        Err(e) => Err(e),
    }
}
