//! Accounting sync with Xero: connecting (OAuth 2 authorisation code with
//! PKCE; admins), the connection's state, sync runs and their log (admins
//! and accountants). No route calls Xero: the callback and the sync
//! enqueue jobs.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nestogy_domain::integrations::accounting::{
    self as acc, Connection, SyncRun, SyncRunDetail, XERO,
};
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::{DomainError, SyncRunId};
use nestogy_jobs::accounting::{Connect, RunSync, STATE_TTL, xero};
use nestogy_jobs::enqueue::{EnqueueOptions, enqueue_in};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::PageQuery;
use crate::admin::session::see_other;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Path, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(connect_xero))
        .routes(routes!(xero_callback))
        .routes(routes!(get_connection, disconnect))
        .routes(routes!(start_sync))
        .routes(routes!(list_runs))
        .routes(routes!(get_run))
}

/// Where to send the user to authorise.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeUrl {
    pub authorize_url: String,
}

fn state_hash(state: &str) -> Vec<u8> {
    nestogy_domain::kernel::secrets::hash_token(state)
}

fn sealing_key(s: &AppState) -> ApiResult<&nestogy_domain::kernel::crypto::SecretKey> {
    s.services.secrets.as_ref().ok_or_else(|| {
        ApiError::status(
            StatusCode::CONFLICT,
            "secrets_unavailable",
            "no secret key is configured, so tokens cannot be stored",
        )
    })
}

/// Start connecting Xero: returns the authorisation URL (PKCE, a one-time
/// state valid 15 minutes).
#[utoipa::path(post, path = "/api/v1/accounting/xero/connect", tag = "accounting",
    responses((status = 200, body = AuthorizeUrl), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn connect_xero(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<AuthorizeUrl>> {
    p.require(Permission::CompanyWrite)?;
    let key = sealing_key(&s)?;
    let cfg = &s.services.integrations;
    let a = xero::authorize(&cfg.xero, &cfg.public_url)
        .map_err(|m| ApiError::status(StatusCode::CONFLICT, "xero_not_configured", m))?;
    let mut tx = p.tx(&s).await?;
    let expires = tx.now() + STATE_TTL;
    let verifier = key.seal(p.tenant, &a.pkce_verifier);
    let row =
        acc::begin_authorisation(&mut tx, XERO, &state_hash(&a.state), &verifier, expires).await?;
    p.audit(
        &mut tx,
        "accounting.connect_started",
        "accounting_connection",
        row.id,
        &row.view(),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(AuthorizeUrl {
        authorize_url: a.url,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by Xero when the user declined.
    pub error: Option<String>,
}

/// The connection being completed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Connecting {
    /// Always `connecting`.
    pub status: &'static str,
    /// The job exchanging the code: `GET /api/v1/jobs/{id}` follows it.
    pub job_id: Uuid,
}

fn bad_state() -> ApiError {
    ApiError::bad_request(
        "invalid_state",
        "this authorisation is unknown or expired; connect again",
    )
}

/// Where a browser lands after the callback: the console's Xero page,
/// with what happened.
const CONSOLE_PAGE: &str = "/console/settings/xero";

/// Xero's redirect after authorisation (public: the state names the
/// tenant). Stores the code sealed and enqueues its exchange. A browser
/// (one that accepts `text/html`) is sent on to the console's Xero page
/// (303 to `/console/settings/xero?connecting=1`, or `?xero_error=<code>`);
/// anything else gets the JSON.
#[utoipa::path(get, path = "/api/v1/accounting/xero/callback", tag = "accounting",
    params(CallbackQuery),
    responses((status = 202, body = Connecting), (status = 303, description = "A browser: on to the console's Xero page"),
        (status = 400, body = ErrorBody)))]
async fn xero_callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let browser = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"));
    match (complete_connect(&s, q).await, browser) {
        (Ok(_), true) => see_other(&format!("{CONSOLE_PAGE}?connecting=1")),
        (Ok(c), false) => (StatusCode::ACCEPTED, axum::Json(c)).into_response(),
        (Err(e), true) => {
            let code = match &e {
                ApiError::BadRequest { code, .. } | ApiError::Status { code, .. } => code,
                ApiError::InvalidBody { .. } => "invalid_body",
                ApiError::Domain(_) => "failed",
            };
            see_other(&format!("{CONSOLE_PAGE}?xero_error={code}"))
        }
        (Err(e), false) => e.into_response(),
    }
}

async fn complete_connect(s: &AppState, q: CallbackQuery) -> ApiResult<Connecting> {
    let state = q
        .state
        .as_deref()
        .filter(|x| !x.is_empty() && x.len() <= 512);
    let Some(state) = state else {
        return Err(bad_state());
    };
    if let Some(e) = q.error.as_deref() {
        return Err(ApiError::bad_request(
            "authorisation_declined",
            format!(
                "Xero did not authorise: {}",
                e.chars().take(100).collect::<String>()
            ),
        ));
    }
    let code = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| ApiError::bad_request("invalid_code", "the callback carries no code"))?;
    let hash = state_hash(state);
    let Some(tenant) = acc::state_tenant(&s.db.pool, &hash).await? else {
        return Err(bad_state());
    };
    let key = sealing_key(s)?;
    let mut tx = s.db.tenant(tenant).await?;
    if !acc::accept_code(&mut tx, &hash, &key.seal(tenant, code)).await? {
        return Err(bad_state());
    }
    let job = enqueue_in(
        &mut tx,
        &Connect { tenant },
        EnqueueOptions {
            run_at: None,
            unique_key: Some(format!("accounting.connect:{}", hex::encode(&hash[..16]))),
        },
    )
    .await?;
    tx.commit().await?;
    let job = job.push(&s.queue).await;
    Ok(Connecting {
        status: "connecting",
        job_id: job.as_uuid(),
    })
}

