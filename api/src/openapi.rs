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
        (name = "contracts", description = "A client's contracts: SLA targets, included hours, rate, expiry"),
        (name = "portal", description = "The client portal: contacts' sign-in (invitation, sign-in links, password) and who is signed in"),
        (name = "catalogue", description = "Tax rates, products and payment terms"),
        (name = "invoices", description = "Invoices: drafts, finalize, void, duplicate"),
        (name = "payments", description = "Payments, refunds, client credit and statements"),
        (name = "quotes", description = "Quotes: send, accept, decline, expire, convert"),
        (name = "recurring", description = "Recurring invoices and billing runs"),
        (name = "tickets", description = "Tickets: messages, attachments, assignment, status, search, watchers"),
        (name = "canned replies", description = "Reply texts with placeholders, shared or personal, rendered for a ticket"),
        (name = "mail texts", description = "The subject and body of every message the platform sends: built in (English, German, French) or the company's own, with placeholders and a preview"),
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

/// The passes that complete the document the routes describe: the
/// `Idempotency-Key` header and the error answers common to many
/// operations. Both the served document and [`crate::openapi_document`]
/// go through here.
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    document_idempotency_key(doc);
    document_common_responses(doc);
}

/// Adds the optional `Idempotency-Key` header to every authenticated POST
/// that takes it (see [`crate::idempotency`]).
fn document_idempotency_key(doc: &mut utoipa::openapi::OpenApi) {
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

/// An error answer that follows from what an operation is rather than from
/// what it does, stated once in `components.responses` under `name`.
struct Common {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    /// Carries `Retry-After` (seconds).
    retry_after: bool,
}

const BAD_REQUEST: Common = Common {
    status: "400",
    name: "BadRequest",
    description: "Input that cannot be read: a body that is not JSON (`malformed_json`), a query \
                  string or path parameter of the wrong type or an unknown query parameter \
                  (`invalid_query`, `invalid_path`), a malformed `Idempotency-Key` \
                  (`invalid_idempotency_key`).",
    retry_after: false,
};
const UNAUTHORIZED: Common = Common {
    status: "401",
    name: "Unauthorized",
    description: "No bearer token, or one that is invalid, expired or revoked (a new password, \
                  deactivation, sign-out everywhere): `unauthenticated`.",
    retry_after: false,
};
const FORBIDDEN: Common = Common {
    status: "403",
    name: "Forbidden",
    description: "The caller's role, or the API token's scopes, do not allow this (`forbidden`).",
    retry_after: false,
};
const NOT_FOUND: Common = Common {
    status: "404",
    name: "NotFound",
    description: "No such id in the caller's company (`not_found`); another company's id answers \
                  the same.",
    retry_after: false,
};
const CONFLICT: Common = Common {
    status: "409",
    name: "Conflict",
    description: "The request conflicts with the state of what it changes, or a request with the \
                  same `Idempotency-Key` is still running (`idempotency_key_in_use`).",
    retry_after: false,
};
const PAYLOAD_TOO_LARGE: Common = Common {
    status: "413",
    name: "PayloadTooLarge",
    description: "The body is larger than the API accepts: 1 MiB, 10 MiB for an import \
                  (`payload_too_large`).",
    retry_after: false,
};
const UNSUPPORTED_MEDIA_TYPE: Common = Common {
    status: "415",
    name: "UnsupportedMediaType",
    description: "The body is not sent with the content type the operation reads \
                  (`unsupported_media_type`).",
    retry_after: false,
};
const UNPROCESSABLE: Common = Common {
    status: "422",
    name: "UnprocessableEntity",
    description: "Input that is read but refused: invalid fields (`validation_failed`, \
                  `details.fields` names each), a body of the wrong shape (`invalid_body`, \
                  `details.fields` names the field), a NUL \
                  character or a date out of range in a body, query string or path, an \
                  `Idempotency-Key` reused for another request (`idempotency_key_reused`).",
    retry_after: false,
};
const TOO_MANY_REQUESTS: Common = Common {
    status: "429",
    name: "TooManyRequests",
    description: "Throttled (`account_locked`): try again after `Retry-After` seconds.",
    retry_after: true,
};
const UNAVAILABLE: Common = Common {
    status: "503",
    name: "ServiceUnavailable",
    description: "PostgreSQL or the job queue cannot be reached for now, or the request lost a \
                  deadlock (`unavailable`): try again after `Retry-After` seconds.",
    retry_after: true,
};

const COMMON: [Common; 10] = [
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    CONFLICT,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    UNPROCESSABLE,
    TOO_MANY_REQUESTS,
    UNAVAILABLE,
];

/// Authenticated operations open to every caller, whatever the role or
/// scopes: they never answer 403.
const OPEN_TO_EVERY_CALLER: &[(&str, &str)] = &[("get", "/api/v1/auth/me")];

/// Receivers that read their JSON body as raw bytes, to check a signature
/// or secret over it first: they read it whatever its content type (so
/// never answer 415).
const RAW_JSON_RECEIVERS: &[&str] = &[
    "/api/v1/webhooks/stripe/{company_id}",
    "/api/v1/webhooks/rmm/{company_id}",
];

/// Operations that never touch PostgreSQL or Redis (so never answer 503
/// `unavailable`).
const WITHOUT_DEPENDENCIES: &[&str] = &["/healthz", "/metrics"];

/// Adds to every operation the error answers that follow from what it is,
/// each as a reference to one response in `components.responses`:
///
/// - authenticated: 401, and 403 (but [`OPEN_TO_EVERY_CALLER`]); with path
///   parameters also 404 (an id not in the caller's company);
/// - path or query parameters: 400 (a value of the wrong type, an unknown
///   query parameter), 422 (a NUL character, a date out of range);
/// - a body: 413; a JSON body also 400 (not JSON), 422 (wrong shape,
///   invalid fields) and, read by [`crate::extract::Json`], 415 (another
///   content type);
/// - a POST that takes `Idempotency-Key`: 400 (a malformed key), 409 (its
///   first request still runs), 422 (the key reused for another request);
/// - every operation that reads PostgreSQL or Redis: 503 with
///   `Retry-After`.
///
/// An error answer a route declares itself as a bare [`ErrorBody`] (no
/// description of its own) is replaced by the same reference, so each is
/// described once; one with a description of its own is kept.
///
/// [`ErrorBody`]: crate::error::ErrorBody
pub fn document_common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{RefOr, schema::Ref};

    let components = doc.components.get_or_insert_with(Default::default);
    {
        use utoipa::{PartialSchema, ToSchema};
        type Body = crate::error::ErrorBody;
        let mut schemas = vec![(Body::name().into_owned(), Body::schema())];
        Body::schemas(&mut schemas);
        components.schemas.extend(schemas);
    }
    for c in &COMMON {
        components
            .responses
            .insert(c.name.to_owned(), RefOr::T(common_response(c)));
    }

    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method_name, op) in operations {
            let Some(op) = op.as_mut() else { continue };
            let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_param = |at: ParameterIn| {
                op.parameters.iter().flatten().any(|p| match p {
                    RefOr::T(p) => p.parameter_in == at,
                    RefOr::Ref(_) => false,
                })
            };
            let (in_path, in_query) = (has_param(ParameterIn::Path), has_param(ParameterIn::Query));
            let body_types: Vec<String> = match &op.request_body {
                Some(RefOr::T(b)) => b.content.keys().cloned().collect(),
                _ => Vec::new(),
            };
            let json_body = body_types.iter().any(|t| t == "application/json");
            let idempotent =
                method_name == "post" && authenticated && crate::idempotency::applies_to(path);

            let mut add = Vec::new();
            if authenticated {
                add.push(&UNAUTHORIZED);
                if !OPEN_TO_EVERY_CALLER.contains(&(method_name, path.as_str())) {
                    add.push(&FORBIDDEN);
                }
                if in_path {
                    add.push(&NOT_FOUND);
                }
            }
            if in_path || in_query {
                add.extend([&BAD_REQUEST, &UNPROCESSABLE]);
            }
            if !body_types.is_empty() {
                add.push(&PAYLOAD_TOO_LARGE);
            }
            if json_body {
                add.extend([&BAD_REQUEST, &UNPROCESSABLE]);
                if !RAW_JSON_RECEIVERS.contains(&path.as_str()) {
                    add.push(&UNSUPPORTED_MEDIA_TYPE);
                }
            }
            if idempotent {
                add.extend([&BAD_REQUEST, &CONFLICT, &UNPROCESSABLE]);
            }
            if !WITHOUT_DEPENDENCIES.contains(&path.as_str()) {
                add.push(&UNAVAILABLE);
            }

            let responses = &mut op.responses.responses;
            // A bare ErrorBody the route declared becomes the reference.
            for c in &COMMON {
                if responses.get(c.status).is_some_and(is_bare_error_body) {
                    responses.insert(
                        c.status.to_owned(),
                        RefOr::Ref(Ref::from_response_name(c.name)),
                    );
                }
            }
            for c in add {
                // Readiness answers 503 with its own body; a route's own
                // description of a status stays.
                responses
                    .entry(c.status.to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(c.name)));
            }
        }
    }
}

fn common_response(c: &Common) -> utoipa::openapi::Response {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

    let mut r = ResponseBuilder::new().description(c.description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if c.retry_after {
        r = r.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ))
                .description(Some("Seconds to wait before trying again"))
                .build(),
        );
    }
    r.build()
}

/// A response that is only `application/json` [`crate::error::ErrorBody`],
/// with no description or headers of its own.
fn is_bare_error_body(r: &utoipa::openapi::RefOr<utoipa::openapi::Response>) -> bool {
    use utoipa::openapi::RefOr;
    let RefOr::T(r) = r else { return false };
    r.description.trim().is_empty()
        && r.headers.is_empty()
        && r.content.len() == 1
        && r.content.get("application/json").is_some_and(|c| match c {
            RefOr::T(c) => matches!(&c.schema,
                Some(RefOr::Ref(s)) if s.ref_location == "#/components/schemas/ErrorBody"),
            RefOr::Ref(_) => false,
        })
}
