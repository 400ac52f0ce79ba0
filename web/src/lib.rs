//! The staff console: server-rendered HTML under `/console`, served by the
//! same binary beside the JSON API ([`app`]).
//!
//! # The console is a client of the API
//! Every read and every action of a page is a call to the JSON API's own
//! router, in process ([`api_client::Api`]), as the signed-in user, with a
//! short token minted per request from the console session. So the console
//! has no business rule, no permission check, no validation and no tenant
//! query of its own: the API's are the only ones, and every thing the
//! console can do is an API operation. The user's current state (active,
//! role, token version) is checked by the API on every call.
//!
//! This is why `web` depends on `api`, where the architecture's table has
//! `web -> jobs, domain` ("calls the same domain functions and permission
//! checks"): calling the domain functions directly would repeat each
//! handler's permission check, validation, audit row and enqueue, and the
//! two would drift. Going through the router costs a request parse and a
//! JSON round trip per call (microseconds), and gives one implementation.
//! The console reads the domain's serde types back (`Ticket`, `Invoice`,
//! `Page<T>`, ...); `serde_json::Value` only where the API's type is not
//! one of those (reports' rows).
//!
//! # Modules
//! - [`api_client`]: `Api::get::<T>`, `get_optional` (403 → `None`, for a
//!   block some roles do not see), `send::<T>(method, path, &json)`,
//!   `send_empty`, `bytes` (PDFs, CSV, uploads), and [`ApiFailure`], which
//!   is a response: 401 → sign-in (the session ends), 403 and 404 pages,
//!   other 4xx with the API's message and fields.
//! - [`session`]: sign-in, sign-out, [`Console`] (the signed-in user, the
//!   API as them, their company, formatting, the page frame) and [`Form`]
//!   (a form body whose CSRF token is checked before anything else).
//! - [`layout`]: the page frame (navigation by role, skip link, inline
//!   stylesheet under a strict CSP), [`layout::csrf_field`], error pages.
//! - [`fmt`]: money, dates and times in the company's locale and zone.
//! - [`names`]: the names of the clients a page's rows name, in one call.
//! - [`pages`]: one module per page or group of pages.
//! - [`picker`]: the one client picker of every form that chooses a client.
//!
//! # How to add a page
//! 1. A module under `pages/` (say `pages/tickets.rs`), registered in
//!    `pages/mod.rs` and routed in [`console_routes`] by its full path
//!    (`/console/tickets/{id}`).
//! 2. A handler takes [`Console`] first (no session: the sign-in page),
//!    then any `Path`/`Query`, and for a POST [`Form<T>`] last (`T` a
//!    `#[serde(deny_unknown_fields)]` struct of the other fields). It returns
//!    `Result<Response, ApiFailure>`:
//!    ```ignore
//!    pub async fn ticket(c: Console, Path(id): Path<TicketId>) -> Result<Response, ApiFailure> {
//!        let t: Ticket = c.api.get(&format!("/api/v1/tickets/{id}")).await?; // 404 page for another tenant's id
//!        Ok(c.page(Section::Tickets, &t.subject, html! { h1 { (t.subject) } }))
//!    }
//!    ```
//! 3. A form: `form method="post" action="..." { (layout::csrf_field(c.csrf())) ... }`.
//!    Its handler sends the API call and, on a 422 (`f.is_validation()`),
//!    re-renders the form with `c.page_with(f.status, ...)`, showing
//!    `f.message`, `layout::field_problems(&f.fields)` or `f.field("name")`
//!    beside each input; on success it answers `see_other(...)` (303).
//! 4. Money and dates through `c.fmt` ([`fmt::Fmt`]); never format by hand.
//! 5. Tests in `tests/api/console.rs` (or a sibling module): status, title,
//!    the tenant's data and not another's (another tenant's id → 404 page),
//!    the form's CSRF token, a POST without it → 403.

pub mod api_client;
pub mod fmt;
pub mod layout;
pub(crate) mod names;
pub mod pages;
pub mod picker;
pub mod portal;
pub mod session;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::response::Response;
use axum::routing::{any, get, post};
use nestogy_api::AppState;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use api_client::{Api, ApiFailure};
pub use session::{Console, Form, Upload, UploadedFile};

/// What console handlers reach: the application's state (database, clock,
/// keys) and the API's router, which every page calls.
#[derive(Clone)]
pub struct WebState {
    pub app: AppState,
    pub api: Router,
}

