//! `/console/time`: time entries with the API's filters (user, client,
//! billed or not, days worked; cursor pages), the running timers with their
//! stop buttons, the forms that start a timer and log time on a project or
//! a ticket, and `/console/time/bill`, which bills a client's unbilled time
//! onto a draft invoice (`POST /clients/{id}/bill-time`) and opens it.

use std::collections::HashMap;

use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::billing::invoices::Invoice;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Role;
use nestogy_domain::service_desk::projects::Project;
use nestogy_domain::service_desk::tickets::Ticket;
use nestogy_domain::service_desk::time_entries::{BilledTime, TimeEntry};
use nestogy_domain::{ClientId, InvoiceId, ProjectId, TimeEntryId, UserId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api_client::{ApiFailure, query};
use crate::fmt::duration;
use crate::layout::{self, Section};
use crate::names::client_names;
use crate::pages::assets::{some, user_names};
use crate::pages::clients::{checkbox, input, next_link, parse_id, refusal};
use crate::picker::{ClientPicker, Spec};
use crate::session::{Console, Form, NoFields};

/// The statuses of a ticket someone still has to work on.
const OPEN_TICKETS: &str = "new,open,in_progress,waiting_on_client";

// ---------------------------------------------------------------- list

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    billed: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    done: String,
    /// The client picker's search.
    #[serde(default)]
    client_q: String,
}

/// The log-time and start-timer forms as entered. `target` is
/// `project:<id>` or `ticket:<id>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryFields {
    #[serde(default)]
    target: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    description: String,
    billable: Option<String>,
}

impl Default for EntryFields {
    fn default() -> Self {
        EntryFields {
            target: String::new(),
            date: String::new(),
            minutes: String::new(),
            description: String::new(),
            billable: Some("true".to_owned()),
        }
    }
}

impl EntryFields {
    /// The body of `POST /time-entries` naming the target, with `rest`.
    fn body(&self, rest: &[(&str, Value)]) -> Value {
        let mut m = Map::new();
        match self.target.split_once(':') {
            Some(("project", id)) => {
                m.insert("project_id".into(), json!(id));
            }
            Some(("ticket", id)) => {
                m.insert("ticket_id".into(), json!(id));
            }
            _ => {}
        }
        m.insert("description".into(), json!(self.description));
        m.insert("billable".into(), json!(self.billable.is_some()));
        for (k, v) in rest {
            m.insert((*k).into(), v.clone());
        }
        Value::Object(m)
    }
}

/// Which form of the time page the API refused.
enum Refused {
    Log(EntryFields, ApiFailure),
    Start(EntryFields, ApiFailure),
}

pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    time_page(c, p, None).await
}

