use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::customers::contacts::{self, Contact, ContactPatch, NewContact};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::{ClientId, ContactId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ListQuery;
use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(get_contact, update_contact, delete_contact))
}

/// List a client's contacts, by name.
#[utoipa::path(get, path = "/api/v1/clients/{id}/contacts", tag = "contacts",
    params(("id" = ClientId, Path), ListQuery),
    responses((status = 200, body = Page<Contact>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_contacts(
    p: Principal,
    State(s): State<AppState>,
    Path(client): Path<ClientId>,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<Page<Contact>>> {
    p.require(Permission::ClientsRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let page = contacts::list(&mut tx, client, q.search(), &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Add a contact to a client. Its e-mail address must be unique within the client.
#[utoipa::path(post, path = "/api/v1/clients/{id}/contacts", tag = "contacts",
    params(("id" = ClientId, Path)), request_body = NewContact,
    responses((status = 201, body = Contact), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_contact(
    p: Principal,
    State(s): State<AppState>,
    Path(client): Path<ClientId>,
    Json(body): Json<NewContact>,
) -> ApiResult<(StatusCode, axum::Json<Contact>)> {
    p.require(Permission::ClientsWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = contacts::create(&mut tx, client, body).await?;
    p.audit(&mut tx, "contact.created", "contact", c.id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// Get a contact.
#[utoipa::path(get, path = "/api/v1/clients/{id}/contacts/{contact_id}", tag = "contacts",
    params(("id" = ClientId, Path), ("contact_id" = ContactId, Path)),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_contact(
    p: Principal,
    State(s): State<AppState>,
    Path((client, id)): Path<(ClientId, ContactId)>,
) -> ApiResult<axum::Json<Contact>> {
    p.require(Permission::ClientsRead)?;
    let mut tx = p.tx(&s).await?;
    let c = contacts::get(&mut tx, client, id).await?;
    tx.end_read();
    Ok(axum::Json(c))
}

/// Change a contact. Absent fields stay; `null` clears an optional field.
#[utoipa::path(patch, path = "/api/v1/clients/{id}/contacts/{contact_id}", tag = "contacts",
    params(("id" = ClientId, Path), ("contact_id" = ContactId, Path)), request_body = ContactPatch,
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_contact(
    p: Principal,
    State(s): State<AppState>,
    Path((client, id)): Path<(ClientId, ContactId)>,
    Json(body): Json<ContactPatch>,
) -> ApiResult<axum::Json<Contact>> {
    p.require(Permission::ClientsWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = contacts::update(&mut tx, client, id, body).await?;
    p.audit(&mut tx, "contact.updated", "contact", c.id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(c))
}

/// Delete a contact.
#[utoipa::path(delete, path = "/api/v1/clients/{id}/contacts/{contact_id}", tag = "contacts",
    params(("id" = ClientId, Path), ("contact_id" = ContactId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn delete_contact(
    p: Principal,
    State(s): State<AppState>,
    Path((client, id)): Path<(ClientId, ContactId)>,
) -> ApiResult<StatusCode> {
    p.require(Permission::ClientsWrite)?;
    let mut tx = p.tx(&s).await?;
    let c = contacts::get(&mut tx, client, id).await?;
    contacts::delete(&mut tx, client, id).await?;
    p.audit(&mut tx, "contact.deleted", "contact", id.as_uuid(), &c)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