/// Largest form the console accepts (uploads will go straight to the API).
pub const FORM_LIMIT: usize = 1024 * 1024;

/// The console's routes, by full path, before middleware.
pub fn console_routes() -> Router<WebState> {
    Router::new()
        .route("/console", get(pages::home::home))
        .route(
            "/console/login",
            get(session::login_page).post(session::login),
        )
        .route("/console/logout", post(session::logout))
        .route(
            "/console/logout-everywhere",
            post(session::logout_everywhere),
        )
        // tickets
        .route("/console/tickets", get(pages::tickets::queue))
        .route("/console/tickets/bulk", post(pages::tickets::bulk))
        .route("/console/tickets/views", post(pages::tickets::save_view))
        .route(
            "/console/tickets/views/{id}/delete",
            post(pages::tickets::delete_view),
        )
        .route(
            "/console/tickets/new",
            get(pages::tickets::new_ticket).post(pages::tickets::create_ticket),
        )
        .route("/console/tickets/{id}", get(pages::tickets::ticket))
        .route(
            "/console/tickets/{id}/status",
            post(pages::tickets::set_status),
        )
        .route(
            "/console/tickets/{id}/priority",
            post(pages::tickets::set_priority),
        )
        .route("/console/tickets/{id}/assign", post(pages::tickets::assign))
        .route("/console/tickets/{id}/tags", post(pages::tickets::set_tags))
        .route("/console/tickets/{id}/merge", post(pages::tickets::merge))
        .route("/console/tickets/{id}/split", post(pages::tickets::split))
        .route(
            "/console/tickets/{id}/messages",
            post(pages::tickets::add_message),
        )
        .route("/console/tickets/{id}/time", post(pages::tickets::log_time))
        .route(
            "/console/tickets/{id}/canned",
            post(pages::tickets::insert_canned),
        )
        .route(
            "/console/tickets/{id}/attachments/{attachment_id}",
            get(pages::tickets::attachment),
        )
        .route(pages::tickets::SCRIPT_PATH, get(pages::tickets::script))
        // end tickets
        // clients and finance
        .route("/console/clients", get(pages::clients::list))
        .route(
            "/console/clients/new",
            get(pages::clients::new_form).post(pages::clients::create),
        )
        .route(
            "/console/clients/{id}",
            get(pages::clients::show).post(pages::clients::update),
        )
        .route(
            "/console/clients/{id}/contacts",
            post(pages::clients::add_contact),
        )
        .route(
            "/console/clients/{id}/contacts/{contact_id}/invite",
            post(pages::clients::invite_contact),
        )
        .route(
            "/console/clients/{id}/contacts/{contact_id}",
            get(pages::clients::contact).post(pages::clients::update_contact),
        )
        .route(
            "/console/clients/{id}/contacts/{contact_id}/delete",
            post(pages::clients::delete_contact),
        )
        .route(
            "/console/clients/{id}/locations/{location_id}",
            get(pages::clients::location).post(pages::clients::update_location),
        )
        .route(
            "/console/clients/{id}/locations/{location_id}/delete",
            post(pages::clients::delete_location),
        )
        .route(
            "/console/clients/{id}/archive",
            post(pages::clients::archive),
        )
        .route(
            "/console/clients/{id}/restore",
            post(pages::clients::restore),
        )
        .route(
            "/console/clients/{id}/locations",
            post(pages::clients::add_location),
        )
        .route(
            "/console/clients/{id}/statement.pdf",
            get(pages::clients::statement_pdf),
        )
        .route("/console/invoices", get(pages::invoices::list))
        .route(
            "/console/invoices/new",
            get(pages::invoices::new_draft).post(pages::invoices::create_draft),
        )
        .route("/console/invoices/{id}", get(pages::invoices::show))
        .route("/console/invoices/{id}/pdf", get(pages::invoices::pdf))
        .route(
            "/console/invoices/{id}/lines",
            post(pages::invoices::update_draft),
        )
        .route(
            "/console/invoices/{id}/finalize",
            post(pages::invoices::finalize),
        )
        .route("/console/invoices/{id}/send", post(pages::invoices::send))
        .route(
            "/console/invoices/{id}/payments",
            post(pages::invoices::record_payment),
        )
        .route("/console/invoices/{id}/void", post(pages::invoices::void))
        // finance pages
        .route("/console/quotes", get(pages::quotes::list))
        .route(
            "/console/quotes/new",
            get(pages::quotes::new_form).post(pages::quotes::create),
        )
        .route("/console/quotes/{id}", get(pages::quotes::show))
        .route("/console/quotes/{id}/pdf", get(pages::quotes::pdf))
        .route(
            "/console/quotes/{id}/lines",
            post(pages::quotes::update_draft),
        )
        .route("/console/quotes/{id}/send", post(pages::quotes::send))
        .route("/console/quotes/{id}/accept", post(pages::quotes::accept))
        .route("/console/quotes/{id}/decline", post(pages::quotes::decline))
        .route("/console/quotes/{id}/convert", post(pages::quotes::convert))
        .route("/console/recurring", get(pages::recurring::list))
        .route(
            "/console/recurring/new",
            get(pages::recurring::new_form).post(pages::recurring::create),
        )
        .route(
            "/console/recurring/{id}",
            get(pages::recurring::show).post(pages::recurring::update),
        )
        .route(
            "/console/recurring/{id}/pause",
            post(pages::recurring::pause),
        )
        .route(
            "/console/recurring/{id}/resume",
            post(pages::recurring::resume),
        )
        .route(
            "/console/billing-runs",
            get(pages::billing_runs::list).post(pages::billing_runs::start),
        )
        .route(
            "/console/billing-runs/preview",
            get(pages::billing_runs::preview),
        )
        .route("/console/billing-runs/{id}", get(pages::billing_runs::show))
        .route(
            "/console/invoices/{id}/apply-credit",
            post(pages::invoices::apply_credit),
        )
        .route(
            "/console/invoices/{id}/payments/{payment_id}/refund",
            post(pages::invoices::refund),
        )
        .route(
            "/console/invoices/{id}/duplicate",
            post(pages::invoices::duplicate),
        )
        .route(
            "/console/invoices/{id}/payment-link",
            post(pages::invoices::create_payment_link),
        )
        // end finance pages
        // settings pages
        .route("/console/settings", get(pages::settings::index))
        .route(
            "/console/settings/company",
            get(pages::settings::company::show).post(pages::settings::company::update),
        )
        .route(
            "/console/settings/company/rules",
            post(pages::settings::company::update_rules),
        )
        .route(
            "/console/settings/branding",
            get(pages::settings::branding::show).post(pages::settings::branding::update),
        )
        .route(
            "/console/settings/branding/logo",
            get(pages::settings::branding::logo).post(pages::settings::branding::upload_logo),
        )
        .route(
            "/console/settings/branding/logo/delete",
            post(pages::settings::branding::delete_logo),
        )
        .route(
            "/console/settings/branding/preview.pdf",
            get(pages::settings::branding::preview_pdf),
        )
        .route(
            "/console/settings/users",
            get(pages::settings::users::list).post(pages::settings::users::create),
        )
        .route(
            "/console/settings/users/{id}/role",
            post(pages::settings::users::set_role),
        )
        .route(
            "/console/settings/users/{id}/deactivate",
            post(pages::settings::users::deactivate),
        )
        .route(
            "/console/settings/users/{id}/reactivate",
            post(pages::settings::users::reactivate),
        )
        .route(
            "/console/settings/tokens",
            get(pages::settings::tokens::list).post(pages::settings::tokens::create),
        )
        .route(
            "/console/settings/tokens/{id}/revoke",
            post(pages::settings::tokens::revoke),
        )
        .route(
            "/console/settings/mailboxes",
            get(pages::settings::mailboxes::list).post(pages::settings::mailboxes::create),
        )
        .route(
            "/console/settings/mailboxes/{id}",
            get(pages::settings::mailboxes::show).post(pages::settings::mailboxes::update),
        )
        .route(
            "/console/settings/mailboxes/{id}/delete",
            post(pages::settings::mailboxes::delete),
        )
        .route(
            "/console/settings/mailboxes/{id}/test",
            post(pages::settings::mailboxes::test),
        )
        .route(
            "/console/settings/mailboxes/{id}/quarantine/{message}/reprocess",
            post(pages::settings::mailboxes::reprocess_quarantined),
        )
        .route(
            "/console/settings/mailboxes/{id}/ignored/{message}/reprocess",
            post(pages::settings::mailboxes::reprocess_ignored),
        )
        .route("/console/settings/sla", get(pages::settings::sla::show))
        .route(
            "/console/settings/sla/holidays",
            post(pages::settings::sla::set_holiday),
        )
        .route(
            "/console/settings/sla/holidays/{day}/delete",
            post(pages::settings::sla::delete_holiday),
        )
        .route(
            "/console/settings/sla/{priority}",
            post(pages::settings::sla::set_policy),
        )
        .route(
            "/console/settings/sla/{priority}/delete",
            post(pages::settings::sla::delete_policy),
        )
        .route(
            "/console/settings/webhooks",
            get(pages::settings::webhooks::list).post(pages::settings::webhooks::create),
        )
        .route(
            "/console/settings/webhooks/{id}",
            get(pages::settings::webhooks::show).post(pages::settings::webhooks::update),
        )
        .route(
            "/console/settings/webhooks/{id}/enable",
            post(pages::settings::webhooks::enable),
        )
        .route(
            "/console/settings/webhooks/{id}/disable",
            post(pages::settings::webhooks::disable),
        )
        .route(
            "/console/settings/webhooks/{id}/delete",
            post(pages::settings::webhooks::delete),
        )
        .route(
            "/console/settings/webhooks/{id}/ping",
            post(pages::settings::webhooks::ping),
        )
        .route(
            "/console/settings/webhooks/{id}/rotate-secret",
            post(pages::settings::webhooks::rotate_secret),
        )
        .route(
            "/console/settings/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(pages::settings::webhooks::redeliver),
        )
        .route("/console/settings/audit", get(pages::settings::audit::list))
        .route(
            "/console/settings/smtp",
            get(pages::settings::smtp::show).post(pages::settings::smtp::save),
        )
        .route(
            "/console/settings/smtp/delete",
            post(pages::settings::smtp::delete),
        )
        .route(
            "/console/settings/mail-texts",
            get(pages::settings::mail_texts::list),
        )
        .route(
            "/console/settings/mail-texts/{template}",
            get(pages::settings::mail_texts::show).post(pages::settings::mail_texts::save),
        )
        .route(
            "/console/settings/mail-texts/{template}/reset",
            post(pages::settings::mail_texts::reset),
        )
        .route(
            "/console/settings/imports",
            get(pages::settings::imports::list)
                .post(pages::settings::imports::upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    pages::settings::imports::UPLOAD_LIMIT,
                )),
        )
        .route(
            "/console/settings/imports/{id}",
            get(pages::settings::imports::show),
        )
        .route(
            "/console/settings/exports",
            get(pages::settings::imports::export),
        )
        .route(
            "/console/settings/stripe",
            get(pages::settings::stripe::show).post(pages::settings::stripe::save),
        )
        .route(
            "/console/settings/stripe/delete",
            post(pages::settings::stripe::delete),
        )
        .route(
            "/console/settings/rmm",
            get(pages::settings::rmm::show).post(pages::settings::rmm::save),
        )
        .route(
            "/console/settings/rmm/rotate-secret",
            post(pages::settings::rmm::rotate_secret),
        )
        .route(
            "/console/settings/rmm/delete",
            post(pages::settings::rmm::delete),
        )
        .route(
            "/console/settings/schedules",
            get(pages::settings::schedules::list).post(pages::settings::schedules::create),
        )
        .route(
            "/console/settings/schedules/{id}",
            post(pages::settings::schedules::update),
        )
        .route(
            "/console/settings/schedules/{id}/run",
            post(pages::settings::schedules::run),
        )
        .route(
            "/console/settings/schedules/{id}/delete",
            post(pages::settings::schedules::delete),
        )
        .route("/console/settings/xero", get(pages::settings::xero::show))
        .route(
            "/console/settings/xero/connect",
            post(pages::settings::xero::connect),
        )
        .route(
            "/console/settings/xero/disconnect",
            post(pages::settings::xero::disconnect),
        )
        .route(
            "/console/settings/xero/sync",
            post(pages::settings::xero::sync),
        )
        // end settings pages
        // work pages
        .route("/console/assets", get(pages::assets::list))
        .route(
            "/console/assets/bulk-status",
            post(pages::assets::bulk_status),
        )
        .route("/console/assets/warranties", get(pages::assets::warranties))
        .route(
            "/console/assets/new",
            get(pages::assets::new_form).post(pages::assets::create),
        )
        .route(
            "/console/assets/{id}",
            get(pages::assets::show).post(pages::assets::update),
        )
        .route("/console/projects", get(pages::projects::list))
        .route(
            "/console/projects/new",
            get(pages::projects::new_form).post(pages::projects::create),
        )
        .route(
            "/console/projects/{id}",
            get(pages::projects::show).post(pages::projects::update),
        )
        .route(
            "/console/projects/{id}/tasks",
            post(pages::projects::add_task),
        )
        .route(
            "/console/projects/{id}/tasks/{task_id}/complete",
            post(pages::projects::complete_task),
        )
        .route(
            "/console/projects/{id}/tickets",
            post(pages::projects::link_ticket),
        )
        .route("/console/time", get(pages::time::list))
        .route("/console/time/log", post(pages::time::log_time))
        .route("/console/time/start", post(pages::time::start_timer))
        .route("/console/time/{id}/stop", post(pages::time::stop_timer))
        .route(
            "/console/time/bill",
            get(pages::time::bill_form).post(pages::time::bill),
        )
        .route("/console/reports", get(pages::reports::index))
        .route("/console/reports/{name}", get(pages::reports::report))
        .route("/console/reports/{name}/csv", get(pages::reports::csv))
        .route(
            "/console/reports/{name}/refresh",
            post(pages::reports::refresh),
        )
        .route(
            "/console/management-reports",
            post(pages::reports::prepare_management),
        )
        .route(
            "/console/management-reports/{month}/pdf",
            get(pages::reports::management_pdf),
        )
        // end work pages
        // --- account ---
        .route(
            "/console/account",
            get(pages::account::show).post(pages::account::update_profile),
        )
        .route(
            "/console/account/password",
            post(pages::account::change_password),
        )
        .route(
            "/console/account/totp/enroll",
            post(pages::account::totp_enroll),
        )
        .route(
            "/console/account/totp/confirm",
            post(pages::account::totp_confirm),
        )
        .route(
            "/console/account/totp/disable",
            post(pages::account::totp_disable),
        )
        .route(
            "/console/settings/users/{id}",
            get(pages::settings::users::show).post(pages::settings::users::update),
        )
        .route(
            "/console/settings/mailboxes/{id}/poll",
            post(pages::settings::mailboxes::poll),
        )
        .route(
            "/console/settings/xero/runs/{id}",
            get(pages::settings::xero::run),
        )
        // --- end account ---
        .route("/console/{*rest}", any(not_found))
        // --- ticket-page ---
        .route(
            "/console/tickets/{id}/asset",
            post(pages::tickets::set_asset),
        )
        .route(
            "/console/tickets/{id}/project",
            post(pages::tickets::set_project),
        )
        .route(
            "/console/tickets/{id}/timer",
            post(pages::tickets::start_timer),
        )
        .route(
            "/console/tickets/{id}/timer/{entry}/stop",
            post(pages::tickets::stop_timer),
        )
        // --- end ticket-page ---
        // --- client-page ---
        .route(
            "/console/clients/{id}/networks",
            post(pages::clients::add_network),
        )
        .route(
            "/console/clients/{id}/networks/{network_id}",
            get(pages::clients::network).post(pages::clients::update_network),
        )
        .route(
            "/console/clients/{id}/networks/{network_id}/delete",
            post(pages::clients::delete_network),
        )
        .route("/console/clients/options", get(picker::options))
    // --- end client-page ---
}

