//! `/console/tickets`: the queue (the API's list with its filters, 50 a
//! page, bulk assign and bulk status), one ticket (header with the linked
//! asset and project, SLA clocks counting down, thread, history, time and a
//! timer, and the forms that act on it) and a new ticket.
//!
//! Filters are the API's own query parameters, in the page's URL, so a
//! filtered queue is a bookmarkable link; saved views (the API's
//! `/api/v1/tickets/views`) keep them under a name, per user.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::customers::clients::Client;
use nestogy_domain::customers::contacts::Contact;
use nestogy_domain::identity::users::{StaffMember, User};
use nestogy_domain::inventory::assets::Asset;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::service_desk::canned_replies::{CannedReply, CannedScope};
use nestogy_domain::service_desk::projects::Project;
use nestogy_domain::service_desk::sla::SlaEvent;
use nestogy_domain::service_desk::sla_clock::SlaState;
use nestogy_domain::service_desk::ticket_merge::{MoveKind, TicketMove};
use nestogy_domain::service_desk::ticket_views::TicketView;
use nestogy_domain::service_desk::tickets::{
    MessageKind, Priority, StatusChange, Ticket, TicketMessage, TicketStatus,
};
use nestogy_domain::service_desk::time_entries::TimeEntry;
use nestogy_domain::{
    AssetId, AttachmentId, CannedReplyId, ProjectId, TicketId, TicketViewId, TimeEntryId, UserId,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api_client::{ApiBody, ApiFailure, query};
use crate::fmt::{duration, label, minutes_until};
use crate::layout::{Section, csrf_field, field_problems};
use crate::names::client_names;
use crate::pages::assets::some;
use crate::picker::{self, ClientPicker, SEARCH_FIELD, Spec};
use crate::session::{Console, Form, NoFields, Upload};

/// Where the console's script is served ([`script`]).
pub const SCRIPT_PATH: &str = "/console/static/app.js";

/// Rows of the queue per page.
const PAGE_SIZE: &str = "50";

// ---- the queue ----

/// The queue's filters, as the page's query string has them (and as the
/// API's list takes them).
#[derive(Debug, Default, Clone)]
struct Filters {
    status: Vec<String>,
    priority: String,
    client_id: String,
    assignee_id: String,
    unassigned: bool,
    sla_state: String,
    tag: String,
    q: String,
}

impl Filters {
    /// The filters of `pairs`; other keys are left to [`Extra`].
    fn read(pairs: &[(String, String)]) -> Self {
        let mut f = Filters::default();
        for (k, v) in pairs {
            let v = v.trim().to_owned();
            match k.as_str() {
                "status" => f.status.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                ),
                "priority" => f.priority = v,
                "client_id" => f.client_id = v,
                "assignee_id" => f.assignee_id = v,
                "unassigned" => f.unassigned = v == "true",
                "sla_state" => f.sla_state = v,
                "tag" => f.tag = v,
                "q" => f.q = v,
                _ => {}
            }
        }
        f
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        let mut p: Vec<(&str, &str)> = self.status.iter().map(|s| ("status", s.as_str())).collect();
        p.extend([
            ("priority", self.priority.as_str()),
            ("client_id", self.client_id.as_str()),
            ("assignee_id", self.assignee_id.as_str()),
            ("unassigned", if self.unassigned { "true" } else { "" }),
            ("sla_state", self.sla_state.as_str()),
            ("tag", self.tag.as_str()),
            ("q", self.q.as_str()),
        ]);
        p
    }

    /// `?status=new&status=open&...`: the queue's own URL query.
    fn console_query(&self) -> String {
        query(&self.pairs())
    }

    /// The API list's path for one page from `cursor`.
    fn api_path(&self, cursor: &str) -> String {
        format!(
            "/api/v1/tickets{}",
            self.api_query(&[("limit", PAGE_SIZE), ("cursor", cursor)])
        )
    }

    /// The API list's query (`?status=new,open&...`, or empty) with `first`
    /// ahead of the filters; a saved view keeps it without `first`.
    fn api_query(&self, first: &[(&str, &str)]) -> String {
        let status = self.status.join(",");
        let mut p = first.to_vec();
        p.push(("status", status.as_str()));
        p.extend(self.pairs().into_iter().filter(|(k, _)| *k != "status"));
        query(&p)
    }
}

