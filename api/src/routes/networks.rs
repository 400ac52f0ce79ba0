//! A client's networks. Techs and admins, as for assets.

use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::inventory::networks::{self, Network, NetworkPatch, NewNetwork};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::{ClientId, NetworkId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListQuery;
use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_networks, create_network))
        .routes(routes!(get_network, update_network, delete_network))
}

/// List a client's networks, by name; `q` searches names and CIDRs.
#[utoipa::path(get, path = "/api/v1/clients/{id}/networks", tag = "networks",
    params(("id" = ClientId, Path), ListQuery),
    responses((status = 200, body = Page<Network>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_networks(
    p: Principal,
    State(s): State<AppState>,
    Path(client): Path<ClientId>,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<Page<Network>>> {
    p.require(Permission::AssetsRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let page = networks::list(&mut tx, client, q.search(), &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Add a network to a client.
#[utoipa::path(post, path = "/api/v1/clients/{id}/networks", tag = "networks",
    params(("id" = ClientId, Path)), request_body = NewNetwork,
    responses((status = 201, body = Network), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_network(
    p: Principal,
    State(s): State<AppState>,
    Path(client): Path<ClientId>,
    Json(body): Json<NewNetwork>,
) -> ApiResult<(StatusCode, axum::Json<Network>)> {
    p.require(Permission::AssetsWrite)?;
    let mut tx = p.tx(&s).await?;
    let n = networks::create(&mut tx, client, body).await?;
    p.audit(&mut tx, "network.created", "network", n.id.as_uuid(), &n)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(n)))
}

/// Get a network.
#[utoipa::path(get, path = "/api/v1/clients/{id}/networks/{network_id}", tag = "networks",
    params(("id" = ClientId, Path), ("network_id" = NetworkId, Path)),
    responses((status = 200, body = Network), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_network(
    p: Principal,
    State(s): State<AppState>,
    Path((client, id)): Path<(ClientId, NetworkId)>,
) -> ApiResult<axum::Json<Network>> {
    p.require(Permission::AssetsRead)?;
    let mut tx = p.tx(&s).await?;
    let n = networks::get(&mut tx, client, id).await?;
    tx.end_read();
    Ok(axum::Json(n))
}

/// Change a network. Absent fields stay; `null` clears an optional field.
#[utoipa::path(patch, path = "/api/v1/clients/{id}/networks/{network_id}", tag = "networks",
    params(("id" = ClientId, Path), ("network_id" = NetworkId, Path)), request_body = NetworkPatch,
    responses((status = 200, body = Network), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_network(
    p: Principal,
    State(s): State<AppState>,
    Path((client, id)): Path<(ClientId, NetworkId)>,
    Json(body): Json<NetworkPatch>,
) -> ApiResult<axum::Json<Network>> {
    p.require(Permission::AssetsWrite)?;
    let mut tx = p.tx(&s).await?;
    let n = networks::update(&mut tx, client, id, body).await?;
    p.audit(&mut tx, "network.updated", "network", n.id.as_uuid(), &n)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(n))
}

/// Delete a network.
#[utoipa::path(delete, path = "/api/v1/clients/{id}/networks/{network_id}", tag = "networks",
    params(("id" = ClientId, Path), ("network_id" = NetworkId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_network(
    p: Principal,
    State(s): State<AppState>,
    Path((client, id)): Path<(ClientId, NetworkId)>,
) -> ApiResult<StatusCode> {
    p.require(Permission::AssetsWrite)?;
    let mut tx = p.tx(&s).await?;
    let n = networks::get(&mut tx, client, id).await?;
    networks::delete(&mut tx, client, id).await?;
    p.audit(&mut tx, "network.deleted", "network", id.as_uuid(), &n)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
