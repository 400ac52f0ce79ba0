//! Bulk CSV import (a job per file) and streamed CSV export.

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nestogy_domain::integrations::exports::{self, ExportFilter, ExportKind};
use nestogy_domain::integrations::imports::{
    self, Import, ImportKind, ImportMode, NewImport, RowError,
};
use nestogy_domain::kernel::files::Files;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use nestogy_domain::kernel::validation::ValidationErrors;
use nestogy_domain::{ClientId, ImportId, customers::clients, identity::company};
use nestogy_jobs::enqueue::{EnqueueOptions, enqueue_in};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::PageQuery;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Path, Query, RawBody};
use crate::state::AppState;

/// Largest import file (10 MiB); larger ones answer 413.
pub const IMPORT_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The upload's path: the one route allowed bodies over 1 MiB.
pub(crate) const IMPORT_PATH: &str = "/api/v1/imports";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_import, list_imports))
        .routes(routes!(get_import))
        .routes(routes!(import_errors))
        .routes(routes!(export))
        .route_layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `clients`, `contacts`, `locations` or `assets`.
    #[param(inline, value_type = ImportKind)]
    pub kind: String,
    /// `all_or_nothing` (default): any row error imports nothing.
    /// `valid_rows`: the valid rows are imported, the others reported.
    #[param(inline, value_type = Option<ImportMode>)]
    pub mode: Option<String>,
    /// The file's name, for people to recognise it.
    pub filename: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportQueued {
    pub import: Import,
    /// The job that runs it: `GET /api/v1/jobs/{job_id}`.
    pub job_id: uuid::Uuid,
}

fn import_permission(kind: ImportKind) -> Permission {
    match kind {
        ImportKind::Assets => Permission::AssetsWrite,
        _ => Permission::ClientsWrite,
    }
}

/// The body must be CSV (`text/csv` or `application/csv`), UTF-8 if a
/// charset is named.
fn check_csv(headers: &HeaderMap) -> ApiResult<()> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut parts = ct.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("");
    let charset_ok = parts
        .filter_map(|p| p.strip_prefix("charset="))
        .all(|c| matches!(c.trim_matches('"'), "utf-8" | "utf8"));
    if !matches!(mime, "text/csv" | "application/csv") || !charset_ok {
        return Err(ApiError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file as CSV with Content-Type: text/csv (UTF-8)",
        ));
    }
    Ok(())
}

/// Import a CSV file of clients, contacts, locations or assets. The file is
/// checked (UTF-8, a header row of known columns with the required ones, at
/// least one row), stored and imported by a job; the answer is 202 with the
/// import and the job. Rows are matched on natural keys (see the import's
/// documentation), so importing the same file again creates nothing.
#[utoipa::path(post, path = "/api/v1/imports", tag = "import and export",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 202, body = ImportQueued), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_import(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, axum::Json<ImportQueued>)> {
    let mut v = ValidationErrors::new();
    let kind = ImportKind::parse(q.kind.trim());
    if kind.is_none() {
        v.add(
            "kind",
            "invalid",
            "kind must be clients, contacts, locations or assets",
        );
    }
    let mode = match q.mode.as_deref().map(str::trim) {
        None | Some("") => Some(ImportMode::AllOrNothing),
        Some(m) => ImportMode::parse(m),
    };
    if mode.is_none() {
        v.add(
            "mode",
            "invalid",
            "mode must be all_or_nothing or valid_rows",
        );
    }
    v.finish()?;
    let (Some(kind), Some(mode)) = (kind, mode) else {
        return Err(ApiError::bad_request("invalid_query", "kind and mode"));
    };
    p.require(import_permission(kind))?;
    check_csv(&headers)?;
    imports::parse(kind, &body)?;
    let id = ImportId::new();
    let key = Files::key(p.tenant, &format!("imports/{id}.csv"));
    s.services
        .files
        .put(&key, body.to_vec())
        .await
        .map_err(|e| {
            ApiError::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the object store is unavailable: {e}"),
            )
        })?;
    let mut tx = p.tx(&s).await?;
    let imp = imports::create(
        &mut tx,
        NewImport {
            id,
            kind,
            mode,
            filename: q.filename,
            file_key: key,
            sha256: hex::encode(Sha256::digest(&body)),
            size_bytes: body.len() as i64,
            created_by: Some(p.user_id),
        },
    )
    .await?;
    p.audit(&mut tx, "import.created", "import", id.as_uuid(), &imp)
        .await?;
    let job = enqueue_in(
        &mut tx,
        &nestogy_jobs::imports::Run {
            tenant: p.tenant,
            import: id,
            user: Some(p.user_id),
        },
        EnqueueOptions {
            run_at: None,
            unique_key: Some(format!("import:{id}")),
        },
    )
    .await?;
    imports::set_job(&mut tx, id, job.id().as_uuid()).await?;
    let imp = imports::get(&mut tx, id).await?;
    tx.commit().await?;
    let job = job.push(&s.queue).await;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(ImportQueued {
            import: imp,
            job_id: job.as_uuid(),
        }),
    ))
}

