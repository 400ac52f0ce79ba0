//! `/console/settings/webhooks`: the company's webhook endpoints (list,
//! new; the signing secret shown once, on creation and on rotation),
//! and one endpoint: its settings, enable or disable, ping, rotate the
//! secret, delete it, and its delivery log (cursor pages) with each delivery's
//! attempts and "redeliver".

use axum::extract::{Path, Query};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::integrations::webhooks::{
    Delivery, DeliveryDetail, DeliveryStatus, Endpoint, EndpointWithSecret,
};
use nestogy_domain::kernel::events::TYPES;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::{WebhookDeliveryId, WebhookEndpointId};
use serde::Deserialize;
use serde_json::json;

use super::back;
use crate::api_client::{ApiFailure, query};
use crate::layout::{self, Section};
use crate::pages::clients::{input, next_link, parse_id, refusal};
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/settings/webhooks";

/// The endpoint form as typed (event types come as repeated `event`).
#[derive(Debug, Default)]
pub struct EndpointFields {
    url: String,
    description: String,
    events: Vec<String>,
}

impl EndpointFields {
    fn read(raw: Vec<(String, String)>) -> Self {
        let mut f = EndpointFields::default();
        for (k, v) in raw {
            match k.as_str() {
                "url" => f.url = v,
                "description" => f.description = v,
                "event" => f.events.push(v),
                _ => {}
            }
        }
        f
    }

    fn of(e: &Endpoint) -> Self {
        EndpointFields {
            url: e.url.clone(),
            description: e.description.clone().unwrap_or_default(),
            events: e.event_types.clone(),
        }
    }

    fn body(&self) -> serde_json::Value {
        let d = self.description.trim();
        json!({
            "url": self.url.trim(),
            "description": (!d.is_empty()).then_some(d),
            "event_types": self.events,
        })
    }
}

fn endpoint_form(
    c: &Console,
    id: &str,
    action: &str,
    submit: &str,
    f: &EndpointFields,
    p: Option<&ApiFailure>,
) -> Markup {
    html! {
        form.stack id=(id) method="post" action=(action) {
            (layout::csrf_field(c.csrf()))
            (refusal(p))
            (input("URL (https://…)", "url", "url", &f.url, p))
            (input("Description", "description", "text", &f.description, p))
            fieldset {
                legend { "Events" }
                label { input name="event" type="checkbox" value="*" checked[f.events.iter().any(|e| e == "*")]; " every event (*)" }
                @for t in TYPES {
                    label { input name="event" type="checkbox" value=(t) checked[f.events.iter().any(|e| e == t)]; " " code { (t) } }
                }
            }
            @if let Some(m) = p.and_then(|e| e.field("event_types")) { p.field-problem { (m) } }
            button type="submit" { (submit) }
        }
    }
}

/// The secret, this once (creation, rotation).
fn secret_notice(secret: &str, what: &str) -> Markup {
    html! {
        div.notice #new-secret-notice role="status" {
            p { (what) " Copy the signing secret now: it is not shown again." }
            p { label for="new-secret" { "Signing secret" } " "
                input #new-secret type="text" readonly value=(secret) size="48"; }
        }
    }
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn status_text(e: &Endpoint) -> Markup {
    html! {
        @if e.enabled {
            @if e.failing_since.is_some() { span.warn { "failing" } } @else { span.ok { "enabled" } }
        } @else {
            span.muted { "disabled" }
            @if let Some(r) = &e.disabled_reason { " (" (r) ")" }
        }
    }
}

// ---------------------------------------------------------------- list

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    cursor: String,
}

enum ListOutcome {
    None,
    Created(Box<EndpointWithSecret>),
    Refused(EndpointFields, ApiFailure),
}

