//! `/console/settings/xero`: the Xero connection of accounting sync.
//!
//! - Connecting: the API makes the authorisation URL
//!   (`POST /api/v1/accounting/xero/connect`); the console shows it as a
//!   link to follow (a redirect from a form to another site would fall
//!   foul of the pages' `form-action 'self'`). Xero sends the user back to
//!   the API's callback, which finishes the connection in a job.
//! - The connection's state (never its tokens), disconnecting, a sync now,
//!   and the sync runs with their counts.
//! - A sync run (`/console/settings/xero/runs/{id}`,
//!   `GET /api/v1/accounting/sync-runs/{id}`): its counts and each record
//!   it pushed (client, invoice, payment), what happened to it, Xero's id
//!   and the error.

use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::SyncRunId;
use nestogy_domain::integrations::accounting::{
    Connection, ConnectionStatus, ItemAction, RunStatus, SyncItem, SyncRun, SyncRunDetail,
};
use nestogy_domain::kernel::pagination::Page;
use serde::Deserialize;

use super::back;
use crate::api_client::{ApiBody, ApiFailure, query};
use crate::layout::{self, Section};
use crate::pages::clients::{next_link, parse_id};
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/settings/xero";

#[derive(Deserialize)]
struct AuthorizeUrl {
    authorize_url: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    cursor: String,
    /// Set by the API's callback when Xero sent the browser back.
    #[serde(default)]
    connecting: String,
    /// The API's refusal code when the callback failed.
    #[serde(default)]
    xero_error: String,
}

/// What a refused callback's code means to a person (the code itself is
/// never echoed: it comes in the URL).
fn callback_problem(code: &str) -> &'static str {
    match code {
        "" => "",
        "authorisation_declined" => "Xero did not authorise Nestogy. Connect again to retry.",
        "invalid_state" => {
            "This authorisation is unknown or has expired (links are valid for 15 minutes). Connect again."
        }
        "invalid_code" => "Xero sent no authorisation code back. Connect again.",
        _ => "The connection could not be completed. Connect again.",
    }
}

enum Outcome {
    None,
    /// Where to authorise.
    Authorize(String),
    /// What the API said no to (not configured, not connected).
    Refused(ApiFailure),
}

fn run_class(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Succeeded => "ok",
        RunStatus::Failed => "bad",
        _ => "warn",
    }
}

async fn page(c: &Console, p: &ListParams, outcome: Outcome) -> Result<Response, ApiFailure> {
    // The connection is an admin's or an accountant's to read; the gate
    // of this page is the audit log's (admins).
    let (latest, conn, runs) = tokio::join!(
        super::recent(c, "accounting_connection", 5),
        async {
            match c
                .api
                .get::<Connection>("/api/v1/accounting/connection")
                .await
            {
                Ok(x) => Ok(Some(x)),
                Err(e) if e.status == StatusCode::NOT_FOUND => Ok(None),
                Err(e) => Err(e),
            }
        },
        c.api.get::<Page<SyncRun>>(format!(
            "/api/v1/accounting/sync-runs{}",
            query(&[("cursor", p.cursor.as_str())])
        )),
    );
    let (latest, conn, runs) = (latest?, conn?, runs?);
    let status = match &outcome {
        Outcome::Refused(e) => e.status,
        _ => StatusCode::OK,
    };
    let connected = conn
        .as_ref()
        .is_some_and(|x| x.status == ConnectionStatus::Connected);
    let body = html! {
        (back())
        h1 { "Xero" }
        @if let Outcome::Refused(e) = &outcome {
            p.problem #problem role="alert" { (e.message) }
        }
        @if !p.xero_error.is_empty() {
            p.problem #xero-callback-problem role="alert" { (callback_problem(&p.xero_error)) }
        } @else if !p.connecting.is_empty() {
            p.notice #xero-connecting role="status" {
                "Xero authorised Nestogy: the connection is being completed. Reload this page in a moment to see it."
            }
        }
        @if let Outcome::Authorize(url) = &outcome {
            div.notice #xero-authorize-notice role="status" {
                p { "Authorise Nestogy at Xero (the link is valid for 15 minutes); Xero sends you back when done." }
                p { a #xero-authorize href=(url) rel="noreferrer" { "Continue to Xero" } }
            }
        }
        section.card #xero-connection aria-labelledby="xero-connection-title" {
            h2 #xero-connection-title { "Connection" }
            @match &conn {
                None => p #xero-state { "Not connected." },
                Some(x) => dl.figures #xero-state {
                    dt { "Status" } dd #xero-status { (x.status.as_str()) }
                    dt { "Organisation" } dd #xero-org { (x.org_name.as_deref().unwrap_or("–")) }
                    @if let Some(t) = x.connected_at { dt { "Connected" } dd { (c.fmt.datetime(t)) } }
                    dt { "Sales account" } dd { (x.sales_account_code) }
                    dt { "Payments account" } dd { (x.payment_account_code) }
                    @if let Some(e) = &x.last_error { dt { "Last error" } dd.bad { (e) } }
                },
            }
            (layout::post_button(&format!("{BASE}/connect"), c.csrf(), "connect-xero",
                if conn.is_some() { "Connect again" } else { "Connect Xero" }))
            @if conn.is_some() {
                (layout::post_button(&format!("{BASE}/disconnect"), c.csrf(), "disconnect-xero", "Disconnect"))
            }
            @if connected {
                (layout::post_button(&format!("{BASE}/sync"), c.csrf(), "sync-xero", "Sync now"))
            }
        }
        section.card #sync-runs aria-labelledby="sync-runs-title" {
            h2 #sync-runs-title { "Sync runs " span.muted { "(" (runs.total) ")" } }
            @if runs.data.is_empty() { p.muted { "No sync yet." } } @else {
                div.scroll { table #sync-run-list {
                    thead { tr { th { "Started" } th { "Status" } th.n { "Created" } th.n { "Updated" } th.n { "Skipped" } th.n { "Failed" } th { "Error" } } }
                    tbody { @for r in &runs.data {
                        tr id={ "run-" (r.id) } {
                            td { a id={ "open-run-" (r.id) } href={ (BASE) "/runs/" (r.id) } { (c.fmt.datetime(r.created_at)) } }
                            td { span class=(run_class(r.status)) { (r.status.as_str()) } }
                            td.n { (r.created) } td.n { (r.updated) } td.n { (r.skipped) } td.n { (r.failed) }
                            td { (r.error.as_deref().unwrap_or("")) }
                        }
                    } }
                } }
            }
            (next_link(BASE, &[], runs.next_cursor.as_deref()))
        }
        (super::changes(c, "xero-changes", "Latest connection changes", &latest))
    };
    Ok(c.page_with(status, Some(Section::Settings), "Xero", body))
}

