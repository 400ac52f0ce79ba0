//! `/console/recurring`: recurring invoice templates: the list (by client,
//! cursor pages), the new-template form, and one template: its schedule
//! and lines, a preview of its next invoices as billing would create them
//! (`GET /recurring-invoices/{id}/preview`: dates and the API's totals),
//! the edit form (`PATCH`), pause and resume.

use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::billing::billing_periods::Frequency;
use nestogy_domain::billing::invoices::LineRequest;
use nestogy_domain::billing::recurring::{PreviewInvoice, TemplateStatus};
use nestogy_domain::customers::clients::Client;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::{ClientId, RecurringId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api_client::{ApiFailure, query};
use crate::layout::{self, Section};
use crate::names::client_names;
use crate::pages::clients::{checkbox, input, next_link, parse_id, refusal};
use crate::pages::invoices::{FinancePage, finance_nav};
use crate::pages::line_rows::{LineRows, add_rows_button};
use crate::picker::client_step;
use crate::session::{Console, Form, NoFields};

/// A template as the API answers it (`nestogy_domain`'s `Template` only
/// serializes: it carries its billing schedule, which the API does not
/// send, so it cannot be read back whole). The fields the console shows.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TemplateView {
    pub id: RecurringId,
    pub client_id: ClientId,
    pub name: String,
    pub currency: String,
    pub frequency: Frequency,
    #[serde(deserialize_with = "nestogy_domain::kernel::dates::de")]
    pub start_date: NaiveDate,
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub end_date: Option<NaiveDate>,
    pub max_cycles: Option<i32>,
    pub next_cycle: i32,
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub next_period_start: Option<NaiveDate>,
    pub status: TemplateStatus,
    pub auto_finalize: bool,
    pub auto_send: bool,
    pub due_days: i32,
    pub notes: Option<String>,
    pub terms: Option<String>,
    /// The lines as the template stores them (as they were sent).
    pub lines: Vec<LineRequest>,
    pub archived_at: Option<DateTime<Utc>>,
}

/// What `GET /recurring-invoices/{id}/preview` answers.
#[derive(Debug, Deserialize)]
struct Preview {
    invoices: Vec<PreviewInvoice>,
}

const UNITS: [(&str, &str); 4] = [
    ("days", "days"),
    ("weeks", "weeks"),
    ("months", "months"),
    ("years", "years"),
];

fn frequency_parts(f: Frequency) -> (&'static str, u32) {
    match f {
        Frequency::Days(n) => ("days", n),
        Frequency::Weeks(n) => ("weeks", n),
        Frequency::Months(n) => ("months", n),
        Frequency::Years(n) => ("years", n),
    }
}

fn frequency_text(f: Frequency) -> String {
    let (unit, n) = frequency_parts(f);
    if n == 1 {
        format!("every {}", unit.trim_end_matches('s'))
    } else {
        format!("every {n} {unit}")
    }
}

fn status_class(s: TemplateStatus) -> &'static str {
    match s {
        TemplateStatus::Active => "ok",
        TemplateStatus::Paused => "warn",
        _ => "muted",
    }
}

/// A number the API takes as a number: as one when it reads as one, else
/// as the text entered, which the API refuses with its own message.
fn number(s: &str) -> Value {
    let s = s.trim();
    s.parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| json!(s))
}

fn some(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

// ---------------------------------------------------------------- list

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    cursor: String,
}

pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    let filters = [("client_id", p.client_id.as_str())];
    let mut pairs = filters.to_vec();
    pairs.push(("cursor", p.cursor.as_str()));
    let page: Page<TemplateView> = c
        .api
        .get(format!("/api/v1/recurring-invoices{}", query(&pairs)))
        .await?;
    let names = client_names(&c, page.data.iter().map(|t| t.client_id)).await?;
    let new_href = format!(
        "/console/recurring/new{}",
        query(&[("client_id", &p.client_id)])
    );
    let body = html! {
        (finance_nav(FinancePage::Recurring))
        h1 { "Recurring invoices" }
        p { a #new-template href=(new_href) { "New recurring invoice" } }
        @if !p.client_id.is_empty() {
            p { "One client's templates. " a href="/console/recurring" { "All templates" } }
        }
        p.muted #template-count { (page.total) " templates" }
        @if page.data.is_empty() {
            p.muted { "No recurring invoice yet." }
        } @else {
            div.scroll { table #templates {
                thead { tr {
                    th { "Name" } th { "Client" } th { "Frequency" } th { "Next period" } th { "Status" }
                } }
                tbody { @for t in &page.data {
                    tr id={ "template-" (t.id) } {
                        td { a href={ "/console/recurring/" (t.id) } { (t.name) } }
                        td { a href={ "/console/clients/" (t.client_id) } { (names.get(&t.client_id).map(String::as_str).unwrap_or("")) } }
                        td { (frequency_text(t.frequency)) }
                        td { @match t.next_period_start { Some(d) => (c.fmt.date(d)), None => "–" } }
                        td class=(status_class(t.status)) { (crate::fmt::label(t.status.as_str())) }
                    }
                } }
            } }
        }
        (next_link("/console/recurring", &filters, page.next_cursor.as_deref()))
    };
    Ok(c.page(Section::Finance, "Recurring invoices", body))
}

// ---------------------------------------------------------------- the form

/// The new-template and edit forms' fields beside their lines (the edit
/// form has no client and start date: they are the template's for good).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFields {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    every: String,
    #[serde(default)]
    start_date: String,
    #[serde(default)]
    end_date: String,
    #[serde(default)]
    max_cycles: String,
    #[serde(default)]
    due_days: String,
    auto_finalize: Option<String>,
    auto_send: Option<String>,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    terms: String,
}

impl TemplateFields {
    fn of(t: &TemplateView) -> Self {
        let (unit, every) = frequency_parts(t.frequency);
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        TemplateFields {
            client_id: t.client_id.to_string(),
            name: t.name.clone(),
            unit: unit.to_owned(),
            every: every.to_string(),
            start_date: t.start_date.to_string(),
            end_date: t.end_date.map(|d| d.to_string()).unwrap_or_default(),
            max_cycles: t.max_cycles.map(|n| n.to_string()).unwrap_or_default(),
            due_days: t.due_days.to_string(),
            auto_finalize: t.auto_finalize.then(|| "true".to_owned()),
            auto_send: t.auto_send.then(|| "true".to_owned()),
            notes: s(&t.notes),
            terms: s(&t.terms),
        }
    }

    fn frequency(&self) -> Value {
        json!({"unit": self.unit.trim(), "every": number(&self.every)})
    }

    /// The body of `POST /recurring-invoices`.
    fn create_body(&self, rows: &LineRows) -> Value {
        let mut m = Map::new();
        m.insert("client_id".into(), json!(self.client_id.trim()));
        m.insert("name".into(), json!(self.name));
        m.insert("frequency".into(), self.frequency());
        m.insert("start_date".into(), json!(self.start_date.trim()));
        m.insert("end_date".into(), json!(some(&self.end_date)));
        m.insert(
            "max_cycles".into(),
            some(&self.max_cycles).map(number).unwrap_or(Value::Null),
        );
        m.insert(
            "due_days".into(),
            some(&self.due_days).map(number).unwrap_or(Value::Null),
        );
        m.insert("auto_finalize".into(), json!(self.auto_finalize.is_some()));
        m.insert("auto_send".into(), json!(self.auto_send.is_some()));
        m.insert("notes".into(), json!(some(&self.notes)));
        m.insert("terms".into(), json!(some(&self.terms)));
        m.insert("lines".into(), json!(rows.json()));
        Value::Object(m)
    }