async fn list_page(
    c: &Console,
    p: &ListParams,
    outcome: ListOutcome,
) -> Result<Response, ApiFailure> {
    let endpoints: Page<Endpoint> = c
        .api
        .get(format!(
            "/api/v1/webhooks/endpoints{}",
            query(&[("cursor", p.cursor.as_str())])
        ))
        .await?;
    let (status, f, e) = match &outcome {
        ListOutcome::Refused(f, e) => (e.status, Some(f), Some(e)),
        ListOutcome::Created(_) => (StatusCode::CREATED, None, None),
        ListOutcome::None => (StatusCode::OK, None, None),
    };
    let d = EndpointFields::default();
    let body = html! {
        (back())
        h1 { "Webhooks" }
        @if let ListOutcome::Created(w) = &outcome {
            (secret_notice(&w.secret, &format!("Endpoint {} added.", w.endpoint.url)))
            p { a href={ (BASE) "/" (w.endpoint.id) } { "Open the endpoint" } }
        }
        @if endpoints.data.is_empty() {
            p.muted { "No endpoint yet." }
        } @else {
            div.scroll { table #endpoints {
                thead { tr { th { "URL" } th { "Description" } th { "Events" } th { "Status" } } }
                tbody { @for ep in &endpoints.data {
                    tr id={ "endpoint-" (ep.id) } {
                        td { a href={ (BASE) "/" (ep.id) } { (ep.url) } }
                        td { (ep.description.as_deref().unwrap_or("")) }
                        td { (ep.event_types.join(", ")) }
                        td { (status_text(ep)) }
                    }
                } }
            } }
        }
        (next_link(BASE, &[], endpoints.next_cursor.as_deref()))
        section.card #new-endpoint aria-labelledby="new-endpoint-title" {
            h2 #new-endpoint-title { "New endpoint" }
            (endpoint_form(c, "new-endpoint-form", BASE, "Add endpoint", f.unwrap_or(&d), e))
        }
    };
    Ok(no_store(c.page_with(
        status,
        Some(Section::Settings),
        "Webhooks",
        body,
    )))
}

/// `GET /console/settings/webhooks`.
pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    list_page(&c, &p, ListOutcome::None).await
}

