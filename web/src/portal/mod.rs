//! The client portal: server-rendered pages under `/portal/{slug}`, where an
//! MSP's clients' contacts follow their tickets and pay their invoices.
//!
//! Built as the console is (see the crate's documentation): every read and
//! action is a call to the JSON API's router in process, here as the
//! signed-in *contact* (a contact token minted per request from the portal
//! session), so the portal's API routes (`/api/v1/portal/...`) are its only
//! business rules, permission checks and tenant queries. A contact token
//! opens no staff route, and a staff token no portal route.
//!
//! # Modules
//! - [`session`]: sign-in (invitation, sign-in link bound to the browser,
//!   password), [`session::Portal`] (the signed-in contact, the API as
//!   them, their company, formatting, the frame), [`session::PortalForm`]
//!   and [`session::PortalUpload`] (CSRF checked first), sign-out.
//! - [`layout`]: the frame, branded with the tenant's name, logo and
//!   accent colour; error pages that stay in the portal.
//! - [`tickets`], [`billing`], [`account`]: the pages.

pub mod account;
pub mod billing;
pub mod layout;
pub mod session;
pub mod tickets;

use axum::Router;
use axum::routing::{get, post};

use crate::WebState;

/// Largest portal form: a ticket or reply with its attachments (the API
/// takes them as base64 within its 1 MiB body).
pub const UPLOAD_LIMIT: usize = 1024 * 1024;

/// The portal's routes, by full path, before middleware.
pub fn portal_routes() -> Router<WebState> {
    Router::new()
        .route("/portal/{slug}", get(session::home))
        .route("/portal/{slug}/sign-in", get(session::sign_in_page))
        .route("/portal/{slug}/sign-in/link", post(session::send_link))
        .route(
            "/portal/{slug}/sign-in/password",
            post(session::sign_in_password),
        )
        .route(
            "/portal/{slug}/sign-in/{token}",
            get(session::link_page).post(session::use_link),
        )
        .route(
            "/portal/{slug}/invitation/{token}",
            get(session::invitation_page).post(session::accept_invitation),
        )
        .route("/portal/{slug}/sign-out", post(session::sign_out))
        .route(
            "/portal/{slug}/sign-out-everywhere",
            post(session::sign_out_everywhere),
        )
        .merge(tickets::routes())
        .merge(billing::routes())
        .merge(account::routes())
}
