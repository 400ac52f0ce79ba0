//! Ticket templates: CRUD, and a ticket opened from one in one call. Techs
//! and admins, as for tickets.

use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::TicketTemplateId;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::service_desk::sla;
use nestogy_domain::service_desk::ticket_templates::{
    self, FromTemplate, NewTicketTemplate, TicketTemplate, TicketTemplatePatch,
};
use nestogy_domain::service_desk::tickets::{self, Ticket};
use nestogy_jobs::mail as mailer;
use nestogy_jobs::tickets as ticket_jobs;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageQuery;
use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(get_template, update_template, delete_template))
        .routes(routes!(open_ticket))
}

/// The company's ticket templates, by name.
#[utoipa::path(get, path = "/api/v1/ticket-templates", tag = "tickets", params(PageQuery),
    responses((status = 200, body = Page<TicketTemplate>), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_templates(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<TicketTemplate>>> {
    p.require(Permission::TicketsRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let page = ticket_templates::list(&mut tx, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Create a ticket template: subject, description, priority, tags and a
/// checklist (items with a required flag).
#[utoipa::path(post, path = "/api/v1/ticket-templates", tag = "tickets", request_body = NewTicketTemplate,
    responses((status = 201, body = TicketTemplate), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_template(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewTicketTemplate>,
) -> ApiResult<(StatusCode, axum::Json<TicketTemplate>)> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let t = ticket_templates::create(&mut tx, body).await?;
    p.audit(
        &mut tx,
        "ticket_template.created",
        "ticket_template",
        t.id.as_uuid(),
        &t,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

/// Get a ticket template.
#[utoipa::path(get, path = "/api/v1/ticket-templates/{id}", tag = "tickets", params(("id" = TicketTemplateId, Path)),
    responses((status = 200, body = TicketTemplate), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_template(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketTemplateId>,
) -> ApiResult<axum::Json<TicketTemplate>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    let t = ticket_templates::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(t))
}

/// Change a ticket template; a new `checklist` replaces the old one. Tickets
/// opened from it before keep what they copied.
#[utoipa::path(patch, path = "/api/v1/ticket-templates/{id}", tag = "tickets", params(("id" = TicketTemplateId, Path)),
    request_body = TicketTemplatePatch,
    responses((status = 200, body = TicketTemplate), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_template(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketTemplateId>,
    Json(body): Json<TicketTemplatePatch>,
) -> ApiResult<axum::Json<TicketTemplate>> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let t = ticket_templates::update(&mut tx, id, body).await?;
    p.audit(
        &mut tx,
        "ticket_template.updated",
        "ticket_template",
        id.as_uuid(),
        &t,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(t))
}

/// Delete a ticket template; 409 `template_in_use` while a recurring ticket
/// opens it.
#[utoipa::path(delete, path = "/api/v1/ticket-templates/{id}", tag = "tickets", params(("id" = TicketTemplateId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_template(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketTemplateId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let t = ticket_templates::get(&mut tx, id).await?;
    ticket_templates::delete(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "ticket_template.deleted",
        "ticket_template",
        id.as_uuid(),
        &t,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open a ticket from a template: its subject, description (the first
/// message), priority, tags and checklist, for the client, contact, asset
/// and assignee given (each optional, checked as for a new ticket).
#[utoipa::path(post, path = "/api/v1/ticket-templates/{id}/tickets", tag = "tickets", params(("id" = TicketTemplateId, Path)),
    request_body = FromTemplate,
    responses((status = 201, body = Ticket), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn open_ticket(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TicketTemplateId>,
    Json(body): Json<FromTemplate>,
) -> ApiResult<(StatusCode, axum::Json<Ticket>)> {
    p.require(Permission::TicketsWrite)?;
    let ctx = s.jobs();
    let mut tx = p.tx(&s).await?;
    let t = ticket_templates::open_ticket(&mut tx, id, body, Some(p.user_id)).await?;
    sla::refresh(&mut tx, Some(&[t.id])).await?;
    let t = tickets::get(&mut tx, t.id).await?;
    let notice = ticket_jobs::notify_assigned(&mut tx, &ctx, &t, Some(p.user_id)).await?;
    p.audit(&mut tx, "ticket.created", "ticket", t.id.as_uuid(), &t)
        .await?;
    let ids: Vec<_> = notice.into_iter().map(|m| m.id).collect();
    let (_, pending) = mailer::dispatch_in(&mut tx, &ids).await?;
    tx.commit().await?;
    pending.push(&s.queue).await;
    Ok((StatusCode::CREATED, axum::Json(t)))
}
