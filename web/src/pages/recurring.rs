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

/// Lines the template forms offer.
const LINES: usize = 5;

/// The new-template and edit forms as entered (the edit form has no
/// client and start date: they are the template's for good).
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
    #[serde(default)]
    description_1: String,
    #[serde(default)]
    quantity_1: String,
    #[serde(default)]
    unit_price_1: String,
    #[serde(default)]
    description_2: String,
    #[serde(default)]
    quantity_2: String,
    #[serde(default)]
    unit_price_2: String,
    #[serde(default)]
    description_3: String,
    #[serde(default)]
    quantity_3: String,
    #[serde(default)]
    unit_price_3: String,
    #[serde(default)]
    description_4: String,
    #[serde(default)]
    quantity_4: String,
    #[serde(default)]
    unit_price_4: String,
    #[serde(default)]
    description_5: String,
    #[serde(default)]
    quantity_5: String,
    #[serde(default)]
    unit_price_5: String,
}

impl TemplateFields {
    fn of(t: &TemplateView) -> Self {
        let (unit, every) = frequency_parts(t.frequency);
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        let mut f = TemplateFields {
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
            ..Default::default()
        };
        for (slot, l) in f.lines_mut().into_iter().zip(&t.lines) {
            *slot.0 = l.description.clone().unwrap_or_default();
            *slot.1 = l.quantity.normalize().to_string();
            *slot.2 = l.unit_price.map(|p| p.to_string()).unwrap_or_default();
        }
        f
    }

    fn lines(&self) -> [(&str, &str, &str); LINES] {
        [
            (&self.description_1, &self.quantity_1, &self.unit_price_1),
            (&self.description_2, &self.quantity_2, &self.unit_price_2),
            (&self.description_3, &self.quantity_3, &self.unit_price_3),
            (&self.description_4, &self.quantity_4, &self.unit_price_4),
            (&self.description_5, &self.quantity_5, &self.unit_price_5),
        ]
    }

    fn lines_mut(&mut self) -> [(&mut String, &mut String, &mut String); LINES] {
        [
            (
                &mut self.description_1,
                &mut self.quantity_1,
                &mut self.unit_price_1,
            ),
            (
                &mut self.description_2,
                &mut self.quantity_2,
                &mut self.unit_price_2,
            ),
            (
                &mut self.description_3,
                &mut self.quantity_3,
                &mut self.unit_price_3,
            ),
            (
                &mut self.description_4,
                &mut self.quantity_4,
                &mut self.unit_price_4,
            ),
            (
                &mut self.description_5,
                &mut self.quantity_5,
                &mut self.unit_price_5,
            ),
        ]
    }

    /// The lines entered (a line left wholly empty is no line). A line at
    /// the position of one of `stored` keeps what the form does not show
    /// (its product, discount and taxes).
    fn lines_json(&self, stored: &[LineRequest]) -> Vec<Value> {
        self.lines()
            .into_iter()
            .enumerate()
            .filter(|(_, (d, q, p))| [d, q, p].iter().any(|v| !v.trim().is_empty()))
            .map(|(n, (d, q, p))| {
                let mut line =
                    json!({"description": some(d), "quantity": q.trim(), "unit_price": some(p)});
                if let Some(s) = stored.get(n) {
                    line["product_id"] = json!(s.product_id);
                    line["discount"] = json!(s.discount);
                    line["tax_rate_ids"] = json!(s.tax_rate_ids);
                }
                line
            })
            .collect()
    }

    fn frequency(&self) -> Value {
        json!({"unit": self.unit.trim(), "every": number(&self.every)})
    }

    /// The body of `POST /recurring-invoices`.
    fn create_body(&self) -> Value {
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
        m.insert("lines".into(), json!(self.lines_json(&[])));
        Value::Object(m)
    }

    /// The body of `PATCH /recurring-invoices/{id}`: every field the form
    /// shows (empty optional ones cleared); the lines only when they
    /// changed, so what the form does not show of them stays (and never
    /// for a template with more lines than the form has).
    fn patch_body(&self, t: &TemplateView) -> Value {
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
        let before = TemplateFields::of(t);
        if lines_editable(t) && self.lines() != before.lines() {
            m.insert("lines".into(), json!(self.lines_json(&t.lines)));
        }
        Value::Object(m)
    }
}

/// Whether the edit form can hold all of `t`'s lines.
fn lines_editable(t: &TemplateView) -> bool {
    t.lines.len() <= LINES
}

