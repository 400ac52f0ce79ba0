//! `/console/projects`: the project list (status, client and name filters,
//! cursor pages), the new-project form, and one project: its progress from
//! its tasks (done of total, a progress bar), time spent against budget,
//! its tasks with add and complete, its linked tickets with a link form,
//! and its edit form. Techs and admins change them; accountants read (the
//! API's rule).

use axum::extract::{Path, Query, RawQuery};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::customers::clients::Client;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::service_desk::projects::{
    LinkedTicket, Progress, Project, ProjectStatus, Task, TaskStatus,
};
use nestogy_domain::service_desk::tickets::Ticket;
use nestogy_domain::{ProjectId, TaskId, TicketId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api_client::{ApiFailure, query};
use crate::fmt::label;
use crate::layout::{self, Section};
use crate::names::client_names;
use crate::pages::assets::{select, some, user_names};
use crate::pages::clients::{input, next_link, parse_id, refusal};
use crate::picker::{self, ClientPicker, Spec};
use crate::session::{Console, Form, NoFields};

/// The statuses of a ticket someone still has to work on.
const OPEN_TICKETS: &str = "new,open,in_progress,waiting_on_client";

fn status_options() -> Vec<(String, String)> {
    ProjectStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), label(s.as_str())))
        .collect()
}

fn status_class(s: ProjectStatus) -> &'static str {
    match s {
        ProjectStatus::Done => "ok",
        ProjectStatus::OnHold => "warn",
        ProjectStatus::Cancelled => "muted",
        _ => "",
    }
}

/// The progress bar: a `<progress>` (role progressbar) with its value in
/// words beside it for everyone.
pub(crate) fn progress_bar(id: &str, p: &Progress) -> Markup {
    let counted = p.tasks_total - p.tasks_cancelled;
    let words = format!(
        "{} of {} tasks done ({}%)",
        p.tasks_done, counted, p.percent
    );
    html! {
        p {
            progress id=(id) max="100" value=(p.percent)
                aria-valuemin="0" aria-valuemax="100" aria-valuenow=(p.percent)
                aria-valuetext=(words) aria-label="Progress" { (p.percent) "%" }
            " " span.muted { (words) }
        }
    }
}

// ---------------------------------------------------------------- list

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
    /// The client picker's search.
    #[serde(default)]
    client_q: String,
}

pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    let filters = [
        ("status", p.status.as_str()),
        ("client_id", p.client_id.as_str()),
        ("q", p.q.as_str()),
    ];
    let mut pairs = filters.to_vec();
    pairs.push(("cursor", p.cursor.as_str()));
    let page: Page<Project> = c
        .api
        .get(format!("/api/v1/projects{}", query(&pairs)))
        .await?;
    let clients = ClientPicker::load(&c, &p.client_q, &p.client_id).await?;
    let names = client_names(&c, page.data.iter().map(|p| p.client_id)).await?;
    let mut statuses = status_options();
    statuses.insert(0, (String::new(), "Any".to_owned()));
    let body = html! {
        h1 { "Projects" }
        p { a #new-project href="/console/projects/new" { "New project" } }
        form #project-filter .inline method="get" action="/console/projects" {
            label for="status" { "Status" }
            select #status name="status" {
                @for (v, l) in &statuses { option value=(v) selected[*v == p.status] { (l) } }
            }
            (clients.render(Spec::new("client_id", "Any", "/console/projects")))
            label for="q" { "Name" }
            input #q name="q" type="search" value=(p.q);
            button type="submit" { "Filter" }
        }
        p.muted #project-count { (page.total) " projects" }
        @if page.data.is_empty() {
            p.muted { "No project matches." }
        } @else {
            div.scroll { table #projects {
                thead { tr {
                    th { "Name" } th { "Client" } th { "Status" } th { "Due" } th { "Progress" } th.n { "Hours" }
                } }
                tbody { @for pr in &page.data {
                    tr id={ "project-" (pr.id) } {
                        td { a href={ "/console/projects/" (pr.id) } { (pr.name) } }
                        td { a href={ "/console/clients/" (pr.client_id) } { (names.get(&pr.client_id).map(String::as_str).unwrap_or("")) } }
                        td class=(status_class(pr.status)) { (label(pr.status.as_str())) }
                        td { @if let Some(d) = pr.due_date { (c.fmt.date(d)) } }
                        td { (pr.progress.tasks_done) "/" (pr.progress.tasks_total - pr.progress.tasks_cancelled) " (" (pr.progress.percent) "%)" }
                        td.n { (pr.spent.hours) }
                    }
                } }
            } }
        }
        (next_link("/console/projects", &filters, page.next_cursor.as_deref()))
    };
    Ok(c.page(Section::Projects, "Projects", body))
}

