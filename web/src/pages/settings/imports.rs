//! `/console/settings/imports`: CSV imports of clients, contacts,
//! locations and assets, and CSV exports.
//!
//! - The upload form is `multipart/form-data`; its CSRF field is checked
//!   before the file is sent to `POST /api/v1/imports` (the raw CSV as the
//!   body, `text/csv`), which checks the file and answers 202 with the
//!   import; the browser goes to the import's page.
//! - An import's page: its status and counts (a job imports it: the page
//!   says to reload while it is queued) and its row errors, page by page.
//! - Exports: the API's CSV (`GET /api/v1/exports/{kind}`), streamed
//!   through, by kind and an optional date range.
//!
//! Who may import what is the API's rule (clients, contacts and locations
//! for those who may change clients; assets for those who may change
//! assets), so this page is not for admins only.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use nestogy_api::admin::session::see_other;
use nestogy_domain::ImportId;
use nestogy_domain::integrations::exports::ExportKind;
use nestogy_domain::integrations::imports::{Import, ImportKind, ImportStatus, RowError};
use nestogy_domain::kernel::pagination::Page;
use serde::Deserialize;

use super::{back, same_secret};
use crate::api_client::{ApiBody, ApiFailure, query};
use crate::layout::{self, CSRF_FIELD, Section};
use crate::pages::clients::{next_link, parse_id, refusal};
use crate::session::Console;

const BASE: &str = "/console/settings/imports";

/// Largest upload: the API's import limit and room for the form's parts.
pub const UPLOAD_LIMIT: usize = 10 * 1024 * 1024 + 64 * 1024;

#[derive(Deserialize)]
struct Queued {
    import: Import,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    cursor: String,
}

/// The upload form's parts.
#[derive(Default)]
struct Upload {
    csrf: Option<String>,
    kind: String,
    mode: String,
    filename: String,
    bytes: Vec<u8>,
}

async fn read_upload(mut m: Multipart) -> Result<Upload, ()> {
    let mut u = Upload::default();
    while let Some(field) = m.next_field().await.map_err(|_| ())? {
        match field.name() {
            Some(CSRF_FIELD) => u.csrf = Some(field.text().await.map_err(|_| ())?),
            Some("kind") => u.kind = field.text().await.map_err(|_| ())?,
            Some("mode") => u.mode = field.text().await.map_err(|_| ())?,
            Some("file") => {
                u.filename = field.file_name().unwrap_or_default().to_owned();
                u.bytes = field.bytes().await.map_err(|_| ())?.to_vec();
            }
            _ => return Err(()),
        }
    }
    Ok(u)
}

fn status_class(s: ImportStatus) -> &'static str {
    match s {
        ImportStatus::Completed => "ok",
        ImportStatus::Failed => "bad",
        ImportStatus::Queued => "warn",
    }
}