/// The new-template form (`editing` None) or the edit form of a template
/// (`Some(lines_editable)`).
fn template_form(
    c: &Console,
    id: &str,
    action: &str,
    submit: &str,
    f: &TemplateFields,
    editing: Option<bool>,
    problem: Option<&ApiFailure>,
) -> Markup {
    let lines = editing.unwrap_or(true);
    let editing = editing.is_some();
    html! {
        form.stack id=(id) method="post" action=(action) {
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
            @if lines {
                @for (n, (d, q, p)) in f.lines().into_iter().enumerate() {
                    fieldset {
                        legend { "Line " (n + 1) }
                        (input("Description", &format!("description_{}", n + 1), "text", d, problem))
                        (input("Quantity", &format!("quantity_{}", n + 1), "text", q, problem))
                        (input("Unit price", &format!("unit_price_{}", n + 1), "text", p, problem))
                    }
                }
            } @else {
                p.muted #lines-not-editable { "This template has more than " (LINES) " lines: its lines change through the API only." }
            }
            label for="f-notes" { "Notes" }
            textarea #f-notes name="notes" rows="2" { (f.notes) }
            label for="f-terms" { "Terms" }
            textarea #f-terms name="terms" rows="2" { (f.terms) }
            button type="submit" { (submit) }
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
    problem: Option<&ApiFailure>,
) -> Response {
    let body = html! {
        (finance_nav(FinancePage::Recurring))
        h1 { "New recurring invoice" }
        p { "For " a href={ "/console/clients/" (client.id) } { (client.name) } ", in " (c.company.currency) "." }
        (template_form(c, "new-template-form", "/console/recurring/new", "Create recurring invoice", f, None, problem))
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
        quantity_1: "1".to_owned(),
        ..Default::default()
    };
    Ok(new_page(&c, StatusCode::OK, &client, &f, None))
}

pub async fn create(c: Console, Form(f): Form<TemplateFields>) -> Result<Response, ApiFailure> {
    let id: ClientId = parse_id(&c, &f.client_id, "client")?;
    match c
        .api
        .send::<TemplateView>(Method::POST, "/api/v1/recurring-invoices", &f.create_body())
        .await
    {
        Ok(t) => Ok(see_other(&format!(
            "/console/recurring/{}?done=created",
            t.id
        ))),
        Err(e) if e.is_validation() => {
            let client: Client = c.api.get(format!("/api/v1/clients/{id}")).await?;
            Ok(new_page(&c, e.status, &client, &f, Some(&e)))
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
    refused: Option<(TemplateFields, ApiFailure)>,
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
    let (f, problem) = match &refused {
        Some((f, e)) => (None, Some((f, e))),
        None => (Some(TemplateFields::of(&t)), None),
    };
    let status = problem.map(|(_, e)| e.status).unwrap_or(StatusCode::OK);
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
                @match (&f, problem) {
                    (Some(f), _) => (template_form(&c, "edit-template", &base, "Save changes", f, Some(lines_editable(&t)), None)),
                    (None, Some((f, e))) => (template_form(&c, "edit-template", &base, "Save changes", f, Some(lines_editable(&t)), Some(e))),
                    (None, None) => {}
                }
            }
        }
    };
    Ok(c.page_with(status, Some(Section::Finance), &t.name, body))
}

pub async fn update(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<TemplateFields>,
) -> Result<Response, ApiFailure> {
    let rid: RecurringId = parse_id(&c, &id, "recurring invoice")?;
    let t: TemplateView = c
        .api
        .get(format!("/api/v1/recurring-invoices/{rid}"))
        .await?;
    match c
        .api
        .send::<TemplateView>(
            Method::PATCH,
            format!("/api/v1/recurring-invoices/{rid}"),
            &f.patch_body(&t),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/recurring/{rid}?done=saved"))),
        Err(e) if e.is_validation() => template_page(c, &id, "", Some((f, e))).await,
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

    #[test]
    fn unchanged_lines_are_not_sent_and_changed_ones_keep_what_the_form_does_not_show() {
        let t = template(json!([line("Monitoring"), line("Backup")]));
        let f = TemplateFields::of(&t);
        assert_eq!(f.quantity_1, "1");
        let body = f.patch_body(&t);
        assert!(body.get("lines").is_none(), "{body}");
        assert_eq!(body["frequency"], json!({"unit": "months", "every": 1}));
        assert_eq!(body["end_date"], Value::Null);

        let mut f = TemplateFields::of(&t);
        f.quantity_2 = "3".into();
        f.description_3 = "Extra".into();
        f.quantity_3 = "1".into();
        let body = f.patch_body(&t);
        let lines = body["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 3);
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
    fn a_template_with_more_lines_than_the_form_never_sends_them() {
        let many: Vec<Value> = (0..LINES + 1).map(|n| line(&format!("L{n}"))).collect();
        let t = template(Value::Array(many));
        assert!(!lines_editable(&t));
        let mut f = TemplateFields::of(&t);
        f.quantity_1 = "9".into();
        assert!(f.patch_body(&t).get("lines").is_none());
    }
}
