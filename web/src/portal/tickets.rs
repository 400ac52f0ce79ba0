//! The portal's tickets: the list (a member's own tickets, a portal
//! admin's client's), opening one with attachments, the public thread,
//! replying (as an e-mail reply would), closing and reopening.

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::{AttachmentId, TicketId};
use serde::Deserialize;
use serde_json::{Value, json};

use super::layout::PortalSection;
use super::session::{Portal, PortalForm, PortalUpload};
use crate::WebState;
use crate::api_client::{ApiBody, ApiFailure, query};
use crate::session::{NoFields, Upload};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/portal/{slug}/tickets", get(list))
        .route(
            "/portal/{slug}/tickets/new",
            get(new_form)
                .post(create)
                .layer(axum::extract::DefaultBodyLimit::max(super::UPLOAD_LIMIT)),
        )
        .route("/portal/{slug}/tickets/{id}", get(show))
        .route(
            "/portal/{slug}/tickets/{id}/reply",
            post(reply).layer(axum::extract::DefaultBodyLimit::max(super::UPLOAD_LIMIT)),
        )
        .route("/portal/{slug}/tickets/{id}/close", post(close))
        .route("/portal/{slug}/tickets/{id}/reopen", post(reopen))
        .route(
            "/portal/{slug}/tickets/{id}/attachments/{attachment_id}",
            get(attachment),
        )
}

use nestogy_api::routes::portal_tickets::PortalTicketThread;
use nestogy_domain::portal::tickets::{PortalMessage, PortalTicket};
use nestogy_domain::service_desk::tickets::{MessageKind, TicketStatus};