/// `POST /console/settings/webhooks`: a new endpoint; the answer shows its
/// secret once.
pub async fn create(
    c: Console,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let f = EndpointFields::read(raw);
    match c
        .api
        .send::<EndpointWithSecret>(Method::POST, "/api/v1/webhooks/endpoints", &f.body())
        .await
    {
        Ok(w) => {
            list_page(
                &c,
                &ListParams::default(),
                ListOutcome::Created(Box::new(w)),
            )
            .await
        }
        Err(e) if e.is_validation() || e.status == StatusCode::CONFLICT => {
            list_page(&c, &ListParams::default(), ListOutcome::Refused(f, e)).await
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------- one endpoint

#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    #[serde(default)]
    cursor: String,
    /// A delivery whose attempts to show.
    #[serde(default)]
    delivery: String,
}

enum Outcome {
    None,
    Rotated(String),
    Refused(EndpointFields, ApiFailure),
}

fn delivery_status(s: DeliveryStatus) -> Markup {
    html! {
        @match s {
            DeliveryStatus::Succeeded => span.ok { "succeeded" },
            DeliveryStatus::Failed => span.bad { "failed" },
            DeliveryStatus::Pending => span.warn { "pending" },
        }
    }
}

async fn endpoint_page(
    c: &Console,
    id: &str,
    p: &ShowParams,
    outcome: Outcome,
) -> Result<Response, ApiFailure> {
    let id: WebhookEndpointId = parse_id(c, id, "webhook endpoint")?;
    let (ep, deliveries) = tokio::join!(
        c.api
            .get::<Endpoint>(format!("/api/v1/webhooks/endpoints/{id}")),
        c.api.get::<Page<Delivery>>(format!(
            "/api/v1/webhooks/endpoints/{id}/deliveries{}",
            query(&[("cursor", p.cursor.as_str())])
        )),
    );
    let (ep, deliveries) = (ep?, deliveries?);
    let detail = match p.delivery.parse::<WebhookDeliveryId>() {
        Ok(d) => {
            let d: DeliveryDetail = c
                .api
                .get(format!("/api/v1/webhooks/deliveries/{d}"))
                .await?;
            // Another endpoint's delivery is not this page's.
            (d.delivery.endpoint_id == id).then_some(d)
        }
        Err(_) => None,
    };
    let (status, rf, re) = match &outcome {
        Outcome::Refused(f, e) => (e.status, Some(f), Some(e)),
        _ => (StatusCode::OK, None, None),
    };
    let own = EndpointFields::of(&ep);
    let base = format!("{BASE}/{id}");
    let body = html! {
        p { a href=(BASE) { "← Webhooks" } }
        h1 { (ep.url) }
        @if let Outcome::Rotated(secret) = &outcome {
            (secret_notice(secret, "The secret was rotated; the old one no longer signs."))
        }
        div.grid {
            section.card #endpoint-state aria-labelledby="endpoint-state-title" {
                h2 #endpoint-state-title { "State" }
                dl.figures {
                    dt { "Status" } dd #endpoint-status { (status_text(&ep)) }
                    dt { "Events" } dd { (ep.event_types.join(", ")) }
                    @if let Some(t) = ep.failing_since { dt { "Failing since" } dd { (c.fmt.datetime(t)) } }
                    @if let Some(t) = ep.disabled_at { dt { "Disabled" } dd { (c.fmt.datetime(t)) } }
                }
                @if ep.enabled {
                    (layout::post_button(&format!("{base}/disable"), c.csrf(), "disable-endpoint", "Disable"))
                } @else {
                    (layout::post_button(&format!("{base}/enable"), c.csrf(), "enable-endpoint", "Enable"))
                }
                (layout::post_button(&format!("{base}/ping"), c.csrf(), "ping-endpoint", "Send a ping"))
                (layout::post_button(&format!("{base}/rotate-secret"), c.csrf(), "rotate-secret", "Rotate the signing secret"))
                (layout::post_button(&format!("{base}/delete"), c.csrf(), "delete-endpoint", "Delete the endpoint"))
            }
            section.card #edit-endpoint-card aria-labelledby="edit-endpoint-title" {
                h2 #edit-endpoint-title { "Edit" }
                (endpoint_form(c, "edit-endpoint", &base, "Save endpoint", rf.unwrap_or(&own), re))
            }
        }
        section.card #deliveries aria-labelledby="deliveries-title" {
            h2 #deliveries-title { "Deliveries " span.muted { "(" (deliveries.total) ")" } }
            @if deliveries.data.is_empty() { p.muted { "Nothing sent yet." } } @else {
                div.scroll { table #delivery-log {
                    thead { tr { th { "Created" } th { "Event" } th { "Status" } th.n { "Attempts" } th { "Last answer" } th { "Next attempt" } th { "Actions" } } }
                    tbody { @for d in &deliveries.data {
                        tr id={ "delivery-" (d.id) } {
                            td { a href={ (base) "?delivery=" (d.id) "#attempts" } { (c.fmt.datetime(d.created_at)) } }
                            td { code { (d.event_type) } }
                            td { (delivery_status(d.status)) }
                            td.n { (d.attempts) }
                            td {
                                @if let Some(code) = d.last_status_code { "HTTP " (code) }
                                @if let Some(err) = &d.last_error { " " span.bad { (err) } }
                            }
                            td { @if let Some(t) = d.next_attempt_at { (c.fmt.datetime(t)) } }
                            td { (layout::post_button(&format!("{base}/deliveries/{}/redeliver", d.id), c.csrf(), &format!("redeliver-{}", d.id), "Redeliver")) }
                        }
                    } }
                } }
            }
            (next_link(&base, &[], deliveries.next_cursor.as_deref()))
        }
        @if let Some(d) = &detail {
            section.card #attempts aria-labelledby="attempts-title" {
                h2 #attempts-title { "Attempts of " code { (d.delivery.event_type) } " (" (c.fmt.datetime(d.delivery.created_at)) ")" }
                @if d.attempts_log.is_empty() { p.muted { "No attempt yet." } } @else {
                    div.scroll { table {
                        thead { tr { th.n { "#" } th { "When" } th { "Answer" } th.n { "Took" } th { "Error" } th { "Response" } } }
                        tbody { @for a in &d.attempts_log {
                            tr {
                                td.n { (a.attempt) }
                                td { (c.fmt.datetime(a.created_at)) }
                                td { @if let Some(s) = a.status_code { "HTTP " (s) } }
                                td.n { (a.duration_ms) " ms" }
                                td { (a.error.as_deref().unwrap_or("")) }
                                td { @if let Some(r) = &a.response_excerpt { code { (r) } } }
                            }
                        } }
                    } }
                }
            }
        }
    };
    Ok(no_store(c.page_with(
        status,
        Some(Section::Settings),
        &ep.url,
        body,
    )))
}

