//! `/console/settings/sla`: the SLA policy of each priority (targets,
//! warning share, business hours, holidays, the statuses that pause the
//! clock; `PUT /api/v1/sla/policies/{priority}`, removed with `DELETE`)
//! and the holiday calendar (`PUT`/`DELETE /api/v1/sla/holidays/{day}`).

use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::service_desk::sla::{Holiday, SlaPolicy};
use nestogy_domain::service_desk::tickets::{Priority, TicketStatus};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{back, changes, recent};
use crate::api_client::ApiFailure;
use crate::layout::{self, Section};
use crate::pages::clients::{input, refusal};
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/settings/sla";
const DAYS: [(&str, &str); 7] = [
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
];

/// A policy form as typed.
#[derive(Debug, Default, Clone)]
pub struct PolicyFields {
    first_response_minutes: String,
    resolution_minutes: String,
    warn_percent: String,
    use_holidays: bool,
    pause: Vec<String>,
    /// Business hours only (else around the clock).
    hours_only: bool,
    /// Per day of [`DAYS`]: from, to (both empty: closed).
    hours: [(String, String); 7],
}

impl PolicyFields {
    fn new_default() -> Self {
        let mut hours: [(String, String); 7] = Default::default();
        for h in hours.iter_mut().take(5) {
            *h = ("09:00".into(), "17:00".into());
        }
        PolicyFields {
            warn_percent: "80".into(),
            use_holidays: true,
            pause: vec![TicketStatus::WaitingOnClient.as_str().into()],
            hours,
            ..Default::default()
        }
    }

    fn of(p: &SlaPolicy) -> Self {
        let mut hours: [(String, String); 7] = Default::default();
        if let Some(h) = &p.business_hours {
            for (i, (day, _)) in DAYS.iter().enumerate() {
                if let Some([from, to]) = h.get(day).and_then(Value::as_array).and_then(|a| {
                    <&[Value; 2]>::try_from(a.as_slice()).ok().map(|[f, t]| {
                        [
                            f.as_str().unwrap_or_default().to_owned(),
                            t.as_str().unwrap_or_default().to_owned(),
                        ]
                    })
                }) {
                    hours[i] = (from, to);
                }
            }
        }
        PolicyFields {
            first_response_minutes: p.first_response_minutes.to_string(),
            resolution_minutes: p.resolution_minutes.to_string(),
            warn_percent: p.warn_percent.to_string(),
            use_holidays: p.use_holidays,
            pause: p
                .pause_statuses
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            hours_only: p.business_hours.is_some(),
            hours,
        }
    }

    fn read(raw: Vec<(String, String)>) -> Self {
        let mut f = PolicyFields::default();
        for (k, v) in raw {
            match k.as_str() {
                "first_response_minutes" => f.first_response_minutes = v,
                "resolution_minutes" => f.resolution_minutes = v,
                "warn_percent" => f.warn_percent = v,
                "use_holidays" => f.use_holidays = true,
                "pause" => f.pause.push(v),
                "hours_only" => f.hours_only = true,
                other => {
                    for (i, (day, _)) in DAYS.iter().enumerate() {
                        if other == format!("{day}_from") {
                            f.hours[i].0 = v.clone();
                        } else if other == format!("{day}_to") {
                            f.hours[i].1 = v.clone();
                        }
                    }
                }
            }
        }
        f
    }

    /// The request: numbers as numbers when they read as such (else as
    /// typed, for the API to refuse); business hours only when chosen, a
    /// day with neither time left out (closed).
    fn body(&self) -> Value {
        let num = |s: &str| {
            let s = s.trim();
            s.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(s))
        };
        let mut m = Map::new();
        m.insert(
            "first_response_minutes".into(),
            num(&self.first_response_minutes),
        );
        m.insert("resolution_minutes".into(), num(&self.resolution_minutes));
        if !self.warn_percent.trim().is_empty() {
            m.insert("warn_percent".into(), num(&self.warn_percent));
        }
        m.insert("use_holidays".into(), json!(self.use_holidays));
        m.insert("pause_statuses".into(), json!(self.pause));
        if self.hours_only {
            let mut h = Map::new();
            for (i, (day, _)) in DAYS.iter().enumerate() {
                let (from, to) = (&self.hours[i].0, &self.hours[i].1);
                if !from.trim().is_empty() || !to.trim().is_empty() {
                    h.insert((*day).into(), json!([from.trim(), to.trim()]));
                }
            }
            m.insert("business_hours".into(), Value::Object(h));
        } else {
            m.insert("business_hours".into(), Value::Null);
        }
        Value::Object(m)
    }
}

