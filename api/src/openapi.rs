//! The OpenAPI document's frame; the paths come from the routes themselves.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(title = "Nestogy API", description = "Multi-tenant platform for managed service providers."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in, tokens and TOTP"),
        (name = "api tokens", description = "Scoped tokens for integrations"),
        (name = "company", description = "The tenant's settings"),
        (name = "users", description = "Users and roles"),
        (name = "audit", description = "Who changed what"),
        (name = "clients", description = "Clients"),
        (name = "contacts", description = "A client's people"),
        (name = "locations", description = "A client's sites"),
        (name = "catalogue", description = "Tax rates, products and payment terms"),
        (name = "invoices", description = "Invoices: drafts, finalize, void, duplicate"),
        (name = "payments", description = "Payments, refunds, client credit and statements"),
        (name = "quotes", description = "Quotes: send, accept, decline, expire, convert"),
        (name = "recurring", description = "Recurring invoices and billing runs"),
        (name = "tickets", description = "Tickets: messages, attachments, assignment, status, search"),
        (name = "sla", description = "SLA policies per priority and the holiday calendar"),
        (name = "mailboxes", description = "IMAP mailboxes mail becomes tickets from, and their quarantine"),
        (name = "assets", description = "A client's assets, their warranties and history"),
        (name = "networks", description = "A client's networks"),
        (name = "projects", description = "Projects, their tasks and linked tickets"),
        (name = "time", description = "Time entries and billing them"),
        (name = "webhooks", description = "Signed webhooks out: endpoints, deliveries, redelivery"),
        (name = "stripe", description = "Online payments with Stripe: keys, payment links, autopay, Stripe's events"),
        (name = "accounting", description = "Accounting sync with Xero"),
        (name = "rmm", description = "Monitoring alerts in, as tickets"),
        (name = "reports", description = "Finance and service reports from snapshots the workers compute, as JSON or CSV"),
        (name = "import and export", description = "CSV import jobs and streamed CSV exports"),
        (name = "jobs", description = "Background jobs: state, retry, cancel"),
        (name = "schedules", description = "Recurring jobs from cron expressions"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A JWT access token from /api/v1/auth/login, or an API token (nst_...)",
                    ))
                    .build(),
            ),
        );
    }
}

pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
