//! Canned replies: CRUD (company replies written by admins and read by
//! everyone, personal replies their owner's alone) and rendering one for a
//! ticket, its placeholders filled. Techs and admins.

use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::service_desk::canned_replies::{
    self, CannedReply, CannedReplyPatch, CannedScope, NewCannedReply,
};
use nestogy_domain::{CannedReplyId, TicketId};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::routes::ListQuery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_canned, create_canned))
        .routes(routes!(get_canned, update_canned, delete_canned))
        .routes(routes!(render_canned))
}

/// A company reply is written by admins only; a personal one only by its
/// owner (whom [`canned_replies::lock`] already restricts it to).
fn may_write(p: &Principal, scope: CannedScope) -> ApiResult<()> {
    if scope == CannedScope::Company {
        p.require(Permission::CompanyWrite)?;
    }
    Ok(())
}

/// The canned replies the caller may use: the company's and their own, by
/// title. `q` searches titles.
#[utoipa::path(get, path = "/api/v1/canned-replies", tag = "canned replies", params(ListQuery),
    responses((status = 200, body = Page<CannedReply>), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_canned(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<Page<CannedReply>>> {
    p.require(Permission::TicketsRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let list = canned_replies::list(&mut tx, p.user_id, q.search(), &page).await?;
    tx.end_read();
    Ok(axum::Json(list))
}

/// Save a canned reply. Its body may use the placeholders
/// `{{contact.name}}`, `{{contact.first_name}}`, `{{ticket.number}}`,
/// `{{ticket.subject}}`, `{{client.name}}`, `{{agent.name}}`,
/// `{{agent.first_name}}` and `{{company.name}}`; any other, or a `{{` never
/// closed, is a 422 on `body` naming it. A `company` reply needs an admin.
#[utoipa::path(post, path = "/api/v1/canned-replies", tag = "canned replies",
    request_body = NewCannedReply,
    responses((status = 201, body = CannedReply), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_canned(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewCannedReply>,
) -> ApiResult<(StatusCode, axum::Json<CannedReply>)> {
    p.require(Permission::TicketsWrite)?;
    let scope = body.scope.unwrap_or(CannedScope::Personal);
    may_write(&p, scope)?;
    let mut v = ValidationErrors::new();
    let title = canned_replies::check_title(&mut v, &body.title);
    let text = canned_replies::check_body(&mut v, &body.body);
    v.finish()?;
    let mut tx = p.tx(&s).await?;
    let r = canned_replies::create(&mut tx, &title, &text, scope, p.user_id).await?;
    p.audit(
        &mut tx,
        "canned_reply.created",
        "canned_reply",
        r.id.as_uuid(),
        &r,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// Get a canned reply (another user's personal reply is not found).
#[utoipa::path(get, path = "/api/v1/canned-replies/{id}", tag = "canned replies",
    params(("id" = CannedReplyId, Path)),
    responses((status = 200, body = CannedReply), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_canned(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<CannedReplyId>,
) -> ApiResult<axum::Json<CannedReply>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    let r = canned_replies::get(&mut tx, p.user_id, id).await?;
    tx.end_read();
    Ok(axum::Json(r))
}

/// Change a canned reply's title or body (checked as when saved). A company
/// reply needs an admin; a personal one is its owner's.
#[utoipa::path(patch, path = "/api/v1/canned-replies/{id}", tag = "canned replies",
    params(("id" = CannedReplyId, Path)), request_body = CannedReplyPatch,
    responses((status = 200, body = CannedReply), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_canned(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<CannedReplyId>,
    Json(body): Json<CannedReplyPatch>,
) -> ApiResult<axum::Json<CannedReply>> {
    p.require(Permission::TicketsWrite)?;
    let mut v = ValidationErrors::new();
    let title = body
        .title
        .as_deref()
        .map(|t| canned_replies::check_title(&mut v, t));
    let text = body
        .body
        .as_deref()
        .map(|b| canned_replies::check_body(&mut v, b));
    v.finish()?;
    let mut tx = p.tx(&s).await?;
    let current = canned_replies::lock(&mut tx, p.user_id, id).await?;
    may_write(&p, current.scope)?;
    let r = canned_replies::update(
        &mut tx,
        id,
        title.as_deref().unwrap_or(&current.title),
        text.as_deref().unwrap_or(&current.body),
    )
    .await?;
    p.audit(
        &mut tx,
        "canned_reply.updated",
        "canned_reply",
        id.as_uuid(),
        &r,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(r))
}

/// Delete a canned reply. A company reply needs an admin; a personal one is
/// its owner's.
#[utoipa::path(delete, path = "/api/v1/canned-replies/{id}", tag = "canned replies",
    params(("id" = CannedReplyId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_canned(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<CannedReplyId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let current = canned_replies::lock(&mut tx, p.user_id, id).await?;
    may_write(&p, current.scope)?;
    canned_replies::delete(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "canned_reply.deleted",
        "canned_reply",
        id.as_uuid(),
        &current,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RenderedReply {
    /// The reply's body with its placeholders filled; a value the ticket
    /// lacks (no contact, no client) is the empty string.
    pub body: String,
}

/// A canned reply's body filled for a ticket and the caller: contact (the
/// ticket's contact, else the requester's name), ticket (`ticket.number` as
/// mail names it, `#12-K7QX`), client, agent (the caller) and company. Nothing
/// is stored or sent: post the text as a message to reply.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/canned-replies/{reply_id}/render", tag = "canned replies",
    params(("id" = TicketId, Path), ("reply_id" = CannedReplyId, Path)),
    responses((status = 200, body = RenderedReply), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The reply's body no longer checks")),
    security(("bearer" = [])))]
async fn render_canned(
    p: Principal,
    State(s): State<AppState>,
    Path((ticket, id)): Path<(TicketId, CannedReplyId)>,
) -> ApiResult<axum::Json<RenderedReply>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    let reply = canned_replies::get(&mut tx, p.user_id, id).await?;
    let body = canned_replies::render(&mut tx, &reply, ticket, p.user_id).await?;
    tx.end_read();
    Ok(axum::Json(RenderedReply { body }))
}