/// The holiday form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayFields {
    day: String,
    name: String,
}

enum Refused {
    Policy(Priority, Box<PolicyFields>, ApiFailure),
    Holiday(HolidayFields, ApiFailure),
}

fn policy_form(
    c: &Console,
    priority: Priority,
    current: Option<&SlaPolicy>,
    f: &PolicyFields,
    p: Option<&ApiFailure>,
) -> Markup {
    let pr = priority.as_str();
    let id = |n: &str| format!("{pr}-{n}");
    html! {
        section.card id={ "policy-" (pr) } aria-labelledby={ "policy-" (pr) "-title" } {
            h2 id={ "policy-" (pr) "-title" } { "Priority " (pr) " "
                @if current.is_none() { span.muted { "(no SLA)" } } }
            form.stack id={ "policy-form-" (pr) } method="post" action={ (BASE) "/" (pr) } {
                (layout::csrf_field(c.csrf()))
                (refusal(p))
                label for=(id("first")) { "First response within (minutes)" }
                input id=(id("first")) name="first_response_minutes" type="number" min="1" value=(f.first_response_minutes);
                label for=(id("resolution")) { "Resolution within (minutes)" }
                input id=(id("resolution")) name="resolution_minutes" type="number" min="1" value=(f.resolution_minutes);
                label for=(id("warn")) { "Warn at (% of a target)" }
                input id=(id("warn")) name="warn_percent" type="number" min="1" max="99" value=(f.warn_percent);
                label { input name="use_holidays" type="checkbox" value="true" checked[f.use_holidays]; " Holidays stop the clock" }
                fieldset {
                    legend { "The clock pauses while a ticket is" }
                    @for s in TicketStatus::ALL.iter().filter(|s| !matches!(s, TicketStatus::Resolved | TicketStatus::Closed)) {
                        label { input name="pause" type="checkbox" value=(s.as_str()) checked[f.pause.iter().any(|x| x == s.as_str())]; " " (s.as_str()) }
                    }
                }
                fieldset {
                    legend { "Business hours (company time)" }
                    label { input name="hours_only" type="checkbox" value="true" checked[f.hours_only]; " Count business hours only (else around the clock)" }
                    div.scroll { table {
                        thead { tr { th { "Day" } th { "From" } th { "To" } } }
                        tbody { @for (i, (day, name)) in DAYS.iter().enumerate() {
                            tr {
                                th scope="row" { (name) }
                                td { input type="time" name={ (day) "_from" } value=(f.hours[i].0) aria-label={ (name) " from" }; }
                                td { input type="time" name={ (day) "_to" } value=(f.hours[i].1) aria-label={ (name) " to" }; }
                            }
                        } }
                    } }
                    p.muted { "A day with no times is closed." }
                }
                button type="submit" id={ "save-policy-" (pr) } { "Save policy" }
            }
            @if current.is_some() {
                (layout::post_button(&format!("{BASE}/{pr}/delete"), c.csrf(), &format!("delete-policy-{pr}"), "Remove this SLA"))
            }
        }
    }
}