fn ticket_id(raw: &str) -> Result<TicketId, ApiFailure> {
    raw.parse().map_err(|_| ApiFailure::not_found("ticket"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListParams {
    status: String,
    cursor: String,
}

/// The list's status filters: (query value, label).
const FILTERS: [(&str, &str); 3] = [("open", "Open"), ("closed", "Closed"), ("all", "All")];

/// `GET /portal/{slug}/tickets`.
pub async fn list(p: Portal, Query(q): Query<ListParams>) -> Result<Response, ApiFailure> {
    let status = FILTERS
        .iter()
        .map(|(v, _)| *v)
        .find(|v| *v == q.status)
        .unwrap_or("open");
    let page: Page<PortalTicket> = p
        .api
        .get(format!(
            "/api/v1/portal/tickets{}",
            query(&[("status", status), ("cursor", &q.cursor), ("limit", "25")])
        ))
        .await?;
    let body = html! {
        h1 { "Tickets" }
        p { a #new-ticket href=(p.href("/tickets/new")) { "Open a ticket" } }
        nav.sub aria-label="Which tickets" {
            @for (v, label) in FILTERS {
                @if v == status {
                    a href=(p.href(&format!("/tickets?status={v}"))) aria-current="page" { (label) }
                } @else {
                    a href=(p.href(&format!("/tickets?status={v}"))) { (label) }
                }
                " "
            }
        }
        @if page.data.is_empty() {
            p #no-tickets.muted { "No tickets here." }
        } @else {
            div.scroll {
                table #tickets {
                    thead { tr { th { "Ticket" } th { "Subject" } th { "Status" } th { "Priority" } th { "Updated" } } }
                    tbody {
                        @for t in &page.data {
                            tr {
                                td { (t.token) }
                                td { a href=(p.href(&format!("/tickets/{}", t.id))) { (t.subject) } }
                                td.status { (status_label(t.status)) }
                                td { (t.priority.as_str()) }
                                td { (p.fmt.datetime(t.updated_at)) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &page.next_cursor {
            p { a #next-page href=(p.href(&format!("/tickets{}", query(&[("status", status), ("cursor", next)])))) { "Next page" } }
        }
    };
    Ok(p.page(PortalSection::Tickets, "Tickets", body))
}

/// A status as a client reads it.
fn status_label(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::New => "Received",
        TicketStatus::WaitingOnClient => "Waiting for you",
        TicketStatus::Resolved => "Resolved",
        TicketStatus::Closed => "Closed",
        TicketStatus::Open => "Open",
        TicketStatus::InProgress => "In progress",
    }
}

/// What a ticket form had typed, to show again with the API's problems.
#[derive(Default)]
struct Typed {
    subject: String,
    description: String,
    priority: String,
}

fn new_form_body(p: &Portal, typed: &Typed, failure: Option<&ApiFailure>) -> Markup {
    let priorities = &p.company.priorities;
    let chosen = if typed.priority.is_empty() {
        "medium"
    } else {
        typed.priority.as_str()
    };
    html! {
        h1 { "Open a ticket" }
        @if let Some(f) = failure {
            p.problem #problem role="alert" { (f.message) }
            (crate::layout::field_problems(&f.fields))
        }
        form.stack method="post" action=(p.href("/tickets/new")) enctype="multipart/form-data" {
            (p.csrf())
            (crate::layout::once_field())
            label for="subject" { "Subject" }
            input #subject name="subject" required maxlength="300" value=(typed.subject);
            label for="description" { "What happened?" }
            textarea #description name="description" rows="8" required { (typed.description) }
            @if priorities.len() > 1 {
                label for="priority" { "Priority" }
                select #priority name="priority" {
                    @for pr in priorities {
                        option value=(pr.as_str()) selected[pr.as_str() == chosen] { (pr.as_str()) }
                    }
                }
            }
            label for="attachments" { "Attachments " span.hint { "(optional, up to 1 MB in all)" } }
            input #attachments name="attachments" type="file" multiple;
            button type="submit" #open-ticket { "Open the ticket" }
        }
    }
}

/// `GET /portal/{slug}/tickets/new`.
pub async fn new_form(p: Portal) -> Response {
    let body = new_form_body(&p, &Typed::default(), None);
    p.page(PortalSection::Tickets, "Open a ticket", body)
}

/// The files of a form as the API takes them (base64).
fn attachments(up: &Upload) -> Vec<Value> {
    use base64::Engine;
    up.files_in("attachments")
        .map(|file| {
            json!({
                "filename": file.filename,
                "content_type": (!file.content_type.is_empty()).then_some(&file.content_type),
                "content_base64": base64::engine::general_purpose::STANDARD.encode(&file.bytes),
            })
        })
        .collect()
}

/// `POST /portal/{slug}/tickets/new`.
pub async fn create(p: Portal, PortalUpload(up): PortalUpload) -> Response {
    let typed = Typed {
        subject: up.field("subject").to_owned(),
        description: up.field("description").to_owned(),
        priority: up.field("priority").to_owned(),
    };
    let mut body = json!({
        "subject": typed.subject,
        "description": typed.description,
        "attachments": attachments(&up),
    });
    if !typed.priority.is_empty() {
        body["priority"] = json!(typed.priority);
    }
    match p
        .api
        .once(up.field(crate::layout::ONCE_FIELD))
        .send::<PortalTicketThread>(Method::POST, "/api/v1/portal/tickets", &body)
        .await
    {
        Ok(t) => see_other(&p.href(&format!("/tickets/{}", t.ticket.id))),
        Err(f) if f.is_validation() => {
            let form = new_form_body(&p, &typed, Some(&f));
            p.page_with(
                f.status,
                Some(PortalSection::Tickets),
                "Open a ticket",
                form,
            )
        }
        Err(f) => f.into_response(),
    }
}

/// `GET /portal/{slug}/tickets/{id}`.
pub async fn show(
    p: Portal,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    ticket_page(&p, id, None, "").await
}

fn message(p: &Portal, ticket: TicketId, m: &PortalMessage) -> Markup {
    let class = if m.kind == MessageKind::Reply {
        "message reply"
    } else {
        "message"
    };
    html! {
        article class=(class) {
            h3 {
                (m.author_name) " "
                span.muted { (p.fmt.datetime(m.created_at)) }
            }
            p.body { @for (i, line) in m.body.lines().enumerate() { @if i > 0 { br; } (line) } }
            @if !m.attachments.is_empty() {
                ul.attachments {
                    @for a in &m.attachments {
                        li { a href=(p.href(&format!("/tickets/{ticket}/attachments/{}", a.id))) { (a.filename) } " " span.muted { "(" (a.size_bytes) " bytes)" } }
                    }
                }
            }
        }
    }
}

async fn ticket_page(
    p: &Portal,
    id: TicketId,
    failure: Option<ApiFailure>,
    typed: &str,
) -> Result<Response, ApiFailure> {
    let thread: PortalTicketThread = p.api.get(format!("/api/v1/portal/tickets/{id}")).await?;
    let t = &thread.ticket;
    let closed = t.status == TicketStatus::Closed;
    // A merged ticket stays closed: its conversation goes on elsewhere.
    let done = t.status.is_done() && t.merged_into.is_none();
    let status = match &failure {
        Some(f) => f.status,
        None => StatusCode::OK,
    };
    let body = html! {
        h1 { (t.subject) }
        dl.figures {
            dt { "Ticket" } dd #ticket-token { (t.token) }
            dt { "Status" } dd #ticket-status { (status_label(t.status)) }
            dt { "Priority" } dd { (t.priority.as_str()) }
            dt { "Opened" } dd { (p.fmt.datetime(t.created_at)) }
        }
        @if let Some(f) = &failure {
            p.problem #problem role="alert" { (f.message) }
            (crate::layout::field_problems(&f.fields))
        }
        section #thread aria-label="Conversation" {
            @for m in &thread.messages {
                (message(p, id, m))
            }
        }
        @if let Some(into) = &t.merged_into {
            p.notice #merged-into role="status" { "This ticket was merged into " (into) ": its conversation goes on there." }
        } @else if closed {
            p.muted { "This ticket is closed. Reopen it to write again." }
        } @else {
            form.stack method="post" action=(p.href(&format!("/tickets/{id}/reply"))) enctype="multipart/form-data" {
                (p.csrf())
                (crate::layout::once_field())
                label for="body" { "Your reply" }
                textarea #body name="body" rows="6" required { (typed) }
                label for="attachments" { "Attachments " span.hint { "(optional)" } }
                input #attachments name="attachments" type="file" multiple;
                button type="submit" #send-reply { "Send the reply" }
            }
        }
        div.inline {
            @if !closed {
                form method="post" action=(p.href(&format!("/tickets/{id}/close"))) {
                    (p.csrf())
                    button type="submit" #close-ticket { "Close the ticket" }
                }
            }
            @if done {
                form method="post" action=(p.href(&format!("/tickets/{id}/reopen"))) {
                    (p.csrf())
                    button type="submit" #reopen-ticket { "Reopen the ticket" }
                }
                p.hint.muted { "A ticket can be reopened up to " (p.company.reopen_days) " days after it was closed." }
            }
        }
    };
    Ok(p.page_with(status, Some(PortalSection::Tickets), &t.subject, body))
}

/// An action on a ticket: back to it, or (422, 409) its page saying why.
async fn act(p: Portal, id: TicketId, path: String, body: Value, typed: &str) -> Response {
    match p.api.send::<Value>(Method::POST, path, &body).await {
        Ok(_) => see_other(&p.href(&format!("/tickets/{id}"))),
        Err(f) if f.is_validation() || f.status == StatusCode::CONFLICT => {
            match ticket_page(&p, id, Some(f), typed).await {
                Ok(r) => r,
                Err(f) => f.into_response(),
            }
        }
        Err(f) => f.into_response(),
    }
}

/// `POST /portal/{slug}/tickets/{id}/reply`. Posted twice (a double
/// click), the reply is stored once: the form's key goes with it.
pub async fn reply(
    mut p: Portal,
    Path((_, id)): Path<(String, String)>,
    PortalUpload(up): PortalUpload,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let text = up.field("body").to_owned();
    let body = json!({"body": text, "attachments": attachments(&up)});
    let path = format!("/api/v1/portal/tickets/{id}/replies");
    p.api = p.api.once(up.field(crate::layout::ONCE_FIELD));
    Ok(act(p, id, path, body, &text).await)
}

/// `POST /portal/{slug}/tickets/{id}/close`.
pub async fn close(
    p: Portal,
    Path((_, id)): Path<(String, String)>,
    PortalForm(NoFields {}): PortalForm<NoFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let path = format!("/api/v1/portal/tickets/{id}/close");
    Ok(act(p, id, path, json!({}), "").await)
}

/// `POST /portal/{slug}/tickets/{id}/reopen`.
pub async fn reopen(
    p: Portal,
    Path((_, id)): Path<(String, String)>,
    PortalForm(NoFields {}): PortalForm<NoFields>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let path = format!("/api/v1/portal/tickets/{id}/reopen");
    Ok(act(p, id, path, json!({}), "").await)
}

/// `GET /portal/{slug}/tickets/{id}/attachments/{attachment_id}`.
pub async fn attachment(
    p: Portal,
    Path((_, id, attachment)): Path<(String, String, String)>,
) -> Result<Response, ApiFailure> {
    let id = ticket_id(&id)?;
    let attachment: AttachmentId = attachment
        .parse()
        .map_err(|_| ApiFailure::not_found("attachment"))?;
    let a = p
        .api
        .bytes(
            Method::GET,
            format!("/api/v1/portal/tickets/{id}/attachments/{attachment}"),
            ApiBody::Empty,
            None,
        )
        .await?;
    Ok(a.into_download())
}
