//! `/console/settings/schedules`: the company's schedules (a job kind fired
//! from a cron expression in a time zone, the company's unless set): the
//! list with each one's next fire, a new schedule, and per schedule: edit
//! (name, cron, time zone, enabled), run now, delete. Which kinds may be
//! scheduled, and what a cron may say, is the API's to check.

use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::ScheduleId;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::platform::schedules::Schedule;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::back;
use crate::api_client::{ApiBody, ApiFailure, query};
use crate::layout::{self, Section};
use crate::pages::clients::{checkbox, input, next_link, parse_id, refusal};
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/settings/schedules";

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    cursor: String,
}

/// The new-schedule form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFields {
    name: String,
    kind: String,
    cron: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    payload: String,
    enabled: Option<String>,
}

/// One schedule's edit form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditFields {
    name: String,
    cron: String,
    /// Empty: follow the company's time zone.
    #[serde(default)]
    time_zone: String,
    enabled: Option<String>,
}

/// `text` as the API's `payload`: JSON when it reads as JSON, else the
/// text itself (for the API to refuse as not an object); none when empty.
fn payload(text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    Some(serde_json::from_str(t).unwrap_or_else(|_| json!(t)))
}

enum Refused {
    New(NewFields, ApiFailure),
    Edit(ScheduleId, EditFields, ApiFailure),
    /// Run now, delete: the API's message.
    Action(ApiFailure),
}

fn edit_form(c: &Console, s: &Schedule, f: &EditFields, p: Option<&ApiFailure>) -> Markup {
    html! {
        form.stack id={ "edit-schedule-" (s.id) } method="post" action={ (BASE) "/" (s.id) } {
            (layout::csrf_field(c.csrf()))
            (refusal(p))
            (input("Name", "name", "text", &f.name, p))
            (input("Cron (minute hour day month weekday)", "cron", "text", &f.cron, p))
            (input("Time zone (empty: the company's)", "time_zone", "text", &f.time_zone, p))
            (checkbox("Enabled", "enabled", f.enabled.is_some()))
            button type="submit" { "Save" }
        }
    }
}

async fn page(
    c: &Console,
    p: &ListParams,
    refused: Option<Refused>,
) -> Result<Response, ApiFailure> {
    let list: Page<Schedule> = c
        .api
        .get(format!(
            "/api/v1/schedules{}",
            query(&[("cursor", p.cursor.as_str())])
        ))
        .await?;
    let status = match &refused {
        Some(Refused::New(_, e)) | Some(Refused::Edit(_, _, e)) | Some(Refused::Action(e)) => {
            e.status
        }
        None => StatusCode::OK,
    };
    let (nf, np) = match &refused {
        Some(Refused::New(f, e)) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let d = NewFields {
        enabled: Some("true".into()),
        ..Default::default()
    };
    let nf = nf.unwrap_or(&d);
    let mut kinds: Vec<&str> = list.data.iter().map(|s| s.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let body = html! {
        (back())
        h1 { "Schedules" }
        @if let Some(Refused::Action(e)) = &refused {
            p.problem #problem role="alert" { (e.message) }
        }
        p.muted { "Times are in each schedule's time zone; the company's is " (c.company.time_zone) "." }
        @if list.data.is_empty() { p.muted { "No schedule." } } @else {
            div.scroll { table #schedules {
                thead { tr { th { "Name" } th { "Job" } th { "Cron" } th { "Time zone" } th { "Enabled" } th { "Next fire" } th { "Actions" } } }
                tbody { @for s in &list.data {
                    tr id={ "schedule-" (s.id) } {
                        td { (s.name) }
                        td { code { (s.kind) } }
                        td { code { (s.cron) } }
                        td { (s.time_zone) @if s.follows_company_time_zone { " " span.muted { "(the company's)" } } }
                        td { @if s.enabled { span.ok { "yes" } } @else { span.muted { "no" } } }
                        td { @match s.next_fire_at { Some(t) => (c.fmt.datetime(t)), None => span.muted { "–" } } }
                        td {
                            (layout::post_button(&format!("{BASE}/{}/run", s.id), c.csrf(), &format!("run-{}", s.id), "Run now"))
                            details open[matches!(&refused, Some(Refused::Edit(id, _, _)) if *id == s.id)] {
                                summary { "Edit" }
                                @match &refused {
                                    Some(Refused::Edit(id, f, e)) if *id == s.id => (edit_form(c, s, f, Some(e))),
                                    _ => {
                                        @let f = EditFields {
                                            name: s.name.clone(),
                                            cron: s.cron.clone(),
                                            time_zone: if s.follows_company_time_zone { String::new() } else { s.time_zone.clone() },
                                            enabled: s.enabled.then(|| "true".into()),
                                        };
                                        (edit_form(c, s, &f, None))
                                    }
                                }
                                (layout::post_button(&format!("{BASE}/{}/delete", s.id), c.csrf(), &format!("delete-{}", s.id), "Delete"))
                            }
                        }
                    }
                } }
            } }
        }
        (next_link(BASE, &[], list.next_cursor.as_deref()))
        section.card #new-schedule aria-labelledby="new-schedule-title" {
            h2 #new-schedule-title { "New schedule" }
            form.stack #new-schedule-form method="post" action=(BASE) {
                (layout::csrf_field(c.csrf()))
                (refusal(np))
                (input("Name", "name", "text", &nf.name, np))
                label for="f-kind" { "Job kind" }
                input #f-kind name="kind" type="text" list="schedule-kinds" value=(nf.kind)
                    aria-invalid=[np.and_then(|e| e.field("kind")).map(|_| "true")];
                @if let Some(m) = np.and_then(|e| e.field("kind")) { p.field-problem { (m) } }
                datalist #schedule-kinds { @for k in &kinds { option value=(k) {} } }
                (input("Cron (minute hour day month weekday)", "cron", "text", &nf.cron, np))
                (input("Time zone (empty: the company's, following it)", "time_zone", "text", &nf.time_zone, np))
                label for="f-payload" { "Payload " span.hint { "(a JSON object; empty for none)" } }
                textarea #f-payload name="payload" rows="3" { (nf.payload) }
                @if let Some(m) = np.and_then(|e| e.field("payload")) { p.field-problem { (m) } }
                (checkbox("Enabled", "enabled", nf.enabled.is_some()))
                button type="submit" #create-schedule { "Create schedule" }
            }
        }
    };
    Ok(c.page_with(status, Some(Section::Settings), "Schedules", body))
}

