//! Tickets: CRUD, assignment and status (one by one and in bulk), messages
//! (public replies mailed to the contact and the watchers, internal notes)
//! with attachments, watchers, and history. Techs and admins.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::platform::mail::MailMessage;
use nestogy_domain::service_desk::checklists::{
    self, ChecklistItem, ChecklistItemPatch, NewChecklistItem,
};
use nestogy_domain::service_desk::sla::{self, SlaEvent};
use nestogy_domain::service_desk::sla_clock::SlaState;
use nestogy_domain::service_desk::ticket_merge::{self, Moved, TicketMove};
use nestogy_domain::service_desk::ticket_views::{self, NewTicketView, TicketView};
use nestogy_domain::service_desk::ticket_watchers::{self, NewWatcher, Watcher};
use nestogy_domain::service_desk::tickets::{
    self, MessageKind, NewMessageRecord, NewTicket, Priority, StatusChange, Ticket, TicketFilter,
    TicketMessage, TicketPatch, TicketStatus,
};
use nestogy_domain::{
    AttachmentId, ChecklistItemId, ClientId, DomainError, MailId, TenantId, TenantTx, TicketId,
    TicketMessageId, TicketViewId, TicketWatcherId, UserId,
};
use nestogy_jobs::mail as mailer;
use nestogy_jobs::tickets as ticket_jobs;
use nestogy_jobs::{JobContext, PendingPush};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tickets, create_ticket))
        .routes(routes!(list_views, create_view))
        .routes(routes!(delete_view))
        .routes(routes!(get_ticket, update_ticket, delete_ticket))
        .routes(routes!(assign_ticket))
        .routes(routes!(set_ticket_status))
        .routes(routes!(bulk_assign))
        .routes(routes!(bulk_status))
        .routes(routes!(list_messages, add_message))
        .routes(routes!(get_attachment))
        .routes(routes!(ticket_history))
        .routes(routes!(merge_ticket))
        .routes(routes!(split_ticket))
        .routes(routes!(list_watchers, add_watcher))
        .routes(routes!(remove_watcher))
        .routes(routes!(list_checklist, add_checklist_item))
        .routes(routes!(update_checklist_item, delete_checklist_item))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// One status or several, comma-separated (`new,open`).
    pub status: Option<String>,
    pub priority: Option<Priority>,
    pub client_id: Option<ClientId>,
    pub assignee_id: Option<UserId>,
    /// `true`: only tickets nobody holds.
    pub unassigned: Option<bool>,
    pub sla_state: Option<SlaState>,
    pub tag: Option<String>,
    /// Full-text search in subjects and messages (web-search syntax:
    /// words, "phrases", -exclusions).
    pub q: Option<String>,
}

/// List tickets, newest first.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(TicketListQuery),
    responses((status = 200, body = Page<Ticket>), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_tickets(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<TicketListQuery>,
) -> ApiResult<axum::Json<Page<Ticket>>> {
    p.require(Permission::TicketsRead)?;
    let mut v = ValidationErrors::new();
    let page = PageRequest::parse(&mut v, q.limit, q.cursor.as_deref());
    let filter = filter_of(&mut v, q)?;
    v.finish()?;
    let mut tx = p.tx(&s).await?;
    let page = tickets::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// The list's filters of `q` (its `limit` and `cursor` are the caller's),
/// with their problems in `v`; an unknown status is a malformed query.
fn filter_of(v: &mut ValidationErrors, q: TicketListQuery) -> ApiResult<TicketFilter> {
    let mut statuses = Vec::new();
    for part in q.status.as_deref().unwrap_or_default().split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        // An unknown value is a malformed query, as for the other filters.
        let st = TicketStatus::parse(part).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_query",
                format!(
                    "the query string is invalid: unknown status {part:?}; \
                     expected new, open, in_progress, waiting_on_client, resolved or closed"
                ),
            )
        })?;
        statuses.push(st);
    }
    let text = |x: Option<String>| x.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let query = text(q.q);
    if query.as_ref().is_some_and(|s| s.chars().count() > 200) {
        v.add("q", "too_long", "q must be at most 200 characters");
    }
    Ok(TicketFilter {
        statuses,
        priority: q.priority,
        client_id: q.client_id,
        assignee_id: q.assignee_id,
        unassigned: q.unassigned.unwrap_or(false),
        sla_state: q.sla_state,
        tag: text(q.tag).map(|t| t.to_lowercase()),
        q: query,
    })
}