/// The projects and tickets time may go on: open projects, and the open
/// tickets assigned to the user.
async fn targets(c: &Console) -> Result<(Vec<Project>, Vec<Ticket>), ApiFailure> {
    let me = c.user.id.to_string();
    let tickets_path = format!(
        "/api/v1/tickets{}",
        query(&[
            ("assignee_id", &me),
            ("status", OPEN_TICKETS),
            ("limit", "100")
        ])
    );
    let (projects, tickets) = tokio::join!(
        c.api
            .get_optional::<Page<Project>>("/api/v1/projects?limit=200"),
        c.api.get_optional::<Page<Ticket>>(tickets_path),
    );
    let projects = projects?
        .map(|p| {
            p.data
                .into_iter()
                .filter(|p| {
                    !matches!(
                        p.status,
                        nestogy_domain::service_desk::projects::ProjectStatus::Done
                            | nestogy_domain::service_desk::projects::ProjectStatus::Cancelled
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((projects, tickets?.map(|t| t.data).unwrap_or_default()))
}

fn target_select(
    id: &str,
    projects: &[Project],
    tickets: &[Ticket],
    current: &str,
    problem: Option<&ApiFailure>,
) -> Markup {
    let message = problem.and_then(|f| {
        ["project_id", "ticket_id", "task_id"]
            .iter()
            .find_map(|k| f.field(k))
    });
    html! {
        label for=(id) { "Work on" }
        select id=(id) name="target" aria-invalid=[message.map(|_| "true")] {
            @if !projects.is_empty() {
                optgroup label="Projects" {
                    @for p in projects {
                        @let v = format!("project:{}", p.id);
                        option value=(v) selected[v == current] { (p.name) }
                    }
                }
            }
            @if !tickets.is_empty() {
                optgroup label="My open tickets" {
                    @for t in tickets {
                        @let v = format!("ticket:{}", t.id);
                        option value=(v) selected[v == current] { "#" (t.number) " " (t.subject) }
                    }
                }
            }
        }
        @if let Some(m) = message { p.field-problem { (m) } }
    }
}

async fn time_page(
    c: Console,
    p: ListParams,
    refused: Option<Refused>,
) -> Result<Response, ApiFailure> {
    let filters = [
        ("user_id", p.user_id.as_str()),
        ("client_id", p.client_id.as_str()),
        ("billed", p.billed.as_str()),
        ("from", p.from.as_str()),
        ("to", p.to.as_str()),
    ];
    let mut pairs = filters.to_vec();
    pairs.push(("cursor", p.cursor.as_str()));
    let (page, running, users, clients, targets) = tokio::join!(
        c.api
            .get::<Page<TimeEntry>>(format!("/api/v1/time-entries{}", query(&pairs))),
        c.api
            .get::<Page<TimeEntry>>("/api/v1/time-entries?running=true&limit=200"),
        user_names(&c),
        ClientPicker::load(&c, &p.client_q, &p.client_id),
        targets(&c),
    );
    let (page, running, users, clients, (projects, tickets)) =
        (page?, running?, users?, clients?, targets?);
    let names = client_names(
        &c,
        page.data
            .iter()
            .chain(&running.data)
            .filter_map(|e| e.client_id),
    )
    .await?;
    let project_names: HashMap<ProjectId, &str> =
        projects.iter().map(|p| (p.id, p.name.as_str())).collect();
    let mut user_opts: Vec<(String, String)> = users
        .iter()
        .map(|(id, n)| (id.to_string(), n.clone()))
        .collect();
    user_opts.sort_by(|a, b| a.1.cmp(&b.1));
    user_opts.insert(0, (String::new(), "Everyone".to_owned()));
    let who = |u: UserId| users.get(&u).map(String::as_str).unwrap_or("–");
    let client_of = |c: Option<ClientId>| {
        c.and_then(|c| names.get(&c))
            .map(String::as_str)
            .unwrap_or("–")
    };
    let target = |e: &TimeEntry| -> Markup {
        html! {
            @if let Some(t) = e.ticket_id {
                a href={ "/console/tickets/" (t) } { "Ticket" }
            } @else if let Some(p) = e.project_id {
                a href={ "/console/projects/" (p) } { (project_names.get(&p).copied().unwrap_or("Project")) }
            }
        }
    };
    let status = match &refused {
        Some(Refused::Log(_, e) | Refused::Start(_, e)) => e.status,
        None => StatusCode::OK,
    };
    let (lf, lp) = match &refused {
        Some(Refused::Log(f, e)) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let (sf, sp) = match &refused {
        Some(Refused::Start(f, e)) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let default = EntryFields::default();
    let lf = lf.unwrap_or(&default);
    let sf = sf.unwrap_or(&default);
    let today = c.fmt.today(c.now).to_string();
    let notice = match p.done.as_str() {
        "logged" => Some("The time is logged."),
        "started" => Some("The timer is running."),
        "stopped" => Some("The timer is stopped."),
        _ => None,
    };
    let is_admin = c.user.role == Role::Admin;
    let can_log = !projects.is_empty() || !tickets.is_empty();
    let body = html! {
        h1 { "Time" }
        p { a #bill-time-link href="/console/time/bill" { "Bill a client's time" } }
        @if let Some(n) = notice { p.notice #done role="status" { (n) } }
        section.card #running aria-labelledby="running-title" {
            h2 #running-title { "Running timers " span.muted { "(" (running.total) ")" } }
            @if running.data.is_empty() { p.muted { "No timer is running." } } @else {
                div.scroll { table {
                    thead { tr { th { "Who" } th { "Since" } th { "On" } th { "Client" } th { "Description" } th { "Stop" } } }
                    tbody { @for e in &running.data {
                        tr id={ "timer-" (e.id) } {
                            td { (who(e.user_id)) }
                            td { @if let Some(s) = e.started_at { (c.fmt.datetime(s)) " (" (crate::fmt::relative(c.now, s)) ")" } }
                            td { (target(e)) }
                            td { (client_of(e.client_id)) }
                            td { (e.description) }
                            td { @if e.user_id == c.user.id || is_admin {
                                (layout::post_button(&format!("/console/time/{}/stop", e.id), c.csrf(), &format!("stop-{}", e.id), "Stop"))
                            } }
                        }
                    } }
                } }
            }
        }
        @if can_log || refused.is_some() {
            div.grid {
                form.stack #start-timer method="post" action="/console/time/start" {
                    h2 { "Start a timer" }
                    (layout::csrf_field(c.csrf()))
                    (refusal(sp))
                    (target_select("f-start-target", &projects, &tickets, &sf.target, sp))
                    label for="f-start-description" { "Description" }
                    input #f-start-description name="description" type="text" value=(sf.description);
                    (checkbox("Billable", "billable", sf.billable.is_some()))
                    button #start-timer-submit type="submit" { "Start timer" }
                }
                form.stack #log-time method="post" action="/console/time/log" {
                    h2 { "Log time" }
                    (layout::csrf_field(c.csrf()))
                    (refusal(lp))
                    (target_select("f-log-target", &projects, &tickets, &lf.target, lp))
                    (input("Day worked", "date", "date", if lf.date.is_empty() { &today } else { &lf.date }, lp))
                    (input("Minutes", "minutes", "number", &lf.minutes, lp))
                    (input("Description", "description", "text", &lf.description, lp))
                    (checkbox("Billable", "billable", lf.billable.is_some()))
                    button #log-time-submit type="submit" { "Log time" }
                }
            }
        }
        section.card #entries aria-labelledby="entries-title" {
            h2 #entries-title { "Time entries " span.muted { "(" (page.total) ")" } }
            form #time-filter .inline method="get" action="/console/time" {
                label for="user_id" { "User" }
                select #user_id name="user_id" {
                    @for (v, l) in &user_opts { option value=(v) selected[*v == p.user_id] { (l) } }
                }
                (clients.render(Spec::new("client_id", "Any", "/console/time")))
                label for="billed" { "Billing" }
                select #billed name="billed" {
                    @for (v, l) in [("", "Any"), ("false", "Unbilled"), ("true", "Billed")] {
                        option value=(v) selected[p.billed == v] { (l) }
                    }
                }
                label for="from" { "From" }
                input #from name="from" type="date" value=(p.from);
                label for="to" { "To" }
                input #to name="to" type="date" value=(p.to);
                button type="submit" { "Filter" }
            }
            @if page.data.is_empty() { p.muted { "No time entry matches." } } @else {
                div.scroll { table #time-entries {
                    thead { tr {
                        th { "Day" } th { "Who" } th { "On" } th { "Client" } th { "Description" }
                        th.n { "Time" } th.n { "Rate" } th { "Billed" }
                    } }
                    tbody { @for e in &page.data {
                        tr id={ "entry-" (e.id) } {
                            td { (c.fmt.date(e.work_date)) }
                            td { (who(e.user_id)) }
                            td { (target(e)) }
                            td { (client_of(e.client_id)) }
                            td { (e.description) }
                            td.n { @match e.minutes { Some(m) => (duration(m.into())), None => "running" } }
                            td.n {
                                @if e.billable {
                                    @if let Some(r) = e.rate { (c.fmt.money(r, &c.company.currency)) }
                                } @else { span.muted { "not billable" } }
                            }
                            td { @if let Some(i) = e.invoice_id { a href={ "/console/invoices/" (i) } { "invoice" } } }
                        }
                    } }
                } }
            }
            (next_link("/console/time", &filters, page.next_cursor.as_deref()))
        }
    };
    Ok(c.page_with(status, Some(Section::Time), "Time", body))
}

pub async fn log_time(c: Console, Form(f): Form<EntryFields>) -> Result<Response, ApiFailure> {
    let minutes: Value = match f.minutes.trim().parse::<i64>() {
        Ok(m) => json!(m),
        Err(_) => json!(some(&f.minutes)),
    };
    let body = f.body(&[("date", json!(some(&f.date))), ("minutes", minutes)]);
    match c
        .api
        .send::<TimeEntry>(Method::POST, "/api/v1/time-entries", &body)
        .await
    {
        Ok(_) => Ok(see_other("/console/time?done=logged")),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            time_page(c, ListParams::default(), Some(Refused::Log(f, e))).await
        }
        Err(e) => Err(e),
    }
}