    /// The body of `PATCH /recurring-invoices/{id}`: every field the form
    /// shows (empty optional ones cleared); the lines only when they
    /// changed (what the table does not show of a line rides along with
    /// its row).
    fn patch_body(&self, t: &TemplateView, rows: &LineRows) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("frequency".into(), self.frequency());
        m.insert("end_date".into(), json!(some(&self.end_date)));
        m.insert(
            "max_cycles".into(),
            some(&self.max_cycles).map(number).unwrap_or(Value::Null),
        );
        if let Some(d) = some(&self.due_days) {
            m.insert("due_days".into(), number(d));
        }
        m.insert("auto_finalize".into(), json!(self.auto_finalize.is_some()));
        m.insert("auto_send".into(), json!(self.auto_send.is_some()));
        m.insert("notes".into(), json!(some(&self.notes)));
        m.insert("terms".into(), json!(some(&self.terms)));
        if rows.sent() != LineRows::of_requests(&t.lines).sent() {
            m.insert("lines".into(), json!(rows.json()));
        }
        Value::Object(m)
    }
}

/// The new-template form or (`editing`) the edit form of a template.
#[allow(clippy::too_many_arguments)]
fn template_form(
    c: &Console,
    id: &str,
    action: &str,
    submit: &str,
    f: &TemplateFields,
    rows: &LineRows,
    editing: bool,
    problem: Option<&ApiFailure>,
) -> Markup {
    html! {
        form.stack.wide id=(id) method="post" action=(action) {
            (layout::csrf_field(c.csrf()))
            (refusal(problem))
            @if !editing { input type="hidden" name="client_id" value=(f.client_id); }
            (input("Name", "name", "text", &f.name, problem))
            fieldset {
                legend { "Bills" }
                (input("Every (how many units)", "every", "number", &f.every, problem))
                label for="f-unit" { "Unit" }
                select #f-unit name="unit" {
                    @for (v, l) in UNITS { option value=(v) selected[f.unit == v] { (l) } }
                }
                @if let Some(m) = problem.and_then(|p| p.field("frequency")) { p.field-problem { (m) } }
            }
            @if !editing {
                (input("Start date (the first period starts here)", "start_date", "date", &f.start_date, problem))
            }
            (input("End date (optional: the last day a period may start)", "end_date", "date", &f.end_date, problem))
            (input("Most invoices (optional)", "max_cycles", "number", &f.max_cycles, problem))
            (input("Days from issue to due date", "due_days", "number", &f.due_days, problem))
            (checkbox("Finalize each invoice", "auto_finalize", f.auto_finalize.is_some()))
            (checkbox("E-mail each invoice to the client (needs finalize)", "auto_send", f.auto_send.is_some()))
            (rows.table(problem))
            label for="f-notes" { "Notes" }
            textarea #f-notes name="notes" rows="2" { (f.notes) }
            label for="f-terms" { "Terms" }
            textarea #f-terms name="terms" rows="2" { (f.terms) }
            button type="submit" { (submit) }
            (add_rows_button())
        }
    }
}

// ---------------------------------------------------------------- new

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
    f: &TemplateFields,
    rows: &LineRows,
    problem: Option<&ApiFailure>,
) -> Response {
    let body = html! {
        (finance_nav(FinancePage::Recurring))
        h1 { "New recurring invoice" }
        p { "For " a href={ "/console/clients/" (client.id) } { (client.name) } ", in " (c.company.currency) "." }
        (template_form(c, "new-template-form", "/console/recurring/new", "Create recurring invoice", f, rows, false, problem))
    };
    c.page_with(
        status,
        Some(Section::Finance),
        "New recurring invoice",
        body,
    )
}

pub async fn new_form(c: Console, Query(p): Query<NewParams>) -> Result<Response, ApiFailure> {
    if p.client_id.is_empty() {
        let body = client_step(
            &c,
            "/console/recurring/new",
            "New recurring invoice",
            &p.client_q,
        )
        .await?;
        let body = html! { (finance_nav(FinancePage::Recurring)) (body) };
        return Ok(c.page(Section::Finance, "New recurring invoice", body));
    }
    let id: ClientId = parse_id(&c, &p.client_id, "client")?;
    let client: Client = c.api.get(format!("/api/v1/clients/{id}")).await?;
    let f = TemplateFields {
        client_id: id.to_string(),
        unit: "months".to_owned(),
        every: "1".to_owned(),
        start_date: c.fmt.today(c.now).to_string(),
        due_days: "30".to_owned(),
        auto_finalize: Some("true".to_owned()),
        ..Default::default()
    };
    let rows = LineRows::new_document();
    Ok(new_page(&c, StatusCode::OK, &client, &f, &rows, None))
}

