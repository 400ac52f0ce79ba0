//! Recurring invoices and billing runs (accountants and admins).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use nestogy_domain::billing::recurring::{
    self, BillingRun, BillingRunSummary, PeriodOutcome, PreviewInvoice, Removal, Template,
    TemplatePatch, TemplateRequest,
};
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::{BillingRunId, ClientId, RecurringId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(get_template, update_template, remove_template))
        .routes(routes!(preview_template))
        .routes(routes!(pause_template))
        .routes(routes!(resume_template))
        .routes(routes!(list_runs, start_run))
        .routes(routes!(get_run))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub client_id: Option<ClientId>,
}

/// Recurring invoice templates, newest first.
#[utoipa::path(get, path = "/api/v1/recurring-invoices", tag = "recurring", params(TemplateQuery),
    responses((status = 200, body = Page<Template>)), security(("bearer" = [])))]
async fn list_templates(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<TemplateQuery>,
) -> ApiResult<axum::Json<Page<Template>>> {
    p.require(Permission::BillingRead)?;
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let mut tx = p.tx(&s).await?;
    let out = recurring::list(&mut tx, q.client_id, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Create a recurring invoice template. Periods are anchored to
/// `start_date` and clamped at month end; `frequency` is
/// `{"unit": "months", "every": 1}` (days, weeks, months or years).
#[utoipa::path(post, path = "/api/v1/recurring-invoices", tag = "recurring", request_body = TemplateRequest,
    responses((status = 201, body = Template), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_template(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<TemplateRequest>,
) -> ApiResult<(StatusCode, axum::Json<Template>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let t = recurring::create(&mut tx, body).await?;
    p.audit(
        &mut tx,
        "recurring.created",
        "recurring_invoice",
        t.id.as_uuid(),
        &t,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

/// Get a template.
#[utoipa::path(get, path = "/api/v1/recurring-invoices/{id}", tag = "recurring", params(("id" = RecurringId, Path)),
    responses((status = 200, body = Template), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_template(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<RecurringId>,
) -> ApiResult<axum::Json<Template>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let t = recurring::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(t))
}

/// Change a template for the periods it has not billed yet: name, lines
/// and prices, frequency (from the next period on, keeping the day of
/// month), end date, maximum cycles, escalation, due days, discount, notes,
/// terms, auto-finalize and auto-send. Absent fields stay; `null` clears an
/// optional one. Checked as a new template is; invoices already created
/// never change. Audited with the template before and after. An archived
/// template cannot change (409).
#[utoipa::path(patch, path = "/api/v1/recurring-invoices/{id}", tag = "recurring", params(("id" = RecurringId, Path)),
    request_body = TemplatePatch,
    responses((status = 200, body = Template), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_template(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<RecurringId>,
    Json(body): Json<TemplatePatch>,
) -> ApiResult<axum::Json<Template>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let (before, after) = recurring::update(&mut tx, id, body).await?;
    let details = serde_json::json!({ "before": before, "after": after });
    p.audit(
        &mut tx,
        "recurring.updated",
        "recurring_invoice",
        id.as_uuid(),
        &details,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(after))
}

/// Remove a template. One without invoices is deleted (204); one with
/// invoices is archived instead (200 with the template): it never bills
/// again and stays listed with status `archived`, its invoices still
/// naming it.
#[utoipa::path(delete, path = "/api/v1/recurring-invoices/{id}", tag = "recurring", params(("id" = RecurringId, Path)),
    responses((status = 204), (status = 200, body = Template), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn remove_template(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<RecurringId>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let out = match recurring::remove(&mut tx, id).await? {
        Removal::Deleted(t) => {
            p.audit(
                &mut tx,
                "recurring.deleted",
                "recurring_invoice",
                id.as_uuid(),
                &t,
            )
            .await?;
            StatusCode::NO_CONTENT.into_response()
        }
        Removal::Archived(t, now) => {
            if now {
                p.audit(
                    &mut tx,
                    "recurring.archived",
                    "recurring_invoice",
                    id.as_uuid(),
                    &t,
                )
                .await?;
            }
            (StatusCode::OK, axum::Json(t)).into_response()
        }
    };
    tx.commit().await?;
    Ok(out)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// How many invoices, 1 to 24 (default 3).
    pub count: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplatePreview {
    pub template_id: RecurringId,
    /// The next invoices, oldest first (fewer when the template ends
    /// sooner; none when it is ended or archived).
    pub invoices: Vec<PreviewInvoice>,
}

/// The next N invoices of a template as billing would create them: their
/// periods, dates, lines and totals, priced by the code billing uses.
/// Creates nothing.
#[utoipa::path(get, path = "/api/v1/recurring-invoices/{id}/preview", tag = "recurring",
    params(("id" = RecurringId, Path), PreviewQuery),
    responses((status = 200, body = TemplatePreview), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn preview_template(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<RecurringId>,
    Query(q): Query<PreviewQuery>,
) -> ApiResult<axum::Json<TemplatePreview>> {
    p.require(Permission::BillingRead)?;
    let mut v = ValidationErrors::new();
    let count = match q.count.map(u32::try_from) {
        None => 3,
        Some(Ok(n)) if (1..=recurring::MAX_PREVIEW).contains(&n) => n,
        Some(_) => {
            v.add(
                "count",
                "out_of_range",
                format!("count must be from 1 to {}", recurring::MAX_PREVIEW),
            );
            0
        }
    };
    v.finish()?;
    let mut tx = p.tx(&s).await?;
    let invoices = recurring::preview(&mut tx, id, count).await?;
    // Pricing wrote nothing; the transaction rolls back.
    drop(tx);
    Ok(axum::Json(TemplatePreview {
        template_id: id,
        invoices,
    }))
}

/// Pause a template: no billing until resumed.
#[utoipa::path(post, path = "/api/v1/recurring-invoices/{id}/pause", tag = "recurring", params(("id" = RecurringId, Path)),
    responses((status = 200, body = Template), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn pause_template(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<RecurringId>,
) -> ApiResult<axum::Json<Template>> {
    set_paused(p, s, id, true).await
}

/// Resume a paused template; the next run bills the periods it missed.
#[utoipa::path(post, path = "/api/v1/recurring-invoices/{id}/resume", tag = "recurring", params(("id" = RecurringId, Path)),
    responses((status = 200, body = Template), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn resume_template(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<RecurringId>,
) -> ApiResult<axum::Json<Template>> {
    set_paused(p, s, id, false).await
}

async fn set_paused(
    p: Principal,
    s: AppState,
    id: RecurringId,
    paused: bool,
) -> ApiResult<axum::Json<Template>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let t = recurring::set_paused(&mut tx, id, paused).await?;
    let action = if paused {
        "recurring.paused"
    } else {
        "recurring.resumed"
    };
    p.audit(&mut tx, action, "recurring_invoice", id.as_uuid(), &t)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(t))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Bill periods starting on or before this date; defaults to today in
    /// the company's time zone.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub as_of: Option<NaiveDate>,
    /// Say what would be billed, writing nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DryRun {
    pub as_of: NaiveDate,
    /// Templates with periods due.
    pub templates: usize,
    /// What would be billed (the first 500 periods).
    pub items: Vec<PeriodOutcome>,
}

/// Start a billing run now (202 with the run: its id, which is its job's,
/// state `pending`, times and counts), or with `dry_run` see what it would
/// bill (200).
#[utoipa::path(post, path = "/api/v1/billing-runs", tag = "recurring", request_body = RunRequest,
    responses((status = 202, body = BillingRun), (status = 200, body = DryRun), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn start_run(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<RunRequest>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let company = nestogy_domain::identity::company::get(&mut tx).await?;
    let as_of = body.as_of.unwrap_or_else(|| company.today(tx.now()));
    if body.dry_run {
        let due = recurring::due_ids(&mut tx, as_of).await?;
        // Each due template has at least one period: 500 templates fill the preview.
        let shown = &due[..due.len().min(500)];
        let mut items = recurring::bill_many(&mut tx, shown, as_of, None, true).await?;
        items.truncate(500);
        // Nothing was written; the transaction rolls back.
        drop(tx);
        return Ok((
            StatusCode::OK,
            axum::Json(DryRun {
                as_of,
                templates: due.len(),
                items,
            }),
        )
            .into_response());
    }
    let job = nestogy_jobs::billing::Run {
        tenant: p.tenant,
        as_of: Some(as_of),
        manual: true,
    };
    // The run's job commits with the run: neither exists without the other.
    let job = nestogy_jobs::enqueue_in(&mut tx, &job, Default::default()).await?;
    let job_id = job.id();
    // The run is there to read at once (pending until a worker fans it
    // out); the job opens it too, idempotently.
    let run_id = BillingRunId(job_id.as_uuid());
    recurring::open_run(&mut tx, run_id, as_of, "manual", false).await?;
    let details = serde_json::json!({"as_of": as_of, "job_id": job_id});
    p.audit(
        &mut tx,
        "billing_run.started",
        "billing_run",
        job_id.as_uuid(),
        &details,
    )
    .await?;
    let run = recurring::get_run(&mut tx, run_id).await?;
    tx.commit().await?;
    job.push(&s.queue).await;
    Ok((StatusCode::ACCEPTED, axum::Json(run)).into_response())
}

/// Billing runs, newest first, each with its state, times and counts (open
/// one for the periods it skipped or failed and its chunks' errors).
#[utoipa::path(get, path = "/api/v1/billing-runs", tag = "recurring", params(crate::routes::PageQuery),
    responses((status = 200, body = Page<BillingRunSummary>)), security(("bearer" = [])))]
async fn list_runs(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<crate::routes::PageQuery>,
) -> ApiResult<axum::Json<Page<BillingRunSummary>>> {
    p.require(Permission::BillingRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let out = recurring::list_runs(&mut tx, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// A run's summary: its state, times, the templates and periods it found
/// due and what became of each (created, skipped with the invoice and run
/// that billed it, failed with reasons, pending, unbilled), and its chunks.
#[utoipa::path(get, path = "/api/v1/billing-runs/{id}", tag = "recurring", params(("id" = BillingRunId, Path)),
    responses((status = 200, body = BillingRun), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_run(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<BillingRunId>,
) -> ApiResult<axum::Json<BillingRun>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let run = recurring::get_run(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(run))
}
