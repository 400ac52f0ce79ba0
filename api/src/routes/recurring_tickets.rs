//! Recurring tickets: a template opened for a client on a cron schedule in
//! the company's time zone. Techs and admins, as for tickets.

use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::RecurringTicketId;
use nestogy_domain::identity::company;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::service_desk::recurring_tickets::{
    self, NewRecurringTicket, RecurringTicket, RecurringTicketPatch,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageQuery;
use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_recurring, create_recurring))
        .routes(routes!(get_recurring, update_recurring, delete_recurring))
}

/// The company's recurring tickets, newest first.
#[utoipa::path(get, path = "/api/v1/recurring-tickets", tag = "tickets", params(PageQuery),
    responses((status = 200, body = Page<RecurringTicket>), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_recurring(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<RecurringTicket>>> {
    p.require(Permission::TicketsRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let page = recurring_tickets::list(&mut tx, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Create a recurring ticket: a template opened for a client (and
/// optionally one of its assets) at each fire of a cron expression in the
/// company's time zone; with `skip_if_open` (the default) a fire opens
/// nothing while the ticket the previous one opened is not resolved or
/// closed.
#[utoipa::path(post, path = "/api/v1/recurring-tickets", tag = "tickets", request_body = NewRecurringTicket,
    responses((status = 201, body = RecurringTicket), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_recurring(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewRecurringTicket>,
) -> ApiResult<(StatusCode, axum::Json<RecurringTicket>)> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let zone = company::get(&mut tx).await?.time_zone;
    let r = recurring_tickets::create(&mut tx, body, &zone).await?;
    p.audit(
        &mut tx,
        "recurring_ticket.created",
        "recurring_ticket",
        r.id.as_uuid(),
        &r,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// Get a recurring ticket, with its next fire and what the last one did.
#[utoipa::path(get, path = "/api/v1/recurring-tickets/{id}", tag = "tickets", params(("id" = RecurringTicketId, Path)),
    responses((status = 200, body = RecurringTicket), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_recurring(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<RecurringTicketId>,
) -> ApiResult<axum::Json<RecurringTicket>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    let r = recurring_tickets::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(r))
}

/// Change a recurring ticket; `{"enabled": false}` pauses it. A new cron,
/// or enabling it again, fires from now on.
#[utoipa::path(patch, path = "/api/v1/recurring-tickets/{id}", tag = "tickets", params(("id" = RecurringTicketId, Path)),
    request_body = RecurringTicketPatch,
    responses((status = 200, body = RecurringTicket), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_recurring(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<RecurringTicketId>,
    Json(body): Json<RecurringTicketPatch>,
) -> ApiResult<axum::Json<RecurringTicket>> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let zone = company::get(&mut tx).await?.time_zone;
    let r = recurring_tickets::update(&mut tx, id, body, &zone).await?;
    p.audit(
        &mut tx,
        "recurring_ticket.updated",
        "recurring_ticket",
        id.as_uuid(),
        &r,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(r))
}

/// Delete a recurring ticket and its schedule; the tickets it opened stay.
#[utoipa::path(delete, path = "/api/v1/recurring-tickets/{id}", tag = "tickets", params(("id" = RecurringTicketId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_recurring(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<RecurringTicketId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::TicketsWrite)?;
    let mut tx = p.tx(&s).await?;
    let r = recurring_tickets::delete(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "recurring_ticket.deleted",
        "recurring_ticket",
        id.as_uuid(),
        &r,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