/// The whole site: the console under `/console`, and every other path
/// answered by [`nestogy_api::app`] unchanged.
pub fn app(state: AppState) -> Router {
    app_with_timeout(state, nestogy_api::REQUEST_TIMEOUT)
}

/// [`app`] with a request timeout of its own (the API's and the console's).
pub fn app_with_timeout(state: AppState, request_timeout: Duration) -> Router {
    let api = nestogy_api::app_with_timeout(state.clone(), request_timeout);
    let web = WebState {
        app: state,
        api: api.clone(),
    };
    let request_id = HeaderName::from_static("x-request-id");
    let portal = portal::portal_routes().layer(axum::middleware::from_fn_with_state(
        web.clone(),
        portal::session::end_sessions,
    ));
    console_routes()
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            session::end_sessions,
        ))
        .merge(portal)
        .layer(axum::extract::DefaultBodyLimit::max(FORM_LIMIT))
        .with_state(web)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http())
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::custom(panic_page))
                .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                    StatusCode::GATEWAY_TIMEOUT,
                    request_timeout,
                )),
        )
        .fallback_service(api)
}

async fn not_found() -> Response {
    layout::problem(
        StatusCode::NOT_FOUND,
        None,
        "there is no such page in the console",
        &[],
    )
}

fn panic_page(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("console: a page panicked");
    layout::problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        "something went wrong on our side; try again in a moment",
        &[],
    )
}