/// `GET /console/settings/webhooks/{id}`.
pub async fn show(
    c: Console,
    Path(id): Path<String>,
    Query(p): Query<ShowParams>,
) -> Result<Response, ApiFailure> {
    endpoint_page(&c, &id, &p, Outcome::None).await
}

/// `POST /console/settings/webhooks/{id}`: the edit form.
pub async fn update(
    c: Console,
    Path(id): Path<String>,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let eid: WebhookEndpointId = parse_id(&c, &id, "webhook endpoint")?;
    let f = EndpointFields::read(raw);
    match c
        .api
        .send::<Endpoint>(
            Method::PATCH,
            format!("/api/v1/webhooks/endpoints/{eid}"),
            &f.body(),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}/{eid}"))),
        Err(e) if e.is_validation() => {
            endpoint_page(&c, &id, &ShowParams::default(), Outcome::Refused(f, e)).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/webhooks/{id}/enable`.
pub async fn enable(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: WebhookEndpointId = parse_id(&c, &id, "webhook endpoint")?;
    c.api
        .send_empty::<Endpoint>(
            Method::POST,
            format!("/api/v1/webhooks/endpoints/{id}/enable"),
        )
        .await?;
    Ok(see_other(&format!("{BASE}/{id}")))
}

/// `POST /console/settings/webhooks/{id}/disable`.
pub async fn disable(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: WebhookEndpointId = parse_id(&c, &id, "webhook endpoint")?;
    c.api
        .send::<Endpoint>(
            Method::PATCH,
            format!("/api/v1/webhooks/endpoints/{id}"),
            &json!({"enabled": false}),
        )
        .await?;
    Ok(see_other(&format!("{BASE}/{id}")))
}

/// `POST /console/settings/webhooks/{id}/delete`.
pub async fn delete(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: WebhookEndpointId = parse_id(&c, &id, "webhook endpoint")?;
    c.api
        .bytes(
            Method::DELETE,
            format!("/api/v1/webhooks/endpoints/{id}"),
            crate::api_client::ApiBody::Empty,
            None,
        )
        .await?;
    Ok(see_other(BASE))
}

/// `POST /console/settings/webhooks/{id}/ping`: a `webhook.ping` to this
/// endpoint, listed in its deliveries.
pub async fn ping(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: WebhookEndpointId = parse_id(&c, &id, "webhook endpoint")?;
    c.api
        .send_empty::<serde::de::IgnoredAny>(
            Method::POST,
            format!("/api/v1/webhooks/endpoints/{id}/ping"),
        )
        .await?;
    Ok(see_other(&format!("{BASE}/{id}#deliveries")))
}

/// `POST /console/settings/webhooks/{id}/rotate-secret`: the answer shows
/// the new secret once.
pub async fn rotate_secret(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let eid: WebhookEndpointId = parse_id(&c, &id, "webhook endpoint")?;
    let w: EndpointWithSecret = c
        .api
        .send_empty(
            Method::POST,
            format!("/api/v1/webhooks/endpoints/{eid}/rotate-secret"),
        )
        .await?;
    endpoint_page(&c, &id, &ShowParams::default(), Outcome::Rotated(w.secret)).await
}

/// `POST /console/settings/webhooks/{id}/deliveries/{delivery}/redeliver`.
pub async fn redeliver(
    c: Console,
    Path((id, delivery)): Path<(String, String)>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: WebhookEndpointId = parse_id(&c, &id, "webhook endpoint")?;
    let delivery: WebhookDeliveryId = parse_id(&c, &delivery, "webhook delivery")?;
    match c
        .api
        .send_empty::<serde::de::IgnoredAny>(
            Method::POST,
            format!("/api/v1/webhooks/deliveries/{delivery}/redeliver"),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("{BASE}/{id}#delivery-{delivery}"))),
        Err(e) if e.status == StatusCode::CONFLICT => Ok(c.problem(e.status, &e.message)),
        Err(e) => Err(e),
    }
}
