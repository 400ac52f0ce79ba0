//! `/console/settings/audit`: the audit log, newest first, with the API's
//! filters (action, entity type, entity id, actor, since a day) and cursor
//! pages; actors are named from the users list.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{NaiveDate, Utc};
use maud::html;
use nestogy_domain::UserId;
use nestogy_domain::identity::users::User;
use nestogy_domain::kernel::audit::AuditEntry;
use nestogy_domain::kernel::pagination::Page;
use serde::Deserialize;

use super::back;
use crate::api_client::{ApiFailure, query};
use crate::layout::Section;
use crate::pages::clients::next_link;
use crate::session::Console;

const BASE: &str = "/console/settings/audit";

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    action: String,
    #[serde(default)]
    entity_type: String,
    #[serde(default)]
    entity_id: String,
    #[serde(default)]
    actor: String,
    /// A day (YYYY-MM-DD), from its start in the company's zone.
    #[serde(default)]
    since: String,
    #[serde(default)]
    cursor: String,
}

/// `GET /console/settings/audit`.
pub async fn list(c: Console, Query(f): Query<Filters>) -> Result<Response, ApiFailure> {
    let since = match f.since.trim() {
        "" => None,
        s => match NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|t| t.and_local_timezone(c.fmt.zone).earliest())
        {
            Some(t) => Some(t.with_timezone(&Utc).to_rfc3339()),
            None => {
                return Err(ApiFailure::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "since must be a date (YYYY-MM-DD)",
                )
                .in_frame(c.chrome.clone()));
            }
        },
    };
    let filters = [
        ("action", f.action.trim()),
        ("entity_type", f.entity_type.trim()),
        ("entity_id", f.entity_id.trim()),
        ("actor_user_id", f.actor.trim()),
        ("since", since.as_deref().unwrap_or("")),
    ];
    let mut pairs = filters.to_vec();
    pairs.push(("cursor", f.cursor.as_str()));
    let (log, users) = tokio::join!(
        c.api
            .get::<Page<AuditEntry>>(format!("/api/v1/audit{}", query(&pairs))),
        c.api.get::<Page<User>>("/api/v1/users?limit=200"),
    );
    let (log, users) = (log?, users?);
    let names: HashMap<UserId, &str> = users.data.iter().map(|u| (u.id, u.name.as_str())).collect();
    let links = [
        ("action", f.action.as_str()),
        ("entity_type", f.entity_type.as_str()),
        ("entity_id", f.entity_id.as_str()),
        ("actor", f.actor.as_str()),
        ("since", f.since.as_str()),
    ];
    let body = html! {
        (back())
        h1 { "Audit log" }
        form #audit-filters method="get" action=(BASE) {
            label for="action" { "Action" } " "
            input #action name="action" type="text" placeholder="client.created" value=(f.action);
            " " label for="entity_type" { "On" } " "
            input #entity_type name="entity_type" type="text" placeholder="client" value=(f.entity_type);
            " " label for="entity_id" { "Id" } " "
            input #entity_id name="entity_id" type="text" value=(f.entity_id);
            " " label for="actor" { "By" } " "
            select #actor name="actor" {
                option value="" { "Anyone" }
                @for u in &users.data {
                    option value=(u.id) selected[f.actor == u.id.to_string()] { (u.name) }
                }
            }
            " " label for="since" { "Since" } " "
            input #since name="since" type="date" value=(f.since);
            " " button type="submit" { "Filter" }
        }
        p.muted #audit-count { (log.total) " entries" }
        @if log.data.is_empty() { p.muted { "No entry matches." } } @else {
            div.scroll { table #audit {
                thead { tr { th { "When" } th { "By" } th { "Action" } th { "On" } th { "Details" } } }
                tbody { @for e in &log.data {
                    tr id={ "audit-" (e.id) } {
                        td { (c.fmt.datetime(e.at)) }
                        td {
                            @match e.actor_user_id {
                                Some(u) => (names.get(&u).copied().unwrap_or("a former user")),
                                None => span.muted { "system" },
                            }
                            @if e.actor_token_id.is_some() { " " span.muted { "(API token)" } }
                        }
                        td { code { (e.action) } }
                        td { (e.entity_type) @if let Some(id) = e.entity_id { br; code.muted { (id) } } }
                        td { details { summary { "Details" } pre { (serde_json::to_string_pretty(&e.details).unwrap_or_default()) } } }
                    }
                } }
            } }
        }
        (next_link(BASE, &links, log.next_cursor.as_deref()))
        p { a href="/admin/queues" { "Job queues (operators' dashboard)" } }
    };
    Ok(c.page(Section::Settings, "Audit log", body))
}