fn pairs_of(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn value_of<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// Names of the company's staff, for the pages' cells and selects (the
/// staff directory every role may read), and the user's own.
struct Names {
    users: Vec<StaffMember>,
    me: User,
}

impl Names {
    async fn load(c: &Console) -> Result<Self, ApiFailure> {
        let users = c
            .api
            .get::<Page<StaffMember>>("/api/v1/staff?limit=200")
            .await?;
        Ok(Names {
            users: users.data,
            me: c.user.clone(),
        })
    }

    fn user(&self, id: Option<UserId>) -> Option<String> {
        let id = id?;
        if id == self.me.id {
            return Some(self.me.name.clone());
        }
        Some(
            self.users
                .iter()
                .find(|u| u.id == id)
                .map(|u| u.name.clone())
                .unwrap_or_else(|| "another user".to_owned()),
        )
    }

    /// The users a ticket can be assigned to: active techs and admins.
    fn assignable(&self) -> Vec<(String, String)> {
        use nestogy_domain::kernel::roles::Role;
        self.users
            .iter()
            .filter(|u| matches!(u.role, Role::Admin | Role::Tech))
            .map(|u| (u.id.to_string(), u.name.clone()))
            .collect()
    }
}

/// `GET /console/tickets`: the queue.
pub async fn queue(c: Console, RawQuery(raw): RawQuery) -> Result<Response, ApiFailure> {
    let pairs = pairs_of(raw.as_deref());
    queue_page(c, &pairs, None).await
}

async fn queue_page(
    c: Console,
    pairs: &[(String, String)],
    problem: Option<ApiFailure>,
) -> Result<Response, ApiFailure> {
    let filters = Filters::read(pairs);
    let cursor = value_of(pairs, "cursor");
    let (page, names, views, clients) = tokio::join!(
        c.api.get::<Page<Ticket>>(filters.api_path(cursor)),
        Names::load(&c),
        c.api.get::<Vec<TicketView>>("/api/v1/tickets/views"),
        ClientPicker::load(&c, value_of(pairs, SEARCH_FIELD), &filters.client_id),
    );
    let (page, names, views, clients) = (page?, names?, views?, clients?);
    let client_of = client_names(&c, page.data.iter().filter_map(|t| t.client_id)).await?;
    let notice = match (value_of(pairs, "changed"), value_of(pairs, "did")) {
        ("", _) => None,
        (n, "assign") => Some(format!("{n} ticket(s) assigned.")),
        (n, _) => Some(format!("{n} ticket(s) changed status.")),
    };
    let here = filters.console_query();
    let next = page.next_cursor.as_deref().map(|cur| {
        let mut p = filters.pairs();
        p.push(("cursor", cur));
        format!("/console/tickets{}", query(&p))
    });
    let status = problem.as_ref().map(|f| f.status).unwrap_or(StatusCode::OK);
    let body = html! {
        h1 { "Tickets " span.muted { "(" (page.total) @if !page.total_exact { "+" } ")" } }
        p { a #new-ticket href="/console/tickets/new" { "New ticket" } }
        (filter_form(&filters, &names, &clients))
        (views_block(&c, &views, &filters))
        @if let Some(n) = notice { p.notice #bulk-result role="status" { (n) } }
        @if let Some(f) = &problem {
            p.problem #problem role="alert" { (f.message) }
            (field_problems(&f.fields))
        }
        form #bulk method="post" action="/console/tickets/bulk" {
            (csrf_field(c.csrf()))
            input type="hidden" name="back" value=(here.trim_start_matches('?'));
            div.scroll { table #queue {
                thead { tr {
                    th { span.skip { "Select" } }
                    th.n { "#" } th { "Subject" } th { "Client" } th { "Status" }
                    th { "Priority" } th { "Assignee" } th { "SLA" } th { "Updated" }
                } }
                tbody {
                    @for t in &page.data {
                        tr id={ "ticket-" (t.id) } {
                            td { input type="checkbox" name="ids" value=(t.id) id={ "select-" (t.id) }
                                aria-label={ "Select ticket " (t.number) }; }
                            td.n { (t.number) }
                            td { a href={ "/console/tickets/" (t.id) } { (t.subject) } }
                            td { (t.client_id.and_then(|cl| client_of.get(&cl)).map(String::as_str).unwrap_or_default()) }
                            td { (label(t.status.as_str())) }
                            td { (label(t.priority.as_str())) }
                            td { @match names.user(t.assignee_id) {
                                Some(n) => { (n) }
                                None => { span.muted { "unassigned" } }
                            } }
                            td { (sla_cell(&c, t)) }
                            td { (c.fmt.datetime(t.updated_at)) }
                        }
                    }
                }
            } }
            @if page.data.is_empty() { p.muted #no-tickets { "No ticket matches these filters." } }
            fieldset.inline {
                legend { "With the selected tickets" }
                label for="bulk-assignee" { "Assign to" }
                select #bulk-assignee name="assignee_id" {
                    option value="" { "nobody" }
                    @for (id, name) in names.assignable() { option value=(id) { (name) } }
                }
                button type="submit" name="action" value="assign" #bulk-assign { "Assign" }
                " "
                label for="bulk-status" { "Status" }
                select #bulk-status name="status" {
                    @for s in TicketStatus::ALL { option value=(s.as_str()) { (label(s.as_str())) } }
                }
                button type="submit" name="action" value="status" #bulk-set-status { "Set status" }
            }
        }
        @if let Some(n) = next { p { a #next-page href=(n) { "Next page" } } }
        p.muted { "Keys: j and k move through the tickets, Enter opens one." }
        script src=(SCRIPT_PATH) defer {}
    };
    Ok(c.page_with(status, Some(Section::Tickets), "Tickets", body))
}

fn filter_form(f: &Filters, names: &Names, clients: &ClientPicker) -> Markup {
    let sel = |a: &str, b: &str| a == b;
    html! {
        form.inline #filters method="get" action="/console/tickets" {
            fieldset {
                legend { "Status" }
                @for s in TicketStatus::ALL {
                    label {
                        input type="checkbox" name="status" value=(s.as_str())
                            checked[f.status.iter().any(|x| x == s.as_str())];
                        " " (label(s.as_str()))
                    }
                    " "
                }
            }
            label for="f-priority" { "Priority" }
            select #f-priority name="priority" {
                option value="" { "any" }
                @for p in Priority::ALL {
                    option value=(p.as_str()) selected[sel(&f.priority, p.as_str())] { (label(p.as_str())) }
                }
            }
            (clients.render(Spec::new("f-client", "any", "/console/tickets")))
            label for="f-assignee" { "Assignee" }
            select #f-assignee name="assignee_id" {
                option value="" { "anyone" }
                @for (id, name) in names.assignable() {
                    option value=(id) selected[sel(&f.assignee_id, &id)] { (name) }
                }
            }
            label for="f-unassigned" {
                input #f-unassigned type="checkbox" name="unassigned" value="true" checked[f.unassigned];
                " Unassigned only"
            }
            label for="f-sla" { "SLA" }
            select #f-sla name="sla_state" {
                option value="" { "any" }
                @for s in SlaState::ALL {
                    option value=(s.as_str()) selected[sel(&f.sla_state, s.as_str())] { (label(s.as_str())) }
                }
            }
            label for="f-tag" { "Tag" }
            input #f-tag type="text" name="tag" value=(f.tag);
            label for="f-q" { "Search" }
            input #f-q type="search" name="q" value=(f.q);
            button type="submit" #apply-filters { "Filter" }
        }
    }
}

/// The SLA state as text and a class, with the next due time.
fn sla_cell(c: &Console, t: &Ticket) -> Markup {
    let (class, text) = match t.sla.state {
        Some(SlaState::Breached) => ("bad", "breached"),
        Some(SlaState::Warning) => ("warn", "due soon"),
        Some(SlaState::Ok) => ("ok", "on time"),
        None => ("muted", "no SLA"),
    };
    let due = match (
        t.sla.response_due,
        t.first_response_at,
        t.sla.resolution_due,
    ) {
        (Some(r), None, _) => Some(r),
        (_, _, Some(r)) => Some(r),
        _ => None,
    };
    html! {
        span class={ "sla " (class) } { (text) }
        @if let Some(d) = due.filter(|_| !t.status.is_done()) {
            br; span.muted { "due " (c.fmt.datetime(d)) }
        }
    }
}

/// `POST /console/tickets/bulk`: the selected tickets assigned or moved.
pub async fn bulk(c: Console, Form(fields): Form<Vec<(String, String)>>) -> Response {
    let ids: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "ids")
        .map(|(_, v)| v.as_str())
        .collect();
    let action = value_of(&fields, "action");
    let back = pairs_of(Some(value_of(&fields, "back")));
    let result = match action {
        "assign" => {
            let assignee = value_of(&fields, "assignee_id");
            let assignee = (!assignee.is_empty()).then_some(assignee);
            c.api
                .send::<Value>(
                    Method::POST,
                    "/api/v1/tickets/bulk-assign",
                    &json!({ "ids": ids, "assignee_id": assignee }),
                )
                .await
        }
        _ => {
            c.api
                .send::<Value>(
                    Method::POST,
                    "/api/v1/tickets/bulk-status",
                    &json!({ "ids": ids, "status": value_of(&fields, "status") }),
                )
                .await
        }
    };
    match result {
        Ok(v) => {
            let n = v["changed"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0)
                .to_string();
            let filters = Filters::read(&back);
            let mut p = filters.pairs();
            let did = if action == "assign" {
                "assign"
            } else {
                "status"
            };
            p.extend([("changed", n.as_str()), ("did", did)]);
            see_other(&format!("/console/tickets{}", query(&p)))
        }
        Err(f) if f.is_validation() => queue_page(c, &back, Some(f))
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Err(f) => f.into_response(),
    }
}

