//! `/console/settings/smtp`: the company's own SMTP server for its mail
//! (`PUT /api/v1/company/smtp`), or the platform's when it has none
//! (`DELETE`). The password is never shown: the page says whether one is
//! stored, and an empty password field keeps it.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::html;
use nestogy_api::admin::session::see_other;
use nestogy_domain::platform::mail::SmtpSettings;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{back, changes, recent};
use crate::api_client::{ApiBody, ApiFailure};
use crate::layout::{self, Section};
use crate::pages::clients::{input, refusal};
use crate::session::{Console, Form, NoFields};

const BASE: &str = "/console/settings/smtp";
const API: &str = "/api/v1/company/smtp";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFields {
    host: String,
    #[serde(default)]
    port: String,
    tls: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    from_address: String,
    #[serde(default)]
    from_name: String,
}

impl SmtpFields {
    fn of(s: &SmtpSettings) -> Self {
        SmtpFields {
            host: s.host.clone(),
            port: s.port.to_string(),
            tls: s.tls.as_str().into(),
            username: s.username.clone().unwrap_or_default(),
            password: String::new(),
            from_address: s.from_address.clone(),
            from_name: s.from_name.clone().unwrap_or_default(),
        }
    }

    fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("host".into(), json!(self.host.trim()));
        m.insert("tls".into(), json!(self.tls));
        m.insert("from_address".into(), json!(self.from_address.trim()));
        let port = self.port.trim();
        if !port.is_empty() {
            m.insert(
                "port".into(),
                port.parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| json!(port)),
            );
        }
        for (k, v) in [("username", &self.username), ("from_name", &self.from_name)] {
            let v = v.trim();
            if !v.is_empty() {
                m.insert(k.into(), json!(v));
            }
        }
        if !self.password.is_empty() {
            m.insert("password".into(), json!(self.password));
        }
        Value::Object(m)
    }
}

/// The stored settings, if the company has its own server.
async fn current(c: &Console) -> Result<Option<SmtpSettings>, ApiFailure> {
    match c.api.get::<SmtpSettings>(API).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.status == StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

async fn page(
    c: &Console,
    refused: Option<(SmtpFields, ApiFailure)>,
) -> Result<Response, ApiFailure> {
    let (now, latest) = tokio::join!(current(c), recent(c, "company", 5));
    let (now, latest) = (now?, latest?);
    let own = now
        .as_ref()
        .map(SmtpFields::of)
        .unwrap_or_else(|| SmtpFields {
            tls: "starttls".into(),
            ..Default::default()
        });
    let (f, p) = match &refused {
        Some((f, e)) => (f, Some(e)),
        None => (&own, None),
    };
    let status = p.map(|e| e.status).unwrap_or(StatusCode::OK);
    let body = html! {
        (back())
        h1 { "Outgoing mail (SMTP)" }
        @match &now {
            Some(s) => p #smtp-state {
                "Mail is sent through " strong { (s.host) ":" (s.port) } " as " (s.from_address) ". "
                @if s.has_password { "A password is stored." } @else { "No password is stored." }
                " Last changed " (c.fmt.datetime(s.updated_at)) "."
            },
            None => p #smtp-state { "Mail is sent through the platform's server." },
        }
        form.stack #smtp-form method="post" action=(BASE) {
            (layout::csrf_field(c.csrf()))
            (refusal(p))
            (input("Server", "host", "text", &f.host, p))
            (input("Port (empty: the TLS mode's usual one)", "port", "text", &f.port, p))
            label for="f-tls" { "Encryption" }
            select #f-tls name="tls" {
                @for (v, l) in [("starttls", "STARTTLS (usually 587)"), ("tls", "TLS (usually 465)"), ("none", "None (local relays only)")] {
                    option value=(v) selected[f.tls == v] { (l) }
                }
            }
            (input("User name", "username", "text", &f.username, p))
            (input(if now.as_ref().is_some_and(|s| s.has_password) { "Password (empty: keep the stored one)" } else { "Password" }, "password", "password", "", p))
            (input("From address", "from_address", "email", &f.from_address, p))
            (input("From name", "from_name", "text", &f.from_name, p))
            button type="submit" #save-smtp { "Save" }
        }
        @if now.is_some() {
            (layout::post_button(&format!("{BASE}/delete"), c.csrf(), "delete-smtp", "Use the platform's server again"))
        }
        (changes(c, "smtp-changes", "Latest changes to the company", &latest))
    };
    Ok(c.page_with(status, Some(Section::Settings), "Outgoing mail", body))
}

/// `GET /console/settings/smtp`.
pub async fn show(c: Console) -> Result<Response, ApiFailure> {
    page(&c, None).await
}

/// `POST /console/settings/smtp`.
pub async fn save(c: Console, Form(f): Form<SmtpFields>) -> Result<Response, ApiFailure> {
    match c
        .api
        .send::<SmtpSettings>(Method::PUT, API, &f.body())
        .await
    {
        Ok(_) => Ok(see_other(BASE)),
        Err(e) if e.is_validation() => page(&c, Some((f, e))).await,
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/smtp/delete`.
pub async fn delete(c: Console, Form(NoFields {}): Form<NoFields>) -> Result<Response, ApiFailure> {
    c.api
        .bytes(Method::DELETE, API, ApiBody::Empty, None)
        .await?;
    Ok(see_other(BASE))
}
