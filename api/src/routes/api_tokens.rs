use axum::extract::State;
use axum::http::StatusCode;
use nestogy_domain::ApiTokenId;
use nestogy_domain::identity::tokens::{self, ApiToken, NewApiToken};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageQuery;
use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_tokens, create_api_token))
        .routes(routes!(revoke_api_token))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The token itself. Shown only in this response: store it now.
    pub secret: String,
}

/// List the company's API tokens (admins). Secrets are never shown again.
#[utoipa::path(get, path = "/api/v1/api-tokens", tag = "api tokens", params(PageQuery),
    responses((status = 200, body = Page<ApiToken>)), security(("bearer" = [])))]
async fn list_api_tokens(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<ApiToken>>> {
    p.require(Permission::UsersRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let page = tokens::list_api_tokens(&mut tx, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// Create a scoped API token for an integration (admins, signed in).
#[utoipa::path(post, path = "/api/v1/api-tokens", tag = "api tokens", request_body = NewApiToken,
    responses((status = 201, body = CreatedApiToken), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_api_token(
    p: Principal,
    State(s): State<AppState>,
    Json(body): Json<NewApiToken>,
) -> ApiResult<(StatusCode, axum::Json<CreatedApiToken>)> {
    p.require(Permission::UsersWrite)?;
    p.require_session()?;
    let mut tx = p.tx(&s).await?;
    let (token, secret) = tokens::create_api_token(&mut tx, p.user_id, p.role, body).await?;
    p.audit(
        &mut tx,
        "api_token.created",
        "api_token",
        token.id.as_uuid(),
        &token,
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedApiToken { token, secret }),
    ))
}

/// Revoke an API token (admins). Idempotent.
#[utoipa::path(delete, path = "/api/v1/api-tokens/{id}", tag = "api tokens", params(("id" = ApiTokenId, Path)),
    responses((status = 200, body = ApiToken), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn revoke_api_token(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ApiTokenId>,
) -> ApiResult<axum::Json<ApiToken>> {
    p.require(Permission::UsersWrite)?;
    let mut tx = p.tx(&s).await?;
    let token = tokens::revoke_api_token(&mut tx, id).await?;
    p.audit(
        &mut tx,
        "api_token.revoked",
        "api_token",
        id.as_uuid(),
        &token,
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(token))
}
