//! Contracts per client (admins and accountants write; every role reads).

use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::service_desk::contracts::{self, Contract, ContractPatch, ContractRequest};
use nestogy_domain::{ClientId, ContractId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contracts, create_contract))
        .routes(routes!(get_contract, update_contract, delete_contract))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContractQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only this client's contracts.
    pub client_id: Option<ClientId>,
}

/// Contracts, newest first.
#[utoipa::path(get, path = "/api/v1/contracts", tag = "contracts", params(ContractQuery),
    responses((status = 200, body = Page<Contract>)), security(("bearer" = [])))]
async fn list_contracts(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ContractQuery>,
) -> ApiResult<axum::Json<Page<Contract>>> {
    p.require(Permission::ClientsRead)?;
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let mut tx = p.tx(&s).await?;
    let out = contracts::list(&mut tx, q.client_id, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// Create a contract for a client. `end_date` must be after `start_date`;
/// an `active` contract may not overlap another active contract of the
/// client (409 `contract_overlap`); `recurring_invoice_id` must name a
/// template of the same client (422). `sla_targets` give the client's
/// tickets of those priorities their own first-response and resolution
/// targets while the contract is in effect (active, today between its
/// dates); other priorities keep the company's policy.
#[utoipa::path(post, path = "/api/v1/contracts", tag = "contracts", request_body = ContractRequest,
    responses((status = 201, body = Contract), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_contract(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<ContractRequest>,
) -> ApiResult<(StatusCode, axum::Json<Contract>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = contracts::create(&mut tx, body).await?;
    p.audit(&mut tx, "contract.created", "contract", c.id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// Get a contract.
#[utoipa::path(get, path = "/api/v1/contracts/{id}", tag = "contracts", params(("id" = ContractId, Path)),
    responses((status = 200, body = Contract), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_contract(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ContractId>,
) -> ApiResult<axum::Json<Contract>> {
    p.require(Permission::ClientsRead)?;
    let mut tx = p.tx(&s).await?;
    let c = contracts::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(c))
}

/// Change a contract. Absent fields stay; `null` clears `hourly_rate` and
/// `recurring_invoice_id`; `sla_targets` replaces the targets. Checked as
/// a new contract is. Running tickets of the client move to changed
/// targets at the next SLA check, each moved due time recorded in the
/// ticket's SLA history (`retargeted`). Audited before and after.
#[utoipa::path(patch, path = "/api/v1/contracts/{id}", tag = "contracts", params(("id" = ContractId, Path)),
    request_body = ContractPatch,
    responses((status = 200, body = Contract), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_contract(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ContractId>,
    Json(body): Json<ContractPatch>,
) -> ApiResult<axum::Json<Contract>> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let (before, after) = contracts::update(&mut tx, id, body).await?;
    let details = serde_json::json!({ "before": before, "after": after });
    p.audit(
        &mut tx,
        "contract.updated",
        "contract",
        id.as_uuid(),
        &details,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(after))
}

/// Delete a contract. One that time was billed under cannot be deleted
/// (409 `contract_in_use`): cancel it instead.
#[utoipa::path(delete, path = "/api/v1/contracts/{id}", tag = "contracts", params(("id" = ContractId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_contract(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ContractId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = contracts::delete(&mut tx, id).await?;
    p.audit(&mut tx, "contract.deleted", "contract", id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
