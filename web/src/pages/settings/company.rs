//! `/console/settings/company`: the company's name, time zone, currency,
//! locale and address (`PATCH /api/v1/company`), and its latest changes.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_domain::identity::company::{Address, Company, LOCALES};
use serde::Deserialize;
use serde_json::json;

use super::{back, changes, recent};
use crate::api_client::ApiFailure;
use crate::layout::{self, Section};
use crate::pages::clients::{input, refusal};
use crate::session::{Console, Form};

/// The fields of the company form.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyFields {
    name: String,
    time_zone: String,
    currency: String,
    locale: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl CompanyFields {
    fn of(co: &Company) -> Self {
        let a = &co.address;
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        CompanyFields {
            name: co.name.clone(),
            time_zone: co.time_zone.clone(),
            currency: co.currency.clone(),
            locale: co.locale.clone(),
            line1: s(&a.line1),
            line2: s(&a.line2),
            city: s(&a.city),
            region: s(&a.region),
            postal_code: s(&a.postal_code),
            country: s(&a.country),
        }
    }

    /// The body of `PATCH /api/v1/company`: every field of the form (an
    /// empty address line clears it).
    fn patch_body(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "time_zone": self.time_zone.trim(),
            "currency": self.currency.trim(),
            "locale": self.locale,
            "address": Address {
                line1: some(&self.line1),
                line2: some(&self.line2),
                city: some(&self.city),
                region: some(&self.region),
                postal_code: some(&self.postal_code),
                country: some(&self.country),
            },
        })
    }
}

fn form(c: &Console, f: &CompanyFields, p: Option<&ApiFailure>) -> Markup {
    let locale_problem = p.and_then(|e| e.field("locale"));
    html! {
        form.stack #company-form method="post" action="/console/settings/company" {
            (layout::csrf_field(c.csrf()))
            (refusal(p))
            (input("Name", "name", "text", &f.name, p))
            label for="f-time_zone" { "Time zone " span.hint { "(IANA name, e.g. Europe/Berlin)" } }
            input #f-time_zone name="time_zone" type="text" list="time-zones" value=(f.time_zone)
                autocomplete="off" aria-invalid=[p.and_then(|e| e.field("time_zone")).map(|_| "true")];
            @if let Some(m) = p.and_then(|e| e.field("time_zone")) { p.field-problem { (m) } }
            datalist #time-zones {
                @for tz in chrono_tz::TZ_VARIANTS.iter() { option value=(tz.name()) {} }
            }
            (input("Currency (ISO 4217 code, e.g. EUR)", "currency", "text", &f.currency, p))
            label for="f-locale" { "Locale " span.hint { "(how documents write dates and money)" } }
            select #f-locale name="locale" aria-invalid=[locale_problem.map(|_| "true")] {
                @if !LOCALES.contains(&f.locale.as_str()) {
                    option value=(f.locale) selected { (f.locale) }
                }
                @for l in LOCALES {
                    option value=(l) selected[*l == f.locale] { (l) }
                }
            }
            @if let Some(m) = locale_problem { p.field-problem { (m) } }
            fieldset {
                legend { "Address" }
                (input("Address line 1", "line1", "text", &f.line1, p))
                (input("Address line 2", "line2", "text", &f.line2, p))
                (input("City", "city", "text", &f.city, p))
                (input("Region", "region", "text", &f.region, p))
                (input("Postal code", "postal_code", "text", &f.postal_code, p))
                (input("Country (ISO code)", "country", "text", &f.country, p))
            }
            button type="submit" #save-company { "Save company" }
        }
    }
}

async fn page(
    c: &Console,
    status: StatusCode,
    f: &CompanyFields,
    p: Option<&ApiFailure>,
) -> Result<Response, ApiFailure> {
    let latest = recent(c, "company", 5).await?;
    let body = html! {
        (back())
        h1 { "Company" }
        @if status == StatusCode::OK && c.company.updated_at > c.company.created_at {
            p.muted { "Last changed " (c.fmt.datetime(c.company.updated_at)) "." }
        }
        (form(c, f, p))
        (changes(c, "company-changes", "Latest changes to the company", &latest))
    };
    Ok(c.page_with(status, Some(Section::Settings), "Company", body))
}

/// `GET /console/settings/company`.
pub async fn show(c: Console) -> Result<Response, ApiFailure> {
    let f = CompanyFields::of(&c.company);
    page(&c, StatusCode::OK, &f, None).await
}

/// `POST /console/settings/company`: the API's `PATCH /company`.
pub async fn update(c: Console, Form(f): Form<CompanyFields>) -> Result<Response, ApiFailure> {
    match c
        .api
        .send::<Company>(Method::PATCH, "/api/v1/company", &f.patch_body())
        .await
    {
        Ok(_) => Ok(see_other("/console/settings/company")),
        Err(e) if e.is_validation() => page(&c, e.status, &f, Some(&e)).await,
        Err(e) => Err(e),
    }
}
