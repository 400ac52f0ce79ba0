use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::ClientId;
use nestogy_domain::customers::clients::{
    self, ArchiveFilter, Client, ClientFilter, ClientPatch, NewClient,
};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client, delete_client))
        .routes(routes!(archive_client))
        .routes(routes!(restore_client))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClientListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Case-insensitive search in name and e-mail.
    pub q: Option<String>,
    /// `active` (default), `archived` or `all`.
    #[param(inline)]
    pub status: Option<ArchiveFilter>,
    /// Only these clients: up to 200 ids, comma-separated (for the names
    /// of a page's rows). Unknown ids and other tenants' are left out.
    pub ids: Option<String>,
}

/// The most ids one `ids` filter takes.
const MAX_IDS: usize = 200;

/// The `ids` filter: comma-separated client ids; a malformed one or more
/// than [`MAX_IDS`] is a malformed query.
fn ids_of(raw: Option<&str>) -> ApiResult<Vec<ClientId>> {
    let mut ids = Vec::new();
    for part in raw.unwrap_or_default().split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let id = part.parse::<ClientId>().map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                format!("the query string is invalid: {part:?} in ids is not a client id"),
            )
        })?;
        ids.push(id);
    }
    if ids.len() > MAX_IDS {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("the query string is invalid: ids names at most {MAX_IDS} clients"),
        ));
    }
    Ok(ids)
}

/// List clients, by name.
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", params(ClientListQuery),
    responses((status = 200, body = Page<Client>), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_clients(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ClientListQuery>,
) -> ApiResult<axum::Json<Page<Client>>> {
    p.require(Permission::ClientsRead)?;
    let page =
        nestogy_domain::kernel::pagination::PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let filter = ClientFilter {
        ids: ids_of(q.ids.as_deref())?,
        q: q.q.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
        status: q.status.unwrap_or_default(),
    };
    let mut tx = p.tx(&s).await?;
    let page = clients::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Create a client.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = NewClient,
    responses((status = 201, body = Client), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_client(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewClient>,
) -> ApiResult<(StatusCode, axum::Json<Client>)> {
    p.require(Permission::ClientsWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = clients::create(&mut tx, body).await?;
    p.audit(&mut tx, "client.created", "client", c.id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// Get a client.
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = ClientId, Path)),
    responses((status = 200, body = Client), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_client(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
) -> ApiResult<axum::Json<Client>> {
    p.require(Permission::ClientsRead)?;
    let mut tx = p.tx(&s).await?;
    let c = clients::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(c))
}

/// Change a client. Absent fields stay; `null` clears an optional field.
#[utoipa::path(patch, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = ClientId, Path)),
    request_body = ClientPatch,
    responses((status = 200, body = Client), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_client(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
    Json(body): Json<ClientPatch>,
) -> ApiResult<axum::Json<Client>> {
    p.require(Permission::ClientsWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = clients::update(&mut tx, id, body).await?;
    p.audit(&mut tx, "client.updated", "client", c.id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(c))
}

/// Delete a client with its contacts and locations. Prefer archiving.
#[utoipa::path(delete, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = ClientId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody),
        (status = 409, description = "The client has invoices, tickets, projects or time: archive it instead", body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_client(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ClientsWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = clients::get(&mut tx, id).await?;
    clients::delete(&mut tx, id).await?;
    p.audit(&mut tx, "client.deleted", "client", id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Archive a client: hidden from default lists, kept with its history.
#[utoipa::path(post, path = "/api/v1/clients/{id}/archive", tag = "clients", params(("id" = ClientId, Path)),
    responses((status = 200, body = Client), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn archive_client(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
) -> ApiResult<axum::Json<Client>> {
    set_archived(p, s, id, true).await
}

/// Restore an archived client.
#[utoipa::path(post, path = "/api/v1/clients/{id}/restore", tag = "clients", params(("id" = ClientId, Path)),
    responses((status = 200, body = Client), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn restore_client(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ClientId>,
) -> ApiResult<axum::Json<Client>> {
    set_archived(p, s, id, false).await
}

async fn set_archived(
    p: Principal,
    s: AppState,
    id: ClientId,
    archived: bool,
) -> ApiResult<axum::Json<Client>> {
    p.require(Permission::ClientsWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = clients::set_archived(&mut tx, id, archived).await?;
    let action = if archived {
        "client.archived"
    } else {
        "client.restored"
    };
    p.audit(&mut tx, action, "client", id.as_uuid(), &c).await?;
    tx.commit().await?;
    Ok(axum::Json(c))
}
