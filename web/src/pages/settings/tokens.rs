//! `/console/settings/tokens`: the company's API tokens (name, prefix,
//! scopes, use, expiry), a new token (its secret shown once, on the answer
//! to the form, never again) and revoking one.

use axum::extract::{Path, Query};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::ApiTokenId;
use nestogy_domain::identity::tokens::ApiToken;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::kernel::roles::Permission;
use serde::Deserialize;
use serde_json::json;

use super::back;
use crate::api_client::{ApiFailure, query};
use crate::layout::{self, Section};
use crate::pages::clients::{input, next_link, parse_id, refusal};
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/settings/tokens";

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    cursor: String,
}

/// The API's answer to a new token: the token and, this once, its secret.
#[derive(Deserialize)]
struct Created {
    #[serde(flatten)]
    token: ApiToken,
    secret: String,
}

/// The new-token form: a name, the scopes ticked, an optional last day.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenFields {
    name: String,
    #[serde(default)]
    expires_on: String,
    #[serde(default)]
    scope: Vec<String>,
}

/// What the page shows besides the list.
enum Outcome {
    None,
    Created(Box<Created>),
    Refused(NewTokenFields, ApiFailure),
}

fn state(c: &Console, t: &ApiToken) -> Markup {
    html! {
        @if let Some(r) = t.revoked_at {
            span.muted { "revoked " (c.fmt.datetime(r)) }
        } @else if t.expires_at.is_some_and(|e| e <= c.now) {
            span.muted { "expired" }
        } @else {
            span.ok { "active" }
        }
    }
}

/// The form's fields as `serde_urlencoded` cannot read repeated names:
/// the scopes come as `scope=a&scope=b`.
fn read_fields(raw: Vec<(String, String)>) -> NewTokenFields {
    let mut f = NewTokenFields::default();
    for (k, v) in raw {
        match k.as_str() {
            "name" => f.name = v,
            "expires_on" => f.expires_on = v,
            "scope" => f.scope.push(v),
            _ => {}
        }
    }
    f
}

