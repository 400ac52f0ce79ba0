//! The client portal's tickets, as a JSON API for signed-in contacts: list
//! them, open one, follow its public thread (never internal notes), reply,
//! close and reopen. A portal reply lands on the ticket as an e-mail reply
//! would: an incoming message from the contact, with the same status and
//! SLA effects and the same `ticket.replied` event.
//!
//! Every route finds the ticket through
//! [`portal::tickets::visible`](nestogy_domain::portal::tickets::visible):
//! a ticket the contact may not see answers 404, as an id that names
//! nothing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Duration;
use nestogy_domain::identity::company;
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::portal::tickets::{self as portal_tickets, PortalMessage, PortalTicket};
use nestogy_domain::service_desk::sla;
use nestogy_domain::service_desk::tickets::{
    self, MessageKind, NewMessageRecord, Priority, Ticket, TicketDraft, TicketSource, TicketStatus,
};
use nestogy_domain::{AttachmentId, DomainError, TenantTx, TicketId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::ContactPrincipal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::routes::tickets::{
    NewAttachment, download, read_attachments, read_message, record_attachments, store_attachments,
};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, open))
        .routes(routes!(get))
        .routes(routes!(reply))
        .routes(routes!(close))
        .routes(routes!(reopen))
        .routes(routes!(attachment))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PortalTicketQuery {
    /// `open` (not resolved or closed), `closed` (resolved or closed) or
    /// `all` (default).
    #[param(inline)]
    pub status: Option<portal_tickets::PortalTicketState>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The tickets the contact may see, newest first: a portal admin all of
/// their client's, another contact those opened for them.
#[utoipa::path(get, path = "/api/v1/portal/tickets", tag = "portal", params(PortalTicketQuery),
    responses((status = 200, body = Page<PortalTicket>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Query(q): Query<PortalTicketQuery>,
) -> ApiResult<axum::Json<Page<PortalTicket>>> {
    let mut v = ValidationErrors::new();
    let page = PageRequest::parse(&mut v, q.limit, q.cursor.as_deref());
    v.finish()?;
    let state = q.status.unwrap_or(portal_tickets::PortalTicketState::All);
    let mut tx = c.tx(&s).await?;
    let out = portal_tickets::list(&mut tx, &c.contact, state, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// A ticket with its public thread.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PortalTicketThread {
    pub ticket: PortalTicket,
    /// Incoming messages and public replies, oldest first.
    pub messages: Vec<PortalMessage>,
}

async fn thread_of(
    tx: &mut TenantTx,
    c: &ContactPrincipal,
    id: TicketId,
) -> ApiResult<PortalTicketThread> {
    let t = portal_tickets::visible(tx, &c.contact, id).await?;
    let messages = portal_tickets::thread(tx, &t).await?;
    let ticket = portal_tickets::ticket(tx, &c.contact, id).await?;
    Ok(PortalTicketThread { ticket, messages })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPortalTicket {
    pub subject: String,
    /// What the contact asks for: the ticket's first message.
    pub description: String,
    /// One of the priorities the company lets contacts choose (default
    /// `medium`, or the first it allows when it does not allow `medium`).
    pub priority: Option<Priority>,
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
}

/// Open a ticket for the contact's client: the description is its first
/// message, from the contact, with the attachments. The priority must be
/// one the company allows in its portal (422 on `priority`).
#[utoipa::path(post, path = "/api/v1/portal/tickets", tag = "portal",
    request_body = NewPortalTicket,
    responses((status = 201, body = PortalTicketThread), (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn open(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Json(body): Json<NewPortalTicket>,
) -> ApiResult<(StatusCode, axum::Json<PortalTicketThread>)> {
    let mut v = ValidationErrors::new();
    let subject = v.required_text("subject", &body.subject, 300);
    let description = v.required_text("description", &body.description, 100_000);
    let files = read_attachments(&mut v, &body.attachments);
    let mut tx = c.tx(&s).await?;
    let allowed = company::get(&mut tx).await?.portal_priorities;
    // A company that does not offer `medium` (its portal then shows no
    // choice when it offers one priority) gets its first one by default.
    let priority = body
        .priority
        .unwrap_or_else(|| match allowed.contains(&Priority::Medium) {
            true => Priority::Medium,
            false => allowed.first().copied().unwrap_or(Priority::Medium),
        });
    if !allowed.contains(&priority) {
        let names: Vec<&str> = allowed.iter().map(|p| p.as_str()).collect();
        v.add(
            "priority",
            "not_allowed",
            format!("priority must be one of: {}", names.join(", ")),
        );
    }
    v.finish()?;
    let ctx = s.jobs();
    let contact = &c.contact;
    let t = tickets::insert(
        &mut tx,
        TicketDraft {
            subject,
            client_id: Some(contact.client_id),
            contact_id: Some(contact.id),
            asset_id: None,
            requester_email: contact.email.clone(),
            requester_name: Some(contact.name.clone()),
            priority,
            assignee_id: None,
            source: TicketSource::Portal,
            tags: Vec::new(),
            mailbox_id: None,
            linked_ticket_id: None,
        },
        None,
    )
    .await?;
    let stored = store_attachments(&ctx, c.tenant, t.id, files).await?;
    let msg = tickets::add_message(&mut tx, &t, incoming(&c, description)).await?;
    record_attachments(&mut tx, t.id, msg, &stored).await?;
    sla::refresh(&mut tx, Some(&[t.id])).await?;
    let out = thread_of(&mut tx, &c, t.id).await?;
    c.audit(
        &mut tx,
        "portal.ticket_opened",
        "ticket",
        t.id.as_uuid(),
        &out.ticket,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(out)))
}

/// A message from the contact, as mail from them would be stored.
fn incoming(c: &ContactPrincipal, text: String) -> NewMessageRecord {
    NewMessageRecord {
        kind: MessageKind::Incoming,
        author_id: None,
        from_address: c.contact.email.clone(),
        from_name: Some(c.contact.name.clone()),
        body: text.clone(),
        full_body: text,
        message_id: None,
        inbound_id: None,
        mail_id: None,
        automated: None,
    }
}

/// A ticket the contact may see, with its public thread: incoming messages
/// and public replies with their attachments, never internal notes.
#[utoipa::path(get, path = "/api/v1/portal/tickets/{id}", tag = "portal",
    params(("id" = TicketId, Path)),
    responses((status = 200, body = PortalTicketThread), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
) -> ApiResult<axum::Json<PortalTicketThread>> {
    let mut tx = c.tx(&s).await?;
    let out = thread_of(&mut tx, &c, id).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalReply {
    pub body: String,
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
}

/// Reply on a ticket, as an e-mail reply from the contact would: a
/// resolved ticket or one waiting on the client opens again. A closed
/// ticket takes no reply (409 `ticket_closed`): reopen it first.
#[utoipa::path(post, path = "/api/v1/portal/tickets/{id}/replies", tag = "portal",
    params(("id" = TicketId, Path)), request_body = PortalReply,
    responses((status = 201, body = PortalMessage), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn reply(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Json(body): Json<PortalReply>,
) -> ApiResult<(StatusCode, axum::Json<PortalMessage>)> {
    let (text, files) = read_message(&body.body, &body.attachments)?;
    let ctx = s.jobs();
    let mut tx = c.tx(&s).await?;
    let t = portal_tickets::visible(&mut tx, &c.contact, id).await?;
    refuse_closed(&t)?;
    // The files go to the store before the ticket is locked; the lock then
    // sees whether it closed meanwhile.
    let stored = store_attachments(&ctx, c.tenant, id, files).await?;
    let t = tickets::lock(&mut tx, id).await?;
    refuse_closed(&t)?;
    let msg = tickets::add_message(&mut tx, &t, incoming(&c, text)).await?;
    record_attachments(&mut tx, id, msg, &stored).await?;
    sla::refresh(&mut tx, Some(&[id])).await?;
    let message = portal_tickets::message(&mut tx, &t, msg).await?;
    c.audit(
        &mut tx,
        "portal.ticket_replied",
        "ticket",
        id.as_uuid(),
        &message,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(message)))
}

/// A closed ticket takes no reply: 409 `ticket_closed`.
fn refuse_closed(t: &Ticket) -> ApiResult<()> {
    if t.status == TicketStatus::Closed {
        return Err(DomainError::conflict(
            "ticket_closed",
            "the ticket is closed: reopen it to reply",
        )
        .into());
    }
    Ok(())
}

/// Close a ticket (a closed one stays as it is).
#[utoipa::path(post, path = "/api/v1/portal/tickets/{id}/close", tag = "portal",
    params(("id" = TicketId, Path)),
    responses((status = 200, body = PortalTicket), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn close(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
) -> ApiResult<axum::Json<PortalTicket>> {
    let mut tx = c.tx(&s).await?;
    portal_tickets::visible(&mut tx, &c.contact, id).await?;
    if tickets::lock(&mut tx, id).await?.status == TicketStatus::Closed {
        let t = portal_tickets::ticket(&mut tx, &c.contact, id).await?;
        tx.end_read();
        return Ok(axum::Json(t));
    }
    tickets::set_status(&mut tx, id, TicketStatus::Closed, None).await?;
    sla::refresh(&mut tx, Some(&[id])).await?;
    let t = portal_tickets::ticket(&mut tx, &c.contact, id).await?;
    c.audit(&mut tx, "portal.ticket_closed", "ticket", id.as_uuid(), &t)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(t))
}

/// Reopen a resolved or closed ticket, within the days the company allows
/// after it was resolved or closed (409 `reopen_window_passed` after; 409
/// `not_closed` for a ticket still open).
#[utoipa::path(post, path = "/api/v1/portal/tickets/{id}/reopen", tag = "portal",
    params(("id" = TicketId, Path)),
    responses((status = 200, body = PortalTicket), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn reopen(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
) -> ApiResult<axum::Json<PortalTicket>> {
    let mut tx = c.tx(&s).await?;
    portal_tickets::visible(&mut tx, &c.contact, id).await?;
    let t = tickets::lock(&mut tx, id).await?;
    if !t.status.is_done() {
        return Err(DomainError::conflict(
            "not_closed",
            "the ticket is neither resolved nor closed",
        )
        .into());
    }
    let days = company::get(&mut tx).await?.portal_reopen_days;
    let done = portal_tickets::done_at(&t).unwrap_or(t.updated_at);
    if tx.now() - done > Duration::days(i64::from(days)) {
        return Err(DomainError::conflict(
            "reopen_window_passed",
            format!(
                "a ticket can be reopened up to {days} days after it was resolved or closed; \
                 open a new ticket instead"
            ),
        )
        .into());
    }
    tickets::set_status(&mut tx, id, TicketStatus::Open, None).await?;
    sla::refresh(&mut tx, Some(&[id])).await?;
    let out = portal_tickets::ticket(&mut tx, &c.contact, id).await?;
    c.audit(
        &mut tx,
        "portal.ticket_reopened",
        "ticket",
        id.as_uuid(),
        &out,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(out))
}

/// Download an attachment of the public thread of a ticket the contact may
/// see.
#[utoipa::path(get, path = "/api/v1/portal/tickets/{id}/attachments/{attachment_id}",
    tag = "portal", params(("id" = TicketId, Path), ("attachment_id" = AttachmentId, Path)),
    responses((status = 200, description = "The file"), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn attachment(
    c: ContactPrincipal,
    State(s): State<AppState>,
    Path((id, attachment)): Path<(TicketId, AttachmentId)>,
) -> ApiResult<Response> {
    let mut tx = c.tx(&s).await?;
    let (a, key) = portal_tickets::attachment(&mut tx, &c.contact, id, attachment).await?;
    tx.end_read();
    download(&s, &a, &key).await
}
