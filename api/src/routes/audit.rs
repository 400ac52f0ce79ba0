use axum::extract::State;
use chrono::{DateTime, Utc};
use nestogy_domain::UserId;
use nestogy_domain::kernel::audit::{self, AuditEntry, AuditFilter};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Query;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// e.g. `client`, `user`, `session`.
    pub entity_type: Option<String>,
    pub entity_id: Option<uuid::Uuid>,
    pub actor_user_id: Option<UserId>,
    /// e.g. `client.created`, `auth.login`.
    pub action: Option<String>,
    /// Only entries at or after this instant (RFC 3339).
    pub since: Option<DateTime<Utc>>,
}

/// The audit log, newest first (admins).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_audit(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<axum::Json<Page<AuditEntry>>> {
    p.require(Permission::AuditRead)?;
    let page =
        nestogy_domain::kernel::pagination::PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let filter = AuditFilter {
        entity_type: q.entity_type,
        entity_id: q.entity_id,
        actor_user_id: q.actor_user_id,
        action: q.action,
        since: q.since,
    };
    let mut tx = p.tx(&s).await?;
    let page = audit::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}