pub async fn create(
    c: Console,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let (f, rows): (TemplateFields, LineRows) = LineRows::read(&c, raw)?;
    let id: ClientId = parse_id(&c, &f.client_id, "client")?;
    if rows.add_rows {
        let client: Client = c.api.get(format!("/api/v1/clients/{id}")).await?;
        let rows = rows.more();
        return Ok(new_page(&c, StatusCode::OK, &client, &f, &rows, None));
    }
    match c
        .api
        .send::<TemplateView>(
            Method::POST,
            "/api/v1/recurring-invoices",
            &f.create_body(&rows),
        )
        .await
    {
        Ok(t) => Ok(see_other(&format!(
            "/console/recurring/{}?done=created",
            t.id
        ))),
        Err(e) if e.is_validation() => {
            let client: Client = c.api.get(format!("/api/v1/clients/{id}")).await?;
            Ok(new_page(&c, e.status, &client, &f, &rows, Some(&e)))
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- one template

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
    template_page(c, &id, &p.done, None).await
}

async fn template_page(
    c: Console,
    id: &str,
    done: &str,
    refused: Option<(TemplateFields, LineRows, Option<ApiFailure>)>,
) -> Result<Response, ApiFailure> {
    let id: RecurringId = parse_id(&c, id, "recurring invoice")?;
    let t: TemplateView = c
        .api
        .get(format!("/api/v1/recurring-invoices/{id}"))
        .await?;
    let (client, preview) = tokio::join!(
        c.api
            .get::<Client>(format!("/api/v1/clients/{}", t.client_id)),
        c.api
            .get::<Preview>(format!("/api/v1/recurring-invoices/{id}/preview?count=6")),
    );
    let (client, preview) = (client?, preview?);
    let base = format!("/console/recurring/{id}");
    let cur = t.currency.as_str();
    let notice = match done {
        "created" => Some("The recurring invoice is saved."),
        "saved" => Some("The changes are saved; they apply to the invoices to come."),
        "paused" => Some("Paused: nothing is billed until it is resumed."),
        "resumed" => Some("Resumed: the next run bills the periods it missed."),
        _ => None,
    };
    let as_stored;
    let (f, rows, problem) = match &refused {
        Some((f, rows, e)) => (f, rows, e.as_ref()),
        None => {
            as_stored = (TemplateFields::of(&t), LineRows::of_requests(&t.lines));
            (&as_stored.0, &as_stored.1, None)
        }
    };
    let status = problem.map(|e| e.status).unwrap_or(StatusCode::OK);
    let editable = t.status != TemplateStatus::Archived;
    let body = html! {
        (finance_nav(FinancePage::Recurring))
        h1 { (t.name) " " span #template-status class=(status_class(t.status)) { "(" (crate::fmt::label(t.status.as_str())) ")" } }
        @if let Some(n) = notice { p.notice #done role="status" { (n) } }
        div.grid {
            section.card #schedule aria-labelledby="schedule-title" {
                h2 #schedule-title { "Schedule" }
                dl.figures {
                    dt { "Client" } dd { a #client-link href={ "/console/clients/" (client.id) } { (client.name) } }
                    dt { "Bills" } dd #frequency { (frequency_text(t.frequency)) }
                    dt { "Starts" } dd { (c.fmt.date(t.start_date)) }
                    dt { "Ends" } dd { @match t.end_date { Some(d) => (c.fmt.date(d)), None => "–" } }
                    dt { "Most invoices" } dd { @match t.max_cycles { Some(n) => (n), None => "–" } }
                    dt { "Invoices so far" } dd { (t.next_cycle) }
                    dt { "Next period" } dd #next-period { @match t.next_period_start { Some(d) => (c.fmt.date(d)), None => "–" } }
                    dt { "Due after" } dd { (t.due_days) " days" }
                    dt { "Finalize" } dd { @if t.auto_finalize { "yes" } @else { "no (drafts)" } }
                    dt { "E-mail" } dd { @if t.auto_send { "yes" } @else { "no" } }
                    @if let Some(a) = t.archived_at { dt { "Archived" } dd { (c.fmt.datetime(a)) } }
                }
                p { a href={ "/console/invoices?client_id=" (t.client_id) } { "The client's invoices" } }
            }
            section.card #template-actions aria-labelledby="template-actions-title" {
                h2 #template-actions-title { "Actions" }
                @match t.status {
                    TemplateStatus::Active => (layout::post_button(&format!("{base}/pause"), c.csrf(), "pause", "Pause")),
                    TemplateStatus::Paused => (layout::post_button(&format!("{base}/resume"), c.csrf(), "resume", "Resume")),
                    _ => p.muted { "A template that is " (crate::fmt::label(t.status.as_str()).to_lowercase()) " bills no more." },
                }
            }
        }
        section.card #template-lines aria-labelledby="template-lines-title" {
            h2 #template-lines-title { "Lines" }
            div.scroll { table {
                thead { tr { th { "Description" } th.n { "Quantity" } th.n { "Unit price" } } }
                tbody { @for l in &t.lines {
                    tr {
                        td { (l.description.as_deref().unwrap_or("(from the product)")) }
                        td.n { (l.quantity.normalize()) }
                        td.n { @match l.unit_price { Some(p) => (c.fmt.money(p, cur)), None => "(the product's)" } }
                    }
                } }
            } }
            p.muted { "Prices as entered; each invoice is priced (discounts, taxes) when it is billed, as the preview shows." }
        }
        section.card #next-invoices aria-labelledby="preview-title" {
            h2 #preview-title { "Next invoices" }
            @if preview.invoices.is_empty() {
                p.muted { "No invoice to come." }
            } @else {
                div.scroll { table #preview {
                    thead { tr {
                        th { "Period" } th { "Issued" } th { "Due" }
                        th.n { "Subtotal" } th.n { "Discount" } th.n { "Tax" } th.n { "Total" }
                    } }
                    tbody { @for i in &preview.invoices {
                        tr id={ "cycle-" (i.cycle) } {
                            td {
                                (c.fmt.date(i.period_start))
                                @if let Some(e) = i.period_end { " – " (c.fmt.date(e)) }
                            }
                            td { (c.fmt.date(i.issue_date)) }
                            td { (c.fmt.date(i.due_date)) }
                            td.n { (c.fmt.money(i.subtotal, &i.currency)) }
                            td.n { (c.fmt.money(i.discount_total, &i.currency)) }
                            td.n { (c.fmt.money(i.tax_total, &i.currency)) }
                            td.n { (c.fmt.money(i.total, &i.currency)) }
                        }
                    } }
                } }
            }
        }
        @if editable {
            section.card #edit aria-labelledby="edit-title" {
                h2 #edit-title { "Edit" }
                p.muted { "Changes apply to the invoices not billed yet." }
                (template_form(&c, "edit-template", &base, "Save changes", f, rows, true, problem))
            }
        }
    };
    Ok(c.page_with(status, Some(Section::Finance), &t.name, body))
}