// ---------------------------------------------------------------- create and edit

/// The fields of the new-project and edit forms.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFields {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    start_date: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    budget_hours: String,
    #[serde(default)]
    budget_amount: String,
    /// The client picker's search (new projects).
    #[serde(default)]
    client_q: String,
}

impl ProjectFields {
    fn of(p: &Project) -> Self {
        let d = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        ProjectFields {
            client_id: p.client_id.to_string(),
            name: p.name.clone(),
            description: p.description.clone().unwrap_or_default(),
            status: p.status.as_str().to_owned(),
            start_date: d(p.start_date),
            due_date: d(p.due_date),
            budget_hours: p.budget_hours.map(|v| v.to_string()).unwrap_or_default(),
            budget_amount: p.budget_amount.map(|v| v.to_string()).unwrap_or_default(),
            client_q: String::new(),
        }
    }

    fn optional(&self) -> [(&'static str, &str); 5] {
        [
            ("description", &self.description),
            ("start_date", &self.start_date),
            ("due_date", &self.due_date),
            ("budget_hours", &self.budget_hours),
            ("budget_amount", &self.budget_amount),
        ]
    }

    fn create_body(&self) -> Value {
        let mut m = Map::new();
        m.insert("client_id".into(), json!(self.client_id.trim()));
        m.insert("name".into(), json!(self.name));
        if let Some(s) = some(&self.status) {
            m.insert("status".into(), json!(s));
        }
        for (k, v) in self.optional() {
            if let Some(v) = some(v) {
                m.insert(k.into(), json!(v));
            }
        }
        Value::Object(m)
    }

    fn patch_body(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert("status".into(), json!(self.status));
        for (k, v) in self.optional() {
            m.insert(k.into(), json!(some(v)));
        }
        Value::Object(m)
    }
}

fn project_form(
    c: &Console,
    (id, action, submit): (&str, &str, &str),
    f: &ProjectFields,
    clients: Option<&ClientPicker>,
    problem: Option<&ApiFailure>,
) -> Markup {
    html! {
        form.stack id=(id) method="post" action=(action) {
            (layout::csrf_field(c.csrf()))
            (refusal(problem))
            @if let Some(cl) = clients {
                (cl.render(Spec::new("f-client_id", "Choose a client", action).problem(problem)))
            }
            (input("Name", "name", "text", &f.name, problem))
            (select("Status", "status", &status_options(), &f.status, problem))
            (input("Start date", "start_date", "date", &f.start_date, problem))
            (input("Due date", "due_date", "date", &f.due_date, problem))
            (input("Budget (hours)", "budget_hours", "text", &f.budget_hours, problem))
            (input(&format!("Budget ({})", c.company.currency), "budget_amount", "text", &f.budget_amount, problem))
            label for="f-description" { "Description" }
            textarea #f-description name="description" rows="3" { (f.description) }
            @if let Some(m) = problem.and_then(|p| p.field("description")) { p.field-problem { (m) } }
            button type="submit" { (submit) }
        }
    }
}

async fn new_page(
    c: &Console,
    status: StatusCode,
    f: &ProjectFields,
    problem: Option<&ApiFailure>,
) -> Result<Response, ApiFailure> {
    let clients = ClientPicker::load(c, &f.client_q, &f.client_id).await?;
    let body = html! {
        h1 { "New project" }
        (project_form(c, ("new-project-form", "/console/projects/new", "Create project"), f, Some(&clients), problem))
    };
    Ok(c.page_with(status, Some(Section::Projects), "New project", body))
}

/// `GET /console/projects/new` (`?client_id=` for one client's), and
/// again with the form's fields after the client picker's "Find".
pub async fn new_form(c: Console, raw: RawQuery) -> Result<Response, ApiFailure> {
    let mut f: ProjectFields = picker::refill(&c, &raw)?.unwrap_or_default();
    if f.status.is_empty() {
        f.status = ProjectStatus::Planned.as_str().to_owned();
    }
    new_page(&c, StatusCode::OK, &f, None).await
}

pub async fn create(c: Console, Form(f): Form<ProjectFields>) -> Result<Response, ApiFailure> {
    match c
        .api
        .send::<Project>(Method::POST, "/api/v1/projects", &f.create_body())
        .await
    {
        Ok(p) => Ok(see_other(&format!("/console/projects/{}", p.id))),
        Err(e) if e.is_validation() => new_page(&c, e.status, &f, Some(&e)).await,
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- one project

/// The add-task form as entered.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFields {
    #[serde(default)]
    title: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    description: String,
}

/// The link-ticket form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkFields {
    #[serde(default)]
    ticket_id: String,
}

/// A form of the project page the API refused, with what was entered.
enum Refused {
    Edit(ProjectFields, ApiFailure),
    Task(TaskFields, ApiFailure),
    Link(ApiFailure),
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
    project_page(c, &id, &p.done, None).await
}

async fn project_page(
    c: Console,
    id: &str,
    done: &str,
    refused: Option<Refused>,
) -> Result<Response, ApiFailure> {
    let id: ProjectId = parse_id(&c, id, "project")?;
    let pr: Project = c.api.get(format!("/api/v1/projects/{id}")).await?;
    let open_tickets = format!(
        "/api/v1/tickets{}",
        query(&[
            ("client_id", &pr.client_id.to_string()),
            ("status", OPEN_TICKETS),
            ("limit", "100"),
        ])
    );
    let (client, tasks, linked, tickets, users) = tokio::join!(
        c.api
            .get::<Client>(format!("/api/v1/clients/{}", pr.client_id)),
        c.api
            .get::<Page<Task>>(format!("/api/v1/projects/{id}/tasks?limit=200")),
        c.api
            .get::<Page<LinkedTicket>>(format!("/api/v1/projects/{id}/tickets?limit=200")),
        c.api.get_optional::<Page<Ticket>>(open_tickets),
        user_names(&c),
    );
    let (client, tasks, linked, tickets, users) = (client?, tasks?, linked?, tickets?, users?);
    let linkable: Vec<&Ticket> = tickets
        .as_ref()
        .map(|t| {
            t.data
                .iter()
                .filter(|t| !linked.data.iter().any(|l| l.id == t.id))
                .collect()
        })
        .unwrap_or_default();
    let status = match &refused {
        Some(Refused::Edit(_, e) | Refused::Task(_, e) | Refused::Link(e)) => e.status,
        None => StatusCode::OK,
    };
    let edit = match &refused {
        Some(Refused::Edit(f, e)) => (None, Some((f, e))),
        _ => (Some(ProjectFields::of(&pr)), None),
    };
    let (tf, tp) = match &refused {
        Some(Refused::Task(f, e)) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let lp = match &refused {
        Some(Refused::Link(e)) => Some(e),
        _ => None,
    };
    let base = format!("/console/projects/{id}");
    let cur = &c.company.currency;
    let notice = match done {
        "task" => Some("The task is added."),
        "completed" => Some("The task is done."),
        "linked" => Some("The ticket is linked."),
        "saved" => Some("The project is saved."),
        _ => None,
    };
    let body = html! {
        h1 { (pr.name) " " span #project-status class=(status_class(pr.status)) { "(" (label(pr.status.as_str())) ")" } }
        @if let Some(n) = notice { p.notice #done role="status" { (n) } }
        div.grid {
            section.card #summary aria-labelledby="summary-title" {
                h2 #summary-title { "Summary" }
                (progress_bar("project-progress", &pr.progress))
                dl.figures {
                    dt { "Client" } dd { a #client-link href={ "/console/clients/" (client.id) } { (client.name) } }
                    dt { "Tasks done" } dd #tasks-done { (pr.progress.tasks_done) "/" (pr.progress.tasks_total - pr.progress.tasks_cancelled) }
                    dt { "Manager" } dd { (pr.manager_id.and_then(|u| users.get(&u)).map(String::as_str).unwrap_or("–")) }
                    dt { "Start" } dd { @match pr.start_date { Some(d) => (c.fmt.date(d)), None => "–" } }
                    dt { "Due" } dd { @match pr.due_date { Some(d) => (c.fmt.date(d)), None => "–" } }
                    dt { "Time spent" } dd #hours { (pr.spent.hours) " h"
                        @if let Some(b) = pr.budget_hours { " of " (b) " h budgeted" } }
                    dt { "Billable" } dd { (c.fmt.money(pr.spent.billable_amount, cur))
                        @if let Some(b) = pr.budget_amount { " of " (c.fmt.money(b, cur)) " budgeted" } }
                }
                @if let Some(d) = &pr.description { p { (d) } }
            }
            section.card #tickets aria-labelledby="tickets-title" {
                h2 #tickets-title { "Linked tickets " span.muted { "(" (linked.total) ")" } }
                @if linked.data.is_empty() { p.muted { "No ticket linked." } } @else {
                    div.scroll { table {
                        thead { tr { th { "#" } th { "Subject" } th { "Status" } th { "Priority" } } }
                        tbody { @for t in &linked.data {
                            tr id={ "ticket-" (t.id) } {
                                td.n { a href={ "/console/tickets/" (t.id) } { (t.number) } }
                                td { a href={ "/console/tickets/" (t.id) } { (t.subject) } }
                                td { (label(&t.status)) }
                                td { (label(&t.priority)) }
                            }
                        } }
                    } }
                }
                @if !linkable.is_empty() || lp.is_some() {
                    form.stack #link-ticket method="post" action={ (base) "/tickets" } {
                        (layout::csrf_field(c.csrf()))
                        (refusal(lp))
                        label for="f-ticket_id" { "Link an open ticket of " (client.name) }
                        select #f-ticket_id name="ticket_id" {
                            @for t in &linkable { option value=(t.id) { "#" (t.number) " " (t.subject) } }
                        }
                        button type="submit" { "Link ticket" }
                    }
                }
            }
        }
        section.card #tasks aria-labelledby="tasks-title" {
            h2 #tasks-title { "Tasks " span.muted { "(" (tasks.total) ")" } }
            @if tasks.data.is_empty() { p.muted { "No task yet." } } @else {
                div.scroll { table {
                    thead { tr { th { "Task" } th { "Status" } th { "Assignee" } th { "Due" } th { "Done" } } }
                    tbody { @for t in &tasks.data {
                        tr id={ "task-" (t.id) } {
                            td { (t.title) @if let Some(d) = &t.description { br; span.muted { (d) } } }
                            td class=[(t.status == TaskStatus::Done).then_some("ok")] { (label(t.status.as_str())) }
                            td { (t.assignee_id.and_then(|u| users.get(&u)).map(String::as_str).unwrap_or("–")) }
                            td { @if let Some(d) = t.due_date { (c.fmt.date(d)) } }
                            td {
                                @if matches!(t.status, TaskStatus::Todo | TaskStatus::InProgress) {
                                    (layout::post_button(&format!("{base}/tasks/{}/complete", t.id), c.csrf(), &format!("complete-{}", t.id), "Complete"))
                                } @else if let Some(at) = t.completed_at {
                                    (c.fmt.datetime(at))
                                }
                            }
                        }
                    } }
                } }
            }
            details open[tp.is_some()] {
                summary { "Add a task" }
                @let d = TaskFields::default();
                @let f = tf.unwrap_or(&d);
                form.stack #add-task method="post" action={ (base) "/tasks" } {
                    (layout::csrf_field(c.csrf()))
                    (refusal(tp))
                    (input("Title", "title", "text", &f.title, tp))
                    (input("Due date", "due_date", "date", &f.due_date, tp))
                    label for="f-task-description" { "Description" }
                    textarea #f-task-description name="description" rows="2" { (f.description) }
                    button type="submit" { "Add task" }
                }
            }
        }
        section.card #edit aria-labelledby="edit-title" {
            h2 #edit-title { "Edit" }
            @match edit {
                (Some(f), _) => (project_form(&c, ("edit-project", &base, "Save changes"), &f, None, None)),
                (None, Some((f, e))) => (project_form(&c, ("edit-project", &base, "Save changes"), f, None, Some(e))),
                (None, None) => {}
            }
        }
    };
    Ok(c.page_with(status, Some(Section::Projects), &pr.name, body))
}