/// `GET /console/settings/xero`.
pub async fn show(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    page(&c, &p, Outcome::None).await
}

/// `POST /console/settings/xero/connect`: the page again, with the link
/// to authorise at Xero.
pub async fn connect(
    c: Console,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let outcome = match c
        .api
        .send_empty::<AuthorizeUrl>(Method::POST, "/api/v1/accounting/xero/connect")
        .await
    {
        Ok(a) => Outcome::Authorize(a.authorize_url),
        Err(e) if e.status == StatusCode::CONFLICT || e.is_validation() => Outcome::Refused(e),
        Err(e) => return Err(e),
    };
    page(&c, &ListParams::default(), outcome).await
}

/// `POST /console/settings/xero/disconnect`.
pub async fn disconnect(
    c: Console,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    c.api
        .bytes(
            Method::DELETE,
            "/api/v1/accounting/connection",
            ApiBody::Empty,
            None,
        )
        .await?;
    Ok(see_other(BASE))
}

/// `POST /console/settings/xero/sync`: a sync run now.
pub async fn sync(c: Console, Form(NoFields {}): Form<NoFields>) -> Result<Response, ApiFailure> {
    match c
        .api
        .bytes(
            Method::POST,
            "/api/v1/accounting/sync",
            ApiBody::Empty,
            Some("application/json"),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}#sync-runs"))),
        Err(e) if e.status == StatusCode::CONFLICT => {
            page(&c, &ListParams::default(), Outcome::Refused(e)).await
        }
        Err(e) => Err(e),
    }
}

fn item_class(a: ItemAction) -> &'static str {
    match a {
        ItemAction::Failed => "bad",
        ItemAction::Skipped => "muted",
        _ => "ok",
    }
}

/// The console's page of a record a run pushed, where it has one.
fn entity_link(i: &SyncItem) -> Markup {
    let href = match i.entity_type.as_str() {
        "client" => Some(format!("/console/clients/{}", i.entity_id)),
        "invoice" => Some(format!("/console/invoices/{}", i.entity_id)),
        _ => None,
    };
    html! {
        @match href {
            Some(h) => a href=(h) { code { (i.entity_id) } },
            None => code { (i.entity_id) },
        }
    }
}

/// `GET /console/settings/xero/runs/{id}`: a sync run and its items.
pub async fn run(c: Console, Path(id): Path<String>) -> Result<Response, ApiFailure> {
    let id: SyncRunId = parse_id(&c, &id, "sync run")?;
    let d: SyncRunDetail = c
        .api
        .get(format!("/api/v1/accounting/sync-runs/{id}"))
        .await?;
    let r = &d.run;
    let title = format!("Sync run of {}", c.fmt.datetime(r.created_at));
    let body = html! {
        p { a href={ (BASE) "#sync-runs" } { "← Xero" } }
        h1 { (title) }
        section.card #run-summary aria-labelledby="run-summary-title" {
            h2 #run-summary-title { "Summary" }
            dl.figures {
                dt { "Provider" } dd { (r.provider) }
                dt { "Status" } dd #run-status { span class=(run_class(r.status)) { (r.status.as_str()) } }
                @if let Some(t) = r.started_at { dt { "Started" } dd { (c.fmt.datetime(t)) } }
                @if let Some(t) = r.finished_at { dt { "Finished" } dd { (c.fmt.datetime(t)) } }
                dt { "Created" } dd { (r.created) }
                dt { "Updated" } dd { (r.updated) }
                dt { "Skipped" } dd { (r.skipped) }
                dt { "Failed" } dd { (r.failed) }
                @if let Some(e) = &r.error { dt { "Error" } dd.bad #run-error { (e) } }
            }
        }
        section.card #run-items aria-labelledby="run-items-title" {
            h2 #run-items-title { "Records " span.muted { "(" (d.items.len()) ")" } }
            p.muted { "Records left unchanged (skipped) are counted, not listed." }
            @if d.items.is_empty() { p.muted { "No record was pushed." } } @else {
                div.scroll { table #run-item-list {
                    thead { tr { th { "When" } th { "Record" } th { "Id" } th { "Outcome" } th { "Xero id" } th { "Error" } } }
                    tbody { @for i in &d.items {
                        tr {
                            td { (c.fmt.datetime(i.created_at)) }
                            td { (crate::fmt::label(&i.entity_type)) }
                            td { (entity_link(i)) }
                            td { span class=(item_class(i.action)) { (i.action.as_str()) } }
                            td { (i.external_id.as_deref().unwrap_or("–")) }
                            td { @if let Some(e) = &i.error { span.bad { (e) } } }
                        }
                    } }
                } }
            }
        }
    };
    Ok(c.page(Section::Settings, &title, body))
}