pub async fn update(
    c: Console,
    Path(id): Path<String>,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let rid: RecurringId = parse_id(&c, &id, "recurring invoice")?;
    let (f, rows): (TemplateFields, LineRows) = LineRows::read(&c, raw)?;
    if rows.add_rows {
        let rows = rows.more();
        return template_page(c, &id, "", Some((f, rows, None))).await;
    }
    let t: TemplateView = c
        .api
        .get(format!("/api/v1/recurring-invoices/{rid}"))
        .await?;
    match c
        .api
        .send::<TemplateView>(
            Method::PATCH,
            format!("/api/v1/recurring-invoices/{rid}"),
            &f.patch_body(&t, &rows),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/recurring/{rid}?done=saved"))),
        Err(e) if e.is_validation() => template_page(c, &id, "", Some((f, rows, Some(e)))).await,
        Err(e) => Err(e),
    }
}

async fn set_paused(c: &Console, id: &str, action: &str) -> Result<Response, ApiFailure> {
    let rid: RecurringId = parse_id(c, id, "recurring invoice")?;
    c.api
        .send_empty::<TemplateView>(
            Method::POST,
            format!("/api/v1/recurring-invoices/{rid}/{action}"),
        )
        .await?;
    let done = if action == "pause" {
        "paused"
    } else {
        "resumed"
    };
    Ok(see_other(&format!("/console/recurring/{rid}?done={done}")))
}

