use axum::extract::State;
use chrono::{DateTime, Utc};
use nestogy_domain::JobId;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::platform::jobs::{self, JobFilter, JobRecord, JobState};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(retry_job))
        .routes(routes!(cancel_job))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub state: Option<JobState>,
    /// e.g. `diag.noop`.
    pub kind: Option<String>,
    /// Only jobs created at or after this instant (RFC 3339).
    pub since: Option<DateTime<Utc>>,
}

/// The company's jobs, newest first (admins).
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, body = Page<JobRecord>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_jobs(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<JobQuery>,
) -> ApiResult<axum::Json<Page<JobRecord>>> {
    p.require(Permission::JobsRead)?;
    let page =
        nestogy_domain::kernel::pagination::PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let filter = JobFilter {
        state: q.state,
        kind: q.kind,
        queue: None,
        since: q.since,
    };
    let mut tx = p.tx(&s).await?;
    let page = jobs::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// A job: its state, attempts, timestamps, last error and result (admins).
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = JobId, Path)),
    responses((status = 200, body = JobRecord), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_job(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<axum::Json<JobRecord>> {
    p.require(Permission::JobsRead)?;
    let mut tx = p.tx(&s).await?;
    let job = jobs::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(job))
}

/// Replay a dead job with a fresh attempt budget (admins).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs", params(("id" = JobId, Path)),
    responses((status = 200, body = JobRecord), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn retry_job(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<axum::Json<JobRecord>> {
    Ok(axum::Json(retry(&p, &s, id).await?))
}

/// Replays a dead job of the caller's company (needs `jobs:write`): marks it
/// queued with a fresh attempt budget, audits, commits, then pushes it. The
/// API's retry route and the queue dashboard's retry button both come here.
pub async fn retry(p: &Principal, s: &AppState, id: JobId) -> ApiResult<JobRecord> {
    p.require(Permission::JobsWrite)?;
    let mut tx = p.tx(s).await?;
    let job = jobs::revive(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "job.retried",
        "job",
        id.as_uuid(),
        &serde_json::json!({"kind": job.kind}),
    )
    .await?;
    tx.commit().await?;
    nestogy_jobs::push_existing(&s.jobs(), &job, Some(p.tenant)).await?;
    Ok(job)
}

/// Cancel a job that has not started (admins).
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = JobId, Path)),
    responses((status = 200, body = JobRecord), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn cancel_job(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<JobId>,
) -> ApiResult<axum::Json<JobRecord>> {
    Ok(axum::Json(cancel(&p, &s, id).await?))
}

/// Cancels a job of the caller's company that has not started (needs
/// `jobs:write`), with its audit row. The API's cancel route and the queue
/// dashboard's cancel button both come here.
pub async fn cancel(p: &Principal, s: &AppState, id: JobId) -> ApiResult<JobRecord> {
    p.require(Permission::JobsWrite)?;
    let mut tx = p.tx(s).await?;
    let job = jobs::cancel(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "job.cancelled",
        "job",
        id.as_uuid(),
        &serde_json::json!({"kind": job.kind}),
    )
    .await?;
    tx.commit().await?;
    Ok(job)
}
