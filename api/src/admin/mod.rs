//! The admin pages: server-rendered HTML for admins in a browser, beside the
//! JSON API and outside its OpenAPI document. Today they hold the queue
//! dashboard (`/admin/queues`); [`session`] signs people in with a cookie
//! and checks CSRF tokens, [`html`] escapes and frames every page.
//!
//! Why not apalis-board: its built UI asks for its assets and its API at
//! the site root (`/api/v1/queues`, ... colliding with ours), sends no
//! credentials we could check, has no retry or cancel, and its traits are
//! bounded on the worker runtime's `Backend` and take no tenant. README:
//! "Queue dashboard".

pub mod html;
pub mod queues;
pub mod session;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The admin pages' routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(session::home))
        .route(
            "/admin/login",
            get(session::login_page).post(session::login),
        )
        .route("/admin/logout", post(session::logout))
        .route("/admin/queues", get(queues::overview))
        .route("/admin/queues/jobs", get(queues::list))
        .route("/admin/queues/jobs/{id}", get(queues::job))
        .route("/admin/queues/jobs/{id}/retry", post(queues::retry))
        .route("/admin/queues/jobs/{id}/cancel", post(queues::cancel))
}
