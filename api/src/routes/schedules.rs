use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::ScheduleId;
use nestogy_domain::identity::company;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::platform::schedules::{self, NewSchedule, Schedule, SchedulePatch};
use nestogy_domain::service_desk::recurring_tickets;
use nestogy_domain::{DomainError, JobId};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageQuery;
use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules, create_schedule))
        .routes(routes!(get_schedule, update_schedule, delete_schedule))
        .routes(routes!(run_schedule))
}

/// The company's schedules, by name (admins).
#[utoipa::path(get, path = "/api/v1/schedules", tag = "schedules", params(PageQuery),
    responses((status = 200, body = Page<Schedule>)), security(("bearer" = [])))]
async fn list_schedules(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Schedule>>> {
    p.require(Permission::JobsRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let page = schedules::list(&mut tx, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Create a schedule: a job kind fired from a cron expression in a time zone
/// (the company's by default) (admins).
#[utoipa::path(post, path = "/api/v1/schedules", tag = "schedules", request_body = NewSchedule,
    responses((status = 201, body = Schedule), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_schedule(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewSchedule>,
) -> ApiResult<(StatusCode, axum::Json<Schedule>)> {
    p.require(Permission::JobsWrite)?;
    let mut tx = p.tx(&s).await?;
    let zone = company::get(&mut tx).await?.time_zone;
    let sched =
        schedules::create(&mut tx, body, &zone, nestogy_jobs::registry::schedulable).await?;
    p.audit(
        &mut tx,
        "schedule.created",
        "schedule",
        sched.id.as_uuid(),
        &sched,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(sched)))
}

/// Get a schedule (admins).
#[utoipa::path(get, path = "/api/v1/schedules/{id}", tag = "schedules", params(("id" = ScheduleId, Path)),
    responses((status = 200, body = Schedule), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_schedule(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ScheduleId>,
) -> ApiResult<axum::Json<Schedule>> {
    p.require(Permission::JobsRead)?;
    let mut tx = p.tx(&s).await?;
    let sched = schedules::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(sched))
}

/// A recurring ticket's schedule is changed through the recurring ticket:
/// 409 `schedule_managed` here.
fn refuse_managed(sched: &Schedule) -> ApiResult<()> {
    if sched.kind == recurring_tickets::JOB_KIND {
        return Err(DomainError::conflict(
            "schedule_managed",
            "this schedule belongs to a recurring ticket: change it at /api/v1/recurring-tickets",
        )
        .into());
    }
    Ok(())
}

/// Change a schedule; `{"enabled": false}` disables it (admins). A new cron
/// or time zone, or re-enabling, fires from now on. A recurring ticket's
/// schedule is 409 `schedule_managed`.
#[utoipa::path(patch, path = "/api/v1/schedules/{id}", tag = "schedules", params(("id" = ScheduleId, Path)),
    request_body = SchedulePatch,
    responses((status = 200, body = Schedule), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_schedule(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ScheduleId>,
    Json(body): Json<SchedulePatch>,
) -> ApiResult<axum::Json<Schedule>> {
    p.require(Permission::JobsWrite)?;
    let mut tx = p.tx(&s).await?;
    refuse_managed(&schedules::get(&mut tx, id).await?)?;
    let zone = company::get(&mut tx).await?.time_zone;
    let sched = schedules::update(&mut tx, id, body, &zone).await?;
    p.audit(
        &mut tx,
        "schedule.updated",
        "schedule",
        id.as_uuid(),
        &sched,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(sched))
}

/// Delete a schedule (admins); a recurring ticket's is 409 `schedule_managed`.
#[utoipa::path(delete, path = "/api/v1/schedules/{id}", tag = "schedules", params(("id" = ScheduleId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_schedule(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ScheduleId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::JobsWrite)?;
    let mut tx = p.tx(&s).await?;
    let sched = schedules::get(&mut tx, id).await?;
    refuse_managed(&sched)?;
    schedules::delete(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "schedule.deleted",
        "schedule",
        id.as_uuid(),
        &sched,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Enqueued {
    pub job_id: JobId,
}

/// Run a schedule's job now, outside its cron (admins). Answers 202 with the job id.
#[utoipa::path(post, path = "/api/v1/schedules/{id}/run", tag = "schedules", params(("id" = ScheduleId, Path)),
    responses((status = 202, body = Enqueued), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn run_schedule(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ScheduleId>,
) -> ApiResult<(StatusCode, axum::Json<Enqueued>)> {
    p.require(Permission::JobsWrite)?;
    let mut tx = p.tx(&s).await?;
    let sched = schedules::get(&mut tx, id).await?;
    p.audit(&mut tx, "schedule.run", "schedule", id.as_uuid(), &sched)
        .await?;
    let mut payload = sched.payload.clone();
    if let Some(obj) = payload.as_object_mut() {
        obj.insert("tenant".into(), serde_json::json!(p.tenant));
    }
    // The job commits with the audit row that says it was asked for.
    let job = nestogy_jobs::enqueue_kind(&mut tx, &sched.kind, payload).await?;
    tx.commit().await?;
    let job_id = job.push(&s.queue).await;
    Ok((StatusCode::ACCEPTED, axum::Json(Enqueued { job_id })))
}
