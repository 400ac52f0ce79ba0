//! Assets: CRUD, the list with filters and search, bulk status and location
//! changes, history, and warranties expiring soon. Techs and admins.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use nestogy_domain::inventory::assets::{
    self, Asset, AssetEvent, AssetFilter, AssetPatch, AssetStatus, AssetType, MAX_EXPIRING_DAYS,
    NewAsset,
};
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::{AssetId, ClientId, LocationId, identity::company};
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
        .routes(routes!(list_assets, create_asset))
        .routes(routes!(get_asset, update_asset, delete_asset))
        .routes(routes!(asset_history))
        .routes(routes!(bulk_status))
        .routes(routes!(bulk_location))
        .routes(routes!(expiring_warranties))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssetListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub client_id: Option<ClientId>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub asset_type: Option<AssetType>,
    pub status: Option<AssetStatus>,
    pub location_id: Option<LocationId>,
    /// Warranty expiring on or after this day.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub warranty_from: Option<NaiveDate>,
    /// Warranty expiring on or before this day.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub warranty_to: Option<NaiveDate>,
    /// Case-insensitive search in name, serial, hostname, make and model.
    pub q: Option<String>,
}

/// List assets by name, filtered.
#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", params(AssetListQuery),
    responses((status = 200, body = Page<Asset>), (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_assets(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<AssetListQuery>,
) -> ApiResult<axum::Json<Page<Asset>>> {
    p.require(Permission::AssetsRead)?;
    let mut v = ValidationErrors::new();
    let page = PageRequest::parse(&mut v, q.limit, q.cursor.as_deref());
    let search =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        v.add("q", "too_long", "q must be at most 200 characters");
    }
    if let (Some(from), Some(to)) = (q.warranty_from, q.warranty_to)
        && from > to
    {
        v.add(
            "warranty_to",
            "before_from",
            "warranty_to must not be before warranty_from",
        );
    }
    v.finish()?;
    let filter = AssetFilter {
        client_id: q.client_id,
        asset_type: q.asset_type,
        status: q.status,
        location_id: q.location_id,
        warranty_from: q.warranty_from,
        warranty_to: q.warranty_to,
        q: search,
    };
    let mut tx = p.tx(&s).await?;
    let page = assets::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Add an asset to a client.
#[utoipa::path(post, path = "/api/v1/assets", tag = "assets", request_body = NewAsset,
    responses((status = 201, body = Asset), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_asset(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewAsset>,
) -> ApiResult<(StatusCode, axum::Json<Asset>)> {
    p.require(Permission::AssetsWrite)?;
    let mut tx = p.tx(&s).await?;
    let a = assets::create(&mut tx, body, Some(p.user_id)).await?;
    p.audit(&mut tx, "asset.created", "asset", a.id.as_uuid(), &a)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(a)))
}

/// Get an asset.
#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "assets", params(("id" = AssetId, Path)),
    responses((status = 200, body = Asset), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_asset(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<AssetId>,
) -> ApiResult<axum::Json<Asset>> {
    p.require(Permission::AssetsRead)?;
    let mut tx = p.tx(&s).await?;
    let a = assets::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(a))
}

/// Change an asset. Absent fields stay; `null` clears an optional field.
/// Each change is recorded in its history.
#[utoipa::path(patch, path = "/api/v1/assets/{id}", tag = "assets", params(("id" = AssetId, Path)),
    request_body = AssetPatch,
    responses((status = 200, body = Asset), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_asset(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<AssetId>,
    Json(body): Json<AssetPatch>,
) -> ApiResult<axum::Json<Asset>> {
    p.require(Permission::AssetsWrite)?;
    let mut tx = p.tx(&s).await?;
    let a = assets::update(&mut tx, id, body, Some(p.user_id)).await?;
    p.audit(&mut tx, "asset.updated", "asset", id.as_uuid(), &a)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(a))
}

/// Delete an asset with its history (the audit log keeps the deletion).
#[utoipa::path(delete, path = "/api/v1/assets/{id}", tag = "assets", params(("id" = AssetId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_asset(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<AssetId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::AssetsWrite)?;
    let mut tx = p.tx(&s).await?;
    let a = assets::lock(&mut tx, id).await?;
    assets::delete(&mut tx, id).await?;
    p.audit(&mut tx, "asset.deleted", "asset", id.as_uuid(), &a)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An asset's changes, oldest first: who changed which fields from what to what.
#[utoipa::path(get, path = "/api/v1/assets/{id}/history", tag = "assets",
    params(("id" = AssetId, Path), crate::routes::PageQuery),
    responses((status = 200, body = Page<AssetEvent>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn asset_history(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<AssetId>,
    Query(q): Query<crate::routes::PageQuery>,
) -> ApiResult<axum::Json<Page<AssetEvent>>> {
    p.require(Permission::AssetsRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let page = assets::history(&mut tx, id, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetBulkStatusRequest {
    /// 1 to 500 assets of this company; all are changed or none.
    pub ids: Vec<AssetId>,
    pub status: AssetStatus,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetBulkLocationRequest {
    /// 1 to 500 assets, all of the location's client; all are changed or none.
    pub ids: Vec<AssetId>,
    /// `null` takes the assets out of any location.
    pub location_id: Option<LocationId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssetBulkResult {
    /// The assets that changed (those already so are left out).
    pub changed: Vec<Asset>,
}

/// Set the status of many assets at once, all or none.
#[utoipa::path(post, path = "/api/v1/assets/bulk-status", tag = "assets",
    request_body = AssetBulkStatusRequest,
    responses((status = 200, body = AssetBulkResult), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn bulk_status(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<AssetBulkStatusRequest>,
) -> ApiResult<axum::Json<AssetBulkResult>> {
    p.require(Permission::AssetsWrite)?;
    let mut tx = p.tx(&s).await?;
    let changed = assets::bulk_status(&mut tx, &body.ids, body.status, Some(p.user_id)).await?;
    for a in &changed {
        p.audit(&mut tx, "asset.status_changed", "asset", a.id.as_uuid(), a)
            .await?;
    }
    tx.commit().await?;
    Ok(axum::Json(AssetBulkResult { changed }))
}

/// Move many assets to a location of their client (or to none), all or none.
#[utoipa::path(post, path = "/api/v1/assets/bulk-location", tag = "assets",
    request_body = AssetBulkLocationRequest,
    responses((status = 200, body = AssetBulkResult), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn bulk_location(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<AssetBulkLocationRequest>,
) -> ApiResult<axum::Json<AssetBulkResult>> {
    p.require(Permission::AssetsWrite)?;
    let mut tx = p.tx(&s).await?;
    let changed =
        assets::bulk_location(&mut tx, &body.ids, body.location_id, Some(p.user_id)).await?;
    for a in &changed {
        p.audit(
            &mut tx,
            "asset.location_changed",
            "asset",
            a.id.as_uuid(),
            a,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(axum::Json(AssetBulkResult { changed }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExpiringQuery {
    /// The window in days from today (the company's time zone), 1 to 365
    /// (default 30).
    pub days: Option<i64>,
    pub client_id: Option<ClientId>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Assets in service whose warranty expires from today to `days` from now,
/// soonest first.
#[utoipa::path(get, path = "/api/v1/assets/warranties/expiring", tag = "assets",
    params(ExpiringQuery),
    responses((status = 200, body = Page<Asset>), (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn expiring_warranties(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ExpiringQuery>,
) -> ApiResult<axum::Json<Page<Asset>>> {
    p.require(Permission::AssetsRead)?;
    let mut v = ValidationErrors::new();
    let page = PageRequest::parse(&mut v, q.limit, q.cursor.as_deref());
    let days = q.days.unwrap_or(30);
    if !(1..=MAX_EXPIRING_DAYS).contains(&days) {
        v.add(
            "days",
            "out_of_range",
            format!("days must be between 1 and {MAX_EXPIRING_DAYS}"),
        );
    }
    v.finish()?;
    let mut tx = p.tx(&s).await?;
    let today = company::today(&mut tx).await?;
    let page = assets::expiring(&mut tx, today, days, q.client_id, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}