/// The signed-in user's saved views of the ticket queue, by name.
#[utoipa::path(get, path = "/api/v1/tickets/views", tag = "tickets",
    responses((status = 200, body = Vec<TicketView>)),
    security(("bearer" = [])))]
async fn list_views(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Vec<TicketView>>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    let views = ticket_views::list(&mut tx, p.user_id).await?;
    tx.end_read();
    Ok(axum::Json(views))
}

/// Save a view of the ticket queue: a name and the list's filters as a
/// query string (`status=new,open&priority=high`), checked as the list
/// checks them; `limit` and `cursor` are not filters. Each user keeps up to
/// 50 views, with distinct names; they are theirs alone.
#[utoipa::path(post, path = "/api/v1/tickets/views", tag = "tickets", request_body = NewTicketView,
    responses((status = 201, body = TicketView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_view(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewTicketView>,
) -> ApiResult<(StatusCode, axum::Json<TicketView>)> {
    p.require(Permission::TicketsRead)?;
    let mut v = ValidationErrors::new();
    let name = ticket_views::check_name(&mut v, &body.name);
    let query = body.query.trim().trim_start_matches('?').to_owned();
    if query.len() > ticket_views::MAX_QUERY {
        v.add(
            "query",
            "too_long",
            format!("query must be at most {} bytes", ticket_views::MAX_QUERY),
        );
    } else {
        match serde_urlencoded::from_str::<TicketListQuery>(&query) {
            Ok(q) if q.limit.is_some() || q.cursor.is_some() => v.add(
                "query",
                "invalid",
                "a view keeps filters only: leave out limit and cursor",
            ),
            Ok(q) => {
                let mut inner = ValidationErrors::new();
                match filter_of(&mut inner, q) {
                    Ok(_) if inner.is_empty() => {}
                    Ok(_) => v.add("query", "invalid", "query has a filter the list refuses"),
                    Err(e) => v.add("query", "invalid", e.to_string()),
                }
            }
            Err(e) => v.add(
                "query",
                "invalid",
                format!("query is not a ticket list's filters: {e}"),
            ),
        }
    }
    v.finish()?;
    let mut tx = p.tx(&s).await?;
    let view = ticket_views::create(&mut tx, p.user_id, &name, &query).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Delete one of the signed-in user's saved views.
#[utoipa::path(delete, path = "/api/v1/tickets/views/{id}", tag = "tickets", params(("id" = TicketViewId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_view(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketViewId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    ticket_views::delete(&mut tx, p.user_id, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open a ticket. Its description becomes the first message.
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", request_body = NewTicket,
    responses((status = 201, body = Ticket), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_ticket(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewTicket>,
) -> ApiResult<(StatusCode, axum::Json<Ticket>)> {
    p.require(Permission::TicketsWrite)?;
    let ctx = s.jobs();
    let mut tx = p.tx(&s).await?;
    let t = tickets::create(&mut tx, body, Some(p.user_id)).await?;
    sla::refresh(&mut tx, Some(&[t.id])).await?;
    let t = tickets::get(&mut tx, t.id).await?;
    let notice = ticket_jobs::notify_assigned(&mut tx, &ctx, &t, Some(p.user_id)).await?;
    p.audit(&mut tx, "ticket.created", "ticket", t.id.as_uuid(), &t)
        .await?;
    let pending = dispatch_in(&mut tx, notice.map(|m| m.id)).await?;
    tx.commit().await?;
    pending.push(&s.queue).await;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

/// Records in `tx`, the transaction that creates the notice, its delivery
/// job; push the answer after `tx` commits.
async fn dispatch_in(tx: &mut TenantTx, mail: Option<MailId>) -> ApiResult<PendingPush> {
    let ids: Vec<MailId> = mail.into_iter().collect();
    let (_, pending) = mailer::dispatch_in(tx, &ids).await?;
    Ok(pending)
}

/// Get a ticket.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = Ticket), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_ticket(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
) -> ApiResult<axum::Json<Ticket>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    let t = tickets::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(t))
}

/// Change a ticket's subject, client, contact, asset, priority or tags.
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = TicketPatch,
    responses((status = 200, body = Ticket), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_ticket(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Json(body): Json<TicketPatch>,
) -> ApiResult<axum::Json<Ticket>> {
    p.require(Permission::TicketsWrite)?;
    let reprioritised = body.priority.is_some();
    let mut tx = p.tx(&s).await?;
    let mut t = tickets::update(&mut tx, id, body).await?;
    if reprioritised {
        sla::refresh(&mut tx, Some(&[id])).await?;
        t = tickets::get(&mut tx, id).await?;
    }
    p.audit(&mut tx, "ticket.updated", "ticket", id.as_uuid(), &t)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(t))
}

/// Delete a ticket with its messages and attachments.
#[utoipa::path(delete, path = "/api/v1/tickets/{id}", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_ticket(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let t = tickets::get(&mut tx, id).await?;
    tickets::delete(&mut tx, id).await?;
    p.audit(&mut tx, "ticket.deleted", "ticket", id.as_uuid(), &t)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// A tech or admin; `null` unassigns.
    pub assignee_id: Option<UserId>,
}

/// Assign a ticket (the assignee is told by mail, unless they took it).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/assign", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = AssignRequest,
    responses((status = 200, body = Ticket), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn assign_ticket(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Json(body): Json<AssignRequest>,
) -> ApiResult<axum::Json<Ticket>> {
    p.require(Permission::TicketsWrite)?;
    let ctx = s.jobs();
    let mut tx = p.tx(&s).await?;
    let (t, changed) = tickets::assign(&mut tx, id, body.assignee_id).await?;
    let mut notice = None;
    if changed {
        notice = ticket_jobs::notify_assigned(&mut tx, &ctx, &t, Some(p.user_id)).await?;
        p.audit(&mut tx, "ticket.assigned", "ticket", id.as_uuid(), &t)
            .await?;
    }
    let pending = dispatch_in(&mut tx, notice.map(|m| m.id)).await?;
    tx.commit().await?;
    pending.push(&s.queue).await;
    Ok(axum::Json(t))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    pub status: TicketStatus,
}

/// Move a ticket to another status. Its contact watchers are told by mail
/// ("Ticket [#12-K7QX] is now resolved"), once per change. Resolving or
/// closing a ticket with required checklist items open is 409
/// `checklist_open`, listing them.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/status", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = StatusRequest,
    responses((status = 200, body = Ticket), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_ticket_status(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Json(body): Json<StatusRequest>,
) -> ApiResult<axum::Json<Ticket>> {
    p.require(Permission::TicketsWrite)?;
    let ctx = s.jobs();
    let mut tx = p.tx(&s).await?;
    let before = tickets::lock(&mut tx, id).await?;
    tickets::set_status(&mut tx, id, body.status, Some(p.user_id)).await?;
    sla::refresh(&mut tx, Some(&[id])).await?;
    let t = tickets::get(&mut tx, id).await?;
    let mut mails = Vec::new();
    if before.status != t.status {
        mails = status_mails(&mut tx, &ctx, &t).await?;
    }
    p.audit(&mut tx, "ticket.status_changed", "ticket", id.as_uuid(), &t)
        .await?;
    let (_, pending) = mailer::dispatch_in(&mut tx, &mails).await?;
    tx.commit().await?;
    pending.push(&s.queue).await;
    Ok(axum::Json(t))
}

/// The mails telling the contact watchers of `t` that its status just
/// changed (in this transaction); dispatch them in it.
async fn status_mails(tx: &mut TenantTx, ctx: &JobContext, t: &Ticket) -> ApiResult<Vec<MailId>> {
    let Some(change) = tickets::last_status_change(tx, t.id).await? else {
        return Ok(Vec::new());
    };
    let mails = ticket_jobs::notify_watchers_of_status(tx, ctx, t, change).await?;
    Ok(mails.into_iter().map(|m| m.id).collect())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkAssignRequest {
    /// 1 to 500 tickets; all are changed or none.
    pub ids: Vec<TicketId>,
    pub assignee_id: Option<UserId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    /// The tickets that changed.
    pub changed: Vec<Ticket>,
}

/// Assign many tickets at once, all or none.
#[utoipa::path(post, path = "/api/v1/tickets/bulk-assign", tag = "tickets", request_body = BulkAssignRequest,
    responses((status = 200, body = BulkResult), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn bulk_assign(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<BulkAssignRequest>,
) -> ApiResult<axum::Json<BulkResult>> {
    p.require(Permission::TicketsWrite)?;
    let ctx = s.jobs();
    let mut tx = p.tx(&s).await?;
    let changed = tickets::bulk_assign(&mut tx, &body.ids, body.assignee_id).await?;
    let mut notices = Vec::new();
    for t in &changed {
        if let Some(m) = ticket_jobs::notify_assigned(&mut tx, &ctx, t, Some(p.user_id)).await? {
            notices.push(m.id);
        }
        p.audit(&mut tx, "ticket.assigned", "ticket", t.id.as_uuid(), t)
            .await?;
    }
    let (_, pending) = mailer::dispatch_in(&mut tx, &notices).await?;
    tx.commit().await?;
    pending.push(&s.queue).await;
    Ok(axum::Json(BulkResult { changed }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkStatusRequest {
    /// 1 to 500 tickets; all are changed or none.
    pub ids: Vec<TicketId>,
    pub status: TicketStatus,
}

/// Set the status of many tickets at once, all or none; contact watchers
/// are told as for one. Resolving or closing one with required checklist
/// items open is 409 `checklist_open` for all.
#[utoipa::path(post, path = "/api/v1/tickets/bulk-status", tag = "tickets", request_body = BulkStatusRequest,
    responses((status = 200, body = BulkResult), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn bulk_status(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<BulkStatusRequest>,
) -> ApiResult<axum::Json<BulkResult>> {
    p.require(Permission::TicketsWrite)?;
    let ctx = s.jobs();
    let mut tx = p.tx(&s).await?;
    let all = tickets::bulk_status(&mut tx, &body.ids, body.status, Some(p.user_id)).await?;
    let ids: Vec<TicketId> = all.iter().map(|t| t.id).collect();
    sla::refresh(&mut tx, Some(&ids)).await?;
    let mut changed = Vec::with_capacity(ids.len());
    let mut mails = Vec::new();
    for id in ids {
        let t = tickets::get(&mut tx, id).await?;
        mails.extend(status_mails(&mut tx, &ctx, &t).await?);
        p.audit(&mut tx, "ticket.status_changed", "ticket", id.as_uuid(), &t)
            .await?;
        changed.push(t);
    }
    let (_, pending) = mailer::dispatch_in(&mut tx, &mails).await?;
    tx.commit().await?;
    pending.push(&s.queue).await;
    Ok(axum::Json(BulkResult { changed }))
}

/// A ticket's messages, oldest first.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/messages", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = Vec<TicketMessage>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_messages(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
) -> ApiResult<axum::Json<Vec<TicketMessage>>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    tickets::get(&mut tx, id).await?;
    let m = tickets::messages(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(m))
}

/// A file sent with a message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAttachment {
    pub filename: String,
    /// Default `application/octet-stream`.
    pub content_type: Option<String>,
    /// The bytes, base64 (standard alphabet). A request is at most 1 MiB.
    pub content_base64: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessageRequest {
    /// `reply` (mailed to the contact), `note` (internal) or `incoming`
    /// (something the client said by other means, e.g. on the phone).
    pub kind: MessageKind,
    pub body: String,
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageCreated {
    pub message: TicketMessage,
    /// For a reply: the mail in the mail log (`GET /api/v1/mail/{id}`).
    pub mail_id: Option<MailId>,
    /// For a reply: the delivery job.
    pub job_id: Option<uuid::Uuid>,
}

/// Add a public reply (mailed to the contact, threaded so the answer comes
/// back to this ticket, and a copy mailed to each watcher), an internal
/// note (mailed to no one), or an incoming message.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/messages", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = NewMessageRequest,
    responses((status = 201, body = MessageCreated), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A reply on a ticket with no one to mail it to"),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_message(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Json(body): Json<NewMessageRequest>,
) -> ApiResult<(StatusCode, axum::Json<MessageCreated>)> {
    p.require(Permission::TicketsWrite)?;
    let (text, files) = read_message(&body.body, &body.attachments)?;
    let ctx = s.jobs();
    let stored = store_attachments(&ctx, p.tenant, id, files).await?;
    let mut tx = p.tx(&s).await?;
    let ticket = tickets::lock(&mut tx, id).await?;
    if ticket.merged_into.is_some() {
        return Err(DomainError::conflict(
            "ticket_merged",
            "the ticket was merged into another one: write there",
        )
        .into());
    }
    let (msg_id, mail, copies) =
        record_message(&mut tx, &ctx, &p, &ticket, body.kind, text, &stored).await?;
    sla::refresh(&mut tx, Some(&[id])).await?;
    let message = tickets::message(&mut tx, id, msg_id).await?;
    p.audit(
        &mut tx,
        "ticket.message_added",
        "ticket",
        id.as_uuid(),
        &message,
    )
    .await?;
    // The reply's mail and its delivery job commit with the message.
    let ids: Vec<MailId> = mail.iter().chain(&copies).map(|m| m.id).collect();
    let (jobs, pending) = mailer::dispatch_in(&mut tx, &ids).await?;
    tx.commit().await?;
    pending.push(&ctx.queue).await;
    let job_id = jobs.first().map(|j| j.as_uuid());
    Ok((
        StatusCode::CREATED,
        axum::Json(MessageCreated {
            message,
            mail_id: mail.map(|m| m.id),
            job_id,
        }),
    ))
}

/// An attachment as sent, its bytes decoded.
pub(crate) struct DecodedFile {
    filename: String,
    content_type: String,
    bytes: Vec<u8>,
}

/// The message's text and its files decoded from base64, or every problem
/// with them at once (422).
pub(crate) fn read_message(
    body: &str,
    attachments: &[NewAttachment],
) -> ApiResult<(String, Vec<DecodedFile>)> {
    let mut v = ValidationErrors::new();
    let text = v.required_text("body", body, 100_000);
    let files = read_attachments(&mut v, attachments);
    v.finish()?;
    Ok((text, files))
}

/// The files decoded from base64, their problems in `v`.
pub(crate) fn read_attachments(
    v: &mut ValidationErrors,
    attachments: &[NewAttachment],
) -> Vec<DecodedFile> {
    tickets::check_attachment_count(v, attachments.len());
    let mut files = Vec::new();
    for (i, a) in attachments.iter().enumerate() {
        let field = format!("attachments[{i}]");
        let Some(filename) = tickets::attachment_filename(v, &field, &a.filename) else {
            continue;
        };
        match base64::engine::general_purpose::STANDARD.decode(a.content_base64.trim()) {
            Ok(bytes) => files.push(DecodedFile {
                filename,
                content_type: tickets::attachment_content_type(a.content_type.as_deref()),
                bytes,
            }),
            Err(_) => v.add(&field, "invalid", "content_base64 is not valid base64"),
        }
    }
    files
}

/// Puts the files in the object store before the message is written, each
/// named by its content, so a retried request writes the same objects
/// (503 when the store does not take one).
pub(crate) async fn store_attachments(
    ctx: &JobContext,
    tenant: TenantId,
    ticket: TicketId,
    files: Vec<DecodedFile>,
) -> ApiResult<Vec<ticket_jobs::StoredFile>> {
    let mut stored = Vec::with_capacity(files.len());
    for f in files {
        let key = tickets::attachment_key(tenant, ticket, &f.filename, &f.bytes);
        let size = f.bytes.len() as i64;
        ctx.services.files.put(&key, f.bytes).await.map_err(|e| {
            ApiError::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                format!("the file store did not take the attachment: {e}"),
            )
        })?;
        stored.push(ticket_jobs::StoredFile {
            filename: f.filename,
            content_type: f.content_type,
            size,
            key,
        });
    }
    Ok(stored)
}

/// Stores the message with its files: a reply with its mail to the contact
/// (a retried request finds the reply it made, whose files are recorded
/// already) and its copies to the watchers, another kind as it is (a note
/// reaches no one). Returns the message and, for a reply, the mail to the
/// contact and the watchers' copies, to send after commit.
async fn record_message(
    tx: &mut TenantTx,
    ctx: &JobContext,
    p: &Principal,
    ticket: &Ticket,
    kind: MessageKind,
    text: String,
    stored: &[ticket_jobs::StoredFile],
) -> ApiResult<(TicketMessageId, Option<MailMessage>, Vec<MailMessage>)> {
    let request = p
        .request_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let (msg_id, mail, copies, created) = match kind {
        MessageKind::Reply => {
            let r = ticket_jobs::public_reply(
                tx,
                ctx,
                ticket,
                &text,
                stored,
                Some(p.user_id),
                &request,
            )
            .await?;
            (r.message, Some(r.mail), r.watcher_mails, r.created)
        }
        kind => {
            let m = tickets::add_message(
                tx,
                ticket,
                NewMessageRecord {
                    kind,
                    author_id: Some(p.user_id),
                    from_address: None,
                    from_name: None,
                    body: text.clone(),
                    full_body: text,
                    message_id: None,
                    inbound_id: None,
                    mail_id: None,
                    automated: None,
                },
            )
            .await?;
            (m, None, Vec::new(), true)
        }
    };
    if created {
        record_attachments(tx, ticket.id, msg_id, stored).await?;
    }
    Ok((msg_id, mail, copies))
}

/// Records the stored files as the attachments of message `msg`.
pub(crate) async fn record_attachments(
    tx: &mut TenantTx,
    ticket: TicketId,
    msg: TicketMessageId,
    stored: &[ticket_jobs::StoredFile],
) -> ApiResult<()> {
    for f in stored {
        tickets::add_attachment(
            tx,
            ticket,
            msg,
            &f.filename,
            &f.content_type,
            f.size,
            &f.key,
        )
        .await?;
    }
    Ok(())
}

/// Download an attachment of a ticket.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/attachments/{attachment_id}", tag = "tickets",
    params(("id" = TicketId, Path), ("attachment_id" = AttachmentId, Path)),
    responses((status = 200, description = "The file"), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_attachment(
    p: Principal,
    State(s): State<AppState>,
    Path((id, attachment)): Path<(TicketId, AttachmentId)>,
) -> ApiResult<Response> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    let (a, key) = tickets::attachment(&mut tx, id, attachment).await?;
    tx.end_read();
    download(&s, &a, &key).await
}

/// The bytes of attachment `a`, kept at `key` in the file store, as a
/// download.
pub(crate) async fn download(
    s: &AppState,
    a: &tickets::Attachment,
    key: &str,
) -> ApiResult<Response> {
    let (size, stream) = s.jobs().services.files.stream(key).await.map_err(|e| {
        if e.is_not_found() {
            ApiError::from(DomainError::not_found("attachment"))
        } else {
            ApiError::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                format!("the file store did not answer: {e}"),
            )
        }
    })?;
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&a.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(
        header::CONTENT_DISPOSITION,
        crate::download::content_disposition("attachment", &a.filename),
    );
    Ok(resp)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketHistory {
    pub status_changes: Vec<StatusChange>,
    /// SLA warnings and breaches, each once.
    pub sla_events: Vec<SlaEvent>,
    /// Merges and splits the ticket took part in.
    pub moves: Vec<TicketMove>,
}

/// A ticket's status changes and SLA events.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/history", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = TicketHistory), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn ticket_history(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
) -> ApiResult<axum::Json<TicketHistory>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    tickets::get(&mut tx, id).await?;
    let status_changes = tickets::status_history(&mut tx, id).await?;
    let sla_events = sla::events(&mut tx, id).await?;
    let moves = ticket_merge::moves(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(TicketHistory {
        status_changes,
        sla_events,
        moves,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The ticket to merge into: its id, or its number (`12` or `#12`).
    pub into: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MergeResult {
    /// The ticket merged into, now holding the thread.
    pub into: Ticket,
    /// The merged ticket: closed, `merged_into` set.
    pub merged: Ticket,
    /// What moved (the first merge's count when asked again).
    pub moved: Moved,
}

/// Merge this ticket (B) into another (A): B's messages with their
/// attachments, time entries and watchers move to A (each watcher once;
/// B's contact watches A when A's contact is someone else); B is closed
/// with `merged_into`, whatever its checklist says; mail to B's thread
/// lands on A. Asking again answers the same result. Refused: into itself
/// (422 `same_ticket`), into a merged ticket (409 `target_merged`), B merged
/// elsewhere already (409 `already_merged`), another client's ticket (409
/// `different_clients`; B without a client may join any).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/merge", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = MergeRequest,
    responses((status = 200, body = MergeResult), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn merge_ticket(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Json(body): Json<MergeRequest>,
) -> ApiResult<axum::Json<MergeResult>> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let m = ticket_merge::merge(&mut tx, id, &body.into, Some(p.user_id)).await?;
    if !m.changed {
        tx.end_read();
        return Ok(axum::Json(MergeResult {
            into: m.into,
            merged: m.merged,
            moved: m.moved,
        }));
    }
    let into = m.into.id;
    sla::refresh(&mut tx, Some(&[into, id])).await?;
    let out = MergeResult {
        into: tickets::get(&mut tx, into).await?,
        merged: tickets::get(&mut tx, id).await?,
        moved: m.moved,
    };
    let record = serde_json::json!({"merged": id, "into": into, "moved": out.moved});
    p.audit(&mut tx, "ticket.merged", "ticket", id.as_uuid(), &record)
        .await?;
    p.audit(
        &mut tx,
        "ticket.merged_in",
        "ticket",
        into.as_uuid(),
        &record,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(out))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitRequest {
    /// Messages of this ticket to move; at least one must stay.
    pub message_ids: Vec<TicketMessageId>,
    /// The new ticket's subject.
    pub subject: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SplitResult {
    /// The new ticket, holding the messages.
    pub ticket: Ticket,
    pub moved: Moved,
}

/// Split messages off into a new ticket of the same client and contact
/// (and asset, priority, assignee, tags, mailbox), their attachments with
/// them. Splitting off every message is 422 `all_messages`; a message of
/// another ticket is 422 `not_found`; a merged ticket is 409
/// `ticket_merged`.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/split", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = SplitRequest,
    responses((status = 201, body = SplitResult), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn split_ticket(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Json(body): Json<SplitRequest>,
) -> ApiResult<(StatusCode, axum::Json<SplitResult>)> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let (new, moved) = ticket_merge::split(
        &mut tx,
        id,
        &body.message_ids,
        &body.subject,
        Some(p.user_id),
    )
    .await?;
    sla::refresh(&mut tx, Some(&[new.id, id])).await?;
    let ticket = tickets::get(&mut tx, new.id).await?;
    let record = serde_json::json!({"from": id, "to": new.id, "moved": moved});
    p.audit(&mut tx, "ticket.split", "ticket", id.as_uuid(), &record)
        .await?;
    p.audit(
        &mut tx,
        "ticket.created",
        "ticket",
        new.id.as_uuid(),
        &ticket,
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SplitResult { ticket, moved }),
    ))
}

/// A ticket's watchers: staff and contacts of its client who receive its
/// public replies (each a copy of its own) and, for contacts, its status
/// changes.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/watchers", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = Vec<Watcher>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_watchers(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
) -> ApiResult<axum::Json<Vec<Watcher>>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    tickets::get(&mut tx, id).await?;
    let w = ticket_watchers::list(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(w))
}

/// Add a watcher: `{"user_id"}` (a user of the company) or
/// `{"contact_id"}` (a contact of the ticket's client; another client's is
/// a 422). Someone already watching is a 409.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/watchers", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = NewWatcher,
    responses((status = 201, body = Watcher), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_watcher(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Json(body): Json<NewWatcher>,
) -> ApiResult<(StatusCode, axum::Json<Watcher>)> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let ticket = tickets::lock(&mut tx, id).await?;
    let w = ticket_watchers::add(&mut tx, &ticket, &body, Some(p.user_id)).await?;
    p.audit(&mut tx, "ticket.watcher_added", "ticket", id.as_uuid(), &w)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(w)))
}

/// Remove a watcher from a ticket.
#[utoipa::path(delete, path = "/api/v1/tickets/{id}/watchers/{watcher_id}", tag = "tickets",
    params(("id" = TicketId, Path), ("watcher_id" = TicketWatcherId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn remove_watcher(
    p: Principal,
    State(s): State<AppState>,
    Path((id, watcher)): Path<(TicketId, TicketWatcherId)>,
) -> ApiResult<StatusCode> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    tickets::lock(&mut tx, id).await?;
    let w = ticket_watchers::remove(&mut tx, id, watcher).await?;
    p.audit(
        &mut tx,
        "ticket.watcher_removed",
        "ticket",
        id.as_uuid(),
        &w,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A ticket's checklist, in order.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/checklist", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = Vec<ChecklistItem>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_checklist(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
) -> ApiResult<axum::Json<Vec<ChecklistItem>>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    let items = checklists::list(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(items))
}

/// Add an item at the end of a ticket's checklist (at most 100 items).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/checklist", tag = "tickets", params(("id" = TicketId, Path)),
    request_body = NewChecklistItem,
    responses((status = 201, body = ChecklistItem), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn add_checklist_item(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketId>,
    Json(body): Json<NewChecklistItem>,
) -> ApiResult<(StatusCode, axum::Json<ChecklistItem>)> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let item = checklists::add(&mut tx, id, body).await?;
    p.audit(
        &mut tx,
        "ticket.checklist_item_added",
        "ticket",
        id.as_uuid(),
        &item,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(item)))
}

/// Change a checklist item's text or required flag, or tick it off
/// (`{"done": true}` records who and when) or open it again.
#[utoipa::path(patch, path = "/api/v1/tickets/{id}/checklist/{item_id}", tag = "tickets",
    params(("id" = TicketId, Path), ("item_id" = ChecklistItemId, Path)),
    request_body = ChecklistItemPatch,
    responses((status = 200, body = ChecklistItem), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_checklist_item(
    p: Principal,
    State(s): State<AppState>,
    Path((id, item_id)): Path<(TicketId, ChecklistItemId)>,
    Json(body): Json<ChecklistItemPatch>,
) -> ApiResult<axum::Json<ChecklistItem>> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let item = checklists::update(&mut tx, id, item_id, body, Some(p.user_id)).await?;
    p.audit(
        &mut tx,
        "ticket.checklist_item_updated",
        "ticket",
        id.as_uuid(),
        &item,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(item))
}

/// Remove an item from a ticket's checklist.
#[utoipa::path(delete, path = "/api/v1/tickets/{id}/checklist/{item_id}", tag = "tickets",
    params(("id" = TicketId, Path), ("item_id" = ChecklistItemId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_checklist_item(
    p: Principal,
    State(s): State<AppState>,
    Path((id, item_id)): Path<(TicketId, ChecklistItemId)>,
) -> ApiResult<StatusCode> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let item = checklists::delete(&mut tx, id, item_id).await?;
    p.audit(
        &mut tx,
        "ticket.checklist_item_deleted",
        "ticket",
        id.as_uuid(),
        &item,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
