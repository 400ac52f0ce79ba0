//! The mail log: every message sent, its state and its attempts
//! (accountants and admins).

use axum::extract::State;
use nestogy_domain::MailId;
use nestogy_domain::kernel::pagination::{Page, PageRequest};
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::platform::mail::{self, Attempt, MailFilter, MailMessage, MailStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mail))
        .routes(routes!(get_mail))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MailQuery {
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub status: Option<MailStatus>,
    /// `invoice`, `quote`, `payment`, `client` or `ticket`.
    pub subject_kind: Option<String>,
    pub subject_id: Option<Uuid>,
}

/// Messages, newest first.
#[utoipa::path(get, path = "/api/v1/mail", tag = "mail", params(MailQuery),
    responses((status = 200, body = Page<MailMessage>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_mail(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<MailQuery>,
) -> ApiResult<axum::Json<Page<MailMessage>>> {
    p.require(Permission::BillingRead)?;
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let filter = MailFilter {
        status: q.status,
        subject_kind: q.subject_kind,
        subject_id: q.subject_id,
    };
    let mut tx = p.tx(&s).await?;
    let out = mail::list(&mut tx, &filter, &page).await?;
    tx.end_read();
    Ok(axum::Json(out))
}

/// A message and each delivery attempt with the server's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailDetail {
    #[serde(flatten)]
    pub message: MailMessage,
    pub attempt_log: Vec<Attempt>,
}

#[utoipa::path(get, path = "/api/v1/mail/{id}", tag = "mail", params(("id" = MailId, Path)),
    responses((status = 200, body = MailDetail), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_mail(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<MailId>,
) -> ApiResult<axum::Json<MailDetail>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let message = mail::get(&mut tx, id).await?;
    let attempt_log = mail::attempts(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(MailDetail {
        message,
        attempt_log,
    }))
}
