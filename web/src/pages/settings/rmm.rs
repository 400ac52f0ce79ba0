//! `/console/settings/rmm`: the RMM alert receiver (`/api/v1/company/rmm`):
//! its URL, whether a resolved alert resolves its ticket, and its secret
//! (the bearer token the RMM sends), shown once when the receiver is set
//! up and when the secret is rotated, never again; turning it off.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use maud::html;
use nestogy_api::admin::session::see_other;
use nestogy_domain::inventory::rmm::Settings;
use serde::Deserialize;
use serde_json::json;

use super::{back, changes, recent};
use crate::api_client::{ApiBody, ApiFailure};
use crate::layout::{self, Section};
use crate::pages::clients::checkbox;
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/settings/rmm";
const API: &str = "/api/v1/company/rmm";

/// The API's view of the receiver: its settings, URL and (once) secret.
#[derive(Deserialize)]
struct View {
    #[serde(flatten)]
    settings: Settings,
    url: String,
    secret: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmmFields {
    auto_resolve: Option<String>,
}

async fn current(c: &Console) -> Result<Option<View>, ApiFailure> {
    match c.api.get::<View>(API).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

/// The page; `fresh` is the API's answer that carries a new secret.
async fn page(c: &Console, fresh: Option<View>) -> Result<Response, ApiFailure> {
    let (now, latest) = tokio::join!(current(c), recent(c, "company", 5));
    let (now, latest) = (now?, latest?);
    let secret = fresh.as_ref().and_then(|v| v.secret.clone());
    let body = html! {
        (back())
        h1 { "RMM alerts" }
        @if let Some(s) = &secret {
            div.notice #new-rmm-secret-notice role="status" {
                p { "Give your RMM this bearer token now: it is not shown again." }
                p { label for="new-rmm-secret" { "Secret" } " "
                    input #new-rmm-secret type="text" readonly value=(s) size="48"; }
            }
        }
        @match &now {
            Some(v) => {
                section.card #rmm-state aria-labelledby="rmm-state-title" {
                    h2 #rmm-state-title { "Receiver" }
                    dl.figures {
                        dt { "URL the RMM posts alerts to" } dd { code #rmm-url { (v.url) } }
                        dt { "Secret" } dd { "ends in " code #rmm-secret-hint { (v.settings.secret_hint) } }
                        dt { "A resolved alert" } dd { @if v.settings.auto_resolve { "resolves its ticket" } @else { "leaves its ticket open" } }
                        dt { "Set up" } dd { (c.fmt.datetime(v.settings.created_at)) }
                    }
                }
                form.stack #rmm-form method="post" action=(BASE) {
                    (layout::csrf_field(c.csrf()))
                    (checkbox("A resolved alert resolves its ticket", "auto_resolve", v.settings.auto_resolve))
                    button type="submit" #save-rmm { "Save" }
                }
                (layout::post_button(&format!("{BASE}/rotate-secret"), c.csrf(), "rotate-rmm-secret", "Rotate the secret"))
                (layout::post_button(&format!("{BASE}/delete"), c.csrf(), "delete-rmm", "Turn the receiver off"))
            }
            None => {
                p #rmm-off { "The receiver is off: RMM alerts are not taken." }
                form.stack #rmm-form method="post" action=(BASE) {
                    (layout::csrf_field(c.csrf()))
                    (checkbox("A resolved alert resolves its ticket", "auto_resolve", true))
                    button type="submit" #save-rmm { "Set up the receiver" }
                }
            }
        }
        (changes(c, "rmm-changes", "Latest changes to the company", &latest))
    };
    let status = if secret.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut r = c.page_with(status, Some(Section::Settings), "RMM alerts", body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `GET /console/settings/rmm`.
pub async fn show(c: Console) -> Result<Response, ApiFailure> {
    page(&c, None).await
}

/// `POST /console/settings/rmm`: set up the receiver (the answer shows its
/// secret once) or change `auto_resolve`.
pub async fn save(c: Console, Form(f): Form<RmmFields>) -> Result<Response, ApiFailure> {
    let v: View = c
        .api
        .send(
            Method::PUT,
            API,
            &json!({"auto_resolve": f.auto_resolve.is_some()}),
        )
        .await?;
    if v.secret.is_some() {
        return page(&c, Some(v)).await;
    }
    Ok(see_other(BASE))
}

/// `POST /console/settings/rmm/rotate-secret`: the answer shows the new
/// secret once.
pub async fn rotate_secret(
    c: Console,
    Form(NoFields {}): Form<NoFields>,
) -> Result<Response, ApiFailure> {
    let v: View = c
        .api
        .send_empty(Method::POST, format!("{API}/rotate-secret"))
        .await?;
    page(&c, Some(v)).await
}

/// `POST /console/settings/rmm/delete`.
pub async fn delete(c: Console, Form(NoFields {}): Form<NoFields>) -> Result<Response, ApiFailure> {
    c.api
        .bytes(Method::DELETE, API, ApiBody::Empty, None)
        .await?;
    Ok(see_other(BASE))
}
