//! Time entries: techs log time on tickets, tasks and projects (a
//! duration, a start and end, or a running timer); accountants and admins
//! read it and bill it onto draft invoices.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::roles::{Permission, Role};
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::service_desk::time_entries::{
    self, BillTime, BilledTime, NewTimeEntry, TimeEntry, TimeEntryPatch, TimeFilter,
};
use nestogy_domain::{ClientId, ProjectId, TaskId, TenantTx, TicketId, TimeEntryId, UserId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_entries, create_entry))
        .routes(routes!(get_entry, update_entry, delete_entry))
        .routes(routes!(stop_entry))
        .routes(routes!(bill_time))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimeListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub user_id: Option<UserId>,
    pub client_id: Option<ClientId>,
    pub project_id: Option<ProjectId>,
    pub task_id: Option<TaskId>,
    pub ticket_id: Option<TicketId>,
    pub billable: Option<bool>,
    /// `true`: billed entries only; `false`: entries not billed yet.
    pub billed: Option<bool>,
    /// First day worked, inclusive.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub from: Option<NaiveDate>,
    /// Last day worked, inclusive.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub to: Option<NaiveDate>,
    /// `true`: running timers only; `false`: stopped entries only.
    pub running: Option<bool>,
}

/// List time entries by day worked, newest first.
#[utoipa::path(get, path = "/api/v1/time-entries", tag = "time", params(TimeListQuery),
    responses((status = 200, body = Page<TimeEntry>), (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_entries(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<TimeListQuery>,
) -> ApiResult<axum::Json<Page<TimeEntry>>> {
    p.require(Permission::TimeRead)?;
    let mut v = ValidationErrors::new();
    let page = PageRequest::parse(&mut v, q.limit, q.cursor.as_deref());
    if let (Some(from), Some(to)) = (q.from, q.to)
        && to < from
    {
        v.add("to", "before_from", "to must not be before from");
    }
    v.finish()?;
    let filter = TimeFilter {
        user_id: q.user_id,
        client_id: q.client_id,
        project_id: q.project_id,
        task_id: q.task_id,
        ticket_id: q.ticket_id,
        billable: q.billable,
        billed: q.billed,
        from: q.from,
        to: q.to,
        running: q.running,
    };
    let mut tx = p.tx(&s).await?;
    let page = time_entries::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Only admins touch other users' time.
fn check_owner(p: &Principal, user: UserId) -> ApiResult<()> {
    if p.role == Role::Admin || p.user_id == user {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only admins log or change other users' time",
        ))
    }
}

/// Log time on a ticket, a task or a project: `minutes`, or `started_at`
/// with `ended_at`, or `started_at` alone to start a timer.
#[utoipa::path(post, path = "/api/v1/time-entries", tag = "time", request_body = NewTimeEntry,
    responses((status = 201, body = TimeEntry), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_entry(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewTimeEntry>,
) -> ApiResult<(StatusCode, axum::Json<TimeEntry>)> {
    p.require(Permission::TimeWrite)?;
    let user = body.user_id.unwrap_or(p.user_id);
    check_owner(&p, user)?;
    let mut tx = p.tx(&s).await?;
    let entry = time_entries::create(&mut tx, user, body).await?;
    p.audit(
        &mut tx,
        "time_entry.created",
        "time_entry",
        entry.id.as_uuid(),
        &entry,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(entry)))
}

/// Get a time entry.
#[utoipa::path(get, path = "/api/v1/time-entries/{id}", tag = "time",
    params(("id" = TimeEntryId, Path)),
    responses((status = 200, body = TimeEntry), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_entry(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TimeEntryId>,
) -> ApiResult<axum::Json<TimeEntry>> {
    p.require(Permission::TimeRead)?;
    let mut tx = p.tx(&s).await?;
    let entry = time_entries::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(entry))
}

/// The entry, when the caller may change it.
async fn owned(p: &Principal, tx: &mut TenantTx, id: TimeEntryId) -> ApiResult<TimeEntry> {
    let entry = time_entries::get(tx, id).await?;
    check_owner(p, entry.user_id)?;
    Ok(entry)
}

/// Change an unbilled time entry (a billed one answers 409).
#[utoipa::path(patch, path = "/api/v1/time-entries/{id}", tag = "time",
    params(("id" = TimeEntryId, Path)), request_body = TimeEntryPatch,
    responses((status = 200, body = TimeEntry), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_entry(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TimeEntryId>,
    Json(body): Json<TimeEntryPatch>,
) -> ApiResult<axum::Json<TimeEntry>> {
    p.require(Permission::TimeWrite)?;
    let mut tx = p.tx(&s).await?;
    owned(&p, &mut tx, id).await?;
    let entry = time_entries::update(&mut tx, id, body).await?;
    p.audit(
        &mut tx,
        "time_entry.updated",
        "time_entry",
        id.as_uuid(),
        &entry,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(entry))
}

/// Delete an unbilled time entry (a billed one answers 409).
#[utoipa::path(delete, path = "/api/v1/time-entries/{id}", tag = "time",
    params(("id" = TimeEntryId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_entry(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TimeEntryId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::TimeWrite)?;
    let mut tx = p.tx(&s).await?;
    owned(&p, &mut tx, id).await?;
    let entry = time_entries::delete(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "time_entry.deleted",
        "time_entry",
        id.as_uuid(),
        &entry,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop a running timer now.
#[utoipa::path(post, path = "/api/v1/time-entries/{id}/stop", tag = "time",
    params(("id" = TimeEntryId, Path)),
    responses((status = 200, body = TimeEntry), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn stop_entry(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<TimeEntryId>,
) -> ApiResult<axum::Json<TimeEntry>> {
    p.require(Permission::TimeWrite)?;
    let mut tx = p.tx(&s).await?;
    owned(&p, &mut tx, id).await?;
    let entry = time_entries::stop(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "time_entry.stopped",
        "time_entry",
        id.as_uuid(),
        &entry,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(entry))
}

/// Bill the client's unbilled billable time (worked up to `until`) as
/// lines of a draft invoice, one line per entry: a new draft (201) or the
/// given one (200). Each entry is billed once, however often or however
/// concurrently this is called: when nothing is left, 409 `nothing_to_bill`.
#[utoipa::path(post, path = "/api/v1/clients/{id}/bill-time", tag = "time",
    params(("id" = ClientId, Path)), request_body = BillTime,
    responses((status = 201, body = BilledTime), (status = 200, body = BilledTime),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn bill_time(
    p: Principal,
    State(s): State<AppState>,
    Path(client): Path<ClientId>,
    Json(body): Json<BillTime>,
) -> ApiResult<(StatusCode, axum::Json<BilledTime>)> {
    p.require(Permission::TimeRead)?;
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let billed = time_entries::bill(&mut tx, client, body).await?;
    p.audit(
        &mut tx,
        "time.billed",
        "invoice",
        billed.invoice.id.as_uuid(),
        &serde_json::json!({"client_id": client, "entry_ids": billed.entry_ids, "minutes": billed.minutes}),
    )
    .await?;
    tx.commit().await?;
    let status = if billed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(billed)))
}