pub async fn pause(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    set_paused(&c, &id, "pause").await
}

pub async fn resume(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    set_paused(&c, &id, "resume").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(lines: Value) -> TemplateView {
        serde_json::from_value(json!({
            "id": "01900000-0000-7000-8000-000000000001",
            "client_id": "01900000-0000-7000-8000-000000000002",
            "name": "Plan", "currency": "EUR",
            "frequency": {"unit": "months", "every": 1},
            "start_date": "2026-01-31", "end_date": null, "max_cycles": null,
            "next_cycle": 0, "next_period_start": "2026-01-31", "status": "active",
            "auto_finalize": true, "auto_send": false, "due_days": 30,
            "notes": null, "terms": null, "lines": lines, "archived_at": null,
        }))
        .unwrap()
    }

    fn line(description: &str) -> Value {
        json!({"product_id": null, "description": description, "quantity": "1.00", "unit_price": "10",
               "discount": {"kind": "percent", "value": "5"}, "tax_rate_ids": ["01900000-0000-7000-8000-000000000003"]})
    }

    /// The edit form's rows as posted: `rows`' fields, `change` applied.
    fn posted(rows: &LineRows, change: &[(&str, &str)]) -> LineRows {
        let html = rows.table(None).into_string();
        let mut raw: Vec<(String, String)> = Vec::new();
        for input in html.split("<input").skip(1) {
            let attr = |a: &str| {
                input
                    .split(&format!(" {a}=\""))
                    .nth(1)
                    .and_then(|v| v.split('"').next())
                    .map(|v| v.replace("&quot;", "\""))
            };
            if input.contains("type=\"checkbox\"") {
                continue;
            }
            if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
                raw.push((n, v));
            }
        }
        for (k, v) in change {
            raw.retain(|(n, _)| n != k);
            raw.push(((*k).to_owned(), (*v).to_owned()));
        }
        LineRows::take(raw).0
    }

    #[test]
    fn unchanged_lines_are_not_sent_and_changed_ones_keep_what_the_form_does_not_show() {
        let t = template(json!([line("Monitoring"), line("Backup")]));
        let f = TemplateFields::of(&t);
        let rows = posted(&LineRows::of_requests(&t.lines), &[]);
        let body = f.patch_body(&t, &rows);
        assert!(body.get("lines").is_none(), "{body}");
        assert_eq!(body["frequency"], json!({"unit": "months", "every": 1}));
        assert_eq!(body["end_date"], Value::Null);

        let rows = posted(
            &LineRows::of_requests(&t.lines),
            &[
                ("lines[1].quantity", "3"),
                ("lines[2].description", "Extra"),
                ("lines[2].quantity", "1"),
            ],
        );
        let body = f.patch_body(&t, &rows);
        let lines = body["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["quantity"], "1");
        assert_eq!(lines[1]["quantity"], "3");
        assert_eq!(
            lines[1]["discount"],
            json!({"kind": "percent", "value": "5"})
        );
        assert_eq!(lines[1]["tax_rate_ids"].as_array().unwrap().len(), 1);
        assert!(
            lines[2].get("tax_rate_ids").is_none(),
            "a new line: {}",
            lines[2]
        );
        assert_eq!(number("12"), json!(12));
        assert_eq!(number(" x "), json!("x"));
    }

    #[test]
    fn a_template_with_many_lines_is_edited_whole() {
        let many: Vec<Value> = (0..12).map(|n| line(&format!("L{n}"))).collect();
        let t = template(Value::Array(many));
        let f = TemplateFields::of(&t);
        let rows = posted(
            &LineRows::of_requests(&t.lines),
            &[("lines[11].remove", "true")],
        );
        let lines = f.patch_body(&t, &rows)["lines"].clone();
        assert_eq!(lines.as_array().unwrap().len(), 11, "{lines}");
        assert_eq!(lines[10]["description"], "L10");
    }
}