pub async fn update(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<ProjectFields>,
) -> Result<Response, ApiFailure> {
    let pid: ProjectId = parse_id(&c, &id, "project")?;
    match c
        .api
        .send::<Project>(
            Method::PATCH,
            format!("/api/v1/projects/{pid}"),
            &f.patch_body(),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/projects/{pid}?done=saved"))),
        Err(e) if e.is_validation() => project_page(c, &id, "", Some(Refused::Edit(f, e))).await,
        Err(e) => Err(e),
    }
}

pub async fn add_task(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<TaskFields>,
) -> Result<Response, ApiFailure> {
    let pid: ProjectId = parse_id(&c, &id, "project")?;
    let body = json!({
        "title": f.title,
        "due_date": some(&f.due_date),
        "description": some(&f.description),
    });
    match c
        .api
        .send::<Task>(Method::POST, format!("/api/v1/projects/{pid}/tasks"), &body)
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/projects/{pid}?done=task"))),
        Err(e) if e.is_validation() => project_page(c, &id, "", Some(Refused::Task(f, e))).await,
        Err(e) => Err(e),
    }
}

pub async fn complete_task(
    c: Console,
    Path((id, task)): Path<(String, String)>,
    Form(_): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let pid: ProjectId = parse_id(&c, &id, "project")?;
    let tid: TaskId = parse_id(&c, &task, "task")?;
    c.api
        .send::<Task>(
            Method::PATCH,
            format!("/api/v1/projects/{pid}/tasks/{tid}"),
            &json!({ "status": TaskStatus::Done }),
        )
        .await?;
    Ok(see_other(&format!(
        "/console/projects/{pid}?done=completed"
    )))
}

pub async fn link_ticket(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<LinkFields>,
) -> Result<Response, ApiFailure> {
    let pid: ProjectId = parse_id(&c, &id, "project")?;
    let tid: TicketId = parse_id(&c, &f.ticket_id, "ticket")?;
    match c
        .api
        .send_empty::<LinkedTicket>(Method::PUT, format!("/api/v1/projects/{pid}/tickets/{tid}"))
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/projects/{pid}?done=linked"))),
        Err(e) if e.is_validation() => project_page(c, &id, "", Some(Refused::Link(e))).await,
        Err(e) => Err(e),
    }
}
