//! The contact's own pages: their profile (name, phone, password) and,
//! when the tenant shares them, their client's assets with warranty dates.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use nestogy_api::admin::session::see_other;
use nestogy_api::routes::portal_account::PortalAsset;
use nestogy_domain::kernel::pagination::Page;
use nestogy_domain::portal::PortalContact;
use serde::Deserialize;
use serde_json::json;

use super::layout::PortalSection;
use super::session::{Portal, PortalForm};
use crate::WebState;
use crate::api_client::{ApiFailure, Forward, query};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/portal/{slug}/profile", get(profile).post(update_profile))
        .route("/portal/{slug}/profile/password", post(change_password))
        .route("/portal/{slug}/assets", get(assets))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProfileParams {
    notice: String,
}

/// What the profile page says after a change.
fn notice_text(notice: &str) -> Option<&'static str> {
    match notice {
        "saved" => Some("Your details were saved."),
        "password_changed" => {
            Some("Your password was changed; every other session of yours ended.")
        }
        _ => None,
    }
}

/// Which form of the profile page a failure belongs to.
enum Problem<'a> {
    Details(&'a ApiFailure, &'a ProfileFields),
    Password(&'a ApiFailure),
}

fn profile_body(
    p: &Portal,
    me: &PortalContact,
    notice: Option<&str>,
    problem: Option<Problem<'_>>,
) -> Markup {
    let (name, phone) = match &problem {
        Some(Problem::Details(_, f)) => (f.name.clone(), f.phone.clone()),
        _ => (me.name.clone(), me.phone.clone().unwrap_or_default()),
    };
    html! {
        h1 { "Profile" }
        @if let Some(n) = notice {
            p.notice #notice role="status" { (n) }
        }
        div.grid {
            form.stack #details method="post" action=(p.href("/profile")) {
                h2 { "Your details" }
                @if let Some(Problem::Details(f, _)) = &problem {
                    p.problem #problem role="alert" { (f.message) }
                    (crate::layout::field_problems(&f.fields))
                }
                (p.csrf())
                label for="name" { "Name" }
                input #name name="name" required maxlength="200" autocomplete="name" value=(name);
                label for="phone" { "Phone" }
                input #phone name="phone" type="tel" maxlength="50" autocomplete="tel" value=(phone);
                p.hint.muted { "E-mail: " (me.email.as_deref().unwrap_or("")) " (ask your provider to change it)" }
                button type="submit" #save-details { "Save" }
            }
            form.stack #password-form method="post" action=(p.href("/profile/password")) {
                h2 { @if me.has_password { "Change your password" } @else { "Set a password" } }
                @if let Some(Problem::Password(f)) = &problem {
                    p.problem #password-problem role="alert" { (f.message) }
                    (crate::layout::field_problems(&f.fields))
                }
                (p.csrf())
                @if me.has_password {
                    label for="current_password" { "Current password" }
                    input #current_password name="current_password" type="password" autocomplete="current-password" required;
                }
                label for="new_password" { "New password" }
                input #new_password name="new_password" type="password" autocomplete="new-password" required;
                button type="submit" #change-password { "Save the password" }
            }
        }
        section.card {
            h2 { "Sessions" }
            p { "Signed in on a computer you no longer use? Sign out everywhere ends every session of yours, this one too." }
            form method="post" action=(p.href("/sign-out-everywhere")) {
                (p.csrf())
                button type="submit" #profile-sign-out-everywhere { "Sign out everywhere" }
            }
        }
    }
}

/// `GET /portal/{slug}/profile`.
pub async fn profile(p: Portal, Query(q): Query<ProfileParams>) -> Response {
    let body = profile_body(&p, &p.contact, notice_text(&q.notice), None);
    p.page(PortalSection::Profile, "Profile", body)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFields {
    name: String,
    #[serde(default)]
    phone: String,
}

/// `POST /portal/{slug}/profile`.
pub async fn update_profile(
    p: Portal,
    PortalForm(f): PortalForm<ProfileFields>,
) -> Result<Response, ApiFailure> {
    let phone = Some(f.phone.trim()).filter(|s| !s.is_empty());
    match p
        .api
        .send::<PortalContact>(
            Method::PATCH,
            "/api/v1/portal/me",
            &json!({"name": f.name, "phone": phone}),
        )
        .await
    {
        Ok(_) => Ok(see_other(&p.href("/profile?notice=saved"))),
        Err(e) if e.is_validation() => {
            let body = profile_body(&p, &p.contact, None, Some(Problem::Details(&e, &f)));
            Ok(p.page_with(e.status, Some(PortalSection::Profile), "Profile", body))
        }
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordFields {
    #[serde(default)]
    current_password: String,
    new_password: String,
}

#[derive(Deserialize)]
struct NewToken {
    access_token: String,
}

/// `POST /portal/{slug}/profile/password`: the API changes it and ends
/// every session of the contact; this browser gets a new one.
pub async fn change_password(
    State(s): State<WebState>,
    parts: Parts,
    p: Portal,
    PortalForm(f): PortalForm<PasswordFields>,
) -> Response {
    let forward = Forward::from_parts(&parts);
    let current = Some(f.current_password.as_str()).filter(|c| !c.is_empty());
    match p
        .api
        .send::<NewToken>(
            Method::POST,
            "/api/v1/portal/me/password",
            &json!({"current_password": current, "new_password": f.new_password}),
        )
        .await
    {
        Ok(t) => {
            super::session::start_session(
                &s,
                &parts.headers,
                &forward,
                &p.company,
                &t.access_token,
                "/profile?notice=password_changed",
            )
            .await
        }
        Err(e) if e.is_validation() || e.status == StatusCode::FORBIDDEN => {
            let body = profile_body(&p, &p.contact, None, Some(Problem::Password(&e)));
            let status = if e.status == StatusCode::FORBIDDEN {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                e.status
            };
            p.page_with(status, Some(PortalSection::Profile), "Profile", body)
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AssetParams {
    cursor: String,
}

/// `GET /portal/{slug}/assets`: read-only, when the tenant shares them.
pub async fn assets(p: Portal, Query(q): Query<AssetParams>) -> Result<Response, ApiFailure> {
    let page: Page<PortalAsset> = p
        .api
        .get(format!(
            "/api/v1/portal/assets{}",
            query(&[("cursor", &q.cursor), ("limit", "50")])
        ))
        .await?;
    let today = p.now.with_timezone(&p.fmt.zone).date_naive();
    let body = html! {
        h1 { "Assets" }
        @if page.data.is_empty() {
            p #no-assets.muted { "No assets." }
        } @else {
            div.scroll {
                table #assets {
                    thead { tr { th { "Name" } th { "Type" } th { "Make and model" } th { "Serial" } th { "Warranty until" } th { "Status" } } }
                    tbody {
                        @for a in &page.data {
                            tr {
                                td { (a.name) }
                                td { (crate::fmt::label(a.asset_type.as_str())) }
                                td { (a.make.as_deref().unwrap_or("")) " " (a.model.as_deref().unwrap_or("")) }
                                td { (a.serial.as_deref().unwrap_or("")) }
                                td {
                                    @if let Some(d) = a.warranty_expires {
                                        (p.fmt.date(d))
                                        @if d < today { " " span.bad { "(expired)" } }
                                    }
                                }
                                td { (crate::fmt::label(a.status.as_str())) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &page.next_cursor {
            p { a #next-page href=(p.href(&format!("/assets{}", query(&[("cursor", next)])))) { "Next page" } }
        }
    };
    Ok(p.page(PortalSection::Assets, "Assets", body))
}
