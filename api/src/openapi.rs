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

/// Adds the optional `Idempotency-Key` header to every authenticated POST
/// that takes it (see [`crate::idempotency`]).
pub fn document_idempotency_key(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{RefOr, Required};

    for (path, item) in doc.paths.paths.iter_mut() {
        let Some(op) = item.post.as_mut() else {
            continue;
        };
        let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
        if !authenticated || !crate::idempotency::applies_to(path) {
            continue;
        }
        let param = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Makes a retry safe: a request repeated with the same key (1 to 255 printable \
                 ASCII characters, unique per request, e.g. a UUID) within 24 hours gets the first \
                 answer again, with `Idempotent-Replayed: true`, instead of doing the work twice. \
                 The same key with another method, path or body answers 422 \
                 `idempotency_key_reused`; while the first request runs, 409 \
                 `idempotency_key_in_use`. Answers of 500 and above and 429 are not kept.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(crate::idempotency::MAX_KEY_LEN)),
            ))
            .build();
        op.parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(param));
    }
}
