use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::customers::locations::{self, Location, LocationPatch, NewLocation};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::{ClientId, LocationId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListQuery;
use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_locations, create_location))
        .routes(routes!(get_location, update_location, delete_location))
}

/// List a client's locations, by name.
#[utoipa::path(get, path = "/api/v1/clients/{id}/locations", tag = "locations",
    params(("id" = ClientId, Path), ListQuery),
    responses((status = 200, body = Page<Location>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_locations(
    p: Principal,
    State(s): State<AppState>,
    Path(client): Path<ClientId>,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<Page<Location>>> {
    p.require(Permission::ClientsRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let page = locations::list(&mut tx, client, q.search(), &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Add a location (site) to a client.
#[utoipa::path(post, path = "/api/v1/clients/{id}/locations", tag = "locations",
    params(("id" = ClientId, Path)), request_body = NewLocation,
    responses((status = 201, body = Location), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_location(
    p: Principal,
    State(s): State<AppState>,
    Path(client): Path<ClientId>,
    Json(body): Json<NewLocation>,
) -> ApiResult<(StatusCode, axum::Json<Location>)> {
    p.require(Permission::ClientsWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = locations::create(&mut tx, client, body).await?;
    p.audit(&mut tx, "location.created", "location", c.id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// Get a location.
#[utoipa::path(get, path = "/api/v1/clients/{id}/locations/{location_id}", tag = "locations",
    params(("id" = ClientId, Path), ("location_id" = LocationId, Path)),
    responses((status = 200, body = Location), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_location(
    p: Principal,
    State(s): State<AppState>,
    Path((client, id)): Path<(ClientId, LocationId)>,
) -> ApiResult<axum::Json<Location>> {
    p.require(Permission::ClientsRead)?;
    let mut tx = p.tx(&s).await?;
    let c = locations::get(&mut tx, client, id).await?;
    tx.end_read();
    Ok(axum::Json(c))
}

/// Change a location. Absent fields stay; `null` clears an optional field.
#[utoipa::path(patch, path = "/api/v1/clients/{id}/locations/{location_id}", tag = "locations",
    params(("id" = ClientId, Path), ("location_id" = LocationId, Path)), request_body = LocationPatch,
    responses((status = 200, body = Location), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_location(
    p: Principal,
    State(s): State<AppState>,
    Path((client, id)): Path<(ClientId, LocationId)>,
    Json(body): Json<LocationPatch>,
) -> ApiResult<axum::Json<Location>> {
    p.require(Permission::ClientsWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = locations::update(&mut tx, client, id, body).await?;
    p.audit(&mut tx, "location.updated", "location", c.id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(c))
}

/// Delete a location.
#[utoipa::path(delete, path = "/api/v1/clients/{id}/locations/{location_id}", tag = "locations",
    params(("id" = ClientId, Path), ("location_id" = LocationId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_location(
    p: Principal,
    State(s): State<AppState>,
    Path((client, id)): Path<(ClientId, LocationId)>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ClientsWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = locations::get(&mut tx, client, id).await?;
    locations::delete(&mut tx, client, id).await?;
    p.audit(&mut tx, "location.deleted", "location", id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