/// The caller may see imports of `kind`.
fn may_see(p: &Principal, kind: ImportKind) -> ApiResult<()> {
    p.require(import_permission(kind))
}

/// Imports, newest first. Needs permission to import (clients or assets).
#[utoipa::path(get, path = "/api/v1/imports", tag = "import and export", params(PageQuery),
    responses((status = 200, body = Page<Import>)), security(("bearer" = [])))]
async fn list_imports(
    p: Principal,
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Import>>> {
    if p.require(Permission::ClientsWrite).is_err() {
        p.require(Permission::AssetsWrite)?;
    }
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let page = imports::list(&mut tx, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

/// An import: its status and counts.
#[utoipa::path(get, path = "/api/v1/imports/{id}", tag = "import and export",
    params(("id" = ImportId, Path)),
    responses((status = 200, body = Import), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_import(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ImportId>,
) -> ApiResult<axum::Json<Import>> {
    let mut tx = p.tx(&s).await?;
    let imp = imports::get(&mut tx, id).await?;
    tx.end_read();
    may_see(&p, imp.kind)?;
    Ok(axum::Json(imp))
}

/// An import's row errors, by row.
#[utoipa::path(get, path = "/api/v1/imports/{id}/errors", tag = "import and export",
    params(("id" = ImportId, Path), PageQuery),
    responses((status = 200, body = Page<RowError>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn import_errors(
    p: Principal,
    State(s): State<AppState>,
    Path(id): Path<ImportId>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<RowError>>> {
    let page = q.page()?;
    let mut tx = p.tx(&s).await?;
    let imp = imports::get(&mut tx, id).await?;
    may_see(&p, imp.kind)?;
    let page = imports::errors(&mut tx, id, &page).await?;
    tx.end_read();
    Ok(axum::Json(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Only this client's rows.
    pub client_id: Option<ClientId>,
    /// From this day (invoices: issue date; payments: paid on; tickets: created, UTC).
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub from: Option<chrono::NaiveDate>,
    /// To this day, included.
    #[serde(default, deserialize_with = "nestogy_domain::kernel::dates::de_opt")]
    pub to: Option<chrono::NaiveDate>,
}

fn export_permission(kind: ExportKind) -> Permission {
    match kind {
        ExportKind::Clients => Permission::ClientsRead,
        ExportKind::Invoices | ExportKind::Payments => Permission::BillingRead,
        ExportKind::Tickets => Permission::TicketsRead,
        ExportKind::Assets => Permission::AssetsRead,
    }
}

/// Export `clients`, `invoices`, `payments`, `tickets` or `assets` as CSV,
/// streamed. Client and asset files have the import's columns. Text cells
/// that start like a spreadsheet formula get a leading `'`.
#[utoipa::path(get, path = "/api/v1/exports/{kind}", tag = "import and export",
    params(("kind" = inline(ExportKind), Path), ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn export(
    p: Principal,
    State(s): State<AppState>,
    Path(kind): Path<String>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let kind = ExportKind::parse(&kind)
        .ok_or_else(|| ApiError::from(nestogy_domain::DomainError::not_found("export")))?;
    p.require(export_permission(kind))?;
    if let (Some(f), Some(t)) = (q.from, q.to)
        && f > t
    {
        let mut v = ValidationErrors::new();
        v.add("to", "before_from", "to must not be before from");
        v.finish()?;
    }
    let mut tx = p.tx(&s).await?;
    if let Some(c) = q.client_id {
        clients::ensure_exists(&mut tx, c).await?;
    }
    let today = company::today(&mut tx).await?;
    let filter = ExportFilter {
        client_id: q.client_id,
        from: q.from,
        to: q.to,
    };
    let body = Body::from_stream(exports::stream(tx, kind, filter));
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        crate::download::content_disposition("attachment", &exports::filename(kind, today)),
    );
    Ok(resp)
}