// ---- saved views ----

/// The user's saved views (links that apply their filters, each with a
/// delete button) and the form that saves the current filters as one.
fn views_block(c: &Console, views: &[TicketView], filters: &Filters) -> Markup {
    html! {
        section.card #views aria-labelledby="views-title" {
            h2 #views-title { "Saved views" }
            @if views.is_empty() {
                p.muted { "None yet. Filter the queue, then save the filters under a name." }
            } @else {
                ul #view-list {
                    @for v in views {
                        li {
                            a href={ "/console/tickets" @if !v.query.is_empty() { "?" (v.query) } } { (v.name) }
                            " "
                            form.inline method="post" action={ "/console/tickets/views/" (v.id) "/delete" } {
                                (csrf_field(c.csrf()))
                                button type="submit" aria-label={ "Delete the view " (v.name) } { "Delete" }
                            }
                        }
                    }
                }
            }
            form.inline #save-view method="post" action="/console/tickets/views" {
                (csrf_field(c.csrf()))
                input type="hidden" name="query" value=(filters.api_query(&[]).trim_start_matches('?'));
                label for="view-name" { "Save these filters as" }
                input #view-name type="text" name="name" maxlength="80" required;
                button type="submit" #save-view-submit { "Save view" }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewFields {
    name: String,
    query: String,
}

