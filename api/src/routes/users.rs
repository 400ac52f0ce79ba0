use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::UserId;
use nestogy_domain::identity::users::{self, NewUser, StaffMember, User, UserFilter, UserPatch};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::{Permission, Role};
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
        .routes(routes!(list_users, create_user))
        .routes(routes!(list_staff))
        .routes(routes!(get_user, update_user, deactivate_user))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Case-insensitive search in name and e-mail.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// List the company's users, by name (admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListQuery),
    responses((status = 200, body = Page<User>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_users(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<UserListQuery>,
) -> ApiResult<axum::Json<Page<User>>> {
    p.require(Permission::UsersRead)?;
    let page =
        nestogy_domain::kernel::pagination::PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let filter = UserFilter {
        q: q.q.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
        role: q.role,
        active: q.active,
    };
    let mut tx = p.tx(&s).await?;
    let page = users::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StaffListQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub role: Option<Role>,
}

/// The staff directory: the company's active users by name, as every role
/// may see them (name and role; no e-mail, rate or sign-in details), for
/// assigning tickets and naming who did what.
#[utoipa::path(get, path = "/api/v1/staff", tag = "users", params(StaffListQuery),
    responses((status = 200, body = Page<StaffMember>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_staff(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<StaffListQuery>,
) -> ApiResult<axum::Json<Page<StaffMember>>> {
    p.require(Permission::CompanyRead)?;
    let page =
        nestogy_domain::kernel::pagination::PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    // No text search: it would match e-mail addresses this list hides.
    let filter = UserFilter {
        q: None,
        role: q.role,
        active: Some(true),
    };
    let mut tx = p.tx(&s).await?;
    let page = users::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(page.map(StaffMember::from)))
}

/// Create a user (admins). E-mail addresses are unique across Nestogy.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = User), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_user(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    p.require(Permission::UsersWrite)?;
    let mut tx = p.tx(&s).await?;
    let u = users::create(&mut tx, body).await?;
    p.audit(&mut tx, "user.created", "user", u.id.as_uuid(), &u)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(u)))
}

/// Get a user (admins).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = UserId, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_user(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
) -> ApiResult<axum::Json<User>> {
    p.require(Permission::UsersRead)?;
    let mut tx = p.tx(&s).await?;
    let u = users::get(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(u))
}

/// Change a user (admins). A new password or deactivation ends the user's
/// sessions and API tokens. The last active admin cannot be demoted.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = UserId, Path)),
    request_body = UserPatch,
    responses((status = 200, body = User), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_user(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
    Json(body): Json<UserPatch>,
) -> ApiResult<axum::Json<User>> {
    p.require(Permission::UsersWrite)?;
    let password_changed = body.password.is_some();
    let mut tx = p.tx(&s).await?;
    let u = users::update(&mut tx, id, body).await?;
    p.audit(
        &mut tx,
        "user.updated",
        "user",
        u.id.as_uuid(),
        &serde_json::json!({
            "user": u, "password_changed": password_changed
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(u))
}

/// Deactivate a user (admins): they can no longer sign in; their rows stay.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = UserId, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn deactivate_user(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
) -> ApiResult<axum::Json<User>> {
    p.require(Permission::UsersWrite)?;
    let mut tx = p.tx(&s).await?;
    let u = users::deactivate(&mut tx, id).await?;
    p.audit(&mut tx, "user.deactivated", "user", u.id.as_uuid(), &u)
        .await?;
    tx.commit().await?;
    Ok(axum::Json(u))
}
