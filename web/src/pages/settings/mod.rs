//! `/console/settings`: the company's settings, for admins. Every page
//! reads through an admin-only API call (the audit log, the users, the
//! tokens, ...), so a tech or an accountant who types a settings URL gets
//! the API's 403 as a page; the navigation offers the section to admins
//! only ([`Section::offered_to`]).
//!
//! - [`index`]: the settings' pages and the company's latest changes.
//! - [`company`]: name, time zone, currency, locale and address.
//! - [`branding`]: the logo (a multipart upload whose CSRF token is checked
//!   before anything is forwarded), the brand fields, and a preview: the
//!   tenant's newest invoice as the API renders it now.
//! - [`users`]: users and roles; a user's page edits name, e-mail, role
//!   and password.
//! - [`tokens`]: API tokens.
//! - [`mailboxes`]: IMAP mailboxes, the connection test, poll now, held
//!   messages.
//! - [`sla`]: SLA policies per priority, and holidays.
//! - [`webhooks`]: webhook endpoints and their delivery log.
//! - [`smtp`]: the company's own SMTP server (its password never shown).
//! - [`mail_texts`]: the subject and body of each message sent, with a
//!   preview from sample data.
//! - [`stripe`]: the Stripe keys (never shown) and webhook URL.
//! - [`xero`]: the Xero connection, its sync runs and each run's items.
//! - [`rmm`]: the RMM alert receiver (its secret shown once).
//! - [`schedules`]: the company's schedules.
//! - [`imports`]: CSV imports (multipart, CSRF checked first) and exports.
//! - [`audit`]: the audit log, and a link to the job queues' dashboard.

pub mod audit;
pub mod branding;
pub mod company;
pub mod imports;
pub mod mail_texts;
pub mod mailboxes;
pub mod rmm;
pub mod schedules;
pub mod sla;
pub mod smtp;
pub mod stripe;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod xero;

use axum::response::Response;
use maud::{Markup, html};
use nestogy_domain::kernel::audit::AuditEntry;
use nestogy_domain::kernel::pagination::Page;

use crate::api_client::ApiFailure;
use crate::layout::Section;
use crate::session::Console;

/// The settings' pages: path, title, what it holds.
const PAGES: &[(&str, &str, &str)] = &[
    (
        "/console/settings/company",
        "Company",
        "Name, time zone, currency, locale and postal address.",
    ),
    (
        "/console/settings/branding",
        "Branding",
        "The logo, accent colour, footer and payment instructions documents carry, with a preview.",
    ),
    (
        "/console/settings/users",
        "Users and roles",
        "Who signs in, with which role; new users, editing a user (name, e-mail, role, password), deactivation.",
    ),
    (
        "/console/settings/tokens",
        "API tokens",
        "Scoped tokens for integrations: create (the secret is shown once) and revoke.",
    ),
    (
        "/console/settings/mailboxes",
        "Mailboxes",
        "The IMAP mailboxes tickets arrive by: connection test, poll now, quarantine and ignored mail.",
    ),
    (
        "/console/settings/sla",
        "SLA policies and holidays",
        "Response and resolution targets per priority, business hours, the holiday calendar.",
    ),
    (
        "/console/settings/webhooks",
        "Webhooks",
        "Endpoints that receive events: ping, secret rotation, the delivery log and redelivery.",
    ),
    (
        "/console/settings/smtp",
        "Outgoing mail (SMTP)",
        "Send the company's mail through its own server, or the platform's.",
    ),
    (
        "/console/settings/mail-texts",
        "Mail texts",
        "The subject and body of every message sent (invoices, replies, reminders, portal links...), with placeholders and a preview.",
    ),
    (
        "/console/settings/stripe",
        "Stripe",
        "The Stripe account invoices are paid through (its keys never shown).",
    ),
    (
        "/console/settings/xero",
        "Xero",
        "The accounting connection: connect, disconnect, sync now, the sync runs and what each pushed.",
    ),
    (
        "/console/settings/rmm",
        "RMM alerts",
        "The receiver RMM alerts arrive at as tickets: its URL and secret.",
    ),
    (
        "/console/settings/schedules",
        "Schedules",
        "Recurring jobs (billing runs, reminders, polls, reports): cron, time zone, run now.",
    ),
    (
        "/console/settings/imports",
        "Imports and exports",
        "CSV imports of clients, contacts, locations and assets (with row errors), and CSV exports.",
    ),
    (
        "/console/settings/audit",
        "Audit log",
        "Every change and sign-in, filtered by action, entity, user and day.",
    ),
];

/// A "Back to settings" link for the top of every settings page.
pub(crate) fn back() -> Markup {
    html! { p { a href="/console/settings" { "← Settings" } } }
}

/// A card of audit entries: when, what, on what.
pub(crate) fn changes(c: &Console, id: &str, title: &str, entries: &[AuditEntry]) -> Markup {
    html! {
        section.card id=(id) aria-labelledby={ (id) "-title" } {
            h2 id={ (id) "-title" } { (title) }
            @if entries.is_empty() {
                p.muted { "No change recorded yet." }
            } @else {
                div.scroll { table {
                    thead { tr { th { "When" } th { "What" } th { "On" } } }
                    tbody { @for e in entries {
                        tr {
                            td { (c.fmt.datetime(e.at)) }
                            td { code { (e.action) } }
                            td { (e.entity_type) }
                        }
                    } }
                } }
            }
        }
    }
}

/// The newest `limit` audit entries of `entity_type` (admins only: the
/// API's 403 otherwise, which is the settings pages' gate).
pub(crate) async fn recent(
    c: &Console,
    entity_type: &str,
    limit: u32,
) -> Result<Vec<AuditEntry>, ApiFailure> {
    let page: Page<AuditEntry> = c
        .api
        .get(format!(
            "/api/v1/audit{}",
            crate::api_client::query(&[
                ("entity_type", entity_type),
                ("limit", &limit.to_string())
            ])
        ))
        .await?;
    Ok(page.data)
}

/// `GET /console/settings`: the pages, and the company's last changes.
pub async fn index(c: Console) -> Result<Response, ApiFailure> {
    let latest: Page<AuditEntry> = c.api.get("/api/v1/audit?limit=10").await?;
    let body = html! {
        h1 { "Settings" }
        ul #settings-pages {
            @for (href, title, what) in PAGES {
                li { a href=(href) { (title) } " — " span.muted { (what) } }
            }
        }
        p { a #queue-dashboard href="/admin/queues" { "Job queues (operators' dashboard)" } }
        (changes(&c, "latest-changes", "Latest changes", &latest.data))
    };
    Ok(c.page(Section::Settings, "Settings", body))
}
