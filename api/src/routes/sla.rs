//! SLA policies (one per priority) and the holiday calendar. Everyone who
//! works tickets reads them; admins change them.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::service_desk::sla::{self, Holiday, PolicyRequest, SlaPolicy};
use nestogy_domain::service_desk::tickets::Priority;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies))
        .routes(routes!(set_policy, delete_policy))
        .routes(routes!(list_holidays))
        .routes(routes!(set_holiday, delete_holiday))
}

/// The SLA policies, most urgent priority first.
#[utoipa::path(get, path = "/api/v1/sla/policies", tag = "sla",
    responses((status = 200, body = Vec<SlaPolicy>)),
    security(("bearer" = [])))]
async fn list_policies(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Vec<SlaPolicy>>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    let out = sla::policies(&mut tx).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Set the policy for a priority. Running tickets are re-evaluated at the
/// next SLA check (every five minutes).
#[utoipa::path(put, path = "/api/v1/sla/policies/{priority}", tag = "sla",
    params(("priority" = Priority, Path)), request_body = PolicyRequest,
    responses((status = 200, body = SlaPolicy), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_policy(
    p: Principal,
    State(s): State<AppState>,
    Path(priority): Path<Priority>,
    Json(body): Json<PolicyRequest>,
) -> ApiResult<axum::Json<SlaPolicy>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let out = sla::set_policy(&mut tx, priority, body).await?;
    p.audit(
        &mut tx,
        "sla.policy_set",
        "sla_policy",
        out.id.as_uuid(),
        &out,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(out))
}

/// Remove the policy of a priority: its tickets have no SLA.
#[utoipa::path(delete, path = "/api/v1/sla/policies/{priority}", tag = "sla",
    params(("priority" = Priority, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_policy(
    p: Principal,
    State(s): State<AppState>,
    Path(priority): Path<Priority>,
) -> ApiResult<StatusCode> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    sla::delete_policy(&mut tx, priority).await?;
    p.audit(
        &mut tx,
        "sla.policy_deleted",
        "sla_policy",
        uuid::Uuid::nil(),
        &serde_json::json!({ "priority": priority }),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The holidays on which business-hours SLA clocks stand still.
#[utoipa::path(get, path = "/api/v1/sla/holidays", tag = "sla",
    responses((status = 200, body = Vec<Holiday>)),
    security(("bearer" = [])))]
async fn list_holidays(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Vec<Holiday>>> {
    p.require(Permission::TicketsRead)?;
    let mut tx = p.tx(&s).await?;
    let out = sla::holidays(&mut tx).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayRequest {
    pub name: String,
}

/// Add or rename a holiday (a date in the company's time zone).
#[utoipa::path(put, path = "/api/v1/sla/holidays/{day}", tag = "sla",
    params(("day" = NaiveDate, Path, description = "YYYY-MM-DD")), request_body = HolidayRequest,
    responses((status = 200, body = Holiday), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_holiday(
    p: Principal,
    State(s): State<AppState>,
    Path(day): Path<NaiveDate>,
    Json(body): Json<HolidayRequest>,
) -> ApiResult<axum::Json<Holiday>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let out = sla::set_holiday(&mut tx, day, &body.name).await?;
    p.audit(
        &mut tx,
        "sla.holiday_set",
        "holiday",
        uuid::Uuid::nil(),
        &out,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(out))
}

/// Remove a holiday.
#[utoipa::path(delete, path = "/api/v1/sla/holidays/{day}", tag = "sla",
    params(("day" = NaiveDate, Path, description = "YYYY-MM-DD")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_holiday(
    p: Principal,
    State(s): State<AppState>,
    Path(day): Path<NaiveDate>,
) -> ApiResult<StatusCode> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    sla::delete_holiday(&mut tx, day).await?;
    p.audit(
        &mut tx,
        "sla.holiday_deleted",
        "holiday",
        uuid::Uuid::nil(),
        &serde_json::json!({ "day": day }),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
