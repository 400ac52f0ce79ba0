use axum::extract::State;
use nestogy_domain::company::{self, Company, CompanyPatch};
use nestogy_domain::roles::Permission;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_company, update_company))
}

/// The caller's company and its settings.
#[utoipa::path(get, path = "/api/v1/company", tag = "company",
    responses((status = 200, body = Company)), security(("bearer" = [])))]
async fn get_company(p: Principal, State(s): State<AppState>) -> ApiResult<axum::Json<Company>> {
    p.require(Permission::CompanyRead)?;
    let mut tx = p.tx(&s).await?;
    let c = company::get(&mut tx).await?;
    tx.end_read();
    Ok(axum::Json(c))
}

/// Change the company's settings (admins).
#[utoipa::path(patch, path = "/api/v1/company", tag = "company", request_body = CompanyPatch,
    responses((status = 200, body = Company), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_company(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<CompanyPatch>,
) -> ApiResult<axum::Json<Company>> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = company::update(&mut tx, body).await?;
    p.audit(&mut tx, "company.updated", "company", c.id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(c))
}