async fn list_page(
    c: &Console,
    p: &ListParams,
    refused: Option<(&Upload, &ApiFailure)>,
) -> Result<Response, ApiFailure> {
    let imports: Page<Import> = c
        .api
        .get(format!(
            "/api/v1/imports{}",
            query(&[("cursor", p.cursor.as_str())])
        ))
        .await?;
    let (u, e) = match refused {
        Some((u, e)) => (Some(u), Some(e)),
        None => (None, None),
    };
    let kind = u.map(|u| u.kind.as_str()).unwrap_or("clients");
    let mode = u.map(|u| u.mode.as_str()).unwrap_or("all_or_nothing");
    let body = html! {
        (back())
        h1 { "Imports and exports" }
        div.grid {
            section.card #new-import aria-labelledby="new-import-title" {
                h2 #new-import-title { "Import a CSV file" }
                form.stack #import-form method="post" action=(BASE) enctype="multipart/form-data" {
                    (layout::csrf_field(c.csrf()))
                    (refusal(e))
                    label for="import-kind" { "What the file holds" }
                    select #import-kind name="kind" {
                        @for k in ImportKind::ALL {
                            option value=(k.as_str()) selected[k.as_str() == kind] { (k.as_str()) }
                        }
                    }
                    label for="import-mode" { "When a row is wrong" }
                    select #import-mode name="mode" {
                        option value="all_or_nothing" selected[mode == "all_or_nothing"] { "Import nothing" }
                        option value="valid_rows" selected[mode == "valid_rows"] { "Import the valid rows" }
                    }
                    label for="import-file" { "File " span.hint { "(CSV, UTF-8, a header row; at most 10 MiB)" } }
                    input #import-file name="file" type="file" accept=".csv,text/csv" required;
                    button type="submit" #upload-import { "Import" }
                }
            }
            section.card #exports aria-labelledby="exports-title" {
                h2 #exports-title { "Export as CSV" }
                form.stack #export-form method="get" action="/console/settings/exports" {
                    label for="export-kind" { "What" }
                    select #export-kind name="kind" {
                        @for k in ExportKind::ALL { option value=(k.as_str()) { (k.as_str()) } }
                    }
                    label for="export-from" { "From " span.hint { "(optional; invoices by issue date, payments by day paid, tickets by day opened)" } }
                    input #export-from name="from" type="date";
                    label for="export-to" { "To (included)" }
                    input #export-to name="to" type="date";
                    button type="submit" #download-export { "Download" }
                }
            }
        }
        section.card #import-list aria-labelledby="imports-title" {
            h2 #imports-title { "Imports " span.muted { "(" (imports.total) ")" } }
            @if imports.data.is_empty() { p.muted { "No import yet." } } @else {
                div.scroll { table #imports {
                    thead { tr {
                        th { "Started" } th { "File" } th { "Of" } th { "Status" }
                        th.n { "Rows" } th.n { "Created" } th.n { "Updated" } th.n { "Failed" }
                    } }
                    tbody { @for i in &imports.data {
                        tr id={ "import-" (i.id) } {
                            td { a href={ (BASE) "/" (i.id) } { (c.fmt.datetime(i.created_at)) } }
                            td { (i.filename.as_deref().unwrap_or("–")) }
                            td { (i.kind.as_str()) }
                            td { span class=(status_class(i.status)) { (i.status.as_str()) } }
                            td.n { (i.total_rows) }
                            td.n { (i.created_rows) }
                            td.n { (i.updated_rows) }
                            td.n { (i.failed_rows) }
                        }
                    } }
                } }
            }
            (next_link(BASE, &[], imports.next_cursor.as_deref()))
        }
    };
    let status = e.map(|e| e.status).unwrap_or(StatusCode::OK);
    Ok(c.page_with(status, Some(Section::Settings), "Imports and exports", body))
}

/// `GET /console/settings/imports`.
pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    list_page(&c, &p, None).await
}