pub async fn start_timer(c: Console, Form(f): Form<EntryFields>) -> Result<Response, ApiFailure> {
    let body = f.body(&[("started_at", json!(c.now.to_rfc3339()))]);
    match c
        .api
        .send::<TimeEntry>(Method::POST, "/api/v1/time-entries", &body)
        .await
    {
        Ok(_) => Ok(see_other("/console/time?done=started")),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            time_page(c, ListParams::default(), Some(Refused::Start(f, e))).await
        }
        Err(e) => Err(e),
    }
}

pub async fn stop_timer(
    c: Console,
    Path(id): Path<String>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: TimeEntryId = parse_id(&c, &id, "time entry")?;
    c.api
        .send_empty::<TimeEntry>(Method::POST, format!("/api/v1/time-entries/{id}/stop"))
        .await?;
    Ok(see_other("/console/time?done=stopped"))
}

// ---------------------------------------------------------------- billing

/// The bill-time form as entered.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillFields {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    until: String,
    /// The client picker's search.
    #[serde(default)]
    client_q: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct BillParams {
    #[serde(default)]
    client_id: String,
    /// The draft the last billing put the time on, when entries were left
    /// for another (an invoice has at most 500 lines).
    #[serde(default)]
    invoice: String,
    #[serde(default)]
    remaining: String,
    /// The form's fields again after the client picker's "Find".
    #[serde(default)]
    until: String,
    #[serde(default)]
    client_q: String,
}

