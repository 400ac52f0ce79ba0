//! `/console/settings/company`: the company's name, time zone, currency,
//! locale and address (`PATCH /api/v1/company`), its rules for documents
//! and mail (the `settings` object: reminder days, number patterns, the
//! acknowledgement limit, the default hourly rate, the report's
//! recipients), and its latest changes.

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

/// The fields of the rules form: the known keys of the company's
/// `settings`; an empty field removes its key (the default applies).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFields {
    #[serde(default)]
    reminder_days: String,
    #[serde(default)]
    invoice_number_pattern: String,
    #[serde(default)]
    quote_number_pattern: String,
    #[serde(default)]
    acknowledgements_per_sender_hour: String,
    #[serde(default)]
    default_hourly_rate: String,
    #[serde(default)]
    report_recipients: String,
}

/// The known keys of `settings`, as the rules form names them.
const RULE_KEYS: [&str; 6] = [
    "reminder_days",
    "invoice_number_pattern",
    "quote_number_pattern",
    "acknowledgements_per_sender_hour",
    "default_hourly_rate",
    "report_recipients",
];

impl RulesFields {
    fn of(co: &Company) -> Self {
        let s = &co.settings;
        let text = |k: &str| match s.get(k) {
            Some(serde_json::Value::String(v)) => v.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    serde_json::Value::String(x) => x.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        RulesFields {
            reminder_days: text("reminder_days"),
            invoice_number_pattern: text("invoice_number_pattern"),
            quote_number_pattern: text("quote_number_pattern"),
            acknowledgements_per_sender_hour: text("acknowledgements_per_sender_hour"),
            default_hourly_rate: text("default_hourly_rate"),
            report_recipients: text("report_recipients"),
        }
    }

    /// The whole `settings` object (the API replaces it): the company's
    /// other keys kept, the form's set or removed. Numbers are sent as
    /// numbers when they read as such, else as typed, for the API to
    /// refuse with its message.
    fn settings(&self, current: &serde_json::Value) -> serde_json::Value {
        let mut m = current.as_object().cloned().unwrap_or_default();
        for k in RULE_KEYS {
            m.remove(k);
        }
        let list = |s: &str| -> Vec<String> {
            s.split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let days = list(&self.reminder_days);
        if !days.is_empty() {
            let days: Vec<serde_json::Value> = days
                .iter()
                .map(|d| {
                    d.parse::<i64>()
                        .map(serde_json::Value::from)
                        .unwrap_or_else(|_| json!(d))
                })
                .collect();
            m.insert("reminder_days".into(), json!(days));
        }
        for k in ["invoice_number_pattern", "quote_number_pattern"] {
            let v = if k == "invoice_number_pattern" {
                self.invoice_number_pattern.trim()
            } else {
                self.quote_number_pattern.trim()
            };
            if !v.is_empty() {
                m.insert(k.into(), json!(v));
            }
        }
        let acks = self.acknowledgements_per_sender_hour.trim();
        if !acks.is_empty() {
            m.insert(
                "acknowledgements_per_sender_hour".into(),
                acks.parse::<i64>()
                    .map(serde_json::Value::from)
                    .unwrap_or_else(|_| json!(acks)),
            );
        }
        let rate = self.default_hourly_rate.trim();
        if !rate.is_empty() {
            m.insert("default_hourly_rate".into(), json!(rate));
        }
        let to = list(&self.report_recipients);
        if !to.is_empty() {
            m.insert("report_recipients".into(), json!(to));
        }
        serde_json::Value::Object(m)
    }
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

fn rules_form(c: &Console, f: &RulesFields, p: Option<&ApiFailure>) -> Markup {
    // The API names these fields `settings.<key>`.
    let problem = |k: &str| p.and_then(|e| e.field(&format!("settings.{k}")));
    let field = |label: &str, k: &str, v: &str| {
        let id = format!("r-{k}");
        let m = problem(k);
        html! {
            label for=(id) { (label) }
            input id=(id) name=(k) type="text" value=(v) aria-invalid=[m.map(|_| "true")];
            @if let Some(m) = m { p.field-problem { (m) } }
        }
    };
    html! {
        form.stack #rules-form method="post" action="/console/settings/company/rules" {
            (layout::csrf_field(c.csrf()))
            (refusal(p))
            p.muted { "Empty fields use the defaults." }
            (field("Reminder days after the due date (default 3, 7, 14)", "reminder_days", &f.reminder_days))
            (field("Invoice number pattern (default INV-{YYYY}-{SEQ:6})", "invoice_number_pattern", &f.invoice_number_pattern))
            (field("Quote number pattern (default QUO-{YYYY}-{SEQ:6})", "quote_number_pattern", &f.quote_number_pattern))
            (field("Acknowledgements per sender and hour (default 5; 0: never)", "acknowledgements_per_sender_hour", &f.acknowledgements_per_sender_hour))
            (field(&format!("Default hourly rate ({}; none by default)", c.company.currency), "default_hourly_rate", &f.default_hourly_rate))
            (field("Monthly report recipients (default: the accountants and admins)", "report_recipients", &f.report_recipients))
            button type="submit" #save-rules { "Save rules" }
        }
    }
}

/// Which form of the page the API refused.
enum Refused<'a> {
    Company(&'a CompanyFields, &'a ApiFailure),
    Rules(&'a RulesFields, &'a ApiFailure),
}

async fn page(c: &Console, refused: Option<Refused<'_>>) -> Result<Response, ApiFailure> {
    let own = CompanyFields::of(&c.company);
    let own_rules = RulesFields::of(&c.company);
    let (status, f, p, rf, rp) = match refused {
        Some(Refused::Company(f, e)) => (e.status, f, Some(e), &own_rules, None),
        Some(Refused::Rules(f, e)) => (e.status, &own, None, f, Some(e)),
        None => (StatusCode::OK, &own, None, &own_rules, None),
    };
    let latest = recent(c, "company", 5).await?;
    let body = html! {
        (back())
        h1 { "Company" }
        @if status == StatusCode::OK && c.company.updated_at > c.company.created_at {
            p.muted { "Last changed " (c.fmt.datetime(c.company.updated_at)) "." }
        }
        (form(c, f, p))
        section.card #rules aria-labelledby="rules-title" {
            h2 #rules-title { "Documents and mail" }
            (rules_form(c, rf, rp))
        }
        (changes(c, "company-changes", "Latest changes to the company", &latest))
    };
    Ok(c.page_with(status, Some(Section::Settings), "Company", body))
}

/// `GET /console/settings/company`.
pub async fn show(c: Console) -> Result<Response, ApiFailure> {
    page(&c, None).await
}

/// `POST /console/settings/company`: the API's `PATCH /company`.
pub async fn update(c: Console, Form(f): Form<CompanyFields>) -> Result<Response, ApiFailure> {
    match c
        .api
        .send::<Company>(Method::PATCH, "/api/v1/company", &f.patch_body())
        .await
    {
        Ok(_) => Ok(see_other("/console/settings/company")),
        Err(e) if e.is_validation() => page(&c, Some(Refused::Company(&f, &e))).await,
        Err(e) => Err(e),
    }
}

/// `POST /console/settings/company/rules`: the `settings` object, the
/// company's other keys kept.
pub async fn update_rules(c: Console, Form(f): Form<RulesFields>) -> Result<Response, ApiFailure> {
    let body = json!({ "settings": f.settings(&c.company.settings) });
    match c
        .api
        .send::<Company>(Method::PATCH, "/api/v1/company", &body)
        .await
    {
        Ok(_) => Ok(see_other("/console/settings/company#rules")),
        Err(e) if e.is_validation() => page(&c, Some(Refused::Rules(&f, &e))).await,
        Err(e) => Err(e),
    }
}