/// `POST /console/tickets/views`: saves the filters under a name, then
/// shows the queue with them; a refused name shows the queue with why.
pub async fn save_view(c: Console, Form(f): Form<ViewFields>) -> Response {
    let back = pairs_of(Some(&f.query));
    let saved = c
        .api
        .send::<TicketView>(
            Method::POST,
            "/api/v1/tickets/views",
            &json!({ "name": f.name, "query": f.query }),
        )
        .await;
    match saved {
        Ok(v) => {
            let q = if v.query.is_empty() {
                String::new()
            } else {
                format!("?{}", v.query)
            };
            see_other(&format!("/console/tickets{q}"))
        }
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            queue_page(c, &back, Some(e))
                .await
                .unwrap_or_else(IntoResponse::into_response)
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /console/tickets/views/{id}/delete`.
pub async fn delete_view(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: TicketViewId = id.parse().map_err(|_| ApiFailure::not_found("view"))?;
    c.api
        .send_empty::<()>(Method::DELETE, format!("/api/v1/tickets/views/{id}"))
        .await?;
    Ok(see_other("/console/tickets"))
}

// ---- one ticket ----

fn ticket_id(raw: &str) -> Result<TicketId, ApiFailure> {
    raw.parse().map_err(|_| ApiFailure::not_found("ticket"))
}

#[derive(Deserialize)]
struct History {
    status_changes: Vec<StatusChange>,
    sla_events: Vec<SlaEvent>,
    #[serde(default)]
    moves: Vec<TicketMove>,
}

/// Which form of the ticket page a failure belongs to.
struct FormProblem {
    form: &'static str,
    failure: ApiFailure,
    /// What the user typed, to show again.
    typed: HashMap<&'static str, String>,
}

/// `GET /console/tickets/{id}`.
pub async fn ticket(c: Console, Path(id): Path<String>) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    ticket_page(c, id, None, None).await
}

/// The ticket page; `problem` is a refused form's, `prefill` what the
/// message form holds (a canned reply inserted).
async fn ticket_page(
    c: Console,
    id: TicketId,
    problem: Option<FormProblem>,
    prefill: Option<MessageFields>,
) -> Result<Response, ApiFailure> {
    let t: Ticket = c.api.get(format!("/api/v1/tickets/{id}")).await?;
    let tid = id.to_string();
    let client_id = t.client_id.map(|cl| cl.to_string()).unwrap_or_default();
    let (messages, history, time, names, links, canned) = tokio::join!(
        c.api
            .get::<Vec<TicketMessage>>(format!("/api/v1/tickets/{id}/messages")),
        c.api
            .get::<History>(format!("/api/v1/tickets/{id}/history")),
        c.api.get_optional::<Page<TimeEntry>>(format!(
            "/api/v1/time-entries{}",
            query(&[("ticket_id", tid.as_str()), ("limit", "200")])
        )),
        Names::load(&c),
        Links::load(&c, &client_id),
        c.api
            .get_optional::<Page<CannedReply>>("/api/v1/canned-replies?limit=200"),
    );
    let (messages, history, time, names, links) = (messages?, history?, time?, names?, links?);
    let canned = canned?.map(|p| p.data).unwrap_or_default();
    // The signed-in user's timer on this ticket, if it runs.
    let running = time
        .as_ref()
        .and_then(|p| p.data.iter().find(|e| e.running && e.user_id == c.user.id));
    // The ticket's own client and contact, by id (a deleted one: none).
    let client = match t.client_id {
        Some(cl) => gone(
            c.api
                .get_optional::<Client>(format!("/api/v1/clients/{cl}"))
                .await,
        )?,
        None => None,
    };
    let contact = match (t.client_id, t.contact_id) {
        (Some(cl), Some(ct)) => gone(
            c.api
                .get_optional::<Contact>(format!("/api/v1/clients/{cl}/contacts/{ct}"))
                .await,
        )?,
        _ => None,
    };
    // The ticket this one was merged into (a deleted one: none).
    let merged_into = match t.merged_into {
        Some(m) => gone(
            c.api
                .get_optional::<Ticket>(format!("/api/v1/tickets/{m}"))
                .await,
        )?,
        None => None,
    };
    let status = problem
        .as_ref()
        .map(|p| p.failure.status)
        .unwrap_or(StatusCode::OK);
    let title = format!("#{} {}", t.number, t.subject);
    // Split needs a message to stay; a merged ticket's thread moved away.
    let splittable = t.merged_into.is_none() && messages.len() > 1;
    let base = format!("/console/tickets/{id}");
    let problem_of = |form: &str| problem.as_ref().filter(|p| p.form == form);
    let typed = |form: &str, field: &'static str| {
        problem_of(form)
            .and_then(|p| p.typed.get(field).cloned())
            .unwrap_or_default()
    };
    let body = html! {
        p { a href="/console/tickets" { "All tickets" } }
        h1 { "#" (t.number) " " (t.subject) }
        @if let Some(m) = &merged_into {
            p.notice #merged-into role="status" {
                "Merged into " a href={ "/console/tickets/" (m.id) } { "#" (m.number) " " (m.subject) }
                ": its conversation, time and watchers are there."
            }
        }
        section.card #ticket-header aria-label="Ticket" {
            dl.figures {
                dt { "Client" } dd #client { @match &client { Some(cl) => { (cl.name) } None => { span.muted { "none" } } } }
                dt { "Contact" } dd #contact {
                    @match (&contact, &t.requester_email) {
                        (Some(ct), _) => { (ct.name) @if let Some(e) = &ct.email { " <" (e) ">" } }
                        (None, Some(e)) => { (t.requester_name.as_deref().unwrap_or_default()) " <" (e) ">" }
                        _ => { "none" }
                    }
                }
                dt { "Status" } dd #status { (label(t.status.as_str())) }
                dt { "Priority" } dd #priority { (label(t.priority.as_str())) }
                dt { "Assignee" } dd #assignee { (names.user(t.assignee_id).unwrap_or_else(|| "unassigned".into())) }
                dt { "Tags" } dd #tags { @if t.tags.is_empty() { span.muted { "none" } } @else { (t.tags.join(", ")) } }
                dt { "Asset" } dd #asset { (links.asset_cell(&c, t.asset_id.map(AssetId::from))) }
                dt { "Project" } dd #project { (links.project_cell(t.project_id)) }
                dt { "Response" } dd #response-due { (clock(&c, &t, t.sla.response_due, t.sla.response_state, t.first_response_at)) }
                dt { "Resolution" } dd #resolution-due { (clock(&c, &t, t.sla.resolution_due, t.sla.resolution_state, t.resolved_at)) }
                dt { "Opened" } dd { (c.fmt.datetime(t.created_at)) }
            }
        }
        div.grid {
            (status_form(&c, &base, &t, problem_of("status")))
            (priority_form(&c, &base, &t, problem_of("priority")))
            (assign_form(&c, &base, &t, &names, problem_of("assign")))
            (tags_form(&c, &base, &t, problem_of("tags"), &typed("tags", "tags")))
            (asset_form(&c, &base, &t, &links, problem_of("asset")))
            (project_form(&c, &base, &t, &links, problem_of("project")))
            @if t.merged_into.is_none() {
                (merge_form(&c, &base, problem_of("merge"), &typed("merge", "into")))
            }
        }
        section #thread aria-labelledby="thread-title" {
            h2 #thread-title { "Conversation" }
            (problem_block(problem_of("split")))
            @for m in &messages {
                (message(&c, &base, m, &names, splittable.then_some(&t.subject)))
            }
        }
        @let (body, kind) = match (&prefill, problem_of("message")) {
            (Some(m), None) => (m.body.clone(), m.kind.clone()),
            _ => (typed("message", "body"), typed("message", "kind")),
        };
        (message_form(&c, &base, problem_of("message"), &body, &kind, &canned))
        @if time.is_some() {
            (timer_block(&c, &base, &t, running, problem_of("timer"), &typed("timer", "description")))
        }
        (time_block(&c, &base, time.as_ref(), &names, problem_of("time"), &typed("time", "minutes"), &typed("time", "description")))
        (history_block(&c, &history, &names))
        script src=(SCRIPT_PATH) defer {}
    };
    Ok(c.page_with(status, Some(Section::Tickets), &title, body))
}

/// A read whose 404 means "no longer there": `None`.
fn gone<T>(r: Result<Option<T>, ApiFailure>) -> Result<Option<T>, ApiFailure> {
    match r {
        Err(f) if f.status == StatusCode::NOT_FOUND => Ok(None),
        r => r,
    }
}

/// The assets of the ticket's client and the projects a ticket can be
/// linked to (the client's, or any without a client): the two lists the
/// asset and project forms offer, and where the header finds the linked
/// ones' names. `None` where the user may not read them.
struct Links {
    assets: Option<Vec<Asset>>,
    projects: Option<Vec<Project>>,
}

impl Links {
    /// Two API reads; the assets only for a ticket with a client (an
    /// asset is always a client's).
    async fn load(c: &Console, client_id: &str) -> Result<Self, ApiFailure> {
        let assets = async {
            if client_id.is_empty() {
                return Ok(Some(Vec::new()));
            }
            let path = format!(
                "/api/v1/assets{}",
                query(&[("client_id", client_id), ("limit", "200")])
            );
            Ok::<_, ApiFailure>(
                c.api
                    .get_optional::<Page<Asset>>(path)
                    .await?
                    .map(|p| p.data),
            )
        };
        let projects = c.api.get_optional::<Page<Project>>(format!(
            "/api/v1/projects{}",
            query(&[("client_id", client_id), ("limit", "200")])
        ));
        let (assets, projects) = tokio::join!(assets, projects);
        Ok(Links {
            assets: assets?,
            projects: projects?.map(|p| p.data),
        })
    }

    fn asset(&self, id: Option<AssetId>) -> Option<&Asset> {
        let id = id?;
        self.assets.as_ref()?.iter().find(|a| a.id == id)
    }

    fn project(&self, id: Option<ProjectId>) -> Option<&Project> {
        let id = id?;
        self.projects.as_ref()?.iter().find(|p| p.id == id)
    }

    /// The linked asset with its warranty's end, a link to its page.
    fn asset_cell(&self, c: &Console, id: Option<AssetId>) -> Markup {
        html! {
            @match (id, self.asset(id)) {
                (None, _) => { span.muted { "none" } }
                (Some(id), None) => { a href={ "/console/assets/" (id) } { "an asset" } }
                (Some(_), Some(a)) => {
                    a href={ "/console/assets/" (a.id) } { (a.name) }
                    " · "
                    @match a.warranty_expires {
                        None => { span.muted { "no warranty date" } }
                        Some(w) if w < c.fmt.today(c.now) => {
                            span.warn #warranty { "warranty ended " (c.fmt.date(w)) }
                        }
                        Some(w) => { span #warranty { "warranty until " (c.fmt.date(w)) } }
                    }
                }
            }
        }
    }

    /// The linked project, a link to its page, with its status.
    fn project_cell(&self, id: Option<ProjectId>) -> Markup {
        html! {
            @match (id, self.project(id)) {
                (None, _) => { span.muted { "none" } }
                (Some(id), None) => { a href={ "/console/projects/" (id) } { "a project" } }
                (Some(_), Some(p)) => {
                    a href={ "/console/projects/" (p.id) } { (p.name) }
                    " " span.muted { "(" (label(p.status.as_str())) ")" }
                }
            }
        }
    }
}

/// The asset select: none, or one of the ticket's client's assets (a
/// ticket without a client has none to offer).
fn asset_form(
    c: &Console,
    base: &str,
    t: &Ticket,
    links: &Links,
    p: Option<&FormProblem>,
) -> Markup {
    let current = t.asset_id.map(|a| a.to_string()).unwrap_or_default();
    html! {
        @if let (Some(assets), Some(_)) = (&links.assets, t.client_id) {
            form.stack #asset-form method="post" action={ (base) "/asset" } {
                (csrf_field(c.csrf()))
                (problem_block(p))
                label for="asset-select" { "Asset" }
                select #asset-select name="asset_id" {
                    option value="" { "none" }
                    @for a in assets {
                        option value=(a.id) selected[a.id.to_string() == current] { (a.name) }
                    }
                }
                button type="submit" { "Change asset" }
            }
        }
    }
}

/// The project select: none, or one of the open projects of the ticket's
/// client (any client's for a ticket without one); the linked project is
/// offered even when it is no longer open.
fn project_form(
    c: &Console,
    base: &str,
    t: &Ticket,
    links: &Links,
    p: Option<&FormProblem>,
) -> Markup {
    use nestogy_domain::service_desk::projects::ProjectStatus;
    html! {
        @if let Some(projects) = &links.projects {
            form.stack #project-form method="post" action={ (base) "/project" } {
                (csrf_field(c.csrf()))
                (problem_block(p))
                label for="project-select" { "Project" }
                select #project-select name="project_id" {
                    option value="" { "none" }
                    @for pr in projects.iter().filter(|pr| {
                        Some(pr.id) == t.project_id
                            || !matches!(pr.status, ProjectStatus::Done | ProjectStatus::Cancelled)
                    }) {
                        option value=(pr.id) selected[Some(pr.id) == t.project_id] { (pr.name) }
                    }
                }
                button type="submit" { "Change project" }
            }
        }
    }
}

/// The user's timer on this ticket: how long it has run (the script ticks
/// it) and its stop button; or the form that starts one.
fn timer_block(
    c: &Console,
    base: &str,
    t: &Ticket,
    running: Option<&TimeEntry>,
    p: Option<&FormProblem>,
    description: &str,
) -> Markup {
    html! {
        section.card #timer aria-labelledby="timer-title" {
            h2 #timer-title { "Timer" }
            (problem_block(p))
            @match running {
                Some(e) => {
                    p #timer-running role="status" {
                        "Your timer is running: "
                        @if let Some(s) = e.started_at {
                            strong { time.elapsed datetime=(s.to_rfc3339()) { (duration((c.now - s).num_minutes())) } }
                            " since " (c.fmt.datetime(s))
                        }
                        " — " (e.description)
                    }
                    (crate::layout::post_button(&format!("{base}/timer/{}/stop", e.id), c.csrf(), "stop-timer", "Stop timer"))
                }
                None => {
                    form.stack #timer-form method="post" action={ (base) "/timer" } {
                        (csrf_field(c.csrf()))
                        label for="timer-description" { "What you are doing" }
                        input #timer-description type="text" name="description" value=(description) required;
                        label for="timer-billable" {
                            input #timer-billable type="checkbox" name="billable" value="true" checked[t.client_id.is_some()];
                            " Billable"
                        }
                        button #start-timer type="submit" { "Start timer" }
                    }
                }
            }
        }
    }
}

/// One SLA target in words: its due time, then "Met", or while it runs
/// the state ("On time", "Due soon", "Breached") and the time left or
/// past ("due in 1 h 20 min", "overdue by 35 min") by the app's clock. The
/// `<time class="countdown">` carries the deadline: the script refreshes
/// its words every 30 s.
fn clock(
    c: &Console,
    t: &Ticket,
    due: Option<chrono::DateTime<chrono::Utc>>,
    state: Option<SlaState>,
    met: Option<chrono::DateTime<chrono::Utc>>,
) -> Markup {
    let Some(due) = due else {
        return html! { span.muted { "no SLA" } };
    };
    let left = minutes_until(c.now, due);
    html! {
        span.muted { "due " (c.fmt.datetime(due)) } " · "
        @match met {
            Some(m) if m <= due => {
                span.sla.ok { "Met" } span.muted { " (" (c.fmt.datetime(m)) ")" }
            }
            Some(m) => {
                span.sla.bad { "Breached" } span.muted { " (met late, " (c.fmt.datetime(m)) ")" }
            }
            None if t.status.is_done() => {
                @if state == Some(SlaState::Breached) { span.sla.bad { "Breached" } }
                @else { span.muted { "Stopped (" (label(t.status.as_str())) ")" } }
            }
            None => {
                span.clock {
                    @if left > 0 {
                        @let (class, word) = if state == Some(SlaState::Warning) { ("warn", "Due soon") } else { ("ok", "On time") };
                        span class={ "sla " (class) } data-sla-word { (word) }
                        " — "
                        time.countdown datetime=(due.to_rfc3339()) { "due in " (duration(left)) }
                    } @else {
                        span.sla.bad data-sla-word { "Breached" }
                        " — "
                        time.countdown datetime=(due.to_rfc3339()) { "overdue by " (duration(-left)) }
                    }
                }
            }
        }
    }
}

fn problem_block(p: Option<&FormProblem>) -> Markup {
    html! {
        @if let Some(p) = p {
            p.problem role="alert" { (p.failure.message) }
            (field_problems(&p.failure.fields))
        }
    }
}

fn status_form(c: &Console, base: &str, t: &Ticket, p: Option<&FormProblem>) -> Markup {
    html! {
        form.stack #status-form method="post" action={ (base) "/status" } {
            (csrf_field(c.csrf()))
            (problem_block(p))
            label for="status-select" { "Status" }
            select #status-select name="status" {
                @for s in TicketStatus::ALL {
                    option value=(s.as_str()) selected[*s == t.status] { (label(s.as_str())) }
                }
            }
            button type="submit" { "Change status" }
        }
    }
}

fn priority_form(c: &Console, base: &str, t: &Ticket, p: Option<&FormProblem>) -> Markup {
    html! {
        form.stack #priority-form method="post" action={ (base) "/priority" } {
            (csrf_field(c.csrf()))
            (problem_block(p))
            label for="priority-select" { "Priority" }
            select #priority-select name="priority" {
                @for s in Priority::ALL {
                    option value=(s.as_str()) selected[*s == t.priority] { (label(s.as_str())) }
                }
            }
            button type="submit" { "Change priority" }
        }
    }
}

fn assign_form(
    c: &Console,
    base: &str,
    t: &Ticket,
    names: &Names,
    p: Option<&FormProblem>,
) -> Markup {
    let current = t.assignee_id.map(|u| u.to_string()).unwrap_or_default();
    html! {
        form.stack #assign-form method="post" action={ (base) "/assign" } {
            (csrf_field(c.csrf()))
            (problem_block(p))
            label for="assignee-select" { "Assignee" }
            select #assignee-select name="assignee_id" {
                option value="" { "nobody" }
                @for (id, name) in names.assignable() {
                    option value=(id) selected[id == current] { (name) }
                }
            }
            button type="submit" { "Assign" }
        }
    }
}

fn tags_form(c: &Console, base: &str, t: &Ticket, p: Option<&FormProblem>, typed: &str) -> Markup {
    let value = if p.is_some() {
        typed.to_owned()
    } else {
        t.tags.join(", ")
    };
    html! {
        form.stack #tags-form method="post" action={ (base) "/tags" } {
            (csrf_field(c.csrf()))
            (problem_block(p))
            label for="tags-input" { "Tags " span.hint { "(comma-separated)" } }
            input #tags-input type="text" name="tags" value=(value);
            button type="submit" { "Save tags" }
        }
    }
}

/// Merges this ticket into another, named by number or id.
fn merge_form(c: &Console, base: &str, p: Option<&FormProblem>, typed: &str) -> Markup {
    html! {
        form.stack #merge-form method="post" action={ (base) "/merge" } {
            (csrf_field(c.csrf()))
            (problem_block(p))
            label for="merge-into" { "Merge into… " span.hint { "(ticket number or id; this ticket closes)" } }
            input #merge-into type="text" name="into" required value=(typed);
            button type="submit" { "Merge" }
        }
    }
}

/// A message of the thread; with `split` (the subject to offer), a form
/// that splits it off into a new ticket.
fn message(
    c: &Console,
    base: &str,
    m: &TicketMessage,
    names: &Names,
    split: Option<&String>,
) -> Markup {
    let (class, label) = match m.kind {
        MessageKind::Incoming => ("incoming", "Incoming"),
        MessageKind::Reply => ("reply", "Public reply"),
        MessageKind::Note => ("note", "Internal note"),
    };
    let who = names
        .user(m.author_id)
        .or_else(|| m.from_name.clone().or_else(|| m.from_address.clone()));
    html! {
        article class={ "card message " (class) } id={ "message-" (m.id) } {
            h3 {
                @if m.kind == MessageKind::Note { strong.warn { "Internal note" } } @else { (label) }
                " · " (who.unwrap_or_default()) " · " span.muted { (c.fmt.datetime(m.created_at)) }
            }
            @if let Some(a) = &m.automated { p.muted { "Automated: " (a) } }
            div.body { @for line in m.body.lines() { (line) br; } }
            @if !m.attachments.is_empty() {
                ul.attachments {
                    @for a in &m.attachments {
                        li { a href={ (base) "/attachments/" (a.id) } { (a.filename) } " " span.muted { "(" (a.size_bytes) " bytes)" } }
                    }
                }
            }
            @if let Some(subject) = split {
                form.inline.split-form method="post" action={ (base) "/split" } {
                    (csrf_field(c.csrf()))
                    input type="hidden" name="message_id" value=(m.id);
                    label { "New ticket's subject " input type="text" name="subject" required value=(subject); }
                    button type="submit" { "Split off" }
                }
            }
        }
    }
}

fn message_form(
    c: &Console,
    base: &str,
    p: Option<&FormProblem>,
    body: &str,
    kind: &str,
    canned: &[CannedReply],
) -> Markup {
    let note = kind == "note";
    html! {
        form.stack #message-form method="post" action={ (base) "/messages" } enctype="multipart/form-data" {
            h2 { "Add to the conversation" }
            (csrf_field(c.csrf()))
            (crate::layout::once_field())
            (problem_block(p))
            fieldset {
                legend { "Kind" }
                label { input type="radio" name="kind" value="reply" checked[!note]; " Public reply (mailed to the contact)" }
                label { input type="radio" name="kind" value="note" checked[note]; " Internal note (never mailed)" }
            }
            label for="message-body" { "Message" }
            textarea #message-body name="body" rows="6" { (body) }
            label for="message-files" { "Attachments " span.hint { "(up to 700 KB in all)" } }
            input #message-files type="file" name="attachments" multiple;
            button type="submit" { "Send" }
            @if !canned.is_empty() {
                fieldset #canned {
                    legend { "Canned reply" }
                    label for="canned-reply" { "Insert into the message " span.hint { "(its placeholders filled for this ticket)" } }
                    select #canned-reply name="canned_id" {
                        @for r in canned {
                            option value=(r.id) {
                                (r.title)
                                @if r.scope == CannedScope::Company { " (shared)" }
                            }
                        }
                    }
                    button #insert-canned type="submit" formaction={ (base) "/canned" }
                        formenctype="application/x-www-form-urlencoded" formnovalidate { "Insert" }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn time_block(
    c: &Console,
    base: &str,
    time: Option<&Page<TimeEntry>>,
    names: &Names,
    p: Option<&FormProblem>,
    minutes: &str,
    description: &str,
) -> Markup {
    html! {
        section.card #time aria-labelledby="time-title" {
            h2 #time-title { "Time" }
            @if let Some(page) = time {
                @if page.data.is_empty() { p.muted { "No time logged yet." } }
                @else {
                    table #time-entries {
                        thead { tr { th { "Day" } th { "Who" } th.n { "Minutes" } th { "Note" } th { "Billable" } } }
                        tbody { @for e in &page.data {
                            tr id={ "time-" (e.id) } {
                                td { (c.fmt.date(e.work_date)) }
                                td { (names.user(Some(e.user_id)).unwrap_or_default()) }
                                td.n { (e.minutes.map(|m| m.to_string()).unwrap_or_else(|| "running".into())) }
                                td { (e.description) }
                                td { @if e.billable { "yes" } @else { "no" } }
                            }
                        } }
                    }
                }
            }
            form.stack #time-form method="post" action={ (base) "/time" } {
                (csrf_field(c.csrf()))
                (problem_block(p))
                label for="time-minutes" { "Minutes" }
                input #time-minutes type="number" name="minutes" min="1" max="1440" value=(minutes);
                label for="time-description" { "Note" }
                input #time-description type="text" name="description" value=(description);
                label for="time-billable" {
                    input #time-billable type="checkbox" name="billable" value="true" checked;
                    " Billable"
                }
                button type="submit" { "Log time" }
            }
        }
    }
}

fn history_block(c: &Console, h: &History, names: &Names) -> Markup {
    html! {
        section.card #history aria-labelledby="history-title" {
            h2 #history-title { "History" }
            ul {
                @for s in &h.status_changes {
                    li { (c.fmt.datetime(s.at)) ": "
                        (s.from.map(|f| label(f.as_str())).unwrap_or_else(|| "(new)".to_owned())) " → " (label(s.to.as_str()))
                        @if let Some(u) = names.user(s.user_id) { " by " (u) } }
                }
                @for m in &h.moves {
                    li { (c.fmt.datetime(m.at)) ": "
                        @match m.kind {
                            MoveKind::Merge => {
                                "#" (m.from_number) " merged into "
                                a href={ "/console/tickets/" (m.to_ticket_id) } { "#" (m.to_number) }
                            }
                            MoveKind::Split => {
                                a href={ "/console/tickets/" (m.to_ticket_id) } { "#" (m.to_number) }
                                " split off #" (m.from_number)
                            }
                        }
                        " (" (m.moved.messages) " messages)"
                        @if let Some(u) = names.user(m.user_id) { " by " (u) } }
                }
                @for e in &h.sla_events {
                    li { (c.fmt.datetime(e.at)) ": SLA " (e.target) " "
                        span class=(match e.state.as_str() { "breached" => "bad", "warning" => "warn", _ => "" }) { (e.state) }
                        @if let Some(d) = e.due_at { " (due " (c.fmt.datetime(d)) ")" } }
                }
            }
        }
    }
}

/// Sends one action of the ticket page; on success back to the ticket
/// (303), on a 422 (or 409) the page again with the problem beside `form`.
async fn act(
    c: Console,
    id: TicketId,
    form: &'static str,
    typed: HashMap<&'static str, String>,
    method: Method,
    path: String,
    body: Value,
) -> Response {
    match c.api.send::<Value>(method, path, &body).await {
        Ok(_) => see_other(&format!("/console/tickets/{id}")),
        Err(failure) if failure.is_validation() || failure.status == StatusCode::CONFLICT => {
            let p = FormProblem {
                form,
                failure,
                typed,
            };
            match ticket_page(c, id, Some(p), None).await {
                Ok(r) => r,
                Err(f) => f.into_response(),
            }
        }
        Err(f) => f.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusFields {
    status: String,
}

pub async fn set_status(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<StatusFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let path = format!("/api/v1/tickets/{id}/status");
    Ok(act(
        c,
        id,
        "status",
        HashMap::new(),
        Method::POST,
        path,
        json!({ "status": f.status }),
    )
    .await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityFields {
    priority: String,
}

pub async fn set_priority(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<PriorityFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let path = format!("/api/v1/tickets/{id}");
    Ok(act(
        c,
        id,
        "priority",
        HashMap::new(),
        Method::PATCH,
        path,
        json!({ "priority": f.priority }),
    )
    .await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignFields {
    assignee_id: String,
}

pub async fn assign(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<AssignFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let who = f.assignee_id.trim();
    let who = (!who.is_empty()).then_some(who);
    let path = format!("/api/v1/tickets/{id}/assign");
    Ok(act(
        c,
        id,
        "assign",
        HashMap::new(),
        Method::POST,
        path,
        json!({ "assignee_id": who }),
    )
    .await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsFields {
    tags: String,
}

pub async fn set_tags(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<TagsFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let tags: Vec<&str> = f
        .tags
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let path = format!("/api/v1/tickets/{id}");
    let body = json!({ "tags": tags });
    let typed = HashMap::from([("tags", f.tags.clone())]);
    Ok(act(c, id, "tags", typed, Method::PATCH, path, body).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeFields {
    into: String,
}

/// `POST /console/tickets/{id}/merge`: merges this ticket into the one
/// named (back to this ticket, which then says where it went).
pub async fn merge(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<MergeFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let path = format!("/api/v1/tickets/{id}/merge");
    let body = json!({ "into": f.into.trim() });
    let typed = HashMap::from([("into", f.into)]);
    Ok(act(c, id, "merge", typed, Method::POST, path, body).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitFields {
    message_id: String,
    subject: String,
}

/// `POST /console/tickets/{id}/split`: one message off into a new ticket,
/// then to the new ticket.
pub async fn split(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<SplitFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let path = format!("/api/v1/tickets/{id}/split");
    let body = json!({ "message_ids": [f.message_id], "subject": f.subject });
    match c.api.send::<Value>(Method::POST, path, &body).await {
        Ok(v) => {
            let new = v["ticket"]["id"].as_str().unwrap_or_default();
            Ok(see_other(&format!("/console/tickets/{new}")))
        }
        Err(failure) if failure.is_validation() || failure.status == StatusCode::CONFLICT => {
            let p = FormProblem {
                form: "split",
                failure,
                typed: HashMap::new(),
            };
            ticket_page(c, id, Some(p), None).await
        }
        Err(f) => Err(f),
    }
}

/// The message form's text fields.
#[derive(Debug, Default)]
struct MessageFields {
    kind: String,
    body: String,
}

/// `POST /console/tickets/{id}/messages` (`multipart/form-data`): a reply
/// or note with its attachments, sent to the API as one message (the
/// files base64, as the API takes them; the API bounds their size). Posted
/// twice (a double click), it is stored and mailed once: the form's key
/// goes with it.
pub async fn add_message(
    mut c: Console,
    Path(id): Path<String>,
    up: Upload,
) -> Result<Response, ApiFailure> {
    use base64::Engine;
    let id = ticket_id(&id)?;
    let path = format!("/api/v1/tickets/{id}/messages");
    let f = MessageFields {
        kind: up.field("kind").to_owned(),
        body: up.field("body").to_owned(),
    };
    let attachments: Vec<Value> = up
        .files_in("attachments")
        .map(|file| {
            json!({
                "filename": file.filename,
                "content_type": (!file.content_type.is_empty()).then_some(&file.content_type),
                "content_base64": base64::engine::general_purpose::STANDARD.encode(&file.bytes),
            })
        })
        .collect();
    let body = json!({ "kind": f.kind, "body": f.body, "attachments": attachments });
    let typed = HashMap::from([("kind", f.kind), ("body", f.body)]);
    c.api = c.api.once(up.field(crate::layout::ONCE_FIELD));
    Ok(act(c, id, "message", typed, Method::POST, path, body).await)
}

/// `POST /console/tickets/{id}/canned` (the message form's "Insert"
/// button, as a plain form: the files stay behind): the chosen canned
/// reply rendered for this ticket by the API
/// (`POST /api/v1/tickets/{id}/canned-replies/{reply}/render`), added to
/// what the message already says, and the ticket page drawn again with
/// it. Nothing is sent or stored. A reply the API refuses (gone, another
/// user's, no longer checking) is said on the message form.
pub async fn insert_canned(
    c: Console,
    Path(id): Path<String>,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let mut f = MessageFields::default();
    let mut chosen = String::new();
    for (k, v) in raw {
        match k.as_str() {
            "kind" => f.kind = v,
            "body" => f.body = v,
            "canned_id" => chosen = v,
            _ => {}
        }
    }
    let reply: Result<CannedReplyId, _> = chosen.trim().parse();
    let rendered = match reply {
        Ok(reply) => {
            c.api
                .send_empty::<Rendered>(
                    Method::POST,
                    format!("/api/v1/tickets/{id}/canned-replies/{reply}/render"),
                )
                .await
        }
        Err(_) => Err(ApiFailure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "choose a canned reply to insert",
        )),
    };
    match rendered {
        Ok(r) => {
            f.body = if f.body.trim().is_empty() {
                r.body
            } else {
                format!("{}\n\n{}", f.body.trim_end(), r.body)
            };
            ticket_page(c, id, None, Some(f)).await
        }
        Err(failure)
            if failure.status.is_client_error() && failure.status != StatusCode::FORBIDDEN =>
        {
            // The ticket's own 404 is the page's: it reads the ticket first.
            let typed = HashMap::from([("kind", f.kind), ("body", f.body)]);
            let p = FormProblem {
                form: "message",
                failure,
                typed,
            };
            ticket_page(c, id, Some(p), None).await
        }
        Err(f) => Err(f),
    }
}

/// What the render route answers.
#[derive(Deserialize)]
struct Rendered {
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeFields {
    minutes: String,
    description: String,
    billable: Option<String>,
}

pub async fn log_time(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<TimeFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    // A number as a number; anything else as typed, for the API to refuse.
    let minutes = match f.minutes.trim().parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) if f.minutes.trim().is_empty() => Value::Null,
        Err(_) => json!(f.minutes),
    };
    let body = json!({
        "ticket_id": id,
        "minutes": minutes,
        "description": f.description,
        "billable": f.billable.as_deref() == Some("true"),
    });
    let typed = HashMap::from([("minutes", f.minutes), ("description", f.description)]);
    let path = "/api/v1/time-entries".to_owned();
    Ok(act(c, id, "time", typed, Method::POST, path, body).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetFields {
    asset_id: String,
}

/// `POST /console/tickets/{id}/asset`: the ticket's asset changed (or
/// none); the API checks it is the ticket's client's.
pub async fn set_asset(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<AssetFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let path = format!("/api/v1/tickets/{id}");
    let body = json!({ "asset_id": some(&f.asset_id) });
    Ok(act(c, id, "asset", HashMap::new(), Method::PATCH, path, body).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFields {
    project_id: String,
}

/// `POST /console/tickets/{id}/project`: the ticket linked to a project
/// (`PUT /projects/{p}/tickets/{id}`), or unlinked from its own (`DELETE`).
pub async fn set_project(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<ProjectFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let (method, project) = match some(&f.project_id) {
        None => {
            let t: Ticket = c.api.get(format!("/api/v1/tickets/{id}")).await?;
            match t.project_id {
                Some(p) => (Method::DELETE, p),
                None => return Ok(see_other(&format!("/console/tickets/{id}"))),
            }
        }
        Some(chosen) => {
            let p: ProjectId = chosen
                .parse()
                .map_err(|_| ApiFailure::not_found("project"))?;
            (Method::PUT, p)
        }
    };
    let path = format!("/api/v1/projects/{project}/tickets/{id}");
    Ok(act(c, id, "project", HashMap::new(), method, path, json!({})).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimerFields {
    description: String,
    billable: Option<String>,
}

/// `POST /console/tickets/{id}/timer`: a timer started now on the ticket
/// (a time entry with a start and no end); one per user, else the API's
/// 409 beside the form.
pub async fn start_timer(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<TimerFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let body = json!({
        "ticket_id": id,
        "started_at": c.now,
        "description": f.description,
        "billable": f.billable.as_deref() == Some("true"),
    });
    let typed = HashMap::from([("description", f.description)]);
    let path = "/api/v1/time-entries".to_owned();
    Ok(act(c, id, "timer", typed, Method::POST, path, body).await)
}

/// `POST /console/tickets/{id}/timer/{entry}/stop`: the timer stopped; its
/// entry joins the ticket's time.
pub async fn stop_timer(
    c: Console,
    Path((id, entry)): Path<(String, String)>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let entry: TimeEntryId = entry
        .parse()
        .map_err(|_| ApiFailure::not_found("time entry"))?;
    let path = format!("/api/v1/time-entries/{entry}/stop");
    Ok(act(
        c,
        id,
        "timer",
        HashMap::new(),
        Method::POST,
        path,
        json!({}),
    )
    .await)
}

/// `GET /console/tickets/{id}/attachments/{attachment_id}`: the API's
/// download, passed on with its type, length and disposition.
pub async fn attachment(
    c: Console,
    Path((id, attachment)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let attachment: AttachmentId = attachment
        .parse()
        .map_err(|_| ApiFailure::not_found("attachment"))?;
    let a = c
        .api
        .bytes(
            Method::GET,
            format!("/api/v1/tickets/{id}/attachments/{attachment}"),
            ApiBody::Empty,
            None,
        )
        .await?;
    Ok(a.into_download())
}

// ---- a new ticket ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NewTicketFields {
    client_id: String,
    subject: String,
    description: String,
    priority: String,
    /// The client picker's search ([`ClientPicker`]).
    client_q: String,
    /// The form's own key ([`crate::layout::once_field`]).
    once: String,
}

/// `GET /console/tickets/new`, and again with the form's fields after the
/// client picker's "Find".
pub async fn new_ticket(c: Console, raw: RawQuery) -> Result<Response, ApiFailure> {
    let f = picker::refill(&c, &raw)?.unwrap_or_else(|| NewTicketFields {
        priority: "medium".into(),
        ..Default::default()
    });
    let clients = ClientPicker::load(&c, &f.client_q, &f.client_id).await?;
    Ok(new_ticket_page(&c, &clients, &f, None))
}

fn new_ticket_page(
    c: &Console,
    clients: &ClientPicker,
    f: &NewTicketFields,
    problem: Option<&ApiFailure>,
) -> Response {
    let status = problem.map(|p| p.status).unwrap_or(StatusCode::OK);
    let field = |name: &str| problem.and_then(|p| p.field(name)).map(str::to_owned);
    let body = html! {
        p { a href="/console/tickets" { "All tickets" } }
        h1 { "New ticket" }
        form.stack #new-ticket-form method="post" action="/console/tickets/new" {
            (csrf_field(c.csrf()))
            (crate::layout::once_field())
            @if let Some(p) = problem {
                p.problem #problem role="alert" { (p.message) }
                (field_problems(&p.fields))
            }
            (clients.render(Spec::new("nt-client", "none", "/console/tickets/new").problem(problem)))
            label for="nt-subject" { "Subject" }
            input #nt-subject type="text" name="subject" value=(f.subject) required;
            @if let Some(m) = field("subject") { p.field-problem { (m) } }
            label for="nt-description" { "Description" }
            textarea #nt-description name="description" rows="6" { (f.description) }
            @if let Some(m) = field("description") { p.field-problem { (m) } }
            label for="nt-priority" { "Priority" }
            select #nt-priority name="priority" {
                @for p in Priority::ALL {
                    option value=(p.as_str()) selected[f.priority == p.as_str()] { (label(p.as_str())) }
                }
            }
            button type="submit" { "Open ticket" }
        }
    };
    c.page_with(status, Some(Section::Tickets), "New ticket", body)
}

pub async fn create_ticket(
    c: Console,
    Form(f): Form<NewTicketFields>,
) -> Result<Response, ApiFailure> {
    let opt = |s: &str| {
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_owned())
    };
    let body = json!({
        "client_id": opt(&f.client_id),
        "subject": f.subject,
        "description": opt(&f.description),
        "priority": opt(&f.priority),
    });
    match c
        .api
        .once(&f.once)
        .send::<Ticket>(Method::POST, "/api/v1/tickets", &body)
        .await
    {
        Ok(t) => Ok(see_other(&format!("/console/tickets/{}", t.id))),
        Err(p) if p.is_validation() => {
            let clients = ClientPicker::load(&c, &f.client_q, &f.client_id).await?;
            Ok(new_ticket_page(&c, &clients, &f, Some(&p)))
        }
        Err(p) => Err(p),
    }
}

// ---- the script ----

/// `GET /console/static/app.js`: the queue's keyboard navigation (j, k,
/// Enter) and the ticket page's ticking SLA countdowns and timer, a
/// first-party file the pages' CSP (`script-src 'self'`) allows.
pub async fn script() -> Response {
    let mut r = include_str!("../../static/app.js").into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