async fn page(c: &Console, refused: Option<Refused>) -> Result<Response, ApiFailure> {
    let (latest, policies, holidays) = tokio::join!(
        recent(c, "sla_policy", 5),
        c.api.get::<Vec<SlaPolicy>>("/api/v1/sla/policies"),
        c.api.get::<Vec<Holiday>>("/api/v1/sla/holidays"),
    );
    let (latest, policies, holidays) = (latest?, policies?, holidays?);
    let status = match &refused {
        Some(Refused::Policy(_, _, e)) | Some(Refused::Holiday(_, e)) => e.status,
        None => StatusCode::OK,
    };
    let (hf, hp) = match &refused {
        Some(Refused::Holiday(f, e)) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let hd = HolidayFields::default();
    let hf = hf.unwrap_or(&hd);
    let mut order: Vec<Priority> = Priority::ALL.to_vec();
    order.reverse();
    let body = html! {
        (back())
        h1 { "SLA policies and holidays" }
        p.muted { "One policy per priority. Running tickets follow a changed policy at the next SLA check." }
        div.grid {
            @for pr in &order {
                @let current = policies.iter().find(|p| p.priority == *pr);
                @match &refused {
                    Some(Refused::Policy(rp, f, e)) if rp == pr => (policy_form(c, *pr, current, f, Some(e))),
                    _ => {
                        @let f = current.map(PolicyFields::of).unwrap_or_else(PolicyFields::new_default);
                        (policy_form(c, *pr, current, &f, None))
                    }
                }
            }
        }
        section.card #holidays aria-labelledby="holidays-title" {
            h2 #holidays-title { "Holidays" }
            @if holidays.is_empty() { p.muted { "No holiday yet." } } @else {
                div.scroll { table #holiday-list {
                    thead { tr { th { "Day" } th { "Name" } th { "Action" } } }
                    tbody { @for h in &holidays {
                        tr id={ "holiday-" (h.day) } {
                            td { (c.fmt.date(h.day)) }
                            td { (h.name) }
                            td { (layout::post_button(&format!("{BASE}/holidays/{}/delete", h.day), c.csrf(), &format!("delete-holiday-{}", h.day), "Remove")) }
                        }
                    } }
                } }
            }
            form.stack #holiday-form method="post" action={ (BASE) "/holidays" } {
                (layout::csrf_field(c.csrf()))
                (refusal(hp))
                (input("Day", "day", "date", &hf.day, hp))
                (input("Name", "name", "text", &hf.name, hp))
                button type="submit" #add-holiday { "Add holiday" }
            }
        }
        (changes(c, "sla-changes", "Latest policy changes", &latest))
    };
    Ok(c.page_with(status, Some(Section::Settings), "SLA policies", body))
}

fn priority(c: &Console, s: &str) -> Result<Priority, ApiFailure> {
    Priority::parse(s).ok_or_else(|| ApiFailure::not_found("priority").in_frame(c.chrome.clone()))
}

/// `GET /console/settings/sla`.
pub async fn show(c: Console) -> Result<Response, ApiFailure> {
    page(&c, None).await
}

/// `POST /console/settings/sla/{priority}`: set its policy.
pub async fn set_policy(
    c: Console,
    Path(pr): Path<String>,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let pr = priority(&c, &pr)?;
    let f = PolicyFields::read(raw);
    match c
        .api
        .send::<SlaPolicy>(
            Method::PUT,
            format!("/api/v1/sla/policies/{}", pr.as_str()),
            &f.body(),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}#policy-{}", pr.as_str()))),
        Err(e) if e.is_validation() => page(&c, Some(Refused::Policy(pr, Box::new(f), e))).await,
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/sla/{priority}/delete`.
pub async fn delete_policy(
    c: Console,
    Path(pr): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let pr = priority(&c, &pr)?;
    c.api
        .send_empty::<()>(
            Method::DELETE,
            format!("/api/v1/sla/policies/{}", pr.as_str()),
        )
        .await?;
    Ok(see_other(&format!("{BASE}#policy-{}", pr.as_str())))
}

/// `POST /console/settings/sla/holidays`: add or rename a holiday.
pub async fn set_holiday(c: Console, Form(f): Form<HolidayFields>) -> Result<Response, ApiFailure> {
    let day = match chrono::NaiveDate::parse_from_str(f.day.trim(), "%Y-%m-%d") {
        Ok(d) => d,
        Err(_) => {
            let mut e = ApiFailure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the day must be a date (YYYY-MM-DD)",
            );
            e.fields.push(crate::api_client::FieldProblem {
                field: "day".into(),
                code: "invalid".into(),
                message: "the day must be a date (YYYY-MM-DD)".into(),
            });
            return page(&c, Some(Refused::Holiday(f, e))).await;
        }
    };
    match c
        .api
        .send::<Holiday>(
            Method::PUT,
            format!("/api/v1/sla/holidays/{day}"),
            &json!({"name": f.name}),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}#holidays"))),
        Err(e) if e.is_validation() => page(&c, Some(Refused::Holiday(f, e))).await,
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/sla/holidays/{day}/delete`.
pub async fn delete_holiday(
    c: Console,
    Path(day): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let Ok(day) = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d") else {
        return Err(ApiFailure::not_found("holiday").in_frame(c.chrome.clone()));
    };
    c.api
        .send_empty::<()>(Method::DELETE, format!("/api/v1/sla/holidays/{day}"))
        .await?;
    Ok(see_other(&format!("{BASE}#holidays")))
}