/// `POST /console/settings/imports` (`multipart/form-data`): the CSRF field
/// first, then the file to the API as its body.
pub async fn upload(
    c: Console,
    m: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiFailure> {
    let Ok(m) = m else {
        return Ok(c.problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the file from the import form (multipart/form-data)",
        ));
    };
    let Ok(mut u) = read_upload(m).await else {
        return Ok(c.problem(
            StatusCode::BAD_REQUEST,
            "the form could not be read (is the file larger than 10 MiB?)",
        ));
    };
    if !u.csrf.as_deref().is_some_and(|t| same_secret(t, c.csrf())) {
        return Ok(c.problem(
            StatusCode::FORBIDDEN,
            "this form is out of date or did not come from this site: reload the page and try again",
        ));
    }
    let path = format!(
        "/api/v1/imports{}",
        query(&[
            ("kind", u.kind.as_str()),
            ("mode", u.mode.as_str()),
            ("filename", u.filename.as_str()),
        ])
    );
    let sent = c
        .api
        .bytes(
            Method::POST,
            path,
            ApiBody::Raw {
                // The browser names a CSV file as it likes
                // (application/vnd.ms-excel, say); the API reads the bytes.
                content_type: "text/csv; charset=utf-8".into(),
                bytes: std::mem::take(&mut u.bytes),
            },
            Some("application/json"),
        )
        .await;
    match sent {
        Ok(r) => match serde_json::from_slice::<Queued>(&r.bytes) {
            Ok(q) => Ok(see_other(&format!("{BASE}/{}", q.import.id))),
            Err(_) => Err(ApiFailure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the API's answer to the import did not read",
            )
            .in_frame(c.chrome.clone())),
        },
        Err(e)
            if e.is_validation()
                || e.status == StatusCode::UNSUPPORTED_MEDIA_TYPE
                || e.status == StatusCode::PAYLOAD_TOO_LARGE =>
        {
            list_page(&c, &ListParams::default(), Some((&u, &e))).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    #[serde(default)]
    cursor: String,
}

/// `GET /console/settings/imports/{id}`: the import and its row errors.
pub async fn show(
    c: Console,
    Path(id): Path<String>,
    Query(p): Query<ShowParams>,
) -> Result<Response, ApiFailure> {
    let id: ImportId = parse_id(&c, &id, "import")?;
    let (imp, errors) = tokio::join!(
        c.api.get::<Import>(format!("/api/v1/imports/{id}")),
        c.api.get::<Page<RowError>>(format!(
            "/api/v1/imports/{id}/errors{}",
            query(&[("cursor", p.cursor.as_str())])
        )),
    );
    let (imp, errors) = (imp?, errors?);
    let base = format!("{BASE}/{id}");
    let title = format!(
        "Import of {}",
        imp.filename.as_deref().unwrap_or(imp.kind.as_str())
    );
    let body = html! {
        p { a href=(BASE) { "← Imports and exports" } }
        h1 { (title) }
        section.card #import-state aria-labelledby="import-state-title" {
            h2 #import-state-title { "Status: " span #import-status class=(status_class(imp.status)) { (imp.status.as_str()) } }
            @if imp.status == ImportStatus::Queued {
                p.notice role="status" { "The file is being imported. " a href=(base) { "Reload" } " in a moment." }
            }
            @if let Some(f) = &imp.failure { p.problem #import-failure role="alert" { (f) } }
            dl.figures {
                dt { "Of" } dd { (imp.kind.as_str()) }
                dt { "When a row is wrong" } dd { (imp.mode.as_str()) }
                dt { "Rows" } dd { (imp.total_rows) }
                dt { "Created" } dd #created-rows { (imp.created_rows) }
                dt { "Updated" } dd { (imp.updated_rows) }
                dt { "Unchanged" } dd { (imp.unchanged_rows) }
                dt { "Failed" } dd #failed-rows { (imp.failed_rows) }
                dt { "Started" } dd { (c.fmt.datetime(imp.created_at)) }
                @if let Some(t) = imp.finished_at { dt { "Finished" } dd { (c.fmt.datetime(t)) } }
            }
        }
        section.card #row-errors aria-labelledby="row-errors-title" {
            h2 #row-errors-title { "Row errors " span.muted { "(" (errors.total) ")" } }
            @if errors.data.is_empty() { p.muted { "None." } } @else {
                div.scroll { table #row-error-list {
                    thead { tr { th.n { "Row" } th { "Column" } th { "Problem" } } }
                    tbody { @for e in &errors.data {
                        tr {
                            td.n { (e.row) }
                            td { @if e.field.is_empty() { span.muted { "the row" } } @else { code { (e.field) } } }
                            td { (e.message) }
                        }
                    } }
                } }
            }
            (next_link(&base, &[], errors.next_cursor.as_deref()))
        }
    };
    Ok(c.page(Section::Settings, &title, body))
}

#[derive(Debug, Default, Deserialize)]
pub struct ExportParams {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// `GET /console/settings/exports?kind=&from=&to=`: the API's CSV, passed
/// on as a download.
pub async fn export(c: Console, Query(p): Query<ExportParams>) -> Result<Response, ApiFailure> {
    let Some(kind) = ExportKind::parse(p.kind.trim()) else {
        return Err(ApiFailure::not_found("export").in_frame(c.chrome.clone()));
    };
    let r = c
        .api
        .bytes(
            Method::GET,
            format!(
                "/api/v1/exports/{}{}",
                kind.as_str(),
                query(&[("from", p.from.trim()), ("to", p.to.trim())])
            ),
            ApiBody::Empty,
            Some("text/csv"),
        )
        .await?;
    let mut out = (StatusCode::OK, r.bytes).into_response();
    for name in [header::CONTENT_TYPE, header::CONTENT_DISPOSITION] {
        if let Some(v) = r.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(out)
}