async fn page(c: &Console, p: &ListParams, outcome: Outcome) -> Result<Response, ApiFailure> {
    let tokens: Page<ApiToken> = c
        .api
        .get(format!(
            "/api/v1/api-tokens{}",
            query(&[("cursor", p.cursor.as_str())])
        ))
        .await?;
    let status = match &outcome {
        Outcome::Refused(_, e) => e.status,
        Outcome::Created(_) => StatusCode::CREATED,
        Outcome::None => StatusCode::OK,
    };
    let (nf, np) = match &outcome {
        Outcome::Refused(f, e) => (Some(f), Some(e)),
        _ => (None, None),
    };
    let d = NewTokenFields::default();
    let f = nf.unwrap_or(&d);
    let body = html! {
        (back())
        h1 { "API tokens" }
        @if let Outcome::Created(c) = &outcome {
            div.notice #new-token role="status" {
                p { "Token " strong { (c.token.name) } " created. Copy its secret now: it is not shown again." }
                p { label for="new-token-secret" { "Secret" } " "
                    input #new-token-secret type="text" readonly value=(c.secret) size="60"; }
            }
        }
        p.muted #token-count { (tokens.total) " tokens" }
        div.scroll { table #tokens {
            thead { tr {
                th { "Name" } th { "Prefix" } th { "Scopes" } th { "Created" }
                th { "Last used" } th { "Expires" } th { "Status" } th { "Actions" }
            } }
            tbody { @for t in &tokens.data {
                tr id={ "token-" (t.id) } {
                    td { (t.name) }
                    td { code { (t.prefix) } }
                    td { @for (i, s) in t.scopes.0.iter().enumerate() {
                        @if i > 0 { ", " } code { (s.as_str()) }
                    } }
                    td { (c.fmt.datetime(t.created_at)) }
                    td { @match t.last_used_at { Some(u) => (c.fmt.datetime(u)), None => span.muted { "never" } } }
                    td { @match t.expires_at { Some(e) => (c.fmt.datetime(e)), None => span.muted { "never" } } }
                    td { (state(c, t)) }
                    td { @if t.revoked_at.is_none() {
                        (layout::post_button(&format!("{BASE}/{}/revoke", t.id), c.csrf(), &format!("revoke-{}", t.id), "Revoke"))
                    } }
                }
            } }
        } }
        (next_link(BASE, &[], tokens.next_cursor.as_deref()))
        section.card #new-token-card aria-labelledby="new-token-title" {
            h2 #new-token-title { "New token" }
            form.stack #new-token-form method="post" action=(BASE) {
                (layout::csrf_field(c.csrf()))
                (refusal(np))
                (input("Name (what uses it)", "name", "text", &f.name, np))
                (input("Last day (optional; it ends at the start of the next day, company time)", "expires_on", "date", &f.expires_on, np))
                fieldset {
                    legend { "Scopes" }
                    @for p in Permission::ALL {
                        label { input name="scope" type="checkbox" value=(p.as_str()) checked[f.scope.iter().any(|s| s == p.as_str())]; " " code { (p.as_str()) } }
                    }
                }
                @if let Some(m) = np.and_then(|e| e.field("scopes")) { p.field-problem { (m) } }
                button type="submit" #create-token { "Create token" }
            }
        }
    };
    let mut r = c.page_with(status, Some(Section::Settings), "API tokens", body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `GET /console/settings/tokens`.
pub async fn list(c: Console, Query(p): Query<ListParams>) -> Result<Response, ApiFailure> {
    page(&c, &p, Outcome::None).await
}

/// The instant a token whose last day is `day` ends: the next midnight in
/// the company's zone (a day that is no date: `Err` with the message).
fn end_of(c: &Console, day: &str) -> Result<Option<DateTime<Utc>>, String> {
    let day = day.trim();
    if day.is_empty() {
        return Ok(None);
    }
    let d = NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|_| "the last day must be a date (YYYY-MM-DD)".to_owned())?;
    let next = d
        .succ_opt()
        .and_then(|n| n.and_hms_opt(0, 0, 0))
        .ok_or_else(|| "the last day is out of range".to_owned())?;
    Ok(next
        .and_local_timezone(c.fmt.zone)
        .earliest()
        .map(|t| t.with_timezone(&Utc)))
}

/// `POST /console/settings/tokens`: a new token; the answer shows its
/// secret once (not a redirect: the secret is kept nowhere).
pub async fn create(
    c: Console,
    Form(raw): Form<Vec<(String, String)>>,
) -> Result<Response, ApiFailure> {
    let f = read_fields(raw);
    let expires_at = match end_of(&c, &f.expires_on) {
        Ok(e) => e,
        Err(message) => {
            let mut e = ApiFailure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message.clone(),
            );
            e.fields.push(crate::api_client::FieldProblem {
                field: "expires_on".into(),
                code: "invalid".into(),
                message,
            });
            return page(&c, &ListParams::default(), Outcome::Refused(f, e)).await;
        }
    };
    let body = json!({"name": f.name, "scopes": f.scope, "expires_at": expires_at});
    match c
        .api
        .send::<Created>(Method::POST, "/api/v1/api-tokens", &body)
        .await
    {
        Ok(created) => {
            page(
                &c,
                &ListParams::default(),
                Outcome::Created(Box::new(created)),
            )
            .await
        }
        Err(e) if e.is_validation() => {
            page(&c, &ListParams::default(), Outcome::Refused(f, e)).await
        }
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/tokens/{id}/revoke`.
pub async fn revoke(
    c: Console,
    Path(id): Path<String>,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let id: ApiTokenId = parse_id(&c, &id, "API token")?;
    c.api
        .send_empty::<ApiToken>(Method::DELETE, format!("/api/v1/api-tokens/{id}"))
        .await?;
    Ok(see_other(&format!("{BASE}#token-{id}")))
}
