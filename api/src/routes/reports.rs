//! Reports: the list, one report from its snapshot as JSON or CSV, and a
//! refresh that recomputes it in a job. Finance reports are for accountants
//! and admins, service reports for techs and admins.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use nestogy_domain::kernel::pagination::PageRequest;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::reports::management::{self, StoredReport};
use nestogy_domain::reports::{self, ReportData, ReportInfo, ReportName, ReportQuery};
use nestogy_domain::{ClientId, DomainError, customers::clients, identity::company};
use nestogy_jobs::reports::{Aggregate, Management};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::routes::mailboxes::Queued;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reports))
        .routes(routes!(get_report))
        .routes(routes!(refresh_report))
        .routes(routes!(list_management_reports, send_management_report))
        .routes(routes!(management_report_pdf))
}

/// The report `name` names, or a 404. (A report the caller may not read is
/// a 403: which reports exist is no secret.)
fn report_of(name: &str) -> ApiResult<ReportName> {
    ReportName::parse(name).ok_or_else(|| ApiError::from(DomainError::not_found("report")))
}

/// The reports the caller may read, each with when its snapshot was
/// computed (null until it has been).
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports",
    responses((status = 200, body = Vec<ReportInfo>)),
    security(("bearer" = [])))]
async fn list_reports(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Vec<ReportInfo>>> {
    let mut tx = p.tx(&s).await?;
    let out = reports::list(&mut tx, |r| p.require(r.permission()).is_ok()).await?;
    tx.end_read();
    if out.is_empty() {
        return Err(ApiError::forbidden(
            "this needs the reports:finance or reports:service permission",
        ));
    }
    Ok(axum::Json(out))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// First period (a date). Defaults to 90 days, 13 weeks or 12 months
    /// before `to`; point-in-time reports ignore it.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub from: Option<NaiveDate>,
    /// Last period (a date). Defaults to the snapshot's as-of date.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub to: Option<NaiveDate>,
    /// Only this client's rows (`ar_ageing`, `revenue_by_client`,
    /// `tickets_by_client`).
    pub client_id: Option<ClientId>,
    /// Rows per page, 1 to 5000 (default 500). CSV has every row of the
    /// range unless `limit` or `cursor` is given.
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One report from its snapshot: JSON, or CSV with `Accept: text/csv`.
/// `computed_at` says when the snapshot was computed (null, with no rows,
/// before the first aggregation).
#[utoipa::path(get, path = "/api/v1/reports/{name}", tag = "reports",
    params(("name" = inline(ReportName), Path), ReportParams),
    responses((status = 200, description = "The report: JSON, or CSV when `Accept` names `text/csv`",
            content((ReportData = "application/json"), (String = "text/csv"))),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_report(
    p: Principal,
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ReportParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let name = report_of(&name)?;
    p.require(name.permission())?;
    let csv = wants_csv(&headers);
    let mut v = ValidationErrors::new();
    let page = PageRequest::parse_within(
        &mut v,
        q.limit,
        q.cursor.as_deref(),
        reports::DEFAULT_ROWS,
        reports::MAX_ROWS,
    );
    v.finish()?;
    let paged = !csv || q.limit.is_some() || q.cursor.is_some();
    let mut tx = p.tx(&s).await?;
    if let Some(c) = q.client_id {
        clients::ensure_exists(&mut tx, c).await?;
    }
    let data = reports::read(
        &mut tx,
        name,
        &ReportQuery {
            from: q.from,
            to: q.to,
            client_id: q.client_id,
            page: paged.then_some(page),
        },
    )
    .await?;
    tx.end_read();
    if !csv {
        return Ok(axum::Json(data).into_response());
    }
    let mut resp = (StatusCode::OK, reports::to_csv(&data)?).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let file = format!(
        "{}-{}.csv",
        name.as_str(),
        data.as_of.map(|d| d.to_string()).unwrap_or_default()
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        crate::download::content_disposition("attachment", &file),
    );
    Ok(resp)
}

/// CSV when the caller's `Accept` names `text/csv` (with any parameters).
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
        })
}

/// Recomputes one report whole, now, in a job; answers with the job's id
/// (`GET /api/v1/jobs/{id}` follows it).
#[utoipa::path(post, path = "/api/v1/reports/{name}/refresh", tag = "reports",
    params(("name" = inline(ReportName), Path)),
    responses((status = 202, body = Queued), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn refresh_report(
    p: Principal,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<Queued>)> {
    let name = report_of(&name)?;
    p.require(name.permission())?;
    let job = Aggregate {
        tenant: p.tenant,
        report: Some(name),
        full: true,
    };
    let job_id = nestogy_jobs::enqueue(&s.jobs(), &job).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Queued {
            job_id: job_id.as_uuid(),
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManagementRequest {
    /// Any day of the month to report on; by default last month.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub month: Option<NaiveDate>,
}

/// Renders the monthly management report (PDF with charts) and mails it to
/// the finance list (`settings.report_recipients`, else the accountants and
/// admins), as the schedule does on the 1st: once per month, however often
/// asked. Answers with the job's id.
#[utoipa::path(post, path = "/api/v1/management-reports", tag = "reports",
    request_body = ManagementRequest,
    responses((status = 202, body = Queued), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn send_management_report(
    p: Principal,
    State(s): State<AppState>,
    Json(req): Json<ManagementRequest>,
) -> ApiResult<(StatusCode, axum::Json<Queued>)> {
    p.require(Permission::FinanceReports)?;
    if let Some(m) = req.month {
        let mut tx = p.tx(&s).await?;
        let today = company::today(&mut tx).await?;
        tx.end_read();
        if (m.year(), m.month()) > (today.year(), today.month()) {
            let mut v = ValidationErrors::new();
            v.add("month", "in_future", "month must not be after this month");
            v.finish()?;
        }
    }
    let job = Management {
        tenant: p.tenant,
        month: req.month,
    };
    let job_id = nestogy_jobs::enqueue(&s.jobs(), &job).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Queued {
            job_id: job_id.as_uuid(),
        }),
    ))
}

/// The monthly management reports rendered so far (by the schedule on the
/// 1st or on request), newest month first, at most 120.
#[utoipa::path(get, path = "/api/v1/management-reports", tag = "reports",
    responses((status = 200, body = Vec<StoredReport>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_management_reports(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Vec<StoredReport>>> {
    p.require(Permission::FinanceReports)?;
    let mut tx = p.tx(&s).await?;
    let out = management::stored(&mut tx).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// The PDF of a month's management report (`month` as `2026-11`), as it was
/// rendered and mailed.
#[utoipa::path(get, path = "/api/v1/management-reports/{month}/pdf", tag = "reports",
    params(("month" = String, Path, example = "2026-11")),
    responses((status = 200, description = "The PDF", content_type = "application/pdf"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn management_report_pdf(
    p: Principal,
    State(s): State<AppState>,
    Path(month): Path<String>,
) -> ApiResult<Response> {
    p.require(Permission::FinanceReports)?;
    let month = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_err(|_| ApiError::from(DomainError::not_found("management report")))?;
    let mut tx = p.tx(&s).await?;
    let (key, file_name) = management::file_of(&mut tx, month).await?;
    tx.end_read();
    let bytes = match s.jobs().services.files.get(&key).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => {
            return Err(DomainError::not_found("management report").into());
        }
        Err(e) => {
            return Err(ApiError::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the object store is unavailable: {e}"),
            ));
        }
    };
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        crate::download::content_disposition("attachment", &file_name),
    );
    Ok(resp)
}