async fn bill_page(
    c: &Console,
    status: StatusCode,
    f: &BillFields,
    billed: Option<(&Invoice, &BillParams)>,
    problem: Option<&ApiFailure>,
) -> Result<Response, ApiFailure> {
    let clients = ClientPicker::load(c, &f.client_q, &f.client_id).await?;
    let until = if f.until.is_empty() {
        c.fmt.today(c.now).to_string()
    } else {
        f.until.clone()
    };
    let body = html! {
        h1 { "Bill time" }
        @if let Some((inv, p)) = billed {
            div.notice #billed role="status" {
                p {
                    "The time is on "
                    a #billed-invoice href={ "/console/invoices/" (inv.id) } { "a draft invoice" }
                    " for " (c.fmt.money(inv.total, &inv.currency)) ", which is full; "
                    (p.remaining) " entries are left: bill again for another draft."
                }
            }
        }
        p { "Puts the client's unbilled billable time, worked up to the day given, on a new draft invoice, one line per entry." }
        form.stack #bill-time method="post" action="/console/time/bill" {
            (layout::csrf_field(c.csrf()))
            (refusal(problem))
            (clients.render(Spec::new("f-client_id", "Choose a client", "/console/time/bill").problem(problem)))
            (input("Time worked up to", "until", "date", &until, problem))
            button #bill-time-submit type="submit" { "Bill time" }
        }
    };
    Ok(c.page_with(status, Some(Section::Time), "Bill time", body))
}

pub async fn bill_form(c: Console, Query(p): Query<BillParams>) -> Result<Response, ApiFailure> {
    let f = BillFields {
        client_id: p.client_id.clone(),
        until: p.until.clone(),
        client_q: p.client_q.clone(),
    };
    let invoice = match p.invoice.as_str() {
        "" => None,
        id => {
            let id: InvoiceId = parse_id(&c, id, "invoice")?;
            Some(
                c.api
                    .get::<Invoice>(format!("/api/v1/invoices/{id}"))
                    .await?,
            )
        }
    };
    bill_page(
        &c,
        StatusCode::OK,
        &f,
        invoice.as_ref().map(|i| (i, &p)),
        None,
    )
    .await
}

pub async fn bill(c: Console, Form(f): Form<BillFields>) -> Result<Response, ApiFailure> {
    let Ok(client) = f.client_id.trim().parse::<ClientId>() else {
        let e = ApiFailure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "choose a client",
        );
        return bill_page(&c, e.status, &f, None, Some(&e)).await;
    };
    match c
        .api
        .send::<BilledTime>(
            Method::POST,
            format!("/api/v1/clients/{client}/bill-time"),
            &json!({ "until": some(&f.until) }),
        )
        .await
    {
        // The draft, or while entries are left (a draft holds 500 lines)
        // the form again, saying so and linking to the draft.
        Ok(b) if b.remaining == 0 => Ok(see_other(&format!("/console/invoices/{}", b.invoice.id))),
        Ok(b) => Ok(see_other(&format!(
            "/console/time/bill{}",
            query(&[
                ("client_id", &client.to_string()),
                ("invoice", &b.invoice.id.to_string()),
                ("remaining", &b.remaining.to_string()),
            ])
        ))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            bill_page(&c, e.status, &f, None, Some(&e)).await
        }
        Err(e) => Err(e),
    }
}