/// The tenant's Xero connection (never its tokens).
#[utoipa::path(get, path = "/api/v1/accounting/connection", tag = "accounting",
    responses((status = 200, body = Connection), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_connection(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<axum::Json<Connection>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let row = acc::connection(&mut tx, XERO).await?;
    tx.end_read();
    let row = row.ok_or_else(|| DomainError::not_found("accounting connection"))?;
    Ok(axum::Json(row.view()))
}

/// Disconnect Xero: the tokens are deleted (links stay).
#[utoipa::path(delete, path = "/api/v1/accounting/connection", tag = "accounting",
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn disconnect(p: Principal, State(s): State<AppState>) -> ApiResult<StatusCode> {
    p.require(Permission::CompanyWrite)?;
    let mut tx = p.tx(&s).await?;
    let row = acc::connection(&mut tx, XERO)
        .await?
        .ok_or_else(|| DomainError::not_found("accounting connection"))?;
    acc::disconnect(&mut tx, XERO).await?;
    p.audit(
        &mut tx,
        "accounting.disconnected",
        "accounting_connection",
        row.id,
        &row.view(),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A sync run started.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStarted {
    pub run: SyncRunId,
    pub job_id: Uuid,
}

/// Push clients, invoices and payments to Xero: 202 with the run.
#[utoipa::path(post, path = "/api/v1/accounting/sync", tag = "accounting",
    responses((status = 202, body = SyncStarted), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn start_sync(
    p: Principal,
    State(s): State<AppState>,
) -> ApiResult<(StatusCode, axum::Json<SyncStarted>)> {
    p.require(Permission::BillingWrite)?;
    let mut tx = p.tx(&s).await?;
    let connected = acc::connection(&mut tx, XERO)
        .await?
        .is_some_and(|c| c.status() == acc::ConnectionStatus::Connected);
    if !connected {
        return Err(DomainError::conflict(
            "not_connected",
            "Xero is not connected (or needs re-authorisation)",
        )
        .into());
    }
    let run = acc::create_run(&mut tx, XERO).await?;
    p.audit(
        &mut tx,
        "accounting.sync_started",
        "accounting_sync_run",
        run.as_uuid(),
        &run,
    )
    .await?;
    let job = enqueue_in(
        &mut tx,
        &RunSync {
            tenant: p.tenant,
            run,
        },
        EnqueueOptions {
            run_at: None,
            unique_key: Some(format!("accounting.sync:{run}")),
        },
    )
    .await?;
    acc::set_run_job(&mut tx, run, job.id()).await?;
    tx.commit().await?;
    let job = job.push(&s.queue).await;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(SyncStarted {
            run,
            job_id: job.as_uuid(),
        }),
    ))
}

/// Sync runs, newest first.
#[utoipa::path(get, path = "/api/v1/accounting/sync-runs", tag = "accounting",
    params(PageQuery),
    responses((status = 200, body = Page<SyncRun>), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_runs(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<SyncRun>>> {
    p.require(Permission::BillingRead)?;
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let runs = acc::list_runs(&mut tx, &page).await?;
    tx.end_read();
    Ok(axum::Json(runs))
}

/// A sync run with what it did to each record.
#[utoipa::path(get, path = "/api/v1/accounting/sync-runs/{id}", tag = "accounting",
    params(("id" = SyncRunId, Path)),
    responses((status = 200, body = SyncRunDetail), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_run(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<SyncRunId>,
) -> ApiResult<axum::Json<SyncRunDetail>> {
    p.require(Permission::BillingRead)?;
    let mut tx = p.tx(&s).await?;
    let run = acc::run_detail(&mut tx, id).await?;
    tx.end_read();
    Ok(axum::Json(run))
}
