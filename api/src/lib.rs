//! The HTTP API: authentication, authorization, validation, short reads and
//! writes. Anything slow, scheduled or external goes to the job queue.

pub mod admin;
pub mod auth;
pub mod client_addr;
pub mod download;
pub mod error;
pub mod extract;
pub mod idempotency;
mod json_objects;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod state;

use std::time::Duration;

use axum::Router;
use axum::http::HeaderName;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use auth::JwtKeys;
pub use state::AppState;

/// Largest request body accepted (1 MiB); larger ones answer 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Every route with its OpenAPI description, before middleware.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(routes::health::router())
        .merge(routes::auth::router())
        .merge(routes::api_tokens::router())
        .merge(routes::company::router())
        .merge(routes::users::router())
        .merge(routes::audit::router())
        .merge(routes::clients::router())
        .merge(routes::contacts::router())
        .merge(routes::contracts::router())
        .merge(routes::portal::router())
        .merge(routes::portal_billing::router())
        .merge(routes::portal_account::router())
        .merge(routes::portal_tickets::router())
        .merge(routes::locations::router())
        .merge(routes::catalogue::router())
        .merge(routes::invoices::router())
        .merge(routes::payments::router())
        .merge(routes::recurring::router())
        .merge(routes::quotes::router())
        .merge(routes::documents::router())
        .merge(routes::mail::router())
        .merge(routes::tickets::router())
        .merge(routes::canned_replies::router())
        .merge(routes::mail_texts::router())
        .merge(routes::ticket_templates::router())
        .merge(routes::recurring_tickets::router())
        .merge(routes::sla::router())
        .merge(routes::mailboxes::router())
        .merge(routes::assets::router())
        .merge(routes::reports::router())
        .merge(routes::networks::router())
        .merge(routes::projects::router())
        .merge(routes::time_entries::router())
        .merge(routes::webhooks::router())
        .merge(routes::stripe::router())
        .merge(routes::accounting::router())
        .merge(routes::rmm::router())
        .merge(routes::imports::router())
        .merge(routes::jobs::router())
        .merge(routes::schedules::router())
}

/// The OpenAPI document the router serves at `/api/v1/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = api_routes().split_for_parts().1;
    openapi::complete(&mut doc);
    doc
}

/// Longest a request may take, reading its body and answering, by default.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The complete application: routes, docs, and the middleware stack.
pub fn app(state: AppState) -> Router {
    app_with_timeout(state, REQUEST_TIMEOUT)
}

/// [`app`] with a request timeout of its own (504 past it).
pub fn app_with_timeout(state: AppState, request_timeout: Duration) -> Router {
    let (router, mut api) = api_routes().split_for_parts();
    openapi::complete(&mut api);
    let request_id = HeaderName::from_static("x-request-id");
    router
        .merge(SwaggerUi::new("/docs").url("/api/v1/openapi.json", api))
        // HTML for people in a browser; not part of the OpenAPI document.
        .merge(admin::router())
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        // Innermost: a replayed answer is counted and timed like any other.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .layer(axum::middleware::from_fn(middleware::track_metrics))
        // Bodies: 1 MiB, but for the import upload (10 MiB).
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(middleware::body_cap))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(middleware::make_span))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(axum::middleware::from_fn(middleware::json_errors))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                    axum::http::StatusCode::GATEWAY_TIMEOUT,
                    request_timeout,
                ))
                // The hard cap for every body: the largest any route allows.
                .layer(RequestBodyLimitLayer::new(
                    routes::imports::IMPORT_BODY_LIMIT,
                )),
        )
}