/// `GET /console/settings/schedules`.
pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    page(&c, &p, None).await
}

/// `POST /console/settings/schedules`.
pub async fn create(c: Console, Form(f): Form<NewFields>) -> Result<Response, ApiFailure> {
    let mut m = Map::new();
    m.insert("name".into(), json!(f.name));
    m.insert("kind".into(), json!(f.kind.trim()));
    m.insert("cron".into(), json!(f.cron.trim()));
    if !f.time_zone.trim().is_empty() {
        m.insert("time_zone".into(), json!(f.time_zone.trim()));
    }
    if let Some(p) = payload(&f.payload) {
        m.insert("payload".into(), p);
    }
    m.insert("enabled".into(), json!(f.enabled.is_some()));
    match c
        .api
        .send::<Schedule>(Method::POST, "/api/v1/schedules", &Value::Object(m))
        .await
    {
        Ok(s) => Ok(see_other(&format!("{BASE}#schedule-{}", s.id))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            page(&c, &ListParams::default(), Some(Refused::New(f, e))).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/schedules/{id}`: the edit form; an empty time
/// zone follows the company's again.
pub async fn update(
    c: Console,
    Path(id): Path<String>,
    Form(f): Form<EditFields>,
) -> Result<Response, ApiFailure> {
    let id: ScheduleId = parse_id(&c, &id, "schedule")?;
    let mut m = Map::new();
    m.insert("name".into(), json!(f.name));
    m.insert("cron".into(), json!(f.cron.trim()));
    m.insert("enabled".into(), json!(f.enabled.is_some()));
    let tz = f.time_zone.trim();
    if tz.is_empty() {
        m.insert("follow_company_time_zone".into(), json!(true));
    } else {
        m.insert("time_zone".into(), json!(tz));
    }
    match c
        .api
        .send::<Schedule>(
            Method::PATCH,
            format!("/api/v1/schedules/{id}"),
            &Value::Object(m),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}#schedule-{id}"))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            page(&c, &ListParams::default(), Some(Refused::Edit(id, f, e))).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/schedules/{id}/run`: its job now.
pub async fn run(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: ScheduleId = parse_id(&c, &id, "schedule")?;
    match c
        .api
        .bytes(
            Method::POST,
            format!("/api/v1/schedules/{id}/run"),
            ApiBody::Empty,
            Some("application/json"),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}#schedule-{id}"))),
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            page(&c, &ListParams::default(), Some(Refused::Action(e))).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/schedules/{id}/delete`.
pub async fn delete(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: ScheduleId = parse_id(&c, &id, "schedule")?;
    c.api
        .bytes(
            Method::DELETE,
            format!("/api/v1/schedules/{id}"),
            ApiBody::Empty,
            None,
        )
        .await?;
    Ok(see_other(BASE))
}
