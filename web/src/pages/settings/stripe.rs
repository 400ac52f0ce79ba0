//! `/console/settings/stripe`: the company's Stripe account
//! (`/api/v1/company/stripe`): whether keys are stored (never the keys:
//! the secret key's last four characters and its mode), the webhook URL to
//! give Stripe, new keys (an empty field keeps the stored one) and
//! forgetting them.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use nestogy_api::admin::session::see_other;
use nestogy_domain::integrations::stripe::StripeSettings;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{back, changes, recent};
use crate::api_client::{ApiBody, ApiFailure};
use crate::layout::{self, Section};
use crate::pages::clients::{input, refusal};
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/settings/stripe";
const API: &str = "/api/v1/company/stripe";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeFields {
    #[serde(default)]
    secret_key: String,
    #[serde(default)]
    webhook_secret: String,
}

impl StripeFields {
    /// Only what was typed: an empty field keeps the stored key.
    fn body(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in [
            ("secret_key", &self.secret_key),
            ("webhook_secret", &self.webhook_secret),
        ] {
            let v = v.trim();
            if !v.is_empty() {
                m.insert(k.into(), json!(v));
            }
        }
        Value::Object(m)
    }
}

async fn page(c: &Console, refused: Option<&ApiFailure>) -> Result<Response, ApiFailure> {
    let (now, latest) = tokio::join!(c.api.get::<StripeSettings>(API), recent(c, "company", 5));
    let (s, latest) = (now?, latest?);
    let status = refused.map(|e| e.status).unwrap_or(StatusCode::OK);
    let body = html! {
        (back())
        h1 { "Stripe" }
        section.card #stripe-state aria-labelledby="stripe-state-title" {
            h2 #stripe-state-title { "Account" }
            dl.figures {
                dt { "Secret key" } dd #secret-key-state {
                    @if s.has_secret_key {
                        "stored, ending in " code { (s.secret_key_last4.as_deref().unwrap_or("????")) }
                        @if let Some(m) = &s.mode { " (" (m) " mode)" }
                    } @else { "none" }
                }
                dt { "Webhook signing secret" } dd #webhook-secret-state {
                    @if s.has_webhook_secret { "stored" } @else { "none" }
                }
                dt { "Webhook URL for Stripe" } dd { code #stripe-webhook-url { (s.webhook_url) } }
                @if let Some(t) = s.updated_at { dt { "Last changed" } dd { (c.fmt.datetime(t)) } }
            }
        }
        form.stack #stripe-form method="post" action=(BASE) {
            (layout::csrf_field(c.csrf()))
            (refusal(refused))
            (input("Secret key (sk_… or rk_…; empty: keep the stored one)", "secret_key", "password", "", refused))
            (input("Webhook signing secret (whsec_…; empty: keep the stored one)", "webhook_secret", "password", "", refused))
            button type="submit" #save-stripe { "Save keys" }
        }
        @if s.has_secret_key || s.has_webhook_secret {
            (layout::post_button(&format!("{BASE}/delete"), c.csrf(), "delete-stripe", "Forget the Stripe keys"))
        }
        (changes(c, "stripe-changes", "Latest changes to the company", &latest))
    };
    Ok(c.page_with(status, Some(Section::Settings), "Stripe", body))
}

/// `GET /console/settings/stripe`.
pub async fn show(c: Console) -> Result<Response, ApiFailure> {
    page(&c, None).await
}

/// `POST /console/settings/stripe`.
pub async fn save(c: Console, Form(f): Form<StripeFields>) -> Result<Response, ApiFailure> {
    match c
        .api
        .send::<StripeSettings>(Method::PUT, API, &f.body())
        .await
    {
        Ok(_) => Ok(see_other(BASE)),
        Err(e) if e.is_validation() => page(&c, Some(&e)).await,
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/stripe/delete`.
pub async fn delete(c: Console, Form(NoFields {}): Form<NoFields>) -> Result<Response, ApiFailure> {
    c.api
        .bytes(Method::DELETE, API, ApiBody::Empty, None)
        .await?;
    Ok(see_other(BASE))
}
